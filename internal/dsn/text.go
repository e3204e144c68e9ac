package dsn

import (
	"html"
	"slices"
	"strings"

	"github.com/bounced/bounced/internal/phrase"
)

// Reading notices that are not RFC 3464 reports: the human-readable text of
// Postfix, qmail, Exim, Sendmail, Exchange, Gmail and the rest. The approach
// is generic: cut the text where the returned message starts, find the
// addresses the notice names, and take the text that follows each address
// as its diagnostic. MTA-specific knowledge lives in the phrase tables.

// originMarkers are phrases of the line that starts the returned message
// in a plain-text notice, lower-cased; the line must also look like a
// marker (decorated, or ending in ":" or "."). boxedMarkers are shorter
// phrases that also occur in prose, so their line must be boxed in dashes
// or the like ("----- Original message -----").
var (
	originMarkers = []string{
		"below this line is a copy of the message",    // qmail
		"this is a copy of the message",               // Exim
		"copy of your message",                        // several
		"original message follows",                    // many
		"original message headers",                    // Exchange
		"message headers follow",                      // DragonFly dma
		"unsent message follows",                      // Sendmail
		"returned message follows",                    //
		"header of the original message",              // Japanese MTAs
		"headers of the original message",             //
		"original message header",                     //
		"text you sent follows",                       // Courier
		"undelivered message headers",                 //
		"message header follows",                      //
		"returned mail follows",                       //
		"start of returned message",                   //
		"copy of the message header",                  // MXLogic
		"content-type: message/rfc822",                //
		"content-type: text/rfc822-headers",           //
		"the first 500 characters of the message are", //
		"below is a copy of the original message",     // OpenSMTPD
		"original mail as follows",                    // fml
	}
	boxedMarkers = []string{
		"original message", // Gmail
		"returned message", // Lotus Notes
		"rejected message", //
		"original mail",    //
		"mensaje original", // es
		"message d'origine",
		"ursprüngliche nachricht",
		"messaggio originale",
		"oorspronkelijk bericht",
		"mensagem original",
		"元のメッセージ",
		"原始邮件",
	}
)

// splitOriginal returns where the returned message starts in a notice
// text: the start of the marker line, or len(text) when there is none.
func splitOriginal(text string) int {
	for off := 0; off < len(text); {
		end := strings.IndexByte(text[off:], '\n')
		if end < 0 {
			end = len(text) - off
		}
		if isOriginMarker(text[off : off+end]) {
			// The notice ends before the marker line; what follows it
			// is the returned message.
			return off
		}
		off += end + 1
	}
	return len(text)
}

// notMarkers are phrases of lines that look like markers and are not
// (Sendmail's "The original message was received at ...").
var notMarkers = []string{"was received", "could not"}

// isOriginMarker reports whether a line starts the returned message.
func isOriginMarker(line string) bool {
	t := strings.TrimSpace(line)
	if len(t) < 8 || len(t) > 100 {
		return false
	}
	boxed := strings.IndexByte("-=*_[<", t[0]) >= 0
	decorated := boxed || strings.HasSuffix(t, ":") || strings.HasSuffix(t, ".") || strings.HasSuffix(t, "-") ||
		hasSuffixFold(t, "follows") || hasPrefixFold(t, "content-type")
	if !decorated {
		return false
	}
	found := markerPhrases.Mask(t)
	return found&notMask == 0 && (found&originMask != 0 || boxed && found&boxedMask != 0)
}

