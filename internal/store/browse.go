package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bounced/bounced/internal/classify"
)

// Recipient is one stored recipient row: a failed, delayed or complaining
// address of a notice, with its classification.
type Recipient struct {
	// ID is the row's key: its message's id times 32768 plus its
	// position (a smallint) in the notice.
	ID           int64     `json:"id"`
	Message      int64     `json:"message"`
	Position     int       `json:"position"`
	Kind         string    `json:"kind"`
	Recipient    string    `json:"recipient"`
	Domain       string    `json:"domain"`
	Action       string    `json:"action"`
	Status       string    `json:"status,omitempty"`
	ReplyCode    int       `json:"reply_code,omitempty"`
	Diagnostic   string    `json:"diagnostic,omitempty"`
	RemoteMTA    string    `json:"remote_mta,omitempty"`
	ReportingMTA string    `json:"reporting_mta,omitempty"`
	Cause        string    `json:"cause,omitempty"`
	Severity     string    `json:"severity,omitempty"`
	Scope        string    `json:"scope"`
	Rule         string    `json:"rule"`
	FeedbackType string    `json:"feedback_type,omitempty"`
	BouncedAt    time.Time `json:"bounced_at"`
}

// BounceFilter selects recipient rows; the zero value selects all.
type BounceFilter struct {
	Since, Until time.Time // bounced in [Since, Until); a zero bound is open
	Cause        string    // a cause, or "complaint" for complaints
	Domain       string    // the recipient's domain, exactly
	Kind         string    // bounce, delay or complaint
	Severity     string    // hard or soft
	Scope        string    // recipient, message, sender, transport or unknown
	// Before pages back in time: only rows older than it, in the order
	// Bounces returns them (newest first).
	Before *BounceCursor
	Limit  int // at most this many rows (0: 100)
}

// BounceCursor is a place in the list of recipient rows, newest first: a
// row's BouncedAt and ID.
type BounceCursor struct {
	At time.Time
	ID int64
}

// Bounces lists the recipient rows the filter selects, newest first.
//
// Only the time and the domain have an index. A filter by kind, cause,
// severity or scope alone reads the rows of its period in order of time
// and keeps those that match: to stop that walk where the page's rows
// end, the daily counts (bounce_day, which never count fewer rows than
// there are) give the newest day by which a page's worth of matching rows
// was counted, and the rows are read from that day only.
func (s *Store) Bounces(ctx context.Context, f BounceFilter) ([]Recipient, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	if f.Domain != "" || f.Cause == "" && f.Kind == "" && f.Severity == "" && f.Scope == "" {
		return s.bounces(ctx, f, time.Time{})
	}
	enough, first, err := s.bounceWindow(ctx, f)
	switch {
	case err != nil:
		return nil, err
	case first.IsZero():
		return []Recipient{}, nil // none counted: none stored
	}
	out, err := s.bounces(ctx, f, enough)
	if err != nil || len(out) == f.Limit || enough.Equal(first) {
		return out, err
	}
	// Fewer rows than counted (retention deleted some): read on to the
	// first day counted.
	return s.bounces(ctx, f, first)
}

// bounceWindow reads the daily counts of the rows f selects, between its
// bounds, newest day first: enough is the newest day by which f.Limit
// rows were counted (the first day counted when there are fewer), first
// the first day counted (zero when there is none).
func (s *Store) bounceWindow(ctx context.Context, f BounceFilter) (enough, first time.Time, err error) {
	const doing = "counting the bounces to list"
	var c conds
	c.raw("n > 0")
	day := func(t time.Time) string { return t.UTC().Format(time.DateOnly) }
	if !f.Since.IsZero() {
		c.add("day >= $?::date", day(f.Since))
	}
	if hi := f.Until; f.Before != nil && (hi.IsZero() || f.Before.At.Before(hi)) {
		c.add("day <= $?::date", day(f.Before.At))
	} else if !hi.IsZero() {
		c.add("day <= $?::date", day(hi))
	}
	f.classes(&c, false)
	rows, err := s.pool.Query(ctx, `SELECT day, sum(n) FROM bounce_day`+c.sql()+` GROUP BY day ORDER BY day DESC`, c.args...)
	if err != nil {
		return enough, first, dbError(doing, err)
	}
	defer rows.Close()
	var total int64
	for rows.Next() {
		var d time.Time
		var n int64
		if err := rows.Scan(&d, &n); err != nil {
			return enough, first, dbError(doing, err)
		}
		first = d
		if total += n; total >= int64(f.Limit) && enough.IsZero() {
			enough = d
		}
	}
	if enough.IsZero() {
		enough = first
	}
	return enough, first, dbError(doing, rows.Err())
}

