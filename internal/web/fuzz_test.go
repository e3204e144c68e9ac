package web

import (
	"net/http/httptest"
	"testing"

	"github.com/bounced/bounced/internal/store"
)

// FuzzAPIParams feeds the API's query parsing any query string: it never
// panics, an accepted limit is within its bounds, and an accepted period
// does not end before it starts.
func FuzzAPIParams(f *testing.F) {
	for _, seed := range []string{
		"since=7d&until=2026-11-01&limit=100",
		"since=2026-11-01T10:00:00%2B02:00&cause=bad_address&domain=Example.ORG",
		"since=1d12h&limit=1000&format=csv",
		"cursor=" + suppressionCursor("alice@example.org"),
		"cursor=" + bounceCursor(store.Recipient{BouncedAt: testNow, ID: 32769}),
		"limit=1&limit=2", "since=%zz", "since=99999d", "cursor=!!!", "until=-1d", "since=7000-01-01",
	} {
		f.Add(seed)
	}
	all := []string{"since", "until", "cause", "domain", "kind", "severity", "scope", "cursor", "limit", "format", "by"}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := newAPIParams(raw, all, testNow, 1000)
		if err != nil {
			return
		}
		since, until := p.instant("since"), p.instant("until")
		p.ordered(since, until)
		limit := p.limit(100)
		p.oneOf("cause", apiCauses())
		p.domain()
		p.suppressionCursor()
		p.bounceCursor()
		p.wantsCSV(httptest.NewRequest("GET", "/api/v1/suppressions", nil))
		if p.err != nil {
			return
		}
		if limit < 1 || limit > 1000 {
			t.Errorf("%q: limit %d accepted", raw, limit)
		}
		if !since.IsZero() && !until.IsZero() && since.After(until) {
			t.Errorf("%q: since %v after until %v accepted", raw, since, until)
		}
	})
}

// FuzzPageCursor feeds the dashboard's bounce cursor parser anything: it
// never panics, and a cursor it accepts prints back as itself.
func FuzzPageCursor(f *testing.F) {
	f.Add(bounceCursorText(store.Recipient{BouncedAt: testNow, ID: 32769}))
	f.Add("2026-11-20T15:00:00Z_1")
	f.Add("_")
	f.Fuzz(func(t *testing.T, v string) {
		c, err := parseBounceCursor(v)
		if err != nil {
			return
		}
		back := bounceCursorText(store.Recipient{BouncedAt: c.At, ID: c.ID})
		if c2, err := parseBounceCursor(back); err != nil || !c2.At.Equal(c.At) || c2.ID != c.ID {
			t.Errorf("%q: cursor %+v prints as %q, read back as %+v, %v", v, c, back, c2, err)
		}
	})
}
