package dsn

import (
	"strings"
)

// finish turns what the MIME walk collected into the Report.
func (m *msg) finish(rep *Report) {
	h := m.top
	rep.MessageID = strings.Trim(h.get("message-id"), "<> ")
	rep.From = h.text("from")
	rep.To = h.text("to")
	rep.Subject = collapseSpace(h.text("subject"))
	rep.Date = parseDate(h.get("date"))

	text := strings.Join(m.texts, "\n")
	if strings.TrimSpace(text) == "" && len(m.htmlOnly) > 0 {
		text = htmlToText(strings.Join(m.htmlOnly, "\n"))
	}
	ltext := asciiLower(text)
	cut := splitOriginal(ltext)
	notice, quoted := text[:cut], text[cut:]
	if _, after, ok := strings.Cut(quoted, "\n"); ok {
		quoted = after // past the marker line
	} else {
		quoted = ""
	}
	m.lnotice = ltext[:cut]

	// The original message: returned as a part, else quoted in the text.
	if !m.origFound && quoted != "" {
		if oh := quotedHeader(quoted); len(oh) > 0 {
			m.orig, m.origFound = oh, true
		}
	}

	switch {
	case m.feedback != "" || m.reportType == "feedback-report":
		m.readFeedback(rep)
	case len(m.status) > 0:
		m.readStatus(rep, notice)
	case isOptOut(h, text):
		// An unsubscribe request sent by a mail client (Apple Mail's
		// "unsubscribe" button, RFC 2369 List-Unsubscribe mailto:) is the
		// recipient asking to stop: recorded as a complaint.
		rep.Kind = Complaint
		rep.Format = "unsubscribe"
		rep.Feedback = &Feedback{Type: "unsubscribe", OriginalRcptTo: []string{normalizeAddress(rep.From)}}
	case hasEmbeddedStatus(ltext):
		// QUIRK: a forwarded notice, its delivery-status part now text.
		m.status = append(m.status, text)
		m.readStatus(rep, notice)
		rep.Format = "forwarded-rfc3464"
	default:
		if !readSESJSON(rep, text) {
			m.readText(rep, notice)
		}
	}

	if m.origFound {
		rep.Original = m.original(m.orig)
	}

	if rep.Kind == NotBounce || rep.Kind == "" {
		rep.Kind = NotBounce
		if isAutoReply(h, rep.Subject, notice) {
			rep.Kind = AutoReply
			rep.Format = "rfc3834"
		}
	}
	m.applyVERP(rep)
	for i := range rep.Recipients {
		r := &rep.Recipients[i]
		if r.ReportingMTA == "" {
			r.ReportingMTA = rep.ReportingMTA
		}
		if r.Action == unknownAction {
			r.Action = Failed
			if rep.Kind == Delay {
				r.Action = Delayed
			}
		}
	}
}

// readStatus reads the delivery-status parts of an RFC 3464 report.
func (m *msg) readStatus(rep *Report, notice string) {
	rep.Format = "rfc3464"
	for _, part := range m.status {
		sf := parseStatusFields(part)
		if rep.ReportingMTA == "" {
			rep.ReportingMTA = sf.reportingMTA
		}
		if rep.ArrivalDate.IsZero() {
			rep.ArrivalDate = sf.arrival
		}
		rep.Recipients = append(rep.Recipients, sf.recipients...)
	}
	if len(rep.Recipients) == 0 {
		// QUIRK: an empty or unreadable delivery-status part; the text may
		// still say who failed.
		m.readText(rep, notice)
		return
	}
	var failed, delayed, delivered int
	for i := range rep.Recipients {
		r := &rep.Recipients[i]
		m.completeFromText(r, notice)
		switch r.Action {
		case Failed, unknownAction:
			failed++
		case Delayed:
			delayed++
		default:
			delivered++
		}
	}
	switch {
	case failed > 0:
		rep.Kind = Bounce
		// A report of several outcomes keeps the failed and delayed
		// recipients; the delivered ones need no action.
		if delivered > 0 {
			keep := rep.Recipients[:0]
			for _, r := range rep.Recipients {
				if r.Action == Failed || r.Action == Delayed || r.Action == unknownAction {
					keep = append(keep, r)
				}
			}
			rep.Recipients = keep
		}
	case delayed > 0:
		rep.Kind = Delay
		keep := rep.Recipients[:0]
		for _, r := range rep.Recipients {
			if r.Action == Delayed {
				keep = append(keep, r)
			}
		}
		rep.Recipients = keep
	default:
		rep.Kind = Delivered
	}
}

// isOptOut reports whether the message is an unsubscribe request sent to a
// list's opt-out address.
func isOptOut(h header, text string) bool {
	to := strings.ToLower(normalizeAddress(h.get("to")))
	subj := strings.ToLower(strings.TrimSpace(h.get("subject")))
	if (strings.HasPrefix(to, "opt-out") || strings.HasPrefix(to, "unsubscribe")) && (subj == "unsubscribe" || strings.Contains(strings.ToLower(text), "unsubscribe")) {
		return true
	}
	return strings.Contains(text, "sent this email to unsubscribe")
}

