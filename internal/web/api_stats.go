package web

import (
	"net/http"
	"time"

	"github.com/bounced/bounced/internal/store"
)

// statsAnswer is the answer of GET /api/v1/stats: the counts of the whole
// UTC days from Since (included) to Until (excluded).
type statsAnswer struct {
	By     string        `json:"by"`
	Since  time.Time     `json:"since"`
	Until  time.Time     `json:"until"`
	Counts []store.Count `json:"counts"`
}

// statsPeriod is the period counted when since is not given.
const statsPeriod = 30 * 24 * time.Hour

// statsDomains is how many domains by=domain counts when no limit is
// given.
const statsDomains = 50

// apiStats counts what bounced, by cause, domain or day. The store counts
// whole days, so the bounds are moved to the start of their UTC day and
// the answer gives them so; by default the 30 days up to and including
// today.
func (s *Server) apiStats(w http.ResponseWriter, r *http.Request, q *apiParams, _ *principal) {
	by := store.StatsBy(q.oneOf("by", []string{string(store.ByCause), string(store.ByDomain), string(store.ByDay)}))
	if by == "" {
		by = store.ByCause
	}
	limit := 0
	switch {
	case by == store.ByDomain:
		limit = q.limit(statsDomains)
	case q.has("limit"):
		q.fail("limit", "only by=domain takes a limit (of domains); by=%s counts every %s", by, by)
	}
	since, until := q.instant("since"), q.instant("until")
	if until.IsZero() {
		until = startOfDay(q.now).AddDate(0, 0, 1)
	}
	if since.IsZero() {
		since = until.Add(-statsPeriod)
	}
	q.ordered(since, until)
	if q.err != nil {
		badParameter(w, q.err)
		return
	}
	out := statsAnswer{By: string(by), Since: startOfDay(since), Until: startOfDay(until)}
	counts, err := s.store.Stats(r.Context(), by, out.Since, out.Until, limit)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out.Counts = append([]store.Count{}, counts...)
	writeJSON(w, http.StatusOK, out)
}

// startOfDay is the start of t's day in UTC.
func startOfDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// apiMailboxes reports the status of every mailbox.
func (s *Server) apiMailboxes(w http.ResponseWriter, r *http.Request, _ *apiParams, _ *principal) {
	sts, err := s.store.MailboxStatuses(r.Context())
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Mailboxes []store.MailboxStatus `json:"mailboxes"`
	}{sts})
}
