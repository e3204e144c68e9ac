package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bounced/bounced/internal/store"
)

// addressStatus is the answer of GET /api/v1/suppressions/{address}: may
// the address be mailed, and why not.
type addressStatus struct {
	Address     string             `json:"address"`
	Suppressed  bool               `json:"suppressed"`
	Suppression *store.Suppression `json:"suppression"`
	Events      []eventAnswer      `json:"events"`
	Releases    []releaseAnswer    `json:"releases"`
}

// eventAnswer is a bounce, delay or complaint of the address, with the link
// to its notice.
type eventAnswer struct {
	store.Event
	MessageURL string `json:"message_url"`
}

// releaseAnswer is a lifted suppression.
type releaseAnswer struct {
	Address    string         `json:"address"`
	ReleasedAt time.Time      `json:"released_at"`
	Reason     string         `json:"reason"`
	ReleasedBy string         `json:"released_by"`
	Was        releasedAnswer `json:"was"`
}

// releasedAnswer is what a release lifted.
type releasedAnswer struct {
	Reason       string     `json:"reason"`
	SuppressedAt *time.Time `json:"suppressed_at"` // nil when not recorded
	Count        int        `json:"bounce_count"`
}

// newReleaseAnswer is the answer of a release r.
func newReleaseAnswer(r store.Release) releaseAnswer {
	out := releaseAnswer{Address: r.Address, ReleasedAt: r.ReleasedAt, Reason: r.Reason, ReleasedBy: r.By,
		Was: releasedAnswer{Reason: r.Was.Reason, Count: r.Was.Count}}
	if !r.Was.SuppressedAt.IsZero() {
		out.Was.SuppressedAt = &r.Was.SuppressedAt
	}
	return out
}

// messageURL is where the API serves message id.
func messageURL(id int64) string { return fmt.Sprintf("/api/v1/messages/%d", id) }

// apiAddress tells whether an address is suppressed, with its newest
// events and its releases. An address never seen is not suppressed.
func (s *Server) apiAddress(w http.ResponseWriter, r *http.Request, q *apiParams, _ *principal) {
	addr, err := pathAddress(r)
	limit := q.limit(defaultPage)
	if err != nil {
		badParameter(w, err)
		return
	}
	if q.err != nil {
		badParameter(w, q.err)
		return
	}
	h, err := s.store.History(r.Context(), addr, limit)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out := addressStatus{Address: h.Address, Suppressed: h.Suppression != nil, Suppression: h.Suppression,
		Events: make([]eventAnswer, len(h.Events)), Releases: make([]releaseAnswer, len(h.Releases))}
	for i, e := range h.Events {
		out.Events[i] = eventAnswer{Event: e, MessageURL: messageURL(e.Message)}
	}
	for i, rel := range h.Releases {
		out.Releases[i] = newReleaseAnswer(rel)
	}
	writeJSON(w, http.StatusOK, out)
}

// maxAddress is the longest address the API takes (RFC 5321 4.5.3.1.3:
// a path of 256 octets, brackets included).
const maxAddress = 254

// pathAddress reads the address of the path: local@domain, of printable
// characters.
func pathAddress(r *http.Request) (string, error) {
	a := strings.TrimSpace(r.PathValue("address"))
	i := strings.LastIndexByte(a, '@')
	printable := utf8.ValidString(a) && !strings.ContainsFunc(a, unicode.IsControl)
	if i <= 0 || i == len(a)-1 || len(a) > maxAddress || !printable {
		return "", fmt.Errorf("address: want an email address (local@domain, at most %d characters); got %q", maxAddress, a)
	}
	return a, nil
}

// apiRelease lifts the suppression of an address, for the reason the body
// gives; the release is kept with "api:" and the token's name.
func (s *Server) apiRelease(w http.ResponseWriter, r *http.Request, _ *apiParams, p *principal) {
	addr, err := pathAddress(r)
	if err != nil {
		badParameter(w, err)
		return
	}
	reason, bad := readReleaseReason(w, r)
	if bad != nil {
		writeError(w, bad.status, bad.code, bad.msg)
		return
	}
	by := "api:" + p.Name
	rel, err := s.store.Unsuppress(r.Context(), addr, reason, by)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusConflict, CodeNotSuppressed, err.Error())
		return
	}
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	s.log.Info("api: suppression released", "address", rel.Address, "by", by, "was", rel.Was.Reason)
	writeJSON(w, http.StatusOK, newReleaseAnswer(rel))
}
