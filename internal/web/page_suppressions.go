package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/bounced/bounced/internal/policy"
	"github.com/bounced/bounced/internal/store"
)

// suppressionsPage is the data of the suppressions page.
type suppressionsPage struct {
	layout
	Form    suppressionsForm
	Reasons []string
	Counts  []reasonCount
	Total   int64
	Rows    []store.Suppression
	// Next is the URL of the next page ("" at the end); First that of the
	// first page with these filters.
	Next, First string
	Paged       bool
}

// suppressionsForm is the filter form, as given.
type suppressionsForm struct {
	Reason, Domain, Since string
}

// pageSuppressions lists the suppressed addresses in order of address,
// with filters, paging, and the counts by reason.
func (s *Server) pageSuppressions(w http.ResponseWriter, r *http.Request, p *principal) {
	q := r.URL.Query()
	form := suppressionsForm{Reason: q.Get("reason"), Domain: strings.TrimSpace(q.Get("domain")),
		Since: strings.TrimSpace(q.Get("since"))}
	data := suppressionsPage{layout: s.newLayout(p, "Suppressions", "suppressions"), Form: form}
	for _, reason := range policy.Reasons() {
		data.Reasons = append(data.Reasons, string(reason))
	}
	f, n, err := s.suppressionFilter(form, data.Reasons, q)
	if err != nil {
		data.Error = err.Error()
		s.render(w, r, http.StatusBadRequest, "suppressions", data)
		return
	}
	f.Limit = n + 1
	var counts map[string]int64
	err = concurrently(r.Context(),
		func(ctx context.Context) (err error) { counts, err = s.store.SuppressionCounts(ctx); return err },
		func(ctx context.Context) error {
			return s.store.Suppressions(ctx, f, func(x store.Suppression) error {
				data.Rows = append(data.Rows, x)
				return nil
			})
		})
	if err != nil {
		s.pageError(w, r, p, err)
		return
	}
	data.Counts, data.Total = reasonCounts(counts)
	keep := url.Values{}
	for _, kv := range [][2]string{{"reason", form.Reason}, {"domain", form.Domain}, {"since", form.Since}} {
		if kv[1] != "" {
			keep.Set(kv[0], kv[1])
		}
	}
	if q.Has("n") {
		keep.Set("n", strconv.Itoa(n))
	}
	data.First = "/suppressions?" + keep.Encode()
	data.Paged = f.After != ""
	if len(data.Rows) > n {
		data.Rows = data.Rows[:n]
		keep.Set("after", data.Rows[n-1].Address)
		data.Next = "/suppressions?" + keep.Encode()
	}
	s.render(w, r, http.StatusOK, "suppressions", data)
}

// suppressionFilter checks the form and the paging parameters.
func (s *Server) suppressionFilter(form suppressionsForm, reasons []string, q url.Values) (store.SuppressionFilter, int, error) {
	f := store.SuppressionFilter{Reason: form.Reason, Domain: strings.ToLower(form.Domain), After: q.Get("after"), ByAddress: true}
	if f.Reason != "" && !slices.Contains(reasons, f.Reason) {
		return f, 0, fmt.Errorf("reason %q: not one of %s", f.Reason, strings.Join(reasons, ", "))
	}
	if len(f.Domain) > 255 || len(f.After) > 320 {
		return f, 0, fmt.Errorf("domain or after: too long")
	}
	var err error
	if f.Since, err = pageDate("since", form.Since); err != nil {
		return f, 0, err
	}
	n, err := s.pageSize(q.Get("n"))
	return f, n, err
}
