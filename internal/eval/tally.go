package eval

import (
	"strconv"
	"strings"

	"github.com/bounced/bounced/internal/classify"
)

// Field is a scored field of a labelled message.
type Field string

// The scored fields, in the order reports show them.
const (
	FieldKind      Field = "kind"       // over every file whose kind is labelled
	FieldCount     Field = "recipients" // the number of recipients, for bounces and delays
	FieldRecipient Field = "recipient"  // where the label names one
	FieldStatus    Field = "status"     // every labelled recipient; a null label wants no status
	FieldReplyCode Field = "reply_code" // every labelled recipient; a null label wants no code
	FieldCause     Field = "cause"      // where the label gives one
	FieldSeverity  Field = "severity"   // where the label gives one
)

// Fields lists the scored fields in report order.
var Fields = []Field{FieldKind, FieldCount, FieldRecipient, FieldStatus, FieldReplyCode, FieldCause, FieldSeverity}

// Count is the agreement on one field.
type Count struct {
	Agree int `json:"agree"`
	Total int `json:"total"`
}

// Accuracy is Agree/Total, or 1 when nothing was scored.
func (c Count) Accuracy() float64 {
	if c.Total == 0 {
		return 1
	}
	return float64(c.Agree) / float64(c.Total)
}

// Miss is one disagreement between a label and bounced's answer.
type Miss struct {
	File string `json:"file"`
	// Index is the recipient's position in the file, from 1; 0 for a
	// message-level field (kind, recipients).
	Index int    `json:"index,omitempty"`
	Field Field  `json:"field"`
	Want  string `json:"want"`
	Got   string `json:"got"`
}

// none is how a report shows an empty answer.
const none = "none"

// Tally accumulates the agreement between labels and outcomes. The zero
// value is ready to use; it is not safe for concurrent use.
type Tally struct {
	counts map[Field]*Count
	// confusion[labelled][ours] counts recipients whose labelled cause is
	// labelled and whose answer is ours ("none" when bounced gave no
	// recipient at that position).
	confusion map[string]map[string]int
	misses    []Miss
	files     int
	errors    []Miss
}

// Add scores one labelled file against what bounced made of it. Recipients
// are matched by position within the file.
func (t *Tally) Add(l Label, o Outcome) {
	if t.counts == nil {
		t.counts = make(map[Field]*Count)
		t.confusion = make(map[string]map[string]int)
	}
	t.files++
	if o.Err != nil {
		t.errors = append(t.errors, Miss{File: l.File, Field: "error", Got: o.Err.Error()})
	}
	rep := o.Report
	if l.Kind != Unlabelled {
		t.score(l.File, 0, FieldKind, l.Kind, string(rep.Kind), l.Kind == string(rep.Kind))
	}
	if l.Kind == "bounce" || l.Kind == "delay" {
		want, got := len(l.Recipients), len(rep.Recipients)
		t.score(l.File, 0, FieldCount, strconv.Itoa(want), strconv.Itoa(got), want == got)
	}
	for i, lr := range l.Recipients {
		var g got
		if i < len(rep.Recipients) {
			r := rep.Recipients[i]
			g = got{recipient: r.Recipient, status: r.Status.String(), replyCode: r.ReplyCode}
			if i < len(o.Results) {
				g.cause, g.severity = o.Results[i].Cause, o.Results[i].Severity
			}
		}
		t.addRecipient(l.File, i+1, lr, g)
	}
}

// got is bounced's answer for one recipient position; all empty when it
// gave none.
type got struct {
	recipient, status string
	replyCode         int
	cause             classify.Cause
	severity          classify.Severity
}

func (t *Tally) addRecipient(file string, idx int, lr LabelRecipient, g got) {
	if lr.Recipient != nil {
		// Local parts are compared without case: the labels lower-case
		// whole addresses, and no mailbox of the corpus differs by case.
		t.score(file, idx, FieldRecipient, *lr.Recipient, g.recipient, strings.EqualFold(*lr.Recipient, g.recipient))
	}
	wantStatus := ""
	if lr.Status != nil {
		wantStatus = *lr.Status
	}
	t.score(file, idx, FieldStatus, wantStatus, g.status, wantStatus == g.status)
	wantCode := 0
	if lr.ReplyCode != nil {
		wantCode = *lr.ReplyCode
	}
	t.score(file, idx, FieldReplyCode, codeString(wantCode), codeString(g.replyCode), wantCode == g.replyCode)
	if lr.Cause != nil {
		t.score(file, idx, FieldCause, *lr.Cause, string(g.cause), *lr.Cause == string(g.cause))
		ours := string(g.cause)
		if ours == "" {
			ours = none
		}
		row := t.confusion[*lr.Cause]
		if row == nil {
			row = make(map[string]int)
			t.confusion[*lr.Cause] = row
		}
		row[ours]++
	}
	if lr.Severity != nil {
		t.score(file, idx, FieldSeverity, *lr.Severity, string(g.severity), *lr.Severity == string(g.severity))
	}
}

func codeString(c int) string {
	if c == 0 {
		return ""
	}
	return strconv.Itoa(c)
}

func (t *Tally) score(file string, idx int, f Field, want, got string, agree bool) {
	c := t.counts[f]
	if c == nil {
		c = new(Count)
		t.counts[f] = c
	}
	c.Total++
	if agree {
		c.Agree++
		return
	}
	t.misses = append(t.misses, Miss{File: file, Index: idx, Field: f, Want: want, Got: got})
}

// Count is the agreement on field f.
func (t *Tally) Count(f Field) Count {
	if c := t.counts[f]; c != nil {
		return *c
	}
	return Count{}
}

// Files is the number of files scored.
func (t *Tally) Files() int { return t.files }

// Misses lists every disagreement, in the order the files were added.
func (t *Tally) Misses() []Miss { return t.misses }

// Errors lists the files whose message was damaged, with the parser's
// error in Got. Their partial reports are scored like the others.
func (t *Tally) Errors() []Miss { return t.errors }

// Confusion is the number of recipients labelled with cause labelled for
// which bounced answered ours ("none" when it gave no recipient there).
func (t *Tally) Confusion(labelled, ours string) int {
	return t.confusion[labelled][ours]
}