// classes adds the conditions on kind, cause, severity and scope, on the
// recipient rows (rows) or on the daily counts, which have no scope: a
// scope there is the causes of that scope.
func (f *BounceFilter) classes(c *conds, rows bool) {
	switch f.Cause {
	case "":
	case "complaint":
		c.raw("kind = 'complaint'")
	default:
		c.add("cause = $?", f.Cause)
	}
	if f.Kind != "" {
		c.add("kind = $?", f.Kind)
	}
	if f.Severity != "" {
		c.add("severity = $?", f.Severity)
	}
	switch {
	case f.Scope == "":
	case rows:
		c.add("scope = $?", f.Scope)
	default:
		var causes []string
		for _, x := range classify.Causes() {
			if string(x.Scope()) == f.Scope {
				causes = append(causes, string(x))
			}
		}
		cond := "cause = ANY($?)"
		if f.Scope == string(classify.ScopeRecipient) {
			cond = "(cause = ANY($?) OR kind = 'complaint')" // a complaint speaks of its recipient
		}
		c.add(cond, causes)
	}
}

// bounces runs the query of Bounces, reading rows from the day from on (a
// zero from: no such bound).
func (s *Store) bounces(ctx context.Context, f BounceFilter, from time.Time) ([]Recipient, error) {
	const doing = "listing bounces"
	// Only the filters given go into the SQL (see Suppressions).
	var c conds
	if !f.Since.IsZero() {
		c.add("bounced_at >= $?", f.Since)
	}
	if !from.IsZero() {
		c.add("bounced_at >= $?", from)
	}
	if !f.Until.IsZero() {
		c.add("bounced_at < $?", f.Until)
	}
	if f.Domain != "" {
		c.add("domain = $?", strings.ToLower(f.Domain))
	}
	f.classes(&c, true)
	if f.Before != nil {
		at, id := c.arg(f.Before.At), c.arg(f.Before.ID)
		// The first bound lets the index on bounced_at start at the cursor.
		c.raw("bounced_at <= " + at + " AND (bounced_at, message * 32768 + position) < (" + at + ", " + id + ")")
	}
	sql := `SELECT ` + recipientColumns + ` FROM bounce` + c.sql() +
		` ORDER BY bounced_at DESC, message DESC, position DESC LIMIT ` + c.arg(f.Limit)
	rows, err := s.pool.Query(ctx, sql, c.args...)
	if err != nil {
		return nil, dbError(doing, err)
	}
	return scanRecipients(rows, doing)
}

const recipientColumns = `message * 32768 + position, message, position, kind, recipient, domain, action, coalesce(status, ''),
	coalesce(reply_code, 0), diagnostic, coalesce(remote_mta, ''), coalesce(reporting_mta, ''), coalesce(cause, ''),
	coalesce(severity, ''), scope, rule, coalesce(feedback_type, ''), bounced_at`

func scanRecipients(rows pgx.Rows, doing string) ([]Recipient, error) {
	defer rows.Close()
	out := []Recipient{}
	for rows.Next() {
		var r Recipient
		if err := rows.Scan(&r.ID, &r.Message, &r.Position, &r.Kind, &r.Recipient, &r.Domain, &r.Action, &r.Status,
			&r.ReplyCode, &r.Diagnostic, &r.RemoteMTA, &r.ReportingMTA, &r.Cause, &r.Severity, &r.Scope, &r.Rule,
			&r.FeedbackType, &r.BouncedAt); err != nil {
			return nil, dbError(doing, err)
		}
		out = append(out, r)
	}
	return out, dbError(doing, rows.Err())
}

// StoredMessage is an analysed message with its recipient rows.
type StoredMessage struct {
	ID          int64     `json:"id"`
	Account     string    `json:"account"`
	Mailbox     string    `json:"mailbox"`
	UIDValidity int64     `json:"uid_validity,omitempty"`
	UID         int64     `json:"uid,omitempty"`
	Source      string    `json:"source,omitempty"`
	Size        int64     `json:"size"`
	ReceivedAt  time.Time `json:"received_at"`
	StoredAt    time.Time `json:"stored_at"`
	Kind        string    `json:"kind"`
	Format      string    `json:"format,omitempty"`
	MessageID   string    `json:"message_id,omitempty"`
	Sender      string    `json:"sender,omitempty"`
	Subject     string    `json:"subject,omitempty"`
	// What the notice says of the message that bounced.
	OriginalMessageID string         `json:"original_message_id,omitempty"`
	Original          map[string]any `json:"original,omitempty"`
	ParseError        string         `json:"parse_error,omitempty"`
	ParserVersion     int            `json:"parser_version"`
	// HasRaw tells whether the raw source is kept (Raw reads it).
	HasRaw     bool        `json:"has_raw"`
	Recipients []Recipient `json:"recipients"`
}

