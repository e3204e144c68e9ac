package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/policy"
	"github.com/bounced/bounced/internal/store"
)

// format is the --format flag of the listing commands.
type format string

func (f *format) String() string { return string(*f) }
func (f *format) Set(s string) error {
	switch s {
	case "text", "csv", "json":
		*f = format(s)
		return nil
	}
	return fmt.Errorf("%q is not text, csv or json", s)
}

const suppressionsDoc = `Print the addresses to stop mailing, with the reason and the evidence:
when the policy was met, the first and last bounce counted, how many.

--format text (the default) is a table for people; csv has a header line and
is what a list manager imports; json is one array of objects. With --since
the newest come first, else the list is in order of address.`

// runSuppressions is `bounced suppressions`.
func runSuppressions(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("suppressions", "[--since T] [--cause C] [--domain D] [--format text|csv|json]", suppressionsDoc, stderr)
	df := addDBFlags(fs)
	var since instant
	fs.Var(&since, "since", "only those suppressed since `T`: a duration before now (1d, 36h), a date or an RFC 3339 time")
	cause := fs.String("cause", "", "only those suppressed for `REASON`: bad_address, bad_domain, mailbox_disabled, mailbox_full or complaint")
	domain := fs.String("domain", "", "only the addresses of `DOMAIN`")
	f := format("text")
	fs.Var(&f, "format", "`text`, csv or json")
	if ops, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(ops) > 0 {
		return &usageError{msg: "suppressions takes no operands"}
	}
	if *cause != "" && !policy.Reason(*cause).Valid() {
		if c := classify.Cause(*cause); c.Valid() {
			return &usageError{msg: fmt.Sprintf("--cause %s: a cause of %s scope never suppresses an address", *cause, c.Scope())}
		}
		return &usageError{msg: fmt.Sprintf("--cause %q: not one of %v", *cause, policy.Reasons())}
	}
	_, st, err := df.open(ctx, false)
	if err != nil {
		return err
	}
	defer st.Close()
	warnStalePolicy(ctx, st, stderr)
	filter := store.SuppressionFilter{Since: since.t, Reason: *cause, Domain: strings.ToLower(*domain)}

	w := bufio.NewWriterSize(stdout, 64<<10)
	var emit func(store.Suppression) error
	var finish func() error
	switch f {
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"address", "domain", "reason", "suppressed_at", "first_bounce", "last_bounce", "bounce_count", "rule"})
		emit = func(x store.Suppression) error {
			return cw.Write([]string{x.Address, x.Domain, x.Reason, stamp(x.SuppressedAt), stamp(x.FirstBounce),
				stamp(x.LastBounce), strconv.Itoa(x.Count), x.Rule})
		}
		finish = func() error { cw.Flush(); return cw.Error() }
	case "json":
		sep := "[\n"
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		emit = func(x store.Suppression) error {
			buf.Reset()
			if err := enc.Encode(x); err != nil {
				return err
			}
			w.WriteString(sep)
			_, err := w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
			sep = ",\n"
			return err
		}
		finish = func() error {
			if sep == "[\n" {
				_, err := w.WriteString("[]\n")
				return err
			}
			_, err := w.WriteString("\n]\n")
			return err
		}
	default:
		tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "ADDRESS\tREASON\tSUPPRESSED\tFIRST BOUNCE\tLAST BOUNCE\tCOUNT")
		n := 0
		emit = func(x store.Suppression) error {
			n++
			_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", x.Address, x.Reason, short(x.SuppressedAt),
				short(x.FirstBounce), short(x.LastBounce), x.Count)
			return err
		}
		finish = func() error {
			if err := tw.Flush(); err != nil {
				return err
			}
			_, err := fmt.Fprintf(w, "%d address(es)\n", n)
			return err
		}
	}
	if err := st.Suppressions(ctx, filter, emit); err != nil {
		return err
	}
	if err := finish(); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	return nil
}

