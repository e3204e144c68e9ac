package main

import (
	"context"
	"io"

	"github.com/bounced/bounced/internal/eval"
)

const evalDoc = `Parse and classify every file named in the labels file (paths relative to
DIR) and print the agreement per field, then a cause confusion table (rows:
the labelled cause, columns: ours).

The labels file holds one JSON object per line, as shared/corpus/README.md
describes: {"file", "kind", "recipients": [{"recipient", "status",
"reply_code", "cause", "severity"}]}. Recipients are matched by position.
Scored: kind (files not "unlabelled"), recipients (their number, for bounces
and delays), recipient (where labelled), status and reply_code (every
labelled recipient: null means the message carries no code, so ours must be
empty too), cause and severity (where labelled).

The exit status is 0 whatever the agreement; 1 if a labelled file cannot be
read.`

// runEval is `bounced eval`.
func runEval(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("eval", "[--json] [--misses] [--config FILE] --labels FILE DIR", evalDoc, stderr)
	labelsPath := fs.String("labels", "", "read the labels from `FILE` (required)")
	asJSON := fs.Bool("json", false, "print one JSON document instead of tables")
	misses := fs.Bool("misses", false, "list every disagreement: file, recipient, field, want, got")
	configPath := fs.String("config", "", "read the configuration from `FILE` (see config.example.toml)")
	operands, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *labelsPath == "" {
		return &usageError{msg: "eval: --labels is required"}
	}
	if len(operands) != 1 {
		return &usageError{msg: "eval: give exactly one DIR"}
	}
	_, p, cl, err := loadPipeline(*configPath)
	if err != nil {
		return err
	}
	labels, err := eval.LoadLabels(*labelsPath)
	if err != nil {
		return err
	}
	t, err := eval.Run(ctx, p, cl, operands[0], labels)
	if err != nil {
		return err
	}
	if *asJSON {
		return t.WriteJSON(stdout, *misses)
	}
	return t.WriteText(stdout, *misses)
}