// Message reads the message with the store's id, and its recipient rows in
// the order of the notice; ErrNotFound when there is none.
func (s *Store) Message(ctx context.Context, id int64) (StoredMessage, error) {
	const doing = "reading a message"
	m := StoredMessage{ID: id}
	batch := &pgx.Batch{}
	batch.Queue(`SELECT account, mailbox, uid_validity, uid, coalesce(source, ''), size, received_at, stored_at, kind,
			format, coalesce(message_id, ''), sender, subject, coalesce(original_message_id, ''), original,
			coalesce(parse_error, ''), parser_version, EXISTS (SELECT 1 FROM message_raw x WHERE x.message = m.id)
		FROM message m WHERE id = $1`, id)
	batch.Queue(`SELECT `+recipientColumns+` FROM bounce WHERE message = $1 ORDER BY position`, id)
	br := s.pool.SendBatch(ctx, batch)
	defer br.Close()
	var orig []byte
	err := br.QueryRow().Scan(&m.Account, &m.Mailbox, &m.UIDValidity, &m.UID, &m.Source, &m.Size, &m.ReceivedAt,
		&m.StoredAt, &m.Kind, &m.Format, &m.MessageID, &m.Sender, &m.Subject, &m.OriginalMessageID, &orig,
		&m.ParseError, &m.ParserVersion, &m.HasRaw)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, fmt.Errorf("message %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return m, dbError(doing, err)
	}
	if len(orig) > 2 {
		json.Unmarshal(orig, &m.Original) // the column holds a JSON object (CHECK)
	}
	rows, err := br.Query()
	if err != nil {
		return m, dbError(doing, err)
	}
	m.Recipients, err = scanRecipients(rows, doing)
	return m, err
}

// Raw reads the raw source kept of the message with the store's id;
// ErrNotFound when the message is unknown or its source was not kept (or
// was removed by retention).
func (s *Store) Raw(ctx context.Context, id int64) ([]byte, error) {
	const doing = "reading a raw message"
	var enc string
	var z []byte
	err := s.pool.QueryRow(ctx, `SELECT encoding, raw FROM message_raw WHERE message = $1`, id).Scan(&enc, &z)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("raw source of message %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, dbError(doing, err)
	}
	if enc != "gzip" {
		return nil, fmt.Errorf("%s: message %d: unknown encoding %q", doing, id, enc)
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, fmt.Errorf("%s: message %d: %w", doing, id, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("%s: message %d: %w", doing, id, err)
	}
	return raw, nil
}

// DayCount is one row of the daily counts: the recipient rows of a kind,
// cause and severity on a day (UTC).
type DayCount struct {
	Day      time.Time `json:"day"`
	Kind     string    `json:"kind"`
	Cause    string    `json:"cause,omitempty"` // "" for complaints
	Severity string    `json:"severity,omitempty"`
	N        int64     `json:"n"`
}

// DayCounts reads the daily counts of the days from since to until, both
// included (their UTC dates), in order of day, kind, cause, severity. They
// are kept on write and cover rows retention has deleted.
func (s *Store) DayCounts(ctx context.Context, since, until time.Time) ([]DayCount, error) {
	const doing = "reading daily counts"
	rows, err := s.pool.Query(ctx, `
		SELECT day, kind, cause, severity, n FROM bounce_day
		WHERE day BETWEEN $1::date AND $2::date AND n > 0
		ORDER BY day, kind, cause, severity`,
		since.UTC().Format(time.DateOnly), until.UTC().Format(time.DateOnly))
	if err != nil {
		return nil, dbError(doing, err)
	}
	defer rows.Close()
	out := []DayCount{}
	for rows.Next() {
		var c DayCount
		if err := rows.Scan(&c.Day, &c.Kind, &c.Cause, &c.Severity, &c.N); err != nil {
			return nil, dbError(doing, err)
		}
		out = append(out, c)
	}
	return out, dbError(doing, rows.Err())
}

// TopDomains gives the limit domains (0: 20) with most recipient-scope
// bounces on the days from since to until, both included (UTC dates): the
// domains whose addresses fail most.
func (s *Store) TopDomains(ctx context.Context, since, until time.Time, limit int) ([]Count, error) {
	const doing = "counting bounces by domain"
	if limit <= 0 {
		limit = 20
	}
	rows, err := s.pool.Query(ctx, `
		SELECT domain, sum(bounces), sum(hard), sum(soft), sum(delays), sum(complaints), sum(recipient)
		FROM bounce_domain_day
		WHERE day BETWEEN $1::date AND $2::date
		GROUP BY domain HAVING sum(recipient) > 0
		ORDER BY sum(recipient) DESC, domain LIMIT $3`,
		since.UTC().Format(time.DateOnly), until.UTC().Format(time.DateOnly), limit)
	if err != nil {
		return nil, dbError(doing, err)
	}
	return scanCounts(rows, doing)
}

// SuppressionCounts counts the suppressed addresses by reason.
func (s *Store) SuppressionCounts(ctx context.Context) (map[string]int64, error) {
	const doing = "counting suppressions"
	rows, err := s.pool.Query(ctx, `SELECT reason, count(*) FROM suppression GROUP BY reason`)
	if err != nil {
		return nil, dbError(doing, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var r string
		var n int64
		if err := rows.Scan(&r, &n); err != nil {
			return nil, dbError(doing, err)
		}
		out[r] = n
	}
	return out, dbError(doing, rows.Err())
}
