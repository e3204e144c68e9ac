package main

import (
	"bufio"
	"bytes"
)

// mboxSplitter cuts an mbox into messages. A message starts at a line
// beginning with "From " that opens the file or follows an empty line, as
// mbox writers leave one between messages; a "From " line elsewhere is
// taken as body. Each message keeps its "From " line, which the parser
// skips. Lines end with LF or CRLF; ">From " escapes are left as they are.
type mboxSplitter struct {
	r *bufio.Reader
	// max bounds the bytes kept of one message; the rest is read and
	// dropped, and truncated is set, so the parser sees a message past its
	// bound.
	max int64

	next      []byte // the "From " line that opens the next message
	prevBlank bool
	err       error
}

// mboxMagic opens every mbox.
var mboxMagic = []byte("From ")

func newMboxSplitter(r *bufio.Reader, max int64) *mboxSplitter {
	return &mboxSplitter{r: r, max: max, prevBlank: true}
}

// Next returns the next message, or io.EOF after the last. A read error is
// returned once the message read so far has been returned.
func (s *mboxSplitter) Next() ([]byte, error) {
	if s.next == nil && s.err != nil {
		return nil, s.err
	}
	var msg bytes.Buffer
	started := false
	if s.next != nil {
		msg.Write(s.next)
		s.next = nil
		started = true
	}
	if s.err != nil { // the input ended on that "From " line
		return msg.Bytes(), nil
	}
	lineStart := true
	for {
		chunk, err := s.r.ReadSlice('\n')
		if len(chunk) > 0 {
			if started && lineStart && s.prevBlank && bytes.HasPrefix(chunk, mboxMagic) {
				// Keep the whole separator line for the next message.
				s.next = append([]byte(nil), chunk...)
				for err == bufio.ErrBufferFull {
					chunk, err = s.r.ReadSlice('\n')
					s.next = append(s.next, chunk...)
				}
				s.prevBlank = false
				if err != nil {
					s.err = err
				}
				return msg.Bytes(), nil
			}
			started = true
			if int64(msg.Len()) <= s.max {
				msg.Write(chunk)
			}
			complete := chunk[len(chunk)-1] == '\n'
			s.prevBlank = lineStart && complete && isBlankLine(chunk)
			lineStart = complete
		}
		switch {
		case err == nil || err == bufio.ErrBufferFull:
			continue
		case !started:
			s.err = err
			return nil, err
		default:
			s.err = err
			return msg.Bytes(), nil
		}
	}
}

func isBlankLine(b []byte) bool {
	return len(b) == 1 || (len(b) == 2 && b[0] == '\r')
}
