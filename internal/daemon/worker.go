package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/bounced/bounced/internal/dsn"
	"github.com/bounced/bounced/internal/fetch"
	"github.com/bounced/bounced/internal/store"
)

// worker works one mailbox.
type worker struct {
	d       *Daemon
	mb      Mailbox
	log     *slog.Logger
	backoff fetch.Backoff
	// notified is when the server last told of new mail, for the delay
	// metric; zero when the batch did not follow such news.
	notified time.Time
}

// errDrained ends work when Drain is set and the mailbox is read to its
// end.
var errDrained = errors.New("mailbox drained")

// Reasons the I/O of a batch in flight was cut short.
var (
	errStopTimeout = errors.New("stopping: the batch in flight took longer than the stop timeout")
	errLockLost    = errors.New("the mailbox lock was lost: another instance may work the mailbox now")
)

// run takes the mailbox's lock and works the mailbox, again after each
// error, until ctx ends (or the mailbox is drained, with Drain).
func (w *worker) run(ctx context.Context) error {
	standby := false
	for ctx.Err() == nil {
		lock, err := w.d.store.TryLockMailbox(ctx, w.mb.Account.Name, w.mb.Name)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			w.fail(stageLock, err)
			w.pause(ctx, w.backoff.Next())
			continue
		case lock == nil && w.d.cfg.Drain:
			w.log.Info("another instance works this mailbox: leaving it to that one")
			return nil
		case lock == nil:
			if !standby {
				w.log.Info("standby: another instance works this mailbox")
				standby = true
			}
			w.pause(ctx, w.d.cfg.LockRetry)
			continue
		}
		if standby {
			w.log.Info("took the mailbox over")
		}
		standby = false
		w.setActive(true)
		err = w.work(ctx, lock)
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		lock.Release(rctx)
		cancel()
		w.setActive(false)
		switch {
		case errors.Is(err, errDrained):
			return nil
		case ctx.Err() != nil:
			return nil
		case err != nil:
			delay := w.backoff.Next()
			w.log.Warn("will try again", "in", delay.Round(time.Millisecond), "err", err)
			w.pause(ctx, delay)
		}
	}
	return nil
}

// pause waits d or until ctx ends.
func (w *worker) pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (w *worker) setActive(on bool) {
	v := 0.0
	if on {
		v = 1
	}
	w.d.metrics.active.WithLabelValues(w.mb.Account.Name, w.mb.Name).Set(v)
	w.d.update(w.mb, func(s *MailboxState) { s.Active = on })
}

// fail counts and records an error of a stage; the caller logs it once.
func (w *worker) fail(stage string, err error) {
	w.d.metrics.errors.WithLabelValues(stage).Inc()
	w.d.update(w.mb, func(s *MailboxState) { s.Err, s.ErrAt = stage+": "+err.Error(), time.Now() })
}

// succeed records that the mailbox was read to its end.
func (w *worker) succeed() {
	now := time.Now()
	w.d.metrics.lastSuccess.WithLabelValues(w.mb.Account.Name, w.mb.Name).Set(float64(now.UnixNano()) / 1e9)
	w.d.update(w.mb, func(s *MailboxState) { s.Err, s.LastSuccess = "", now })
}

