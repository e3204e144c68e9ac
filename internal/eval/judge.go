package eval

import (
	"io"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
)

// Outcome is what bounced makes of one message: the parser's report and
// the classification of each of its recipients.
type Outcome struct {
	// Report is never nil; on a damaged message it holds what was
	// understood. Its Kind is the one the classifier settled.
	Report *dsn.Report
	// Results holds one classification per Report.Recipients, in order.
	Results []classify.Result
	// Err is the parse error, if any.
	Err error
	// ReadErr is the error of the reader Judge was given, other than
	// io.EOF: the input failed, which is not the message's fault.
	ReadErr error
}

// Judge parses one message with p and classifies it with c
// (classify.Classifier.Message, which also settles bounce against delay).
// A parse error does not stop it: the partial report is classified and the
// error kept in the Outcome.
func Judge(p *dsn.Parser, c *classify.Classifier, r io.Reader) Outcome {
	er := &errReader{r: r}
	rep, err := p.Parse(er)
	o := settle(c, rep, err)
	o.ReadErr = er.err
	return o
}

// errReader remembers the first error of the underlying reader other than
// io.EOF, so that a failing disk is told apart from a damaged message.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// JudgeBytes is Judge for a message held in memory (dsn.Parser.ParseBytes).
func JudgeBytes(p *dsn.Parser, c *classify.Classifier, msg []byte) Outcome {
	rep, err := p.ParseBytes(msg)
	return settle(c, rep, err)
}

// settle classifies the recipients of a parsed message.
func settle(c *classify.Classifier, rep *dsn.Report, err error) Outcome {
	if rep == nil { // the parser promises a report; stay safe if it breaks that
		rep = &dsn.Report{Kind: dsn.NotBounce}
	}
	kind, res := c.Message(rep)
	rep.Kind = kind
	return Outcome{Report: rep, Results: res, Err: err}
}
