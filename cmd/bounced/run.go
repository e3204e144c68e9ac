package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bounced/bounced/internal/daemon"
	"github.com/bounced/bounced/internal/fetch"
	"github.com/bounced/bounced/internal/store"
	"github.com/bounced/bounced/internal/web"
)

const runDoc = `Run the service: read every configured mailbox ([[account]] in the
configuration), analyse each new message, save it, then do the mailbox
action of its outcome ([actions]). A message leaves the mailbox only after
its rows are committed; a crash repeats work and never loses it.

Pending migrations are applied at start. Several instances may run against
the same database and mailboxes: a PostgreSQL advisory lock per mailbox
makes one of them work it, and another takes over within seconds when it
dies. When PostgreSQL or the IMAP server is down, mail stays where it is
and the daemon tries again, waiting longer each time (up to
imap.reconnect_max).

On SIGTERM or SIGINT the batch in flight is finished and its actions done
(within imap.stop_timeout), then the exit status is 0; a second signal
exits at once. The API (/api/v1), the dashboard (/), /metrics, /healthz
and /readyz are served on http.listen to the holders of a token
([[http.token]]); /healthz needs none.

With --drain, every mailbox is read to its end once and the command exits.`

// runRun is `bounced run`.
func runRun(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", "[--config FILE] [--db URL] [--drain]", runDoc, stderr)
	df := addDBFlags(fs)
	drain := fs.Bool("drain", false, "read every mailbox to its end once, then exit")
	if ops, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(ops) > 0 {
		return &usageError{msg: "run takes no operands"}
	}
	cfg, err := loadConfig(*df.config)
	if err != nil {
		return err
	}
	if len(cfg.Accounts) == 0 {
		return &configError{*df.config, errors.New("no [[account]] is configured: there is nothing to read (see config.example.toml)")}
	}
	dc, err := cfg.daemonConfig()
	if err != nil {
		return &configError{*df.config, err}
	}
	dc.Drain = *drain
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return &configError{*df.config, err}
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// A soft limit: the garbage collector works harder before the
		// heap passes it, which keeps the resident size low.
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	cl, err := cfg.classifier()
	if err != nil {
		return &configError{*df.config, err}
	}
	wc, err := cfg.HTTP.webConfig()
	if err != nil {
		return &configError{*df.config, err}
	}
	// HTTP comes up first, so that /healthz answers while the database is
	// awaited; the daemon's handler takes over once it exists.
	var handler swappable
	if l := *cfg.HTTP.Listen; l != "" {
		stop, err := serveHTTP(l, cfg.HTTP, handler.start(), log)
		if err != nil {
			return err
		}
		defer stop()
	}
	st, err := openStoreRetrying(ctx, cfg, *df.db, log, openMigrated)
	if err != nil {
		return err
	}
	if st == nil {
		return nil // stopped before the database came up
	}
	defer st.Close()
	d := daemon.New(dc, st, cfg.parser(), cl, log)
	if *cfg.HTTP.Listen != "" {
		h, err := httpHandler(st, wc, cfg.HTTP.MetricsPublic, d.Handler(), log)
		if err != nil {
			return &configError{*df.config, err}
		}
		handler.set(h)
	}
	log.Info("bounced started", "mailboxes", len(dc.Mailboxes), "drain", dc.Drain)
	err = d.Run(ctx)
	log.Info("bounced stopped")
	return err
}

// swappable is the handler of the HTTP listener: it answers as
// startingHandler until set gives it the real one.
type swappable struct{ h atomic.Pointer[http.Handler] }

// start sets the starting handler and gives the listener's handler.
func (s *swappable) start() http.Handler {
	s.set(startingHandler())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*s.h.Load()).ServeHTTP(w, r) })
}

func (s *swappable) set(h http.Handler) { s.h.Store(&h) }

// startingHandler answers while the database is awaited at start.
func startingHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "starting: waiting for the database", http.StatusServiceUnavailable)
	})
	return mux
}

// defaultMemoryLimit is the Go heap's soft limit unless GOMEMLIMIT is set.
const defaultMemoryLimit = 64 << 20

// newLogger builds the one logger of the process.
func newLogger(c LogConfig, w io.Writer) (*slog.Logger, error) {
	lvl, err := logLevel(c.Level)
	if err != nil {
		return nil, err
	}
	opt := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opt)), nil
	}
	return slog.New(slog.NewTextHandler(w, opt)), nil
}

// openStoreRetrying opens the store with open, trying again while the
// database is down. It returns nil and no error when ctx ends first.
func openStoreRetrying(ctx context.Context, cfg *Config, url string, log *slog.Logger,
	open func(context.Context, string, store.Options, *slog.Logger) (*store.Store, error)) (*store.Store, error) {
	if url == "" {
		var err error
		if url, err = cfg.databaseURL(); err != nil {
			return nil, &configError{"", err}
		}
	}
	opt, err := cfg.storeOptions()
	if err != nil {
		return nil, &configError{"", err}
	}
	b := fetch.Backoff{Min: time.Duration(cfg.IMAP.ReconnectMin), Max: time.Duration(cfg.IMAP.ReconnectMax)}
	for {
		st, err := open(ctx, url, opt, log)
		if err == nil {
			return st, nil
		}
		if ctx.Err() != nil {
			return nil, nil
		}
		if !errors.Is(err, store.ErrUnavailable) {
			return nil, err
		}
		delay := b.Next()
		log.Warn("database unavailable: will try again", "in", delay.Round(time.Millisecond), "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil
		case <-t.C:
		}
	}
}

