package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Suppression is an address to stop mailing, with the evidence.
type Suppression struct {
	Address      string    `json:"address"`
	Domain       string    `json:"domain"`
	Reason       string    `json:"reason"`
	Rule         string    `json:"rule"`
	SuppressedAt time.Time `json:"suppressed_at"`
	FirstBounce  time.Time `json:"first_bounce"`
	LastBounce   time.Time `json:"last_bounce"`
	Count        int       `json:"bounce_count"`
	LastMessage  int64     `json:"last_message,omitempty"`
}

// SuppressionFilter selects suppressions; the zero value selects all.
type SuppressionFilter struct {
	Since  time.Time // suppressed at or after
	Reason string    // a reason (cause or "complaint")
	Domain string    // the address's domain, exactly
	// After and Limit page through the list in order of address: the
	// addresses after After, at most Limit of them (0: no limit).
	After string
	Limit int
	// ByAddress orders by address even when Since is set, as paging with
	// After needs.
	ByAddress bool
}

// Suppressions calls fn for each suppression the filter selects, newest
// first when Since is set, else in order of address. It streams: a list of
// millions costs no memory.
func (s *Store) Suppressions(ctx context.Context, f SuppressionFilter, fn func(Suppression) error) error {
	order := "address"
	if !f.Since.IsZero() && f.After == "" && !f.ByAddress {
		order = "suppressed_at DESC, address"
	}
	// Only the filters given go into the SQL, so that every statement has
	// a plan for its own index: a generic plan of "$1 IS NULL OR ..."
	// scans the table once a prepared statement is reused.
	var c conds
	if !f.Since.IsZero() {
		c.add("suppressed_at >= $?", f.Since)
	}
	if f.Reason != "" {
		c.add("reason = $?", f.Reason)
	}
	if f.Domain != "" {
		c.add("domain = $?", f.Domain)
	}
	if f.After != "" {
		c.add("address > $?", f.After)
	}
	sql := `SELECT address, domain, reason, rule, suppressed_at, first_bounce, last_bounce, bounce_count,
			coalesce(last_message, 0)
		FROM suppression` + c.sql() + " ORDER BY " + order
	if f.Limit > 0 {
		sql += " LIMIT " + c.arg(f.Limit)
	}
	rows, err := s.pool.Query(ctx, sql, c.args...)
	if err != nil {
		return dbError("listing suppressions", err)
	}
	defer rows.Close()
	for rows.Next() {
		var x Suppression
		if err := rows.Scan(&x.Address, &x.Domain, &x.Reason, &x.Rule, &x.SuppressedAt, &x.FirstBounce,
			&x.LastBounce, &x.Count, &x.LastMessage); err != nil {
			return dbError("listing suppressions", err)
		}
		if err := fn(x); err != nil {
			return err
		}
	}
	return dbError("listing suppressions", rows.Err())
}

// conds gathers the conditions of a WHERE clause and their arguments.
type conds struct {
	where []string
	args  []any
}

// add adds a condition with one argument, written $? in cond.
func (c *conds) add(cond string, v any) {
	c.where = append(c.where, strings.ReplaceAll(cond, "$?", c.arg(v)))
}

// raw adds a condition without an argument.
func (c *conds) raw(cond string) { c.where = append(c.where, cond) }

// arg adds an argument and gives its placeholder.
func (c *conds) arg(v any) string {
	c.args = append(c.args, v)
	return fmt.Sprintf("$%d", len(c.args))
}

