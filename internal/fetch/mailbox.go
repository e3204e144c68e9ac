package fetch

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// maxPrealloc bounds the buffer allocated for a body before its bytes arrive,
// whatever size the server announces.
const maxPrealloc = 16 << 20

// Select selects mailbox (read-write, so that actions can be applied) and
// returns its state. A failed SELECT leaves no mailbox selected.
func (c *Client) Select(ctx context.Context, mailbox string) (Mailbox, error) {
	doing := fmt.Sprintf("selecting %q", mailbox)
	var data *imap.SelectData
	err := c.run(ctx, doing, func() error {
		c.selected = "" // RFC 3501 6.3.1: even a failed SELECT deselects
		var err error
		data, err = c.imap.Select(mailbox, nil).Wait()
		return err
	})
	if err != nil {
		return Mailbox{}, err
	}
	if data.UIDValidity == 0 {
		// RFC 3501 made it required; RFC 2060 did not. Without it the UIDs
		// cannot be trusted across sessions.
		return Mailbox{}, fmt.Errorf("imap account %q: %s: the server sent no UIDVALIDITY", c.name, doing)
	}
	c.selected = mailbox
	select { // news of the mailbox selected before is stale
	case <-c.newMail:
	default:
	}
	return Mailbox{
		Name:        mailbox,
		UIDValidity: data.UIDValidity,
		UIDNext:     uint32(data.UIDNext),
		Messages:    data.NumMessages,
	}, nil
}

// List gives the UIDs and sizes of the messages of the selected mailbox whose
// UID is greater than after, ascending, at most limit of them (limit <= 0:
// all).
//
// It sends UID FETCH after+1:* (UID RFC822.SIZE). A server answers "*" with
// its last message even when that message's UID is lower than after+1
// (RFC 3501 6.4.8); such answers are dropped.
func (c *Client) List(ctx context.Context, after uint32, limit int) ([]Info, error) {
	const doing = "listing messages"
	if err := c.needMailbox(doing); err != nil {
		return nil, err
	}
	if after == math.MaxUint32 {
		return nil, nil
	}
	var infos []Info
	err := c.run(ctx, doing, func() error {
		set := imap.UIDSet{{Start: imap.UID(after + 1), Stop: 0}} // after+1:*
		cmd := c.imap.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true})
		for {
			msg := cmd.Next()
			if msg == nil {
				break
			}
			c.conn.extend(c.timeout) // a long listing is fine while it moves
			buf, err := msg.Collect()
			if err != nil {
				cmd.Close()
				return err
			}
			if uint32(buf.UID) > after {
				infos = append(infos, Info{UID: uint32(buf.UID), Size: buf.RFC822Size})
			}
		}
		return cmd.Close()
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(infos, func(a, b Info) int { return cmp.Compare(a.UID, b.UID) })
	infos = slices.CompactFunc(infos, func(a, b Info) bool { return a.UID == b.UID })
	if limit > 0 && len(infos) > limit {
		infos = infos[:limit]
	}
	return infos, nil
}

// Fetch sends UID FETCH uids (UID RFC822.SIZE BODY.PEEK[]) and calls fn for
// each message as it arrives, in the server's order. It never fetches
// BODYSTRUCTURE (go-imap drops the connection on some), and BODY.PEEK leaves
// \Seen alone.
//
// A body larger than maxSize (when maxSize > 0) is read up to maxSize bytes,
// the rest read and discarded, and Oversized set. A UID the server no longer
// has is silently absent.
//
// The time fn takes does not count against Account.Timeout. If fn returns an
// error, Fetch reads the rest of the answer (discarding it), so that the
// Client stays usable, and returns that error as it is.
func (c *Client) Fetch(ctx context.Context, uids []uint32, maxSize int64, fn func(Message) error) error {
	const doing = "fetching messages"
	if err := c.needMailbox(doing); err != nil {
		return err
	}
	set := uidSet(uids)
	if len(set) == 0 {
		return nil
	}
	var stopErr error // fn's error, or a message that came without its body
	err := c.run(ctx, doing, func() error {
		cmd := c.imap.Fetch(set, &imap.FetchOptions{
			UID:         true,
			RFC822Size:  true,
			BodySection: []*imap.FetchItemBodySection{{Peek: true}},
		})
		for stopErr == nil {
			msg := cmd.Next()
			if msg == nil {
				break
			}
			c.conn.extend(c.timeout)
			m, ok, err := c.readMessage(msg, maxSize)
			if errors.Is(err, errTruncated) {
				// The connection broke inside a literal. imapclient's
				// reader has gone on with the stream (it takes the early
				// end for the literal's end): touching the command again
				// would race with it, so drop the connection instead.
				c.kill(err)
				return err
			}
			if err != nil {
				cmd.Close()
				return err
			}
			if !set.Contains(imap.UID(m.UID)) {
				continue // imapclient routes by UID, so this is only a safeguard
			}
			if !ok {
				stopErr = fmt.Errorf("imap account %q: %s: the server sent no body for UID %d", c.name, doing, m.UID)
				break
			}
			if err := c.usable(); err != nil {
				// Closed meanwhile (by fn, say): what imapclient had
				// buffered could still come, but nobody wants it.
				stopErr = c.errorf(doing, err)
				break
			}
			c.conn.clear()
			stopErr = fn(m)
			c.conn.extend(c.timeout)
		}
		return cmd.Close()
	})
	if stopErr != nil {
		return stopErr
	}
	return err
}