// openMigrated opens the store, applies the pending migrations and
// rebuilds the suppression list if the policy changed.
func openMigrated(ctx context.Context, url string, opt store.Options, log *slog.Logger) (*store.Store, error) {
	st, err := store.Open(ctx, url, opt)
	if err != nil {
		return nil, err
	}
	applied, err := st.Migrate(ctx)
	for _, name := range applied {
		log.Info("applied migration", "name", name)
	}
	if err == nil {
		var rebuilt bool
		if rebuilt, err = st.ApplyPolicy(ctx); rebuilt {
			log.Info("suppression list rebuilt for the policy", "policy", st.Policy().Fingerprint())
		}
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// httpHandler serves the API and the dashboard over st, with the daemon's
// /metrics and /readyz (of handler extra, nil for none) behind a token
// unless public.
func httpHandler(st *store.Store, wc web.Config, public bool, extra http.Handler, log *slog.Logger) (http.Handler, error) {
	ws, err := web.New(st, wc, log)
	if err != nil {
		return nil, err
	}
	if len(wc.Tokens) == 0 {
		log.Warn("no HTTP token is configured: the API and the dashboard refuse every request ([[http.token]] or " + tokensEnv + ")")
	}
	if extra == nil {
		extra = readyHandler(st)
	}
	if !public {
		ws.Handle("GET /metrics", web.Read, extra)
		ws.Handle("GET /readyz", web.Read, extra)
		return ws.Handler(), nil
	}
	mux := http.NewServeMux()
	mux.Handle("/", ws.Handler())
	mux.Handle("GET /metrics", extra)
	mux.Handle("GET /readyz", extra)
	return mux, nil
}

// readyHandler answers /readyz of `bounced serve`: 200 when the database
// answers, else 503. (It has no metrics: /metrics answers 404.)
func readyHandler(st *store.Store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := st.Ping(ctx); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// openChecked opens the store and checks that its schema is this
// program's, for `bounced serve`, which applies no migration.
func openChecked(ctx context.Context, url string, opt store.Options, _ *slog.Logger) (*store.Store, error) {
	st, err := store.Open(ctx, url, opt)
	if err != nil {
		return nil, err
	}
	if err := st.CheckSchema(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// serveHTTP serves h on addr (with TLS when c names a certificate) until
// the returned stop is called.
func serveHTTP(addr string, c HTTPConfig, h http.Handler, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http.listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	scheme := "http"
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			ln.Close()
			return nil, &configError{"", fmt.Errorf("http.tls_cert, http.tls_key: %w", err)}
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln, scheme = tls.NewListener(ln, srv.TLSConfig), "https"
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}()
	log.Info("serving the API, the dashboard, metrics and health checks", "url", scheme+"://"+ln.Addr().String()+"/")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

const checkConfigDoc = `Check a configuration file: strict decoding (an unknown key or a value of
the wrong type is an error giving its line and column), every value, and
that the secrets it names can be read. Prints a summary; the exit status
is 2 when the configuration is bad.`

// runCheckConfig is `bounced check-config`.
func runCheckConfig(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("check-config", "[--config FILE]", checkConfigDoc, stderr)
	path := fs.String("config", "", "the configuration `FILE` (see config.example.toml)")
	ops, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(ops) == 1 && *path == "" {
		*path = ops[0]
	} else if len(ops) > 0 {
		return &usageError{msg: "check-config takes one file"}
	}
	if *path == "" {
		return &usageError{msg: "check-config needs --config FILE"}
	}
	cfg, _, _, err := loadPipeline(*path)
	if err != nil {
		return err
	}
	mbs, err := cfg.accounts()
	if err != nil {
		return &configError{*path, err}
	}
	if _, err := cfg.databaseURL(); err != nil {
		return &configError{*path, err}
	}
	for _, mb := range mbs {
		a := mb.Account
		secret := "password"
		switch {
		case a.Auth == "xoauth2" && a.TokenFile != "":
			secret = "token from " + a.TokenFile
			if _, err := os.Stat(a.TokenFile); err != nil {
				return &configError{*path, fmt.Errorf("account %q: token_file: %w", a.Name, err)}
			}
		case a.Auth == "xoauth2":
			secret = "token from a command"
		case a.Password == "":
			secret = "NO password (set " + passwordEnv(a.Name) + " or password_file)"
		}
		fmt.Fprintf(stdout, "mailbox %s/%s at %s (%s, %s login as %s, %s)\n", a.Name, mb.Name, a.Address, a.Security, a.Auth, a.Username, secret)
	}
	fmt.Fprintf(stdout, "actions: bounce %s, other %s, not_bounce %s, unparseable %s\n",
		cfg.Actions.Bounce, cfg.Actions.Other, cfg.Actions.NotBounce, cfg.Actions.Unparseable)
	toks, err := cfg.HTTP.tokens()
	if err != nil {
		return &configError{*path, err}
	}
	listen := *cfg.HTTP.Listen
	switch {
	case listen == "":
		listen = "off"
	case cfg.HTTP.TLSCert != "":
		listen = "https://" + listen
	default:
		listen = "http://" + listen
	}
	var names []string
	for _, t := range toks {
		names = append(names, t.Name+" ("+string(t.Role)+")")
	}
	if len(names) == 0 {
		names = []string{"none: only /healthz answers"}
	}
	fmt.Fprintf(stdout, "http: %s, tokens: %s\n", listen, strings.Join(names, ", "))
	fmt.Fprintf(stdout, "config %s is valid: %d account(s), %d mailbox(es)\n", *path, len(cfg.Accounts), len(mbs))
	return nil
}
