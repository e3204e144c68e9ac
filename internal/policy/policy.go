// Package policy decides which addresses to stop mailing from their
// bounces (DESIGN.md "Suppression policy"). It is pure: it takes an
// address's events and returns a verdict; the store keeps the verdicts.
//
// Only recipient-scope causes and complaints can suppress. A bounce
// because the sender is blocklisted, or because the message was too big,
// says nothing about the address and never counts.
package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bounced/bounced/internal/classify"
)

// Reason is why an address is suppressed: a recipient-scope cause, or
// Complaint. The strings are stored in the database.
type Reason string

// Complaint is the reason of an abuse or feedback-loop report.
const Complaint Reason = "complaint"

// Reasons lists every reason a policy may name, in the order verdicts
// prefer them when two are met at the same moment.
func Reasons() []Reason {
	return []Reason{
		Reason(classify.BadAddress), Reason(classify.BadDomain), Reason(classify.MailboxDisabled),
		Complaint, Reason(classify.MailboxFull),
	}
}

// Valid reports whether r is a reason a policy may name.
func (r Reason) Valid() bool { return slices.Contains(Reasons(), r) }

// Rule says when the events of one reason suppress an address: Count of
// them, the first and the last at least Span apart and, when Window is not
// zero, all within Window. Count 0 turns the reason off.
type Rule struct {
	Count    int
	Span     time.Duration
	Window   time.Duration
	HardOnly bool // only hard bounces count (never for complaints)
}

// Policy maps each reason to its rule; a reason left out never suppresses.
type Policy map[Reason]Rule

// Default is DESIGN.md's policy: one hard bad_address, bad_domain or
// mailbox_disabled bounce; mailbox_full three times over at least 7 days
// within 30 days; one complaint.
func Default() Policy {
	once := Rule{Count: 1, HardOnly: true}
	return Policy{
		Reason(classify.BadAddress):      once,
		Reason(classify.BadDomain):       once,
		Reason(classify.MailboxDisabled): once,
		Reason(classify.MailboxFull):     {Count: 3, Span: 7 * 24 * time.Hour, Window: 30 * 24 * time.Hour},
		Complaint:                        {Count: 1},
	}
}

// Validate checks every rule, naming the bad one.
func (p Policy) Validate() error {
	for r, rule := range p {
		if !r.Valid() {
			if c := classify.Cause(r); c.Valid() {
				return fmt.Errorf("%s: a cause of %s scope never suppresses an address", r, c.Scope())
			}
			return fmt.Errorf("%s: not a recipient-scope cause nor complaint", r)
		}
		switch {
		case rule.Count < 0:
			return fmt.Errorf("%s: count %d is negative", r, rule.Count)
		case rule.Span < 0 || rule.Window < 0:
			return fmt.Errorf("%s: span and window must not be negative", r)
		case rule.Window > 0 && rule.Span > rule.Window:
			return fmt.Errorf("%s: span %v is longer than window %v", r, rule.Span, rule.Window)
		case rule.Count == 1 && rule.Span > 0:
			return fmt.Errorf("%s: a span needs a count of at least 2", r)
		case r == Complaint && rule.HardOnly:
			return fmt.Errorf("%s: complaints have no severity", r)
		}
	}
	return nil
}

// Causes gives the classify causes the policy counts, for the store's
// queries.
func (p Policy) Causes() []string {
	var cs []string
	for _, r := range Reasons() {
		if p[r].Count > 0 && r != Complaint {
			cs = append(cs, string(r))
		}
	}
	return cs
}

// Describe says the rule of r in a few words, e.g. "3 in 30d over 7d".
func (p Policy) Describe(r Reason) string {
	rule := p[r]
	var b strings.Builder
	fmt.Fprintf(&b, "%s x%d", r, rule.Count)
	if rule.HardOnly {
		b.WriteString(" hard")
	}
	if rule.Span > 0 {
		fmt.Fprintf(&b, " over %s", days(rule.Span))
	}
	if rule.Window > 0 {
		fmt.Fprintf(&b, " within %s", days(rule.Window))
	}
	return b.String()
}

// Fingerprint identifies the policy: the store rebuilds its suppressions
// when it changes.
func (p Policy) Fingerprint() string {
	var parts []string
	for _, r := range Reasons() {
		if p[r].Count > 0 {
			parts = append(parts, p.Describe(r))
		}
	}
	return strings.Join(parts, "; ")
}

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// Event is one bounce or complaint of an address.
type Event struct {
	Reason   Reason // the bounce's cause, or Complaint
	Severity classify.Severity
	At       time.Time
	Message  int64 // the store's message id, carried into the verdict
}

// Verdict is why an address is suppressed.
type Verdict struct {
	Reason Reason
	// At is when the policy was met: the time of the event that met it.
	At time.Time
	// First and Last are the first and last events of the reason counted,
	// Count how many there are, Message the message of the last.
	First, Last time.Time
	Count       int
	Message     int64
	// Rule describes the rule met (Describe).
	Rule string
}

// Evaluate tells whether events suppress their address. Events at or before
// releasedAt (the last `bounced unsuppress`) don't count. Of several
// reasons met, the one met first wins. events may be in any order; it is
// sorted in place.
func (p Policy) Evaluate(events []Event, releasedAt time.Time) (Verdict, bool) {
	slices.SortStableFunc(events, func(a, b Event) int { return a.At.Compare(b.At) })
	var best Verdict
	found := false
	for _, r := range Reasons() {
		rule := p[r]
		if rule.Count <= 0 {
			continue
		}
		v, ok := rule.evaluate(r, events, releasedAt)
		if ok && (!found || v.At.Before(best.At)) {
			v.Rule = p.Describe(r)
			best, found = v, true
		}
	}
	return best, found
}

// evaluate applies one rule to the events of reason r (sorted by time).
func (rule Rule) evaluate(r Reason, events []Event, releasedAt time.Time) (Verdict, bool) {
	var counted []Event
	for _, e := range events {
		if e.Reason != r || !e.At.After(releasedAt) {
			continue
		}
		if rule.HardOnly && e.Severity != classify.Hard {
			continue
		}
		counted = append(counted, e)
	}
	// Two pointers: for each event i as the last, j is the first event
	// inside the window ending at i.
	j := 0
	for i := range counted {
		if rule.Window > 0 {
			for counted[i].At.Sub(counted[j].At) > rule.Window {
				j++
			}
		}
		if i-j+1 >= rule.Count && counted[i].At.Sub(counted[j].At) >= rule.Span {
			last := counted[len(counted)-1]
			return Verdict{
				Reason:  r,
				At:      counted[i].At,
				First:   counted[0].At,
				Last:    last.At,
				Count:   len(counted),
				Message: last.Message,
			}, true
		}
	}
	return Verdict{}, false
}
