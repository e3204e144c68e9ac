package web

import (
	"net/http"
	"net/url"
	"strings"
)

// pageFormMax bounds the body of a form the dashboard takes.
const pageFormMax = 64 << 10

// loginPage is the data of the login page.
type loginPage struct {
	layout
	Next string
}

// pageLogin shows the login form.
func (s *Server) pageLogin(w http.ResponseWriter, r *http.Request) {
	s.loginForm(w, r, http.StatusOK, r.URL.Query().Get("next"), "")
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request, status int, next, problem string) {
	w.Header().Set("Cache-Control", "no-store")
	l := s.newLayout(nil, "Log in", "")
	l.Error = problem
	s.render(w, r, status, "login", loginPage{layout: l, Next: safeNext(next)})
}

// postLogin checks the token of the login form and, when it is right,
// starts a session and goes where the user was headed.
func (s *Server) postLogin(w http.ResponseWriter, r *http.Request) {
	// A login form posted by another site would log the browser in as
	// the attacker (login CSRF): a browser says where a POST comes from.
	if !sameOrigin(r) {
		http.Error(w, "a login posted from another site is refused (behind a proxy, pass on the Host header or set X-Forwarded-Host)",
			http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, pageFormMax)
	if err := r.ParseForm(); err != nil {
		s.loginForm(w, r, http.StatusBadRequest, "", "The form could not be read.")
		return
	}
	next := r.PostFormValue("next")
	t := s.lookup(r.PostFormValue("token"))
	if t == nil {
		s.loginForm(w, r, http.StatusUnauthorized, next, "That token is not valid.")
		return
	}
	value, ss := s.newSession(t)
	s.setSession(w, value, ss)
	s.log.Info("http: dashboard login", "token", t.Name)
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
}

// sameOrigin tells whether the request's Origin header, when it has one,
// names the host the request was sent to: its Host, or the
// X-Forwarded-Host a proxy in front set (a form of another site cannot
// set that header).
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return false
	}
	fwd, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Host"), ",")
	return strings.EqualFold(u.Host, r.Host) || strings.EqualFold(u.Host, strings.TrimSpace(fwd))
}

// postLogout ends the session.
func (s *Server) postLogout(w http.ResponseWriter, r *http.Request, p *principal) {
	r.Body = http.MaxBytesReader(w, r.Body, pageFormMax)
	if !checkCSRF(r, p) {
		http.Error(w, "the form's CSRF token is missing or wrong: reload the page", http.StatusForbidden)
		return
	}
	s.clearSession(w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