// stamp writes a time for machines: RFC 3339 in UTC.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// short writes a time for people: UTC to the minute.
func short(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") }

const showDoc = `Print the history of one address: whether it is suppressed and why, its
releases, and each bounce, delay or complaint, newest first, with the
cause, the rule that decided it, the codes and the remote server's text.`

// runShow is `bounced show`.
func runShow(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("show", "[--limit N] [--format text|json] ADDRESS", showDoc, stderr)
	df := addDBFlags(fs)
	limit := fs.Int("limit", 100, "show at most `N` events, the newest (0: all)")
	f := format("text")
	fs.Var(&f, "format", "`text` or json")
	ops, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(ops) != 1 {
		return &usageError{msg: "show takes one address"}
	}
	if f == "csv" {
		return &usageError{msg: "show: --format is text or json"}
	}
	_, st, err := df.open(ctx, false)
	if err != nil {
		return err
	}
	defer st.Close()
	h, err := st.History(ctx, ops[0], max(*limit, 0))
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	if f == "json" {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		enc.Encode(h)
		return flushed(w)
	}
	writeHistory(w, h)
	return flushed(w)
}

func flushed(w *bufio.Writer) error {
	if err := w.Flush(); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	return nil
}

func writeHistory(w io.Writer, h store.History) {
	fmt.Fprintf(w, "%s\n", h.Address)
	if s := h.Suppression; s != nil {
		fmt.Fprintf(w, "  suppressed since %s: %s (%d bounce(s) from %s to %s; rule %s)\n",
			short(s.SuppressedAt), s.Reason, s.Count, short(s.FirstBounce), short(s.LastBounce), s.Rule)
	} else {
		fmt.Fprintf(w, "  not suppressed\n")
	}
	for _, r := range h.Releases {
		by := ""
		if r.By != "" {
			by = " by " + r.By
		}
		fmt.Fprintf(w, "  released %s%s: %s", short(r.ReleasedAt), by, r.Reason)
		if r.Was.Reason != "" {
			fmt.Fprintf(w, " (was suppressed for %s since %s)", r.Was.Reason, short(r.Was.SuppressedAt))
		}
		fmt.Fprintln(w)
	}
	if len(h.Events) == 0 {
		fmt.Fprintf(w, "  no bounces stored\n")
		return
	}
	fmt.Fprintf(w, "\n")
	for _, e := range h.Events {
		what := e.Kind
		if e.Cause != "" {
			what = fmt.Sprintf("%s %s %s (%s scope)", e.Kind, e.Severity, e.Cause, e.Scope)
		}
		fmt.Fprintf(w, "%s  %s\n", short(e.BouncedAt), what)
		var codes []string
		if e.Status != "" {
			codes = append(codes, e.Status)
		}
		if e.ReplyCode != 0 {
			codes = append(codes, strconv.Itoa(e.ReplyCode))
		}
		fmt.Fprintf(w, "    rule:       %s\n", e.Rule)
		if len(codes) > 0 {
			fmt.Fprintf(w, "    codes:      %s\n", strings.Join(codes, " "))
		}
		if e.Diagnostic != "" {
			fmt.Fprintf(w, "    diagnostic: %s\n", oneLine(e.Diagnostic, 300))
		}
		if e.RemoteMTA != "" {
			fmt.Fprintf(w, "    remote MTA: %s\n", e.RemoteMTA)
		}
		fmt.Fprintf(w, "    notice:     message %d in %s", e.Message, e.Mailbox)
		if e.NoticeID != "" {
			fmt.Fprintf(w, ", Message-ID %s", e.NoticeID)
		}
		fmt.Fprintln(w)
		if e.OriginalMessageID != "" {
			fmt.Fprintf(w, "    original:   %s\n", e.OriginalMessageID)
		}
		if hs, ok := e.Original["headers"].(map[string]any); ok && len(hs) > 0 {
			keys := make([]string, 0, len(hs))
			for k := range hs {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				fmt.Fprintf(w, "    %s: %v\n", k, hs[k])
			}
		}
	}
}

// oneLine folds text onto one line of at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

const statsDoc = `Count what bounced over a period, grouped by cause (the default), by the
recipient's domain, or by day: failed recipients split hard and soft, delays
and complaints, and each group's share of the failures. By domain also
counts the recipient-scope failures, those that speak against addresses.`

// runStats is `bounced stats`.
func runStats(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("stats", "[--since T] [--until T] [--by cause|domain|day] [--limit N] [--format text|json]", statsDoc, stderr)
	df := addDBFlags(fs)
	since := instant{}
	since.Set("30d")
	fs.Var(&since, "since", "count from `T` (default 30 days ago): a duration before now, a date or an RFC 3339 time")
	var until instant
	fs.Var(&until, "until", "count until `T` (default now)")
	by := fs.String("by", "cause", "group by `cause`, domain or day")
	limit := fs.Int("limit", 50, "by domain, the `N` domains with most rows")
	f := format("text")
	fs.Var(&f, "format", "`text` or json")
	if ops, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(ops) > 0 {
		return &usageError{msg: "stats takes no operands"}
	}
	switch store.StatsBy(*by) {
	case store.ByCause, store.ByDomain, store.ByDay:
	default:
		return &usageError{msg: fmt.Sprintf("--by %q: not cause, domain or day", *by)}
	}
	if f == "csv" {
		return &usageError{msg: "stats: --format is text or json"}
	}
	_, st, err := df.open(ctx, false)
	if err != nil {
		return err
	}
	defer st.Close()
	counts, err := st.Stats(ctx, store.StatsBy(*by), since.t, until.t, *limit)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	if f == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if counts == nil {
			counts = []store.Count{}
		}
		enc.Encode(map[string]any{"by": *by, "since": since.t, "until": untilOrNow(until.t), "counts": counts})
		return flushed(w)
	}
	writeStats(w, *by, since.t, untilOrNow(until.t), counts)
	return flushed(w)
}

func untilOrNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

func writeStats(w io.Writer, by string, since, until time.Time, counts []store.Count) {
	var total store.Count
	for _, c := range counts {
		total.Bounces += c.Bounces
		total.Hard += c.Hard
		total.Soft += c.Soft
		total.Delays += c.Delays
		total.Complaints += c.Complaints
		total.Recipient += c.Recipient
	}
	fmt.Fprintf(w, "From %s to %s, by %s\n\n", short(since), short(until), by)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
	head := strings.ToUpper(by) + "\tBOUNCES\tSHARE\tHARD\tSOFT\tDELAYS\tCOMPLAINTS\t"
	if by == string(store.ByDomain) {
		head += "RECIPIENT SCOPE\t"
	}
	fmt.Fprintln(tw, head)
	row := func(c store.Count) {
		if c.Key == "" {
			c.Key = "(none)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%d\t", c.Key, c.Bounces, share(c.Bounces, total.Bounces), c.Hard, c.Soft, c.Delays, c.Complaints)
		if by == string(store.ByDomain) {
			fmt.Fprintf(tw, "%d\t", c.Recipient)
		}
		fmt.Fprintln(tw)
	}
	for _, c := range counts {
		row(c)
	}
	total.Key = "total"
	if by == string(store.ByDomain) {
		total.Key = "total (listed)"
	}
	row(total)
	tw.Flush()
	if by == string(store.ByCause) && total.Bounces > 0 {
		fmt.Fprintf(w, "\n%s of the failures were hard.\n", share(total.Hard, total.Bounces))
	}
}

func share(n, of int64) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
}

const unsuppressDoc = `Lift the suppression of an address, for instance when its owner says the
mailbox works again. The release is kept, with the reason, for audit; only
bounces after it count against the address, so a later hard bounce
suppresses it again.`

// runUnsuppress is `bounced unsuppress`.
func runUnsuppress(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("unsuppress", "--reason TEXT [--by WHO] ADDRESS", unsuppressDoc, stderr)
	df := addDBFlags(fs)
	reason := fs.String("reason", "", "why the address is released (required)")
	by := fs.String("by", os.Getenv("USER"), "who releases it")
	ops, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(ops) != 1 {
		return &usageError{msg: "unsuppress takes one address"}
	}
	if strings.TrimSpace(*reason) == "" {
		return &usageError{msg: "unsuppress: --reason is required: it is kept for audit"}
	}
	_, st, err := df.open(ctx, false)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := st.Unsuppress(ctx, ops[0], strings.TrimSpace(*reason), *by)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "released %s (was suppressed for %s since %s, %d bounce(s))\n",
		r.Address, r.Was.Reason, short(r.Was.SuppressedAt), r.Was.Count)
	return nil
}
