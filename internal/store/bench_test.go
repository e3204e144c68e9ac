package store

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
	"github.com/bounced/bounced/internal/pgtest"
)

// BenchmarkSave measures Save with batches like the daemon's: 1,000
// notices a transaction with a checkpoint, about 1.35 recipients each, the
// causes in the proportions a list sender meets, drawn from 200,000
// addresses so that the suppression upkeep finds earlier rows of most
// addresses as the tables fill. It reports recipient rows a second
// ("rows/s"); ns/op is one batch. scripts/store-figures runs it;
// scripts/storebench measures the same on a 10-million-row data set.
//
//	raw:        Save, one batch after another, the raw notices kept
//	            (KeepRaw), 3-5 KB each; the time making batches is taken off
//	noraw:      the same without the raw notices
//	pipelined:  one writer as the daemon writes a mailbox: the next batch
//	            is made and prepared (Prepare) while the last is written
//	            (SavePrepared); raw kept, nothing taken off
//	pipelined-noraw: the same without the raw notices
//	parallel2:  two writers, each saving the batches of its own mailbox
//	parallel2-noraw: the same without the raw notices
//	resave:     batches already stored saved again, as after a crash: all
//	            duplicates (rows/s counts the rows offered)
func BenchmarkSave(b *testing.B) {
	b.Run("raw", func(b *testing.B) { benchSave(b, Options{KeepRaw: true}, 1) })
	b.Run("noraw", func(b *testing.B) { benchSave(b, Options{}, 1) })
	b.Run("pipelined", func(b *testing.B) { benchPipelined(b, Options{KeepRaw: true}) })
	b.Run("pipelined-noraw", func(b *testing.B) { benchPipelined(b, Options{}) })
	b.Run("parallel2", func(b *testing.B) { benchSave(b, Options{KeepRaw: true}, 2) })
	b.Run("parallel2-noraw", func(b *testing.B) { benchSave(b, Options{}, 2) })
	b.Run("resave", benchResave)
}

// benchBatch is the number of notices a Save.
const benchBatch = 1000

func benchOpen(b *testing.B, opt Options) *Store {
	b.Helper()
	ctx := context.Background()
	s, err := Open(ctx, pgtest.URL(b), opt)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	if _, err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	return s
}

// benchSave saves b.N batches from workers goroutines, each reading a
// mailbox of its own.
func benchSave(b *testing.B, opt Options, workers int) {
	s := benchOpen(b, opt)
	ctx := context.Background()
	gens := make([]*benchGen, workers)
	for w := range gens {
		gens[w] = newBenchGen(fmt.Sprintf("INBOX.%d", w), uint64(w+1))
	}
	var (
		next    atomic.Int64
		rows    atomic.Int64
		genTime atomic.Int64 // time spent making batches, taken off
		wg      sync.WaitGroup
		failed  atomic.Value
	)
	b.ResetTimer()
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for j := 0; ; j++ {
				k := int(next.Add(1) - 1)
				if k >= b.N {
					return
				}
				t := time.Now()
				batch, n := gens[w].batch(j) // the worker's own sequence: its mailbox's UIDs
				genTime.Add(int64(time.Since(t)))
				got, err := s.Save(ctx, batch)
				if err == nil && (got.Messages != benchBatch || got.Bounces != n) {
					err = fmt.Errorf("batch %d saved %+v, want %d messages and %d rows", k, got, benchBatch, n)
				}
				if err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				rows.Add(int64(n))
			}
		})
	}
	wg.Wait()
	// Each worker makes its own batches: with one worker the time making
	// them is taken off whole, with several it overlaps the others' saves
	// and is shared out.
	elapsed := time.Since(start) - time.Duration(genTime.Load()/int64(workers))
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(rows.Load())/elapsed.Seconds(), "rows/s")
	b.ReportMetric(float64(rows.Load())/float64(b.N), "rows/op")
}