// readMessage reads one message's FETCH data. ok is false if it had no body.
func (c *Client) readMessage(msg *imapclient.FetchMessageData, maxSize int64) (m Message, ok bool, err error) {
	hasSize := false
	var bodySize int64
	for item := msg.Next(); item != nil; item = msg.Next() {
		switch item := item.(type) {
		case imapclient.FetchItemDataUID:
			m.UID = uint32(item.UID)
		case imapclient.FetchItemDataRFC822Size:
			m.Size, hasSize = item.Size, true
		case imapclient.FetchItemDataBodySection:
			if !item.MatchCommand(&imap.FetchItemBodySection{}) {
				continue // not BODY[]; imapclient discards it
			}
			ok = true
			if item.Literal == nil { // NIL
				continue
			}
			bodySize = item.Literal.Size()
			if m.Body, m.Oversized, err = c.readBody(item.Literal, maxSize); err != nil {
				return m, false, err
			}
		}
	}
	if !hasSize {
		m.Size = bodySize
	}
	return m, ok, nil
}

// readBody reads lit, keeping at most maxSize bytes when maxSize > 0. Each
// chunk read moves the deadline, so that a large body on a slow link is fine
// as long as it keeps coming.
func (c *Client) readBody(lit imap.LiteralReader, maxSize int64) (body []byte, oversized bool, err error) {
	r := &progressReader{r: lit, conn: c.conn, timeout: c.timeout}
	keep := lit.Size()
	if maxSize > 0 && keep > maxSize {
		keep, oversized = maxSize, true
	}
	buf := bytes.NewBuffer(make([]byte, 0, min(keep, maxPrealloc)))
	n, err := io.Copy(buf, io.LimitReader(r, keep))
	if err != nil {
		return nil, false, err
	}
	rest, err := io.Copy(io.Discard, r)
	if err != nil {
		return nil, false, err
	}
	if n+rest < lit.Size() {
		return nil, false, fmt.Errorf("%w: %d of %d bytes", errTruncated, n+rest, lit.Size())
	}
	return buf.Bytes(), oversized, nil
}

// errTruncated is a message body that ended before its announced size: the
// connection broke.
var errTruncated = errors.New("the connection broke inside a message")

// progressReader extends the connection's deadline whenever bytes arrive.
// After its first error it returns that error without reading again: once
// imapclient's literal reader has returned an error (EOF included), its
// reader goroutine goes on with the stream, and another read would race
// with it.
type progressReader struct {
	r       io.Reader
	conn    *deadlineConn
	timeout time.Duration
	err     error
}

func (p *progressReader) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.r.Read(b)
	if n > 0 {
		p.conn.extend(p.timeout)
	}
	p.err = err
	return n, err
}

// Noop sends NOOP: a check that the connection works, which also lets the
// server report new mail.
func (c *Client) Noop(ctx context.Context) error {
	return c.run(ctx, "checking the connection (NOOP)", func() error {
		return c.imap.Noop().Wait()
	})
}

// uidSet is the set of uids, without 0, which would mean "*".
func uidSet(uids []uint32) imap.UIDSet {
	var set imap.UIDSet
	for _, uid := range uids {
		if uid != 0 {
			set.AddNum(imap.UID(uid))
		}
	}
	return set
}
