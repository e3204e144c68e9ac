package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/bounced/bounced/internal/store"
)

// addressEvents is the most bounces the address page lists.
const addressEvents = 500

// addressPage is the data of the address page.
type addressPage struct {
	layout
	Query string
	// History is what the store knows of the address (nil before a
	// search); Known tells whether it knows anything.
	History *store.History
	Known   bool
	// More tells whether the address has more bounces than listed.
	More  bool
	Limit int
}

// pageAddress searches an address (parameter q) and shows its history:
// suppression, bounces and releases, and to admins the release form.
func (s *Server) pageAddress(w http.ResponseWriter, r *http.Request, p *principal) {
	q := r.URL.Query()
	l := s.newLayout(p, "Address", "")
	if q.Get("released") != "" {
		l.Flash = "The address was released: only bounces from now on count against it again."
	}
	s.addressPage(w, r, p, l, http.StatusOK, q.Get("q"))
}

// addressPage answers with the page of address, with status.
func (s *Server) addressPage(w http.ResponseWriter, r *http.Request, p *principal, l layout, status int, address string) {
	address = strings.TrimSpace(address)
	data := addressPage{layout: l, Query: address, Limit: addressEvents}
	if address == "" {
		s.render(w, r, status, "address", data)
		return
	}
	data.Title = address
	if len(address) > 320 {
		data.Error = "That is too long for an address."
		s.render(w, r, http.StatusBadRequest, "address", data)
		return
	}
	h, err := s.store.History(r.Context(), address, addressEvents+1)
	if err != nil {
		s.pageError(w, r, p, err)
		return
	}
	if len(h.Events) > addressEvents {
		h.Events, data.More = h.Events[:addressEvents], true
	}
	data.History = &h
	data.Known = h.Suppression != nil || len(h.Events) > 0 || len(h.Releases) > 0
	s.render(w, r, status, "address", data)
}

// releaseReasonMax bounds the reason given for a release.
const releaseReasonMax = 1000

// postRelease lifts the suppression of an address (form fields address,
// reason and csrf), recording the token's name, and goes back to the
// address page.
func (s *Server) postRelease(w http.ResponseWriter, r *http.Request, p *principal) {
	r.Body = http.MaxBytesReader(w, r.Body, pageFormMax)
	if !checkCSRF(r, p) {
		s.pageStatus(w, r, p, http.StatusForbidden, "The form's CSRF token is missing or wrong: reload the page and try again.")
		return
	}
	address := strings.TrimSpace(r.PostFormValue("address"))
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	l := s.newLayout(p, "Address", "")
	switch {
	case address == "" || !strings.Contains(address, "@"):
		s.pageStatus(w, r, p, http.StatusBadRequest, "An address is required to release.")
		return
	case reason == "":
		l.Error = "A reason is required to release an address: say why it may be mailed again."
		s.addressPage(w, r, p, l, http.StatusBadRequest, address)
		return
	case len(reason) > releaseReasonMax:
		l.Error = "The reason is too long: say it in fewer words."
		s.addressPage(w, r, p, l, http.StatusBadRequest, address)
		return
	}
	rel, err := s.store.Unsuppress(r.Context(), address, reason, "web:"+p.Name)
	if errors.Is(err, store.ErrNotFound) {
		l.Error = "The address is not suppressed: there is nothing to release."
		s.addressPage(w, r, p, l, http.StatusConflict, address)
		return
	}
	if err != nil {
		s.pageError(w, r, p, err)
		return
	}
	s.log.Info("http: address released", "address", rel.Address, "by", "web:"+p.Name)
	http.Redirect(w, r, "/address?"+url.Values{"q": {rel.Address}, "released": {"1"}}.Encode(), http.StatusSeeOther)
}
