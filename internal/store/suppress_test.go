package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/policy"
)

// Under the default policy only hard bounces of the three address causes
// suppress at once; every other cause, of any severity, never does.
func TestSuppressionByCause(t *testing.T) {
	t.Parallel()
	s := open(t, Options{})
	uid := uint32(0)
	for _, cause := range classify.Causes() {
		for _, sev := range []classify.Severity{classify.Hard, classify.Soft} {
			t.Run(string(cause)+"/"+string(sev), func(t *testing.T) {
				addr := fmt.Sprintf("%s-%s@causes.example", cause, sev)
				var want string
				if sev == classify.Hard && (cause == classify.BadAddress || cause == classify.BadDomain || cause == classify.MailboxDisabled) {
					want = string(cause)
				}
				uid++
				got := save(t, s, bounce(uid, addr, cause, sev, day(0)))
				if got.Bounces != 1 || got.Suppressed != min(len(want), 1) {
					t.Errorf("saved %+v", got)
				}
				x := suppression(t, s, addr)
				switch {
				case want == "" && x != nil:
					t.Errorf("suppressed as %s, want not suppressed", x.Reason)
				case want != "" && x == nil:
					t.Errorf("not suppressed, want %s", want)
				case want != "" && (x.Reason != want || !x.SuppressedAt.Equal(day(0)) || x.Count != 1):
					t.Errorf("suppression %+v, want reason %s at %v count 1", x, want, day(0))
				}
			})
		}
	}
	// Even many of them: the transport and sender causes say nothing of
	// the address.
	addr := "many@causes.example"
	for i, cause := range classify.Causes() {
		if cause.Scope() != classify.ScopeRecipient {
			save(t, s, bounce(uint32(1000+i), addr, cause, classify.Hard, day(float64(i))))
		}
	}
	if x := suppression(t, s, addr); x != nil {
		t.Errorf("%d bounces of other scopes suppressed %s: %+v", len(classify.Causes())-4, addr, x)
	}
}

func TestDelaysNeverCount(t *testing.T) {
	t.Parallel()
	s, url := openURL(t, Options{})
	save(t, s, delay(1, "a@one.example", classify.BadAddress, classify.Hard, day(0)))
	for i, d := range []float64{0, 4, 8, 12} {
		save(t, s, delay(uint32(10+i), "full@one.example", classify.MailboxFull, classify.Soft, day(d)))
	}
	if got := list(t, s, SuppressionFilter{}); len(got) != 0 {
		t.Errorf("delays suppressed %q", addresses(got))
	}
	c := connect(t, url)
	if n := count(t, c, `SELECT count(*) FROM bounce WHERE kind = 'delay' AND action = 'delayed'`); n != 5 {
		t.Errorf("%d delay rows, want 5", n)
	}
	// A bounce after the delays: the delays still don't count towards the
	// three mailbox_full bounces.
	save(t, s, bounce(20, "full@one.example", classify.MailboxFull, classify.Soft, day(13)))
	if x := suppression(t, s, "full@one.example"); x != nil {
		t.Errorf("one bounce and four delays suppressed: %+v", x)
	}
}

func TestMailboxFull(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		days   []float64 // in the order they arrive
		want   bool
		at     float64 // when the policy was met
		first  float64
		last   float64
		counts int
	}{
		{name: "twice", days: []float64{0, 10}},
		{name: "three times within a day", days: []float64{0, 0.3, 0.6}},
		{name: "three times over 8 days", days: []float64{0, 4, 8}, want: true, at: 8, first: 0, last: 8, counts: 3},
		{name: "three times over exactly 7 days", days: []float64{0, 3, 7}, want: true, at: 7, first: 0, last: 7, counts: 3},
		{name: "arriving out of order", days: []float64{8, 0, 4}, want: true, at: 8, first: 0, last: 8, counts: 3},
		{name: "three times over 40 days", days: []float64{0, 20, 40}},
		{name: "the window slides", days: []float64{0, 20, 40, 45}, want: true, at: 45, first: 0, last: 45, counts: 4},
		{name: "a fourth after the policy was met", days: []float64{0, 4, 8, 9}, want: true, at: 8, first: 0, last: 9, counts: 4},
	}
	s := open(t, Options{})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fmt.Sprintf("full%d@full.example", i)
			for j, d := range tt.days {
				save(t, s, bounce(uint32(100*i+j+1), addr, classify.MailboxFull, classify.Soft, day(d)))
			}
			x := suppression(t, s, addr)
			if (x != nil) != tt.want {
				t.Fatalf("suppressed: %+v, want %v", x, tt.want)
			}
			if !tt.want {
				return
			}
			if x.Reason != "mailbox_full" || !x.SuppressedAt.Equal(day(tt.at)) || !x.FirstBounce.Equal(day(tt.first)) ||
				!x.LastBounce.Equal(day(tt.last)) || x.Count != tt.counts || x.Rule != "mailbox_full x3 over 7d within 30d" {
				t.Errorf("suppression %+v, want at day %v, first %v, last %v, count %d", x, tt.at, tt.first, tt.last, tt.counts)
			}
		})
	}
}

