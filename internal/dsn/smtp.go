package dsn

import (
	"strings"

	"github.com/bounced/bounced/internal/phrase"
)

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// findStatus returns the first RFC 3463 enhanced status code in text: class
// 2, 4 or 5, then one to three digits twice, standing alone (not inside an
// IP address, a version number or a longer number).
func findStatus(text string) (Status, bool) {
	for i := 0; i+5 <= len(text); i++ {
		c := text[i]
		if c != '2' && c != '4' && c != '5' {
			continue
		}
		if text[i+1] != '.' {
			continue
		}
		if i > 0 {
			if p := text[i-1]; isDigit(p) || p == '.' || p == '/' || p == '-' && i > 1 && isDigit(text[i-2]) {
				continue
			}
		}
		j := i + 2
		k := j
		for k < len(text) && isDigit(text[k]) && k-j < 4 {
			k++
		}
		if k == j || k-j > 3 || k >= len(text) || text[k] != '.' {
			continue
		}
		l := k + 1
		m := l
		for m < len(text) && isDigit(text[m]) && m-l < 4 {
			m++
		}
		if m == l || m-l > 3 {
			continue
		}
		if m < len(text) && (isDigit(text[m]) || text[m] == '.' && m+1 < len(text) && isDigit(text[m+1])) {
			continue
		}
		if s, ok := ParseStatus(text[i:m]); ok {
			return s, true
		}
	}
	return Status{}, false
}

// findReplyCode returns the first SMTP failure reply code (RFC 5321 4.2:
// three digits, first 4 or 5, then a space, a hyphen or the end) that stands alone in
// text, or 0.
func findReplyCode(text string) int {
	c, _ := replyCodeAt(text, '4')
	return c
}

// replyCodeAt is findReplyCode that also says where the code starts; codes
// whose first digit is below lowest are passed over.
func replyCodeAt(text string, lowest byte) (int, int) {
	for i := 0; i+3 <= len(text); i++ {
		c := text[i]
		if c < lowest || c > '5' || !isDigit(text[i+1]) || !isDigit(text[i+2]) || text[i+1] > '5' {
			continue
		}
		if i > 0 {
			p := text[i-1]
			if isDigit(p) || p == '.' || p == '-' || p == '/' || p == '+' || p == '#' || p == '_' || p == '=' ||
				'a' <= p && p <= 'z' || 'A' <= p && p <= 'Z' || p == ':' && i > 1 && isDigit(text[i-2]) {
				continue
			}
		}
		if i+3 < len(text) {
			n := text[i+3]
			if n != ' ' && n != '-' && n != '\n' && n != '\r' && n != '\t' && n != ')' && n != ']' && n != '"' && n != ',' && n != ';' && n != ':' {
				continue
			}
			// "250-300 ms", "550 2014" are not replies.
			if n == '-' && i+4 < len(text) && isDigit(text[i+4]) && !(i+5 < len(text) && text[i+5] == '.') {
				continue
			}
		}
		return int(c-'0')*100 + int(text[i+1]-'0')*10 + int(text[i+2]-'0'), i
	}
	return 0, -1
}

// codes extracts the reply code and enhanced status from a diagnostic text.
// A status is taken only when it agrees with the reply code's class, or when
// there is no reply code.
func codes(diag string) (code int, st Status) {
	first := 0
	defer func() {
		if code == 0 {
			code = first
		}
	}()
	// A status right after a reply code ("550 5.1.1", "550-'5.7.1") is the
	// remote server's own; prefer it to earlier ones a relay added.
	for rest := diag; ; {
		c, i := replyCodeAt(rest, '4')
		if c == 0 {
			break
		}
		if first == 0 {
			first = c
		}
		if code == 0 && !sendmailPrefix(rest[i:]) {
			// QUIRK: Sendmail's own "554 <a@b>... 550 Host unknown": the
			// remote server's code follows its prefix.
			code = c
		}
		after := strings.TrimLeft(rest[i+3:], " -'\"#(")
		if len(after) >= 5 {
			if st, ok := findStatus(after[:min(len(after), 12)]); ok && strings.HasPrefix(after, st.String()) && int(st.Class) == c/100 {
				return c, st
			}
		}
		rest = rest[i+3:]
	}
	st, _ = findStatus(diag)
	for st.Class == 2 {
		// A transcript's "250 2.1.5 Ok" is not the failure; look further.
		ss := st.String()
		diag = diag[strings.Index(diag, ss)+len(ss):]
		st, _ = findStatus(diag)
	}
	return code, st
}

// positiveCodes extracts the codes of a delivered or relayed recipient's
// diagnostic, where 2xx replies are the point.
func positiveCodes(diag string) (int, Status) {
	c, _ := replyCodeAt(diag, '2')
	st, _ := findStatus(diag)
	return c, st
}

// sendmailPrefix reports whether s starts "5xx <address>... " with a
// further reply code after it.
func sendmailPrefix(s string) bool {
	if len(s) < 6 || s[3] != ' ' || s[4] != '<' {
		return false
	}
	j := strings.Index(s, ">... ")
	return j > 0 && findReplyCode(s[j+5:min(len(s), j+9)]) != 0
}

// indexSpace returns the index of the first space or tab in s, or -1.
func indexSpace(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' || s[i] == '\t' {
			return i
		}
	}
	return -1
}

// hasSuffixFold reports whether s ends with suffix, ignoring ASCII case.
func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

// hasPrefixFold reports whether s starts with prefix, ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// commandPhrases tell which SMTP command a failure answered, as Postfix
// ("in reply to RCPT TO command"), Exim ("after RCPT TO:<a@b>") and others
// say it; the first found wins.
var commandPhrases = []struct{ phrase, command string }{
	{"in reply to end of data command", "DATA"},
	{"in reply to data command", "DATA"},
	{"in reply to rcpt to command", "RCPT"},
	{"in reply to mail from command", "MAIL"},
	{"in reply to helo command", "HELO"},
	{"in reply to ehlo command", "HELO"},
	{"after end of data", "DATA"},
	{"after rcpt to", "RCPT"},
	{"after mail from", "MAIL"},
	{"after initial connection", "CONNECT"},
	{"after ehlo", "HELO"},
	{"after helo", "HELO"},
	{"while performing the helo handshake", "HELO"},
	{"after pipelined data", "DATA"},
	{"did not like our rcpt to", "RCPT"},
	{"did not like our final data", "DATA"},
	{"did not like our mail from", "MAIL"},
}

var commandMatcher = func() *phrase.Matcher {
	ps := make([]string, len(commandPhrases))
	for i, p := range commandPhrases {
		ps[i] = p.phrase
	}
	return phrase.New(ps)
}()

// smtpCommand returns the command a notice text says the failure answered,
// or "".
func smtpCommand(text string) string {
	var found phrase.Set
	commandMatcher.Scan(text, &found)
	if i := found.NextBelow(0, int32(len(commandPhrases))); i >= 0 {
		return commandPhrases[i].command
	}
	return ""
}
