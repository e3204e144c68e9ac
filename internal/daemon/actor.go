package daemon

import (
	"context"
	"fmt"
	"sync"

	"github.com/bounced/bounced/internal/fetch"
)

// actor does mailbox actions on an IMAP connection of its own, beside the
// fetching on the worker's, in the order the batches were committed. The
// server moves one group of messages while the next is fetched and
// saved.
type actor struct {
	w           *worker
	ctx         context.Context
	uidValidity uint32
	jobs        chan acts
	done        chan struct{}

	mu    sync.Mutex
	acted uint32 // the last UID whose action is done
	err   error  // the first error; later jobs are dropped
}

// startActor starts an actor on the worker's mailbox, which must still
// have uidValidity.
func startActor(ctx context.Context, w *worker, uidValidity uint32) *actor {
	a := &actor{w: w, ctx: ctx, uidValidity: uidValidity, jobs: make(chan acts, 1), done: make(chan struct{})}
	go a.run()
	return a
}

func (a *actor) run() {
	defer close(a.done)
	var c *fetch.Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for job := range a.jobs {
		if _, err := a.state(); err != nil {
			continue
		}
		if c == nil {
			var err error
			if c, err = a.connect(); err != nil {
				a.w.fail(stageConnect, err)
				a.setErr(err)
				continue
			}
		}
		if err := a.w.act(a.ctx, c, job.uids, job.outcomes); err != nil {
			a.setErr(err)
			continue
		}
		a.mu.Lock()
		a.acted = job.last
		a.mu.Unlock()
	}
}

// connect opens the actor's connection and selects the mailbox.
func (a *actor) connect() (*fetch.Client, error) {
	c, err := fetch.Dial(a.ctx, a.w.mb.Account)
	if err != nil {
		return nil, err
	}
	sel, err := c.Select(a.ctx, a.w.mb.Name)
	if err == nil && sel.UIDValidity != a.uidValidity {
		err = fmt.Errorf("imap account %q: mailbox %q: UIDVALIDITY changed from %d to %d: no action done", a.w.mb.Account.Name, a.w.mb.Name, a.uidValidity, sel.UIDValidity)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (a *actor) setErr(err error) {
	a.mu.Lock()
	if a.err == nil {
		a.err = err
	}
	a.mu.Unlock()
}

// state tells how far the actions went, and the error that stopped them.
func (a *actor) state() (acted uint32, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.acted, a.err
}

// send queues the actions of a group of committed messages; it waits
// while the actor is busy with the one before. It returns the actor's
// error, if it has stopped.
func (a *actor) send(job acts) error {
	if _, err := a.state(); err != nil {
		return err
	}
	select {
	case a.jobs <- job:
		return nil
	case <-a.done:
		_, err := a.state()
		return err
	}
}

// wait lets the actor finish what it was sent and stops it.
func (a *actor) wait() (acted uint32, err error) {
	close(a.jobs)
	<-a.done
	return a.state()
}