// benchPipelined saves b.N batches of one mailbox with one writer, the
// next batch made and prepared while the last is written.
func benchPipelined(b *testing.B, opt Options) {
	s := benchOpen(b, opt)
	ctx := context.Background()
	gen := newBenchGen("INBOX", 1)
	type job struct {
		p    *Prepared
		rows int
	}
	jobs := make(chan job, 1) // one batch ready while one is written
	b.ResetTimer()
	go func() {
		defer close(jobs)
		for k := range b.N {
			batch, n := gen.batch(k)
			p, err := s.Prepare(batch)
			if err != nil {
				panic(err) // every generated message has a mailbox
			}
			jobs <- job{p, n}
		}
	}()
	rows := 0
	for j := range jobs {
		got, err := s.SavePrepared(ctx, j.p)
		if err != nil {
			b.Fatal(err)
		}
		if got.Messages != benchBatch || got.Bounces != j.rows {
			b.Fatalf("saved %+v, want %d messages and %d rows", got, benchBatch, j.rows)
		}
		rows += j.rows
	}
	b.StopTimer()
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
}

// benchResave stores a few batches, then saves them again and again: each
// Save finds all its messages stored and writes nothing.
func benchResave(b *testing.B) {
	s := benchOpen(b, Options{KeepRaw: true})
	ctx := context.Background()
	gen := newBenchGen("INBOX", 1)
	const distinct = 20
	batches := make([]Batch, distinct)
	counts := make([]int, distinct)
	for k := range batches {
		batches[k], counts[k] = gen.batch(k)
		if _, err := s.Save(ctx, batches[k]); err != nil {
			b.Fatal(err)
		}
	}
	rows := 0
	b.ResetTimer()
	for i := range b.N {
		k := i % distinct
		got, err := s.Save(ctx, batches[k])
		if err != nil {
			b.Fatal(err)
		}
		if got != (Saved{Duplicates: benchBatch}) {
			b.Fatalf("saving batch %d again: %+v", k, got)
		}
		rows += counts[k]
	}
	b.StopTimer()
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
}

// benchGen makes the batches of one mailbox. Batch k is the same every
// time it is asked for.
type benchGen struct {
	mailbox string
	seed    uint64
	w       *benchWorld
}

func newBenchGen(mailbox string, seed uint64) *benchGen {
	return &benchGen{mailbox: mailbox, seed: seed, w: benchWorldOnce()}
}

// benchWorld is what every generator shares: the addresses and their
// domains.
type benchWorld struct {
	addrs []string
	hot   []string // a few thousand addresses that bounce often
	words []string
	// text is a megabyte of words in lines, for bodies: each takes a
	// piece at random, farther apart than gzip's window.
	text string
}

var benchWorldOnce = sync.OnceValue(func() *benchWorld {
	r := rand.New(rand.NewPCG(42, 42))
	// A few big providers take most addresses; a long tail of 20,000
	// domains shares the rest, skewed.
	big := []struct {
		name string
		w    float64
	}{
		{"gmail.com", 30}, {"yahoo.com", 8}, {"hotmail.com", 6}, {"outlook.com", 5}, {"icloud.com", 3},
		{"aol.com", 2}, {"gmx.de", 2}, {"web.de", 1.5}, {"orange.fr", 1.2}, {"comcast.net", 1},
		{"mail.ru", 1}, {"yandex.ru", 0.8}, {"libero.it", 0.6}, {"t-online.de", 0.6}, {"free.fr", 0.5},
	}
	const tail = 20000
	zipf := rand.NewZipf(r, 1.1, 1, tail-1)
	words := strings.Fields(benchWords)
	tailName := func(i uint64) string {
		return fmt.Sprintf("%s-%s%d.%s", words[i%uint64(len(words))], words[(i/7)%uint64(len(words))], i,
			[]string{"com", "net", "org", "de", "co.uk", "fr", "nl", "io"}[i%8])
	}
	var bigW float64
	for _, d := range big {
		bigW += d.w
	}
	domain := func() string {
		if x := r.Float64() * 100; x < bigW {
			for _, d := range big {
				if x -= d.w; x < 0 {
					return d.name
				}
			}
		}
		return tailName(zipf.Uint64())
	}
	const n = 200000
	w := &benchWorld{addrs: make([]string, 0, n), words: words}
	seen := make(map[string]bool, n)
	for len(w.addrs) < n {
		a := fmt.Sprintf("%s.%s%d@%s", words[r.IntN(len(words))], words[r.IntN(len(words))], r.IntN(1000), domain())
		if !seen[a] {
			seen[a] = true
			w.addrs = append(w.addrs, a)
		}
	}
	w.hot = w.addrs[:5000]
	var sb strings.Builder
	for col := 0; sb.Len() < 1<<20; {
		word := words[r.IntN(len(words))]
		sb.WriteString(word)
		if col += len(word) + 1; col > 70 {
			sb.WriteString("\r\n")
			col = 0
		} else {
			sb.WriteByte(' ')
		}
	}
	w.text = sb.String()
	return w
})

