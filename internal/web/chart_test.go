package web

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestChartNiceStep(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		top, want int64
	}{
		{-3, 1}, {0, 1}, {1, 1}, {5, 1}, {6, 2}, {10, 2}, {11, 5}, {25, 5}, {26, 10}, {50, 10}, {51, 20},
		{101, 50}, {999, 200}, {1000, 200}, {1001, 500}, {1_000_000, 200_000},
	} {
		if got := niceStep(tc.top, 5); got != tc.want {
			t.Errorf("niceStep(%d, 5) = %d, want %d", tc.top, got, tc.want)
		}
	}
	// At any size the step is 1, 2 or 5 times a power of ten, and at most
	// 5 steps reach the top.
	for _, top := range []int64{7, 77, 777, 7777, 123_456_789, math.MaxInt64 / 3, math.MaxInt64} {
		step := niceStep(top, 5)
		lead := step
		for lead%10 == 0 {
			lead /= 10
		}
		if step <= 0 || (lead != 1 && lead != 2 && lead != 5 && step != top) || (top-1)/step+1 > 5 {
			t.Errorf("niceStep(%d, 5) = %d", top, step)
		}
	}
}

// days are n days from the first.
func days(first time.Time, n int) []time.Time {
	out := make([]time.Time, n)
	for i := range out {
		out[i] = first.AddDate(0, 0, i)
	}
	return out
}

const eps = 1e-9

func TestChartBarLayout(t *testing.T) {
	t.Parallel()
	c := barChart{
		Buckets: days(time.Date(2026, 3, 30, 0, 0, 0, 0, time.UTC), 4),
		Up: []chartSeries{
			{Cause: "bad_address", Severity: "hard", Values: []int64{1, 3, 0, 0}},
			{Cause: "blocklisted", Severity: "hard", Values: []int64{2, 0, 0, -5}},
		},
		Down: []chartSeries{
			{Cause: "mailbox_full", Severity: "soft", Values: []int64{0, 1, 3}}, // one value short
			{Cause: "rate_limited", Severity: "soft", Values: []int64{0, 0, 1, 0}},
		},
		UpName: "hard", DownName: "soft",
	}
	l := c.layout()
	// The tallest stacks are 3 up and 4 down: 7 in all, in steps of 2, so
	// each side reaches 4.
	if l.Step != 2 || l.Empty {
		t.Fatalf("step %d, empty %v", l.Step, l.Empty)
	}
	if want := (l.Bottom - l.Top) / 8; math.Abs(l.Scale-want) > eps {
		t.Errorf("scale %v, want %v", l.Scale, want)
	}
	if math.Abs(l.Axis-(l.Top+4*l.Scale)) > eps {
		t.Errorf("axis at %v, want the middle %v", l.Axis, l.Top+4*l.Scale)
	}
	var ticks []string
	for _, tk := range l.YTicks {
		ticks = append(ticks, fmt.Sprint(tk.N))
		want := l.Axis - float64(tk.N)*l.Scale
		if tk.Y > l.Axis+eps {
			want = l.Axis + float64(tk.N)*l.Scale
		}
		if math.Abs(tk.Y-want) > eps {
			t.Errorf("tick %d at %v, want %v", tk.N, tk.Y, want)
		}
	}
	if got := strings.Join(ticks, " "); got != "0 2 4 2 4" {
		t.Errorf("ticks %s, want 0 2 4 (up) 2 4 (down)", got)
	}
	if l.YTicks[2].Y != l.Top || l.YTicks[4].Y != l.Bottom {
		t.Errorf("the last ticks at %v and %v, want the plot's edges %v and %v", l.YTicks[2].Y, l.YTicks[4].Y, l.Top, l.Bottom)
	}

	// One rect per value above zero, its height the value scaled, stacked
	// without gaps from the axis out.
	var got []string
	up, down := map[int]float64{}, map[int]float64{}
	for _, r := range l.Rects {
		got = append(got, fmt.Sprintf("%d:%s=%d", r.Bucket, r.Cause, r.N))
		if math.Abs(r.H-float64(r.N)*l.Scale) > eps {
			t.Errorf("%d %s: height %v for %d, want %v", r.Bucket, r.Cause, r.H, r.N, float64(r.N)*l.Scale)
		}
		if r.Severity == "hard" {
			if math.Abs(r.Y+r.H-(l.Axis-up[r.Bucket])) > eps {
				t.Errorf("%d %s: not on the stack below it", r.Bucket, r.Cause)
			}
			up[r.Bucket] += r.H
		} else {
			if math.Abs(r.Y-(l.Axis+down[r.Bucket])) > eps {
				t.Errorf("%d %s: not under the stack above it", r.Bucket, r.Cause)
			}
			down[r.Bucket] += r.H
		}
		if r.W <= 0 || r.X < l.Left || r.X+r.W > l.Right {
			t.Errorf("%d %s: x %v width %v outside the plot", r.Bucket, r.Cause, r.X, r.W)
		}
	}
	if want := "0:bad_address=1 0:blocklisted=2 1:bad_address=3 1:mailbox_full=1 2:mailbox_full=3 2:rate_limited=1"; strings.Join(got, " ") != want {
		t.Errorf("rects %s, want %s", strings.Join(got, " "), want)
	}
	// A stack's height is its total scaled.
	for i, total := range map[int]float64{0: 3, 1: 3} {
		if math.Abs(up[i]-total*l.Scale) > eps {
			t.Errorf("stack %d: %v high, want %v", i, up[i], total*l.Scale)
		}
	}
	if math.Abs(down[2]-(l.Bottom-l.Axis)) > eps {
		t.Errorf("the tallest soft stack is %v, want the whole lower side %v", down[2], l.Bottom-l.Axis)
	}
}

