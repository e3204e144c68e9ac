package web

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
	"github.com/bounced/bounced/internal/policy"
)

// apiParams reads the query parameters of an API request. Its readers
// keep the first error, so that a handler reads every parameter and then
// checks err once. An empty value is the same as no value.
type apiParams struct {
	q       url.Values
	now     time.Time
	maxPage int
	err     error
}

// newAPIParams parses a query string. The API is strict: a parameter the
// endpoint does not take (allowed), or one given twice, is an error, so
// that a typo does not silently widen a list.
func newAPIParams(raw string, allowed []string, now time.Time, maxPage int) (*apiParams, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(q)) {
		switch {
		case !slices.Contains(allowed, name) && len(allowed) == 0:
			return nil, fmt.Errorf("unknown parameter %q: this endpoint takes none", name)
		case !slices.Contains(allowed, name):
			return nil, fmt.Errorf("unknown parameter %q: this endpoint takes %s", name, strings.Join(allowed, ", "))
		case len(q[name]) > 1:
			return nil, fmt.Errorf("%s: given %d times; give it once", name, len(q[name]))
		}
	}
	return &apiParams{q: q, now: now, maxPage: maxPage}, nil
}

// fail records the first error, about parameter name.
func (p *apiParams) fail(name, format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	}
}

// has tells whether parameter name has a value.
func (p *apiParams) has(name string) bool { return p.get(name) != "" }

// get reads parameter name as it is ("" when not given).
func (p *apiParams) get(name string) string { return strings.TrimSpace(p.q.Get(name)) }

// domain reads the domain parameter, lower-cased as the store keeps
// domains.
func (p *apiParams) domain() string { return strings.ToLower(p.get("domain")) }

// oneOf reads parameter name, which must be one of allowed.
func (p *apiParams) oneOf(name string, allowed []string) string {
	v := p.get(name)
	if v != "" && !slices.Contains(allowed, v) {
		p.fail(name, "want one of %s; got %q", strings.Join(allowed, ", "), v)
		return ""
	}
	return v
}

// defaultPage is the length of a page when no limit is given (or
// Config.MaxPage when that is smaller).
const defaultPage = 100

// limit reads the limit parameter: a number from 1 to Config.MaxPage,
// def (at most MaxPage) when not given.
func (p *apiParams) limit(def int) int {
	def = min(def, p.maxPage)
	v := p.get("limit")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > p.maxPage {
		p.fail("limit", "want a whole number from 1 to %d; got %q", p.maxPage, v)
		return def
	}
	return n
}

// instant reads parameter name as a point in time (parseInstant).
func (p *apiParams) instant(name string) time.Time {
	v := p.get(name)
	if v == "" {
		return time.Time{}
	}
	t, ok := parseInstant(v, p.now)
	if !ok {
		p.fail(name, "want an RFC 3339 time, a date (2026-05-01) or a duration back from now (7d, 36h); got %q", v)
	}
	return t
}

// ordered checks that since is not after until (a zero one is open).
func (p *apiParams) ordered(since, until time.Time) {
	if !since.IsZero() && !until.IsZero() && since.After(until) {
		p.fail("since", "%s is after until (%s)", since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
}

// wantsCSV tells whether the answer should be CSV: format=csv, or no
// format and an Accept header naming text/csv before application/json
// (quality values are not weighed).
func (p *apiParams) wantsCSV(r *http.Request) bool {
	switch p.oneOf("format", []string{"json", "csv"}) {
	case "csv":
		return true
	case "json":
		return false
	}
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(part, ";")
		switch strings.ToLower(strings.TrimSpace(mt)) {
		case "text/csv":
			return true
		case "application/json":
			return false
		}
	}
	return false
}

// parseInstant reads a point in time: an RFC 3339 time, a date
// (YYYY-MM-DD, midnight UTC) or a duration back from now (parseAgo).
func parseInstant(s string, now time.Time) (time.Time, bool) {
	// QUIRK: the "+" of a zone offset left unescaped in a query string
	// arrives as a space.
	s = strings.ReplaceAll(s, " ", "+")
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true
	}
	if d, ok := parseAgo(s); ok {
		return now.Add(-d), true
	}
	return time.Time{}, false
}

// maxAgo bounds a duration back from now: a hundred years.
const maxAgo = 100 * 365 * 24 * time.Hour

// parseAgo reads a duration as Go writes one (36h, 90m), after an optional
// number of days (7d, 1d12h). It is never negative nor over maxAgo.
func parseAgo(s string) (time.Duration, bool) {
	var d time.Duration
	if days, rest, ok := strings.Cut(s, "d"); ok {
		if days == "" || len(days) > 5 || strings.Trim(days, "0123456789") != "" {
			return 0, false
		}
		n, _ := strconv.Atoi(days) // five digits at most
		d, s = time.Duration(n)*24*time.Hour, rest
		if s == "" {
			return d, d <= maxAgo
		}
	}
	more, err := time.ParseDuration(s)
	if err != nil || more < 0 || d > maxAgo || more > maxAgo-d {
		return 0, false
	}
	return d + more, true
}

// The closed sets the parameters take, in the strings of the store.
var (
	apiKinds      = []string{string(dsn.Bounce), string(dsn.Delay), string(dsn.Complaint)}
	apiSeverities = []string{string(classify.Hard), string(classify.Soft)}
	apiScopes     = []string{string(classify.ScopeRecipient), string(classify.ScopeMessage), string(classify.ScopeSender),
		string(classify.ScopeTransport), string(classify.ScopeUnknown)}
)

// apiCauses lists the causes a bounce may be filtered by: every cause,
// and "complaint" for complaints.
func apiCauses() []string {
	var out []string
	for _, c := range classify.Causes() {
		out = append(out, string(c))
	}
	return append(out, string(policy.Complaint))
}

// apiReasons lists the reasons an address may be suppressed for.
func apiReasons() []string {
	var out []string
	for _, r := range policy.Reasons() {
		out = append(out, string(r))
	}
	return out
}