// work connects and reads the mailbox, holding lock, until ctx ends, an
// error, or the lock is lost. When ctx ends, the batch in flight is
// finished with StopTimeout to do it.
func (w *worker) work(ctx context.Context, lock *store.MailboxLock) error {
	// ioCtx is for the I/O of a batch: it outlives ctx by StopTimeout,
	// and ends when the lock is lost.
	ioCtx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stopTimer := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(w.d.cfg.StopTimeout, func() { cancel(errStopTimeout) })
		context.AfterFunc(ioCtx, func() { t.Stop() })
	})
	defer stopTimer()
	go func() {
		select {
		case <-lock.Lost():
			cancel(errLockLost)
		case <-ioCtx.Done():
		}
	}()
	// waitCtx ends with either: waiting for new mail stops at once.
	waitCtx, cancelWait := context.WithCancel(ctx)
	defer cancelWait()
	stopWait := context.AfterFunc(ioCtx, cancelWait)
	defer stopWait()

	c, err := fetch.Dial(ioCtx, w.mb.Account)
	if err != nil {
		w.fail(stageConnect, err)
		return cause(ioCtx, err)
	}
	defer c.Close()
	sel, err := c.Select(ioCtx, w.mb.Name)
	if err != nil {
		w.fail(stageConnect, err)
		return cause(ioCtx, err)
	}
	cp, err := w.d.store.Checkpoint(ioCtx, w.mb.Account.Name, w.mb.Name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		w.fail(stageStore, err)
		return cause(ioCtx, err)
	}
	if cp.UIDValidity != sel.UIDValidity {
		if cp.UIDValidity != 0 {
			w.log.Warn("UIDVALIDITY changed: reading the whole mailbox again; notices already stored add no rows",
				"old", cp.UIDValidity, "new", sel.UIDValidity)
		}
		cp = store.Checkpoint{Account: w.mb.Account.Name, Mailbox: w.mb.Name, UIDValidity: sel.UIDValidity}
	}
	if cp.ActedUID < cp.LastUID {
		if err := w.catchUp(ioCtx, c, &cp); err != nil {
			return cause(ioCtx, err)
		}
	}
	w.log.Debug("working the mailbox", "uidvalidity", cp.UIDValidity, "last_uid", cp.LastUID,
		"messages", sel.Messages, "idle", c.Caps().Idle, "move", c.Caps().Move)
	for ctx.Err() == nil {
		infos, err := c.List(ioCtx, cp.LastUID, 0)
		if err != nil {
			w.fail(stageFetch, err)
			return cause(ioCtx, err)
		}
		w.d.metrics.lag.WithLabelValues(w.mb.Account.Name, w.mb.Name).Set(float64(len(infos)))
		polled := time.Now()
		w.d.update(w.mb, func(s *MailboxState) { s.LastPoll, s.Lag = polled, len(infos) })
		if len(infos) == 0 {
			w.succeed()
			w.backoff.Reset()
			if w.d.cfg.Drain {
				return errDrained
			}
			if err := c.Wait(waitCtx, w.d.cfg.Poll); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				w.fail(stageFetch, err)
				return cause(ioCtx, err)
			}
			w.notified = time.Now()
			continue
		}
		if err := w.drain(ctx, ioCtx, c, &cp, infos); err != nil {
			return cause(ioCtx, err)
		}
	}
	return nil
}

// cause prefers the reason ioCtx ended (stop timeout, lock lost) to the
// error it caused.
func cause(ioCtx context.Context, err error) error {
	if c := context.Cause(ioCtx); c != nil && !errors.Is(c, context.Canceled) {
		return fmt.Errorf("%w (%v)", c, err)
	}
	return err
}

// batch is messages read and analysed, to be saved in one transaction.
type batch struct {
	msgs     []store.Message
	outcomes []Outcome
	last     uint32 // the last UID listed for the batch
	start    time.Time
	fetched  time.Duration // fetching and analysing
	saving   time.Duration // Save, beside the next fetch
}

// saveResult is the answer of a save running beside the next fetch.
type saveResult struct {
	saved store.Saved
	err   error
}

