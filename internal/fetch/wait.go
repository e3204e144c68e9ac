package fetch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Wait blocks until the selected mailbox may have new mail, or until ctx ends.
//
// With IDLE (when the server has it), Wait returns nil as soon as the server
// reports EXISTS (new mail, or news that arrived during an earlier command),
// stopping and restarting IDLE every Account.IdleRestart meanwhile, and after
// poll if poll > 0, as a safety net. After IDLE it checks the connection with
// NOOP. Without IDLE, it waits poll then sends NOOP; poll must then be > 0.
//
// When ctx ends, Wait ends IDLE cleanly first (under Account.Timeout), so
// that the Client stays usable, and returns ctx.Err() as it is.
func (c *Client) Wait(ctx context.Context, poll time.Duration) error {
	const doing = "waiting for new mail"
	if err := c.needMailbox(doing); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var pollC <-chan time.Time
	if poll > 0 {
		t := time.NewTimer(poll)
		defer t.Stop()
		pollC = t.C
	}

	if !c.caps.Idle {
		if poll <= 0 {
			return fmt.Errorf("imap account %q: %s: the server has no IDLE, and no poll interval was given", c.name, doing)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.newMail:
		case <-pollC:
		}
		return c.Noop(ctx)
	}

	for {
		select {
		case <-c.newMail:
			return nil
		default:
		}
		woken, err := c.idle(ctx, pollC)
		if err != nil {
			return err
		}
		if woken == byContext {
			return ctx.Err()
		}
		if err := c.Noop(ctx); err != nil {
			return err
		}
		if woken != byRestart {
			return nil
		}
	}
}

// wakeup is what ended an IDLE.
type wakeup int

const (
	byMail wakeup = iota
	byPoll
	byRestart
	byContext
)

// idle runs one IDLE command until new mail, pollC, c.idleRestart or the end
// of ctx, and ends it with DONE.
func (c *Client) idle(ctx context.Context, pollC <-chan time.Time) (wakeup, error) {
	if err := c.usable(); err != nil {
		return 0, c.errorf("starting IDLE", err)
	}
	c.busy.Store(true)
	defer c.busy.Store(false)

	c.conn.extend(c.timeout)
	cmd, err := c.imap.Idle()
	if err != nil {
		var refused *imap.Error
		if !errors.As(err, &refused) {
			c.kill(err)
		} else {
			c.conn.clear()
		}
		return 0, c.errorf("starting IDLE", err)
	}
	// The server owes nothing until DONE; the deadline only catches a
	// connection that died with nobody noticing.
	c.conn.extend(c.idleRestart + c.timeout)
	restart := time.NewTimer(c.idleRestart)
	defer restart.Stop()
	var woken wakeup
	select {
	case <-c.newMail:
		woken = byMail
	case <-pollC:
		woken = byPoll
	case <-restart.C:
		woken = byRestart
	case <-ctx.Done():
		woken = byContext
	case <-c.imap.Closed():
		err := fmt.Errorf("the server closed the connection")
		c.kill(err)
		cmd.Close()
		return 0, c.errorf("idling", err)
	}
	c.conn.extend(c.timeout)
	err = cmd.Close() // sends DONE
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		c.kill(err)
		return 0, c.errorf("ending IDLE", err)
	}
	c.conn.clear()
	return woken, nil
}
