package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// mailDir holds small labelled notices written for the eval package.
var mailDir = filepath.Join("..", "..", "internal", "eval", "testdata", "mail")

// runCmd runs bounced with args and stdin, and gives stdout, stderr and
// the exit code.
func runCmd(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	code = exitCode(err, &errOut)
	return out.String(), errOut.String(), code
}

// outLine is the part of a `bounced parse` line the tests look at.
type outLine struct {
	File              string            `json:"file"`
	Kind              string            `json:"kind"`
	Recipient         *string           `json:"recipient"`
	Status            string            `json:"status"`
	ReplyCode         int               `json:"reply_code"`
	Cause             string            `json:"cause"`
	Severity          string            `json:"severity"`
	Scope             string            `json:"scope"`
	Rule              string            `json:"rule"`
	Action            string            `json:"action"`
	OriginalMessageID string            `json:"original_message_id"`
	Correlation       map[string]string `json:"correlation"`
	Error             string            `json:"error"`
}

func decodeLines(t *testing.T, out string) []outLine {
	t.Helper()
	var lines []outLine
	for l := range strings.Lines(out) {
		d := json.NewDecoder(strings.NewReader(l))
		var o outLine
		if err := d.Decode(&o); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		lines = append(lines, o)
	}
	return lines
}

func files(lines []outLine) []string {
	var fs []string
	for _, l := range lines {
		fs = append(fs, l.File)
	}
	return fs
}

func TestParseDir(t *testing.T) {
	out, errOut, code := runCmd(t, "", "parse", mailDir)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	lines := decodeLines(t, out)
	p := func(name string) string { return filepath.Join(mailDir, name) }
	wantFiles := []string{p("delay.eml"), p("dsn-two-recipients.eml"), p("dsn-two-recipients.eml"),
		p("dsn-user-unknown.eml"), p("ordinary.eml"), p("out-of-office.eml")}
	if got := files(lines); !slices.Equal(got, wantFiles) {
		t.Fatalf("files %q\nwant %q", got, wantFiles)
	}
	wantKinds := []string{"delay", "bounce", "bounce", "bounce", "not_bounce", "auto_reply"}
	wantRcpt := []string{"dave@slow.example", "bob@example.com", "carol@no-such-domain.example", "alice@example.org", "", ""}
	wantStatus := []string{"4.4.1", "5.2.2", "5.1.2", "5.1.1", "", ""}
	for i, l := range lines {
		if l.Kind != wantKinds[i] {
			t.Errorf("line %d: kind %q, want %q", i, l.Kind, wantKinds[i])
		}
		if wantRcpt[i] == "" {
			if l.Recipient != nil {
				t.Errorf("line %d: recipient %q on a message line", i, *l.Recipient)
			}
		} else if l.Recipient == nil || *l.Recipient != wantRcpt[i] {
			t.Errorf("line %d: recipient %v, want %q", i, l.Recipient, wantRcpt[i])
		}
		if l.Status != wantStatus[i] {
			t.Errorf("line %d: status %q, want %q", i, l.Status, wantStatus[i])
		}
		if wantRcpt[i] != "" && (l.Cause == "" || l.Severity == "" || l.Scope == "" || l.Action == "") {
			t.Errorf("line %d: a recipient line without cause, severity, scope or action: %+v", i, l)
		}
		if l.Rule != "" {
			t.Errorf("line %d: rule %q without --explain", i, l.Rule)
		}
		if l.Error != "" {
			t.Errorf("line %d: error %q", i, l.Error)
		}
	}
	if lines[3].Cause != "bad_address" || lines[3].OriginalMessageID == "" {
		t.Errorf("user unknown line: %+v, want bad_address with the original message id", lines[3])
	}
	// HTML characters are not escaped.
	if strings.Contains(out, `\u003c`) {
		t.Errorf("output escapes angle brackets:\n%s", out)
	}
}

