package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/bounced/bounced/internal/web"
)

// HTTPConfig is where `bounced run` and `bounced serve` serve the API, the
// dashboard, /metrics, /healthz and /readyz, and who may use them.
type HTTPConfig struct {
	// Listen is the address to listen on; "" turns HTTP off (`bounced
	// run` only). Default "127.0.0.1:9108".
	Listen *string `toml:"listen"`
	// TLSCert and TLSKey are PEM files: given both, HTTPS is served.
	// Default: none (plain HTTP, for loopback or behind a TLS proxy).
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// SessionTTL is how long a dashboard login lasts. Default "12h".
	SessionTTL duration `toml:"session_ttl"`
	// InsecureCookie drops the Secure attribute of the session cookie, for
	// a dashboard reached over plain HTTP on a host that is not
	// localhost. Default false.
	InsecureCookie bool `toml:"insecure_cookie"`
	// MaxPage is the largest page the API gives. Default 1000.
	MaxPage int `toml:"max_page"`
	// MetricsPublic serves /metrics and /readyz without a token. Default
	// false: only /healthz is open.
	MetricsPublic bool `toml:"metrics_public"`
	// Tokens are the bearer tokens ([[http.token]]); more come from the
	// environment (BOUNCED_HTTP_TOKENS). Without any, nothing but
	// /healthz is served.
	Tokens []TokenConfig `toml:"token"`
}

// TokenConfig is one bearer token.
type TokenConfig struct {
	// Name names the token in logs and in the audit trail of releases.
	// Required.
	Name string `toml:"name"`
	// Role is "read" (everything but releases) or "admin". Default "read".
	Role string `toml:"role"`
	// Token is the secret, at least 16 characters; better given by
	// BOUNCED_TOKEN_<NAME> or token_file. Default: none.
	Token string `toml:"token"`
	// TokenFile names a file holding the secret. Default: none.
	TokenFile string `toml:"token_file"`
}

const (
	defaultHTTPListen = "127.0.0.1:9108"
	defaultSessionTTL = 12 * time.Hour
	defaultMaxPage    = 1000
	// tokensEnv names the variable of tokens given without the
	// configuration: NAME:ROLE:SECRET, separated by commas.
	tokensEnv = "BOUNCED_HTTP_TOKENS"
)

func (h *HTTPConfig) setDefaults() {
	if h.Listen == nil {
		l := defaultHTTPListen
		h.Listen = &l
	}
	if h.SessionTTL == 0 {
		h.SessionTTL = duration(defaultSessionTTL)
	}
	if h.MaxPage == 0 {
		h.MaxPage = defaultMaxPage
	}
	for i := range h.Tokens {
		if h.Tokens[i].Role == "" {
			h.Tokens[i].Role = string(web.Read)
		}
	}
}

func (h *HTTPConfig) validate() error {
	if l := *h.Listen; l != "" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			return fmt.Errorf("http.listen: %q is not host:port", l)
		}
	}
	if (h.TLSCert == "") != (h.TLSKey == "") {
		return errors.New("http: give both tls_cert and tls_key, or neither")
	}
	if h.SessionTTL < duration(time.Minute) {
		return fmt.Errorf("http.session_ttl: %s is shorter than a minute", time.Duration(h.SessionTTL))
	}
	if h.MaxPage < 1 || h.MaxPage > 100000 {
		return fmt.Errorf("http.max_page: %d is not between 1 and 100000", h.MaxPage)
	}
	names := map[string]bool{}
	for i, t := range h.Tokens {
		at := fmt.Sprintf("http.token[%d]", i)
		switch {
		case t.Name == "":
			return fmt.Errorf("%s: name is required", at)
		case names[t.Name]:
			return fmt.Errorf("%s: name %q is used twice", at, t.Name)
		case t.Role != string(web.Read) && t.Role != string(web.Admin):
			return fmt.Errorf("%s (%s): role %q is not read or admin", at, t.Name, t.Role)
		case t.Token != "" && t.TokenFile != "":
			return fmt.Errorf("%s (%s): give token or token_file, not both", at, t.Name)
		case t.Token != "" && len(t.Token) < web.MinSecret:
			return fmt.Errorf("%s (%s): token has %d characters, fewer than %d", at, t.Name, len(t.Token), web.MinSecret)
		}
		names[t.Name] = true
	}
	return nil
}

// tokens gives the bearer tokens with their secrets: each configured
// token's from BOUNCED_TOKEN_<NAME>, else token, else token_file; then
// those of BOUNCED_HTTP_TOKENS.
func (h *HTTPConfig) tokens() ([]web.Token, error) {
	var out []web.Token
	for _, t := range h.Tokens {
		secret := t.Token
		if v := os.Getenv(tokenEnv(t.Name)); v != "" {
			secret = v
		} else if secret == "" && t.TokenFile != "" {
			b, err := os.ReadFile(t.TokenFile)
			if err != nil {
				return nil, fmt.Errorf("http token %q: token_file: %w", t.Name, err)
			}
			secret = strings.TrimSpace(string(b))
		}
		if secret == "" {
			return nil, fmt.Errorf("http token %q: no secret: set %s, token_file or token", t.Name, tokenEnv(t.Name))
		}
		if len(secret) < web.MinSecret {
			return nil, fmt.Errorf("http token %q: the secret has %d characters, fewer than %d", t.Name, len(secret), web.MinSecret)
		}
		out = append(out, web.Token{Name: t.Name, Role: web.Role(t.Role), Secret: secret})
	}
	if v := strings.TrimSpace(os.Getenv(tokensEnv)); v != "" {
		for i, item := range strings.Split(v, ",") {
			name, rest, ok1 := strings.Cut(strings.TrimSpace(item), ":")
			role, secret, ok2 := strings.Cut(rest, ":")
			if !ok1 || !ok2 || name == "" {
				return nil, fmt.Errorf("%s: item %d is not NAME:ROLE:SECRET", tokensEnv, i+1)
			}
			if role != string(web.Read) && role != string(web.Admin) {
				return nil, fmt.Errorf("%s: token %q: role %q is not read or admin", tokensEnv, name, role)
			}
			if len(secret) < web.MinSecret {
				return nil, fmt.Errorf("%s: token %q: the secret has %d characters, fewer than %d", tokensEnv, name, len(secret), web.MinSecret)
			}
			for _, t := range out {
				if t.Name == name {
					return nil, fmt.Errorf("%s: token %q is also configured", tokensEnv, name)
				}
			}
			out = append(out, web.Token{Name: name, Role: web.Role(role), Secret: secret})
		}
	}
	return out, nil
}

// tokenEnv is the variable that gives a configured token's secret.
func tokenEnv(name string) string {
	return "BOUNCED_TOKEN_" + envName(name)
}

// webConfig is the web server's configuration, with the secrets read.
func (h *HTTPConfig) webConfig() (web.Config, error) {
	toks, err := h.tokens()
	if err != nil {
		return web.Config{}, err
	}
	return web.Config{Tokens: toks, SessionTTL: time.Duration(h.SessionTTL), InsecureCookie: h.InsecureCookie,
		MaxPage: h.MaxPage}, nil
}
