package web

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/policy"
	"github.com/bounced/bounced/internal/store"
)

// The periods of the overview, in whole UTC days ending today.
const (
	overviewDays    = 90 // the daily chart, the weekly sender chart and the totals
	overviewTopDays = 30 // the domains with most bounces
	overviewTop     = 10
	overviewRecent  = 10
)

// overviewPage is the data of the overview.
type overviewPage struct {
	layout
	Since, Until    time.Time // the days of the charts and totals
	Daily           template.HTML
	DailyLegend     []legendItem
	Domains         template.HTML
	Sender          template.HTML
	SenderLegend    []legendItem
	Totals          overviewTotals
	Suppressed      []reasonCount
	SuppressedTotal int64
	Mailboxes       []mailboxRow
	Recent          []store.Recipient
}

// legendItem is a cause in a chart's legend, with its total.
type legendItem struct {
	Cause string
	Scope string
	N     int64
}

// overviewTotals are the counts of the period.
type overviewTotals struct {
	Hard, Soft, Recipient, Delays, Complaints int64
}

// reasonCount is how many addresses are suppressed for a reason.
type reasonCount struct {
	Reason string
	N      int64
}

// pageOverview shows the overview: what bounced over the last 90 days and
// why, where, and what bounced last.
func (s *Server) pageOverview(w http.ResponseWriter, r *http.Request, p *principal) {
	now := s.cfg.Now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	since := today.AddDate(0, 0, -(overviewDays - 1))
	topSince := today.AddDate(0, 0, -(overviewTopDays - 1))
	var (
		days      []store.DayCount
		top       []store.Count
		counts    map[string]int64
		mailboxes []store.MailboxStatus
		recent    []store.Recipient
	)
	// The queries read the daily tables, the suppression counts, the
	// mailbox table and one short page of the bounce index: each is
	// cheap at any size, and they go together.
	err := concurrently(r.Context(),
		func(ctx context.Context) (err error) { days, err = s.store.DayCounts(ctx, since, today); return err },
		func(ctx context.Context) (err error) {
			top, err = s.store.TopDomains(ctx, topSince, today, overviewTop)
			return err
		},
		func(ctx context.Context) (err error) { counts, err = s.store.SuppressionCounts(ctx); return err },
		func(ctx context.Context) (err error) { mailboxes, err = s.store.MailboxStatuses(ctx); return err },
		func(ctx context.Context) (err error) {
			recent, err = s.store.Bounces(ctx, store.BounceFilter{Kind: "bounce", Limit: overviewRecent})
			return err
		},
	)
	if err != nil {
		s.pageError(w, r, p, err)
		return
	}
	o := overviewPage{layout: s.newLayout(p, "Overview", "overview"), Since: since, Until: today,
		Recent: recent, Mailboxes: mailboxRows(mailboxes, now)}
	o.Daily, o.DailyLegend = dailyChart(days, since, overviewDays)
	o.Sender, o.SenderLegend = senderChart(days, since, today)
	o.Domains = domainChart(top, topSince)
	o.Totals = periodTotals(days)
	o.Suppressed, o.SuppressedTotal = reasonCounts(counts)
	s.render(w, r, http.StatusOK, "overview", o)
}

