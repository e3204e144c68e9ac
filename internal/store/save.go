package store

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/klauspost/compress/gzip"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
)

// ParserVersion is stored with every message: raise it when a change to
// the parser or the rules changes results, so that `bounced reclassify`
// can tell old rows.
const ParserVersion = 1

// Message is one analysed message to save.
type Message struct {
	// Where it was read. An imported message has Account "" and Mailbox
	// "import" and UID 0, and is known by its digest.
	Account, Mailbox string
	UIDValidity, UID uint32
	// Source is the file an imported message came from.
	Source     string
	ReceivedAt time.Time
	// Raw is the message as read; its digest and size are taken from it,
	// and it is kept when the store keeps raw messages.
	Raw []byte
	// Report and Results are the parser's and the classifier's answers
	// (Results has one entry per Report.Recipients).
	Report  *dsn.Report
	Results []classify.Result
	// ParseErr is the parse error, if any: the message is still saved.
	ParseErr error
}

// Checkpoint is where reading a mailbox stopped.
type Checkpoint struct {
	Account, Mailbox string
	UIDValidity      uint32
	LastUID          uint32
	// ActedUID is the last UID whose mailbox action is done: the actions
	// of the UIDs after it, up to LastUID, are still to do. Saving 0
	// leaves it as it was (under the same UIDVALIDITY).
	ActedUID uint32
}

// Batch is the messages saved in one transaction, and the checkpoint
// saved with them.
type Batch struct {
	Messages   []Message
	Checkpoint *Checkpoint
}

// Saved counts what a Save wrote.
type Saved struct {
	Messages   int // new message rows
	Duplicates int // messages already stored
	Bounces    int // new recipient rows
	Suppressed int // addresses whose suppression was added or renewed
}

// Save writes a batch in one transaction. It is idempotent: a message
// already stored (same account, mailbox, UIDVALIDITY and UID; or, for an
// import, same content) is skipped, and a recipient of a notice already
// stored from another mailbox (same Message-ID) keeps one row. The
// suppression list and the daily counts are brought up to date in the
// same transaction. Save is Prepare then SavePrepared.
func (s *Store) Save(ctx context.Context, b Batch) (Saved, error) {
	p, err := s.Prepare(b)
	if err != nil {
		return Saved{}, err
	}
	return s.SavePrepared(ctx, p)
}

// Prepared is a batch made ready for the database by Prepare.
type Prepared struct {
	msgs []Message
	cp   *Checkpoint
	cols messageCols
	// rows has the index into msgs in its message column, until the
	// messages have their ids.
	rows bounceRows
	// raw is the compressed source of each message, when the store keeps
	// them.
	raw [][]byte
}

// Prepare does the part of a Save that needs no database: digests, the
// columns of every row, the compression of the raw sources (spread over
// the cores). A caller saving batch after batch prepares the next while
// the last is written (SavePrepared), so that the two overlap. It fails
// only on a message without a mailbox.
func (s *Store) Prepare(b Batch) (*Prepared, error) {
	// A message without its time of arrival arrived now: the message row
	// and the times of its recipients (bounceTime) must agree on it.
	msgs, cloned, now := b.Messages, false, time.Now()
	for i := range msgs {
		if msgs[i].ReceivedAt.IsZero() {
			if !cloned {
				msgs, cloned = slices.Clone(msgs), true // the caller's slice stays as it was
			}
			msgs[i].ReceivedAt = now
		}
	}
	p := &Prepared{msgs: msgs, cp: b.Checkpoint}
	var wg sync.WaitGroup
	if s.keepRaw {
		wg.Go(func() { p.raw = compressAll(msgs) })
	}
	var err error
	p.cols, err = prepareMessages(msgs)
	if err != nil {
		wg.Wait()
		return nil, err
	}
	for i := range msgs {
		p.rows.add(int64(i), &msgs[i])
	}
	wg.Wait()
	return p, nil
}