// quotedHeader reads the header of a message quoted after the marker.
func quotedHeader(quoted string, extra []string) header {
	// Skip blank lines and decoration before the header.
	for len(quoted) > 0 {
		line, rest, _ := strings.Cut(quoted, "\n")
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "---") && !strings.HasPrefix(t, "===") {
			break
		}
		quoted = rest
	}
	// QUIRK: some notices indent the quoted header.
	if strings.HasPrefix(quoted, " ") || strings.HasPrefix(quoted, "\t") {
		var b strings.Builder
		for _, l := range strings.Split(quoted, "\n") {
			if len(l) > 2 && (l[0] == ' ' || l[0] == '\t') && strings.Contains(strings.SplitN(l, " ", 4)[min(2, len(strings.SplitN(l, " ", 4))-1)], ":") {
				l = strings.TrimLeft(l, " \t")
			}
			b.WriteString(l)
			b.WriteByte('\n')
		}
		quoted = b.String()
	}
	h, _, _ := readHeader(&sliceLines{b: []byte(quoted)}, extra, nil)
	ok := false
	for _, f := range h {
		switch f.key {
		case "from", "to", "subject", "message-id", "date", "received", "return-path":
			ok = true
		}
	}
	if !ok {
		return nil
	}
	return h
}

// Phrases that tell a notice from ordinary mail, lower-cased.
var (
	bounceSubjects = []string{
		"undeliver", "undelivered", "delivery status notification", "delivery failure", "delivery has failed",
		"failure notice", "returned mail", "mail delivery failed", "delivery failed", "non remis", "non-remis",
		"nondeliverable", "non-deliverable", "could not send message", "mail system error", "unzustellbar",
		"nicht zustellbar", "no se puede entregar", "no entregado", "non consegnato", "non recapitato",
		"onbestelbaar", "niet afgeleverd", "message not delivered", "delivery notification", "returned to sender",
		"warning: could not send", "delayed mail", "delivery delay", "delivery delayed", "error sending message",
		"mail failure", "bounce", "不達", "未送達", "退信", "配信エラー", "配送エラー", "returned message",
		"mail could not be delivered", "delivery problem", "rejected", "failed delivery", "unable to deliver",
		"notificación de estado", "notification d'état", "falha na entrega", "não entregue", "échec de la remise",
		"mensagem não entregue", "devuelto", "mail delivery subsystem", "delivery report", "nicht zugestellt",
		"fehlgeschlagen", "undeliverable", "message delayed", "delivery warning", "could not be delivered",
		"投递失败", "发送失败", "無法投遞", "エラー", "送信できませんでした",
		"are not member", "loop alert", // QUIRK: fml mailing-list manager
		"no se ha podido entregar", "配送できませんでした", "配信できませんでした", "无法送达", "投递失败",
	}
	bounceBody = []string{
		"could not be delivered", "couldn't be delivered", "was not delivered", "undeliverable",
		"delivery to the following recipient", "permanent error", "permanent fatal error", "delivery has failed",
		"failed to deliver", "unable to deliver", "the following address(es) failed", "wasn't able to deliver",
		"did not reach", "delivery failed", "returned to sender", "could not deliver", "rejected your message",
		"error delivering", "not be delivered", "transcript of session follows", "smtp error", "delivery problem",
		"your message to", "following recipients failed", "following addresses had", "failed recipient",
		"mail delivery failed", "message was not sent", "not able to deliver", "could not be sent",
		"ne peut pas être remis", "n'a pas pu être remis", "pas pu être délivré", "konnte nicht zugestellt",
		"nicht zugestellt werden", "no se pudo entregar", "no ha podido ser entregado", "não pôde ser entregue",
		"não foi possível entregar", "non è stato possibile consegnare", "non può essere consegnato",
		"kon niet worden afgeleverd", "niet worden bezorgd", "配信できません", "送信できませんでした", "届きませんでした",
		"宛先不明", "未送達", "无法投递", "无法送达", "退信", "投递失败", "will keep trying", "will continue trying",
		"has been delayed", "not yet been delivered", "delivery is delayed", "this is a warning message",
		"message could not", "delivery status notification", "has not been delivered", "delivery to these recipients",
		"not a member of this mailing list", "duplicated message-id", // QUIRK: fml
		"failure reasons", "no se ha podido entregar", "配送できませんでした", // Notes, es, ja
		"delivery to the following", "attempting to deliver", "invalid user address", "requested action not taken", "could not be delivered to", "host unknown", "user unknown", "mailbox unavailable", "no such user",
	}
	delayPhrases = []string{
		"will continue trying", "will keep trying", "will retry", "still trying", "has been delayed",
		"delivery delayed", "delayed delivery", "not yet been delivered", "this is a warning message",
		"delivery is delayed", "will be retried", "temporarily deferred", "delivery attempts will continue",
		"has not yet been", "delay notification", "delivery delay", "will try again", "retry for",
		"wird weiterhin versucht", "essaiera encore", "seguirá intentando", "continuerà a tentare",
		"おくれています", "遅延", "延迟",
	}
	permanentPhrases = []string{
		"permanent error", "permanently", "given up", "gave up", "giving up", "permanent fatal", "unrecoverable",
		"could not be delivered", "failed permanently", "not be delivered", "delivery has failed", "undeliverable",
	}
)

