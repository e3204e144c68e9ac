package dsn

import (
	"strings"
	"time"
)

// statusFields is what one delivery-status part says (RFC 3464 2.2, 2.3).
type statusFields struct {
	reportingMTA string
	arrival      time.Time
	recipients   []Recipient
}

// parseStatusFields reads the fields of a delivery-status part. Recipient
// blocks start at Original-Recipient or Final-Recipient rather than at blank
// lines, so blocks split by junk or blank lines (QUIRK: seen from several
// MTAs) and blocks with no blank line before them both read right. Fields
// of unknown names are ignored (RFC 3464 2.4 extension fields).
func parseStatusFields(text string) statusFields {
	var sf statusFields
	var cur *Recipient
	var seen map[string]bool // per-recipient fields of the current block
	var last string          // the per-recipient field read last
	// A block starts where a per-recipient field repeats, or at an
	// Original-Recipient that follows a complete block, so that blocks split
	// by junk or blank lines, blocks without a blank line before them and
	// fields in any order (QUIRK: Amazon SES starts with Action; Postfix and
	// SES put Original-Recipient right after Final-Recipient) all read right.
	at := func(key string) *Recipient {
		if cur == nil || seen[key] || key == "x-actual-recipient" && seen["final-recipient"] ||
			key == "original-recipient" && last != "final-recipient" && seen["final-recipient"] &&
				(seen["action"] || seen["status"] || seen["diagnostic-code"]) {
			sf.recipients = append(sf.recipients, Recipient{})
			cur = &sf.recipients[len(sf.recipients)-1]
			seen = map[string]bool{}
		}
		seen[key] = true
		last = key
		return cur
	}
	forEachField(text, func(key, value string) {
		switch key {
		case "reporting-mta": // RFC 3464 2.2.2
			if sf.reportingMTA == "" {
				sf.reportingMTA = stripType(value)
			}
		case "arrival-date": // RFC 3464 2.2.5
			sf.arrival = parseDate(value)
		case "original-recipient": // RFC 3464 2.3.1
			at(key).OriginalRecipient = normalizeAddress(stripType(value))
		case "final-recipient": // RFC 3464 2.3.2
			at(key).Recipient = normalizeAddress(stripType(value))
		case "x-actual-recipient":
			if cur != nil && cur.Recipient != "" {
				return
			}
			at("final-recipient").Recipient = normalizeAddress(stripType(value))
		case "action": // RFC 3464 2.3.3
			at(key).Action = parseAction(value)
		case "status": // RFC 3464 2.3.4
			r := at(key)
			if s, ok := findStatus(stripComments(value)); ok {
				r.Status = s
			}
			// QUIRK: Sendmail puts the reason in a comment when it has no
			// Diagnostic-Code: "4.0.0 (example.net: host name lookup failure)".
			if i, j := strings.IndexByte(value, '('), strings.LastIndexByte(value, ')'); i >= 0 && j > i+1 && r.Diagnostic == "" {
				if c := strings.TrimSpace(value[i+1 : j]); !isStockComment(c) {
					r.Diagnostic = c
				}
			}
		case "remote-mta": // RFC 3464 2.3.5
			at(key).RemoteMTA = stripType(value)
		case "diagnostic-code": // RFC 3464 2.3.6
			at(key).Diagnostic = diagnosticText(value)
		case "last-attempt-date": // RFC 3464 2.3.7
			at(key).LastAttempt = parseDate(value)
		}
	})
	// Drop blocks that name nobody and say nothing.
	out := sf.recipients[:0]
	for _, r := range sf.recipients {
		if strings.HasPrefix(r.Recipient, "@") || r.Recipient == "" && r.OriginalRecipient != "" ||
			!strings.Contains(r.Recipient, "@") && strings.Contains(r.OriginalRecipient, "@") {
			// QUIRK: Sendmail's "@host" when it lost the local part; an
			// x-local final address when the original one is complete.
			r.Recipient = r.OriginalRecipient
		}
		if r.Recipient == "" && r.Action == "" && r.Status.IsZero() && r.Diagnostic == "" {
			continue
		}
		out = append(out, r)
	}
	sf.recipients = out
	return sf
}