func TestChartMonths(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		first time.Time
		n     int
		want  string
	}{
		{time.Date(2026, 8, 23, 0, 0, 0, 0, time.UTC), 90, "9:Sep 2026 39:Oct 70:Nov"},
		{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), 40, "0:Dec 2026 31:Jan 2027"},
		{time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC), 10, ""},
	} {
		c := barChart{Buckets: days(tc.first, tc.n)}
		l := c.layout()
		slot := (l.Right - l.Left) / float64(tc.n)
		var got []string
		for _, x := range l.XTicks {
			i := int(math.Round((x.X - l.Left) / slot))
			got = append(got, fmt.Sprintf("%d:%s", i, x.Label))
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("from %s: month ticks %v, want %s", tc.first.Format(time.DateOnly), got, tc.want)
		}
	}
}

var (
	rectRe  = regexp.MustCompile(`<rect ([^>]*)><title>([^<]*)</title></rect>`)
	attrRe  = regexp.MustCompile(`([a-z-]+)="([^"]*)"`)
	emptyRe = regexp.MustCompile(`<text class="empty"[^>]*>([^<]*)</text>`)
)

// svgRects reads the attributes and tooltip of each bar of an SVG chart.
func svgRects(svg string) []map[string]string {
	var out []map[string]string
	for _, m := range rectRe.FindAllStringSubmatch(svg, -1) {
		a := map[string]string{"title": m[2]}
		for _, kv := range attrRe.FindAllStringSubmatch(m[1], -1) {
			a[kv[1]] = kv[2]
		}
		out = append(out, a)
	}
	return out
}

func TestChartBarSVG(t *testing.T) {
	t.Parallel()
	first := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	c := barChart{ID: `d"<`, Label: `a <b> & "c"`, Buckets: days(first, 3), UpName: "hard", DownName: "soft",
		Up:   []chartSeries{{Cause: "bad_address", Severity: "hard", Values: []int64{4, 0, 2}}},
		Down: []chartSeries{{Cause: `x"<script>`, Severity: "soft", Values: []int64{0, 7, 0}}},
	}
	svg := string(c.svg())
	l := c.layout()
	rects := svgRects(svg)
	if len(rects) != 3 {
		t.Fatalf("%d rects, want 3:\n%s", len(rects), svg)
	}
	for i, want := range []map[string]string{
		{"data-day": "2026-11-02", "data-cause": "bad_address", "data-severity": "hard", "data-n": "4", "title": "2026-11-02 bad_address hard: 4", "fill": causeColor("bad_address")},
		{"data-day": "2026-11-03", "data-cause": "x&#34;&lt;script&gt;", "data-severity": "soft", "data-n": "7", "title": "2026-11-03 x&#34;&lt;script&gt; soft: 7", "fill": causeColor("unknown")},
		{"data-day": "2026-11-04", "data-cause": "bad_address", "data-severity": "hard", "data-n": "2", "title": "2026-11-04 bad_address hard: 2"},
	} {
		for k, v := range want {
			if rects[i][k] != v {
				t.Errorf("rect %d: %s=%q, want %q", i, k, rects[i][k], v)
			}
		}
		h, _ := strconv.ParseFloat(rects[i]["height"], 64)
		n, _ := strconv.ParseInt(rects[i]["data-n"], 10, 64)
		if math.Abs(h-float64(n)*l.Scale) > 0.006 { // two decimals
			t.Errorf("rect %d: height %v, want %v", i, h, float64(n)*l.Scale)
		}
	}
	for _, bad := range []string{"<script>", `<b>`, `id="d"<"`} {
		if strings.Contains(svg, bad) {
			t.Errorf("unescaped %q in\n%s", bad, svg)
		}
	}
	if !strings.Contains(svg, `aria-label="a &lt;b&gt; &amp; &#34;c&#34;"`) || !strings.Contains(svg, ">hard ↑</text>") ||
		!strings.Contains(svg, ">soft ↓</text>") || emptyRe.MatchString(svg) {
		t.Errorf("label, captions or an empty notice wrong:\n%s", svg)
	}

	// A week chart says so.
	w := barChart{Buckets: []time.Time{first}, Week: true, Up: []chartSeries{{Cause: "policy", Values: []int64{3}}}}
	r := svgRects(string(w.svg()))
	if len(r) != 1 || r[0]["data-week"] != "2026-11-02" || r[0]["data-day"] != "" || r[0]["title"] != "week of 2026-11-02 policy: 3" {
		t.Errorf("a week's bar: %v", r)
	}
	if _, ok := r[0]["data-severity"]; ok {
		t.Errorf("a bar without severity has data-severity: %v", r[0])
	}
}

