package dsn

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// partReader reads one body part of a multipart entity (RFC 2046 5.1.1)
// from its parent's reader, stopping at the next boundary line. It is ours
// rather than go-message's so that damaged MIME reads on: a broken part
// header loses nothing after it, and a missing closing boundary is the end
// of the message.
type partReader struct {
	br      *bufio.Reader
	dash    []byte // "--" + boundary
	pending []byte // the rest of the current line
	midLine bool   // pending ended inside a line longer than the buffer
	done    bool   // a boundary line ended this part
	final   bool   // ... and it was the closing one
	eof     bool   // the parent ran out
}

func (p *partReader) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		if len(p.pending) == 0 {
			if p.done || p.eof || !p.fill() {
				break
			}
		}
		c := copy(b[n:], p.pending)
		p.pending = p.pending[c:]
		n += c
		if len(p.pending) > 0 || p.br.Buffered() == 0 {
			// b is full, or the next line needs a read from the parent:
			// return what we have rather than block on it.
			break
		}
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// fill reads the next line into pending; false at a boundary line.
func (p *partReader) fill() bool {
	line, err := p.br.ReadSlice('\n')
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
			if p.midLine {
				// A boundary line longer than the buffer: drop the rest.
				_, _ = readLine(p.br)
				p.midLine = false
			}
			return false
		}
	}
	p.pending = line
	if err != nil && err != bufio.ErrBufferFull {
		p.eof = true
	}
	return len(line) > 0 || !p.eof
}

// drain skips the rest of the part.
func (p *partReader) drain() {
	p.pending = nil
	for !p.done && !p.eof {
		p.fill()
	}
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
func (m *msg) walkMultipart(boundary string, r io.Reader, depth int, keepPreamble bool) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 4096)
	}
	pr := &partReader{br: br, dash: []byte("--" + boundary)}
	// The preamble (RFC 2046 5.1.1) says nothing, unless the boundary never
	// comes (QUIRK: a wrong boundary): then it is the whole body.
	preamble := readInto(m.decoded[:0], pr, maxText)
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
			pr.drain()
			return
		}
		pbr := m.reader(pr, depth+1)
		h, rest, err := readHeader(pbr, nil, &m.hdr)
		if err != nil {
			m.fail(err)
		}
		m.walk(h, withRest(rest, pbr), depth+1)
		m.drain(pbr)
	}
	if !pr.final {
		// QUIRK: truncated notices end without the closing boundary; what
		// was read stands, and the damage is reported.
		m.fail(fmt.Errorf("multipart body ends without its closing boundary %q: message truncated", boundary))
	}
	// The epilogue, if any, is left for the parent to skip.
}