func TestComplaint(t *testing.T) {
	t.Parallel()
	s, url := openURL(t, Options{})
	got := save(t, s, complaint(1, day(2), "Carol@Example.ORG"))
	if want := (Saved{Messages: 1, Bounces: 1, Suppressed: 1}); got != want {
		t.Errorf("saved %+v, want %+v", got, want)
	}
	x := suppression(t, s, "Carol@example.org")
	if x == nil || x.Address != "Carol@example.org" || x.Domain != "example.org" || x.Reason != "complaint" ||
		!x.SuppressedAt.Equal(day(2)) || x.Count != 1 || x.Rule != "complaint x1" {
		t.Errorf("suppression %+v", x)
	}
	// Without Original-Rcpt-To, the returned message's To names them.
	m := complaint(2, day(3))
	m.Report.Feedback.OriginalRcptTo = nil
	m.Report.Original.To = "Dave <dave@Example.org>, erin@example.org"
	if got := save(t, s, m); got.Bounces != 2 || got.Suppressed != 2 {
		t.Errorf("saved %+v", got)
	}
	want := []string{"Carol@example.org", "dave@example.org", "erin@example.org"}
	if got := addresses(list(t, s, SuppressionFilter{Reason: "complaint"})); !slices.Equal(got, want) {
		t.Errorf("complaint suppressions %q, want %q", got, want)
	}
	c := connect(t, url)
	if n := count(t, c, `SELECT count(*) FROM bounce WHERE kind = 'complaint' AND cause IS NULL
		AND severity IS NULL AND action = 'complained' AND feedback_type = 'abuse' AND rule = 'complaint:abuse'`); n != 3 {
		t.Errorf("%d complaint rows as expected, want 3", n)
	}
}

// The suppression carries its evidence: when the policy was met, the first
// and last bounce counted, how many, and the message of the last.
func TestSuppressionEvidence(t *testing.T) {
	t.Parallel()
	s, url := openURL(t, Options{})
	addr := "a@one.example"
	save(t, s, bounce(2, addr, classify.BadAddress, classify.Hard, day(3)))
	save(t, s, bounce(1, addr, classify.BadAddress, classify.Hard, day(0)))
	got := save(t, s, bounce(3, addr, classify.BadAddress, classify.Soft, day(5))) // not counted
	if got.Suppressed != 0 {
		t.Errorf("a bounce that changes nothing renewed %d suppressions", got.Suppressed)
	}
	save(t, s, bounce(4, addr, classify.Blocklisted, classify.Hard, day(6))) // not counted
	c := connect(t, url)
	last := count(t, c, `SELECT id FROM message WHERE uid = 2`)
	x := suppression(t, s, addr)
	want := Suppression{
		Address: addr, Domain: "one.example", Reason: "bad_address", Rule: "bad_address x1 hard",
		SuppressedAt: day(0), FirstBounce: day(0), LastBounce: day(3), Count: 2, LastMessage: int64(last),
	}
	if x == nil || !sameSuppression(*x, want) {
		t.Errorf("suppression\n%+v, want\n%+v", x, want)
	}
	// A later bounce renews it.
	if got := save(t, s, bounce(5, addr, classify.BadAddress, classify.Hard, day(9))); got.Suppressed != 1 {
		t.Errorf("a counted bounce renewed %d suppressions, want 1", got.Suppressed)
	}
	if x := suppression(t, s, addr); x == nil || x.Count != 3 || !x.LastBounce.Equal(day(9)) || !x.SuppressedAt.Equal(day(0)) {
		t.Errorf("renewed suppression %+v", x)
	}
}

func sameSuppression(a, b Suppression) bool {
	return a.Address == b.Address && a.Domain == b.Domain && a.Reason == b.Reason && a.Rule == b.Rule &&
		a.SuppressedAt.Equal(b.SuppressedAt) && a.FirstBounce.Equal(b.FirstBounce) && a.LastBounce.Equal(b.LastBounce) &&
		a.Count == b.Count && a.LastMessage == b.LastMessage
}

