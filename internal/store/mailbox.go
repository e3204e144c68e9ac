package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bounced/bounced/internal/dsn"
)

// SaveActed records that the mailbox actions of account's mailbox are done
// up to uid, under uidValidity. It never moves backwards, and does nothing
// when the checkpoint is of another UIDVALIDITY.
func (s *Store) SaveActed(ctx context.Context, account, mailbox string, uidValidity, uid uint32) error {
	_, err := s.pool.Exec(ctx, `UPDATE checkpoint SET acted_uid = greatest(acted_uid, $4), updated_at = now()
		WHERE account = $1 AND mailbox = $2 AND uid_validity = $3`,
		account, mailbox, int64(uidValidity), int64(uid))
	return dbError("saving how far the mailbox actions went", err)
}

// Outcome is what a stored message of a mailbox turned out to be, for
// doing its mailbox action again.
type Outcome struct {
	UID  uint32
	Kind dsn.Kind
	// ParseError is the parse error the message was saved with, if any.
	ParseError string
	// Recipients counts its recipient rows.
	Recipients int
}

// Outcomes lists the stored messages of account's mailbox with UIDs in
// (after, upto], under uidValidity, by UID.
func (s *Store) Outcomes(ctx context.Context, account, mailbox string, uidValidity, after, upto uint32) ([]Outcome, error) {
	rows, err := s.pool.Query(ctx, `SELECT m.uid, m.kind, coalesce(m.parse_error, ''),
			(SELECT count(*) FROM bounce b WHERE b.message = m.id)
		FROM message m
		WHERE m.account = $1 AND m.mailbox = $2 AND m.uid_validity = $3 AND m.uid > $4 AND m.uid <= $5 ORDER BY m.uid`,
		account, mailbox, int64(uidValidity), int64(after), int64(upto))
	if err != nil {
		return nil, dbError("reading the outcomes of stored messages", err)
	}
	var out []Outcome
	var o Outcome
	var uid int64
	_, err = pgx.ForEachRow(rows, []any{&uid, &o.Kind, &o.ParseError, &o.Recipients}, func() error {
		o.UID = uint32(uid)
		out = append(out, o)
		return nil
	})
	return out, dbError("reading the outcomes of stored messages", err)
}

// MailboxLock is the advisory lock that makes one instance of bounced work
// a mailbox. It is held by a connection of its own, so that it goes when
// the instance dies: the server ends the session of a process that is
// killed at once, and of a host that vanished once its connection has been
// idle for lockIdleTimeout (PostgreSQL 14 and later).
type MailboxLock struct {
	conn *pgx.Conn
	key  string
	lost chan struct{}
	stop chan struct{}
	done chan struct{}
}

// lockIdleTimeout ends the lock's session on the server when its holder
// has not checked it for that long; the holder checks it every
// lockCheckEvery.
const (
	lockIdleTimeout = 20 * time.Second
	lockCheckEvery  = 3 * time.Second
)

// TryLockMailbox takes the lock of account's mailbox if no other session
// holds it. It returns nil and no error when another one does.
func (s *Store) TryLockMailbox(ctx context.Context, account, mailbox string) (*MailboxLock, error) {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, dbError("connecting for the mailbox lock", err)
	}
	conn := pc.Hijack() // the lock's connection leaves the pool for good
	key := lockKey(account, mailbox)
	// Where the server knows idle_session_timeout (PostgreSQL 14), a
	// holder that vanished without closing its connection loses the lock.
	// PostgreSQL 13 refuses the setting, and the lock then lasts until
	// the server notices the connection is gone.
	if _, err := conn.Exec(ctx, fmt.Sprintf("SET idle_session_timeout = %d", lockIdleTimeout.Milliseconds())); err != nil && conn.IsClosed() {
		return nil, dbError("connecting for the mailbox lock", err)
	}
	var got bool
	err = conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+lockHash+`)`, key).Scan(&got)
	if err != nil || !got {
		conn.Close(context.WithoutCancel(ctx))
		return nil, dbError("taking the mailbox lock", err)
	}
	l := &MailboxLock{conn: conn, key: key, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go l.watch()
	return l, nil
}

// lockHash is the number of the advisory lock named $1, in the schema of
// the tables: deployments in two schemas of one database don't meet.
const lockHash = `hashtextextended('bounced.mailbox:' || current_schema() || ':' || $1, 0)`

// lockKey names the lock of account's mailbox; it is hashed to the
// advisory lock's number.
func lockKey(account, mailbox string) string {
	return fmt.Sprintf("%d:%s/%s", len(account), account, mailbox)
}

// watch checks the lock's connection until Release; when the check fails
// the lock is lost.
func (l *MailboxLock) watch() {
	defer close(l.done)
	t := time.NewTicker(lockCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), lockCheckEvery)
		err := l.conn.Ping(ctx)
		cancel()
		if err != nil {
			close(l.lost)
			l.conn.Close(context.Background())
			return
		}
	}
}

// Lost is closed when the lock's connection broke: another instance may
// take the mailbox now, and this one must stop working it.
func (l *MailboxLock) Lost() <-chan struct{} { return l.lost }

// Release gives the lock up and closes its connection.
func (l *MailboxLock) Release(ctx context.Context) error {
	close(l.stop)
	<-l.done
	select {
	case <-l.lost:
		return errors.New("releasing the mailbox lock: the connection was lost")
	default:
	}
	_, err := l.conn.Exec(ctx, `SELECT pg_advisory_unlock(`+lockHash+`)`, l.key)
	l.conn.Close(ctx)
	return dbError("releasing the mailbox lock", err)
}