// sql is the WHERE clause, "" when there is no condition.
func (c *conds) sql() string {
	if len(c.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(c.where, " AND ")
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Event is one stored bounce, delay or complaint of an address.
type Event struct {
	BouncedAt    time.Time `json:"bounced_at"`
	Kind         string    `json:"kind"`
	Cause        string    `json:"cause,omitempty"`
	Severity     string    `json:"severity,omitempty"`
	Scope        string    `json:"scope"`
	Rule         string    `json:"rule"`
	Action       string    `json:"action"`
	Status       string    `json:"status,omitempty"`
	ReplyCode    int       `json:"reply_code,omitempty"`
	Diagnostic   string    `json:"diagnostic,omitempty"`
	RemoteMTA    string    `json:"remote_mta,omitempty"`
	ReportingMTA string    `json:"reporting_mta,omitempty"`
	// The notice: the store's message id, where it was read, its
	// Message-ID, and what it says of the original message.
	Message           int64          `json:"message"`
	Mailbox           string         `json:"mailbox"`
	NoticeID          string         `json:"notice_id,omitempty"`
	OriginalMessageID string         `json:"original_message_id,omitempty"`
	Original          map[string]any `json:"original,omitempty"`
}

// History is everything the store knows of one address.
type History struct {
	Address     string       `json:"address"`
	Suppression *Suppression `json:"suppression"`
	Events      []Event      `json:"events"`
	Releases    []Release    `json:"releases,omitempty"`
}

// History gathers the bounces of address, newest first (at most limit of
// them, 0 for all), its suppression and its releases.
func (s *Store) History(ctx context.Context, address string, limit int) (History, error) {
	const doing = "reading the history of an address"
	address = normalize(address)
	h := History{Address: address, Events: []Event{}}
	if address == "" {
		return h, nil
	}
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	batch := &pgx.Batch{}
	batch.Queue(`
		SELECT b.bounced_at, b.kind, coalesce(b.cause, ''), coalesce(b.severity, ''), b.scope, b.rule, b.action,
			coalesce(b.status, ''), coalesce(b.reply_code, 0), b.diagnostic, coalesce(b.remote_mta, ''),
			coalesce(b.reporting_mta, ''), m.id, m.account || CASE WHEN m.account <> '' THEN '/' ELSE '' END || m.mailbox,
			coalesce(m.message_id, ''), coalesce(m.original_message_id, ''), m.original
		FROM bounce b JOIN message m ON m.id = b.message
		WHERE b.recipient = $1
		ORDER BY b.bounced_at DESC, b.message DESC, b.position DESC LIMIT $2`, address, lim)
	batch.Queue(`SELECT address, domain, reason, rule, suppressed_at, first_bounce, last_bounce, bounce_count,
			coalesce(last_message, 0) FROM suppression WHERE address = $1`, address)
	batch.Queue(`SELECT released_at, reason, released_by, coalesce(was_reason, ''),
			was_suppressed_at, coalesce(was_count, 0)
		FROM release WHERE address = $1 ORDER BY released_at DESC`, address)
	br := s.pool.SendBatch(ctx, batch)
	defer br.Close()

	rows, err := br.Query()
	if err != nil {
		return h, dbError(doing, err)
	}
	for rows.Next() {
		var e Event
		var orig []byte
		if err := rows.Scan(&e.BouncedAt, &e.Kind, &e.Cause, &e.Severity, &e.Scope, &e.Rule, &e.Action,
			&e.Status, &e.ReplyCode, &e.Diagnostic, &e.RemoteMTA, &e.ReportingMTA, &e.Message, &e.Mailbox,
			&e.NoticeID, &e.OriginalMessageID, &orig); err != nil {
			return h, dbError(doing, err)
		}
		if len(orig) > 2 {
			json.Unmarshal(orig, &e.Original) // the column holds a JSON object (CHECK)
		}
		h.Events = append(h.Events, e)
	}
	if err := rows.Err(); err != nil {
		return h, dbError(doing, err)
	}
	var x Suppression
	err = br.QueryRow().Scan(&x.Address, &x.Domain, &x.Reason, &x.Rule, &x.SuppressedAt, &x.FirstBounce,
		&x.LastBounce, &x.Count, &x.LastMessage)
	switch {
	case err == nil:
		h.Suppression = &x
	case err != pgx.ErrNoRows:
		return h, dbError(doing, err)
	}
	rows, err = br.Query()
	if err != nil {
		return h, dbError(doing, err)
	}
	for rows.Next() {
		r := Release{Address: address}
		var was *time.Time
		if err := rows.Scan(&r.ReleasedAt, &r.Reason, &r.By, &r.Was.Reason, &was, &r.Was.Count); err != nil {
			return h, dbError(doing, err)
		}
		if was != nil {
			r.Was.SuppressedAt = *was
		}
		h.Releases = append(h.Releases, r)
	}
	return h, dbError(doing, rows.Err())
}
