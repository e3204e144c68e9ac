package web

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/bounced/bounced/internal/store"
)

// bounceList is the answer of GET /api/v1/bounces.
type bounceList struct {
	Bounces    []bounceAnswer `json:"bounces"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

// bounceAnswer is a recipient row, with the link to its notice.
type bounceAnswer struct {
	store.Recipient
	MessageURL string `json:"message_url"`
}

// apiBounces lists recipient rows (bounces, delays, complaints), newest
// first, a page at a time.
func (s *Server) apiBounces(w http.ResponseWriter, r *http.Request, q *apiParams, _ *principal) {
	f := store.BounceFilter{
		Since:    q.instant("since"),
		Until:    q.instant("until"),
		Cause:    q.oneOf("cause", apiCauses()),
		Domain:   q.domain(),
		Kind:     q.oneOf("kind", apiKinds),
		Severity: q.oneOf("severity", apiSeverities),
		Scope:    q.oneOf("scope", apiScopes),
		Before:   q.bounceCursor(),
	}
	limit := q.limit(defaultPage)
	q.ordered(f.Since, f.Until)
	if q.err != nil {
		badParameter(w, q.err)
		return
	}
	f.Limit = limit + 1 // one more tells whether there is a next page
	rows, err := s.store.Bounces(r.Context(), f)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	var out bounceList
	if len(rows) > limit {
		rows = rows[:limit]
		out.NextCursor = bounceCursor(rows[limit-1])
	}
	out.Bounces = make([]bounceAnswer, len(rows))
	for i, b := range rows {
		out.Bounces[i] = bounceAnswer{Recipient: b, MessageURL: messageURL(b.Message)}
	}
	writeJSON(w, http.StatusOK, out)
}

// messageAnswer is a stored message, with the link to its raw source when it
// is kept.
type messageAnswer struct {
	store.StoredMessage
	RawURL string `json:"raw_url,omitempty"`
}

// apiMessage shows a stored message with its recipient rows.
func (s *Server) apiMessage(w http.ResponseWriter, r *http.Request, _ *apiParams, _ *principal) {
	id, err := pathID(r)
	if err != nil {
		badParameter(w, err)
		return
	}
	m, err := s.store.Message(r.Context(), id)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out := messageAnswer{StoredMessage: m}
	if m.HasRaw {
		out.RawURL = messageURL(id) + "/raw"
	}
	writeJSON(w, http.StatusOK, out)
}

// apiRaw serves the raw source of a stored message, as a download.
func (s *Server) apiRaw(w http.ResponseWriter, r *http.Request, _ *apiParams, _ *principal) {
	id, err := pathID(r)
	if err != nil {
		badParameter(w, err)
		return
	}
	raw, err := s.store.Raw(r.Context(), id)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "message/rfc822")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="message-%d.eml"`, id))
	h.Set("Content-Length", strconv.Itoa(len(raw)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.Write(raw)
}

// pathID reads the message id of the path.
func pathID(r *http.Request) (int64, error) {
	v := r.PathValue("id")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 1 {
		return 0, fmt.Errorf("id: want a message id (a whole number from 1); got %q", v)
	}
	return id, nil
}
