package dsn

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message"
)

// isASCII reports whether b is 7-bit.
func isASCII(b []byte) bool {
	for ; len(b) >= 8; b = b[8:] {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
	}
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// readBytes reads up to max bytes, keeping what was read when the reader
// fails part-way.
func readBytes(r io.Reader, max int) []byte {
	return readInto(make([]byte, 0, min(max, 2048)), r, max)
}

// readInto is readBytes appending to buf.
func readInto(buf []byte, r io.Reader, max int) []byte {
	for len(buf) < max {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), max)])
		buf = buf[:len(buf)+n]
		if err != nil {
			break
		}
	}
	return buf
}

// decodeBase64 decodes RFC 2045 6.8 base64, skipping bytes outside the
// alphabet and stopping at padding (QUIRK: stray characters, several
// encoded blocks run together keep their first).
func decodeBase64(in []byte) []byte {
	out := in[:0] // decoding never outgrows the input
	var acc uint32
	var n int
	for _, c := range in {
		var v byte
		switch {
		case 'A' <= c && c <= 'Z':
			v = c - 'A'
		case 'a' <= c && c <= 'z':
			v = c - 'a' + 26
		case '0' <= c && c <= '9':
			v = c - '0' + 52
		case c == '+':
			v = 62
		case c == '/':
			v = 63
		case c == '=':
			if n >= 2 {
				out = flushBase64(out, acc, n)
			}
			acc, n = 0, 0
			continue
		default:
			continue
		}
		acc = acc<<6 | uint32(v)
		n++
		if n == 4 {
			out = append(out, byte(acc>>16), byte(acc>>8), byte(acc))
			acc, n = 0, 0
		}
	}
	if n >= 2 {
		out = flushBase64(out, acc, n)
	}
	return out
}

func flushBase64(out []byte, acc uint32, n int) []byte {
	acc <<= 6 * uint(4-n)
	out = append(out, byte(acc>>16))
	if n == 3 {
		out = append(out, byte(acc>>8))
	}
	return out
}

// decodeQP decodes RFC 2045 6.7 quoted-printable; a malformed escape is
// kept as it stands.
func decodeQP(in []byte) []byte {
	out := in[:0] // decoding never outgrows the input
	for i := 0; i < len(in); {
		j := bytes.IndexByte(in[i:], '=')
		if j < 0 {
			out = append(out, in[i:]...)
			break
		}
		out = append(out, in[i:i+j]...)
		i += j
		// A soft line break: "=" and optional white space, then the end.
		k := i + 1
		for k < len(in) && (in[k] == ' ' || in[k] == '\t') {
			k++
		}
		if k < len(in) && in[k] == '\r' {
			k++
		}
		if k == len(in) || in[k] == '\n' {
			i = k + 1
			continue
		}
		if i+2 < len(in) {
			if h, ok1 := unhex(in[i+1]); ok1 {
				if l, ok2 := unhex(in[i+2]); ok2 {
					out = append(out, h<<4|l)
					i += 3
					continue
				}
			}
		}
		out = append(out, '=')
		i++
	}
	return out
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// readDecoded reads a body from src into buf, undoing its transfer encoding
// (RFC 2045 6.7, 6.8) in memory: at most max decoded bytes; the rest of the
// body is read and dropped. Other encodings (7bit, 8bit, binary, unknown
// ones) pass through.
func readDecoded(buf []byte, src lines, enc string, max int) []byte {
	enc = asciiLower(strings.TrimSpace(enc))
	limit := max
	switch enc {
	case "base64":
		limit = max/3*4 + 4
	case "quoted-printable":
		limit = max * 3
	}
	raw := readAll(buf, src, limit)
	switch enc {
	case "base64":
		raw = decodeBase64(raw)
	case "quoted-printable":
		raw = decodeQP(raw)
	}
	return raw[:min(len(raw), max)]
}

// charsetReader converts from a named charset to UTF-8 through go-message's
// table (filled by importing go-message/charset in main); us-ascii and utf-8
// need none.
func charsetReader(cs string, r io.Reader) (io.Reader, error) {
	if isUTF8Name(cs) {
		return r, nil
	}
	if message.CharsetReader == nil {
		return nil, fmt.Errorf("charset %q: no charset tables", cs)
	}
	return message.CharsetReader(strings.ToLower(cs), r)
}

// isUTF8Name reports whether a charset name needs no conversion.
func isUTF8Name(cs string) bool {
	switch asciiLower(strings.Trim(cs, `" `)) {
	case "utf-8", "utf8", "us-ascii", "ascii", "":
		return true
	}
	return false
}

// limitReader reads at most n bytes, then fails with ErrTooLarge.
type limitReader struct {
	r   io.Reader
	n   int64
	hit bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		l.hit = true
		return 0, ErrTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// crReader turns bare CR line ends into LF (QUIRK: old Mac mailers), leaving
// CRLF alone.
type crReader struct {
	r      io.Reader
	lastCR bool // the previous chunk ended in a CR turned into LF
}

func (c *crReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	b := p[:n]
	if c.lastCR && n > 0 && b[0] == '\n' {
		copy(b, b[1:])
		n--
		b = b[:n]
	}
	c.lastCR = false
	for i := 0; i < n; {
		j := bytes.IndexByte(b[i:], '\r')
		if j < 0 {
			break
		}
		i += j
		if i+1 < n {
			if b[i+1] == '\n' {
				i += 2
			} else {
				b[i] = '\n'
				i++
			}
			continue
		}
		b[i] = '\n'
		c.lastCR = true
		i++
	}
	return n, err
}