func TestChartEmpty(t *testing.T) {
	t.Parallel()
	first := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	for name, c := range map[string]barChart{
		"no buckets":  {},
		"all zero":    {Buckets: days(first, 5), Up: []chartSeries{{Cause: "virus", Values: []int64{0, 0, 0, 0, 0}}}, Down: []chartSeries{}},
		"negative":    {Buckets: days(first, 2), Up: []chartSeries{{Cause: "virus", Values: []int64{-1, -2}}}},
		"no series":   {Buckets: days(first, 90)},
		"custom text": {Buckets: days(first, 3), Empty: "no sender-scope <bounces>"},
	} {
		svg := string(c.svg())
		want := "no bounces in this period"
		if c.Empty != "" {
			want = "no sender-scope &lt;bounces&gt;"
		}
		if m := emptyRe.FindStringSubmatch(svg); m == nil || m[1] != want {
			t.Errorf("%s: the empty notice %v, want %q", name, m, want)
		}
		if n := len(svgRects(svg)); n != 0 {
			t.Errorf("%s: %d bars", name, n)
		}
		l := c.layout()
		if !l.Empty || l.Step != 1 || len(l.YTicks) == 0 || l.YTicks[0].N != 0 || math.IsNaN(l.Scale) || math.IsInf(l.Scale, 0) {
			t.Errorf("%s: layout %+v", name, l)
		}
	}
}

func TestChartHbar(t *testing.T) {
	t.Parallel()
	long := "a-very-long-subdomain.of-a-domain.example"
	c := hbarChart{ID: "domains", Rows: []hbarRow{
		{Label: "beta.example", Href: "/bounces?domain=beta.example&scope=recipient", Title: "beta: 8", N: 8},
		{Label: long, Title: "<long>", N: 4},
		{Label: `x"><script>`, N: 1},
	}}
	l := c.layout()
	if want := l.W - hbarLabelW - hbarValueW; math.Abs(l.Lens[0]-want) > eps {
		t.Errorf("the longest bar is %v, want all the room, %v", l.Lens[0], want)
	}
	for i, n := range []float64{8, 4, 1} {
		if math.Abs(l.Lens[i]-n*l.Scale) > eps {
			t.Errorf("bar %d: %v long, want %v", i, l.Lens[i], n*l.Scale)
		}
	}
	svg := string(c.svg())
	rects := svgRects(svg)
	var labels []string
	for _, r := range rects {
		labels = append(labels, r["data-label"]+"="+r["data-n"])
	}
	if got := strings.Join(labels, " "); got != "beta.example=8 "+long+"=4 x&#34;&gt;&lt;script&gt;=1" {
		t.Errorf("bars %s", got)
	}
	if !strings.Contains(svg, `<a href="/bounces?domain=beta.example&amp;scope=recipient">`) {
		t.Errorf("no link to the domain's bounces:\n%s", svg)
	}
	if !strings.Contains(svg, ">"+shorten(long, hbarMaxRun)+"</text>") || !strings.HasSuffix(shorten(long, hbarMaxRun), "…") ||
		len([]rune(shorten(long, hbarMaxRun))) != hbarMaxRun {
		t.Errorf("a long label is not shortened to %d runes: %q", hbarMaxRun, shorten(long, hbarMaxRun))
	}
	if strings.Contains(svg, "<script>") || strings.Contains(svg, "<long>") {
		t.Errorf("unescaped text:\n%s", svg)
	}

	empty := string(hbarChart{ID: "domains"}.svg())
	if m := emptyRe.FindStringSubmatch(empty); m == nil || m[1] != "no bounces in this period" || len(svgRects(empty)) != 0 {
		t.Errorf("empty ranking:\n%s", empty)
	}
	zero := hbarChart{Rows: []hbarRow{{Label: "a", N: 0}}}.layout()
	if zero.Lens[0] != 0 || math.IsNaN(zero.Lens[0]) {
		t.Errorf("a zero bar: %v", zero.Lens)
	}
}

func TestChartNumbers(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0", 7: "7", 950: "950", 1000: "1k", 1500: "1.5k", 1999: "1.9k", 12_345: "12k",
		999_999: "999k", 1_000_000: "1M", 2_500_000: "2.5M"} {
		if got := shortCount(n); got != want {
			t.Errorf("shortCount(%d) = %q, want %q", n, got, want)
		}
	}
	for f, want := range map[float64]string{0: "0", 1: "1", 1.5: "1.5", 2.25: "2.25", 3.333333: "3.33", 10.10: "10.1", -4.5: "-4.5"} {
		if got := num(f); got != want {
			t.Errorf("num(%v) = %q, want %q", f, got, want)
		}
	}
}
