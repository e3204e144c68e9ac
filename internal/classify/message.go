package classify

import (
	"strings"

	"github.com/bounced/bounced/internal/dsn"
)

// InputFor gathers what rep says about its recipient r.
func InputFor(rep *dsn.Report, r *dsn.Recipient) Input {
	mta := r.ReportingMTA
	if mta == "" {
		mta = rep.ReportingMTA
	}
	var domain string
	if i := strings.LastIndexByte(r.Recipient, '@'); i >= 0 {
		domain = strings.ToLower(r.Recipient[i+1:])
	}
	return Input{
		Status:       r.Status,
		ReplyCode:    r.ReplyCode,
		Diagnostic:   r.Diagnostic,
		Action:       r.Action,
		Kind:         rep.Kind,
		Command:      r.Command,
		Domain:       domain,
		ReportingMTA: mta,
		RemoteMTA:    r.RemoteMTA,
	}
}

// Message classifies every recipient of rep, in order, and settles the
// message's kind from what they say.
//
// The message is a delay when every recipient is still in transit or
// expired only after transient (4xx) errors: the recipient refused nothing,
// the message only could not get through in time. Otherwise it is a bounce,
// even when it came as a warning: a warning that already names a refusal
// (no MX, a blocklisted sender) is acted on like the failure it foretells.
func (c *Classifier) Message(rep *dsn.Report) (dsn.Kind, []Result) {
	if len(rep.Recipients) == 0 {
		return rep.Kind, nil
	}
	res := make([]Result, len(rep.Recipients))
	for i := range rep.Recipients {
		res[i] = c.Classify(InputFor(rep, &rep.Recipients[i]))
	}
	kind := rep.Kind
	if kind != dsn.Bounce && kind != dsn.Delay {
		return kind, res
	}
	kind = dsn.Delay
	for i, r := range res {
		if !stillDelay(rep, &rep.Recipients[i], r.Cause) {
			kind = dsn.Bounce
			break
		}
	}
	if kind == dsn.Delay {
		for i := range res {
			res[i].Severity = Soft
		}
	}
	return kind, res
}

// stillDelay reports whether recipient r, classified as cause, says no more
// than that the message has not got through yet.
func stillDelay(rep *dsn.Report, r *dsn.Recipient, cause Cause) bool {
	transient := r.Status.Class == 4 || r.Status.IsZero() && r.ReplyCode/100 == 4
	noCodes := r.Status.IsZero() && r.ReplyCode == 0
	if cause == Expired {
		return transient || noCodes && rep.Kind == dsn.Delay
	}
	if rep.Kind != dsn.Delay || r.Action != dsn.Delayed {
		return false
	}
	switch cause {
	case NetworkError, MailboxFull, ServerError, RateLimited, Unknown:
		return true
	}
	return false
}
