// Package daemon is bounced's service: for every configured mailbox it
// takes the mailbox's lock, reads new mail over IMAP, analyses it, saves
// it and then does the mailbox action of its outcome, again and again.
//
// Mailbox safety (DESIGN.md): a message's action is done only after its
// rows are committed, and the checkpoint says how far the actions went, so
// that a daemon killed at any point repeats work and never loses it.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
	"github.com/bounced/bounced/internal/fetch"
	"github.com/bounced/bounced/internal/store"
)

// Outcome is what a message turned out to be, for its mailbox action.
type Outcome string

// The outcomes, each with an action of its own.
const (
	Bounce      Outcome = "bounce"      // a bounce (kind bounce)
	Other       Outcome = "other"       // delay, auto_reply, complaint or delivered
	NotBounce   Outcome = "not_bounce"  // nothing bounced knows
	Unparseable Outcome = "unparseable" // parsed with an error, or over the size cap
)

// Mailbox is one mailbox to work: an account and a mailbox name.
type Mailbox struct {
	Account fetch.Account
	Name    string
}

// Config says what the daemon reads and how.
type Config struct {
	Mailboxes []Mailbox
	// Actions is the mailbox action of each outcome; a missing one is none.
	Actions map[Outcome]fetch.Action
	// Poll is how long to wait for new mail on a server without IDLE, and
	// the longest wait with IDLE.
	Poll time.Duration
	// BatchSize and BatchBytes bound the messages saved in one
	// transaction, by number and by size.
	BatchSize  int
	BatchBytes int64
	// MaxMessageBytes is the size cap: a message over it is read up to it,
	// saved as unparseable (oversized), and gets that outcome's action.
	MaxMessageBytes int64
	// ReconnectMin and ReconnectMax bound the wait before trying again
	// after an error.
	ReconnectMin, ReconnectMax time.Duration
	// LockRetry is how often an instance on standby tries a mailbox's lock.
	LockRetry time.Duration
	// StopTimeout bounds the time given to the batch in flight when
	// stopping.
	StopTimeout time.Duration
	// Drain makes Run return once every mailbox has been read to its end,
	// instead of waiting for new mail; a mailbox that another instance
	// works is left to it.
	Drain bool
	// Workers is the number of goroutines that parse; 0 means GOMAXPROCS.
	Workers int
	// StatusEvery is how often the state of the mailboxes this instance
	// works is written to the store (table mailbox_status), for the
	// dashboard and the API of every instance. Default 5s.
	StatusEvery time.Duration
	// Instance names this instance in mailbox_status. Default host:pid.
	Instance string
}

// Daemon works the mailboxes of its Config.
type Daemon struct {
	cfg        Config
	store      *store.Store
	parser     *dsn.Parser
	classifier *classify.Classifier
	log        *slog.Logger
	metrics    *metrics

	mu     sync.Mutex
	states map[string]*MailboxState
}

// MailboxState is what /readyz and States tell of one mailbox.
type MailboxState struct {
	Account, Mailbox string
	Active           bool      // this instance holds the lock
	Err              string    // the last error, "" after a success
	ErrAt            time.Time // when the last error happened
	LastPoll         time.Time // the last time it was listed for new mail
	Lag              int       // messages waiting at the last poll
	LastSuccess      time.Time // the last time it was read to its end
	Processed        int       // messages stored by this instance
}

// New makes a daemon. The store must be migrated.
func New(cfg Config, st *store.Store, p *dsn.Parser, cl *classify.Classifier, log *slog.Logger) *Daemon {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = 16 << 20
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 16 << 20
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Minute
	}
	if cfg.ReconnectMin <= 0 {
		cfg.ReconnectMin = time.Second
	}
	if cfg.ReconnectMax < cfg.ReconnectMin {
		cfg.ReconnectMax = max(cfg.ReconnectMin, 2*time.Minute)
	}
	if cfg.LockRetry <= 0 {
		cfg.LockRetry = 5 * time.Second
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 30 * time.Second
	}
	if cfg.StatusEvery <= 0 {
		cfg.StatusEvery = 5 * time.Second
	}
	if cfg.Instance == "" {
		host, _ := os.Hostname()
		cfg.Instance = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	d := &Daemon{cfg: cfg, store: st, parser: p, classifier: cl, log: log, metrics: newMetrics(),
		states: make(map[string]*MailboxState)}
	for _, mb := range cfg.Mailboxes {
		d.states[key(mb)] = &MailboxState{Account: mb.Account.Name, Mailbox: mb.Name}
		d.metrics.active.WithLabelValues(mb.Account.Name, mb.Name).Set(0)
	}
	return d
}

func key(mb Mailbox) string { return mb.Account.Name + "\x00" + mb.Name }

