package store

import (
	"context"
	"slices"
	"testing"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
)

func causeCounts(t *testing.T, s *Store) map[string]Count {
	t.Helper()
	out := map[string]Count{}
	for _, c := range statsBy(t, s, ByCause) {
		out[c.Key] = c
	}
	return out
}

func TestReclassify(t *testing.T) {
	t.Parallel()
	s, url := openURL(t, Options{KeepRaw: true})
	ctx := context.Background()
	c := connect(t, url)
	addr := "a@one.example"
	m := bounce(1, addr, classify.Unknown, classify.Hard, day(0))
	other := bounce(2, "b@one.example", classify.Blocklisted, classify.Hard, day(0))
	save(t, s, m, other)
	if x := suppression(t, s, addr); x != nil {
		t.Fatalf("suppressed on an unknown bounce: %+v", x)
	}

	raws, err := s.RawMessages(ctx, day(-1), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(raws) != 1 || string(raws[0].Raw) != string(m.Raw) || !raws[0].ReceivedAt.Equal(day(0)) {
		t.Fatalf("raw messages %+v, want the first message", raws)
	}
	if next, err := s.RawMessages(ctx, day(-1), raws[0].ID, 10); err != nil || len(next) != 1 || string(next[0].Raw) != string(other.Raw) {
		t.Fatalf("the next page %+v, %v", next, err)
	}
	if none, err := s.RawMessages(ctx, day(1), 0, 10); err != nil || len(none) != 0 {
		t.Errorf("raw messages since a later day: %d, %v", len(none), err)
	}

	reanalyse := func(cause classify.Cause) Reanalysis {
		rep := *m.Report
		rep.Recipients = []dsn.Recipient{m.Report.Recipients[0]}
		rep.Recipients[0].Status = dsn.Status{Class: 5, Subject: 1, Detail: 1}
		return Reanalysis{
			ID: raws[0].ID, ReceivedAt: raws[0].ReceivedAt, Report: &rep,
			Results: []classify.Result{{Cause: cause, Severity: classify.Hard, Scope: cause.Scope(), Rule: "status:5.1.1"}},
		}
	}

	ch, err := s.Replace(ctx, []Reanalysis{reanalyse(classify.BadAddress)})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Changed{Messages: 1, Removed: 1, Added: 1}); ch != want {
		t.Errorf("changed %+v, want %+v", ch, want)
	}
	if n := count(t, c, `SELECT count(*) FROM bounce WHERE recipient = $1 AND cause = 'bad_address' AND status = '5.1.1'
		AND rule = 'status:5.1.1' AND bounced_at = $2`, addr, day(0)); n != 1 {
		t.Errorf("%d rows reclassified as expected, want 1", n)
	}
	if n := count(t, c, `SELECT count(*) FROM bounce`); n != 2 {
		t.Errorf("%d bounce rows, want 2", n)
	}
	counts := causeCounts(t, s)
	if _, ok := counts["unknown"]; ok || counts["bad_address"].Hard != 1 || counts["blocklisted"].Hard != 1 {
		t.Errorf("counts by cause after reclassifying %+v", counts)
	}
	x := suppression(t, s, addr)
	if x == nil || x.Reason != "bad_address" || !x.SuppressedAt.Equal(day(0)) {
		t.Errorf("after reclassifying as bad_address: %+v", x)
	}
	// The counts by domain follow: the row became one of recipient scope.
	top, err := s.TopDomains(ctx, day(-1), day(1), 0)
	if want := []Count{{Key: "one.example", Bounces: 2, Hard: 2, Recipient: 1}}; err != nil || !slices.Equal(top, want) {
		t.Errorf("top domains after reclassifying: %+v, %v; want %+v", top, err, want)
	}

	// The same analysis again changes nothing.
	ch, err = s.Replace(ctx, []Reanalysis{reanalyse(classify.BadAddress)})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Changed{Messages: 0, Removed: 1, Added: 1}); ch != want {
		t.Errorf("replacing with the same analysis: changed %+v, want %+v", ch, want)
	}
	if counts := causeCounts(t, s); counts["bad_address"].Hard != 1 {
		t.Errorf("counts by cause after the same analysis %+v", counts)
	}

	// Back to a sender cause: the suppression goes.
	ch, err = s.Replace(ctx, []Reanalysis{reanalyse(classify.Blocklisted)})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Changed{Messages: 1, Removed: 1, Added: 1}); ch != want {
		t.Errorf("changed %+v, want %+v", ch, want)
	}
	if x := suppression(t, s, addr); x != nil {
		t.Errorf("still suppressed after reclassifying as blocklisted: %+v", x)
	}
	counts = causeCounts(t, s)
	if _, ok := counts["bad_address"]; ok || counts["blocklisted"].Hard != 2 || len(counts) != 1 {
		t.Errorf("counts by cause after reclassifying again %+v", counts)
	}

	// A notice that turns out not to be a bounce loses its rows.
	ch, err = s.Replace(ctx, []Reanalysis{{ID: raws[0].ID, ReceivedAt: raws[0].ReceivedAt, Report: &dsn.Report{Kind: dsn.NotBounce}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Changed{Messages: 1, Removed: 1, Added: 0}); ch != want {
		t.Errorf("changed %+v, want %+v", ch, want)
	}
	if n := count(t, c, `SELECT count(*) FROM message WHERE kind = 'not_bounce' AND id = $1`, raws[0].ID); n != 1 {
		t.Errorf("the message's kind was not updated")
	}
	if counts := causeCounts(t, s); counts["blocklisted"].Hard != 1 {
		t.Errorf("counts by cause after the rows went %+v", counts)
	}
}

// A message with two recipients reanalysed the same way is not changed,
// and a message deleted by retention meanwhile is passed over.
func TestReclassifyUnchangedAndGone(t *testing.T) {
	t.Parallel()
	s, url := openURL(t, Options{KeepRaw: true})
	ctx := context.Background()
	c := connect(t, url)
	m := twoRecipients(1, "a@one.example", "b@one.example")
	gone := bounce(2, "c@one.example", classify.BadAddress, classify.Hard, day(-30))
	save(t, s, m, gone)
	id := int64(count(t, c, `SELECT id FROM message WHERE uid = 1`))
	goneID := int64(count(t, c, `SELECT id FROM message WHERE uid = 2`))
	if _, err := s.Cleanup(ctx, Retention{RowsBefore: day(-1)}); err != nil {
		t.Fatal(err)
	}
	ch, err := s.Replace(ctx, []Reanalysis{
		{ID: id, ReceivedAt: m.ReceivedAt, Report: m.Report, Results: m.Results},
		{ID: goneID, ReceivedAt: gone.ReceivedAt, Report: gone.Report, Results: gone.Results},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Changed{Messages: 0, Removed: 2, Added: 2}); ch != want {
		t.Errorf("changed %+v, want %+v", ch, want)
	}
	if n := count(t, c, `SELECT count(*) FROM bounce`); n != 2 {
		t.Errorf("%d bounce rows, want 2", n)
	}
	if counts := causeCounts(t, s); counts["bad_address"].Hard != 2 || counts["mailbox_full"].Soft != 1 {
		t.Errorf("counts by cause %+v", counts)
	}
}