// autoReplyBody are the phrases of an auto-reply's text.
var autoReplyBody = []string{
	"i am out of the office", "i'm out of the office", "i am currently out of", "i will be out of",
	"this is an automatic reply", "this is an automated reply", "to verify that you are",
	"confirm that you are a human",
}

// The phrase tables, compiled once into one matcher for notices and one for
// subjects: each text is scanned once, whatever the number of phrases.
const (
	grpBounce = iota
	grpDelay
	grpPermanent
	grpAutoReply
)

var (
	noticePhrases  = newGroups(bounceBody, delayPhrases, permanentPhrases, autoReplyBody)
	subjectPhrases = newGroups(bounceSubjects, []string{"delay", "warning"}, nil, autoReplySubjects)
	// markerPhrases holds originMarkers, then boxedMarkers, then
	// notMarkers, at most 64 in all: a line is scanned once.
	markerPhrases = phrase.New(slices.Concat(originMarkers, boxedMarkers, notMarkers))
	originMask    = uint64(1)<<len(originMarkers) - 1
	boxedMask     = (uint64(1)<<len(boxedMarkers) - 1) << len(originMarkers)
	notMask       = ^(originMask | boxedMask)
)

// groups is one phrase.Matcher over several lists; list g holds the ids
// from start[g] to start[g+1].
type groups struct {
	m     *phrase.Matcher
	start []int32
}

func newGroups(lists ...[]string) *groups {
	g := &groups{start: []int32{0}}
	var all []string
	for _, l := range lists {
		all = append(all, l...)
		g.start = append(g.start, int32(len(all)))
	}
	g.m = phrase.New(all)
	return g
}

// scan returns the phrases found in text.
func (g *groups) scan(text string, found *phrase.Set) { g.m.Scan(text, found) }

// maxPhraseScan bounds the part of a notice searched for the phrases that
// tell its kind: they come first, before any quoted text.
const maxPhraseScan = 16 << 10

// noticeHas reports whether the notice holds a phrase of list n of
// noticePhrases; the notice is scanned on the first call.
func (m *msg) noticeHas(n int) bool {
	if !m.scanned {
		m.scanned = true
		// The phrases that tell a notice are in its first lines.
		noticePhrases.scan(m.lnotice[:min(len(m.lnotice), maxPhraseScan)], &m.found)
		subjectPhrases.scan(m.subject, &m.subjFound)
	}
	return noticePhrases.has(&m.found, n)
}

// subjectHas is noticeHas for the subject and subjectPhrases.
func (m *msg) subjectHas(n int) bool {
	m.noticeHas(0)
	return subjectPhrases.has(&m.subjFound, n)
}

// has reports whether found holds a phrase of list n.
func (g *groups) has(found *phrase.Set, n int) bool {
	return found.Any(g.start[n], g.start[n+1])
}

