package eval

import (
	"io"
	"strings"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
)

// Outcome is what bounced makes of one message: the parser's report and
// the classification of each of its recipients.
type Outcome struct {
	// Report is never nil; on a damaged message it holds what was
	// understood.
	Report *dsn.Report
	// Results holds one classification per Report.Recipients, in order.
	Results []classify.Result
	// Err is the parse error, if any.
	Err error
}

// Judge parses one message with p and classifies each recipient with c.
// A parse error does not stop it: the partial report is classified and the
// error kept in the Outcome.
func Judge(p *dsn.Parser, c *classify.Classifier, r io.Reader) Outcome {
	rep, err := p.Parse(r)
	if rep == nil { // the parser promises a report; stay safe if it breaks that
		rep = &dsn.Report{Kind: dsn.NotBounce}
	}
	kind, res := c.Message(rep)
	rep.Kind = kind
	return Outcome{Report: rep, Results: res, Err: err}
}

// Classify classifies each recipient of rep, in order.
func Classify(c *classify.Classifier, rep *dsn.Report) []classify.Result {
	if len(rep.Recipients) == 0 {
		return nil
	}
	res := make([]classify.Result, len(rep.Recipients))
	for i := range rep.Recipients {
		res[i] = c.Classify(Input(rep, &rep.Recipients[i]))
	}
	return res
}

// Input gathers the evidence about recipient r of rep for the classifier.
func Input(rep *dsn.Report, r *dsn.Recipient) classify.Input {
	mta := r.ReportingMTA
	if mta == "" {
		mta = rep.ReportingMTA
	}
	return classify.Input{
		Status:       r.Status,
		ReplyCode:    r.ReplyCode,
		Diagnostic:   r.Diagnostic,
		Action:       r.Action,
		Kind:         rep.Kind,
		Command:      r.Command,
		Domain:       Domain(r.Recipient),
		ReportingMTA: mta,
		RemoteMTA:    r.RemoteMTA,
	}
}

// Domain is the lower-cased domain of addr, "" when it has none.
func Domain(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(addr[i+1:])
}
