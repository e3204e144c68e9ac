package dsn_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
)

// The notices under testdata/notices are written by us (none is copied from a
// real mailbox); testdata/expect.jsonl says, for each, what a careful human
// reading it concludes, and testdata/golden holds the parser's full output.
var update = flag.Bool("update", false, "rewrite testdata/golden/*.json from the parser's output")

const (
	noticeDir  = "testdata/notices"
	goldenDir  = "testdata/golden"
	expectFile = "testdata/expect.jsonl"
)

// parserFor gives the options a notice is read with: every notice keeps the
// X-Campaign-ID correlation header, and notices whose file name starts with
// "verp-" were sent to a VERP address (bounces+alice=example.com@...).
func parserFor(name string) *dsn.Parser {
	p := &dsn.Parser{CorrelationHeaders: []string{"X-Campaign-ID"}}
	if strings.HasPrefix(name, "verp-") {
		p.VERP = &dsn.VERP{Separator: "+", At: "="}
	}
	return p
}

// notices lists testdata/notices/*.eml by base name without the extension.
func notices(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(noticeDir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no notices in %s", noticeDir)
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = strings.TrimSuffix(filepath.Base(p), ".eml")
	}
	return names
}

// parseNotice reads testdata/notices/NAME.eml with the options of parserFor.
func parseNotice(t *testing.T, name string) (*dsn.Report, error) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(noticeDir, name+".eml"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := parserFor(name).Parse(bytes.NewReader(raw))
	if rep == nil {
		t.Fatalf("Parse returned a nil Report (error %v)", err)
	}
	return rep, err
}

// TestParseBytes checks that the in-memory path reads every notice as the
// streaming one does.
func TestParseBytes(t *testing.T) {
	for _, name := range notices(t) {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(noticeDir, name+".eml"))
			if err != nil {
				t.Fatal(err)
			}
			p := parserFor(name)
			want, werr := p.Parse(bytes.NewReader(raw))
			got, gerr := p.ParseBytes(raw)
			a, _ := json.Marshal(want)
			b, _ := json.Marshal(got)
			if !bytes.Equal(a, b) || fmt.Sprint(werr) != fmt.Sprint(gerr) {
				t.Errorf("ParseBytes differs from Parse:\n%s (%v)\n%s (%v)", b, gerr, a, werr)
			}
		})
	}
}

// golden is what testdata/golden/NAME.json holds.
type golden struct {
	Report *dsn.Report `json:"report"`
	Error  string      `json:"error,omitempty"`
}

func TestGolden(t *testing.T) {
	names := notices(t)
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		removeStaleGolden(t, names)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rep, err := parseNotice(t, name)
			g := golden{Report: rep}
			if err != nil {
				g.Error = err.Error()
			}
			got, merr := json.MarshalIndent(g, "", "  ")
			if merr != nil {
				t.Fatalf("marshalling the report: %v", merr)
			}
			got = append(got, '\n')

			path := filepath.Join(goldenDir, name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, rerr := os.ReadFile(path)
			if rerr != nil {
				t.Fatalf("reading the golden file (go test ./internal/dsn -run TestGolden -update writes it): %v", rerr)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (rerun with -update if the change is intended):\n%s", path, lineDiff(want, got))
			}
		})
	}
}