func TestCustomPolicy(t *testing.T) {
	t.Parallel()
	p := policy.Policy{
		policy.Reason(classify.BadAddress):  {Count: 2, HardOnly: true},
		policy.Reason(classify.MailboxFull): {Count: 2, Span: 24 * time.Hour, Window: 72 * time.Hour},
	}
	s := open(t, Options{Policy: p})
	save(t, s,
		bounce(1, "once@p.example", classify.BadAddress, classify.Hard, day(0)),
		bounce(2, "twice@p.example", classify.BadAddress, classify.Hard, day(0)),
		bounce(3, "twice@p.example", classify.BadAddress, classify.Hard, day(1)),
		bounce(4, "soft@p.example", classify.BadAddress, classify.Soft, day(0)),
		bounce(5, "soft@p.example", classify.BadAddress, classify.Soft, day(1)),
		bounce(6, "full-close@p.example", classify.MailboxFull, classify.Soft, day(0)),
		bounce(7, "full-close@p.example", classify.MailboxFull, classify.Soft, day(0.5)),
		bounce(8, "full@p.example", classify.MailboxFull, classify.Soft, day(0)),
		bounce(9, "full@p.example", classify.MailboxFull, classify.Soft, day(2)),
		bounce(10, "full-far@p.example", classify.MailboxFull, classify.Soft, day(0)),
		bounce(11, "full-far@p.example", classify.MailboxFull, classify.Soft, day(4)),
		bounce(12, "domain@p.example", classify.BadDomain, classify.Hard, day(0)),
		complaint(13, day(0), "complainer@p.example"),
	)
	got := list(t, s, SuppressionFilter{})
	if want := []string{"full@p.example", "twice@p.example"}; !slices.Equal(addresses(got), want) {
		t.Fatalf("suppressed %q, want %q", addresses(got), want)
	}
	if got[0].Rule != "mailbox_full x2 over 1d within 3d" || !got[0].SuppressedAt.Equal(day(2)) {
		t.Errorf("full: %+v", got[0])
	}
	if got[1].Rule != "bad_address x2 hard" || !got[1].SuppressedAt.Equal(day(1)) || got[1].Count != 2 {
		t.Errorf("twice: %+v", got[1])
	}
}

// A change of policy applies to history: ApplyPolicy rebuilds the list.
func TestPolicyChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, url := openURL(t, Options{})
	if rebuilt, err := s.ApplyPolicy(ctx); err != nil || rebuilt {
		t.Fatalf("ApplyPolicy on an empty store: %v, %v; want no rebuild", rebuilt, err)
	}
	save(t, s,
		bounce(1, "once@p.example", classify.BadAddress, classify.Hard, day(0)),
		bounce(2, "twice@p.example", classify.BadAddress, classify.Hard, day(0)),
		bounce(3, "twice@p.example", classify.BadAddress, classify.Hard, day(1)),
		bounce(4, "domain@p.example", classify.BadDomain, classify.Hard, day(0)),
		complaint(5, day(0), "complainer@p.example"),
	)
	all := []string{"complainer@p.example", "domain@p.example", "once@p.example", "twice@p.example"}
	if got := addresses(list(t, s, SuppressionFilter{})); !slices.Equal(got, all) {
		t.Fatalf("default policy suppressed %q, want %q", got, all)
	}
	if ok, err := s.PolicyCurrent(ctx); err != nil || !ok {
		t.Errorf("PolicyCurrent under the policy the list was built with: %v, %v", ok, err)
	}

	strict := policy.Policy{policy.Reason(classify.BadAddress): {Count: 2, HardOnly: true}}
	s2 := openAt(t, url, Options{Policy: strict})
	if ok, err := s2.PolicyCurrent(ctx); err != nil || ok {
		t.Errorf("PolicyCurrent under another policy: %v, %v; want false", ok, err)
	}
	rebuilt, err := s2.ApplyPolicy(ctx)
	if err != nil || !rebuilt {
		t.Fatalf("ApplyPolicy under another policy: %v, %v; want a rebuild", rebuilt, err)
	}
	var progress []int
	if err := s2.RebuildSuppressions(ctx, func(n int) { progress = append(progress, n) }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(progress, []int{4}) {
		t.Errorf("rebuild progress %v, want [4]", progress)
	}
	got := list(t, s2, SuppressionFilter{})
	if want := []string{"twice@p.example"}; !slices.Equal(addresses(got), want) {
		t.Errorf("strict policy suppressed %q, want %q", addresses(got), want)
	} else if got[0].Rule != "bad_address x2 hard" || !got[0].SuppressedAt.Equal(day(1)) {
		t.Errorf("rebuilt suppression %+v", got[0])
	}
	if ok, err := s2.PolicyCurrent(ctx); err != nil || !ok {
		t.Errorf("PolicyCurrent after ApplyPolicy: %v, %v", ok, err)
	}
	if rebuilt, err := s2.ApplyPolicy(ctx); err != nil || rebuilt {
		t.Errorf("ApplyPolicy twice: %v, %v; want no second rebuild", rebuilt, err)
	}
	if ok, err := s.PolicyCurrent(ctx); err != nil || ok {
		t.Errorf("PolicyCurrent of the first store after the change: %v, %v; want false", ok, err)
	}
	// And back.
	if rebuilt, err := s.ApplyPolicy(ctx); err != nil || !rebuilt {
		t.Fatalf("ApplyPolicy back: %v, %v", rebuilt, err)
	}
	if got := addresses(list(t, s, SuppressionFilter{})); !slices.Equal(got, all) {
		t.Errorf("back to the default policy, suppressed %q, want %q", got, all)
	}
}