// drain reads the listed messages in batches. A batch is saved while the
// next one is fetched; its actions are done once it is committed, and how
// far they went is saved with the next batch's checkpoint. It returns when
// infos are done, or early (with nil) when ctx ends, after finishing what
// is in flight.
func (w *worker) drain(ctx, ioCtx context.Context, c *fetch.Client, cp *store.Checkpoint, infos []fetch.Info) error {
	var inflight chan saveResult
	var prev *batch
	// The actions of committed batches wait in todo until actGroup
	// messages are there or the listing is done: one command on many
	// messages costs the server much less than several on few. A full
	// group goes to an actor, which does it on a connection of its own
	// while the next batches are fetched; what is left at the end is done
	// here (or by the actor, after what it has).
	var todo acts
	var ac *actor
	defer func() {
		if ac != nil {
			ac.wait()
		}
	}()
	// syncActed takes in how far the actor went; its error ends the drain.
	syncActed := func() error {
		if ac == nil {
			return nil
		}
		acted, err := ac.state()
		cp.ActedUID = max(cp.ActedUID, acted)
		return err
	}
	// handOff gives the full group in todo to the actor.
	handOff := func() error {
		if ac == nil {
			ac = startActor(ioCtx, w, cp.UIDValidity)
		}
		err := ac.send(todo)
		todo = acts{}
		if err != nil {
			return err
		}
		return syncActed()
	}
	// actRest does the actions left once the listing is done.
	actRest := func() error {
		if ac != nil {
			if len(todo.uids) > 0 {
				if err := ac.send(todo); err != nil {
					return err
				}
				todo = acts{}
			}
			acted, err := ac.wait()
			ac = nil
			cp.ActedUID = max(cp.ActedUID, acted)
			return err
		}
		if len(todo.uids) == 0 {
			return nil
		}
		start := time.Now()
		if err := w.act(ioCtx, c, todo.uids, todo.outcomes); err != nil {
			return err
		}
		w.log.Debug("acted on messages", "messages", len(todo.uids), "took", time.Since(start).Round(time.Millisecond))
		cp.ActedUID = todo.last
		todo = acts{}
		return nil
	}
	// finish waits for the batch in flight to commit and queues its
	// actions.
	finish := func() error {
		if inflight == nil {
			return nil
		}
		res := <-inflight
		inflight = nil
		if res.err != nil {
			w.fail(stageStore, res.err)
			return res.err
		}
		w.saved(prev, res.saved)
		for i := range prev.msgs {
			todo.uids = append(todo.uids, prev.msgs[i].UID)
		}
		todo.outcomes = append(todo.outcomes, prev.outcomes...)
		todo.last = prev.last
		if len(todo.uids) >= actGroup {
			return handOff()
		}
		return syncActed()
	}
	for len(infos) > 0 && ctx.Err() == nil {
		n := w.cut(infos)
		b, err := w.fetch(ioCtx, c, cp.UIDValidity, infos[:n])
		infos = infos[n:]
		w.d.metrics.lag.WithLabelValues(w.mb.Account.Name, w.mb.Name).Set(float64(len(infos) + n))
		w.d.update(w.mb, func(s *MailboxState) { s.Lag = len(infos) + n })
		if err != nil {
			w.fail(stageFetch, err)
			if ferr := finish(); ferr != nil {
				return errors.Join(err, ferr)
			}
			return errors.Join(err, actRest())
		}
		if err := finish(); err != nil {
			return err
		}
		cp.LastUID = b.last
		next := *cp
		inflight = make(chan saveResult, 1)
		prev = b
		go func() {
			start := time.Now()
			s, err := w.d.store.Save(ioCtx, store.Batch{Messages: b.msgs, Checkpoint: &next})
			b.saving = time.Since(start)
			inflight <- saveResult{s, err}
		}()
	}
	if err := finish(); err != nil {
		return err
	}
	if err := actRest(); err != nil {
		return err
	}
	if err := w.d.store.SaveActed(ioCtx, cp.Account, cp.Mailbox, cp.UIDValidity, cp.ActedUID); err != nil {
		w.fail(stageStore, err)
		return err
	}
	return nil
}

// cut gives how many of infos go in the next batch: at most BatchSize, and
// at most BatchBytes (counting each message up to the size cap), but at
// least one.
func (w *worker) cut(infos []fetch.Info) int {
	var bytes int64
	for i, in := range infos {
		if i == w.d.cfg.BatchSize {
			return i
		}
		bytes += min(in.Size, w.d.cfg.MaxMessageBytes)
		if bytes > w.d.cfg.BatchBytes && i > 0 {
			return i
		}
	}
	return len(infos)
}

