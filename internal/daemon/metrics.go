package daemon

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are what /metrics shows. Each daemon has a registry of its own,
// so that tests can read one daemon's figures.
type metrics struct {
	reg         *prometheus.Registry
	fetched     *prometheus.CounterVec // account, mailbox
	bytes       *prometheus.CounterVec // account, mailbox
	parsed      *prometheus.CounterVec // kind
	recipients  *prometheus.CounterVec // cause
	errors      *prometheus.CounterVec // stage
	actions     *prometheus.CounterVec // action
	batch       prometheus.Histogram   // seconds from fetch to commit
	lag         *prometheus.GaugeVec   // account, mailbox: messages not yet processed
	lastSuccess *prometheus.GaugeVec   // account, mailbox: unix time
	active      *prometheus.GaugeVec   // account, mailbox: 1 while this instance holds the lock
	delay       prometheus.Histogram   // seconds from a message's arrival seen by IDLE to commit
	saved       *prometheus.CounterVec // what: messages, duplicates, recipients, suppressions
}

// Stages of the errors counter.
const (
	stageLock    = "lock"
	stageConnect = "connect"
	stageFetch   = "fetch"
	stageParse   = "parse"
	stageStore   = "store"
	stageAction  = "action"
)

func newMetrics() *metrics {
	mb := []string{"account", "mailbox"}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		fetched: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bounced_messages_fetched_total",
			Help: "Messages fetched from a mailbox."}, mb),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bounced_fetched_bytes_total",
			Help: "Bytes of messages fetched from a mailbox."}, mb),
		parsed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bounced_messages_parsed_total",
			Help: "Messages analysed and stored, by kind (bounce, delay, auto_reply, complaint, delivered, not_bounce) or unparseable."}, []string{"kind"}),
		recipients: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bounced_recipients_total",
			Help: "Failed recipients of the messages stored, by cause."}, []string{"cause"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bounced_errors_total",
			Help: "Errors, by stage: lock, connect, fetch, parse, store, action."}, []string{"stage"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bounced_mailbox_actions_total",
			Help: "Messages a mailbox action was done to, by action (seen, flag, move, delete)."}, []string{"action"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "bounced_batch_duration_seconds",
			Help:    "Time from the start of a batch's fetch to its commit.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bounced_mailbox_lag_messages",
			Help: "Messages in a mailbox that are not yet processed, as last listed."}, mb),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bounced_last_success_timestamp_seconds",
			Help: "When a mailbox was last read to its end (Unix time)."}, mb),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bounced_mailbox_active",
			Help: "1 while this instance holds a mailbox's lock and works it, 0 on standby."}, mb),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "bounced_new_mail_delay_seconds",
			Help:    "Time from the server's news of new mail, while waiting for it, to the commit of its rows.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}),
		saved: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bounced_saved_total",
			Help: "What the store wrote: messages (new), duplicates (already stored), recipients (new rows), suppressions (added or renewed)."}, []string{"what"}),
	}
	m.reg.MustRegister(m.fetched, m.bytes, m.parsed, m.recipients, m.errors, m.actions, m.batch, m.lag,
		m.lastSuccess, m.active, m.delay, m.saved,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, s := range []string{stageLock, stageConnect, stageFetch, stageParse, stageStore, stageAction} {
		m.errors.WithLabelValues(s)
	}
	return m
}