// benchCause is a cause with its share of the rows, its usual codes and
// text, for bounces and for delays.
type benchCause struct {
	cause      classify.Cause
	bounce     float64 // share among bounce rows, percent
	delay      float64 // share among delay rows
	status     string
	code       int
	text       string
	softBounce float64 // the part of its bounces that are soft
}

var benchCauses = []benchCause{
	{classify.BadAddress, 22, 0, "5.1.1", 550, "5.1.1 <%s>: Recipient address rejected: User unknown in virtual mailbox table", 0.03},
	{classify.BadDomain, 3, 0, "5.1.2", 0, "Host or domain name not found. Name service error for name=%s type=MX: Host not found", 0},
	{classify.MailboxDisabled, 4, 0, "5.2.1", 550, "5.2.1 The email account that you tried to reach is disabled. %s", 0},
	{classify.MailboxFull, 8, 10, "4.2.2", 452, "4.2.2 The email account that you tried to reach is over quota. %s", 0.7},
	{classify.Oversize, 0.5, 0, "5.3.4", 552, "5.3.4 Message size exceeds fixed limit (%s)", 0},
	{classify.SpamContent, 8, 0, "5.7.1", 550, "5.7.1 Message rejected as spam by Content Filtering (%s)", 0},
	{classify.Virus, 0.1, 0, "5.7.0", 554, "5.7.0 Message contains a virus (Eicar-Test-Signature) %s", 0},
	{classify.Blocklisted, 12, 0, "5.7.1", 554, "5.7.1 Service unavailable; Client host [192.0.2.17] blocked using zen.spamhaus.org; %s", 0},
	{classify.AuthFailure, 3, 0, "5.7.26", 550, "5.7.26 This mail is unauthenticated, which poses a security risk to the sender and %s", 0},
	{classify.Policy, 6, 0, "5.7.1", 554, "5.7.1 <%s>: Relay access denied", 0},
	{classify.RateLimited, 6, 40, "4.7.28", 421, "4.7.28 Our system has detected an unusual rate of unsolicited mail originating from your IP address (%s)", 1},
	{classify.Expired, 5, 0, "4.4.7", 0, "delivery temporarily suspended: connect to mx.%s[203.0.113.9]:25: Connection timed out", 1},
	{classify.NetworkError, 4, 30, "4.4.1", 0, "connect to mx.%s[203.0.113.9]:25: Connection refused", 1},
	{classify.ServerError, 3, 20, "4.3.0", 451, "4.3.0 Temporary server error. Please try again later (%s)", 1},
	{classify.ProtocolError, 0.4, 0, "5.5.1", 503, "5.5.1 Bad sequence of commands (%s)", 0},
	{classify.Unknown, 6, 0, "", 554, "Transaction failed (%s)", 0},
}

// pick draws a cause for a row of kind k.
func pickCause(r *rand.Rand, delay bool) *benchCause {
	var total float64
	for i := range benchCauses {
		total += weight(&benchCauses[i], delay)
	}
	x := r.Float64() * total
	for i := range benchCauses {
		if x -= weight(&benchCauses[i], delay); x < 0 {
			return &benchCauses[i]
		}
	}
	return &benchCauses[len(benchCauses)-1]
}

func weight(c *benchCause, delay bool) float64 {
	if delay {
		return c.delay
	}
	return c.bounce
}

