package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
)

// recipients gives the recipient of each row.
func recipients(rs []Recipient) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Recipient)
	}
	return out
}

func TestBounces(t *testing.T) {
	t.Parallel()
	s, url := openURL(t, Options{})
	ctx := context.Background()
	save(t, s,
		bounce(1, "a@one.example", classify.BadAddress, classify.Hard, day(0)),
		bounce(2, "b@one.example", classify.Blocklisted, classify.Hard, day(1)),
		bounce(3, "c@two.example", classify.MailboxFull, classify.Soft, day(2)),
		delay(4, "d@two.example", classify.MailboxFull, classify.Soft, day(3)),
		complaint(5, day(4), "e@three.example"),
		bounce(6, "f@one.example", classify.BadAddress, classify.Hard, day(4)),
	)
	tests := []struct {
		name string
		f    BounceFilter
		want []string
	}{
		{"all, newest first", BounceFilter{}, []string{"f@one.example", "e@three.example", "d@two.example", "c@two.example", "b@one.example", "a@one.example"}},
		{"since", BounceFilter{Since: day(3)}, []string{"f@one.example", "e@three.example", "d@two.example"}},
		{"until", BounceFilter{Until: day(1)}, []string{"a@one.example"}},
		{"cause", BounceFilter{Cause: "bad_address"}, []string{"f@one.example", "a@one.example"}},
		{"complaints", BounceFilter{Cause: "complaint"}, []string{"e@three.example"}},
		{"domain, any case", BounceFilter{Domain: "TWO.example"}, []string{"d@two.example", "c@two.example"}},
		{"kind", BounceFilter{Kind: "delay"}, []string{"d@two.example"}},
		{"severity", BounceFilter{Severity: "soft"}, []string{"d@two.example", "c@two.example"}},
		{"scope", BounceFilter{Scope: "sender"}, []string{"b@one.example"}},
		{"limit", BounceFilter{Limit: 2}, []string{"f@one.example", "e@three.example"}},
		{"nothing", BounceFilter{Domain: "none.example"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Bounces(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(recipients(got), tt.want) {
				t.Errorf("got %q, want %q", recipients(got), tt.want)
			}
		})
	}
	// Paging two at a time meets every row once, in order, also among rows
	// of the same time (the complaint and f@ bounced on day 4).
	var all []string
	var before *BounceCursor
	for {
		page, err := s.Bounces(ctx, BounceFilter{Before: before, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, recipients(page)...)
		last := page[len(page)-1]
		before = &BounceCursor{At: last.BouncedAt, ID: last.ID}
	}
	if want := tests[0].want; !slices.Equal(all, want) {
		t.Errorf("paging: %q, want %q", all, want)
	}
	// Filters without an index read from the day the daily counts give:
	// the same answers, paged, also when retention deleted rows the counts
	// still hold.
	more := []Message{
		bounce(7, "g@one.example", classify.BadAddress, classify.Hard, day(5)),
		bounce(8, "h@one.example", classify.Blocklisted, classify.Hard, day(6)),
		bounce(9, "i@one.example", classify.BadAddress, classify.Hard, day(8)),
	}
	save(t, s, more...)
	pages := func(f BounceFilter) []string {
		var all []string
		for range 20 {
			page, err := s.Bounces(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, recipients(page)...)
			if len(page) < f.Limit {
				return all
			}
			last := page[len(page)-1]
			f.Before = &BounceCursor{At: last.BouncedAt, ID: last.ID}
		}
		t.Fatal("paging does not end")
		return nil
	}
	for _, tt := range []struct {
		f    BounceFilter
		want []string
	}{
		{BounceFilter{Cause: "bad_address", Limit: 1}, []string{"i@one.example", "g@one.example", "f@one.example", "a@one.example"}},
		{BounceFilter{Cause: "bad_address", Limit: 3}, []string{"i@one.example", "g@one.example", "f@one.example", "a@one.example"}},
		{BounceFilter{Scope: "sender", Limit: 1}, []string{"h@one.example", "b@one.example"}},
		{BounceFilter{Scope: "recipient", Severity: "hard", Limit: 2}, []string{"i@one.example", "g@one.example", "f@one.example", "a@one.example"}},
		{BounceFilter{Scope: "recipient", Kind: "complaint", Limit: 2}, []string{"e@three.example"}},
		{BounceFilter{Cause: "bad_address", Since: day(1), Until: day(6), Limit: 1}, []string{"g@one.example", "f@one.example"}},
		{BounceFilter{Cause: "virus", Limit: 5}, nil},
	} {
		if got := pages(tt.f); !slices.Equal(got, tt.want) {
			t.Errorf("%+v: got %q, want %q", tt.f, got, tt.want)
		}
	}
	c := connect(t, url)
	if _, err := c.Exec(ctx, `DELETE FROM bounce WHERE recipient IN ('g@one.example', 'i@one.example')`); err != nil {
		t.Fatal(err)
	}
	if got, want := pages(BounceFilter{Cause: "bad_address", Limit: 2}), []string{"f@one.example", "a@one.example"}; !slices.Equal(got, want) {
		t.Errorf("after rows were deleted: got %q, want %q", got, want)
	}
	rows, _ := s.Bounces(ctx, BounceFilter{Cause: "mailbox_full", Kind: "bounce"})
	if len(rows) != 1 {
		t.Fatalf("rows %+v", rows)
	}
	r := rows[0]
	if r.Kind != "bounce" || r.Domain != "two.example" || r.Action != "failed" || r.ReplyCode != 550 || r.Diagnostic != "550 no" ||
		r.Cause != "mailbox_full" || r.Severity != "soft" || r.Scope != "recipient" || r.Rule != "test" || !r.BouncedAt.Equal(day(2)) ||
		r.Position != 0 || r.ID != r.Message*32768 {
		t.Errorf("row %+v", r)
	}
}

func TestMessageAndRaw(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, keep := range []bool{true, false} {
		s := open(t, Options{KeepRaw: keep})
		m := bounce(9, "a@one.example", classify.BadAddress, classify.Hard, day(0))
		m.Report.Recipients = append(m.Report.Recipients, dsn.Recipient{Recipient: "b@one.example", Action: dsn.Failed, Status: dsn.Status{Class: 5, Subject: 2, Detail: 2}})
		m.Results = append(m.Results, classify.Result{Cause: classify.MailboxFull, Severity: classify.Hard, Scope: classify.ScopeRecipient, Rule: "status:5.2.2"})
		m.Report.Subject = "Undelivered Mail"
		m.Report.Original = dsn.Original{MessageID: "<news-1@lists.example>", Headers: map[string]string{"X-Campaign-Id": "c7"}}
		save(t, s, m)
		rows, err := s.Bounces(ctx, BounceFilter{})
		if err != nil || len(rows) != 2 {
			t.Fatalf("rows %+v, %v", rows, err)
		}
		id := rows[0].Message
		got, err := s.Message(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != id || got.Account != "acct" || got.Mailbox != "INBOX" || got.UIDValidity != 7 || got.UID != 9 ||
			got.Kind != "bounce" || got.Subject != "Undelivered Mail" || got.OriginalMessageID != "<news-1@lists.example>" ||
			got.Size != int64(len(m.Raw)) || !got.ReceivedAt.Equal(day(0)) || got.HasRaw != keep {
			t.Errorf("message %+v", got)
		}
		if h, _ := got.Original["headers"].(map[string]any); h["X-Campaign-Id"] != "c7" {
			t.Errorf("original %+v", got.Original)
		}
		if !slices.Equal(recipients(got.Recipients), []string{"a@one.example", "b@one.example"}) ||
			got.Recipients[1].Status != "5.2.2" || got.Recipients[1].Position != 1 {
			t.Errorf("recipients %+v", got.Recipients)
		}
		raw, err := s.Raw(ctx, id)
		switch {
		case keep && (err != nil || string(raw) != string(m.Raw)):
			t.Errorf("raw %q, %v; want the message", raw, err)
		case !keep && !errors.Is(err, ErrNotFound):
			t.Errorf("raw not kept: %v, want ErrNotFound", err)
		}
		if _, err := s.Message(ctx, id+1000); !errors.Is(err, ErrNotFound) {
			t.Errorf("an unknown message: %v, want ErrNotFound", err)
		}
	}
}

func TestDayCountsAndTopDomains(t *testing.T) {
	t.Parallel()
	s := open(t, Options{})
	ctx := context.Background()
	save(t, s,
		bounce(1, "a@one.example", classify.BadAddress, classify.Hard, day(0)),
		bounce(2, "b@one.example", classify.BadAddress, classify.Hard, day(0.1)),
		bounce(3, "c@two.example", classify.MailboxFull, classify.Soft, day(1)),
		bounce(4, "d@two.example", classify.BadDomain, classify.Hard, day(1)),
		bounce(5, "e@two.example", classify.MailboxDisabled, classify.Hard, day(2)),
		bounce(6, "f@three.example", classify.Blocklisted, classify.Hard, day(2)),
		delay(7, "g@one.example", classify.MailboxFull, classify.Soft, day(2)),
		complaint(8, day(3), "h@three.example"),
	)
	d := func(n int) time.Time { return time.Date(base.Year(), base.Month(), base.Day()+n, 0, 0, 0, 0, time.UTC) }
	got, err := s.DayCounts(ctx, day(0), day(2))
	if err != nil {
		t.Fatal(err)
	}
	want := []DayCount{
		{Day: d(0), Kind: "bounce", Cause: "bad_address", Severity: "hard", N: 2},
		{Day: d(1), Kind: "bounce", Cause: "bad_domain", Severity: "hard", N: 1},
		{Day: d(1), Kind: "bounce", Cause: "mailbox_full", Severity: "soft", N: 1},
		{Day: d(2), Kind: "bounce", Cause: "blocklisted", Severity: "hard", N: 1},
		{Day: d(2), Kind: "bounce", Cause: "mailbox_disabled", Severity: "hard", N: 1},
		{Day: d(2), Kind: "delay", Cause: "mailbox_full", Severity: "soft", N: 1},
	}
	if !slices.EqualFunc(got, want, func(a, b DayCount) bool {
		return a.Day.Equal(b.Day) && a.Kind == b.Kind && a.Cause == b.Cause && a.Severity == b.Severity && a.N == b.N
	}) {
		t.Errorf("day counts\n%+v, want\n%+v", got, want)
	}
	top, err := s.TopDomains(ctx, day(0), day(3), 0)
	if err != nil {
		t.Fatal(err)
	}
	// three.example has no recipient-scope bounce: it is not among them.
	wantTop := []Count{
		{Key: "two.example", Bounces: 3, Hard: 2, Soft: 1, Recipient: 3},
		{Key: "one.example", Bounces: 2, Hard: 2, Delays: 1, Recipient: 2},
	}
	if !slices.Equal(top, wantTop) {
		t.Errorf("top domains\n%+v, want\n%+v", top, wantTop)
	}
	if top, _ := s.TopDomains(ctx, day(1), day(1), 1); len(top) != 1 || top[0].Key != "two.example" || top[0].Recipient != 2 {
		t.Errorf("the top domain of day 1: %+v", top)
	}
	counts, err := s.SuppressionCounts(ctx)
	if want := map[string]int64{"bad_address": 2, "bad_domain": 1, "mailbox_disabled": 1, "complaint": 1}; err != nil ||
		len(counts) != len(want) || counts["bad_address"] != 2 || counts["complaint"] != 1 || counts["bad_domain"] != 1 {
		t.Errorf("suppression counts %v, %v; want %v", counts, err, want)
	}
}

func TestMailboxStatus(t *testing.T) {
	t.Parallel()
	s := open(t, Options{})
	ctx := context.Background()
	if sts, err := s.MailboxStatuses(ctx); err != nil || len(sts) != 0 {
		t.Fatalf("no mailbox yet: %+v, %v", sts, err)
	}
	m := bounce(5, "a@one.example", classify.BadAddress, classify.Hard, day(0))
	if _, err := s.Save(ctx, Batch{Messages: []Message{m}, Checkpoint: &Checkpoint{Account: "acct", Mailbox: "INBOX", UIDValidity: 7, LastUID: 5}}); err != nil {
		t.Fatal(err)
	}
	// A checkpoint without a report yet.
	sts, err := s.MailboxStatuses(ctx)
	if err != nil || len(sts) != 1 || sts[0].Account != "acct" || sts[0].LastUID != 5 || sts[0].UIDValidity != 7 ||
		sts[0].Instance != "" || sts[0].CheckpointAt.IsZero() {
		t.Fatalf("checkpoint only: %+v, %v", sts, err)
	}
	poll := day(1).Truncate(time.Microsecond)
	err = s.SaveMailboxStatus(ctx, []MailboxStatus{
		{Account: "acct", Mailbox: "INBOX", Instance: "h:1", Active: true, LastPoll: poll, LastSuccess: poll, Lag: 3, Processed: 10},
		{Account: "acct", Mailbox: "Junk", Instance: "h:1", Active: true, LastPoll: poll, Error: "fetch: connection reset\x00", ErrorAt: poll},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A later report without a poll keeps the last one known.
	if err := s.SaveMailboxStatus(ctx, []MailboxStatus{{Account: "acct", Mailbox: "INBOX", Instance: "h:2", Lag: 0, Processed: 11}}); err != nil {
		t.Fatal(err)
	}
	sts, err = s.MailboxStatuses(ctx)
	if err != nil || len(sts) != 2 {
		t.Fatalf("%+v, %v", sts, err)
	}
	in, junk := sts[0], sts[1]
	if in.Mailbox != "INBOX" || in.Instance != "h:2" || in.Active || !in.LastPoll.Equal(poll) || in.Lag != 0 || in.Processed != 11 ||
		in.LastUID != 5 || in.UpdatedAt.IsZero() {
		t.Errorf("INBOX %+v", in)
	}
	if junk.Mailbox != "Junk" || junk.Error != "fetch: connection reset" || !junk.ErrorAt.Equal(poll) || junk.LastUID != 0 || !junk.CheckpointAt.IsZero() {
		t.Errorf("Junk %+v", junk)
	}
}
