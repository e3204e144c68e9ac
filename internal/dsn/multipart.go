package dsn

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// partReader reads the lines of one body part of a multipart entity (RFC
// 2046 5.1.1) from its parent's lines, stopping at the next boundary line.
// It is ours rather than go-message's so that damaged MIME reads on: a
// broken part header loses nothing after it, and a missing closing boundary
// is the end of the message.
type partReader struct {
	src     lines
	dash    []byte // "--" + boundary
	midLine bool   // the last piece read ended inside a long line
	done    bool   // a boundary line ended this part
	final   bool   // ... and it was the closing one
	eof     bool   // the parent ran out
}

// ReadSlice gives the part's next line, or io.EOF at its boundary.
func (p *partReader) ReadSlice(delim byte) ([]byte, error) {
	if p.done || p.eof {
		return nil, io.EOF
	}
	line, err := p.src.ReadSlice(delim)
	atLineStart := !p.midLine
	p.midLine = err == bufio.ErrBufferFull
	// QUIRK: some MTAs indent the boundary line (testdata/rfc3464 with
	// " --boundary").
	t := line
	if len(t) > 0 && (t[0] == ' ' || t[0] == '\t') {
		t = bytes.TrimLeft(t, " \t")
	}
	if atLineStart && len(t) > 1 && t[0] == '-' && bytes.HasPrefix(t, p.dash) {
		rest := bytes.TrimRight(t[len(p.dash):], " \t\r\n")
		if len(rest) == 0 || bytes.Equal(rest, []byte("--")) {
			p.done = true
			p.final = len(rest) == 2
			for p.midLine {
				// A boundary line longer than the buffer: drop the rest.
				_, err = p.src.ReadSlice(delim)
				p.midLine = err == bufio.ErrBufferFull
			}
			return nil, io.EOF
		}
	}
	if err != nil && err != bufio.ErrBufferFull {
		p.eof = true
		if len(line) == 0 {
			return nil, io.EOF
		}
		return line, io.EOF
	}
	return line, err
}

// next prepares the reader for the part after the boundary it stopped at.
// It reports false when there is none.
func (p *partReader) next() bool {
	if p.final || p.eof || !p.done {
		return false
	}
	p.done = false
	return true
}

// walkMultipart reads the parts of a multipart body.
func (m *msg) walkMultipart(boundary string, src lines, depth int, keepPreamble bool) {
	pr := &partReader{src: src, dash: []byte("--" + boundary)}
	// The preamble (RFC 2046 5.1.1) says nothing, unless the boundary never
	// comes (QUIRK: a wrong boundary): then it is the whole body.
	preamble := readAll(m.decoded[:0], pr, maxText)
	m.decoded = preamble[:0]
	if !pr.done || keepPreamble {
		m.addText(validUTF8(string(preamble)), false)
	}
	if !pr.done {
		return
	}
	for pr.next() {
		m.parts++
		if m.parts > maxParts {
			m.fail(errTooManyParts)
			drain(pr)
			return
		}
		h, rest, err := readHeader(pr, nil, &m.hdr)
		if err != nil {
			m.fail(err)
		}
		m.walk(h, withRest(rest, pr), depth+1)
		drain(pr)
	}
	if !pr.final {
		// QUIRK: truncated notices end without the closing boundary; what
		// was read stands, and the damage is reported.
		m.fail(fmt.Errorf("multipart body ends without its closing boundary %q: message truncated", boundary))
	}
	// The epilogue, if any, is left for the parent to skip.
}
