package web

import (
	"context"
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	"github.com/bounced/bounced/internal/store"
)

// suppressionList is the answer of GET /api/v1/suppressions.
type suppressionList struct {
	Suppressions []store.Suppression `json:"suppressions"`
	NextCursor   string              `json:"next_cursor,omitempty"`
}

// apiSuppressions lists the suppressed addresses, in order of address:
// as JSON a page at a time; as CSV the whole list, streamed, unless a
// limit is given (then a page, and the Next-Cursor header).
func (s *Server) apiSuppressions(w http.ResponseWriter, r *http.Request, q *apiParams, _ *principal) {
	f := store.SuppressionFilter{
		Since:     q.instant("since"),
		Reason:    q.oneOf("cause", apiReasons()),
		Domain:    q.domain(),
		After:     q.suppressionCursor(),
		ByAddress: true,
	}
	limit := q.limit(defaultPage)
	asCSV := q.wantsCSV(r)
	if q.err != nil {
		badParameter(w, q.err)
		return
	}
	if asCSV && !q.has("limit") {
		s.streamSuppressions(w, r, f)
		return
	}
	page, next, err := s.suppressionPage(r.Context(), f, limit)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	if asCSV {
		cw := startSuppressionsCSV(w, next)
		for _, x := range page {
			cw.Write(suppressionRecord(x)) // a failed write is the client's going away
		}
		cw.Flush()
		return
	}
	writeJSON(w, http.StatusOK, suppressionList{Suppressions: page, NextCursor: next})
}

// suppressionPage reads up to limit suppressions, and the cursor of the
// page after ("" when this one is the last).
func (s *Server) suppressionPage(ctx context.Context, f store.SuppressionFilter, limit int) ([]store.Suppression, string, error) {
	f.Limit = limit + 1 // one more tells whether there is a next page
	page := []store.Suppression{}
	err := s.store.Suppressions(ctx, f, func(x store.Suppression) error {
		page = append(page, x)
		return nil
	})
	if err != nil || len(page) <= limit {
		return page, "", err
	}
	page = page[:limit]
	return page, suppressionCursor(page[limit-1].Address), nil
}

// streamSuppressions writes every suppression f selects as CSV while it is
// read, so that a list of millions costs no memory.
func (s *Server) streamSuppressions(w http.ResponseWriter, r *http.Request, f store.SuppressionFilter) {
	var (
		cw       *csv.Writer
		writeErr error
	)
	err := s.store.Suppressions(r.Context(), f, func(x store.Suppression) error {
		if cw == nil {
			cw = startSuppressionsCSV(w, "")
		}
		writeErr = cw.Write(suppressionRecord(x))
		return writeErr
	})
	switch {
	case err != nil && cw == nil:
		s.storeError(w, r, err)
		return
	case err != nil:
		// The status is sent: all that is left is to cut the response
		// short, so that the client cannot take part of the list for all
		// of it.
		if writeErr == nil && r.Context().Err() == nil {
			s.log.Error("http: streaming suppressions", "path", r.URL.Path, "err", err)
		}
		panic(http.ErrAbortHandler)
	case cw == nil:
		cw = startSuppressionsCSV(w, "")
	}
	cw.Flush()
}

// suppressionHeader is the first line of the CSV list.
var suppressionHeader = []string{"address", "domain", "reason", "suppressed_at", "first_bounce", "last_bounce", "bounce_count", "rule"}

// startSuppressionsCSV sends the headers of a CSV list (with the cursor of
// the next page, if any) and its first line.
func startSuppressionsCSV(w http.ResponseWriter, next string) *csv.Writer {
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="suppressions.csv"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if next != "" {
		h.Set("Next-Cursor", next)
	}
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	cw.Write(suppressionHeader) // buffered: an error shows at the next write
	return cw
}

// suppressionRecord is the CSV line of x, in the columns of
// suppressionHeader.
func suppressionRecord(x store.Suppression) []string {
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	return []string{x.Address, x.Domain, x.Reason, ts(x.SuppressedAt), ts(x.FirstBounce), ts(x.LastBounce),
		strconv.Itoa(x.Count), x.Rule}
}
