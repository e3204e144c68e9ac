package dsn_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
)

// FuzzParse feeds arbitrary bytes to the parser, seeded with every notice in
// testdata/notices. Parse must not panic and must keep the invariants of
// checkInvariants whatever it is given.
func FuzzParse(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join(noticeDir, "*.eml"))
	if err != nil {
		f.Fatal(err)
	}
	if len(paths) == 0 {
		f.Fatalf("no seed notices in %s", noticeDir)
	}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p := dsn.Parser{
			CorrelationHeaders: []string{"X-Campaign-ID"},
			VERP:               &dsn.VERP{Separator: "+", At: "="},
			MaxBytes:           1 << 20,
		}
		rep, err := p.Parse(bytes.NewReader(raw))
		if rep == nil {
			t.Fatalf("Parse returned a nil Report (error %v)", err)
		}
		checkInvariants(t, rep)
		// The in-memory path reads the same.
		brep, berr := p.ParseBytes(raw)
		if brep == nil {
			t.Fatalf("ParseBytes returned a nil Report (error %v)", berr)
		}
		a, _ := json.Marshal(rep)
		b, _ := json.Marshal(brep)
		if !bytes.Equal(a, b) || (err == nil) != (berr == nil) {
			t.Errorf("Parse and ParseBytes differ:\n%s (%v)\n%s (%v)", a, err, b, berr)
		}
	})
}

// checkInvariants holds for every Report, however damaged the input.
func checkInvariants(t *testing.T, rep *dsn.Report) {
	t.Helper()
	if !validKind(rep.Kind) {
		t.Errorf("kind %q is not one of the six", rep.Kind)
	}
	for i, r := range rep.Recipients {
		switch r.Action {
		case dsn.Failed, dsn.Delayed, dsn.ActDelivered, dsn.Relayed, dsn.Expanded:
		default:
			t.Errorf("recipient %d (%q): action %q is not an RFC 3464 action", i, r.Recipient, r.Action)
		}
		if !r.Status.IsZero() {
			if c := r.Status.Class; c != 2 && c != 4 && c != 5 {
				t.Errorf("recipient %d (%q): status %v has class %d", i, r.Recipient, r.Status, c)
			}
		}
		if rep.Kind == dsn.Bounce || rep.Kind == dsn.Delay {
			res := classify.Classify(classify.InputFor(rep, &rep.Recipients[i]))
			if !res.Cause.Valid() {
				t.Errorf("recipient %d (%q): classify gave cause %q (rule %s)", i, r.Recipient, res.Cause, res.Rule)
			}
		}
	}
	// The daemon stores reports as JSON: a date the encoder refuses (a year
	// outside 0..9999) must not come out of the parser.
	if _, err := json.Marshal(rep); err != nil {
		t.Errorf("the report does not marshal: %v", err)
	}
}
