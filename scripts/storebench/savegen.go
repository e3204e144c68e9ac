package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
	"github.com/bounced/bounced/internal/store"
)

// saveGen makes batches for store.Save, as the daemon would hand them
// over: notices about addresses of the data set, classified, with their
// raw source.
type saveGen struct {
	mailbox  string
	seed     uint64
	addrs    []string
	byDomain map[string][]string
	text     string // words in lines, for bodies
}

// sampleAddresses reads about n addresses that have rows, and adds a
// tenth as many that have none yet.
func sampleAddresses(ctx context.Context, conn *pgx.Conn, n int) ([]string, error) {
	var total float64
	if err := conn.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'bounce'::regclass`).Scan(&total); err != nil {
		return nil, fmt.Errorf("sampling addresses: %w", err)
	}
	pct := 100.0
	if total > 0 {
		pct = min(100, 100*float64(n)*2/total)
	}
	rows, err := conn.Query(ctx, `SELECT DISTINCT recipient FROM bounce TABLESAMPLE SYSTEM ($1) WHERE recipient LIKE '%_@_%' LIMIT $2`, pct, n)
	if err != nil {
		return nil, fmt.Errorf("sampling addresses: %w", err)
	}
	addrs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("sampling addresses: %w", err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("sampling addresses: the bounce table is empty: run generate first")
	}
	for i := range len(addrs) / 10 {
		a := addrs[i*7%len(addrs)]
		addrs = append(addrs, fmt.Sprintf("new%d.%s", i, a))
	}
	return addrs, nil
}

func newSaveGen(mailbox string, seed uint64, addrs []string) *saveGen {
	g := &saveGen{mailbox: mailbox, seed: seed, addrs: addrs, byDomain: map[string][]string{}}
	for _, a := range addrs {
		d := a[strings.LastIndexByte(a, '@')+1:]
		g.byDomain[d] = append(g.byDomain[d], a)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	var sb strings.Builder
	for col := 0; sb.Len() < 1<<20; {
		word := subjectWords[r.IntN(len(subjectWords))]
		sb.WriteString(word)
		if col += len(word) + 1; col > 70 {
			sb.WriteString("\r\n")
			col = 0
		} else {
			sb.WriteByte(' ')
		}
	}
	g.text = sb.String()
	return g
}

var flavorOf = func() map[string]flavor {
	m := map[string]flavor{}
	for _, d := range bigDomains {
		m[d.name] = d.flavor
	}
	return m
}()

func domainFlavor(d string) flavor {
	if f, ok := flavorOf[d]; ok {
		return f
	}
	return flTail
}

// batch makes batch k of size notices, received from at on, and says how
// many recipient rows it holds. UIDs follow from k.
func (g *saveGen) batch(k, size int, at time.Time) (store.Batch, int) {
	r := rand.New(rand.NewPCG(g.seed, uint64(k)))
	msgs := make([]store.Message, size)
	rows := 0
	for i := range msgs {
		uid := uint32(k*size + i + 1)
		recv := at.Add(time.Duration(i) * 20 * time.Millisecond)
		first := g.addrs[r.IntN(len(g.addrs))]
		dom := first[strings.LastIndexByte(first, '@')+1:]
		fv := domainFlavor(dom)
		rcpts := []string{first}
		if n := []int{1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4}[r.IntN(12)]; n > 1 {
			same := g.byDomain[dom]
			for try := 0; len(rcpts) < n && try < 20; try++ {
				if a := same[r.IntN(len(same))]; !strings.Contains(strings.Join(rcpts, " "), a) {
					rcpts = append(rcpts, a)
				}
			}
		}
		id := fmt.Sprintf("%s.%d.%d.%d@mta1.lists.example.org", recv.Format("20060102150405"), g.seed, k, i)
		rep := &dsn.Report{
			Format: "rfc3464", MessageID: id, From: "MAILER-DAEMON@mta1.lists.example.org (Mail Delivery System)",
			To: "bounces@lists.example.org", Date: recv, ReportingMTA: "mta1.lists.example.org",
			Original: dsn.Original{
				MessageID: originalID(fmt.Sprintf("bench-%d", k), first), From: lists[0].from, To: first,
				Subject: "Weekly: news and more", Date: recv.Add(-time.Hour), ListID: lists[0].id,
				Headers: map[string]string{"X-Campaign-ID": fmt.Sprintf("bench-%d", k)},
			},
		}
		m := &msgs[i]
		*m = store.Message{Account: "bounces@lists.example.org", Mailbox: g.mailbox, UIDValidity: 1, UID: uid, ReceivedAt: recv, Report: rep}
		switch x := r.IntN(100); {
		case x < 4:
			rep.Kind, rep.Format, rep.Subject = dsn.Complaint, "arf", "Complaint about message from 192.0.2.10"
			rep.Feedback = &dsn.Feedback{Type: "abuse", OriginalRcptTo: rcpts[:1], ArrivalDate: recv.Add(-time.Minute)}
			rows++
		case x < 22:
			rep.Kind, rep.Subject = dsn.Delay, "Delayed Mail (still being retried)"
			rows += g.recipients(r, m, rcpts, fv, true)
		default:
			rep.Kind, rep.Subject = dsn.Bounce, "Undelivered Mail Returned to Sender"
			rows += g.recipients(r, m, rcpts, fv, false)
		}
		m.Raw = g.raw(r, rep)
	}
	cp := &store.Checkpoint{Account: "bounces@lists.example.org", Mailbox: g.mailbox, UIDValidity: 1, LastUID: uint32(k*size + size)}
	return store.Batch{Messages: msgs, Checkpoint: cp}, rows
}

// recipients adds the failed or delayed recipients and their
// classification: a failure speaks against the address a third of the
// time.
func (g *saveGen) recipients(r *rand.Rand, m *store.Message, rcpts []string, fv flavor, delay bool) int {
	rep := m.Report
	for _, a := range rcpts {
		var c classify.Cause
		switch {
		case delay:
			c = delayMix.pick(r)
		case r.IntN(3) == 0:
			c = []classify.Cause{classify.BadAddress, classify.BadAddress, classify.BadAddress, classify.BadAddress,
				classify.BadAddress, classify.MailboxDisabled, classify.BadDomain, classify.MailboxFull, classify.MailboxFull}[r.IntN(9)]
		default:
			c = bounceMix[fv].pick(r)
		}
		f, ok := pickRefusal(r, c, delay, fv)
		if !ok {
			f, _ = pickRefusal(r, classify.Unknown, delay, fv)
		}
		dom := a[strings.LastIndexByte(a, '@')+1:]
		var sb strings.Builder
		f.render(&sb, r, a, dom, "mx."+dom)
		st, _ := dsn.ParseStatus(f.status)
		rc := dsn.Recipient{Recipient: a, Action: dsn.Failed, Status: st, ReplyCode: f.code, Diagnostic: sb.String(),
			LastAttempt: m.ReceivedAt.Add(-time.Duration(r.IntN(300)) * time.Second), Command: f.command}
		if delay {
			rc.Action = dsn.Delayed
		}
		if !f.noMTA {
			rc.RemoteMTA = "mx." + dom
		}
		sev := classify.Hard
		if f.soft {
			sev = classify.Soft
		}
		rep.Recipients = append(rep.Recipients, rc)
		m.Results = append(m.Results, classify.Result{Cause: f.cause, Severity: sev, Scope: f.cause.Scope(), Rule: f.rule})
	}
	return len(rcpts)
}

// raw writes the notice: 3 to 5 KB of headers, the delivery-status part
// and the returned message, with a body of words that compresses as mail
// text does.
func (g *saveGen) raw(r *rand.Rand, rep *dsn.Report) []byte {
	var b bytes.Buffer
	b.Grow(5200)
	fmt.Fprintf(&b, "Return-Path: <>\r\nFrom: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: %s\r\n",
		rep.From, rep.To, rep.Subject, rep.MessageID, rep.Date.Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n")
	for _, rc := range rep.Recipients {
		fmt.Fprintf(&b, "<%s>: %s\r\n", rc.Recipient, rc.Diagnostic)
	}
	b.WriteString("\r\n--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mta1.lists.example.org\r\n\r\n")
	for _, rc := range rep.Recipients {
		fmt.Fprintf(&b, "Final-Recipient: rfc822; %s\r\nAction: %s\r\nStatus: %s\r\nDiagnostic-Code: smtp; %s\r\n\r\n",
			rc.Recipient, rc.Action, rc.Status, rc.Diagnostic)
	}
	o := &rep.Original
	fmt.Fprintf(&b, "--b1\r\nContent-Type: message/rfc822\r\n\r\nFrom: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\nList-Id: %s\r\n\r\n",
		o.From, o.To, o.Subject, o.MessageID, o.ListID)
	n := max(3000+r.IntN(2000)-b.Len(), 500)
	off := r.IntN(len(g.text) - n)
	b.WriteString(g.text[off : off+n])
	b.WriteString("\r\n--b1--\r\n")
	return b.Bytes()
}