// SavePrepared writes a prepared batch in one transaction, as Save does.
// A batch may be saved again after an error.
func (s *Store) SavePrepared(ctx context.Context, p *Prepared) (Saved, error) {
	var out Saved
	err := s.inTx(ctx, "saving messages", func(tx pgx.Tx) error {
		ids, err := p.cols.insert(ctx, tx)
		if err != nil {
			return err
		}
		out.Messages = len(ids)
		out.Duplicates = len(p.msgs) - len(ids)
		added, err := p.rows.withIDs(ids).insert(ctx, tx)
		if err != nil {
			return err
		}
		out.Bounces = len(added)
		if out.Suppressed, err = s.upkeep(ctx, tx, s.affected(added), false); err != nil {
			return err
		}
		if err := addDays(ctx, tx, added, nil); err != nil {
			return err
		}
		if p.raw != nil {
			if err := insertRaw(ctx, tx, p.raw, ids); err != nil {
				return err
			}
		}
		if p.cp != nil {
			return saveCheckpoint(ctx, tx, *p.cp)
		}
		return nil
	})
	return out, err
}

// messageCols holds the columns of the message rows, in order of key.
type messageCols struct {
	account, mailbox, kind, format, sender, subject, original []string
	uidValidity, uid, size                                    []int64
	digest                                                    [][]byte
	source, messageID, origID, parseErr                       []pgtype.Text
	received                                                  []time.Time
	// keys maps a message's key to its index in the batch (the first, for
	// a message twice in it).
	keys map[string]int
}

// prepareMessages makes the columns of the message rows.
func prepareMessages(msgs []Message) (messageCols, error) {
	n := len(msgs)
	c := messageCols{
		account: make([]string, n), mailbox: make([]string, n), kind: make([]string, n), format: make([]string, n),
		sender: make([]string, n), subject: make([]string, n), original: make([]string, n),
		uidValidity: make([]int64, n), uid: make([]int64, n), size: make([]int64, n),
		digest: make([][]byte, n), source: make([]pgtype.Text, n), messageID: make([]pgtype.Text, n),
		origID: make([]pgtype.Text, n), parseErr: make([]pgtype.Text, n), received: make([]time.Time, n),
		keys: make(map[string]int, n),
	}
	// The rows go in in order of key, so that two batches holding some of
	// the same messages wait for each other's rows in the same order and
	// cannot deadlock. The sort is stable: of a message twice in the
	// batch, the first copy is the one stored, as in two batches.
	order, msgKeys, sums := make([]int, n), make([]string, n), make([][32]byte, n)
	for i := range msgs {
		m := &msgs[i]
		if m.Mailbox == "" {
			return c, fmt.Errorf("saving messages: message %d has no mailbox", i)
		}
		sums[i] = sha256.Sum256(m.Raw)
		msgKeys[i] = messageKey(m.Account, m.Mailbox, int64(m.UIDValidity), int64(m.UID), sums[i][:])
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(msgKeys[a], msgKeys[b]) })
	for j, i := range order {
		m := &msgs[i]
		rep := m.Report
		if rep == nil {
			rep = &dsn.Report{Kind: dsn.NotBounce}
		}
		c.account[j], c.mailbox[j] = m.Account, m.Mailbox
		c.uidValidity[j], c.uid[j] = int64(m.UIDValidity), int64(m.UID)
		c.digest[j], c.size[j] = sums[i][:], int64(len(m.Raw))
		c.source[j] = nonEmpty(m.Source)
		c.received[j] = m.ReceivedAt // Prepare has set it
		c.kind[j], c.format[j] = string(rep.Kind), rep.Format
		c.messageID[j] = nonEmpty(rep.MessageID)
		c.sender[j], c.subject[j] = clean(rep.From), clean(rep.Subject)
		c.origID[j] = nonEmpty(rep.Original.MessageID)
		c.original[j] = originalJSON(&rep.Original)
		if m.ParseErr != nil {
			c.parseErr[j] = pgtype.Text{String: clean(m.ParseErr.Error()), Valid: true}
		}
		if !hasKey(c.keys, msgKeys[i]) {
			c.keys[msgKeys[i]] = i
		}
	}
	return c, nil
}

