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

// mediaType is what bounced reads of a Content-Type (RFC 2045 5.1).
type mediaType struct {
	typ        string // lower-case "type/subtype"
	boundary   string
	charset    string
	reportType string // lower-case
}

// contentType reads the Content-Type field. A missing or unreadable one is
// text/plain (RFC 2045 5.2). Parameters are found by hand: mime's parser
// rejects the duplicate and unquoted parameters many MTAs write, and costs
// a map a call; RFC 2231 continuations fall back to it.
func (h header) contentType() mediaType {
	v := h.get("content-type")
	if v == "" {
		return mediaType{typ: "text/plain"}
	}
	typ, _, _ := strings.Cut(v, ";")
	typ = strings.TrimSpace(typ)
	if i := strings.IndexAny(typ, " \t"); i > 0 {
		typ = typ[:i] // QUIRK: "text/plain charset=..." without the semicolon.
	}
	mt := mediaType{typ: lowerASCII(typ)}
	if mt.typ == "" || !strings.Contains(mt.typ, "/") {
		mt.typ = "text/plain"
	}
	if strings.Contains(v, "*=") || strings.Contains(v, "*0") {
		if _, params, err := mime.ParseMediaType(v); err == nil {
			mt.boundary, mt.charset, mt.reportType = params["boundary"], params["charset"], lowerASCII(params["report-type"])
			return mt
		}
	}
	mt.boundary = param(v, "boundary")
	mt.charset = param(v, "charset")
	mt.reportType = lowerASCII(param(v, "report-type"))
	return mt
}

// param finds name=value among a field's parameters, quoted or not.
func param(v, name string) string {
	for off := 0; ; {
		i := strings.IndexByte(v[off:], '=')
		if i < 0 {
			return ""
		}
		i += off
		// The name is the token before "=", after ";" or white space.
		j := i
		for j > 0 && v[j-1] != ';' && v[j-1] != ' ' && v[j-1] != '\t' && v[j-1] != '\n' {
			j--
		}
		rest := v[i+1:]
		if strings.EqualFold(strings.TrimSpace(v[j:i]), name) {
			if strings.HasPrefix(rest, `"`) {
				rest = rest[1:]
				if k := strings.IndexByte(rest, '"'); k >= 0 {
					return rest[:k]
				}
				return rest
			}
			if k := strings.IndexAny(rest, "; \t"); k >= 0 {
				rest = rest[:k]
			}
			return rest
		}
		off = i + 1
	}
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

// unread reports whether a field's first line starts a long field that
// bounced never reads (Received, DKIM-Signature, ARC-*, ...): not keeping
// them saves most of the allocation a header costs.
func unread(line []byte) bool {
	if len(line) < 5 {
		return false
	}
	switch line[0] | 0x20 {
	case 'r':
		return hasPrefixFoldBytes(line, "received:")
	case 'd':
		return hasPrefixFoldBytes(line, "dkim-signature:") || hasPrefixFoldBytes(line, "domainkey-signature:")
	case 'a':
		return hasPrefixFoldBytes(line, "arc-") || hasPrefixFoldBytes(line, "authentication-results:")
	case 'x':
		return hasPrefixFoldBytes(line, "x-received:") || hasPrefixFoldBytes(line, "x-google-dkim-signature:") ||
			hasPrefixFoldBytes(line, "x-gm-message-state:") || hasPrefixFoldBytes(line, "x-ms-exchange-") ||
			hasPrefixFoldBytes(line, "x-microsoft-antispam")
	}
	return false
}

func hasPrefixFoldBytes(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && strings.EqualFold(string(b[:len(prefix)]), prefix)
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

// commonKeysByLen indexes commonKeys by length.
var commonKeysByLen = func() (t [32][]string) {
	for _, k := range commonKeys {
		t[len(k)] = append(t[len(k)], k)
	}
	return t
}()

// fieldKey returns a field name lower-cased.
func fieldKey(k []byte) string {
	if len(k) < len(commonKeysByLen) {
		for _, c := range commonKeysByLen[len(k)] {
			if strings.EqualFold(string(k), c) {
				return c
			}
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
