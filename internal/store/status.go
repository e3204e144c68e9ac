package store

import (
	"context"
	"time"
)

// MailboxStatus is what the instance working a mailbox last reported of
// it, with its checkpoint.
type MailboxStatus struct {
	Account  string `json:"account"`
	Mailbox  string `json:"mailbox"`
	Instance string `json:"instance"` // host and process id
	Active   bool   `json:"active"`   // the instance held the mailbox's lock
	// LastPoll is the last time the mailbox was listed for new mail;
	// LastSuccess the last time it was read to its end.
	LastPoll    time.Time `json:"last_poll,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	Lag         int64     `json:"lag"` // messages waiting at the last poll
	Error       string    `json:"error,omitempty"`
	ErrorAt     time.Time `json:"error_at,omitzero"`
	Processed   int64     `json:"processed"` // stored by the instance since it started
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
	// The checkpoint: the last UID stored and the last whose action was
	// done, under UIDVALIDITY; zero when the mailbox was never read.
	UIDValidity  int64     `json:"uid_validity"`
	LastUID      int64     `json:"last_uid"`
	ActedUID     int64     `json:"acted_uid"`
	CheckpointAt time.Time `json:"checkpoint_at,omitzero"`
}

// SaveMailboxStatus records what an instance reports of its mailboxes
// (the checkpoint fields are not written: Save keeps them).
func (s *Store) SaveMailboxStatus(ctx context.Context, sts []MailboxStatus) error {
	if len(sts) == 0 {
		return nil
	}
	var accounts, mailboxes, instances, errs []string
	var active []bool
	var polls, successes, errAts []*time.Time
	var lags, processed []int64
	for _, st := range sts {
		accounts, mailboxes, instances = append(accounts, st.Account), append(mailboxes, st.Mailbox), append(instances, st.Instance)
		active, errs = append(active, st.Active), append(errs, clean(st.Error))
		polls, successes, errAts = append(polls, nullTime(st.LastPoll)), append(successes, nullTime(st.LastSuccess)), append(errAts, nullTime(st.ErrorAt))
		lags, processed = append(lags, max(st.Lag, 0)), append(processed, st.Processed)
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO mailbox_status AS s (account, mailbox, instance, active, last_poll, last_success, lag, error, error_at,
			processed, updated_at)
		SELECT *, now() FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::timestamptz[],
			$6::timestamptz[], $7::bigint[], $8::text[], $9::timestamptz[], $10::bigint[])
		ORDER BY 1, 2
		ON CONFLICT (account, mailbox) DO UPDATE SET instance = excluded.instance, active = excluded.active,
			last_poll = coalesce(excluded.last_poll, s.last_poll), last_success = coalesce(excluded.last_success, s.last_success),
			lag = excluded.lag, error = excluded.error, error_at = coalesce(excluded.error_at, s.error_at),
			processed = excluded.processed, updated_at = now()`,
		accounts, mailboxes, instances, active, polls, successes, lags, errs, errAts, processed)
	return dbError("saving mailbox status", err)
}

// MailboxStatuses reads the status of every mailbox that reported or has
// a checkpoint, in order of account and mailbox.
func (s *Store) MailboxStatuses(ctx context.Context) ([]MailboxStatus, error) {
	const doing = "reading mailbox status"
	rows, err := s.pool.Query(ctx, `
		SELECT coalesce(s.account, c.account), coalesce(s.mailbox, c.mailbox), coalesce(s.instance, ''),
			coalesce(s.active, false), s.last_poll, s.last_success, coalesce(s.lag, 0), coalesce(s.error, ''), s.error_at,
			coalesce(s.processed, 0), s.updated_at, coalesce(c.uid_validity, 0), coalesce(c.last_uid, 0),
			coalesce(c.acted_uid, 0), c.updated_at
		FROM mailbox_status s FULL JOIN checkpoint c ON c.account = s.account AND c.mailbox = s.mailbox
		ORDER BY 1, 2`)
	if err != nil {
		return nil, dbError(doing, err)
	}
	defer rows.Close()
	out := []MailboxStatus{}
	for rows.Next() {
		var st MailboxStatus
		var poll, success, errAt, updated, cpAt *time.Time
		if err := rows.Scan(&st.Account, &st.Mailbox, &st.Instance, &st.Active, &poll, &success, &st.Lag, &st.Error,
			&errAt, &st.Processed, &updated, &st.UIDValidity, &st.LastUID, &st.ActedUID, &cpAt); err != nil {
			return nil, dbError(doing, err)
		}
		for _, p := range []struct {
			dst *time.Time
			src *time.Time
		}{{&st.LastPoll, poll}, {&st.LastSuccess, success}, {&st.ErrorAt, errAt}, {&st.UpdatedAt, updated}, {&st.CheckpointAt, cpAt}} {
			if p.src != nil {
				*p.dst = *p.src
			}
		}
		out = append(out, st)
	}
	return out, dbError(doing, rows.Err())
}
