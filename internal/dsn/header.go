package dsn

import (
	"bufio"
	"bytes"
	"errors"
	"mime"
	"strings"
	"unicode/utf8"
)

// Bounds of one header section (the message's, a part's, or a returned
// message's): at most maxHeaderFields fields and maxHeaderBytes bytes. Lines
// longer than the reader's buffer are cut, not failed.
const (
	maxHeaderFields = 1000
	maxHeaderBytes  = 256 << 10
)

var errHeaderTooLarge = errors.New("header section exceeds its bound")

// field is one unfolded header field; key is lower-cased.
type field struct {
	key, value string
}

// header is a header section in the order it was read. Lookups are linear:
// sections are small and most lookups hit the first fields read.
type header []field

// get returns the first value of key (lower-case), or "".
func (h header) get(key string) string {
	for _, f := range h {
		if f.key == key {
			return f.value
		}
	}
	return ""
}

// has reports whether key (lower-case) is present.
func (h header) has(key string) bool {
	for _, f := range h {
		if f.key == key {
			return true
		}
	}
	return false
}

// text returns the first value of key with RFC 2047 encoded words decoded.
func (h header) text(key string) string {
	return decodeWords(h.get(key))
}

// contentType returns the lower-cased media type and its parameters. A
// missing or unreadable Content-Type is text/plain (RFC 2045 5.2).
func (h header) contentType() (string, map[string]string) {
	v := h.get("content-type")
	if v == "" {
		return "text/plain", nil
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		// QUIRK: many MTAs write parameters mime rejects (duplicate or
		// unquoted boundaries); keep the type and find the boundary by hand.
		mt, _, _ = strings.Cut(v, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		if i := strings.IndexAny(mt, " \t"); i > 0 {
			mt = mt[:i] // QUIRK: "text/plain charset=..." without the semicolon.
		}
		params = map[string]string{}
		if b := paramByHand(v, "boundary"); b != "" {
			params["boundary"] = b
		}
		if c := paramByHand(v, "charset"); c != "" {
			params["charset"] = c
		}
		if t := paramByHand(v, "report-type"); t != "" {
			params["report-type"] = t
		}
	}
	if mt == "" || !strings.Contains(mt, "/") {
		mt = "text/plain"
	}
	return mt, params
}

// paramByHand finds name=value in a Content-Type value that mime rejected.
func paramByHand(v, name string) string {
	lv := strings.ToLower(v)
	i := strings.Index(lv, name+"=")
	if i < 0 {
		return ""
	}
	rest := v[i+len(name)+1:]
	if strings.HasPrefix(rest, `"`) {
		rest = rest[1:]
		if j := strings.IndexByte(rest, '"'); j >= 0 {
			return rest[:j]
		}
		return rest
	}
	if j := strings.IndexAny(rest, "; \t"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

var wordDecoder = mime.WordDecoder{CharsetReader: charsetReader}

// decodeWords decodes RFC 2047 encoded words, keeping the input where that
// fails, and makes the result valid UTF-8.
func decodeWords(s string) string {
	if strings.Contains(s, "=?") {
		if d, err := wordDecoder.DecodeHeader(s); err == nil {
			s = d
		}
	}
	return validUTF8(s)
}

// validUTF8 replaces bytes that are not UTF-8 (8-bit headers in a legacy
// charset) so that JSON and PostgreSQL accept the text.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// readHeader reads a header section up to and including the blank line that
// ends it. It unfolds continuation lines (RFC 5322 2.2.3). A line that is not
// a field ends the section early: the line is lost only when it is a
// malformed field in the middle of the header; at the start of a body it is
// returned unread by the caller's bufio.Reader (errors are for bounds).
func readHeader(br *bufio.Reader) (header, error) {
	h := make(header, 0, 16)
	var total int
	var cur []byte // the field being unfolded, reused across fields
	have := false  // cur holds a field
	skip := false  // the current field is one nobody reads: not kept
	flush := func() {
		if !have {
			return
		}
		have = false
		k, v, ok := bytes.Cut(cur, []byte(":"))
		if !ok {
			return
		}
		k = bytes.TrimSpace(k)
		if len(k) == 0 {
			return
		}
		h = append(h, field{key: fieldKey(k), value: string(bytes.TrimSpace(v))})
	}
	for {
		peek, _ := br.Peek(1)
		if len(peek) == 0 {
			flush()
			return h, nil
		}
		cont := peek[0] == ' ' || peek[0] == '\t'
		if !cont {
			// a new field or the end: check it looks like a field before
			// consuming it.
			flush()
			skip = false
			if len(h) > 0 && looksLikeParam(br) {
				// QUIRK: Apache James, Verizon: a Content-Type parameter
				// on a line of its own, not indented.
				line, err := readLine(br)
				h[len(h)-1].value += " " + string(bytes.TrimSpace(line))
				if err != nil {
					return h, nil
				}
				continue
			}
			if !looksLikeField(br) {
				// blank line: end of the header; anything else: the body
				// starts without a blank line (QUIRK: some MTAs omit it).
				if isBlankLine(br) {
					_, _ = readLine(br)
				}
				return h, nil
			}
		}
		line, err := readLine(br)
		total += len(line)
		if total > maxHeaderBytes || len(h) >= maxHeaderFields {
			flush()
			return h, errHeaderTooLarge
		}
		switch {
		case cont && (skip || !have):
			// A continuation of a field not kept, or (QUIRK) of nothing.
		case cont:
			cur = append(cur, ' ')
			cur = append(cur, bytes.TrimSpace(line)...)
		case unread(line):
			skip = true
		default:
			cur = append(cur[:0], line...)
			have = true
		}
		if err != nil {
			flush()
			return h, nil
		}
	}
}

// unreadFields are long fields that bounced never reads; not keeping them
// saves most of the allocation a header costs.
var unreadFields = []string{"received:", "dkim-signature:", "x-received:", "arc-", "authentication-results:",
	"x-google-dkim-signature:", "x-gm-message-state:", "domainkey-signature:", "x-ms-exchange-", "x-microsoft-antispam"}

// unread reports whether a field's first line starts one of unreadFields.
func unread(line []byte) bool {
	for _, f := range unreadFields {
		if len(line) >= len(f) && bytes.EqualFold(line[:len(f)], []byte(f)) {
			return true
		}
	}
	return false
}

// looksLikeField reports whether the next line starts with a field name and
// a colon (RFC 5322 2.2: printable ASCII other than colon).
func looksLikeField(br *bufio.Reader) bool {
	for n := 64; ; n *= 2 {
		b, err := br.Peek(n)
		i := bytes.IndexByte(b, ':')
		if i > 0 {
			for _, c := range b[:i] {
				if c <= ' ' || c >= 127 {
					// QUIRK: a space before the colon ("Subject : x") is seen.
					if c == ' ' && len(bytes.TrimRight(b[:i], " ")) > 0 && bytes.IndexByte(bytes.TrimRight(b[:i], " "), ' ') < 0 {
						continue
					}
					return false
				}
			}
			return true
		}
		if bytes.IndexByte(b, '\n') >= 0 || err != nil || n >= 256 {
			return false
		}
	}
}

// looksLikeParam reports whether the next line is a MIME parameter
// ("boundary=...") rather than a field.
func looksLikeParam(br *bufio.Reader) bool {
	b, _ := br.Peek(40)
	i := bytes.IndexByte(b, '=')
	if i <= 0 {
		return false
	}
	for _, c := range b[:i] {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-') {
			return false
		}
	}
	return true
}

func isBlankLine(br *bufio.Reader) bool {
	b, _ := br.Peek(2)
	return len(b) > 0 && (b[0] == '\n' || (b[0] == '\r' && (len(b) == 1 || b[1] == '\n')))
}

// maxLine bounds one line; the rest of a longer line is dropped.
const maxLine = 64 << 10

// readLine reads one line without its end (LF or CRLF), cutting it at
// maxLine bytes. err is io.EOF on the last line. The result may point into
// br's buffer: it is valid until the next read.
func readLine(br *bufio.Reader) ([]byte, error) {
	frag, err := br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return bytes.TrimRight(frag, "\r\n"), err
	}
	line := append([]byte(nil), frag...)
	for {
		frag, err = br.ReadSlice('\n')
		if len(line)+len(frag) <= maxLine {
			line = append(line, frag...)
		}
		if err != bufio.ErrBufferFull {
			return bytes.TrimRight(line, "\r\n"), err
		}
	}
}

// commonKeys are the field names met in nearly every message, so that
// reading them allocates nothing.
var commonKeys = []string{
	"received", "from", "to", "cc", "subject", "date", "message-id", "return-path", "content-type",
	"content-transfer-encoding", "mime-version", "content-description", "content-disposition",
	"x-mailer", "reply-to", "sender", "in-reply-to", "references", "auto-submitted", "x-failed-recipients",
	"delivered-to", "x-original-to", "dkim-signature", "authentication-results", "list-id", "precedence",
	"user-agent", "x-received", "arrival-date", "reporting-mta", "final-recipient", "original-recipient",
	"action", "status", "remote-mta", "diagnostic-code", "last-attempt-date", "x-spam-status",
}

// fieldKey returns a field name lower-cased.
func fieldKey(k []byte) string {
	for _, c := range commonKeys {
		if len(c) == len(k) && bytes.EqualFold(k, []byte(c)) {
			return c
		}
	}
	return strings.ToLower(string(k))
}

// asciiLower lower-cases ASCII letters only, so that offsets in the result
// are offsets in s: phrase searches on it can cut s.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// lowerASCII lower-cases ASCII letters, allocating only when needed.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