// isStockComment reports whether a Status comment only restates the class.
func isStockComment(c string) bool {
	switch asciiLower(c) {
	case "permanent failure", "temporary failure", "persistent transient failure", "success", "delivered",
		"permanent error", "transient failure", "other address status", "unknown", "undefined status":
		return true
	}
	return false
}

// forEachField calls fn for every field of text that statusKeys names, with
// the name lower-cased and continuation lines unfolded. Blank lines, junk
// lines and other fields are skipped.
func forEachField(text string, fn func(key, value string)) {
	var key string
	var val string    // the value when it is one line: a slice of text
	var folded []byte // the value when continuation lines follow
	emit := func() {
		if key != "" {
			if folded != nil {
				val = string(folded)
			}
			fn(key, strings.TrimSpace(val))
		}
		key, val, folded = "", "", nil
	}
	for len(text) > 0 {
		line, rest, _ := strings.Cut(text, "\n")
		text = rest
		line = strings.TrimRight(line, "\r")
		if line == "" {
			emit()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if key != "" {
				if folded == nil {
					folded = append([]byte(nil), val...)
				}
				folded = append(folded, ' ')
				folded = append(folded, strings.TrimSpace(line)...)
			}
			continue
		}
		emit()
		k, v, ok := strings.Cut(line, ":")
		if !ok || !isFieldName(k) {
			continue
		}
		key = statusKey(strings.TrimSpace(k))
		val = strings.TrimSpace(v)
	}
	emit()
}

// statusKeys are the delivery-status (RFC 3464) and feedback-report (RFC
// 5965) fields bounced reads, lower-case.
var statusKeys = []string{
	"reporting-mta", "arrival-date", "original-recipient", "final-recipient", "x-actual-recipient", "action",
	"status", "remote-mta", "diagnostic-code", "last-attempt-date", "feedback-type", "user-agent",
	"original-mail-from", "original-rcpt-to", "source-ip", "received-date", "reported-domain",
}

// statusKey returns a field name lower-cased when bounced reads the field,
// else "".
func statusKey(k string) string {
	if k == "" {
		return ""
	}
	first := k[0] | 0x20 // ASCII lower case
	for _, c := range statusKeys {
		if len(c) == len(k) && c[0] == first && strings.EqualFold(c, k) {
			return c
		}
	}
	return ""
}

func isFieldName(s string) bool {
	s = strings.TrimRight(s, " ")
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 127 {
			return false
		}
	}
	return true
}

// stripType removes an RFC 3464 2.1.2 type ("rfc822;", "dns;", "smtp;") and
// surrounding comments and space.
func stripType(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, ';'); i >= 0 && i < 16 && !strings.ContainsAny(v[:i], " @<") {
		v = v[i+1:]
	}
	return strings.TrimSpace(stripComments(v))
}

// stripComments removes RFC 5322 3.2.2 comments "(...)" from a short field.
func stripComments(v string) string {
	if !strings.Contains(v, "(") {
		return strings.TrimSpace(v)
	}
	var b strings.Builder
	depth := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return strings.TrimSpace(b.String())
}

// diagnosticText returns the text of a Diagnostic-Code (RFC 3464 2.3.6):
// the part after the diagnostic type, whatever the type.
func diagnosticText(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, ';'); i > 0 && i < 20 && !strings.ContainsAny(v[:i], " <@") {
		v = strings.TrimSpace(v[i+1:])
	}
	return collapseSpace(v)
}

func parseAction(v string) Action {
	v = asciiLower(stripComments(v))
	if i := strings.IndexAny(v, " \t;"); i >= 0 {
		v = v[:i]
	}
	switch {
	case strings.HasPrefix(v, "fail"):
		return Failed
	case strings.HasPrefix(v, "delay"):
		return Delayed
	case v == "delivered" || v == "deliverable":
		return ActDelivered
	case v == "relayed":
		return Relayed
	case v == "expanded":
		return Expanded
	}
	return unknownAction
}

// collapseSpace folds runs of white space (line ends included) into one
// space and trims both ends.
func collapseSpace(s string) string {
	s = strings.TrimSpace(s)
	clean := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f' || (c == ' ' && i+1 < len(s) && s[i+1] == ' ') {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	b := make([]byte, 0, len(s))
	space := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\n', '\r', '\t', '\v', '\f':
			space = true
		default:
			if space {
				b = append(b, ' ')
				space = false
			}
			b = append(b, c)
		}
	}
	return string(b)
}
