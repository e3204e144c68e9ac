package store

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
)

func TestSuppressionsFilter(t *testing.T) {
	t.Parallel()
	s := open(t, Options{})
	save(t, s,
		bounce(1, "a1@one.example", classify.BadAddress, classify.Hard, day(0)),
		bounce(2, "a2@one.example", classify.BadDomain, classify.Hard, day(2)),
		complaint(3, day(4), "b1@two.example"),
		bounce(4, "b2@two.example", classify.MailboxDisabled, classify.Hard, day(6)),
		bounce(5, "c1@three.example", classify.BadAddress, classify.Hard, day(8)),
		bounce(6, "c2@three.example", classify.Blocklisted, classify.Hard, day(9)),
	)
	tests := []struct {
		name string
		f    SuppressionFilter
		want []string
	}{
		{"all", SuppressionFilter{}, []string{"a1@one.example", "a2@one.example", "b1@two.example", "b2@two.example", "c1@three.example"}},
		{"since, newest first", SuppressionFilter{Since: day(4)}, []string{"c1@three.example", "b2@two.example", "b1@two.example"}},
		{"since, after the last", SuppressionFilter{Since: day(8).Add(time.Second)}, []string{}},
		{"reason", SuppressionFilter{Reason: "bad_address"}, []string{"a1@one.example", "c1@three.example"}},
		{"complaints", SuppressionFilter{Reason: "complaint"}, []string{"b1@two.example"}},
		{"domain", SuppressionFilter{Domain: "two.example"}, []string{"b1@two.example", "b2@two.example"}},
		{"reason and domain", SuppressionFilter{Reason: "bad_address", Domain: "three.example"}, []string{"c1@three.example"}},
		{"since and reason", SuppressionFilter{Since: day(1), Reason: "bad_address"}, []string{"c1@three.example"}},
		{"first page", SuppressionFilter{Limit: 2}, []string{"a1@one.example", "a2@one.example"}},
		{"second page", SuppressionFilter{After: "a2@one.example", Limit: 2}, []string{"b1@two.example", "b2@two.example"}},
		{"last page", SuppressionFilter{After: "b2@two.example", Limit: 2}, []string{"c1@three.example"}},
		{"past the end", SuppressionFilter{After: "c1@three.example", Limit: 2}, []string{}},
		{"paging with since goes by address", SuppressionFilter{Since: day(4), After: "b1@two.example", Limit: 1}, []string{"b2@two.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := addresses(list(t, s, tt.f)); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	// Paging through the whole list meets every address once.
	var all []string
	after := ""
	for {
		page := addresses(list(t, s, SuppressionFilter{After: after, Limit: 2}))
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1]
	}
	if len(all) != 5 {
		t.Errorf("paging gave %q", all)
	}
	// fn's error stops the listing and comes back.
	stop := errors.New("stop")
	n := 0
	err := s.Suppressions(context.Background(), SuppressionFilter{}, func(Suppression) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("Suppressions with fn failing: %v after %d calls", err, n)
	}
}

func TestHistory(t *testing.T) {
	t.Parallel()
	s, url := openURL(t, Options{})
	ctx := context.Background()
	addr := "a@one.example"
	withOriginal := bounce(2, addr, classify.BadAddress, classify.Hard, day(2))
	withOriginal.Report.Recipients[0].Status = dsn.Status{Class: 5, Subject: 1, Detail: 1}
	withOriginal.Report.Recipients[0].Diagnostic = "550 5.1.1 <a@one.example>: user unknown"
	withOriginal.Report.Recipients[0].RemoteMTA = "mx.one.example"
	withOriginal.Report.ReportingMTA = "mta.lists.example"
	withOriginal.Results[0].Rule = "status:5.1.1"
	withOriginal.Report.Original = dsn.Original{
		MessageID: "<spring-1@lists.example>", From: "news@lists.example", To: addr, Subject: "Spring news",
		ListID: "<news.lists.example>", Date: day(1.5),
		Headers: map[string]string{"X-Campaign-ID": "spring", "X-Mailer-Recipient": "42"},
	}
	save(t, s,
		bounce(1, addr, classify.Blocklisted, classify.Hard, day(1)),
		withOriginal,
		delay(3, addr, classify.MailboxFull, classify.Soft, day(3)),
		bounce(4, "other@one.example", classify.BadAddress, classify.Hard, day(4)),
	)
	c := connect(t, url)
	msg2 := int64(count(t, c, `SELECT id FROM message WHERE uid = 2`))

	h, err := s.History(ctx, "a@ONE.example", 0)
	if err != nil {
		t.Fatal(err)
	}
	if h.Address != addr {
		t.Errorf("address %q", h.Address)
	}
	var kinds, causes []string
	for _, e := range h.Events {
		kinds, causes = append(kinds, e.Kind), append(causes, e.Cause)
	}
	if !slices.Equal(kinds, []string{"delay", "bounce", "bounce"}) || !slices.Equal(causes, []string{"mailbox_full", "bad_address", "blocklisted"}) {
		t.Fatalf("events of kinds %q and causes %q, want newest first", kinds, causes)
	}
	if !h.Events[0].BouncedAt.Equal(day(3)) || !h.Events[1].BouncedAt.Equal(day(2)) || !h.Events[2].BouncedAt.Equal(day(1)) {
		t.Errorf("event times %v, %v, %v", h.Events[0].BouncedAt, h.Events[1].BouncedAt, h.Events[2].BouncedAt)
	}
	e := h.Events[1]
	want := Event{
		BouncedAt: day(2), Kind: "bounce", Cause: "bad_address", Severity: "hard", Scope: "recipient", Rule: "status:5.1.1",
		Action: "failed", Status: "5.1.1", ReplyCode: 550, Diagnostic: "550 5.1.1 <a@one.example>: user unknown",
		RemoteMTA: "mx.one.example", ReportingMTA: "mta.lists.example", Message: msg2, Mailbox: "acct/INBOX",
		NoticeID: withOriginal.Report.MessageID, OriginalMessageID: "<spring-1@lists.example>",
	}
	got := e
	got.Original = nil
	got.BouncedAt = want.BouncedAt
	if !reflect.DeepEqual(got, want) || !e.BouncedAt.Equal(want.BouncedAt) {
		t.Errorf("event\n%+v, want\n%+v", e, want)
	}
	o := e.Original
	if o["from"] != "news@lists.example" || o["to"] != addr || o["subject"] != "Spring news" || o["list_id"] != "<news.lists.example>" ||
		o["date"] != day(1.5).Format(time.RFC3339) {
		t.Errorf("original %v", o)
	}
	if hs, ok := o["headers"].(map[string]any); !ok || hs["X-Campaign-ID"] != "spring" || hs["X-Mailer-Recipient"] != "42" || len(hs) != 2 {
		t.Errorf("correlation headers %#v", o["headers"])
	}
	if h.Events[0].Severity != "soft" || h.Events[0].Action != "delayed" || h.Events[2].Scope != "sender" {
		t.Errorf("events %+v", h.Events)
	}
	if h.Suppression == nil || h.Suppression.Reason != "bad_address" || h.Suppression.LastMessage != msg2 {
		t.Errorf("suppression %+v", h.Suppression)
	}

	if h, err := s.History(ctx, addr, 2); err != nil || len(h.Events) != 2 || h.Events[0].Kind != "delay" || h.Events[1].Cause != "bad_address" {
		t.Errorf("history limited to 2: %+v, %v", h.Events, err)
	}
	h, err = s.History(ctx, "nobody@one.example", 0)
	if err != nil || h.Suppression != nil || len(h.Events) != 0 || h.Events == nil || len(h.Releases) != 0 {
		t.Errorf("history of an unknown address %+v, %v", h, err)
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	s := open(t, Options{})
	ctx := context.Background()
	save(t, s,
		bounce(1, "a@one.example", classify.BadAddress, classify.Hard, day(0)),
		bounce(2, "b@one.example", classify.BadAddress, classify.Hard, day(0.5)),
		bounce(3, "a@two.example", classify.MailboxFull, classify.Soft, day(0)),
		bounce(4, "c@one.example", classify.Blocklisted, classify.Hard, day(1)),
		delay(5, "b@two.example", classify.MailboxFull, classify.Soft, day(1)),
		complaint(6, day(2), "a@three.example"),
		bounce(7, "c@two.example", classify.BadAddress, classify.Soft, day(2)),
	)
	d0, d1, d2 := day(0).Format(time.DateOnly), day(1).Format(time.DateOnly), day(2).Format(time.DateOnly)
	tests := []struct {
		name         string
		by           StatsBy
		since, until time.Time
		want         []Count
	}{
		{"by cause", ByCause, time.Time{}, time.Time{}, []Count{
			{Key: "bad_address", Bounces: 3, Hard: 2, Soft: 1},
			{Key: "mailbox_full", Bounces: 1, Soft: 1, Delays: 1},
			{Key: "blocklisted", Bounces: 1, Hard: 1},
			{Key: "complaint", Complaints: 1},
		}},
		{"by cause since day 1", ByCause, day(1), time.Time{}, []Count{
			{Key: "bad_address", Bounces: 1, Soft: 1},
			{Key: "blocklisted", Bounces: 1, Hard: 1},
			{Key: "complaint", Complaints: 1},
			{Key: "mailbox_full", Delays: 1},
		}},
		{"by day", ByDay, time.Time{}, time.Time{}, []Count{
			{Key: d0, Bounces: 3, Hard: 2, Soft: 1},
			{Key: d1, Bounces: 1, Hard: 1, Delays: 1},
			{Key: d2, Bounces: 1, Soft: 1, Complaints: 1},
		}},
		{"by day, one day", ByDay, day(1), day(2), []Count{
			{Key: d1, Bounces: 1, Hard: 1, Delays: 1},
		}},
		{"by day, until day 1", ByDay, time.Time{}, day(1), []Count{
			{Key: d0, Bounces: 3, Hard: 2, Soft: 1},
		}},
		{"by domain", ByDomain, time.Time{}, time.Time{}, []Count{
			{Key: "one.example", Bounces: 3, Hard: 3, Recipient: 2},
			{Key: "two.example", Bounces: 2, Soft: 2, Delays: 1, Recipient: 2},
			{Key: "three.example", Complaints: 1},
		}},
		{"by domain since day 1", ByDomain, day(1), time.Time{}, []Count{
			{Key: "two.example", Bounces: 1, Soft: 1, Delays: 1, Recipient: 1},
			{Key: "one.example", Bounces: 1, Hard: 1},
			{Key: "three.example", Complaints: 1},
		}},
		{"by domain before day 1", ByDomain, time.Time{}, day(1), []Count{
			{Key: "one.example", Bounces: 2, Hard: 2, Recipient: 2},
			{Key: "two.example", Bounces: 1, Soft: 1, Recipient: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Stats(ctx, tt.by, tt.since, tt.until, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%+v, want\n%+v", got, tt.want)
			}
		})
	}
	if got, err := s.Stats(ctx, ByDomain, time.Time{}, time.Time{}, 1); err != nil || len(got) != 1 || got[0].Key != "one.example" {
		t.Errorf("the top domain: %+v, %v", got, err)
	}
	if _, err := s.Stats(ctx, StatsBy("week"), time.Time{}, time.Time{}, 0); err == nil {
		t.Error("stats by week: no error")
	}
}

// A recipient's domain is kept lower-cased, its local part as given, so
// that History and Unsuppress find it however the domain is written.
func TestRecipientDomainCase(t *testing.T) {
	t.Parallel()
	s := open(t, Options{})
	ctx := context.Background()
	save(t, s, bounce(1, "Mixed.Case@Example.COM", classify.BadAddress, classify.Hard, day(0)))
	want := []string{"Mixed.Case@example.com"}
	if got := addresses(list(t, s, SuppressionFilter{Domain: "example.com"})); !slices.Equal(got, want) {
		t.Errorf("suppressed %q, want %q", got, want)
	}
	h, err := s.History(ctx, "Mixed.Case@EXAMPLE.com", 0)
	if err != nil || len(h.Events) != 1 || h.Suppression == nil {
		t.Errorf("history %+v, %v", h, err)
	}
	if _, err := s.Unsuppress(ctx, "Mixed.Case@example.Com", "asked", "tester"); err != nil {
		t.Errorf("unsuppress: %v", err)
	}
}