// insert inserts the message rows not already stored and returns their ids
// by index into the batch.
func (c *messageCols) insert(ctx context.Context, tx pgx.Tx) (map[int]int64, error) {
	rows, err := tx.Query(ctx, `
		INSERT INTO message (account, mailbox, uid_validity, uid, digest, size, source, received_at,
			kind, format, message_id, sender, subject, original_message_id, original, parse_error, parser_version)
		SELECT *, $17::integer FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bytea[],
			$6::bigint[], $7::text[], $8::timestamptz[], $9::text[], $10::text[], $11::text[], $12::text[],
			$13::text[], $14::text[], $15::jsonb[], $16::text[])
		ON CONFLICT DO NOTHING
		RETURNING id, account, mailbox, uid_validity, uid, digest`,
		c.account, c.mailbox, c.uidValidity, c.uid, c.digest, c.size, c.source, c.received, c.kind, c.format,
		c.messageID, c.sender, c.subject, c.origID, c.original, c.parseErr, ParserVersion)
	if err != nil {
		return nil, dbError("saving messages", err)
	}
	ids := make(map[int]int64, len(c.keys))
	for rows.Next() {
		var (
			id, uv, u int64
			acc, mb   string
			dg        []byte
		)
		if err := rows.Scan(&id, &acc, &mb, &uv, &u, &dg); err != nil {
			return nil, dbError("saving messages", err)
		}
		if i, ok := c.keys[messageKey(acc, mb, uv, u, dg)]; ok {
			ids[i] = id
		}
	}
	return ids, dbError("saving messages", rows.Err())
}

func hasKey(m map[string]int, k string) bool {
	_, ok := m[k]
	return ok
}

// messageKey identifies a message as the unique indexes do: by mailbox
// and UID, or by content for an import.
func messageKey(account, mailbox string, uidValidity, uid int64, digest []byte) string {
	if uid > 0 {
		// UIDVALIDITY and UID big-endian, so that keys sort by UID.
		b := make([]byte, 0, len(account)+len(mailbox)+20)
		b = append(append(append(b, "u\x00"...), account...), 0)
		b = append(append(b, mailbox...), 0)
		b = binary.BigEndian.AppendUint64(b, uint64(uidValidity))
		b = binary.BigEndian.AppendUint64(b, uint64(uid))
		return string(b)
	}
	return "d\x00" + string(digest)
}

// originalJSON encodes what the notice says of the original message.
func originalJSON(o *dsn.Original) string {
	v := map[string]any{}
	put := func(k, s string) {
		if s = clean(s); s != "" {
			v[k] = s
		}
	}
	put("from", o.From)
	put("to", o.To)
	put("subject", o.Subject)
	put("list_id", o.ListID)
	if !o.Date.IsZero() {
		v["date"] = o.Date.UTC().Format(time.RFC3339)
	}
	if len(o.Headers) > 0 {
		h := make(map[string]string, len(o.Headers))
		for k, s := range o.Headers {
			h[clean(k)] = clean(s) // jsonb refuses \u0000 in keys too
		}
		v["headers"] = h
	}
	b, _ := json.Marshal(v) // strings and maps of strings always marshal
	return string(b)
}

// gzipWriters keeps gzip writers for reuse: each holds a few hundred KB
// of state.
var gzipWriters sync.Pool

// compressAll gzips the raw source of every message, on as many
// goroutines as there are cores.
func compressAll(msgs []Message) [][]byte {
	out := make([][]byte, len(msgs))
	// Pieces of at least 32 messages, at most one a core.
	n := min(runtime.GOMAXPROCS(0), max(1, len(msgs)/32))
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			zw, _ := gzipWriters.Get().(*gzip.Writer)
			if zw == nil {
				zw, _ = gzip.NewWriterLevel(nil, gzip.BestSpeed) // a valid level never errs
			}
			defer gzipWriters.Put(zw)
			var buf bytes.Buffer
			for i := w; i < len(msgs); i += n {
				buf.Reset()
				zw.Reset(&buf)
				zw.Write(msgs[i].Raw) // writes to a bytes.Buffer don't fail
				zw.Close()
				out[i] = bytes.Clone(buf.Bytes())
			}
		})
	}
	wg.Wait()
	return out
}

// insertRaw keeps the compressed raw sources of the new messages (ids, by
// index into raw). The messages are new, so their rows are copied in
// without a conflict to look for.
func insertRaw(ctx context.Context, tx pgx.Tx, raw [][]byte, ids map[int]int64) error {
	idx := make([]int, 0, len(ids))
	for i := range ids {
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return nil
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(ids[a], ids[b]) })
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"message_raw"}, []string{"message", "encoding", "raw"},
		pgx.CopyFromSlice(len(idx), func(k int) ([]any, error) {
			return []any{ids[idx[k]], "gzip", raw[idx[k]]}, nil
		}))
	return dbError("saving raw messages", err)
}