// fetch reads the messages of infos and analyses them on all cores as
// they arrive. A message the server no longer has is left out.
func (w *worker) fetch(ctx context.Context, c *fetch.Client, uidValidity uint32, infos []fetch.Info) (*batch, error) {
	b := &batch{last: infos[len(infos)-1].UID, start: time.Now()}
	pos := make(map[uint32]int, len(infos))
	uids := make([]uint32, len(infos))
	for i, in := range infos {
		pos[in.UID] = i
		uids[i] = in.UID
	}
	msgs := make([]store.Message, len(infos))
	got := make([]bool, len(infos))
	type job struct {
		i int
		m fetch.Message
	}
	jobs := make(chan job, 64)
	var wg sync.WaitGroup
	workers := w.d.cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				msgs[j.i] = w.analyse(uidValidity, j.m)
				got[j.i] = true
			}
		})
	}
	var fetched int
	var bytes int64
	err := c.Fetch(ctx, uids, w.d.cfg.MaxMessageBytes, func(m fetch.Message) error {
		i, ok := pos[m.UID]
		if !ok {
			return nil
		}
		delete(pos, m.UID) // a UID sent twice is analysed once
		fetched++
		bytes += int64(len(m.Body))
		jobs <- job{i, m}
		return nil
	})
	close(jobs)
	wg.Wait()
	w.d.metrics.fetched.WithLabelValues(w.mb.Account.Name, w.mb.Name).Add(float64(fetched))
	w.d.metrics.bytes.WithLabelValues(w.mb.Account.Name, w.mb.Name).Add(float64(bytes))
	if err != nil {
		return nil, err
	}
	b.fetched = time.Since(b.start)
	b.msgs = make([]store.Message, 0, fetched)
	b.outcomes = make([]Outcome, 0, fetched)
	for i := range msgs {
		if got[i] {
			m := &msgs[i]
			b.msgs = append(b.msgs, *m)
			b.outcomes = append(b.outcomes, outcome(m.Report.Kind, errText(m.ParseErr), len(m.Results)))
		}
	}
	return b, nil
}

// analyse parses and classifies one message. It never panics: a parser
// panic is saved as the message's parse error.
func (w *worker) analyse(uidValidity uint32, fm fetch.Message) (m store.Message) {
	m = store.Message{Account: w.mb.Account.Name, Mailbox: w.mb.Name, UIDValidity: uidValidity, UID: fm.UID,
		ReceivedAt: time.Now(), Raw: fm.Body}
	defer func() {
		if v := recover(); v != nil {
			w.d.metrics.errors.WithLabelValues(stageParse).Inc()
			m.Report = &dsn.Report{Kind: dsn.NotBounce}
			m.Results = nil
			m.ParseErr = fmt.Errorf(panicPrefix+" %v", v)
		}
	}()
	rep, err := w.d.parser.ParseBytes(fm.Body)
	if rep == nil {
		rep = &dsn.Report{Kind: dsn.NotBounce}
	}
	kind, res := w.d.classifier.Message(rep)
	rep.Kind = kind
	if fm.Oversized {
		err = errors.Join(fmt.Errorf(oversizedPrefix+" the message of %d bytes is over the cap of %d (imap.max_message_bytes); only its start was analysed and kept",
			fm.Size, w.d.cfg.MaxMessageBytes), err)
	}
	m.Report, m.Results, m.ParseErr = rep, res, err
	if err != nil {
		w.d.metrics.errors.WithLabelValues(stageParse).Inc()
	}
	if w.log.Enabled(context.Background(), slog.LevelDebug) {
		w.log.Debug("message", "uid", fm.UID, "bytes", fm.Size, "kind", kind, "recipients", len(res), "err", err)
	}
	return m
}

