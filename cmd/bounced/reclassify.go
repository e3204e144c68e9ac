package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/bounced/bounced/internal/store"
)

const reclassifyDoc = `Parse and classify the stored raw messages again, after a rule change or
an upgrade, and update their rows and the suppression list in place: an
address whose bounces no longer meet the policy is released, one that now
meets it is suppressed. Only messages whose raw source was kept
([store] keep_raw) can be reclassified.`

// runReclassify is `bounced reclassify`.
func runReclassify(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("reclassify", "[--since T] [--config FILE]", reclassifyDoc, stderr)
	df := addDBFlags(fs)
	var since instant
	fs.Var(&since, "since", "only messages received since `T`: a duration before now (30d), a date or an RFC 3339 time")
	if ops, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(ops) > 0 {
		return &usageError{msg: "reclassify takes no operands"}
	}
	cfg, st, err := df.open(ctx, false)
	if err != nil {
		return err
	}
	defer st.Close()
	p := cfg.parser()
	cl, err := cfg.classifier()
	if err != nil {
		return &configError{*df.config, err}
	}
	if _, err := st.ApplyPolicy(ctx); err != nil {
		return err
	}
	var total store.Changed
	seen := 0
	after := int64(0)
	for {
		msgs, err := st.RawMessages(ctx, since.t, after, cfg.Store.BatchSize)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			break
		}
		rs := make([]store.Reanalysis, len(msgs))
		var wg sync.WaitGroup
		next := make(chan int)
		for range runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				for i := range next {
					m := &msgs[i]
					o, panicked := judge(p, cl, m.Raw, nil)
					rs[i] = store.Reanalysis{ID: m.ID, ReceivedAt: m.ReceivedAt, Report: o.Report, Results: o.Results, ParseErr: o.Err}
					if panicked != nil {
						rs[i].ParseErr = fmt.Errorf("parsing: internal error: %v", panicked)
					}
				}
			})
		}
		for i := range msgs {
			next <- i
		}
		close(next)
		wg.Wait()
		ch, err := st.Replace(ctx, rs)
		if err != nil {
			return err
		}
		total.Messages += ch.Messages
		total.Removed += ch.Removed
		total.Added += ch.Added
		seen += len(msgs)
		after = msgs[len(msgs)-1].ID
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "reclassified %d message(s): %d changed; %d recipient row(s) replaced by %d\n",
		seen, total.Messages, total.Removed, total.Added)
	return nil
}
