package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/bounced/bounced/internal/classify"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func day(n float64) time.Time { return t0.Add(time.Duration(n * 24 * float64(time.Hour))) }

func ev(r Reason, sev classify.Severity, d float64) Event {
	return Event{Reason: r, Severity: sev, At: day(d), Message: int64(d*10) + 1}
}

const (
	bad  = Reason(classify.BadAddress)
	dom  = Reason(classify.BadDomain)
	dis  = Reason(classify.MailboxDisabled)
	full = Reason(classify.MailboxFull)
)

func TestDefaultPolicy(t *testing.T) {
	p := Default()
	tests := []struct {
		name     string
		events   []Event
		released time.Time
		want     Reason // "" for not suppressed
		at       float64
		count    int
	}{
		{"one hard bad_address", []Event{ev(bad, classify.Hard, 0)}, time.Time{}, bad, 0, 1},
		{"one soft bad_address", []Event{ev(bad, classify.Soft, 0)}, time.Time{}, "", 0, 0},
		{"one hard bad_domain", []Event{ev(dom, classify.Hard, 2)}, time.Time{}, dom, 2, 1},
		{"one hard mailbox_disabled", []Event{ev(dis, classify.Hard, 2)}, time.Time{}, dis, 2, 1},
		{"one complaint", []Event{{Reason: Complaint, At: day(1)}}, time.Time{}, Complaint, 1, 1},
		{"full twice", []Event{ev(full, classify.Soft, 0), ev(full, classify.Soft, 10)}, time.Time{}, "", 0, 0},
		{"full thrice within a day", []Event{ev(full, classify.Soft, 0), ev(full, classify.Soft, 0.5), ev(full, classify.Soft, 1)}, time.Time{}, "", 0, 0},
		{"full thrice over 8 days", []Event{ev(full, classify.Soft, 0), ev(full, classify.Soft, 4), ev(full, classify.Soft, 8)}, time.Time{}, full, 8, 3},
		{"full thrice over exactly 7 days", []Event{ev(full, classify.Soft, 0), ev(full, classify.Soft, 3), ev(full, classify.Soft, 7)}, time.Time{}, full, 7, 3},
		{"full thrice but over 31 days", []Event{ev(full, classify.Soft, 0), ev(full, classify.Soft, 20), ev(full, classify.Soft, 31)}, time.Time{}, "", 0, 0},
		{"full: window slides", []Event{ev(full, classify.Soft, 0), ev(full, classify.Soft, 40), ev(full, classify.Soft, 45), ev(full, classify.Soft, 50)}, time.Time{}, full, 50, 4},
		{"full: hard ones count too", []Event{ev(full, classify.Hard, 0), ev(full, classify.Soft, 4), ev(full, classify.Hard, 8)}, time.Time{}, full, 8, 3},
		{"sender scope never", []Event{ev(Reason(classify.Blocklisted), classify.Hard, 0), ev(Reason(classify.Oversize), classify.Hard, 1)}, time.Time{}, "", 0, 0},
		{"released before the bounce", []Event{ev(bad, classify.Hard, 5)}, day(1), bad, 5, 1},
		{"released after the bounce", []Event{ev(bad, classify.Hard, 5)}, day(6), "", 0, 0},
		{"bounced again after release", []Event{ev(bad, classify.Hard, 5), ev(bad, classify.Hard, 9)}, day(6), bad, 9, 1},
		{"first met wins", []Event{ev(full, classify.Soft, 0), ev(full, classify.Soft, 4), ev(full, classify.Soft, 8), ev(bad, classify.Hard, 20)}, time.Time{}, full, 8, 3},
		{"unsorted input", []Event{ev(full, classify.Soft, 8), ev(full, classify.Soft, 0), ev(full, classify.Soft, 4)}, time.Time{}, full, 8, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ok := p.Evaluate(tt.events, tt.released)
			if ok != (tt.want != "") {
				t.Fatalf("suppressed = %v (%+v), want %v", ok, v, tt.want != "")
			}
			if !ok {
				return
			}
			if v.Reason != tt.want || !v.At.Equal(day(tt.at)) || v.Count != tt.count {
				t.Errorf("verdict %s at %v count %d, want %s at %v count %d", v.Reason, v.At, v.Count, tt.want, day(tt.at), tt.count)
			}
			if v.Rule == "" || !strings.HasPrefix(v.Rule, string(tt.want)) {
				t.Errorf("rule %q", v.Rule)
			}
		})
	}
}

func TestVerdictEvidence(t *testing.T) {
	evs := []Event{ev(full, classify.Soft, 0), ev(full, classify.Soft, 4), ev(full, classify.Soft, 8), ev(full, classify.Soft, 12)}
	v, ok := Default().Evaluate(evs, time.Time{})
	if !ok {
		t.Fatal("not suppressed")
	}
	if !v.First.Equal(day(0)) || !v.Last.Equal(day(12)) || v.Count != 4 || v.Message != evs[3].Message || !v.At.Equal(day(8)) {
		t.Errorf("evidence %+v", v)
	}
}

func TestCustomRules(t *testing.T) {
	p := Policy{
		bad:  {Count: 2},
		full: {Count: 0},
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Evaluate([]Event{ev(bad, classify.Hard, 0)}, time.Time{}); ok {
		t.Error("one bad_address suppressed under count 2")
	}
	if v, ok := p.Evaluate([]Event{ev(bad, classify.Soft, 0), ev(bad, classify.Hard, 1)}, time.Time{}); !ok || v.Count != 2 {
		t.Errorf("two bad_address: %v %+v", ok, v)
	}
	if _, ok := p.Evaluate([]Event{ev(full, classify.Soft, 0), ev(full, classify.Soft, 10), ev(full, classify.Soft, 20)}, time.Time{}); ok {
		t.Error("mailbox_full suppressed with count 0")
	}
	if got := p.Causes(); strings.Join(got, ",") != "bad_address" {
		t.Errorf("Causes = %v", got)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		p    Policy
		want string
	}{
		{Policy{Reason(classify.Blocklisted): {Count: 1}}, "blocklisted: a cause of sender scope never suppresses"},
		{Policy{Reason(classify.Oversize): {Count: 1}}, "oversize: a cause of message scope"},
		{Policy{"nonsense": {Count: 1}}, "nonsense: not a recipient-scope cause"},
		{Policy{bad: {Count: -1}}, "count -1 is negative"},
		{Policy{full: {Count: 3, Span: 40 * 24 * time.Hour, Window: 30 * 24 * time.Hour}}, "span 960h0m0s is longer than window"},
		{Policy{Complaint: {Count: 1, HardOnly: true}}, "complaints have no severity"},
		{Policy{bad: {Count: 1, Span: time.Hour}}, "a span needs a count of at least 2"},
	}
	for _, tt := range tests {
		err := tt.p.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%v) = %v, want %q", tt.p, err, tt.want)
		}
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("default: %v", err)
	}
}

func TestFingerprint(t *testing.T) {
	want := "bad_address x1 hard; bad_domain x1 hard; mailbox_disabled x1 hard; complaint x1; mailbox_full x3 over 7d within 30d"
	if got := Default().Fingerprint(); got != want {
		t.Errorf("Fingerprint = %q, want %q", got, want)
	}
	p := Default()
	p[Reason(classify.MailboxFull)] = Rule{Count: 5, Span: 7 * 24 * time.Hour, Window: 30 * 24 * time.Hour}
	if p.Fingerprint() == want {
		t.Error("a changed rule keeps the fingerprint")
	}
}
