package fetch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
)

// deadlineConn is the TCP connection under everything else (TLS included),
// with the deadlines in our hands.
//
// imapclient arms fixed timeouts of its own through SetDeadline,
// SetReadDeadline and SetWriteDeadline (none between responses, 30s within
// one, 5 min within a literal); those calls are ignored, so that the only
// deadlines are the ones Client sets from Account.Timeout and the context.
// tls.Conn's calls land here too and are ignored the same way.
type deadlineConn struct {
	net.Conn

	mu      sync.Mutex
	aborted bool // once set, the deadline stays in the past
}

// SetDeadline ignores imapclient's and tls.Conn's deadlines; see deadlineConn.
func (c *deadlineConn) SetDeadline(time.Time) error { return nil }

// SetReadDeadline ignores imapclient's and tls.Conn's deadlines; see deadlineConn.
func (c *deadlineConn) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline ignores imapclient's and tls.Conn's deadlines; see deadlineConn.
func (c *deadlineConn) SetWriteDeadline(time.Time) error { return nil }

// set sets the read and write deadline, unless the connection was aborted.
func (c *deadlineConn) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.aborted {
		// An error means the connection is closed, which the next read or
		// write reports.
		_ = c.Conn.SetDeadline(t)
	}
}

// extend sets the deadline d from now.
func (c *deadlineConn) extend(d time.Duration) { c.set(time.Now().Add(d)) }

// clear removes the deadline.
func (c *deadlineConn) clear() { c.set(time.Time{}) }

// abort makes every pending and later read and write fail at once.
func (c *deadlineConn) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.aborted = true
	_ = c.Conn.SetDeadline(time.Unix(1, 0))
}

// errClosedByCaller is why a Client is unusable after Close.
var errClosedByCaller = errors.New("Close was called")

// usable returns why c can no longer be used, or nil.
func (c *Client) usable() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.broken
}

// kill marks c unusable because of cause and drops the connection. The
// imapclient reader goroutine ends on its own once its read fails.
func (c *Client) kill(cause error) {
	c.mu.Lock()
	if c.broken == nil {
		c.broken = cause
	}
	c.mu.Unlock()
	c.conn.abort()
	_ = c.conn.Conn.Close()
}

// errorf wraps err, the error of doing, with the account's name; once c is
// unusable, with ErrClosed and the reason instead.
func (c *Client) errorf(doing string, err error) error {
	if cause := c.usable(); cause != nil {
		return fmt.Errorf("imap account %q: %s: %w: %w", c.name, doing, ErrClosed, cause)
	}
	return fmt.Errorf("imap account %q: %s: %w", c.name, doing, err)
}

// needMailbox checks that c is usable and has a mailbox selected.
func (c *Client) needMailbox(doing string) error {
	if err := c.usable(); err != nil {
		return c.errorf(doing, err)
	}
	if c.selected == "" {
		return fmt.Errorf("imap account %q: %s: no mailbox selected", c.name, doing)
	}
	return nil
}

// run runs f, which sends commands and waits for their answers, under a
// deadline of c.timeout, aborted when ctx ends. f may extend the deadline
// while it makes progress. An error other than a refusal by the server
// (imap.Error), or an abort, leaves the connection in an unknown state: c is
// then killed.
func (c *Client) run(ctx context.Context, doing string, f func() error) error {
	if err := c.usable(); err != nil {
		return c.errorf(doing, err)
	}
	if err := ctx.Err(); err != nil {
		return c.errorf(doing, err)
	}
	c.busy.Store(true)
	defer c.busy.Store(false)

	c.conn.extend(c.timeout)
	stop := context.AfterFunc(ctx, c.conn.abort)
	err := f()
	if !stop() {
		// ctx ended while f ran: the connection's deadline is in the past,
		// and whatever was in flight is lost, even if f got its answer.
		c.kill(ctx.Err())
		if err != nil {
			err = ctx.Err()
		}
	} else {
		c.conn.clear()
	}
	if err == nil {
		return nil
	}
	var refused *imap.Error
	if !errors.As(err, &refused) || c.imap.State() == imap.ConnStateLogout {
		c.kill(err)
	}
	return c.errorf(doing, err)
}
