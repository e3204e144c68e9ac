// Package web is bounced's HTTP side: the JSON API under /api/v1 for list
// managers, and the dashboard at / for people. Both read the store; the
// API's callers authenticate with a bearer token, the dashboard's with a
// session cookie got by logging in with a token.
package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/klauspost/compress/gzhttp"

	"github.com/bounced/bounced/internal/store"
)

// Role is what a token may do.
type Role string

// The roles: Read reads everything; Admin may also release suppressed
// addresses.
const (
	Read  Role = "read"
	Admin Role = "admin"
)

// Token is a bearer token: a name (kept in the audit trail of what it
// did), a role and the secret itself.
type Token struct {
	Name   string
	Role   Role
	Secret string
}

// MinSecret is the shortest secret a token may have.
const MinSecret = 16

// Config configures a Server. The zero value serves nothing but /healthz:
// without a token, there is no access.
type Config struct {
	Tokens []Token
	// SessionTTL is how long a dashboard login lasts. Default 12h.
	SessionTTL time.Duration
	// InsecureCookie leaves the Secure attribute off the session cookie,
	// for a dashboard reached over plain HTTP on a host other than
	// localhost. Default false: browsers send the cookie over HTTPS and to
	// localhost only.
	InsecureCookie bool
	// MaxPage is the largest page a list may ask for. Default 1000.
	MaxPage int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Server serves the API and the dashboard.
type Server struct {
	store  *store.Store
	cfg    Config
	log    *slog.Logger
	tokens []token
	mux    *http.ServeMux
}

// token is a configured Token with the hash it is compared by.
type token struct {
	Token
	hash [sha256.Size]byte
}

// New makes a server over st. A token with a short secret, an unknown
// role or a name used twice is an error.
func New(st *store.Store, cfg Config, log *slog.Logger) (*Server, error) {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.MaxPage <= 0 {
		cfg.MaxPage = 1000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{store: st, cfg: cfg, log: log, mux: http.NewServeMux()}
	names := map[string]bool{}
	for _, t := range cfg.Tokens {
		switch {
		case t.Name == "" || strings.ContainsAny(t.Name, "\n\r"):
			return nil, fmt.Errorf("token %q: a name is required, on one line", t.Name)
		case names[t.Name]:
			return nil, fmt.Errorf("token %q: named twice", t.Name)
		case t.Role != Read && t.Role != Admin:
			return nil, fmt.Errorf("token %q: role %q: not read or admin", t.Name, t.Role)
		case len(t.Secret) < MinSecret:
			return nil, fmt.Errorf("token %q: the secret has %d characters, fewer than %d", t.Name, len(t.Secret), MinSecret)
		}
		names[t.Name] = true
		s.tokens = append(s.tokens, token{Token: t, hash: sha256.Sum256([]byte(t.Secret))})
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	s.apiRoutes()
	s.pageRoutes()
	return s, nil
}

// Handler serves everything: the API, the dashboard, /healthz and what
// Handle added. Answers of 1 KB and more are gzip-compressed for clients
// that take it (the overview is 390 KB of HTML on a large database, a
// tenth of that compressed), except those compressed already (/metrics).
func (s *Server) Handler() http.Handler { return gzhttp.GzipHandler(s.mux) }

// Handle serves h at pattern (a net/http pattern) to the holders of a
// token of role at least role, given as a bearer token; the daemon's
// /metrics and /readyz are served this way.
func (s *Server) Handle(pattern string, role Role, h http.Handler) {
	s.mux.Handle(pattern, s.withBearer(role, func(w http.ResponseWriter, r *http.Request, _ *principal) {
		h.ServeHTTP(w, r)
	}))
}

// principal is who made a request.
type principal struct {
	Name string
	Role Role
	// session is set when the request came with a session cookie rather
	// than a bearer token: a form it posts must carry the CSRF token.
	session *session
}

// may tells whether p has role (admin may everything).
func (p *principal) may(role Role) bool { return p.Role == Admin || p.Role == role }

// lookup finds the token whose secret is given, comparing with every
// token in constant time so that the time taken tells nothing of the
// secrets.
func (s *Server) lookup(secret string) *token {
	h := sha256.Sum256([]byte(secret))
	var found *token
	for i := range s.tokens {
		if subtle.ConstantTimeCompare(h[:], s.tokens[i].hash[:]) == 1 {
			found = &s.tokens[i]
		}
	}
	return found
}

// byName finds a token by its name.
func (s *Server) byName(name string) *token {
	for i := range s.tokens {
		if s.tokens[i].Name == name {
			return &s.tokens[i]
		}
	}
	return nil
}

// bearer authenticates the request's bearer token: nil and a reason when
// there is none or it is wrong.
func (s *Server) bearer(r *http.Request) (*principal, string) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, "a bearer token is required (Authorization: Bearer TOKEN)"
	}
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return nil, "the Authorization header must be: Bearer TOKEN"
	}
	t := s.lookup(strings.TrimSpace(secret))
	if t == nil {
		return nil, "the bearer token is not valid"
	}
	return &principal{Name: t.Name, Role: t.Role}, ""
}

// withBearer wraps an API handler: the request needs a bearer token of
// role (cookies are not looked at, so the API needs no CSRF defence).
func (s *Server) withBearer(role Role, h func(http.ResponseWriter, *http.Request, *principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, why := s.bearer(r)
		if p == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="bounced"`)
			writeError(w, http.StatusUnauthorized, CodeUnauthorized, why)
			return
		}
		if !p.may(role) {
			writeError(w, http.StatusForbidden, CodeForbidden, fmt.Sprintf("token %q is %s only; this needs %s", p.Name, p.Role, role))
			return
		}
		h(w, r, p)
	}
}

// The error codes of the API: stable, for programs to branch on.
const (
	CodeUnauthorized = "unauthorized" // no token, or a wrong one (401)
	CodeForbidden    = "forbidden"    // the token's role may not do this (403)
	CodeNotFound     = "not_found"    // no such thing (404)
	// a path the API serves with other methods only (405; Allow lists them)
	CodeMethodNotAllowed = "method_not_allowed"
	CodeBadParameter     = "bad_parameter"  // a query parameter is wrong (400)
	CodeBadBody          = "bad_body"       // the request body is not what was expected (400)
	CodeBodyTooLarge     = "body_too_large" // the request body is over the limit (413)
	CodeNotSuppressed    = "not_suppressed" // releasing an address that is not suppressed (409)
	CodeUnavailable      = "unavailable"    // the database cannot be reached (503)
	CodeInternal         = "internal"       // a fault of bounced's: the log says more (500)
)

// Error is the body of every API error.
type Error struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is an error's stable code and a message for people.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError writes an API error.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, Error{ErrorBody{Code: code, Message: msg}})
}

// writeJSON writes v as the JSON body of a response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v) // a failed write is the client's going away
}

// storeError answers an error of the store: not found, unavailable, or
// else an internal error, logged here (once) with what was being done.
func (s *Server) storeError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, CodeNotFound, err.Error())
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		s.log.Warn("http: database unavailable", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "the database is unavailable: try again later")
	case r.Context().Err() != nil:
		// the client went away: nothing to answer
	default:
		s.log.Error("http: internal error", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, CodeInternal, "internal error: the server's log says more")
	}
}
