package main

import (
	"crypto/sha256"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// Turning notices and events into the columns of message and bounce rows.
// Each notice draws from a generator seeded with its index, so that the
// two COPY streams agree on what they both say of it.

// The lists campaigns go out on.
var lists = [...]struct{ from, id, name string }{
	{"Weekly News <news@lists.example.org>", "<weekly.lists.example.org>", "weekly"},
	{"Example Shop Offers <offers@lists.example.org>", "<offers.lists.example.org>", "offers"},
	{"Example Events <events@news.example.com>", "<events.news.example.com>", "events"},
}

var subjectWords = strings.Fields(`spring summer autumn winter garden kitchen travel city river mountain
	coast island market festival museum library recipe coffee cheese concert weekend holiday family
	community project volunteer special limited exclusive fresh local organic classic modern new best`)

// campaignID names campaign c as its correlation header gives it.
func (w *world) campaignID(c int32) string {
	t := time.UnixMicro(w.campaigns[c].at).UTC()
	return fmt.Sprintf("%s-%s-%d", t.Format("2006-01-02"), lists[w.campaigns[c].list].name, c)
}

func (w *world) campaignSubject(c int32) string {
	h := uint64(c)*0x9E3779B97F4A7C15 ^ w.seed
	return fmt.Sprintf("%s: %s %s and more (#%d)", strings.ToUpper(lists[w.campaigns[c].list].name[:1])+lists[w.campaigns[c].list].name[1:],
		subjectWords[h%uint64(len(subjectWords))], subjectWords[(h>>20)%uint64(len(subjectWords))], c+1)
}

// style is who wrote a notice.
type style uint8

const (
	stOurs      style = iota // our outbound MTA (Postfix), for a refusal during the SMTP transaction
	stGmail                  // Gmail, after accepting the message
	stMicrosoft              // Exchange Online
	stYahoo                  // Yahoo's plain text notice
	stExim                   // an Exim relay
	stQmail                  // a qmail relay
)

// renderer makes rows; one per goroutine.
type renderer struct {
	d   *data
	pcg *rand.PCG
	r   *rand.Rand
	sb  strings.Builder
}

func newRenderer(d *data) *renderer {
	p := rand.NewPCG(0, 0)
	return &renderer{d: d, pcg: p, r: rand.New(p)}
}

// seed makes the generator draw notice i's stream number stream.
func (x *renderer) seed(i int, stream uint64) {
	x.pcg.Seed(x.d.seed^uint64(i)*0x9E3779B97F4A7C15, stream)
}

// uniq is a 36-bit number that differs for every notice.
func (x *renderer) uniq(i int) uint64 {
	return (uint64(i)*0x9E3779B97 + x.d.seed*0x123456789) & (1<<36 - 1)
}

// head is what both streams need of notice i.
type head struct {
	style     style
	messageID string
	reporting string // the reporting MTA, "" when none
	mta       int    // which of our MTAs sent the campaign
}

func (x *renderer) head(i int) head {
	x.seed(i, 1)
	n := &x.d.notices[i]
	r := x.r
	h := head{mta: 1 + r.IntN(4)}
	u := x.uniq(i)
	at := time.UnixMicro(n.at).UTC()
	var dom *domain
	if n.first >= 0 {
		e := &x.d.events[x.d.order[n.first]]
		dom = &x.d.domains[x.d.addrs[e.addr].domain]
	}
	switch n.kind {
	case nkBounce, nkDelay:
		if r.IntN(100) >= 82 {
			switch dom.flavor {
			case flGmail:
				h.style = stGmail
			case flMicrosoft:
				h.style = stMicrosoft
			case flYahoo:
				h.style = stYahoo
			case flBig:
				if r.IntN(2) == 0 {
					h.style = stExim
				}
			default:
				h.style = stExim + style(r.IntN(2))
			}
		}
		switch h.style {
		case stOurs:
			h.messageID = fmt.Sprintf("%s.%09X@mta%d.lists.example.org", at.Format("20060102150405"), u, h.mta)
			h.reporting = fmt.Sprintf("mta%d.lists.example.org", h.mta)
		case stGmail:
			h.messageID = fmt.Sprintf("%08x.%09x.%04x.%s@mx.google.com", at.Unix(), u, r.IntN(1<<16), "dsn")
			h.reporting = "googlemail.com"
		case stMicrosoft:
			h.messageID = fmt.Sprintf("%09X-%04X@AM6PR04MB%04d.eurprd04.prod.outlook.com", u, r.IntN(1<<16), r.IntN(10000))
			h.reporting = fmt.Sprintf("AM6PR04MB%04d.eurprd04.prod.outlook.com", r.IntN(10000))
		case stYahoo:
			h.messageID = fmt.Sprintf("%d.%d.%d@mail.yahoo.com", at.Unix(), u, r.IntN(1000))
		case stExim:
			h.messageID = fmt.Sprintf("E1t%09X-00%04X-%02d@%s", u, r.IntN(1<<16), r.IntN(100), dom.mx)
			h.reporting = dom.mx
		case stQmail:
			h.messageID = fmt.Sprintf("%d.%d.qmail@%s", at.Unix(), u, dom.mx)
		}
	case nkComplaint:
		h.messageID = fmt.Sprintf("%09x.%x.fbl@feedback.%s", u, at.Unix(), fblHost(dom))
	case nkAutoReply:
		h.messageID = fmt.Sprintf("%09x.%d.autoreply@%s", u, r.IntN(1e6), x.d.domains[r.IntN(len(x.d.domains))].name)
	case nkDelivered:
		h.messageID = fmt.Sprintf("%s.%09X@mta%d.lists.example.org", at.Format("20060102150405"), u, h.mta)
	default:
		h.messageID = fmt.Sprintf("CA%09X%04X.%d@mail.%s", u, r.IntN(1<<16), r.IntN(1e6), x.d.domains[r.IntN(len(x.d.domains))].name)
	}
	return h
}

func fblHost(d *domain) string {
	switch d.flavor {
	case flMicrosoft:
		return "hotmail.com"
	case flYahoo:
		return "yahoo.com"
	}
	return d.name
}

// messageRow fills the columns of messageCols for notice i.
func (x *renderer) messageRow(i int, v []any) {
	d := x.d
	n := &d.notices[i]
	h := x.head(i)
	x.seed(i, 2)
	r := x.r
	at := time.UnixMicro(n.at)
	var (
		account, mailbox string
		uidValidity      int64
		source           any
	)
	switch n.box {
	case boxMain:
		account, mailbox, uidValidity = "bounces@lists.example.org", "INBOX", 1690000000
		if n.at >= d.recreated {
			uidValidity = 1720000000
		}
	case boxNews:
		account, mailbox, uidValidity = "bounces@news.example.com", "INBOX", 1650000000
	default:
		account, mailbox, source = "", "import", fmt.Sprintf("/srv/mail/archive/bounces-%s.mbox", at.UTC().Format("2006-01"))
	}
	digest := sha256.Sum256([]byte(h.messageID))
	var (
		addr    string
		camp    int32 = -1
		dom     *domain
		members = int(n.n)
	)
	if n.first >= 0 {
		e := &d.events[d.order[n.first]]
		addr, camp, dom = d.addrs[e.addr].email, e.camp, &d.domains[d.addrs[e.addr].domain]
	} else {
		camp = d.pickCampaign(r, 0, int32(len(d.campaigns)))
		if n.at < d.campaigns[camp].at {
			camp = 0
		}
		a := &d.addrs[r.IntN(len(d.addrs))]
		addr, dom = a.email, &d.domains[a.domain]
	}
	subject := d.campaignSubject(camp)
	var sender, nsubject, format string
	switch n.kind {
	case nkBounce, nkDelay:
		delay := n.kind == nkDelay
		switch h.style {
		case stOurs:
			sender, format = fmt.Sprintf("MAILER-DAEMON@mta%d.lists.example.org (Mail Delivery System)", h.mta), "rfc3464"
			nsubject = pick(delay, "Delayed Mail (still being retried)", "Undelivered Mail Returned to Sender")
		case stGmail:
			sender, format = "Mail Delivery Subsystem <mailer-daemon@googlemail.com>", "rfc3464"
			nsubject = pick(delay, "Delivery Status Notification (Delay)", "Delivery Status Notification (Failure)")
		case stMicrosoft:
			sender, format = "Microsoft Outlook <postmaster@outlook.com>", "rfc3464"
			nsubject = pick(delay, "Delivery delayed: ", "Undeliverable: ") + subject
		case stYahoo:
			sender, format, nsubject = "MAILER-DAEMON@yahoo.com", "text", "Failure Notice"
		case stExim:
			sender, format = "Mail Delivery System <Mailer-Daemon@"+dom.mx+">", "exim"
			nsubject = pick(delay, "Warning: message delayed 24 hours", "Mail delivery failed: returning message to sender")
		case stQmail:
			sender, format, nsubject = "MAILER-DAEMON@"+dom.mx, "qmail", "failure notice"
		}
	case nkComplaint:
		sender, format = "Feedback Loop <fbl@feedback."+fblHost(dom)+">", "arf"
		nsubject = "Complaint about message from 192.0.2." + itoa(10+r.IntN(40))
	case nkAutoReply:
		sender, format = addr, "rfc3834"
		nsubject = []string{"Automatic reply: ", "Out of Office: ", "Abwesenheitsnotiz: ", "Réponse automatique : "}[r.IntN(4)] + subject
	case nkDelivered:
		sender, format, nsubject = fmt.Sprintf("MAILER-DAEMON@mta%d.lists.example.org (Mail Delivery System)", h.mta), "rfc3464", "Successful Mail Delivery Report"
	default:
		sender, format, nsubject = addr, "", pick(r.IntN(3) == 0, "unsubscribe", "Re: "+subject)
	}
	var origID any
	original := "{}"
	hasOriginal := r.IntN(100) < 85
	if n.kind == nkComplaint {
		hasOriginal = r.IntN(100) < 98
	}
	switch {
	case n.kind <= nkComplaint && hasOriginal:
		l := &lists[d.campaigns[camp].list]
		id := originalID(d.campaignID(camp), addr)
		origID = id
		x.sb.Reset()
		x.sb.WriteString(`{"date": "`)
		x.sb.WriteString(time.UnixMicro(d.campaigns[camp].at).UTC().Format(time.RFC3339))
		x.sb.WriteString(`", "from": `)
		jsonString(&x.sb, l.from)
		x.sb.WriteString(`, "to": `)
		jsonString(&x.sb, addr)
		x.sb.WriteString(`, "subject": `)
		jsonString(&x.sb, subject)
		x.sb.WriteString(`, "list_id": `)
		jsonString(&x.sb, l.id)
		x.sb.WriteString(`, "headers": {"X-Campaign-ID": `)
		jsonString(&x.sb, d.campaignID(camp))
		x.sb.WriteString(`}}`)
		original = x.sb.String()
	case n.kind == nkAutoReply || n.kind == nkNotBounce:
		if r.IntN(2) == 0 {
			x.sb.Reset()
			x.sb.WriteString(`{"subject": `)
			jsonString(&x.sb, subject)
			x.sb.WriteString(`}`)
			original = x.sb.String()
		}
	}
	size := 1200 + int(math.Exp(7.5+0.6*r.NormFloat64()))
	if origID != nil {
		size += 4000 + r.IntN(30000)
	}
	size += 400 * max(members-1, 0)
	var parseErr any
	if r.IntN(500) == 0 {
		parseErr = []string{"reading delivery-status: unexpected EOF", "multipart: NextPart: EOF", "reading the returned message: malformed MIME header line"}[r.IntN(3)]
	}
	v[0] = int64(i + 1)
	v[1], v[2], v[3], v[4] = account, mailbox, uidValidity, int64(n.uid)
	if n.box == boxImport {
		v[3] = int64(0)
	}
	v[5], v[6], v[7] = digest[:], int64(size), source
	v[8] = at
	v[9] = at.Add(time.Duration(1+r.IntN(120)) * time.Second)
	v[10], v[11] = noticeKindNames[n.kind], format
	v[12], v[13], v[14] = h.messageID, sender, nsubject
	v[15], v[16], v[17], v[18] = origID, original, parseErr, int32(1)
}

var messageCols = []string{"id", "account", "mailbox", "uid_validity", "uid", "digest", "size", "source",
	"received_at", "stored_at", "kind", "format", "message_id", "sender", "subject", "original_message_id",
	"original", "parse_error", "parser_version"}

var bounceCols = []string{"message", "position", "notice_id", "kind", "recipient", "domain", "original_recipient",
	"action", "status", "reply_code", "diagnostic", "command", "remote_mta", "reporting_mta", "cause", "severity",
	"scope", "rule", "feedback_type", "bounced_at"}

// bounceRows calls emit with the columns of bounceCols for each recipient
// of notice i.
func (x *renderer) bounceRows(i int, v []any, emit func()) {
	d := x.d
	n := &d.notices[i]
	if n.n == 0 {
		return
	}
	h := x.head(i)
	x.seed(i, 3)
	r := x.r
	for p := range int(n.n) {
		e := &d.events[d.order[int(n.first)+p]]
		a := &d.addrs[e.addr]
		dom := &d.domains[a.domain]
		v[0], v[1], v[2] = int64(i+1), int16(p), h.messageID
		v[3], v[4], v[5] = kindNames[e.kind], a.email, dom.name
		v[6] = nil
		if r.IntN(100) < 40 {
			v[6] = a.email
		}
		v[19] = time.UnixMicro(e.at)
		if e.kind == kComplaint {
			ft := "abuse"
			if x := r.IntN(100); x >= 94 {
				ft = pick(x < 97, "fraud", "other")
			}
			v[7], v[8], v[9], v[10], v[11], v[12], v[13] = "complained", nil, nil, "", nil, nil, nil
			v[14], v[15], v[16], v[17], v[18] = nil, nil, "recipient", "complaint:"+ft, ft
			emit()
			continue
		}
		f := e.ref
		v[7] = pick(e.kind == kDelay, "delayed", "failed")
		v[8], v[9] = nonEmpty(f.status), nil
		if f.code > 0 {
			v[9] = int16(f.code)
		}
		x.sb.Reset()
		f.render(&x.sb, r, a.email, dom.name, dom.mx)
		v[10] = x.sb.String()
		v[11] = nonEmpty(f.command)
		v[12] = nil
		if !f.noMTA {
			v[12] = dom.mx
		}
		v[13] = nonEmpty(h.reporting)
		v[14], v[15] = string(f.cause), pick(f.soft, "soft", "hard")
		v[16], v[17], v[18] = string(f.cause.Scope()), f.rule, nil
		emit()
	}
}

// originalID is the Message-ID the list gave its message to addr.
func originalID(campaign, addr string) string {
	h := uint64(14695981039346656037)
	for i := 0; i < len(addr); i++ {
		h = (h ^ uint64(addr[i])) * 1099511628211
	}
	return fmt.Sprintf("%s.%012x@lists.example.org", campaign, h&(1<<48-1))
}

func pick(c bool, yes, no string) string {
	if c {
		return yes
	}
	return no
}

func nonEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// jsonString writes s as a JSON string.
func jsonString(sb *strings.Builder, s string) {
	sb.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(sb, `\u%04x`, c)
		default:
			sb.WriteByte(c)
		}
	}
	sb.WriteByte('"')
}
