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
	if i := indexSpace(typ); i > 0 {
		typ = typ[:i] // QUIRK: "text/plain charset=..." without the semicolon.
	}
	mt := mediaType{typ: asciiLower(typ)}
	if mt.typ == "" || !strings.Contains(mt.typ, "/") {
		mt.typ = "text/plain"
	}
	if strings.Contains(v, "*=") || strings.Contains(v, "*0") {
		if _, params, err := mime.ParseMediaType(v); err == nil {
			mt.boundary, mt.charset, mt.reportType = params["boundary"], params["charset"], asciiLower(params["report-type"])
			return mt
		}
	}
	mt.boundary = param(v, "boundary")
	mt.charset = param(v, "charset")
	mt.reportType = asciiLower(param(v, "report-type"))
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

var wordDecoder = mime.WordDecoder{CharsetReader: func(cs string, r io.Reader) (io.Reader, error) {
	cr, err := charsetReader(cs, r)
	if err != nil {
		return nil, err
	}
	return wholeReader{cr}, nil
}}

// wholeReader lets io.Copy read an encoded word's conversion without the
// 32 KiB buffer it otherwise allocates for every word.
type wholeReader struct{ io.Reader }

func (r wholeReader) WriteTo(w io.Writer) (int64, error) {
	b, err := io.ReadAll(r.Reader)
	n, werr := w.Write(b)
	if err == nil {
		err = werr
	}
	return int64(n), err
}

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
// ends it, unfolding continuation lines (RFC 5322 2.2.3). It keeps only the
// fields bounced reads (wantedKeys, and extra, lower-case): the rest, the
// long Received and DKIM-Signature fields first, are skipped. A line that is
// not a field ends the section early (QUIRK: some MTAs omit the blank line):
// it is returned, copied, as the first line of the body. Errors are for
// bounds. scratch, when not nil, is a buffer to reuse.
func readHeader(br lines, extra []string, scratch *[]byte) (h header, rest []byte, err error) {
	// Kept values are gathered in one buffer and turned into one string at
	// the end, each field's value a slice of it: one allocation a header.
	type span struct {
		key        string
		start, end int
	}
	var spans []span
	var vals []byte
	if scratch != nil {
		vals = (*scratch)[:0]
		defer func() { *scratch = vals[:0] }()
	}
	var total, fields int
	have := false // the field being read is kept, its value growing at the end of vals
	kept := false // the last field read was kept
	flush := func() {
		if have {
			sp := &spans[len(spans)-1]
			v := bytes.TrimRight(vals[sp.start:], " \t")
			vals = vals[:sp.start+len(v)]
			sp.end = len(vals)
		}
		have = false
	}
	done := func() header {
		flush()
		all := string(vals)
		h := make(header, len(spans))
		for i, sp := range spans {
			h[i] = field{key: sp.key, value: all[sp.start:sp.end]}
		}
		return h
	}
	for {
		line, rerr := readLine(br)
		total += len(line)
		if total > maxHeaderBytes {
			return done(), nil, errHeaderTooLarge
		}
		switch {
		case len(line) == 0:
			// The blank line that ends the header, or the end of input.
			return done(), nil, nil
		case line[0] == ' ' || line[0] == '\t':
			// A continuation: of a kept field, of a skipped one, or
			// (QUIRK) of nothing.
			if have {
				vals = appendUnfolded(vals, spans[len(spans)-1].start, line)
			}
		case kept && isParam(line):
			// QUIRK: Apache James, Verizon: a Content-Type parameter on a
			// line of its own, not indented.
			if !have {
				// reopen the field just closed
				sp := &spans[len(spans)-1]
				vals, have = vals[:sp.end], true
			}
			vals = appendUnfolded(vals, spans[len(spans)-1].start, line)
		case isField(line):
			flush()
			if fields++; fields > maxHeaderFields {
				return done(), nil, errHeaderTooLarge
			}
			k, v, _ := bytes.Cut(line, []byte(":"))
			key := wantedKey(bytes.TrimSpace(k), extra)
			have, kept = key != "", key != ""
			if have {
				spans = append(spans, span{key: key, start: len(vals)})
				vals = append(vals, bytes.TrimSpace(v)...)
			}
		default:
			// The body starts without a blank line.
			return done(), append(append([]byte(nil), line...), '\n'), nil
		}
		if rerr != nil {
			return done(), nil, nil
		}
	}
}

// appendUnfolded appends a continuation line to a value that starts at
// start in vals, one space between (RFC 5322 2.2.3 unfolding).
func appendUnfolded(vals []byte, start int, line []byte) []byte {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return vals
	}
	if len(vals) > start {
		vals = append(vals, ' ')
	}
	return append(vals, line...)
}

// isField reports whether a line starts with a field name and a colon (RFC
// 5322 2.2: printable ASCII other than colon).
func isField(line []byte) bool {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return false
	}
	name := line[:i]
	// QUIRK: a space before the colon ("Subject : x") is seen.
	if t := bytes.TrimRight(name, " "); len(t) > 0 && len(t) < len(name) {
		name = t
	}
	for _, c := range name {
		if c <= ' ' || c >= 127 {
			return false
		}
	}
	return true
}

// isParam reports whether a line is a MIME parameter ("boundary=...")
// rather than a field.
func isParam(line []byte) bool {
	i := bytes.IndexByte(line, '=')
	if i <= 0 || i > 40 {
		return false
	}
	for _, c := range line[:i] {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-') {
			return false
		}
	}
	return true
}

// maxLine bounds one line; the rest of a longer line is dropped.
const maxLine = 64 << 10

// readLine reads one line without its end (LF or CRLF), cutting it at
// maxLine bytes. err is io.EOF on the last line. The result may point into
// br's buffer: it is valid until the next read.
func readLine(br lines) ([]byte, error) {
	frag, err := br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return trimEOL(frag), err
	}
	line := append([]byte(nil), frag...)
	for {
		frag, err = br.ReadSlice('\n')
		if len(line)+len(frag) <= maxLine {
			line = append(line, frag...)
		}
		if err != bufio.ErrBufferFull {
			return trimEOL(line), err
		}
	}
}

// wantedKeys are the header fields bounced reads, lower-case.
var wantedKeys = []string{
	"from", "to", "subject", "date", "message-id", "content-type", "content-transfer-encoding",
	"return-path", "reply-to", "in-reply-to", "auto-submitted", "precedence", "x-failed-recipients",
	"x-original-to", "delivered-to", "envelope-to", "list-id", "x-autoreply", "x-autorespond",
	"x-autoresponder", "x-mail-autoreply", "x-autogenerated", "x-vacation",
}

// wantedKeysByLen indexes wantedKeys by length.
var wantedKeysByLen = func() (t [32][]string) {
	for _, k := range wantedKeys {
		t[len(k)] = append(t[len(k)], k)
	}
	return t
}()

// wantedKey returns a field name lower-cased when bounced reads the field
// (wantedKeys or extra), else "".
func wantedKey(k []byte, extra []string) string {
	if len(k) > 0 && len(k) < len(wantedKeysByLen) {
		first := k[0] | 0x20 // ASCII lower case
		for _, c := range wantedKeysByLen[len(k)] {
			if c[0] == first && strings.EqualFold(string(k), c) {
				return c
			}
		}
	}
	for _, c := range extra {
		if strings.EqualFold(string(k), c) {
			return c
		}
	}
	return ""
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

// trimEOL drops the line end (LF, CRLF, or a stray run of them).
func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