// saved counts a committed batch and logs it.
func (w *worker) saved(b *batch, s store.Saved) {
	m := w.d.metrics
	took := time.Since(b.start)
	m.batch.Observe(took.Seconds())
	if !w.notified.IsZero() {
		m.delay.Observe(time.Since(w.notified).Seconds())
		w.notified = time.Time{}
	}
	for i := range b.msgs {
		msg := &b.msgs[i]
		if b.outcomes[i] == Unparseable {
			m.parsed.WithLabelValues(string(Unparseable)).Inc()
		} else {
			m.parsed.WithLabelValues(string(msg.Report.Kind)).Inc()
		}
		for _, r := range msg.Results {
			m.recipients.WithLabelValues(string(r.Cause)).Inc()
		}
	}
	m.saved.WithLabelValues("messages").Add(float64(s.Messages))
	m.saved.WithLabelValues("duplicates").Add(float64(s.Duplicates))
	m.saved.WithLabelValues("recipients").Add(float64(s.Bounces))
	m.saved.WithLabelValues("suppressions").Add(float64(s.Suppressed))
	w.d.update(w.mb, func(st *MailboxState) { st.Processed += len(b.msgs) })
	w.backoff.Reset()
	w.log.Info("batch saved", "messages", len(b.msgs), "new", s.Messages, "duplicates", s.Duplicates,
		"recipients", s.Bounces, "suppressed", s.Suppressed, "last_uid", b.last, "took", took.Round(time.Millisecond),
		"fetch", b.fetched.Round(time.Millisecond), "save", b.saving.Round(time.Millisecond))
}

// actGroup is the number of messages whose actions are done together.
const actGroup = 5000

// acts are messages committed whose actions are still to do.
type acts struct {
	uids     []uint32
	outcomes []Outcome
	last     uint32 // the last UID listed for them
}

// act does the mailbox action of each message's outcome, one command per
// action.
func (w *worker) act(ctx context.Context, c *fetch.Client, uids []uint32, outcomes []Outcome) error {
	groups := make(map[Outcome][]uint32)
	for i, uid := range uids {
		groups[outcomes[i]] = append(groups[outcomes[i]], uid)
	}
	for _, o := range []Outcome{Bounce, Other, NotBounce, Unparseable} {
		uids := groups[o]
		a := w.d.cfg.Actions[o]
		if len(uids) == 0 || a.Op == fetch.None {
			continue
		}
		if err := c.Apply(ctx, uids, a); err != nil {
			w.fail(stageAction, err)
			return fmt.Errorf("doing the action %s of %d %s message(s): %w", a, len(uids), o, err)
		}
		w.d.metrics.actions.WithLabelValues(opName(a)).Add(float64(len(uids)))
	}
	return nil
}

// catchUp does the actions that a run stopped before doing: those of the
// messages stored with UIDs in (ActedUID, LastUID] that are still in the
// mailbox.
func (w *worker) catchUp(ctx context.Context, c *fetch.Client, cp *store.Checkpoint) error {
	outs, err := w.d.store.Outcomes(ctx, cp.Account, cp.Mailbox, cp.UIDValidity, cp.ActedUID, cp.LastUID)
	if err != nil {
		w.fail(stageStore, err)
		return err
	}
	there, err := c.List(ctx, cp.ActedUID, 0)
	if err != nil {
		w.fail(stageFetch, err)
		return err
	}
	present := make(map[uint32]bool, len(there))
	for _, in := range there {
		present[in.UID] = true
	}
	var uids []uint32
	var outcomes []Outcome
	for _, o := range outs {
		if present[o.UID] {
			uids = append(uids, o.UID)
			outcomes = append(outcomes, outcome(o.Kind, o.ParseError, o.Recipients))
		}
	}
	if err := w.act(ctx, c, uids, outcomes); err != nil {
		return err
	}
	if err := w.d.store.SaveActed(ctx, cp.Account, cp.Mailbox, cp.UIDValidity, cp.LastUID); err != nil {
		w.fail(stageStore, err)
		return err
	}
	if len(uids) > 0 {
		w.log.Info("did the mailbox actions the last run left undone", "messages", len(uids))
	}
	cp.ActedUID = cp.LastUID
	return nil
}

// opName is an action without its folder, for a metric's label.
func opName(a fetch.Action) string {
	name, _, _ := strings.Cut(a.String(), ":")
	return name
}