func TestParseExplainAndConfig(t *testing.T) {
	cfg := writeConfig(t, "[parse]\ncorrelation_headers = [\"X-Campaign-ID\"]\n")
	// Flags may follow the operands.
	out, errOut, code := runCmd(t, "", "parse", filepath.Join(mailDir, "dsn-user-unknown.eml"), "--explain", "--config", cfg)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	lines := decodeLines(t, out)
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1:\n%s", len(lines), out)
	}
	if lines[0].Rule == "" {
		t.Errorf("no rule with --explain: %s", out)
	}
	if got := lines[0].Correlation["X-Campaign-ID"]; got != "feb-2026" {
		t.Errorf("correlation %v, want X-Campaign-ID feb-2026", lines[0].Correlation)
	}
}

func TestParseUserRule(t *testing.T) {
	cfg := writeConfig(t, `[[classify.rule]]
id = "virtual-table"
text = ["user unknown in virtual mailbox table"]
cause = "mailbox_disabled"
severity = "soft"
`)
	out, errOut, code := runCmd(t, "", "parse", "--explain", "--config", cfg, filepath.Join(mailDir, "dsn-user-unknown.eml"))
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	lines := decodeLines(t, out)
	if len(lines) != 1 || lines[0].Cause != "mailbox_disabled" || lines[0].Severity != "soft" || !strings.Contains(lines[0].Rule, "virtual-table") {
		t.Errorf("the user rule did not decide:\n%s", out)
	}
}

func TestParseMbox(t *testing.T) {
	var mbox bytes.Buffer
	for _, f := range []string{"dsn-user-unknown.eml", "ordinary.eml", "delay.eml"} {
		b, err := os.ReadFile(filepath.Join(mailDir, f))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&mbox, "From MAILER-DAEMON Mon Feb  2 10:00:05 2026\n%s\n", b)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "bounces.mbox")
	if err := os.WriteFile(path, mbox.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	single := filepath.Join(dir, "single.eml")
	b, _ := os.ReadFile(filepath.Join(mailDir, "ordinary.eml"))
	if err := os.WriteFile(single, append([]byte("From frank@example.com Mon Feb  2 11:00:00 2026\n"), b...), 0o644); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := runCmd(t, "", "parse", path, single)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	lines := decodeLines(t, out)
	want := []string{path + "#1", path + "#2", path + "#3", single}
	if got := files(lines); !slices.Equal(got, want) {
		t.Fatalf("files %q, want %q", got, want)
	}
	for i, k := range []string{"bounce", "not_bounce", "delay", "not_bounce"} {
		if lines[i].Kind != k {
			t.Errorf("%s: kind %q, want %q", lines[i].File, lines[i].Kind, k)
		}
	}

	// The same mbox on standard input, given twice: the second read finds
	// nothing left.
	out, _, code = runCmd(t, mbox.String(), "parse", "-")
	if code != exitOK {
		t.Fatalf("stdin: exit %d", code)
	}
	if got := files(decodeLines(t, out)); !slices.Equal(got, []string{"-#1", "-#2", "-#3"}) {
		t.Errorf("stdin files %q", got)
	}
}

func TestParseStdinMessage(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(mailDir, "delay.eml"))
	if err != nil {
		t.Fatal(err)
	}
	out, _, code := runCmd(t, string(b), "parse") // no operand: stdin
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	lines := decodeLines(t, out)
	if len(lines) != 1 || lines[0].File != "-" || lines[0].Kind != "delay" {
		t.Errorf("lines %+v, want one delay from -", lines)
	}
}

// An unreadable input gets an error line and exit status 1; the others are
// still parsed, in order.
func TestParseUnreadable(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.eml")
	ok := filepath.Join(mailDir, "ordinary.eml")
	out, errOut, code := runCmd(t, "", "parse", missing, ok)
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	if !strings.Contains(errOut, "1 input(s) could not be read") {
		t.Errorf("stderr %q", errOut)
	}
	lines := decodeLines(t, out)
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), out)
	}
	if lines[0].File != missing || lines[0].Kind != "" || !strings.Contains(lines[0].Error, "no such file") {
		t.Errorf("missing file line %+v", lines[0])
	}
	if lines[1].File != ok || lines[1].Kind != "not_bounce" || lines[1].Error != "" {
		t.Errorf("second line %+v", lines[1])
	}
}

