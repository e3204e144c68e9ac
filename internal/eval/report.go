package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/bounced/bounced/internal/classify"
)

// causes lists the taxonomy in DESIGN.md's order, with the short names the
// confusion table uses for its columns.
var causes = []struct {
	cause classify.Cause
	short string
}{
	{classify.BadAddress, "addr"},
	{classify.BadDomain, "dom"},
	{classify.MailboxDisabled, "dis"},
	{classify.MailboxFull, "full"},
	{classify.Oversize, "size"},
	{classify.SpamContent, "spam"},
	{classify.Virus, "vir"},
	{classify.Blocklisted, "blk"},
	{classify.AuthFailure, "auth"},
	{classify.Policy, "pol"},
	{classify.RateLimited, "rate"},
	{classify.Expired, "exp"},
	{classify.NetworkError, "net"},
	{classify.ServerError, "srv"},
	{classify.ProtocolError, "prot"},
	{classify.Unknown, "unk"},
}

// causeOrder gives the rows and columns of the confusion table: the
// taxonomy, then any other string met (sorted), then "none".
func (t *Tally) causeOrder() (rows, cols []string) {
	known := make(map[string]bool)
	var order []string
	for _, c := range causes {
		known[string(c.cause)] = true
		order = append(order, string(c.cause))
	}
	var extra []string
	inCol := make(map[string]bool)
	for lab, row := range t.confusion {
		if !known[lab] {
			known[lab] = true
			extra = append(extra, lab)
		}
		for ours, n := range row {
			if n > 0 {
				inCol[ours] = true
			}
			if !known[ours] && ours != none {
				known[ours] = true
				extra = append(extra, ours)
			}
		}
	}
	slices.Sort(extra)
	order = append(order, extra...)
	for _, c := range order {
		if len(t.confusion[c]) > 0 {
			rows = append(rows, c)
		}
		if inCol[c] {
			cols = append(cols, c)
		}
	}
	if inCol[none] {
		cols = append(cols, none)
	}
	return rows, cols
}

func shortCause(c string) string {
	for _, k := range causes {
		if string(k.cause) == c {
			return k.short
		}
	}
	return c
}

// WriteText writes the agreement table and the cause confusion table for a
// terminal; with misses, it lists every disagreement after them.
func (t *Tally) WriteText(w io.Writer, misses bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	// Right-aligned columns; the names are padded to read left-aligned.
	fmt.Fprintf(tw, "%-10s\tagree\ttotal\taccuracy\t\n", "field")
	for _, f := range Fields {
		c := t.Count(f)
		acc := "-"
		if c.Total > 0 {
			acc = fmt.Sprintf("%.2f%%", 100*c.Accuracy())
		}
		fmt.Fprintf(tw, "%-10s\t%d\t%d\t%s\t\n", f, c.Agree, c.Total, acc)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing agreement table: %w", err)
	}
	fmt.Fprintf(w, "%d files, %d damaged\n", t.files, len(t.errors))

	rows, cols := t.causeOrder()
	if len(rows) > 0 {
		fmt.Fprintf(w, "\ncause confusion (rows: labelled, columns: ours)\n")
		tw = tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "\t")
		for _, c := range cols {
			fmt.Fprintf(tw, "%s\t", shortCause(c))
		}
		fmt.Fprintf(tw, "\n")
		width := 0
		for _, r := range rows {
			width = max(width, len(r))
		}
		for _, r := range rows {
			fmt.Fprintf(tw, "%-*s\t", width, r)
			for _, c := range cols {
				if n := t.confusion[r][c]; n > 0 {
					fmt.Fprintf(tw, "%d\t", n)
				} else {
					fmt.Fprintf(tw, ".\t")
				}
			}
			fmt.Fprintf(tw, "\n")
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("writing confusion table: %w", err)
		}
		var key []string
		for _, c := range cols {
			if s := shortCause(c); s != c {
				key = append(key, s+"="+c)
			}
		}
		if len(key) > 0 {
			fmt.Fprintf(w, "(%s)\n", strings.Join(key, " "))
		}
	}

	if !misses {
		return nil
	}
	if len(t.misses) > 0 {
		fmt.Fprintf(w, "\nmisses\n")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "file\t#\tfield\twant\tgot\n")
		for _, m := range t.misses {
			idx := ""
			if m.Index > 0 {
				idx = fmt.Sprint(m.Index)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.File, idx, m.Field, orNone(m.Want), orNone(m.Got))
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("writing misses: %w", err)
		}
	}
	if len(t.errors) > 0 {
		fmt.Fprintf(w, "\ndamaged messages\n")
		for _, e := range t.errors {
			if _, err := fmt.Fprintf(w, "%s: %s\n", e.File, e.Got); err != nil {
				return fmt.Errorf("writing damaged messages: %w", err)
			}
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Summary is the machine-readable form of a Tally.
type Summary struct {
	Files int `json:"files"`
	// Fields holds the agreement per field, in report order.
	Fields []FieldSummary `json:"fields"`
	// Confusion[labelled][ours] counts recipients by labelled cause and
	// bounced's cause ("none" when bounced gave no recipient there).
	Confusion map[string]map[string]int `json:"confusion"`
	// Misses lists every disagreement; only when asked for.
	Misses []Miss `json:"misses,omitempty"`
	// Damaged lists the messages the parser reported damaged.
	Damaged []Miss `json:"damaged,omitempty"`
}

// FieldSummary is the agreement on one field.
type FieldSummary struct {
	Field    Field   `json:"field"`
	Agree    int     `json:"agree"`
	Total    int     `json:"total"`
	Accuracy float64 `json:"accuracy"`
}

// Summary gives the tally as one value, for JSON; misses says whether to
// include the disagreements.
func (t *Tally) Summary(misses bool) Summary {
	s := Summary{Files: t.files, Confusion: t.confusion, Damaged: t.errors}
	if s.Confusion == nil {
		s.Confusion = map[string]map[string]int{}
	}
	for _, f := range Fields {
		c := t.Count(f)
		s.Fields = append(s.Fields, FieldSummary{Field: f, Agree: c.Agree, Total: c.Total, Accuracy: c.Accuracy()})
	}
	if misses {
		s.Misses = t.misses
	}
	return s
}

// WriteJSON writes the summary as one indented JSON document.
func (t *Tally) WriteJSON(w io.Writer, misses bool) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(t.Summary(misses)); err != nil {
		return fmt.Errorf("writing summary: %w", err)
	}
	return nil
}