// bounceRows gathers recipient rows as columns, for one INSERT.
type bounceRows struct {
	message                                          []int64
	position                                         []int16
	replyCode                                        []pgtype.Int2
	kind, recipient, domain, action, scope, rule, dg []string
	noticeID, origRcpt, status, command, remote      []pgtype.Text
	reporting, cause, severity, feedback             []pgtype.Text
	at                                               []time.Time
}

// add appends the rows of message m, stored as id: one per recipient of a
// bounce or delay, one per complaining recipient of a complaint.
func (r *bounceRows) add(id int64, m *Message) {
	rep := m.Report
	if rep == nil {
		return
	}
	at := bounceTime(rep, time.Time{}, m.ReceivedAt)
	switch rep.Kind {
	case dsn.Bounce, dsn.Delay:
		for i := range rep.Recipients {
			rc := &rep.Recipients[i]
			var res classify.Result
			if i < len(m.Results) {
				res = m.Results[i]
			}
			if !res.Cause.Valid() {
				res = classify.Result{Cause: classify.Unknown, Severity: classify.Hard, Scope: classify.ScopeUnknown, Rule: "none"}
			}
			if !res.Severity.Valid() {
				res.Severity = classify.Hard
			}
			r.row(id, i, rep, string(rep.Kind), rc.Recipient, string(rc.Action))
			r.origRcpt = append(r.origRcpt, nonEmpty(rc.OriginalRecipient))
			r.status = append(r.status, statusText(rc.Status))
			var code pgtype.Int2
			if rc.ReplyCode >= 200 && rc.ReplyCode <= 599 {
				code = pgtype.Int2{Int16: int16(rc.ReplyCode), Valid: true}
			}
			r.replyCode = append(r.replyCode, code)
			r.dg = append(r.dg, clean(rc.Diagnostic))
			r.command = append(r.command, nonEmpty(rc.Command))
			r.remote = append(r.remote, nonEmpty(rc.RemoteMTA))
			mta := rc.ReportingMTA
			if mta == "" {
				mta = rep.ReportingMTA
			}
			r.reporting = append(r.reporting, nonEmpty(mta))
			r.cause = append(r.cause, pgtype.Text{String: string(res.Cause), Valid: true})
			r.severity = append(r.severity, pgtype.Text{String: string(res.Severity), Valid: true})
			r.scope = append(r.scope, string(res.Cause.Scope()))
			r.rule = append(r.rule, res.Rule)
			r.feedback = append(r.feedback, pgtype.Text{})
			r.at = append(r.at, bounceTime(rep, rc.LastAttempt, m.ReceivedAt))
		}
	case dsn.Complaint:
		for i, addr := range complainants(rep) {
			r.row(id, i, rep, string(dsn.Complaint), addr, "complained")
			var null pgtype.Text
			r.origRcpt = append(r.origRcpt, null)
			r.status = append(r.status, null)
			r.replyCode = append(r.replyCode, pgtype.Int2{})
			r.dg = append(r.dg, "")
			r.command = append(r.command, null)
			r.remote = append(r.remote, null)
			r.reporting = append(r.reporting, null)
			r.cause = append(r.cause, null)
			r.severity = append(r.severity, null)
			r.scope = append(r.scope, string(classify.ScopeRecipient))
			ft := "abuse"
			if rep.Feedback != nil {
				if t := clean(strings.ToLower(rep.Feedback.Type)); t != "" {
					ft = t
				}
			}
			r.rule = append(r.rule, "complaint:"+ft)
			r.feedback = append(r.feedback, pgtype.Text{String: ft, Valid: true})
			at2 := at
			if rep.Feedback != nil && sane(rep.Feedback.ArrivalDate, m.ReceivedAt) {
				at2 = rep.Feedback.ArrivalDate
			}
			r.at = append(r.at, at2)
		}
	}
}

// row appends the columns every row has.
func (r *bounceRows) row(id int64, pos int, rep *dsn.Report, kind, rcpt, action string) {
	rcpt = clean(rcpt)
	if a := normalize(rcpt); a != "" {
		rcpt = a // the domain lower-cased, as Unsuppress and History look it up
	}
	r.message = append(r.message, id)
	r.position = append(r.position, int16(min(pos, 32767)))
	r.noticeID = append(r.noticeID, nonEmpty(rep.MessageID))
	r.kind = append(r.kind, kind)
	r.recipient = append(r.recipient, rcpt)
	r.domain = append(r.domain, domainOf(rcpt))
	r.action = append(r.action, action)
}

