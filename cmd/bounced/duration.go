package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// duration is a time.Duration written as Go writes one ("36h", "90m") or
// in days ("30d", "1d12h"), in the configuration and on the command line.
type duration time.Duration

const day = 24 * time.Hour

func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseUint(s[:i], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: use e.g. 30d, 12h, 90m", s)
		}
		days, s = time.Duration(n)*day, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid duration %q: use e.g. 30d, 12h, 90m", s)
	}
	return days + d, nil
}

func (d *duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	*d = duration(v)
	return err
}

func (d duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d duration) String() string {
	v := time.Duration(d)
	if v > 0 && v%day == 0 {
		return fmt.Sprintf("%dd", v/day)
	}
	return v.String()
}

// Set makes a duration a flag.Value.
func (d *duration) Set(s string) error { return d.UnmarshalText([]byte(s)) }

// instant is a point in time on the command line: a duration before now
// ("1d", "36h"), a date ("2026-01-31", midnight UTC) or an RFC 3339 time.
type instant struct {
	t   time.Time
	now func() time.Time
}

func (i *instant) Set(s string) error {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		i.t = t
		return nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		i.t = t
		return nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid time %q: give a duration before now (1d, 36h), a date (2026-01-31) or an RFC 3339 time", s)
	}
	now := time.Now
	if i.now != nil {
		now = i.now
	}
	i.t = now().Add(-d)
	return nil
}

func (i *instant) String() string {
	if i == nil || i.t.IsZero() {
		return ""
	}
	return i.t.Format(time.RFC3339)
}
