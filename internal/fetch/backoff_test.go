package fetch

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	b := Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second}
	// The n-th delay is in [d/2, d], d = min(Min·2ⁿ, Max).
	ceilings := []time.Duration{100, 200, 400, 800, 1600, 2000, 2000, 2000, 2000, 2000}
	for round := 0; round < 20; round++ {
		b.Reset()
		var prev time.Duration
		for n, ceiling := range ceilings {
			ceiling *= time.Millisecond
			d := b.Next()
			if d < ceiling/2 || d > ceiling {
				t.Fatalf("delay %d = %v, want within [%v, %v]", n, d, ceiling/2, ceiling)
			}
			if n < 5 && d < prev {
				t.Fatalf("delay %d = %v, less than the one before, %v", n, d, prev)
			}
			prev = d
		}
	}

	// Jitter: the same step gives different delays.
	seen := map[time.Duration]bool{}
	for range 50 {
		b.Reset()
		seen[b.Next()] = true
	}
	if len(seen) < 10 {
		t.Errorf("50 first delays took only %d values: no jitter", len(seen))
	}
}

func TestBackoffDefaults(t *testing.T) {
	t.Parallel()
	var b Backoff
	if d := b.Next(); d < 500*time.Millisecond || d > time.Second {
		t.Errorf("first default delay %v, want within [0.5s, 1s]", d)
	}
	for range 100 {
		if d := b.Next(); d > 5*time.Minute {
			t.Fatalf("default delay %v above 5m", d)
		}
	}
	if d := b.Next(); d < 150*time.Second {
		t.Errorf("delay after 100 attempts %v, want at least half of 5m", d)
	}

	b = Backoff{Min: time.Minute, Max: time.Second} // Max below Min: Min
	for range 5 {
		if d := b.Next(); d < 30*time.Second || d > time.Minute {
			t.Fatalf("delay %v, want within [30s, 1m]", d)
		}
	}

	b = Backoff{Min: time.Second, Max: 1<<63 - 1} // no overflow
	for range 100 {
		if d := b.Next(); d <= 0 {
			t.Fatalf("delay %v", d)
		}
	}
}
