package web

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// The charts of the dashboard are drawn here as inline SVG: pure functions
// from the numbers to a fragment of markup, so that the pages need no
// script and a test can read every bar back. Every text put into the
// markup is escaped; the colours come from causeColors.

// chartSeries is one stacked series of a bar chart: a cause (and the
// severity it is split by, or ""), with a value per bucket of the chart.
type chartSeries struct {
	Cause    string
	Severity string
	Values   []int64
}

// barChart is stacked bars over time: one bar per bucket (a day or a
// week), the series Up stacked above the axis (the first at the bottom)
// and the series Down hanging below it (the first at the top). Both sides
// share one scale, so that a bar's length compares across the axis.
type barChart struct {
	ID    string // the id of the <svg>
	Label string // what the chart shows, for screen readers
	// Buckets are the starts of the bars, UTC; Week says they are weeks
	// (the bars then carry data-week rather than data-day).
	Buckets []time.Time
	Week    bool
	// Up and Down are the series above and below the axis; UpName and
	// DownName caption the two sides (e.g. "hard", "soft"). A chart
	// without Down is drawn above the axis only.
	Up, Down         []chartSeries
	UpName, DownName string
	// Empty is what the chart says when every value is zero (default "no
	// bounces in this period").
	Empty string
	// Width and Height are the size of the drawing in SVG units (defaults
	// 960 and 260); the page scales it to the width it has.
	Width, Height float64
}

// The margins of a bar chart: room for the y axis labels on the left and
// the month labels below.
const (
	barLeft   = 46.0
	barRight  = 8.0
	barTop    = 14.0
	barBottom = 26.0
	// barFill is the share of its slot a bar fills.
	barFill = 0.8
	// barTicks is about how many steps the y axis has, both sides together.
	barTicks = 5
)

// barRect is one drawn segment: a series' value in a bucket.
type barRect struct {
	X, Y, W, H float64
	Bucket     int
	Cause      string
	Severity   string
	N          int64
}

// yTick is a labelled line across the plot.
type yTick struct {
	Y float64
	N int64
}

// xTick marks where a month begins.
type xTick struct {
	X     float64
	Label string
}

// barLayout is where everything of a barChart goes.
type barLayout struct {
	W, H   float64
	Left   float64 // the plot's left edge
	Right  float64 // the plot's right edge
	Top    float64 // the plot's top edge
	Bottom float64 // the plot's bottom edge
	Axis   float64 // the y of the zero line
	Scale  float64 // SVG units per count
	Step   int64   // the count between two ticks
	Rects  []barRect
	YTicks []yTick // above the axis, then below (N counted away from the axis)
	XTicks []xTick
	Empty  bool
}