// hasEmbeddedStatus reports whether a lower-cased text quotes delivery-status
// fields.
func hasEmbeddedStatus(ltext string) bool {
	i := strings.Index(ltext, "\nfinal-recipient:")
	return i >= 0 && (strings.Contains(ltext[max(0, i-2000):], "\naction:") || strings.Contains(ltext[i:], "\nstatus:"))
}

// completeFromText fills what a recipient block leaves out from the codes
// inside its own diagnostic, then from what the human-readable part says of
// the same address.
func (m *msg) completeFromText(r *Recipient, notice string) {
	if r.Action == ActDelivered || r.Action == Relayed || r.Action == Expanded {
		if r.ReplyCode == 0 {
			r.ReplyCode, _ = positiveCodes(r.Diagnostic)
		}
		return
	}
	code, st := codes(r.Diagnostic)
	if r.ReplyCode == 0 {
		r.ReplyCode = code
	}
	if r.Command == "" {
		r.Command = smtpCommand(asciiLower(r.Diagnostic))
	}
	// The remote server's own code in the diagnostic is more precise than
	// the Status field the reporting MTA derived (QUIRK: Sendmail writes
	// 5.1.1 for "550 5.7.1 IP address blacklisted"; Amazon SES writes
	// "5.0.0 (permanent failure)").
	if !isVague(st) || r.Status.IsZero() {
		if !st.IsZero() {
			r.Status = st
		}
	}
	if r.Diagnostic != "" && r.ReplyCode != 0 && !isVague(r.Status) && r.Command != "" {
		return
	}
	if r.Recipient == "" || notice == "" {
		return
	}
	d := textAbout(notice, m.lnotice, r.Recipient)
	if d == "" {
		return
	}
	code, st = codes(d)
	if r.Command == "" {
		r.Command = smtpCommand(asciiLower(d))
	}
	if r.Diagnostic == "" || (r.ReplyCode == 0 && code != 0 && len(r.Diagnostic) < 40) {
		r.Diagnostic = d
	}
	if r.ReplyCode == 0 {
		r.ReplyCode = code
	}
	if !st.IsZero() && (r.Status.IsZero() || isVague(r.Status) && !isVague(st)) {
		r.Status = st
	}
}

// isVague reports whether a status says no more than its class (x.0.0).
func isVague(s Status) bool {
	return s.Subject == 0 && s.Detail == 0
}

// original reads the Original fields from a returned message's header.
func (m *msg) original(h header) Original {
	o := Original{
		MessageID: strings.Trim(h.get("message-id"), "<> "),
		From:      h.text("from"),
		To:        h.text("to"),
		Subject:   collapseSpace(h.text("subject")),
		Date:      parseDate(h.get("date")),
		ListID:    h.text("list-id"),
	}
	for _, name := range m.p.CorrelationHeaders {
		if v := h.text(lowerASCII(name)); v != "" {
			if o.Headers == nil {
				o.Headers = make(map[string]string, len(m.p.CorrelationHeaders))
			}
			o.Headers[name] = v
		}
	}
	return o
}

// applyVERP decodes the recipient from the address the notice was sent to,
// and uses it when the notice names none.
func (m *msg) applyVERP(rep *Report) {
	v := m.p.VERP
	if v == nil || v.Separator == "" || v.At == "" || rep.Kind != Bounce && rep.Kind != Delay {
		return
	}
	var addr string
	for _, key := range []string{"x-original-to", "delivered-to", "envelope-to", "to"} {
		if a := decodeVERP(v, normalizeAddress(m.top.get(key))); a != "" {
			addr = a
			break
		}
	}
	if addr == "" {
		return
	}
	if len(rep.Recipients) == 0 {
		rep.Recipients = append(rep.Recipients, Recipient{Recipient: addr})
		return
	}
	for i := range rep.Recipients {
		if rep.Recipients[i].Recipient == "" {
			rep.Recipients[i].Recipient = addr
		}
	}
}

// decodeVERP turns bounces+alice=example.com@lists.example.org into
// alice@example.com, or "" when addr is not of that form.
func decodeVERP(v *VERP, addr string) string {
	local, _, ok := strings.Cut(addr, "@")
	if !ok {
		return ""
	}
	prefix, enc, ok := strings.Cut(local, v.Separator)
	if !ok {
		return ""
	}
	if len(v.Prefixes) > 0 {
		found := false
		for _, p := range v.Prefixes {
			found = found || strings.EqualFold(p, prefix)
		}
		if !found {
			return ""
		}
	}
	i := strings.LastIndex(enc, v.At)
	if i <= 0 || i+len(v.At) >= len(enc) {
		return ""
	}
	dom := enc[i+len(v.At):]
	if !strings.Contains(dom, ".") {
		return ""
	}
	return enc[:i] + "@" + strings.ToLower(dom)
}