// batch makes batch k and says how many recipient rows it holds.
func (g *benchGen) batch(k int) (Batch, int) {
	r := rand.New(rand.NewPCG(g.seed, uint64(k)))
	// Batches follow one another an hour apart, ending now.
	at := time.Now().Add(-time.Duration(10000-k%10000) * time.Hour).Truncate(time.Second)
	msgs := make([]Message, benchBatch)
	rows := 0
	for i := range msgs {
		uid := uint32(k*benchBatch + i + 1)
		received := at.Add(time.Duration(i) * 7 * time.Second)
		m := &msgs[i]
		*m = Message{Account: "bounces@lists.example.org", Mailbox: g.mailbox, UIDValidity: 1, UID: uid, ReceivedAt: received}
		var addrs []string
		switch n := r.IntN(100); {
		case n < 78:
			addrs = g.addresses(r, 1)
		case n < 92:
			addrs = g.addresses(r, 2)
		case n < 97:
			addrs = g.addresses(r, 3)
		default:
			addrs = g.addresses(r, 4+r.IntN(3))
		}
		id := fmt.Sprintf("%s.%d.%d.%d@mta.example.net", strings.ReplaceAll(g.mailbox, ".", "-"), g.seed, k, i)
		rep := &dsn.Report{
			Format: "rfc3464", MessageID: id, From: "MAILER-DAEMON@mta1.lists.example.org",
			To: "bounces@lists.example.org", Date: received, ReportingMTA: "mta1.lists.example.org",
			Original: dsn.Original{
				MessageID: fmt.Sprintf("c%d.%d.%d@lists.example.org", k/24, i, g.seed),
				From:      "Weekly News <news@lists.example.org>", To: addrs[0],
				Subject: "This week: " + g.w.words[k%40], Date: received.Add(-time.Hour),
				ListID: "<weekly.lists.example.org>", Headers: map[string]string{"X-Campaign-ID": fmt.Sprintf("c-%d", k/24)},
			},
		}
		m.Report, m.Raw = rep, nil
		switch n := r.IntN(100); {
		case n < 4:
			rep.Kind, rep.Format, rep.Subject = dsn.Complaint, "arf", "Abuse report"
			rep.Feedback = &dsn.Feedback{Type: "abuse", OriginalRcptTo: addrs[:1], ArrivalDate: received.Add(-time.Minute)}
			rows++
		case n < 22:
			rep.Kind, rep.Subject = dsn.Delay, "Delivery Status Notification (Delay)"
			rows += g.recipients(r, m, addrs, true)
		default:
			rep.Kind, rep.Subject = dsn.Bounce, "Undelivered Mail Returned to Sender"
			rows += g.recipients(r, m, addrs, false)
		}
		m.Raw = benchRaw(r, rep)
	}
	last := uint32(k*benchBatch + benchBatch)
	return Batch{Messages: msgs, Checkpoint: &Checkpoint{Account: "bounces@lists.example.org", Mailbox: g.mailbox, UIDValidity: 1, LastUID: last}}, rows
}

// addresses draws n addresses of one domain, as one notice lists them: a
// fifth of the time from the hot few.
func (g *benchGen) addresses(r *rand.Rand, n int) []string {
	pool := g.w.addrs
	if r.IntN(5) == 0 {
		pool = g.w.hot
	}
	first := pool[r.IntN(len(pool))]
	out := []string{first}
	dom := domainOf(first)
	for try := 0; len(out) < n && try < 50; try++ {
		a := pool[r.IntN(len(pool))]
		if strings.HasSuffix(a, "@"+dom) && !strings.Contains(strings.Join(out, " "), a) {
			out = append(out, a)
		}
	}
	for len(out) < n { // a rare domain: other addresses will do
		a := pool[r.IntN(len(pool))]
		if !strings.Contains(strings.Join(out, " "), a) {
			out = append(out, a)
		}
	}
	return out
}

