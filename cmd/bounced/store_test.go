package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bounced/bounced/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// noticesDir holds the parser's sample notices and expect.jsonl, what a
// careful reader finds in each.
var noticesDir = filepath.Join("..", "..", "internal", "dsn", "testdata")

// expectedRecipient is a recipient line of expect.jsonl.
type expectedRecipient struct {
	Recipient string `json:"recipient"`
	Cause     string `json:"cause"`
	Severity  string `json:"severity"`
}

// expectations reads expect.jsonl: the recipients of each bounce, and
// the number of notices of each kind.
func expectations(t *testing.T) (bounces []expectedRecipient, kinds map[string]int) {
	t.Helper()
	f, err := os.Open(filepath.Join(noticesDir, "expect.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kinds = map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e struct {
			Kind       string              `json:"kind"`
			Recipients []expectedRecipient `json:"recipients"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		kinds[e.Kind]++
		if e.Kind == "bounce" {
			bounces = append(bounces, e.Recipients...)
		}
	}
	return bounces, kinds
}

// TestStoreCommands drives the store commands over the sample notices, the
// way a user backfills history and cleans a list.
func TestStoreCommands(t *testing.T) {
	t.Parallel()
	db := pgtest.URL(t)

	// Before migrate, a command says what to do.
	_, stderr, code := runCmd(t, "", "suppressions", "--db", db)
	if code != exitFailure || !strings.Contains(stderr, "bounced migrate") {
		t.Errorf("suppressions before migrate: code %d, stderr %q", code, stderr)
	}
	out, stderr, code := runCmd(t, "", "migrate", "--db", db)
	if code != 0 || !strings.Contains(out, "applied 0001_init") {
		t.Fatalf("migrate: code %d, out %q, stderr %q", code, out, stderr)
	}
	out, _, _ = runCmd(t, "", "migrate", "--db", db)
	if !strings.Contains(out, "schema is up to date") {
		t.Errorf("second migrate: %q", out)
	}

	notices := filepath.Join(noticesDir, "notices")
	entries, _ := os.ReadDir(notices)
	// As the parser's own tests read them: notices named verp-* were sent
	// to a VERP address.
	cfg := writeConfig(t, "[parse.verp]\n")
	out, stderr, code = runCmd(t, "", "import", "--db", db, "--config", cfg, notices)
	if code != 0 || !strings.Contains(out, "imported "+itoa(len(entries))+" message(s) (0 already stored)") {
		t.Fatalf("import: code %d, out %q, stderr %q", code, out, stderr)
	}
	out, _, code = runCmd(t, "", "import", "--db", db, notices)
	if code != 0 || !strings.Contains(out, "imported 0 message(s) ("+itoa(len(entries))+" already stored), 0 recipient row(s)") {
		t.Errorf("second import: code %d, out %q", code, out)
	}

	// The suppression list, as a list manager reads it.
	out, stderr, code = runCmd(t, "", "suppressions", "--db", db, "--format", "csv")
	if code != 0 {
		t.Fatalf("suppressions: code %d, stderr %q", code, stderr)
	}
	records, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(records) < 2 {
		t.Fatalf("csv: %v, %d records", err, len(records))
	}
	if h := strings.Join(records[0], ","); h != "address,domain,reason,suppressed_at,first_bounce,last_bounce,bounce_count,rule" {
		t.Errorf("csv header %q", h)
	}
	suppressed := map[string]string{}
	for _, r := range records[1:] {
		suppressed[r[0]] = r[2]
	}
	bounces, kinds := expectations(t)
	speaksAgainst := map[string]bool{}
	for _, r := range bounces {
		if r.Recipient != "" && r.Severity == "hard" && slices.Contains([]string{"bad_address", "bad_domain", "mailbox_disabled"}, r.Cause) {
			speaksAgainst[r.Recipient] = true
		}
	}
	for a := range speaksAgainst {
		if suppressed[a] == "" {
			t.Errorf("%s bounced hard for a recipient-scope cause but is not suppressed", a)
		}
	}
	// An address whose only bounces are about the sender, the message or
	// the transport is never suppressed.
	onlyOther := map[string]bool{}
	for _, r := range bounces {
		if r.Recipient != "" && !slices.Contains([]string{"bad_address", "bad_domain", "mailbox_disabled", "mailbox_full"}, r.Cause) {
			onlyOther[r.Recipient] = true
		}
	}
	for _, r := range bounces {
		if slices.Contains([]string{"bad_address", "bad_domain", "mailbox_disabled", "mailbox_full"}, r.Cause) {
			delete(onlyOther, r.Recipient)
		}
	}
	if len(onlyOther) == 0 {
		t.Fatal("the notices have no sender-scope bounce to check")
	}
	for a := range onlyOther {
		if reason, ok := suppressed[a]; ok && reason != "complaint" {
			t.Errorf("%s is suppressed (%s) though none of its bounces is about the recipient", a, reason)
		}
	}
	complaints := 0
	for _, reason := range suppressed {
		if reason == "complaint" {
			complaints++
		}
	}
	if kinds["complaint"] > 0 && complaints == 0 {
		t.Error("no address suppressed for a complaint")
	}

	// Filters, and the JSON form.
	out, _, _ = runCmd(t, "", "suppressions", "--db", db, "--format", "json", "--cause", "mailbox_disabled")
	var list []struct{ Address, Reason string }
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	for _, x := range list {
		if x.Reason != "mailbox_disabled" {
			t.Errorf("--cause mailbox_disabled listed %+v", x)
		}
	}
	if len(list) == 0 {
		t.Error("no mailbox_disabled suppression")
	}
	out, _, _ = runCmd(t, "", "suppressions", "--db", db, "--since", "1d")
	if !strings.Contains(out, "0 address(es)") {
		t.Errorf("--since 1d over notices of 2024: %q", out)
	}
	_, stderr, code = runCmd(t, "", "suppressions", "--db", db, "--cause", "blocklisted")
	if code != exitUsage || !strings.Contains(stderr, "never suppresses") {
		t.Errorf("--cause blocklisted: code %d, %q", code, stderr)
	}

	// One address's story, then its release.
	var addr string
	for a, reason := range suppressed {
		if reason == "mailbox_disabled" {
			addr = a
			break
		}
	}
	out, _, code = runCmd(t, "", "show", "--db", db, addr)
	if code != 0 || !strings.Contains(out, "suppressed since") || !strings.Contains(out, "mailbox_disabled (recipient scope)") || !strings.Contains(out, "rule:") {
		t.Errorf("show %s: code %d\n%s", addr, code, out)
	}
	_, stderr, code = runCmd(t, "", "unsuppress", "--db", db, addr)
	if code != exitUsage || !strings.Contains(stderr, "--reason is required") {
		t.Errorf("unsuppress without reason: code %d, %q", code, stderr)
	}
	out, _, code = runCmd(t, "", "unsuppress", "--db", db, "--reason", "owner says it works", "--by", "tester", addr)
	if code != 0 || !strings.Contains(out, "released "+addr) {
		t.Errorf("unsuppress: code %d, %q", code, out)
	}
	_, stderr, code = runCmd(t, "", "unsuppress", "--db", db, "--reason", "again", addr)
	if code != exitFailure || !strings.Contains(stderr, "not suppressed") {
		t.Errorf("second unsuppress: code %d, %q", code, stderr)
	}
	out, _, _ = runCmd(t, "", "show", "--db", db, "--format", "json", addr)
	var h struct {
		Suppression *struct{} `json:"suppression"`
		Releases    []struct {
			Reason string `json:"Reason"`
			By     string `json:"By"`
		} `json:"releases"`
		Events []struct{ Cause, Rule string } `json:"events"`
	}
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatal(err)
	}
	if h.Suppression != nil || len(h.Releases) != 1 || h.Releases[0].Reason != "owner says it works" || h.Releases[0].By != "tester" || len(h.Events) == 0 {
		t.Errorf("history after release: %s", out)
	}

	// Stats: every failed recipient of the notices is counted once.
	out, _, code = runCmd(t, "", "stats", "--db", db, "--since", "2000-01-01", "--format", "json")
	var st struct {
		Counts []struct {
			Key     string `json:"key"`
			Bounces int    `json:"bounces"`
		} `json:"counts"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 {
		t.Fatalf("stats: %v %d\n%s", err, code, out)
	}
	total := 0
	for _, c := range st.Counts {
		total += c.Bounces
	}
	if total != len(bounces) {
		t.Errorf("stats count %d failed recipients, expect.jsonl has %d", total, len(bounces))
	}
	for _, by := range []string{"cause", "domain", "day"} {
		out, _, code = runCmd(t, "", "stats", "--db", db, "--since", "2000-01-01", "--by", by)
		if code != 0 || !strings.Contains(out, "total") || !strings.Contains(out, "BOUNCES") {
			t.Errorf("stats --by %s: code %d\n%s", by, code, out)
		}
	}

	// Reclassify finds nothing to change with the same rules.
	out, _, code = runCmd(t, "", "reclassify", "--db", db, "--config", cfg)
	if code != 0 || !strings.Contains(out, "reclassified "+itoa(len(entries))+" message(s): 0 changed") {
		t.Errorf("reclassify: code %d, %q", code, out)
	}

	// Retention: the notices are from 2024; suppressions outlive them.
	out, _, _ = runCmd(t, "", "cleanup", "--db", db, "--rows-older-than", "1d", "--dry-run")
	if !strings.Contains(out, "would delete "+itoa(len(entries))+" message(s)") {
		t.Errorf("cleanup --dry-run: %q", out)
	}
	out, _, code = runCmd(t, "", "cleanup", "--db", db, "--rows-older-than", "1d", "--batch", "10")
	if code != 0 || !strings.Contains(out, "deleted "+itoa(len(entries))+" message(s)") {
		t.Errorf("cleanup: code %d, %q", code, out)
	}
	out, _, _ = runCmd(t, "", "suppressions", "--db", db, "--format", "csv")
	if n := strings.Count(out, "\n") - 1; n != len(suppressed)-1 {
		t.Errorf("after cleanup %d suppressions, want %d", n, len(suppressed)-1)
	}
	_, stderr, code = runCmd(t, "", "cleanup", "--db", db)
	if code != exitUsage || !strings.Contains(stderr, "nothing to do") {
		t.Errorf("cleanup without retention: code %d, %q", code, stderr)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestImportInputs imports an mbox, standard input and a missing file: the
// readable ones are stored, the missing one is reported with exit 1.
func TestImportInputs(t *testing.T) {
	t.Parallel()
	db := pgtest.URL(t)
	if _, stderr, code := runCmd(t, "", "migrate", "--db", db); code != 0 {
		t.Fatal(stderr)
	}
	var mbox strings.Builder
	for _, f := range []string{"dsn-user-unknown.eml", "ordinary.eml", "delay.eml"} {
		b, err := os.ReadFile(filepath.Join(mailDir, f))
		if err != nil {
			t.Fatal(err)
		}
		mbox.WriteString("From MAILER-DAEMON Mon Feb  2 10:00:05 2026\n" + string(b) + "\n")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "bounces.mbox")
	if err := os.WriteFile(path, []byte(mbox.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.eml")
	out, stderr, code := runCmd(t, "", "import", "--db", db, path, missing)
	if code != exitFailure || !strings.Contains(stderr, "missing.eml") || !strings.Contains(out, "imported 3 message(s) (0 already stored)") {
		t.Errorf("import: code %d, out %q, stderr %q", code, out, stderr)
	}
	// The same messages on standard input are the same bytes: nothing new.
	out, _, code = runCmd(t, mbox.String(), "import", "--db", db, "-")
	if code != 0 || !strings.Contains(out, "imported 0 message(s) (3 already stored)") {
		t.Errorf("stdin import: code %d, out %q", code, out)
	}
	out, _, _ = runCmd(t, "", "stats", "--db", db, "--since", "2000-01-01", "--format", "json")
	var st struct {
		Counts []struct {
			Bounces int `json:"bounces"`
			Delays  int `json:"delays"`
		} `json:"counts"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	var b, d int
	for _, c := range st.Counts {
		b, d = b+c.Bounces, d+c.Delays
	}
	if b != 1 || d != 1 {
		t.Errorf("stored %d bounces and %d delays, want 1 and 1", b, d)
	}
}