// A damaged message (here: past max_bytes) keeps its line, with an error,
// and does not change the exit status.
func TestParseDamaged(t *testing.T) {
	cfg := writeConfig(t, "[parse]\nmax_bytes = 200\n")
	out, errOut, code := runCmd(t, "", "parse", "--config", cfg, filepath.Join(mailDir, "dsn-user-unknown.eml"))
	if code != exitOK {
		t.Errorf("exit %d, stderr %s", code, errOut)
	}
	lines := decodeLines(t, out)
	if len(lines) == 0 || lines[0].Error == "" {
		t.Errorf("no error reported for a message over max_bytes:\n%s", out)
	}
}

// Many files are parsed in parallel and printed in order.
func TestParseOrder(t *testing.T) {
	dir := t.TempDir()
	msgs := []string{"dsn-user-unknown.eml", "ordinary.eml", "delay.eml", "out-of-office.eml"}
	var want []string
	for i := range 150 {
		src := msgs[i%len(msgs)]
		b, err := os.ReadFile(filepath.Join(mailDir, src))
		if err != nil {
			t.Fatal(err)
		}
		sub := filepath.Join(dir, fmt.Sprintf("d%d", i%3), "cur")
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(sub, fmt.Sprintf("%04d-%s", i, src))
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
		want = append(want, name)
	}
	slices.Sort(want)
	out, _, code := runCmd(t, "", "parse", dir)
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if got := files(decodeLines(t, out)); !slices.Equal(got, want) {
		t.Errorf("files out of order:\n got %q\nwant %q", got, want)
	}
}

func TestEvalCommand(t *testing.T) {
	labels := filepath.Join(mailDir, "..", "labels.jsonl")
	dir := filepath.Join(mailDir, "..")
	out, errOut, code := runCmd(t, "", "eval", "--labels", labels, "--misses", dir)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	for _, want := range []string{"kind            5      5   100.00%", "recipient       4      4   100.00%", "cause confusion", "5 files, 0 damaged"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, _, code = runCmd(t, "", "eval", "--json", "--labels", labels, dir)
	if code != exitOK {
		t.Fatalf("--json: exit %d", code)
	}
	var s struct {
		Files  int
		Fields []struct {
			Field    string
			Agree    int
			Total    int
			Accuracy float64
		}
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if s.Files != 5 || len(s.Fields) == 0 || s.Fields[0].Field != "kind" || s.Fields[0].Agree != 5 {
		t.Errorf("--json summary %+v", s)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string // in stderr
	}{
		{nil, exitUsage, "no command given"},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"parse", "--bogus"}, exitUsage, "flag provided but not defined: -bogus"},
		{[]string{"eval", "somedir"}, exitUsage, "--labels is required"},
		{[]string{"eval", "--labels", "x.jsonl"}, exitUsage, "exactly one DIR"},
		{[]string{"eval", "--labels", "no-such.jsonl", "."}, exitFailure, "opening labels"},
		{[]string{"parse", "--config", "no-such.toml", "x"}, exitUsage, "config no-such.toml"},
		{[]string{"help", "nope"}, exitUsage, `unknown command "nope"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, errOut, code := runCmd(t, "", tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr %q lacks %q", errOut, tt.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	out, _, code := runCmd(t, "", "help")
	if code != exitOK || !strings.Contains(out, "bounced parse [--explain]") || !strings.Contains(out, "bounced eval") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
	out, _, code = runCmd(t, "", "help", "eval")
	if code != exitOK || !strings.Contains(out, "-labels FILE") || !strings.Contains(out, "-misses") {
		t.Errorf("help eval: exit %d\n%s", code, out)
	}
	_, errOut, code := runCmd(t, "", "parse", "-h")
	if code != exitOK || !strings.Contains(errOut, "Usage: bounced parse") {
		t.Errorf("parse -h: exit %d\n%s", code, errOut)
	}
}

func TestExitCode(t *testing.T) {
	var buf bytes.Buffer
	if c := exitCode(nil, &buf); c != exitOK {
		t.Errorf("nil: %d", c)
	}
	if c := exitCode(fmt.Errorf("x: %w", errFailed), &buf); c != exitFailure || buf.Len() != 0 {
		t.Errorf("errFailed: %d, printed %q", c, buf.String())
	}
	if c := exitCode(errors.New("disk on fire"), &buf); c != exitFailure || !strings.Contains(buf.String(), "bounced: disk on fire") {
		t.Errorf("other: %d, printed %q", c, buf.String())
	}
}