// withIDs gives the rows of the messages stored (ids, by index into the
// batch), their message column set to the ids; r keeps the indexes.
func (r *bounceRows) withIDs(ids map[int]int64) *bounceRows {
	keep := make([]int, 0, len(r.message))
	for k, i := range r.message {
		if _, ok := ids[int(i)]; ok {
			keep = append(keep, k)
		}
	}
	out := *r
	if len(keep) < len(r.message) {
		out = bounceRows{}
		for _, k := range keep {
			out.message = append(out.message, r.message[k])
			out.position, out.replyCode = append(out.position, r.position[k]), append(out.replyCode, r.replyCode[k])
			out.kind, out.recipient = append(out.kind, r.kind[k]), append(out.recipient, r.recipient[k])
			out.domain, out.action = append(out.domain, r.domain[k]), append(out.action, r.action[k])
			out.scope, out.rule, out.dg = append(out.scope, r.scope[k]), append(out.rule, r.rule[k]), append(out.dg, r.dg[k])
			out.noticeID, out.origRcpt = append(out.noticeID, r.noticeID[k]), append(out.origRcpt, r.origRcpt[k])
			out.status, out.command = append(out.status, r.status[k]), append(out.command, r.command[k])
			out.remote, out.reporting = append(out.remote, r.remote[k]), append(out.reporting, r.reporting[k])
			out.cause, out.severity = append(out.cause, r.cause[k]), append(out.severity, r.severity[k])
			out.feedback, out.at = append(out.feedback, r.feedback[k]), append(out.at, r.at[k])
		}
	} else {
		out.message = slices.Clone(r.message)
	}
	for k, i := range out.message {
		out.message[k] = ids[int(i)]
	}
	return &out
}