// removeStaleGolden deletes golden files whose notice is gone, so -update
// leaves testdata/golden matching testdata/notices.
func removeStaleGolden(t *testing.T, names []string) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if !slices.Contains(names, strings.TrimSuffix(filepath.Base(p), ".json")) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// lineDiff shows the first lines where want and got differ, with a little
// context; enough to see what changed without a diff library.
func lineDiff(want, got []byte) string {
	w := strings.Split(string(want), "\n")
	g := strings.Split(string(got), "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	var b strings.Builder
	start := max(0, i-3)
	for j := start; j < i; j++ {
		fmt.Fprintf(&b, "  %s\n", w[j])
	}
	for j := i; j < min(len(w), i+8); j++ {
		fmt.Fprintf(&b, "- %s\n", w[j])
	}
	for j := i; j < min(len(g), i+8); j++ {
		fmt.Fprintf(&b, "+ %s\n", g[j])
	}
	return b.String()
}

// expectation is one line of testdata/expect.jsonl, in the format of the
// shared corpus labels (../shared/corpus/README.md). A null field means
// "the message carries none" for reply_code and status, and "not checked"
// for severity and cause.
type expectation struct {
	File       string              `json:"file"`
	Kind       dsn.Kind            `json:"kind"`
	Recipients []expectedRecipient `json:"recipients"`
}

type expectedRecipient struct {
	Recipient *string            `json:"recipient"`
	ReplyCode *int               `json:"reply_code"`
	Status    *string            `json:"status"`
	Severity  *classify.Severity `json:"severity"`
	Cause     *classify.Cause    `json:"cause"`
}

// loadExpectations reads testdata/expect.jsonl strictly, keyed by notice name.
func loadExpectations(t *testing.T) map[string]expectation {
	t.Helper()
	f, err := os.Open(expectFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	exps := make(map[string]expectation)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		var e expectation
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("%s:%d: %v", expectFile, n, err)
		}
		name, ok := strings.CutPrefix(e.File, "notices/")
		name, ok2 := strings.CutSuffix(name, ".eml")
		if !ok || !ok2 {
			t.Fatalf("%s:%d: file %q is not notices/NAME.eml", expectFile, n, e.File)
		}
		if _, dup := exps[name]; dup {
			t.Fatalf("%s:%d: second expectation for %s", expectFile, n, e.File)
		}
		if !validKind(e.Kind) {
			t.Fatalf("%s:%d: unknown kind %q", expectFile, n, e.Kind)
		}
		for _, r := range e.Recipients {
			if r.Status != nil {
				if _, ok := dsn.ParseStatus(*r.Status); !ok {
					t.Fatalf("%s:%d: bad status %q", expectFile, n, *r.Status)
				}
			}
		}
		exps[name] = e
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return exps
}

// TestExpectations checks the parser (kind, recipients, status, reply code)
// and, in a "classify" subtest, the classifier (cause, severity) against
// what a human reads in each notice.
func TestExpectations(t *testing.T) {
	exps := loadExpectations(t)
	names := notices(t)
	for _, name := range names {
		if _, ok := exps[name]; !ok {
			t.Errorf("%s.eml has no line in %s", name, expectFile)
		}
	}
	for name := range exps {
		if !slices.Contains(names, name) {
			t.Errorf("%s names %s.eml, which does not exist", expectFile, name)
		}
	}

	for _, name := range names {
		exp, ok := exps[name]
		if !ok {
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rep, err := parseNotice(t, name)
			if err != nil {
				t.Logf("Parse error (tolerated, the report still counts): %v", err)
			}
			// The kind a user sees is settled by the classifier from the
			// recipients, as the daemon does.
			kind, results := builtin.Message(rep)
			if kind != exp.Kind {
				t.Errorf("kind = %q, want %q", kind, exp.Kind)
			}

			var got, want []string
			for _, r := range rep.Recipients {
				got = append(got, r.Recipient)
			}
			for _, r := range exp.Recipients {
				want = append(want, deref(r.Recipient, ""))
			}
			if !slices.Equal(got, want) {
				t.Fatalf("recipients = %q, want %q", got, want)
			}

			for i, r := range rep.Recipients {
				e := exp.Recipients[i]
				if s, w := r.Status.String(), deref(e.Status, ""); s != w {
					t.Errorf("%s: status = %q, want %q", r.Recipient, s, w)
				}
				if w := deref(e.ReplyCode, 0); r.ReplyCode != w {
					t.Errorf("%s: reply code = %d, want %d", r.Recipient, r.ReplyCode, w)
				}
				if r.Action == "" {
					t.Errorf("%s: empty action", r.Recipient)
				}
			}

			t.Run("classify", func(t *testing.T) {
				for i, r := range rep.Recipients {
					e := exp.Recipients[i]
					if e.Cause == nil && e.Severity == nil {
						continue
					}
					res := results[i]
					if e.Cause != nil && res.Cause != *e.Cause {
						t.Errorf("%s: cause = %q (rule %s, matched %q), want %q", r.Recipient, res.Cause, res.Rule, res.Matched, *e.Cause)
					}
					if e.Severity != nil && res.Severity != *e.Severity {
						t.Errorf("%s: severity = %q (rule %s), want %q", r.Recipient, res.Severity, res.Rule, *e.Severity)
					}
				}
			})
		})
	}
}

// builtin is the classifier with no user rules, as the daemon starts.
var builtin = func() *classify.Classifier {
	c, err := classify.New(nil)
	if err != nil {
		panic(err)
	}
	return c
}()

func validKind(k dsn.Kind) bool {
	switch k {
	case dsn.Bounce, dsn.Delay, dsn.AutoReply, dsn.Complaint, dsn.Delivered, dsn.NotBounce:
		return true
	}
	return false
}

func deref[T any](p *T, zero T) T {
	if p == nil {
		return zero
	}
	return *p
}
