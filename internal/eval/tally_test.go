package eval

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
)

func ptr[T any](v T) *T { return &v }

func status(s string) dsn.Status {
	st, ok := dsn.ParseStatus(s)
	if !ok {
		panic("bad status " + s)
	}
	return st
}

// tallyFixture scores three files: one fully right, one with every kind of
// disagreement, one unlabelled.
func tallyFixture() *Tally {
	labels := []Label{
		{File: "a.eml", Kind: "bounce", Recipients: []LabelRecipient{{
			Recipient: ptr("alice@example.org"), ReplyCode: ptr(550), Status: ptr("5.1.1"),
			Severity: ptr("hard"), Cause: ptr("bad_address"),
		}}},
		{File: "b.eml", Kind: "bounce", Recipients: []LabelRecipient{
			{Recipient: ptr("bob@example.com"), Status: nil, ReplyCode: nil, Severity: ptr("soft"), Cause: ptr("mailbox_full")},
			{Recipient: nil, Status: ptr("5.7.1"), ReplyCode: ptr(554), Severity: nil, Cause: nil},
			{Recipient: ptr("dan@example.com"), Status: ptr("5.1.1"), ReplyCode: ptr(550), Severity: ptr("hard"), Cause: ptr("bad_address")},
		}},
		{File: "c.eml", Kind: Unlabelled},
		{File: "d.eml", Kind: "auto_reply"},
	}
	outcomes := []Outcome{
		{
			Report: &dsn.Report{Kind: dsn.Bounce, Recipients: []dsn.Recipient{{
				Recipient: "Alice@example.org", Status: status("5.1.1"), ReplyCode: 550,
			}}},
			Results: []classify.Result{{Cause: classify.BadAddress, Severity: classify.Hard}},
		},
		{
			// Two recipients where three are labelled: the third is missed.
			Report: &dsn.Report{Kind: dsn.Bounce, Recipients: []dsn.Recipient{
				{Recipient: "bob@example.com", Status: status("4.2.2"), ReplyCode: 452},
				{Recipient: "x@example.com", Status: status("5.7.1"), ReplyCode: 554},
			}},
			Results: []classify.Result{
				{Cause: classify.MailboxFull, Severity: classify.Hard},
				{Cause: classify.Policy, Severity: classify.Hard},
			},
		},
		{Report: &dsn.Report{Kind: dsn.NotBounce}},
		{Report: &dsn.Report{Kind: dsn.NotBounce}, Err: dsn.ErrTooLarge},
	}
	t := new(Tally)
	for i := range labels {
		t.Add(labels[i], outcomes[i])
	}
	return t
}

func TestTallyCounts(t *testing.T) {
	tl := tallyFixture()
	want := map[Field]Count{
		FieldKind:      {Agree: 2, Total: 3}, // c.eml is unlabelled; d.eml is wrong
		FieldCount:     {Agree: 1, Total: 2},
		FieldRecipient: {Agree: 2, Total: 3}, // case-insensitive; b's second is unlabelled
		FieldStatus:    {Agree: 2, Total: 4}, // b#1 wants none, got 4.2.2; b#3 got none
		FieldReplyCode: {Agree: 2, Total: 4},
		FieldCause:     {Agree: 2, Total: 3},
		FieldSeverity:  {Agree: 1, Total: 3},
	}
	for f, w := range want {
		if got := tl.Count(f); got != w {
			t.Errorf("%s: got %+v, want %+v", f, got, w)
		}
	}
	if tl.Files() != 4 {
		t.Errorf("files = %d, want 4", tl.Files())
	}
	if got, want := tl.Count(FieldKind).Accuracy(), 2.0/3; got != want {
		t.Errorf("kind accuracy = %v, want %v", got, want)
	}
	if got := (Count{}).Accuracy(); got != 1 {
		t.Errorf("empty accuracy = %v, want 1", got)
	}
	if got := tl.Confusion("bad_address", "bad_address"); got != 1 {
		t.Errorf("confusion[bad_address][bad_address] = %d, want 1", got)
	}
	if got := tl.Confusion("bad_address", none); got != 1 {
		t.Errorf("confusion[bad_address][none] = %d, want 1", got)
	}
	if got := tl.Confusion("mailbox_full", "mailbox_full"); got != 1 {
		t.Errorf("confusion[mailbox_full][mailbox_full] = %d, want 1", got)
	}
	if errs := tl.Errors(); len(errs) != 1 || errs[0].File != "d.eml" {
		t.Errorf("errors = %+v, want d.eml", errs)
	}
}

