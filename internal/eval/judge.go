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
}

// Judge parses one message with p and classifies it with c
// (classify.Classifier.Message, which also settles bounce against delay).
// A parse error does not stop it: the partial report is classified and the
// error kept in the Outcome.
func Judge(p *dsn.Parser, c *classify.Classifier, r io.Reader) Outcome {
	rep, err := p.Parse(r)
	return settle(c, rep, err)
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