// recipients fills the recipients of a bounce or delay and their
// classification.
func (g *benchGen) recipients(r *rand.Rand, m *Message, addrs []string, delay bool) int {
	rep := m.Report
	c := pickCause(r, delay)
	for _, a := range addrs {
		if r.IntN(4) == 0 { // recipients of one notice mostly share a cause
			c = pickCause(r, delay)
		}
		sev := classify.Hard
		if delay || r.Float64() < c.softBounce {
			sev = classify.Soft
		}
		action, status, code := dsn.Failed, c.status, c.code
		if delay {
			action = dsn.Delayed
			if status != "" {
				status = "4" + status[1:]
			}
			if code >= 500 {
				code -= 100
			}
		}
		st, _ := dsn.ParseStatus(status)
		text := fmt.Sprintf(c.text, a)
		if code > 0 {
			text = fmt.Sprintf("%d %s", code, text)
		}
		rep.Recipients = append(rep.Recipients, dsn.Recipient{
			Recipient: a, OriginalRecipient: a, Action: action, Status: st, ReplyCode: code,
			Diagnostic: text, RemoteMTA: "mx." + domainOf(a), LastAttempt: m.ReceivedAt.Add(-time.Duration(r.IntN(600)) * time.Second),
		})
		m.Results = append(m.Results, classify.Result{Cause: c.cause, Severity: sev, Scope: c.cause.Scope(), Rule: "status:" + status})
	}
	return len(addrs)
}

// benchRaw writes a notice of 3 to 5 KB: headers, the human part, the
// delivery-status part and the returned message with a body of words, so
// that it compresses as mail text does.
func benchRaw(r *rand.Rand, rep *dsn.Report) []byte {
	var sb bytes.Buffer
	sb.Grow(5200)
	fmt.Fprintf(&sb, "Return-Path: <>\r\nReceived: from mta1.lists.example.org by mx.lists.example.org; %s\r\n", rep.Date.Format(time.RFC1123Z))
	fmt.Fprintf(&sb, "From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: %s\r\n", rep.From, rep.To, rep.Subject, rep.MessageID, rep.Date.Format(time.RFC1123Z))
	sb.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n--b1\r\n")
	sb.WriteString("Content-Type: text/plain\r\n\r\nThis is the mail system at host mta1.lists.example.org.\r\n\r\nI'm sorry to have to inform you that your message could not\r\nbe delivered to one or more recipients.\r\n\r\n")
	for _, rc := range rep.Recipients {
		fmt.Fprintf(&sb, "<%s>: %s\r\n", rc.Recipient, rc.Diagnostic)
	}
	sb.WriteString("\r\n--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mta1.lists.example.org\r\n\r\n")
	for _, rc := range rep.Recipients {
		fmt.Fprintf(&sb, "Final-Recipient: rfc822; %s\r\nAction: %s\r\nStatus: %s\r\nRemote-MTA: dns; %s\r\nDiagnostic-Code: smtp; %s\r\n\r\n",
			rc.Recipient, rc.Action, rc.Status, rc.RemoteMTA, rc.Diagnostic)
	}
	o := &rep.Original
	fmt.Fprintf(&sb, "--b1\r\nContent-Type: message/rfc822\r\n\r\nFrom: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\nList-Id: %s\r\nX-Campaign-ID: %s\r\n\r\n",
		o.From, o.To, o.Subject, o.MessageID, o.ListID, o.Headers["X-Campaign-ID"])
	body := benchWorldOnce().text
	n := max(3000+r.IntN(2000)-sb.Len(), 500)
	off := r.IntN(len(body) - n)
	sb.WriteString(body[off : off+n])
	sb.WriteString("\r\n--b1--\r\n")
	return sb.Bytes()
}

const benchWords = `news letter week offer spring summer autumn winter garden kitchen travel city river
mountain coast island market price member account update report event ticket concert festival museum
library school course lesson recipe bread coffee cheese apple orange lemon berry tomato pepper onion
garlic olive butter sugar flour honey green blue red yellow silver golden bright quiet early late
morning evening weekend holiday family friend neighbour community project volunteer donation support
thanks welcome invite reminder notice special limited exclusive fresh local organic simple classic
modern smart quick easy better together today tomorrow monday tuesday wednesday thursday friday`