func TestUnsuppress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, Options{})
	// Release time is the server's clock: the bounces are around now.
	now := time.Now().UTC().Truncate(time.Second)
	addr := "a@one.example"

	if _, err := s.Unsuppress(ctx, addr, "", "tester"); err == nil {
		t.Error("Unsuppress without a reason succeeded")
	}
	if _, err := s.Unsuppress(ctx, addr, "asked", "tester"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Unsuppress of an address never suppressed: %v, want ErrNotFound", err)
	}

	save(t, s, bounce(1, addr, classify.BadAddress, classify.Hard, now.Add(-2*time.Hour)))
	if suppression(t, s, addr) == nil {
		t.Fatal("not suppressed")
	}
	r, err := s.Unsuppress(ctx, "a@ONE.example", "the user wrote to us", "tester")
	if err != nil {
		t.Fatal(err)
	}
	if r.Address != addr || r.Reason != "the user wrote to us" || r.By != "tester" || r.Was.Reason != "bad_address" ||
		r.Was.Count != 1 || !r.Was.SuppressedAt.Equal(now.Add(-2*time.Hour)) || r.ReleasedAt.Before(now.Add(-time.Minute)) {
		t.Errorf("release %+v", r)
	}
	if _, err := s.Unsuppress(ctx, addr, "again", "tester"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Unsuppress twice: %v, want ErrNotFound", err)
	}
	h, err := s.History(ctx, addr, 0)
	if err != nil {
		t.Fatal(err)
	}
	if h.Suppression != nil {
		t.Errorf("still suppressed: %+v", h.Suppression)
	}
	if len(h.Releases) != 1 {
		t.Fatalf("releases %+v, want one", h.Releases)
	}
	if rel := h.Releases[0]; rel.Reason != r.Reason || rel.By != "tester" || rel.Was.Reason != "bad_address" ||
		rel.Was.Count != 1 || !rel.Was.SuppressedAt.Equal(r.Was.SuppressedAt) || !rel.ReleasedAt.Equal(r.ReleasedAt) {
		t.Errorf("release in history %+v, want %+v", rel, r)
	}

	// A notice arriving late about a bounce before the release does not
	// count; nor does a rebuild bring the old one back.
	save(t, s, bounce(2, addr, classify.BadAddress, classify.Hard, now.Add(-time.Hour)))
	if x := suppression(t, s, addr); x != nil {
		t.Errorf("a bounce from before the release suppressed again: %+v", x)
	}
	if err := s.RebuildSuppressions(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if x := suppression(t, s, addr); x != nil {
		t.Errorf("a rebuild suppressed a released address again: %+v", x)
	}

	// A bounce after the release does.
	later := now.Add(time.Hour)
	save(t, s, bounce(3, addr, classify.BadAddress, classify.Hard, later))
	x := suppression(t, s, addr)
	if x == nil || !x.SuppressedAt.Equal(later) || !x.FirstBounce.Equal(later) || x.Count != 1 {
		t.Errorf("after a new bounce: %+v, want suppressed at %v on one bounce", x, later)
	}
}