// complainants gives the addresses a complaint is about: the feedback
// report's Original-Rcpt-To, else the returned message's To.
func complainants(rep *dsn.Report) []string {
	var out []string
	if rep.Feedback != nil {
		for _, a := range rep.Feedback.OriginalRcptTo {
			if a = normalize(a); a != "" && !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	if len(out) == 0 && rep.Original.To != "" {
		if as, err := mail.ParseAddressList(rep.Original.To); err == nil {
			for _, a := range as {
				if n := normalize(a.Address); n != "" && !slices.Contains(out, n) {
					out = append(out, n)
				}
			}
		}
	}
	return out
}

// normalize lower-cases an address's domain, as the parser does.
func normalize(a string) string {
	a = strings.Trim(strings.TrimSpace(a), "<>")
	i := strings.LastIndexByte(a, '@')
	if i <= 0 || i == len(a)-1 {
		return ""
	}
	return a[:i+1] + strings.ToLower(a[i+1:])
}

// insert writes the rows and returns those that were new (a recipient of
// a notice already stored from another mailbox is skipped).
func (r *bounceRows) insert(ctx context.Context, tx pgx.Tx) ([]added, error) {
	if len(r.message) == 0 {
		return nil, nil
	}
	rows, err := tx.Query(ctx, `
		INSERT INTO bounce (message, position, notice_id, kind, recipient, domain, original_recipient, action,
			status, reply_code, diagnostic, command, remote_mta, reporting_mta, cause, severity, scope, rule,
			feedback_type, bounced_at)
		SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::text[], $4::text[], $5::text[], $6::text[],
			$7::text[], $8::text[], $9::text[], $10::smallint[], $11::text[], $12::text[], $13::text[],
			$14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::timestamptz[])
			AS t(message, position, notice_id, kind, recipient, domain, original_recipient, action, status,
				reply_code, diagnostic, command, remote_mta, reporting_mta, cause, severity, scope, rule,
				feedback_type, bounced_at)
		-- In order of the unique key two batches may share (the same notice
		-- from two mailboxes), so that they cannot deadlock.
		ORDER BY notice_id, recipient, message, position
		ON CONFLICT DO NOTHING
		RETURNING recipient, kind, coalesce(cause, ''), coalesce(severity, ''), bounced_at, domain, scope`,
		r.message, r.position, r.noticeID, r.kind, r.recipient, r.domain, r.origRcpt, r.action, r.status,
		r.replyCode, r.dg, r.command, r.remote, r.reporting, r.cause, r.severity, r.scope, r.rule, r.feedback, r.at)
	if err != nil {
		return nil, dbError("saving recipients", err)
	}
	return scanAdded(rows, "saving recipients")
}

// added is a recipient row just written (or, for reclassify, removed).
type added struct {
	recipient, kind, cause, severity string
	at                               time.Time
	domain, scope                    string
}

func scanAdded(rows pgx.Rows, doing string) ([]added, error) {
	var out []added
	for rows.Next() {
		var a added
		if err := rows.Scan(&a.recipient, &a.kind, &a.cause, &a.severity, &a.at, &a.domain, &a.scope); err != nil {
			return nil, dbError(doing, err)
		}
		out = append(out, a)
	}
	return out, dbError(doing, rows.Err())
}

// addDays adds the rows plus to the daily counts (bounce_day, and
// bounce_domain_day by recipient domain) and takes the rows minus away, in
// key order so that concurrent batches don't deadlock.
func addDays(ctx context.Context, tx pgx.Tx, plus, minus []added) error {
	if err := addCauseDays(ctx, tx, plus, minus); err != nil {
		return err
	}
	return addDomainDays(ctx, tx, plus, minus)
}

func addCauseDays(ctx context.Context, tx pgx.Tx, plus, minus []added) error {
	type key struct{ day, kind, cause, severity string }
	counts := map[key]int64{}
	for _, a := range plus {
		counts[key{a.at.UTC().Format(time.DateOnly), a.kind, a.cause, a.severity}]++
	}
	for _, a := range minus {
		counts[key{a.at.UTC().Format(time.DateOnly), a.kind, a.cause, a.severity}]--
	}
	for k, n := range counts {
		if n == 0 {
			delete(counts, k)
		}
	}
	if len(counts) == 0 {
		return nil
	}
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return strings.Compare(a.day+a.kind+a.cause+a.severity, b.day+b.kind+b.cause+b.severity)
	})
	var days, kinds, causes, sevs []string
	var ns []int64
	for _, k := range keys {
		days, kinds, causes, sevs = append(days, k.day), append(kinds, k.kind), append(causes, k.cause), append(sevs, k.severity)
		ns = append(ns, counts[k])
	}
	// The CHECK (n >= 0) applies to the row proposed for insertion before
	// any conflict is found, so a row taken away proposes 0 and the
	// update looks its change up.
	_, err := tx.Exec(ctx, `
		WITH t AS (SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::text[], $5::bigint[])
			AS t(day, kind, cause, severity, n))
		INSERT INTO bounce_day AS d (day, kind, cause, severity, n)
		SELECT day, kind, cause, severity, greatest(n, 0) FROM t
		ON CONFLICT (day, kind, cause, severity) DO UPDATE SET n = greatest(d.n + (SELECT t.n FROM t
			WHERE (t.day, t.kind, t.cause, t.severity) = (excluded.day, excluded.kind, excluded.cause, excluded.severity)), 0)`,
		days, kinds, causes, sevs, ns)
	return dbError("counting bounces by day", err)
}

// domainCounts are the counters of a row of bounce_domain_day.
type domainCounts struct{ bounces, hard, soft, recipient, delays, complaints int64 }

func (c *domainCounts) add(a added, by int64) {
	switch a.kind {
	case "bounce":
		c.bounces += by
		switch a.severity {
		case "hard":
			c.hard += by
		case "soft":
			c.soft += by
		}
		if a.scope == "recipient" {
			c.recipient += by
		}
	case "delay":
		c.delays += by
	case "complaint":
		c.complaints += by
	}
}

