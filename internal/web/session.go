package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// CookieName is the session cookie's name.
const CookieName = "bounced_session"

// A session is a signed cookie: the token's name, its role, when the
// session ends and a random nonce, signed with a key derived from the
// token's secret. Nothing is kept on the server, so every instance
// serving the same tokens accepts the session, a restart keeps it, and
// changing or removing the token ends every session made with it.
type session struct {
	name    string
	role    Role
	expires time.Time
	payload string // what is signed
	key     []byte
}

// sessionKey derives the signing key of a token's sessions.
func sessionKey(secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("bounced session key v1"))
	return m.Sum(nil)
}

func sign(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

var b64 = base64.RawURLEncoding

// newSession makes the cookie value of a new session of t.
func (s *Server) newSession(t *token) (string, *session) {
	nonce := make([]byte, 16)
	rand.Read(nonce) // never fails (crypto/rand)
	ss := &session{name: t.Name, role: t.Role, expires: s.cfg.Now().Add(s.cfg.SessionTTL), key: sessionKey(t.Secret)}
	ss.payload = strings.Join([]string{t.Name, string(t.Role), strconv.FormatInt(ss.expires.Unix(), 10), b64.EncodeToString(nonce)}, "\n")
	return b64.EncodeToString([]byte(ss.payload)) + "." + b64.EncodeToString(sign(ss.key, "session", ss.payload)), ss
}

// session reads and checks the request's session cookie: nil when there
// is none, or it is forged, expired, or of a token no longer configured
// or whose role changed.
func (s *Server) session(r *http.Request) *session {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return nil
	}
	p64, mac64, ok := strings.Cut(c.Value, ".")
	if !ok {
		return nil
	}
	payload, err1 := b64.DecodeString(p64)
	mac, err2 := b64.DecodeString(mac64)
	if err1 != nil || err2 != nil {
		return nil
	}
	f := strings.Split(string(payload), "\n")
	if len(f) != 4 {
		return nil
	}
	t := s.byName(f[0])
	if t == nil {
		return nil
	}
	key := sessionKey(t.Secret)
	if !hmac.Equal(mac, sign(key, "session", string(payload))) {
		return nil
	}
	exp, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || !s.cfg.Now().Before(time.Unix(exp, 0)) || Role(f[1]) != t.Role {
		return nil
	}
	return &session{name: t.Name, role: t.Role, expires: time.Unix(exp, 0), payload: string(payload), key: key}
}

// csrf is the session's CSRF token: forms that change something carry it
// in a hidden field, and a request with the session cookie but without it
// is refused. A page of another site can neither read it nor make it.
func (ss *session) csrf() string {
	return b64.EncodeToString(sign(ss.key, "csrf", ss.payload))
}

// checkCSRF tells whether a form posted by p may be acted on: a request
// with a bearer token may; one with a session cookie must carry the
// session's CSRF token in the form field "csrf".
func checkCSRF(r *http.Request, p *principal) bool {
	if p.session == nil {
		return true
	}
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(p.session.csrf())) == 1
}

// setSession sets the session cookie.
func (s *Server) setSession(w http.ResponseWriter, value string, ss *session) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: value, Path: "/", Expires: ss.expires,
		MaxAge: int(ss.expires.Sub(s.cfg.Now()).Seconds()), HttpOnly: true, Secure: !s.cfg.InsecureCookie,
		SameSite: http.SameSiteStrictMode})
}

// clearSession removes the session cookie.
func (s *Server) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: !s.cfg.InsecureCookie, SameSite: http.SameSiteStrictMode})
}

// withSession wraps a page: the request needs a session cookie or a
// bearer token of role. Without either, a GET is sent to the login page
// (and back after it), anything else gets 401.
func (s *Server) withSession(role Role, h func(http.ResponseWriter, *http.Request, *principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var p *principal
		if ss := s.session(r); ss != nil {
			p = &principal{Name: ss.name, Role: ss.role, session: ss}
		} else if r.Header.Get("Authorization") != "" {
			p, _ = s.bearer(r)
		}
		if p == nil {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "not logged in", http.StatusUnauthorized)
			return
		}
		if !p.may(role) {
			http.Error(w, "token "+p.Name+" may not do this: it is "+string(p.Role)+" only", http.StatusForbidden)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		h(w, r, p)
	}
}

// safeNext is where to go after logging in: a path of this site, else /.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}
