package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/store"
)

// pagePage is the default number of rows of a list page, and pageMax the
// most one may ask for with the parameter n.
const (
	pagePage = 50
	pageMax  = 500
)

// bouncesPage is the data of the bounces page.
type bouncesPage struct {
	layout
	Form    bouncesForm
	Options bouncesOptions
	Rows    []store.Recipient
	// Older is the URL of the next page back in time ("" at the end);
	// Paged tells whether this is not the first page, and Newest is the
	// URL of the first page with these filters.
	Older  string
	Paged  bool
	Newest string
}

// bouncesForm is the filter form, as given.
type bouncesForm struct {
	Cause, Domain, Kind, Severity, Scope, Since string
}

// bouncesOptions are the choices of the form's selects.
type bouncesOptions struct {
	Causes, Kinds, Severities, Scopes []string
}

func newBouncesOptions() bouncesOptions {
	o := bouncesOptions{Kinds: []string{"bounce", "delay", "complaint"}, Severities: []string{"hard", "soft"}}
	for _, c := range classify.Causes() {
		o.Causes = append(o.Causes, string(c))
	}
	o.Causes = append(o.Causes, "complaint")
	for _, sc := range []classify.Scope{classify.ScopeRecipient, classify.ScopeMessage, classify.ScopeSender,
		classify.ScopeTransport, classify.ScopeUnknown} {
		o.Scopes = append(o.Scopes, string(sc))
	}
	return o
}

// pageBounces lists the recipient rows, newest first, with filters and
// paging back in time.
func (s *Server) pageBounces(w http.ResponseWriter, r *http.Request, p *principal) {
	q := r.URL.Query()
	form := bouncesForm{Cause: q.Get("cause"), Domain: strings.TrimSpace(q.Get("domain")), Kind: q.Get("kind"),
		Severity: q.Get("severity"), Scope: q.Get("scope"), Since: strings.TrimSpace(q.Get("since"))}
	data := bouncesPage{layout: s.newLayout(p, "Bounces", "bounces"), Form: form, Options: newBouncesOptions()}
	f, n, err := s.bounceFilter(form, q)
	if err != nil {
		data.Error = err.Error()
		s.render(w, r, http.StatusBadRequest, "bounces", data)
		return
	}
	f.Limit = n + 1
	rows, err := s.store.Bounces(r.Context(), f)
	if err != nil {
		s.pageError(w, r, p, err)
		return
	}
	keep := formValues(form)
	if q.Has("n") {
		keep.Set("n", strconv.Itoa(n))
	}
	data.Newest = "/bounces?" + keep.Encode()
	data.Paged = f.Before != nil
	if len(rows) > n {
		rows = rows[:n]
		keep.Set("before", bounceCursorText(rows[n-1]))
		data.Older = "/bounces?" + keep.Encode()
	}
	data.Rows = rows
	s.render(w, r, http.StatusOK, "bounces", data)
}

// formValues is the query string of the filters given.
func formValues(f bouncesForm) url.Values {
	v := url.Values{}
	for _, kv := range [][2]string{{"cause", f.Cause}, {"domain", f.Domain}, {"kind", f.Kind},
		{"severity", f.Severity}, {"scope", f.Scope}, {"since", f.Since}} {
		if kv[1] != "" {
			v.Set(kv[0], kv[1])
		}
	}
	return v
}

// bounceFilter checks the form and the paging parameters.
func (s *Server) bounceFilter(form bouncesForm, q url.Values) (store.BounceFilter, int, error) {
	f := store.BounceFilter{Cause: form.Cause, Domain: strings.ToLower(form.Domain), Kind: form.Kind,
		Severity: form.Severity, Scope: form.Scope}
	o := newBouncesOptions()
	for _, c := range []struct {
		name, v string
		in      []string
	}{{"cause", f.Cause, o.Causes}, {"kind", f.Kind, o.Kinds}, {"severity", f.Severity, o.Severities}, {"scope", f.Scope, o.Scopes}} {
		if c.v != "" && !slices.Contains(c.in, c.v) {
			return f, 0, fmt.Errorf("%s %q: not one of %s", c.name, c.v, strings.Join(c.in, ", "))
		}
	}
	if len(f.Domain) > 255 {
		return f, 0, fmt.Errorf("domain: longer than 255 characters")
	}
	var err error
	if f.Since, err = pageDate("since", form.Since); err != nil {
		return f, 0, err
	}
	if b := q.Get("before"); b != "" {
		c, err := parseBounceCursor(b)
		if err != nil {
			return f, 0, err
		}
		f.Before = &c
	}
	n, err := s.pageSize(q.Get("n"))
	return f, n, err
}

// pageDate reads a date of a form (YYYY-MM-DD, the start of that day in
// UTC); "" is the zero time.
func pageDate(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: not a date (YYYY-MM-DD)", name, v)
	}
	return t, nil
}

// pageSize reads the parameter n, the rows of a page.
func (s *Server) pageSize(v string) (int, error) {
	if v == "" {
		return pagePage, nil
	}
	most := min(pageMax, s.cfg.MaxPage)
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > most {
		return 0, fmt.Errorf("n %q: not a number from 1 to %d", v, most)
	}
	return n, nil
}

// bounceCursorText is the "before" parameter of the page after row r.
func bounceCursorText(r store.Recipient) string {
	return r.BouncedAt.UTC().Format(time.RFC3339Nano) + "_" + strconv.FormatInt(r.ID, 10)
}

// parseBounceCursor reads a "before" parameter.
func parseBounceCursor(v string) (store.BounceCursor, error) {
	bad := fmt.Errorf("before %q: not a place in the list (follow the link to older bounces)", v)
	i := strings.LastIndexByte(v, '_')
	if i < 0 {
		return store.BounceCursor{}, bad
	}
	at, err := time.Parse(time.RFC3339Nano, v[:i])
	if err != nil {
		return store.BounceCursor{}, bad
	}
	id, err := strconv.ParseInt(v[i+1:], 10, 64)
	if err != nil {
		return store.BounceCursor{}, bad
	}
	return store.BounceCursor{At: at, ID: id}, nil
}