// readText reads a plain-text notice.
func (m *msg) readText(rep *Report, notice string) {
	subject := asciiLower(rep.Subject)
	from := asciiLower(rep.From)
	fromSystem := strings.Contains(from, "mailer-daemon") || strings.Contains(from, "mailer daemon") || strings.Contains(from, "post_master") || strings.Contains(from, "postmaster") ||
		strings.Contains(from, "mail delivery") || strings.Contains(from, "mail-daemon") || strings.Contains(from, "maildaemon")
	subjBounce := m.subjectHas(grpBounce)
	bodyBounce := m.noticeHas(grpBounce)
	if !(fromSystem && (subjBounce || bodyBounce)) && !(subjBounce && bodyBounce) && !(bodyBounce && m.origFound) && !m.top.has("x-failed-recipients") {
		return
	}
	if strings.HasPrefix(m.top.get("auto-submitted"), "auto-replied") && !fromSystem && !bodyBounce {
		return
	}
	// A person's reply about something "not delivered" is not a notice.
	if !fromSystem && m.top.has("in-reply-to") && isReplySubject(subject) {
		return
	}
	rep.Format = "text"

	kind := Bounce
	if (m.noticeHas(grpDelay) || m.subjectHas(grpDelay)) && !m.noticeHas(grpPermanent) {
		kind = Delay
	}
	rep.Kind = kind
	action := Failed
	if kind == Delay {
		action = Delayed
	}

	addrs := m.noticeAddresses(rep, notice)
	if len(addrs) == 0 {
		r := Recipient{Action: action, Diagnostic: trimDiagnostic(notice)}
		if m.origFound {
			// The notice names nobody: the original's only recipient it is.
			if to := findAddresses(m.orig.get("to"), 2); len(to) == 1 {
				r.Recipient = to[0].addr
			}
		}
		r.ReplyCode, r.Status = codes(r.Diagnostic)
		rep.Recipients = append(rep.Recipients, r)
		return
	}
	for i, a := range addrs {
		end := len(notice)
		if i+1 < len(addrs) {
			end = lineStart(notice, addrs[i+1].start)
		}
		// A block also ends where a line starts with another address
		// (QUIRK: mail.ru repeats the list in a second language).
		if nl := strings.IndexByte(notice[a.start:], '\n'); nl >= 0 {
			for _, o := range findAddresses(notice[a.start+nl:end], 20) {
				at := a.start + nl + o.start
				if !strings.EqualFold(o.addr, a.addr) && startsLine(notice, at) {
					end = lineStart(notice, at)
					break
				}
			}
		}
		start := lineStart(notice, a.start)
		if start > end {
			start = a.start
		}
		block := notice[start:end]
		if len(addrs) == 1 && findReplyCode(block) == 0 {
			if _, ok := findStatus(block); !ok {
				block = notice
			}
		}
		r := Recipient{Recipient: a.addr, Action: action, Diagnostic: trimDiagnostic(block)}
		r.ReplyCode, r.Status = codes(r.Diagnostic)
		r.Command = smtpCommand(r.Diagnostic)
		rep.Recipients = append(rep.Recipients, r)
	}
}