// layout computes where the bars, ticks and labels of c go.
func (c barChart) layout() barLayout {
	l := barLayout{W: c.Width, H: c.Height}
	if l.W <= 0 {
		l.W = 960
	}
	if l.H <= 0 {
		l.H = 260
	}
	l.Left, l.Right, l.Top, l.Bottom = barLeft, l.W-barRight, barTop, l.H-barBottom
	n := len(c.Buckets)
	upMax, downMax := stackMax(c.Up, n), stackMax(c.Down, n)
	l.Empty = upMax == 0 && downMax == 0
	l.Step = niceStep(upMax+downMax, barTicks)
	// Each side reaches the first tick at or above its tallest stack; a
	// side that exists gets at least one step, so that it shows.
	upExt := ceilTo(upMax, l.Step)
	if upExt == 0 {
		upExt = l.Step
	}
	var downExt int64
	if c.Down != nil {
		downExt = max(ceilTo(downMax, l.Step), l.Step)
	}
	l.Scale = (l.Bottom - l.Top) / float64(upExt+downExt)
	l.Axis = l.Top + float64(upExt)*l.Scale
	for v := int64(0); v <= upExt; v += l.Step {
		l.YTicks = append(l.YTicks, yTick{Y: l.Axis - float64(v)*l.Scale, N: v})
	}
	for v := l.Step; v <= downExt; v += l.Step {
		l.YTicks = append(l.YTicks, yTick{Y: l.Axis + float64(v)*l.Scale, N: v})
	}
	if n == 0 {
		return l
	}
	slot := (l.Right - l.Left) / float64(n)
	barW := slot * barFill
	for i, b := range c.Buckets {
		if i == 0 && b.Day() == 1 || i > 0 && b.Month() != c.Buckets[i-1].Month() {
			label := b.Format("Jan")
			if len(l.XTicks) == 0 || b.Month() == time.January {
				label = b.Format("Jan 2006")
			}
			l.XTicks = append(l.XTicks, xTick{X: l.Left + float64(i)*slot, Label: label})
		}
		x := l.Left + float64(i)*slot + (slot-barW)/2
		y := l.Axis
		for _, s := range c.Up {
			if v := s.value(i); v > 0 {
				h := float64(v) * l.Scale
				y -= h
				l.Rects = append(l.Rects, barRect{X: x, Y: y, W: barW, H: h, Bucket: i, Cause: s.Cause, Severity: s.Severity, N: v})
			}
		}
		y = l.Axis
		for _, s := range c.Down {
			if v := s.value(i); v > 0 {
				h := float64(v) * l.Scale
				l.Rects = append(l.Rects, barRect{X: x, Y: y, W: barW, H: h, Bucket: i, Cause: s.Cause, Severity: s.Severity, N: v})
				y += h
			}
		}
	}
	return l
}

// caption writes s turned a quarter left, centred on x, y.
func caption(b *strings.Builder, x, y float64, s string) {
	fmt.Fprintf(b, `<text class="side" x="%s" y="%s" text-anchor="middle" dominant-baseline="middle" transform="rotate(-90 %s %s)">%s</text>`,
		num(x), num(y), num(x), num(y), esc(s))
}

// value is the series' value in bucket i (0 past its end; negative values
// are not drawn).
func (s chartSeries) value(i int) int64 {
	if i < len(s.Values) && s.Values[i] > 0 {
		return s.Values[i]
	}
	return 0
}

// stackMax is the tallest stack of the series over n buckets.
func stackMax(ss []chartSeries, n int) int64 {
	var m int64
	for i := range n {
		var t int64
		for _, s := range ss {
			t += s.value(i)
		}
		m = max(m, t)
	}
	return m
}

// niceStep is the step of an axis from 0 to at least top in about ticks
// steps: 1, 2 or 5 times a power of ten, never below 1 (counts are whole).
func niceStep(top int64, ticks int) int64 {
	if top <= 0 || ticks <= 0 {
		return 1
	}
	for p := int64(1); p > 0 && p <= math.MaxInt64/5; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if step := m * p; (top-1)/step+1 <= int64(ticks) {
				return step
			}
		}
	}
	return top
}

// ceilTo rounds v up to a multiple of step (step > 0).
func ceilTo(v, step int64) int64 {
	if v <= 0 {
		return 0
	}
	return (v-1)/step*step + step
}

