package dsn

import (
	"bufio"
	"bytes"
	"io"
)

// lines is where the MIME walk reads from: one line at a time, as
// bufio.Reader's ReadSlice gives them (the line and its end, valid until
// the next call; bufio.ErrBufferFull for a piece of a line longer than the
// buffer; io.EOF with the last, unterminated one). A *bufio.Reader reads a
// stream, a *sliceLines a message in memory without a copy, and a
// *partReader the lines of one body part of either.
type lines interface {
	ReadSlice(delim byte) ([]byte, error)
}

// sliceLines reads the lines of a byte slice.
type sliceLines struct {
	b []byte
}

func (s *sliceLines) ReadSlice(delim byte) ([]byte, error) {
	if len(s.b) == 0 {
		return nil, io.EOF
	}
	i := bytes.IndexByte(s.b, delim)
	if i < 0 {
		line := s.b
		s.b = nil
		return line, io.EOF
	}
	line := s.b[:i+1]
	s.b = s.b[i+1:]
	return line, nil
}

// restLines puts back a line read past a header that ended without a blank
// line (readHeader returns it), in front of the rest.
type restLines struct {
	first []byte
	src   lines
}

func (r *restLines) ReadSlice(delim byte) ([]byte, error) {
	if r.first != nil {
		line := r.first
		r.first = nil
		return line, nil
	}
	return r.src.ReadSlice(delim)
}

func withRest(rest []byte, src lines) lines {
	if rest == nil {
		return src
	}
	return &restLines{first: rest, src: src}
}

// drain reads src to its end without keeping anything.
func drain(src lines) {
	if s, ok := src.(*sliceLines); ok {
		s.b = nil
		return
	}
	for {
		if _, err := src.ReadSlice('\n'); err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

// readAll appends the lines of src to buf, at most max bytes; the rest is
// read and dropped.
func readAll(buf []byte, src lines, max int) []byte {
	for {
		line, err := src.ReadSlice('\n')
		if room := max - len(buf); room > 0 {
			buf = append(buf, line[:min(len(line), room)]...)
		}
		if err != nil && err != bufio.ErrBufferFull {
			return buf
		}
	}
}
