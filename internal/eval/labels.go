// Package eval measures how well bounced reads a set of labelled messages:
// it loads a labels file, parses and classifies each message, and counts the
// agreement per field (kind, recipient, status, reply code, cause,
// severity), with a cause confusion table and the list of disagreements.
//
// It serves `bounced eval`, the corpus test and the benchmarks. The labels
// format is the one of the Sisimai corpus (shared/corpus/README.md): one JSON
// object per line.
package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Unlabelled is the kind of a labelled file that has no expectation; its
// kind is not scored.
const Unlabelled = "unlabelled"

// Label is the expectation for one file.
type Label struct {
	// File is the message's path, relative to the labelled folder.
	File string `json:"file"`
	// Kind is a dsn.Kind, or Unlabelled.
	Kind string `json:"kind"`
	// Recipients are the failed recipients in the order the message gives
	// them.
	Recipients []LabelRecipient `json:"recipients"`
}

// LabelRecipient is the expectation for one recipient. A nil field means
// "not labelled", except for Status and ReplyCode where nil means the
// message carries no such code, so the answer must be empty too.
type LabelRecipient struct {
	Recipient *string `json:"recipient"`
	ReplyCode *int    `json:"reply_code"`
	Status    *string `json:"status"`
	Severity  *string `json:"severity"`
	Cause     *string `json:"cause"`
	// SisimaiReason and SisimaiHard are Sisimai's own answer, kept for
	// reference in reports; they are not scored.
	SisimaiReason string `json:"sisimai_reason,omitempty"`
	SisimaiHard   *bool  `json:"sisimai_hard,omitempty"`
}

// maxLabelLine bounds one line of a labels file.
const maxLabelLine = 1 << 20

// ReadLabels reads a labels file: one JSON object per line, blank lines
// ignored. Unknown fields are errors, so a typo in a hand-written file does
// not pass unnoticed. Errors name the line.
func ReadLabels(r io.Reader) ([]Label, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxLabelLine)
	var labels []Label
	seen := make(map[string]int)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var l Label
		if err := decodeStrict(line, &l); err != nil {
			return nil, fmt.Errorf("reading labels line %d: %w", n, err)
		}
		if l.File == "" {
			return nil, fmt.Errorf("reading labels line %d: no file", n)
		}
		if l.Kind == "" {
			return nil, fmt.Errorf("reading labels line %d: %s: no kind", n, l.File)
		}
		if prev, ok := seen[l.File]; ok {
			return nil, fmt.Errorf("reading labels line %d: %s already labelled on line %d", n, l.File, prev)
		}
		seen[l.File] = n
		labels = append(labels, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading labels: %w", err)
	}
	return labels, nil
}

// LoadLabels reads the labels file at path.
func LoadLabels(path string) ([]Label, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening labels: %w", err)
	}
	defer f.Close()
	labels, err := ReadLabels(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return labels, nil
}

func decodeStrict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("more than one JSON value on the line")
	}
	return nil
}
