package web

import (
	"fmt"
	"html/template"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bounced/bounced/internal/classify"
)

// pageFuncs are the functions the page templates may call.
var pageFuncs = template.FuncMap{
	"when":     pageWhen,
	"day":      func(t time.Time) string { return t.UTC().Format(time.DateOnly) },
	"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"ago":      pageAgo,
	"explain":  explain,
	"swatch":   swatch,
	"count":    pageCount,
	"short":    shorten,
	"static":   staticURL,
	"headers":  originalFields,
	"causeFor": pageCauseFor,
}

// pageWhen writes a time for people: UTC, to the minute ("2026-11-03
// 14:05"), "never" for the zero time.
func pageWhen(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// pageAgo writes how long before now t was: "just now", "3 min ago",
// "5 h ago", "2 days ago" ("in 3 min" for a time ahead, "" for the zero
// time).
func pageAgo(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	ahead := d < 0
	if ahead {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		s = fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%d h", int(d/time.Hour))
	default:
		s = fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	}
	if ahead {
		return "in " + s
	}
	return s + " ago"
}

// pageCount writes a count with thousands separated: 12,345.
func pageCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

// causeWords says what each cause means, in words for people.
var causeWords = map[classify.Cause]string{
	classify.BadAddress:      "The mailbox does not exist",
	classify.BadDomain:       "The domain does not exist or takes no mail",
	classify.MailboxDisabled: "The mailbox is disabled, suspended or closed",
	classify.MailboxFull:     "The mailbox is full",
	classify.Oversize:        "The message is too large",
	classify.SpamContent:     "The content was rejected as spam",
	classify.Virus:           "The content was rejected as infected",
	classify.Blocklisted:     "The sending IP or domain is on a blocklist",
	classify.AuthFailure:     "The sender failed authentication (SPF, DKIM, DMARC)",
	classify.Policy:          "The receiving server's policy refused the sender",
	classify.RateLimited:     "The receiving server throttled the sender",
	classify.Expired:         "Delivery gave up after retrying too long",
	classify.NetworkError:    "The receiving server could not be reached",
	classify.ServerError:     "The receiving server had an error of its own",
	classify.ProtocolError:   "The SMTP conversation went wrong",
	classify.Unknown:         "The cause cannot be told from the notice",
}

// scopeWords says what a bounce of each scope means for the address.
var scopeWords = map[classify.Scope]string{
	classify.ScopeRecipient: "counts against the address",
	classify.ScopeMessage:   "about the message, not the address: does not count against it",
	classify.ScopeSender:    "about the sender's own delivery, not the address: does not count against it",
	classify.ScopeTransport: "trouble on the way, not the address: does not count against it",
	classify.ScopeUnknown:   "says nothing sure of the address: does not count against it",
}

// explain says in words what a recipient row means, from the cause
// taxonomy: "The mailbox does not exist (bad_address, hard, recipient
// scope): counts against the address".
func explain(kind, cause, severity, scope, feedback string) string {
	switch kind {
	case "complaint":
		what := "The recipient reported the message as abuse"
		if feedback != "" && feedback != "abuse" {
			what = "The recipient's provider reported the message (" + feedback + ")"
		}
		return what + " (complaint): counts against the address"
	case "delay":
		return "Delivery is delayed, the server keeps trying: " + lowerFirst(causeText(cause)) +
			" (" + joinNonEmpty(cause, severity, scopeName(scope)) + "): a warning, does not count against the address"
	}
	return causeText(cause) + " (" + joinNonEmpty(cause, severity, scopeName(scope)) + "): " + scopeText(scope)
}

func causeText(cause string) string {
	if w, ok := causeWords[classify.Cause(cause)]; ok {
		return w
	}
	return causeWords[classify.Unknown]
}

func scopeText(scope string) string {
	if w, ok := scopeWords[classify.Scope(scope)]; ok {
		return w
	}
	return scopeWords[classify.ScopeUnknown]
}

func scopeName(scope string) string {
	if scope == "" {
		return ""
	}
	return scope + " scope"
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ", ")
}

// pageCauseFor is what a row is coloured and labelled by: its cause, or
// "complaint".
func pageCauseFor(kind, cause string) string {
	if kind == "complaint" || cause == "" {
		return "complaint"
	}
	return cause
}

// pageField is a name and a value to show.
type pageField struct{ Name, Value string }

// originalFields lists what a notice says of the original message (from
// the stored JSON object): the known fields first, then the correlation
// headers in order of name.
func originalFields(orig map[string]any) []pageField {
	var out []pageField
	for _, k := range []struct{ key, name string }{
		{"from", "From"}, {"to", "To"}, {"subject", "Subject"}, {"date", "Date"}, {"list_id", "List-Id"},
	} {
		if v, ok := orig[k.key].(string); ok && v != "" {
			out = append(out, pageField{k.name, v})
		}
	}
	if h, ok := orig["headers"].(map[string]any); ok {
		var hs []pageField
		for k, v := range h {
			hs = append(hs, pageField{k, fmt.Sprint(v)})
		}
		sort.Slice(hs, func(i, j int) bool { return hs[i].Name < hs[j].Name })
		out = append(out, hs...)
	}
	return out
}
