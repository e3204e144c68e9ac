package dsn

import (
	"bufio"
	"bytes"
	"errors"
	"io"
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
	var cur []byte // the field being unfolded
	flush := func() {
		if cur == nil {
			return
		}
		k, v, ok := bytes.Cut(cur, []byte(":"))
		cur = nil
		if !ok {
			return
		}
		k = bytes.TrimSpace(k)
		if len(k) == 0 {
			return
		}
		h = append(h, field{key: lowerASCII(string(k)), value: string(bytes.TrimSpace(v))})
	}
	for {
		peek, _ := br.Peek(1)
		if len(peek) == 0 {
			flush()
			return h, nil
		}
		if peek[0] != ' ' && peek[0] != '\t' && cur != nil {
			// a new field or the end: check it looks like a field before
			// consuming it.
			flush()
		}
		if peek[0] != ' ' && peek[0] != '\t' && cur == nil && len(h) > 0 && looksLikeParam(br) {
			// QUIRK: Apache James, Verizon: a Content-Type parameter on a
			// line of its own, not indented.
			line, err := readLine(br)
			h[len(h)-1].value += " " + string(bytes.TrimSpace(line))
			if err != nil {
				return h, nil
			}
			continue
		}
		if peek[0] != ' ' && peek[0] != '\t' && !looksLikeField(br) {
			// blank line: end of the header; anything else: the body starts
			// without a blank line (QUIRK: some MTAs omit it).
			if isBlankLine(br) {
				_, _ = readLine(br)
			}
			return h, nil
		}
		line, err := readLine(br)
		total += len(line)
		if total > maxHeaderBytes || len(h) >= maxHeaderFields {
			flush()
			return h, errHeaderTooLarge
		}
		if peek[0] == ' ' || peek[0] == '\t' {
			if cur == nil {
				// QUIRK: a continuation line with nothing to continue.
				if err != nil {
					return h, nil
				}
				continue
			}
			cur = append(cur, ' ')
			cur = append(cur, bytes.TrimSpace(line)...)
		} else {
			cur = append(cur[:0:0], line...)
		}
		if err != nil {
			flush()
			return h, nil
		}
	}
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
// maxLine bytes. err is io.EOF on the last line.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) <= maxLine {
			line = append(line, frag...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		line = bytes.TrimRight(line, "\r\n")
		if err != nil && err != io.EOF {
			return line, err
		}
		return line, err
	}
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
