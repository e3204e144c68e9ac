package eval

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
)

// knownWrongLabels lists corpus files whose label is plainly wrong for the
// message, with the reason; they are not scored. At most 2% of the rows
// may be listed.
var knownWrongLabels = map[string]string{
	// Warnings labelled as failures.
	"bounces/lhost-opensmtpd-04.eml": `"this is only a temporary failure report", "You DO NOT NEED to re-send": a delay, labelled bounce`,
	"bounces/lhost-opensmtpd-06.eml": `Action: delayed, Status: 4.4.7 and "only a temporary failure report": labelled a bounce with no status`,
	"bounces/lhost-opensmtpd-15.eml": `Action: delayed, Status: 4.4.7 and "only a temporary failure report": labelled a bounce with no status`,
	"bounces/lhost-opensmtpd-16.eml": `Action: delayed, Status: 4.4.7 and "only a temporary failure report": labelled a bounce with no status`,
	"bounces/lhost-gmail-06.eml":     `"THIS IS A WARNING MESSAGE ONLY", "Message will be retried": a delay, labelled bounce`,
	"bounces/lhost-gmail-08.eml":     `"THIS IS A WARNING MESSAGE ONLY", "Message will be retried": a delay, labelled bounce`,
	// A failure labelled as a warning.
	"bounces/lhost-exim-06.eml": `"This is a permanent error", "retry timeout exceeded": a failure, labelled delay`,
	// Expiries labelled with the last transient error.
	"bounces/lhost-sendmail-21.eml": `Status 4.4.7, "Deferred: Connection refused", "could not be delivered for 8 hours", "deleted from queue": expired, labelled a blocklisted bounce`,
	"bounces/lhost-sendmail-11.eml": `Status 4.4.7, "host name lookup failure", "could not be delivered for 8 hours", "deleted from queue": expired, labelled a network-error bounce`,
	"bounces/lhost-yahoo-13.eml":    `"Unable to deliver message after multiple retries, giving up.": expired, labelled server_error`,
	// Wrong address or cause.
	"bounces/lhost-apachejames-01.eml": `the message names 000000000000@vtext.example.com (twelve zeros); the label has eleven`,
	"bounces/rfc3464-01.eml":           `the delivery-status says "550 5.1.1 ... User Unknown" for userunknown@bouncehammer.jp, labelled mailbox_full; the second labelled row is "<nekochan>", which is no address`,
}

// corpusFloors are the agreements the corpus test requires (issue 2).
var corpusFloors = []struct {
	field Field
	min   float64
}{
	{FieldKind, 0.99},
	{FieldRecipient, 0.99},
	{FieldStatus, 0.98},
	{FieldCause, 0.95},
	{FieldSeverity, 0.95},
}

// corpusDir is the Sisimai corpus, which lives beside the repository
// (../shared/corpus/sisimai from its root) and is not part of it. Tests
// that need it skip when it is not there.
func corpusDir(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "corpus", "sisimai")
	if _, err := os.Stat(filepath.Join(dir, "labels.jsonl")); err != nil {
		tb.Skipf("no corpus: %v (the Sisimai corpus is read from ../shared/corpus/sisimai beside the repository)", err)
	}
	return dir
}

func TestCorpus(t *testing.T) {
	dir := corpusDir(t)
	labels, err := LoadLabels(filepath.Join(dir, "labels.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if max := len(labels) * 2 / 100; len(knownWrongLabels) > max {
		t.Errorf("%d labels listed as wrong, more than 2%% of %d rows (%d)", len(knownWrongLabels), len(labels), max)
	}
	scored := labels[:0:0]
	listed := make(map[string]bool)
	for _, l := range labels {
		if _, ok := knownWrongLabels[l.File]; ok {
			listed[l.File] = true
			continue
		}
		scored = append(scored, l)
	}
	for f := range knownWrongLabels {
		if !listed[f] {
			t.Errorf("knownWrongLabels lists %s, which has no label", f)
		}
	}

	cl, err := classify.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tally, err := Run(context.Background(), &dsn.Parser{}, cl, dir, scored)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tally.WriteText(&buf, false); err != nil {
		t.Fatal(err)
	}
	t.Logf("agreement with %d corpus labels (%d listed as wrong):\n%s", len(scored), len(knownWrongLabels), buf.String())

	for _, fl := range corpusFloors {
		c := tally.Count(fl.field)
		if c.Total == 0 {
			t.Errorf("%s: nothing scored", fl.field)
			continue
		}
		if acc := c.Accuracy(); acc < fl.min {
			t.Errorf("%s: %.2f%% (%d/%d), under the floor of %.0f%%; misses:\n%s",
				fl.field, 100*acc, c.Agree, c.Total, 100*fl.min, missesOf(tally, fl.field))
		}
	}
}

// missesOf lists the disagreements on field f, one a line.
func missesOf(t *Tally, f Field) string {
	var b strings.Builder
	for _, m := range t.Misses() {
		if m.Field == f {
			fmt.Fprintf(&b, "  %s #%d: want %q, got %q\n", m.File, m.Index, m.Want, m.Got)
		}
	}
	return b.String()
}

// TestTestdata scores the labelled notices of testdata/, written for this
// package: plain RFC 3464 notices every parser must get right.
func TestTestdata(t *testing.T) {
	labels, err := LoadLabels(filepath.Join("testdata", "labels.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(labels) != 5 {
		t.Fatalf("%d labels, want 5", len(labels))
	}
	cl, err := classify.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tally, err := Run(context.Background(), &dsn.Parser{}, cl, "testdata", labels)
	if err != nil {
		t.Fatal(err)
	}
	want := map[Field]Count{
		FieldKind:      {Agree: 5, Total: 5},
		FieldCount:     {Agree: 3, Total: 3},
		FieldRecipient: {Agree: 4, Total: 4},
		FieldStatus:    {Agree: 4, Total: 4},
	}
	for f, w := range want {
		if got := tally.Count(f); got != w {
			t.Errorf("%s: %+v, want %+v; misses:\n%s", f, got, w, missesOf(tally, f))
		}
	}
	// The classifier is judged by the corpus; here its answers only need
	// to be there and mostly right.
	if c := tally.Count(FieldCause); c.Total != 4 || c.Agree < 3 {
		t.Errorf("cause: %+v, want 4 scored, at least 3 right; misses:\n%s", c, missesOf(tally, FieldCause))
	}
	if n := tally.Confusion("bad_address", "bad_address"); n != 1 {
		t.Errorf("bad_address classified so %d times, want 1", n)
	}
	if len(tally.Errors()) != 0 {
		t.Errorf("damaged: %+v", tally.Errors())
	}
}

func TestRunMissingFile(t *testing.T) {
	labels := []Label{{File: "mail/delay.eml", Kind: "delay"}, {File: "mail/no-such.eml", Kind: "bounce"}}
	cl, err := classify.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), &dsn.Parser{}, cl, "testdata", labels)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no-such.eml") {
		t.Errorf("err = %v, want not-exist naming the file", err)
	}
}