// svg draws c.
func (c barChart) svg() template.HTML {
	l := c.layout()
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" id="%s" viewBox="0 0 %s %s" width="%s" height="%s" role="img" aria-label="%s">`,
		esc(c.ID), num(l.W), num(l.H), num(l.W), num(l.H), esc(c.Label))
	// Grid lines and their counts.
	for _, t := range l.YTicks {
		cls := "grid"
		if t.N == 0 {
			cls = "axis"
		}
		fmt.Fprintf(&b, `<line class="%s" x1="%s" x2="%s" y1="%s" y2="%s"/>`, cls, num(l.Left), num(l.Right), num(t.Y), num(t.Y))
		fmt.Fprintf(&b, `<text class="tick" x="%s" y="%s" text-anchor="end" dominant-baseline="middle">%s</text>`,
			num(l.Left-6), num(t.Y), esc(shortCount(t.N)))
	}
	// The captions of the sides, turned along the axis in the margin,
	// each at the middle of its side.
	if c.UpName != "" {
		caption(&b, 10, (l.Top+l.Axis)/2, c.UpName+" ↑")
	}
	if c.Down != nil && c.DownName != "" {
		caption(&b, 10, (l.Axis+l.Bottom)/2, c.DownName+" ↓")
	}
	for _, t := range l.XTicks {
		fmt.Fprintf(&b, `<line class="month" x1="%s" x2="%s" y1="%s" y2="%s"/>`, num(t.X), num(t.X), num(l.Top), num(l.Bottom+4))
		fmt.Fprintf(&b, `<text class="tick" x="%s" y="%s" dominant-baseline="hanging">%s</text>`,
			num(t.X+3), num(l.Bottom+8), esc(t.Label))
	}
	attr, what := "data-day", ""
	if c.Week {
		attr, what = "data-week", "week of "
	}
	for _, r := range l.Rects {
		day := c.Buckets[r.Bucket].Format(time.DateOnly)
		tip := what + day + " " + r.Cause
		sev := ""
		if r.Severity != "" {
			tip += " " + r.Severity
			sev = ` data-severity="` + esc(r.Severity) + `"`
		}
		tip += ": " + strconv.FormatInt(r.N, 10)
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s" %s="%s" data-cause="%s"%s data-n="%d"><title>%s</title></rect>`,
			num(r.X), num(r.Y), num(r.W), num(r.H), causeColor(r.Cause), attr, day, esc(r.Cause), sev, r.N, esc(tip))
	}
	if l.Empty {
		empty := c.Empty
		if empty == "" {
			empty = "no bounces in this period"
		}
		fmt.Fprintf(&b, `<text class="empty" x="%s" y="%s" text-anchor="middle" dominant-baseline="middle">%s</text>`,
			num((l.Left+l.Right)/2), num((l.Top+l.Bottom)/2), esc(empty))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// hbarRow is one bar of a horizontal bar chart.
type hbarRow struct {
	Label string // drawn left of the bar (shortened when long) and kept whole in data-label
	Href  string // where the label links, or ""
	Title string // the tooltip
	N     int64
}

// hbarChart is a ranking: one horizontal bar per row, longest first as
// given, each labelled on its left and with its count on its right.
type hbarChart struct {
	ID    string
	Label string
	Rows  []hbarRow
	Empty string
	Width float64 // default 520
}

// The geometry of a horizontal bar chart.
const (
	hbarLabelW = 170.0 // room for the labels
	hbarValueW = 48.0  // room for the counts right of the longest bar
	hbarRowH   = 26.0
	hbarBarH   = 16.0
	hbarMaxRun = 26 // runes of a label drawn before it is shortened
)

// hbarLayout is where the bars of an hbarChart go: bar i is Lens[i] long
// from X, at Ys[i].
type hbarLayout struct {
	W, H  float64
	X     float64
	Lens  []float64
	Ys    []float64
	Scale float64 // units per count
}

func (c hbarChart) layout() hbarLayout {
	l := hbarLayout{W: c.Width, X: hbarLabelW}
	if l.W <= 0 {
		l.W = 520
	}
	l.H = max(float64(len(c.Rows)), 2) * hbarRowH
	var top int64
	for _, r := range c.Rows {
		top = max(top, r.N)
	}
	if top > 0 {
		l.Scale = (l.W - hbarLabelW - hbarValueW) / float64(top)
	}
	for i, r := range c.Rows {
		l.Lens = append(l.Lens, float64(max(r.N, 0))*l.Scale)
		l.Ys = append(l.Ys, float64(i)*hbarRowH+(hbarRowH-hbarBarH)/2)
	}
	return l
}

// svg draws c.
func (c hbarChart) svg() template.HTML {
	l := c.layout()
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart hbar" id="%s" viewBox="0 0 %s %s" width="%s" height="%s" role="img" aria-label="%s">`,
		esc(c.ID), num(l.W), num(l.H), num(l.W), num(l.H), esc(c.Label))
	for i, r := range c.Rows {
		mid := l.Ys[i] + hbarBarH/2
		label := esc(shorten(r.Label, hbarMaxRun))
		text := fmt.Sprintf(`<text class="label" x="%s" y="%s" text-anchor="end" dominant-baseline="middle">%s</text>`,
			num(l.X-8), num(mid), label)
		if r.Href != "" {
			text = `<a href="` + esc(r.Href) + `">` + text + `</a>`
		}
		b.WriteString(text)
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" rx="2" fill="%s" data-label="%s" data-n="%d"><title>%s</title></rect>`,
			num(l.X), num(l.Ys[i]), num(l.Lens[i]), num(hbarBarH), hbarColor, esc(r.Label), r.N, esc(r.Title))
		fmt.Fprintf(&b, `<text class="value" x="%s" y="%s" dominant-baseline="middle">%s</text>`,
			num(l.X+l.Lens[i]+6), num(mid), esc(strconv.FormatInt(r.N, 10)))
	}
	if len(c.Rows) == 0 {
		empty := c.Empty
		if empty == "" {
			empty = "no bounces in this period"
		}
		fmt.Fprintf(&b, `<text class="empty" x="%s" y="%s" text-anchor="middle" dominant-baseline="middle">%s</text>`,
			num(l.W/2), num(l.H/2), esc(empty))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// swatch is a small square of the colour of cause, for legends.
func swatch(cause string) template.HTML {
	return template.HTML(`<svg class="swatch" viewBox="0 0 10 10" width="10" height="10" aria-hidden="true"><rect width="10" height="10" rx="2" fill="` +
		causeColor(cause) + `"/></svg>`)
}

// hbarColor is the colour of the ranking bars.
const hbarColor = "#c0504d"

// causeColors gives each cause its colour, on every chart: warm colours
// for the recipient scope (what counts against an address), purples for
// the message, blues for the sender, greens for the transport.
var causeColors = map[string]string{
	"bad_address":      "#b2182b",
	"bad_domain":       "#e0603a",
	"mailbox_disabled": "#f29e4c",
	"mailbox_full":     "#e9c46a",
	"oversize":         "#9c6ade",
	"spam_content":     "#c77dba",
	"virus":            "#6a3d9a",
	"blocklisted":      "#1b3a6b",
	"auth_failure":     "#2f72c0",
	"policy":           "#8fb3e3",
	"rate_limited":     "#4fb0e6",
	"expired":          "#2d6a4f",
	"network_error":    "#52b788",
	"server_error":     "#95d5b2",
	"protocol_error":   "#74a57f",
	"unknown":          "#9aa0a6",
	"complaint":        "#d1495b",
}

// causeColor is the colour of cause (grey for one it does not know).
func causeColor(cause string) string {
	if c, ok := causeColors[cause]; ok {
		return c
	}
	return causeColors["unknown"]
}

// num formats a coordinate: two decimals at most, no trailing zeros.
func num(f float64) string {
	s := strconv.FormatFloat(f, 'f', 2, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// shortCount writes a count for an axis: 950, 1.5k, 12k, 3M.
func shortCount(n int64) string {
	switch {
	case n >= 1_000_000:
		return trimFloat(float64(n)/1e6) + "M"
	case n >= 10_000:
		return strconv.FormatInt(n/1000, 10) + "k"
	case n >= 1000:
		return trimFloat(float64(n)/1e3) + "k"
	}
	return strconv.FormatInt(n, 10)
}

func trimFloat(f float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(math.Floor(f*10)/10, 'f', 1, 64), ".0")
}

// shorten cuts s to n runes, ending it with an ellipsis when cut.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// esc escapes s for SVG text or an attribute value.
func esc(s string) string { return template.HTMLEscapeString(s) }
