package main

import (
	"context"
	"errors"
	"io"
)

const serveDoc = `Serve the API (/api/v1) and the dashboard (/) over the database, without
reading any mailbox: an instance for people and list managers beside the
ones that run the service, or on a host of its own. It neither applies
migrations nor reads mail; releasing an address (admin tokens) is the
only thing it writes. Tokens come from [[http.token]] and
BOUNCED_HTTP_TOKENS; http.listen is the address (--listen overrides it).
/healthz needs no token; /readyz tells whether the database answers.

It waits for the database when it is down at start, and stops on SIGTERM
or SIGINT, letting the requests in flight finish.`

// runServe is `bounced serve`.
func runServe(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "[--config FILE] [--db URL] [--listen ADDR]", serveDoc, stderr)
	df := addDBFlags(fs)
	listen := fs.String("listen", "", "the `ADDRESS` to listen on (default: http.listen)")
	if ops, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(ops) > 0 {
		return &usageError{msg: "serve takes no operands"}
	}
	cfg, err := loadConfig(*df.config)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.HTTP.Listen = listen
		if err := cfg.HTTP.validate(); err != nil {
			return &usageError{msg: "--listen: " + err.Error()}
		}
	}
	if *cfg.HTTP.Listen == "" {
		return &configError{*df.config, errors.New("http.listen is empty: serve has nothing to do")}
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return &configError{*df.config, err}
	}
	wc, err := cfg.HTTP.webConfig()
	if err != nil {
		return &configError{*df.config, err}
	}
	var handler swappable
	stop, err := serveHTTP(*cfg.HTTP.Listen, cfg.HTTP, handler.start(), log)
	if err != nil {
		return err
	}
	defer stop()
	st, err := openStoreRetrying(ctx, cfg, *df.db, log, openChecked)
	if err != nil || st == nil {
		return err
	}
	defer st.Close()
	h, err := httpHandler(st, wc, cfg.HTTP.MetricsPublic, nil, log)
	if err != nil {
		return &configError{*df.config, err}
	}
	handler.set(h)
	log.Info("bounced serve started")
	<-ctx.Done()
	log.Info("bounced serve stopped")
	return nil
}
