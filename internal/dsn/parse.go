package dsn

import (
	"errors"
	"io"
)

// ErrTooLarge reports that a bound on the input was reached; the Report
// holds what was read before it.
var ErrTooLarge = errors.New("message exceeds a parser bound")

// VERP describes how a list manager encodes the recipient in the envelope
// sender: bounces+alice=example.com@lists.example.org has Separator "+" and
// At "=". Prefixes, when set, restrict it to local parts starting so.
type VERP struct {
	Separator string
	At        string
	Prefixes  []string
}

// Parser holds the options of Parse. The zero value is ready to use.
type Parser struct {
	// CorrelationHeaders names headers of the original message to keep in
	// Original.Headers (e.g. "X-Campaign-ID"). Default none.
	CorrelationHeaders []string
	// VERP, when set, decodes the recipient from the address the notice was
	// sent to. Default nil: off.
	VERP *VERP
	// MaxBytes bounds the bytes read from the message. Default 128 MiB.
	MaxBytes int64
}

// Parse reads one message with the default options.
func Parse(r io.Reader) (*Report, error) {
	var p Parser
	return p.Parse(r)
}

// Parse reads one message. On damaged input it returns what it understood
// together with an error; the Report is never nil.
func (p *Parser) Parse(r io.Reader) (*Report, error) {
	return &Report{Kind: NotBounce}, errors.New("not implemented yet")
}