// isReplySubject reports whether a subject starts as a reply's does.
func isReplySubject(s string) bool {
	for _, p := range []string{"re:", "aw:", "sv:", "antw:", "res:", "r:", "回复:", "答复:"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// noticeAddresses returns the failed recipients a plain-text notice names,
// in order, each once: X-Failed-Recipients (Exim) first, then addresses in
// the text that are not the sender's, the notice's own or the mail
// system's.
func (m *msg) noticeAddresses(rep *Report, notice string) []addrSpan {
	var out []addrSpan
	seen := map[string]bool{}
	lnotice := m.lnotice
	for _, a := range findAddresses(m.top.get("x-failed-recipients"), 50) {
		k := asciiLower(a.addr)
		if seen[k] {
			continue
		}
		seen[k] = true
		// Offsets point into the notice, where the address is named.
		a.start, a.end = 0, 0
		if i := strings.Index(lnotice, k); i >= 0 {
			a.start, a.end = i, i+len(k)
		}
		out = append(out, a)
	}
	if len(out) > 0 {
		slices.SortStableFunc(out, func(a, b addrSpan) int { return a.start - b.start })
		return out
	}
	// The sender's, the notice's own and the mail system's addresses are
	// not recipients, unless they start a line of their own.
	skip := map[string]bool{}
	for _, a := range []string{rep.From, rep.To, m.top.get("return-path"), m.top.get("reply-to")} {
		if n := normalizeAddress(a); n != "" {
			skip[asciiLower(n)] = true
		}
		for _, s := range findAddresses(a, 4) {
			skip[asciiLower(s.addr)] = true
		}
	}
	if m.origFound {
		for _, s := range findAddresses(m.orig.get("from"), 2) {
			skip[asciiLower(s.addr)] = true
		}
	}
	// Most notices list failed recipients one per line ("<a@b>: host said",
	// "  a@b", "a@b on <date>"); when some addresses stand so, only those
	// count, and prose mentions ("please contact <postmaster@...>", "To:
	// a@b") do not.
	var strong, weak []addrSpan
	for _, a := range findAddresses(notice, 200) {
		k := asciiLower(a.addr)
		if seen[k] || isSystemAddress(a.addr) || inHeaderLine(notice, a.start) || afterSenderCommand(notice, a.start) {
			continue
		}
		if startsLine(notice, a.start) {
			seen[k] = true
			strong = append(strong, a)
		} else if !skip[k] {
			weak = append(weak, a)
		}
		if len(strong) >= 100 {
			break
		}
	}
	if len(strong) > 0 {
		return strong
	}
	for _, a := range weak {
		k := asciiLower(a.addr)
		if !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	return out
}

// startsLine reports whether the address at i is the first thing on its
// line, as failed recipients are in most notices.
func startsLine(s string, i int) bool {
	return strings.TrimLeft(s[nearLineStart(s, i):i], " \t<\"'") == ""
}

// lineStart returns the offset of the start of the line holding offset i.
// nearLineStart is lineStart looking back at most 160 bytes: the checks
// that use it read the text just before an address, and an unbounded look
// back over a long line (HTML reduced to text) for every address would cost
// time quadratic in the line.
func nearLineStart(s string, i int) int {
	from := max(0, i-160)
	return from + strings.LastIndexByte(s[from:i], '\n') + 1
}

func lineStart(s string, i int) int {
	return strings.LastIndexByte(s[:i], '\n') + 1
}

// inHeaderLine reports whether the address at i sits in a quoted header
// line (From:, Received: ...) rather than in the notice's own text.
func inHeaderLine(s string, i int) bool {
	line := strings.TrimLeft(s[nearLineStart(s, i):i], " \t>")
	for _, p := range []string{"from:", "return-path:", "reply-to:", "sender:", "message-id:", "received:", "envelope-from", "in-reply-to:", "references:", "list-", "x-"} {
		if hasPrefixFold(line, p) {
			return true
		}
	}
	return false
}

// afterSenderCommand reports whether the address at i is the argument of
// MAIL FROM, i.e. the sender, not a recipient.
func afterSenderCommand(s string, i int) bool {
	before := asciiLower(s[max(0, i-16):i])
	if strings.Contains(before, "mail from") || strings.Contains(before, "envelope-from") || strings.Contains(before, "sender") {
		return true
	}
	// "For further assistance, please contact <postmaster@...>"
	line := asciiLower(s[nearLineStart(s, i):i])
	return strings.Contains(line, "contact") || strings.Contains(line, "assistance") || strings.Contains(line, "send mail to") ||
		strings.Contains(line, "write to") || strings.Contains(line, "questions")
}

// textAbout returns the lines of notice that concern addr: from its first
// mention to the end of its paragraph, or further while no reply code has
// been seen (QUIRK: Sendmail gives the reason, then the transcript), up to
// the next recipient's line, at most 20 lines.
func textAbout(notice, lnotice, addr string) string {
	i := -1
	if len(lnotice) == len(notice) {
		i = strings.Index(lnotice, asciiLower(addr))
	}
	if i < 0 {
		return ""
	}
	start := lineStart(notice, i)
	rest := notice[start:]
	end, coded := 0, false // the block is rest[:end]; has it a reply code?
	for n := 0; n < 20 && end < len(rest); n++ {
		line, _, _ := strings.Cut(rest[end:], "\n")
		next := min(end+len(line)+1, len(rest))
		if strings.TrimSpace(line) == "" {
			if end > len(addr)+8 && coded {
				break
			}
			end = next
			continue
		}
		if n > 0 && end > 0 {
			if a := findAddresses(line, 1); len(a) == 1 && startsLine(line, a[0].start) && !strings.EqualFold(a[0].addr, addr) {
				break
			}
		}
		coded = coded || findReplyCode(line) != 0
		end = next
	}
	return trimDiagnostic(rest[:end])
}

// trimDiagnostic unfolds a block of notice text into one line, dropping
// decoration lines, at most 1,000 bytes.
func trimDiagnostic(s string) string {
	b := make([]byte, 0, min(len(s), 1024))
	for rest := s; rest != "" && len(b) <= 1000; {
		line, r, _ := strings.Cut(rest, "\n")
		rest = r
		t := strings.TrimSpace(line)
		if t == "" || strings.Trim(t, "-=*_# ") == "" {
			continue
		}
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = append(b, t...)
	}
	out := collapseSpace(string(b))
	if len(out) > 1000 {
		out = out[:1000]
		for len(out) > 0 && out[len(out)-1]&0xC0 == 0x80 {
			out = out[:len(out)-1]
		}
		if len(out) > 0 && out[len(out)-1] >= 0xC0 {
			out = out[:len(out)-1]
		}
	}
	return out
}

// Auto-reply evidence: RFC 3834 headers and well-known subjects.
var autoReplySubjects = []string{
	"auto:", "automatic reply", "autoreply", "auto-reply", "auto reply", "automatische antwort",
	"out of office", "out of the office", "abwesenheitsnotiz", "abwesend", "réponse automatique",
	"reponse automatique", "absence", "respuesta automática", "respuesta automatica", "fuera de la oficina",
	"resposta automática", "resposta automatica", "ausente", "risposta automatica", "fuori sede",
	"automatisch antwoord", "afwezig", "vacation", "away from", "on vacation", "on leave", "holiday",
	"自動応答", "自動返信", "不在", "自动回复", "自動回覆", "out-of-office", "ooo:", "urlaub",
	"please confirm", "confirm your", "verify your", "challenge", "anti-spam", "spam protection",
}

func (m *msg) isAutoReply() bool {
	h := m.top
	as := asciiLower(h.get("auto-submitted"))
	if strings.HasPrefix(as, "auto-replied") { // RFC 3834 5.1
		return true
	}
	for _, k := range []string{"x-autoreply", "x-autorespond", "x-autoresponder", "x-mail-autoreply", "x-autogenerated", "x-vacation"} {
		if h.has(k) {
			return true
		}
	}
	switch asciiLower(strings.TrimSpace(h.get("precedence"))) {
	case "auto_reply", "auto-reply":
		return true
	}
	return m.subjectHas(grpAutoReply) || m.noticeHas(grpAutoReply)
}

// indexFold returns the first index of sub (lower-case, starting with '<')
// in s, ignoring ASCII case, or -1.
func indexFold(s, sub string) int {
	for off := 0; ; {
		i := strings.IndexByte(s[off:], sub[0])
		if i < 0 {
			return -1
		}
		if hasPrefixFold(s[off+i:], sub) {
			return off + i
		}
		off += i + 1
	}
}

// htmlToText reduces HTML to its text, one line per block element.
func htmlToText(s string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(s) / 2)
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			break
		}
		tag := s[i+1 : i+j]
		switch {
		case hasPrefixFold(tag, "br"), hasPrefixFold(tag, "/p"), hasPrefixFold(tag, "/div"), hasPrefixFold(tag, "/tr"),
			hasPrefixFold(tag, "p"), hasPrefixFold(tag, "/h"), hasPrefixFold(tag, "/li"):
			b.WriteByte('\n')
		case hasPrefixFold(tag, "style"), hasPrefixFold(tag, "script"):
			end := "</style"
			if hasPrefixFold(tag, "script") {
				end = "</script"
			}
			if k := indexFold(s[i:], end); k > 0 {
				j = k
			}
		case hasPrefixFold(tag, "/td"):
			b.WriteByte(' ')
		}
		s = s[i+j+1:]
	}
	return html.UnescapeString(b.String())
}
