package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/bounced/bounced/internal/store"
)

const importDoc = `Analyse saved messages straight into the store, for backfilling history
from a mail archive. Operands are read as by 'bounced parse': a file, an
mbox, a directory (a Maildir works as it is), or "-" for standard input.

Importing is idempotent: a message already imported (the same bytes) is
skipped, and a notice already read from a mailbox (the same Message-ID) adds
no second row per recipient. A message is dated by its own Date (or its
report's arrival date), else by the file's modification time. A damaged
message is stored with its parse error; an input that cannot be read is
reported and makes the exit status 1.`

// importItem is one message read for import.
type importItem struct {
	name     string
	data     []byte
	modified time.Time
	err      error
}

// runImport is `bounced import`.
func runImport(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("import", "[--config FILE] [--db URL] [FILE|DIR|MBOX|-]...", importDoc, stderr)
	df := addDBFlags(fs)
	operands, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(operands) == 0 {
		operands = []string{"-"}
	}
	cfg, st, err := df.open(ctx, false)
	if err != nil {
		return err
	}
	defer st.Close()
	cl, err := cfg.classifier()
	if err != nil {
		return &configError{*df.config, err}
	}
	p := cfg.parser()
	if _, err := st.ApplyPolicy(ctx); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := runtime.GOMAXPROCS(0)
	items := make(chan importItem, workers)
	msgs := make(chan store.Message, cfg.Store.BatchSize)
	pc := &parseCmd{maxBytes: cfg.Parse.MaxBytes, stdin: stdin}
	go func() {
		defer close(items)
		pc.produce(ctx, operands, func(j job) bool {
			it := readItem(j, cfg.Parse.MaxBytes)
			select {
			case items <- it:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	var failed int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for it := range items {
				if it.err != nil {
					mu.Lock()
					failed++
					fmt.Fprintf(stderr, "bounced: %s: %v\n", it.name, it.err)
					mu.Unlock()
					continue
				}
				o, panicked := judge(p, cl, it.data, nil)
				m := store.Message{Mailbox: "import", Source: it.name, Raw: it.data,
					Report: o.Report, Results: o.Results, ParseErr: o.Err}
				if panicked != nil {
					m.ParseErr = fmt.Errorf("parsing: internal error: %v", panicked)
				}
				m.ReceivedAt = importTime(o.Report.Date, o.Report.ArrivalDate, it.modified)
				select {
				case msgs <- m:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(msgs) }()

	var total store.Saved
	batch := make([]store.Message, 0, cfg.Store.BatchSize)
	save := func() error {
		if len(batch) == 0 {
			return nil
		}
		s, err := st.Save(ctx, store.Batch{Messages: batch})
		if err != nil {
			return err
		}
		total.Messages += s.Messages
		total.Duplicates += s.Duplicates
		total.Bounces += s.Bounces
		total.Suppressed += s.Suppressed
		batch = batch[:0]
		return nil
	}
	for m := range msgs {
		batch = append(batch, m)
		if len(batch) == cap(batch) {
			if err := save(); err != nil {
				cancel()
				for range msgs {
				}
				return err
			}
		}
	}
	if err := save(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported %d message(s) (%d already stored), %d recipient row(s); %d suppression(s) added or renewed\n",
		total.Messages, total.Duplicates, total.Bounces, total.Suppressed)
	if failed > 0 {
		fmt.Fprintf(stderr, "bounced: %d input(s) could not be read\n", failed)
		return errFailed
	}
	return nil
}

// readItem reads a job's message into memory, up to the parser's bound
// and one byte (so the parser sees it went past).
func readItem(j job, maxBytes int64) importItem {
	it := importItem{name: j.name, data: j.data, err: j.err}
	if j.r != nil {
		it.data, it.err = io.ReadAll(io.LimitReader(j.r, maxBytes+1))
		if j.close != nil {
			j.close()
		}
		if j.done != nil {
			close(j.done)
		}
		if it.err != nil {
			it.err = fmt.Errorf("reading input: %w", it.err)
		}
	}
	if j.name == "-" {
		return it
	}
	fi, err := os.Stat(j.name)
	if i := strings.LastIndexByte(j.name, '#'); err != nil && i > 0 {
		fi, err = os.Stat(j.name[:i]) // PATH#N, a message of an mbox
	}
	if err == nil {
		it.modified = fi.ModTime()
	}
	return it
}

// importTime dates an imported message: by its Date, else its report's
// arrival date, else the file's time, else now. A date in the future is
// passed over.
func importTime(date, arrival, modified time.Time) time.Time {
	now := time.Now()
	for _, t := range []time.Time{date, arrival, modified} {
		if !t.IsZero() && !t.After(now.Add(time.Hour)) {
			return t
		}
	}
	return now
}