// concurrently runs fns at once and returns the first error of them (in
// their order), cancelling the others when one fails.
func concurrently(ctx context.Context, fns ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() {
			if errs[i] = fn(ctx); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	// An error caused by the cancel is not the one to report.
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return errors.Join(errs...)
}

// dayIndex is the index of day among the n days from since, or -1.
func dayIndex(day, since time.Time, n int) int {
	d := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	i := int(d.Sub(since) / (24 * time.Hour))
	if d.Before(since) || i >= n {
		return -1
	}
	return i
}

// causeOrder is the place of a cause in the taxonomy (causes it does not
// know come last).
func causeOrder(c string) int {
	if i := slices.Index(classify.Causes(), classify.Cause(c)); i >= 0 {
		return i
	}
	return len(classify.Causes())
}

// sortCauses orders causes as the taxonomy does, then by name.
func sortCauses(cs []string) {
	slices.SortFunc(cs, func(a, b string) int {
		if d := causeOrder(a) - causeOrder(b); d != 0 {
			return d
		}
		if a < b {
			return -1
		}
		if a > b {
			return 1
		}
		return 0
	})
}

// dailyChart draws the bounces per day of the n days from since, stacked
// by cause, the hard ones above the axis and the soft ones below, with the
// legend of the causes drawn.
func dailyChart(days []store.DayCount, since time.Time, n int) (template.HTML, []legendItem) {
	buckets := make([]time.Time, n)
	for i := range buckets {
		buckets[i] = since.AddDate(0, 0, i)
	}
	hard, soft := map[string][]int64{}, map[string][]int64{}
	totals := map[string]int64{}
	for _, d := range days {
		i := dayIndex(d.Day, since, n)
		if d.Kind != "bounce" || i < 0 || d.N <= 0 {
			continue
		}
		side := hard
		if d.Severity == string(classify.Soft) {
			side = soft
		}
		if side[d.Cause] == nil {
			side[d.Cause] = make([]int64, n)
		}
		side[d.Cause][i] += d.N
		totals[d.Cause] += d.N
	}
	c := barChart{ID: "daily", Label: "Bounces per day over the last 90 days, by cause: hard above the axis, soft below",
		Buckets: buckets, UpName: "hard", DownName: "soft", Down: []chartSeries{}}
	c.Up = seriesOf(hard, string(classify.Hard))
	c.Down = append(c.Down, seriesOf(soft, string(classify.Soft))...)
	return c.svg(), legendOf(totals)
}

// seriesOf makes the series of a side of a chart, in the order of the
// taxonomy.
func seriesOf(values map[string][]int64, severity string) []chartSeries {
	var causes []string
	for c := range values {
		causes = append(causes, c)
	}
	sortCauses(causes)
	var out []chartSeries
	for _, c := range causes {
		out = append(out, chartSeries{Cause: c, Severity: severity, Values: values[c]})
	}
	return out
}

// legendOf lists the causes with a total, in the order of the taxonomy.
func legendOf(totals map[string]int64) []legendItem {
	var causes []string
	for c := range totals {
		causes = append(causes, c)
	}
	sortCauses(causes)
	var out []legendItem
	for _, c := range causes {
		out = append(out, legendItem{Cause: c, Scope: string(classify.Cause(c).Scope()), N: totals[c]})
	}
	return out
}

// weekStart is the Monday of t's week.
func weekStart(t time.Time) time.Time {
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
}

// senderChart draws the sender-scope bounces per week (weeks start on
// Monday; the first and the last are cut by the period) from since to
// until, stacked by cause; the legend lists every sender-scope cause.
func senderChart(days []store.DayCount, since, until time.Time) (template.HTML, []legendItem) {
	var buckets []time.Time
	for w := weekStart(since); !w.After(until); w = w.AddDate(0, 0, 7) {
		buckets = append(buckets, w)
	}
	values := map[string][]int64{}
	totals := map[string]int64{}
	for _, c := range classify.Causes() {
		if c.Scope() == classify.ScopeSender {
			totals[string(c)] = 0
		}
	}
	for _, d := range days {
		if d.Kind != "bounce" || d.N <= 0 || classify.Cause(d.Cause).Scope() != classify.ScopeSender ||
			d.Day.Before(since) || d.Day.After(until) {
			continue
		}
		i := int(weekStart(d.Day).Sub(buckets[0]) / (7 * 24 * time.Hour))
		if i < 0 || i >= len(buckets) {
			continue
		}
		if values[d.Cause] == nil {
			values[d.Cause] = make([]int64, len(buckets))
		}
		values[d.Cause][i] += d.N
		totals[d.Cause] += d.N
	}
	c := barChart{ID: "sender", Label: "Sender-scope bounces per week over the last 90 days, by cause",
		Buckets: buckets, Week: true, Up: seriesOf(values, ""), Width: 520, Height: 220,
		Empty: "no sender-scope bounces in this period"}
	return c.svg(), legendOf(totals)
}

// domainChart ranks the domains with most recipient-scope bounces since
// the day since.
func domainChart(top []store.Count, since time.Time) template.HTML {
	var rows []hbarRow
	for _, c := range top {
		q := url.Values{"domain": {c.Key}, "scope": {string(classify.ScopeRecipient)}, "since": {since.Format(time.DateOnly)}}
		rows = append(rows, hbarRow{Label: c.Key, Href: "/bounces?" + q.Encode(), N: c.Recipient,
			Title: c.Key + ": " + pageCount(c.Recipient) + " recipient-scope bounces (" + pageCount(c.Bounces) + " bounces in all)"})
	}
	return hbarChart{ID: "domains", Label: "Domains with most recipient-scope bounces over the last 30 days", Rows: rows,
		Empty: "no recipient-scope bounces in this period"}.svg()
}

// periodTotals adds up the daily counts.
func periodTotals(days []store.DayCount) overviewTotals {
	var t overviewTotals
	for _, d := range days {
		switch d.Kind {
		case "bounce":
			if d.Severity == string(classify.Soft) {
				t.Soft += d.N
			} else {
				t.Hard += d.N
			}
			if classify.Cause(d.Cause).Scope() == classify.ScopeRecipient {
				t.Recipient += d.N
			}
		case "delay":
			t.Delays += d.N
		case "complaint":
			t.Complaints += d.N
		}
	}
	return t
}

// reasonCounts orders the suppression counts as the policy lists its
// reasons (every reason shown, 0 when none), with their sum.
func reasonCounts(counts map[string]int64) ([]reasonCount, int64) {
	var out []reasonCount
	var sum int64
	seen := map[string]bool{}
	for _, r := range policy.Reasons() {
		out = append(out, reasonCount{string(r), counts[string(r)]})
		seen[string(r)] = true
	}
	var other []string
	for r := range counts {
		if !seen[r] {
			other = append(other, r)
		}
	}
	slices.Sort(other)
	for _, r := range other {
		out = append(out, reasonCount{r, counts[r]})
	}
	for _, c := range out {
		sum += c.N
	}
	return out, sum
}
