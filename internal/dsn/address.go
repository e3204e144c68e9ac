package dsn

import (
	"strings"
)

// normalizeAddress turns the many ways notices write an address ("<a@b>",
// "'a@B.example'", "Name <a@b>", "a@b.") into local@domain with the domain
// lower-cased (the local part is case-sensitive, RFC 5321 2.4). It returns ""
// when there is no address.
func normalizeAddress(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			s = s[i+1 : i+j]
		} else {
			s = s[i+1:]
		}
	}
	s = strings.Trim(s, " \t<>'`.,;:()[]")
	if strings.HasPrefix(s, `"`) && !strings.Contains(s, `"@`) || strings.HasSuffix(s, `"`) {
		s = strings.Trim(s, `"`)
	}
	if s == "" || indexSpace(s) >= 0 {
		// QUIRK: "user@example.com (Name)" and other trailing text.
		if a := firstAddress(s); a != "" {
			return a
		}
		return strings.TrimSpace(s)
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return s
	}
	return s[:at+1] + strings.ToLower(s[at+1:])
}

// addrSpan is an address found in free text, with its byte offsets.
type addrSpan struct {
	addr       string
	start, end int
}

// isLocalByte accepts ASCII only, like isDomainByte: in free text, CJK
// punctuation glued to an address ("收件人：a@b") is not part of it.
func isLocalByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte(".!#$%&'*+/=?^_`{|}~-", c) >= 0
}

// isDomainByte accepts ASCII only: in free text a UTF-8 byte after a domain
// is far more often punctuation or prose ("example.jp،") than an IDN.
func isDomainByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_'
}

// findAddresses returns the addresses in free text, in order: a local part,
// "@", and a domain with at least one dot (or a bracketed IP literal). At
// most limit are returned.
func findAddresses(text string, limit int) []addrSpan {
	var out []addrSpan
	for i := 0; i < len(text) && len(out) < limit; {
		at := strings.IndexByte(text[i:], '@')
		if at < 0 {
			break
		}
		at += i
		s := at
		for s > 0 && isLocalByte(text[s-1]) {
			s--
		}
		// QUIRK: quoted local parts and wrappers: trim leading punctuation.
		for s < at && strings.IndexByte(".'`={|}~-/", text[s]) >= 0 {
			s++
		}
		e := at + 1
		if e < len(text) && text[e] == '[' {
			if j := strings.IndexByte(text[e:], ']'); j > 0 && j < 48 {
				e += j + 1
			}
		} else {
			for e < len(text) && isDomainByte(text[e]) {
				e++
			}
		}
		for e > at+1 && (text[e-1] == '.' || text[e-1] == '-') {
			e--
		}
		dom := text[at+1 : e]
		if s < at && len(dom) > 2 && (strings.IndexByte(dom, '.') > 0 || dom[0] == '[') && at-s <= 128 {
			addr := text[s:e]
			if hasUpperASCII(dom) {
				addr = text[s:at+1] + strings.ToLower(dom)
			}
			out = append(out, addrSpan{addr: addr, start: s, end: e})
		}
		i = max(e, at+1)
	}
	return out
}

// firstAddress returns the first address in text, or "".
func firstAddress(text string) string {
	if a := findAddresses(text, 1); len(a) > 0 {
		return a[0].addr
	}
	return ""
}

// isSystemAddress reports whether an address belongs to the mail system
// rather than a person: the notice's own sender and the like.
func isSystemAddress(addr string) bool {
	local, _, _ := strings.Cut(asciiLower(addr), "@")
	switch local {
	case "mailer-daemon", "mail-daemon", "maildaemon", "mailerdaemon", "double-bounce":
		return true
	}
	return strings.HasPrefix(local, "mailer-daemon")
}

// hasUpperASCII reports whether s has an ASCII capital letter.
func hasUpperASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}
