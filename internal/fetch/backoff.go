package fetch

import (
	"math/rand/v2"
	"time"
)

// Backoff gives the delays before reconnecting: exponential from Min to Max,
// with equal jitter. The n-th delay since Reset (n from 0) is chosen uniformly
// in [d/2, d], where d = min(Min·2ⁿ, Max): never more than Max, never less
// than half of it once there, and spread so that many clients cut off
// together do not come back together.
//
// A Backoff is not safe for concurrent use.
type Backoff struct {
	// Min is the first delay's upper bound; 0 means 1s.
	Min time.Duration
	// Max caps every delay; 0 means 5m. A Max below Min is taken as Min.
	Max time.Duration

	attempt int // delays given since Reset
}

// Next returns the next delay.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = time.Second
	}
	if hi <= 0 {
		hi = 5 * time.Minute
	}
	hi = max(hi, lo)
	d := lo
	for i := 0; i < b.attempt && d < hi; i++ {
		if d > hi/2 {
			d = hi
			break
		}
		d *= 2
	}
	if d < hi {
		b.attempt++ // no further once at Max: the count stays small
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// Reset starts again from Min, after a connection that worked.
func (b *Backoff) Reset() { b.attempt = 0 }