func addDomainDays(ctx context.Context, tx pgx.Tx, plus, minus []added) error {
	type key struct{ day, domain string }
	counts := map[key]*domainCounts{}
	count := func(a added, by int64) {
		k := key{a.at.UTC().Format(time.DateOnly), a.domain}
		c := counts[k]
		if c == nil {
			c = &domainCounts{}
			counts[k] = c
		}
		c.add(a, by)
	}
	for _, a := range plus {
		count(a, 1)
	}
	for _, a := range minus {
		count(a, -1)
	}
	keys := make([]key, 0, len(counts))
	for k, c := range counts {
		if *c != (domainCounts{}) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := strings.Compare(a.day, b.day); c != 0 {
			return c
		}
		return strings.Compare(a.domain, b.domain)
	})
	var days, domains []string
	var cols [6][]int64
	for _, k := range keys {
		c := counts[k]
		days, domains = append(days, k.day), append(domains, k.domain)
		for i, n := range [6]int64{c.bounces, c.hard, c.soft, c.recipient, c.delays, c.complaints} {
			cols[i] = append(cols[i], n)
		}
	}
	// The table has no CHECK on its counters: a row taken away always
	// meets the row it was counted in, and greatest() keeps the counts
	// from going below zero should they ever disagree.
	_, err := tx.Exec(ctx, `
		INSERT INTO bounce_domain_day AS d (day, domain, bounces, hard, soft, recipient, delays, complaints)
		SELECT * FROM unnest($1::date[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],
			$7::bigint[], $8::bigint[])
		ON CONFLICT (day, domain) DO UPDATE SET
			bounces = greatest(d.bounces + excluded.bounces, 0), hard = greatest(d.hard + excluded.hard, 0),
			soft = greatest(d.soft + excluded.soft, 0), recipient = greatest(d.recipient + excluded.recipient, 0),
			delays = greatest(d.delays + excluded.delays, 0), complaints = greatest(d.complaints + excluded.complaints, 0)`,
		days, domains, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5])
	return dbError("counting bounces by domain and day", err)
}

func saveCheckpoint(ctx context.Context, tx pgx.Tx, c Checkpoint) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO checkpoint (account, mailbox, uid_validity, last_uid, acted_uid) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (account, mailbox) DO UPDATE SET uid_validity = excluded.uid_validity,
			last_uid = CASE WHEN checkpoint.uid_validity = excluded.uid_validity
				THEN greatest(checkpoint.last_uid, excluded.last_uid) ELSE excluded.last_uid END,
			acted_uid = CASE WHEN checkpoint.uid_validity = excluded.uid_validity
				THEN greatest(checkpoint.acted_uid, excluded.acted_uid) ELSE excluded.acted_uid END,
			updated_at = now()`,
		c.Account, c.Mailbox, int64(c.UIDValidity), int64(c.LastUID), int64(c.ActedUID))
	return dbError("saving the checkpoint", err)
}

// Checkpoint reads where reading account's mailbox stopped; ErrNotFound
// when it was never read.
func (s *Store) Checkpoint(ctx context.Context, account, mailbox string) (Checkpoint, error) {
	c := Checkpoint{Account: account, Mailbox: mailbox}
	var uv, last, acted int64
	err := s.pool.QueryRow(ctx, `SELECT uid_validity, last_uid, acted_uid FROM checkpoint WHERE account = $1 AND mailbox = $2`,
		account, mailbox).Scan(&uv, &last, &acted)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	c.UIDValidity, c.LastUID, c.ActedUID = uint32(uv), uint32(last), uint32(acted)
	return c, dbError("reading the checkpoint", err)
}

// bounceTime is when a recipient bounced: its last attempt, else the
// notice's date, else when the notice was received. A date far from the
// time received (a wrong clock) is passed over.
func bounceTime(rep *dsn.Report, lastAttempt, received time.Time) time.Time {
	for _, t := range []time.Time{lastAttempt, rep.ArrivalDate, rep.Date} {
		if sane(t, received) {
			return t
		}
	}
	if received.IsZero() {
		return time.Now()
	}
	return received
}

// sane reports whether t is set and, when received is known, no later than
// a day after it nor more than a year before it.
func sane(t, received time.Time) bool {
	if t.IsZero() {
		return false
	}
	if received.IsZero() {
		return true
	}
	return !t.After(received.Add(24*time.Hour)) && !t.Before(received.AddDate(-1, 0, 0))
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return ""
}

// clean makes text storable: PostgreSQL text holds no NUL byte and only
// valid UTF-8.
func clean(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// statusText gives the dotted form of an enhanced status code, nil when
// there is none or when it is not one the status column holds (RFC 3463
// 2: class 2, 4 or 5, subject and detail up to three digits), so that one
// odd value does not fail its batch.
func statusText(st dsn.Status) pgtype.Text {
	if st.IsZero() || st.Class != 2 && st.Class != 4 && st.Class != 5 || st.Subject > 999 || st.Detail > 999 {
		return pgtype.Text{}
	}
	return pgtype.Text{String: st.String(), Valid: true}
}

// nonEmpty gives s as text, NULL when empty.
func nonEmpty(s string) pgtype.Text {
	s = clean(s)
	return pgtype.Text{String: s, Valid: s != ""}
}