func TestTallyMisses(t *testing.T) {
	want := []Miss{
		{File: "b.eml", Field: FieldCount, Want: "3", Got: "2"},
		{File: "b.eml", Index: 1, Field: FieldStatus, Want: "", Got: "4.2.2"},
		{File: "b.eml", Index: 1, Field: FieldReplyCode, Want: "", Got: "452"},
		{File: "b.eml", Index: 1, Field: FieldSeverity, Want: "soft", Got: "hard"},
		{File: "b.eml", Index: 3, Field: FieldRecipient, Want: "dan@example.com", Got: ""},
		{File: "b.eml", Index: 3, Field: FieldStatus, Want: "5.1.1", Got: ""},
		{File: "b.eml", Index: 3, Field: FieldReplyCode, Want: "550", Got: ""},
		{File: "b.eml", Index: 3, Field: FieldCause, Want: "bad_address", Got: ""},
		{File: "b.eml", Index: 3, Field: FieldSeverity, Want: "hard", Got: ""},
		{File: "d.eml", Field: FieldKind, Want: "auto_reply", Got: "not_bounce"},
	}
	if got := tallyFixture().Misses(); !reflect.DeepEqual(got, want) {
		t.Errorf("misses:\n got %+v\nwant %+v", got, want)
	}
}

func TestTallyText(t *testing.T) {
	var buf bytes.Buffer
	if err := tallyFixture().WriteText(&buf, true); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"field       agree  total  accuracy",
		"kind            2      3    66.67%",
		"cause           2      3    66.67%",
		"cause confusion (rows: labelled, columns: ours)",
		"addr full none",
		" bad_address     1    .    1",
		" mailbox_full    .    1    .",
		"(addr=bad_address full=mailbox_full)",
		"b.eml  3  cause       bad_address      -",
		"d.eml     kind        auto_reply       not_bounce",
		"d.eml: " + dsn.ErrTooLarge.Error(),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	buf.Reset()
	if err := tallyFixture().WriteText(&buf, false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "misses") {
		t.Errorf("misses listed without being asked for:\n%s", buf.String())
	}
}

func TestTallyJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := tallyFixture().WriteJSON(&buf, true); err != nil {
		t.Fatal(err)
	}
	var s Summary
	if err := json.Unmarshal(buf.Bytes(), &s); err != nil {
		t.Fatalf("decoding %s: %v", buf.String(), err)
	}
	if s.Files != 4 || len(s.Fields) != len(Fields) || len(s.Misses) != 10 || len(s.Damaged) != 1 {
		t.Errorf("summary = %+v", s)
	}
	if f := s.Fields[0]; f.Field != FieldKind || f.Agree != 2 || f.Total != 3 {
		t.Errorf("first field = %+v, want kind 2/3", f)
	}
	if got := s.Confusion["bad_address"][none]; got != 1 {
		t.Errorf("confusion[bad_address][none] = %d, want 1", got)
	}
}

func TestReadLabels(t *testing.T) {
	in := `{"file": "a.eml", "kind": "bounce", "recipients": [{"recipient": null, "reply_code": 550, "status": null, "severity": "hard", "cause": null, "sisimai_reason": "filtered", "sisimai_hard": false}]}

{"file": "b.eml", "kind": "unlabelled", "recipients": []}
`
	labels, err := ReadLabels(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(labels) != 2 || labels[0].File != "a.eml" || labels[1].Kind != Unlabelled {
		t.Fatalf("labels = %+v", labels)
	}
	r := labels[0].Recipients[0]
	if r.Recipient != nil || r.Status != nil || r.Cause != nil || *r.ReplyCode != 550 || *r.Severity != "hard" || r.SisimaiReason != "filtered" {
		t.Errorf("recipient = %+v", r)
	}

	for _, tt := range []struct{ name, in, want string }{
		{"unknown field", `{"file": "a", "kind": "bounce", "recipent": []}`, "line 1"},
		{"no file", "\n" + `{"kind": "bounce"}`, "line 2: no file"},
		{"no kind", `{"file": "a"}`, "no kind"},
		{"duplicate", `{"file": "a", "kind": "bounce"}` + "\n" + `{"file": "a", "kind": "delay"}`, "line 2: a already labelled on line 1"},
		{"two values", `{"file": "a", "kind": "bounce"} {}`, "more than one"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadLabels(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