// Run works every mailbox until ctx ends (or, with Drain, until each was
// read to its end). When ctx ends, the batch in flight of each mailbox is
// finished, its actions done, within StopTimeout; Run then returns nil.
// With Drain, Run returns the first mailbox's error that kept it from
// being drained.
func (d *Daemon) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(d.cfg.Mailboxes))
	for i, mb := range d.cfg.Mailboxes {
		w := &worker{d: d, mb: mb, log: d.log.With("account", mb.Account.Name, "mailbox", mb.Name),
			backoff: fetch.Backoff{Min: d.cfg.ReconnectMin, Max: d.cfg.ReconnectMax}}
		wg.Go(func() { errs[i] = w.run(ctx) })
	}
	done := make(chan struct{})
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		d.report(done)
	}()
	wg.Wait()
	close(done)
	<-reported
	return errors.Join(errs...)
}

// report writes the state of the mailboxes this instance works to the
// store every StatusEvery, and once more when done closes. A mailbox is
// reported while this instance holds its lock or has an error about it,
// so that a standby instance does not overwrite the active one's row.
func (d *Daemon) report(done <-chan struct{}) {
	t := time.NewTicker(d.cfg.StatusEvery)
	defer t.Stop()
	var (
		last     []store.MailboxStatus // what was written last, and when
		lastTime time.Time
	)
	for {
		stopping := false
		select {
		case <-done:
			stopping = true
		case <-t.C:
		}
		var sts []store.MailboxStatus
		for _, s := range d.States() {
			if !s.Active && s.Err == "" && !stopping {
				continue
			}
			if stopping && !s.Active && s.LastPoll.IsZero() {
				continue // never worked it: leave the row to the one that did
			}
			sts = append(sts, store.MailboxStatus{Account: s.Account, Mailbox: s.Mailbox, Instance: d.cfg.Instance,
				Active: s.Active && !stopping, LastPoll: s.LastPoll, LastSuccess: s.LastSuccess, Lag: int64(s.Lag),
				Error: s.Err, ErrorAt: s.ErrAt, Processed: int64(s.Processed)})
		}
		// Unchanged states are written again once a minute at most, so that
		// updated_at tells the instance is alive.
		if !slices.Equal(sts, last) || stopping || time.Since(lastTime) > time.Minute {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := d.store.SaveMailboxStatus(ctx, sts); err != nil {
				d.log.Debug("saving mailbox status", "err", err)
			} else {
				last, lastTime = sts, time.Now()
			}
			cancel()
		}
		if stopping {
			return
		}
	}
}

// Handler serves /metrics, /healthz and /readyz.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", d.ready)
	return mux
}

// ready answers 200 when the database answers and no mailbox is failing;
// else 503 with what is wrong.
func (d *Daemon) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	var problems []string
	if err := d.store.Ping(ctx); err != nil {
		problems = append(problems, err.Error())
	}
	for _, s := range d.States() {
		if s.Err != "" {
			problems = append(problems, fmt.Sprintf("%s/%s: %s", s.Account, s.Mailbox, s.Err))
		}
	}
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, p := range problems {
			fmt.Fprintln(w, p)
		}
		return
	}
	fmt.Fprintln(w, "ready")
}

// Registry gives the daemon's metrics, for tests and for `bounced demo`.
func (d *Daemon) Registry() prometheus.Gatherer { return d.metrics.reg }

// States reports the state of every mailbox.
func (d *Daemon) States() []MailboxState {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]MailboxState, 0, len(d.cfg.Mailboxes))
	for _, mb := range d.cfg.Mailboxes {
		out = append(out, *d.states[key(mb)])
	}
	return out
}

// update changes the state of mb.
func (d *Daemon) update(mb Mailbox, fn func(*MailboxState)) {
	d.mu.Lock()
	fn(d.states[key(mb)])
	d.mu.Unlock()
}

// The starts of the parse errors that make a message unparseable whatever
// the parser found.
const (
	oversizedPrefix = "oversized:"
	panicPrefix     = "parsing: internal error:"
)

// outcome is what a saved message counts as, for its action. A message
// with a parse error is unparseable when the parser found no recipient in
// it, when it was over the size cap, or when the parser broke; a bounce
// whose report was read despite a flaw (a missing closing boundary, say)
// is a bounce.
func outcome(kind dsn.Kind, parseErr string, recipients int) Outcome {
	switch {
	case parseErr != "" && (recipients == 0 || strings.HasPrefix(parseErr, oversizedPrefix) || strings.HasPrefix(parseErr, panicPrefix)):
		return Unparseable
	case kind == dsn.Bounce:
		return Bounce
	case kind == dsn.NotBounce || kind == "":
		return NotBounce
	default:
		return Other
	}
}

// errText is err's text, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
