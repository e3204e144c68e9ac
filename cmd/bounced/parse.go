package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
	"github.com/bounced/bounced/internal/eval"
)

const parseDoc = `Parse each message and print one JSON line per failed or delayed recipient
of a bounce or delay, and one line per message of any other kind (auto_reply,
complaint with its feedback fields, delivered, not_bounce).

An operand is a file holding one message, or an mbox when it starts with
"From " (its messages are named PATH#N, from 1, when it holds more than one),
a directory (every regular file below it, in lexical order: a Maildir works as
it is), or "-" for standard input. With no operand, standard input is read.

A damaged message still gets its lines, with an "error" field, and does not
change the exit status. An input that cannot be read gets a line with only
"file" and "error", and makes the exit status 1 once every input was tried.`

// runParse is `bounced parse`.
func runParse(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("parse", "[--explain] [--config FILE] [FILE|DIR|MBOX|-]...", parseDoc, stderr)
	explain := fs.Bool("explain", false, "add the rule that decided each cause and the text it matched")
	configPath := fs.String("config", "", "read the configuration from `FILE` (see config.example.toml)")
	operands, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(operands) == 0 {
		operands = []string{"-"}
	}
	cfg, p, cl, err := loadPipeline(*configPath)
	if err != nil {
		return err
	}
	pc := &parseCmd{
		parser:     p,
		classifier: cl,
		explain:    *explain,
		maxBytes:   cfg.Parse.MaxBytes,
		stdin:      stdin,
	}
	failed, err := pc.run(ctx, operands, stdout)
	if err != nil {
		return err
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "bounced: %d input(s) could not be read\n", failed)
		return errFailed
	}
	return nil
}

type parseCmd struct {
	parser     *dsn.Parser
	classifier *classify.Classifier
	explain    bool
	maxBytes   int64
	stdin      io.Reader
}

// job is one message to parse, or one input that could not be read.
type job struct {
	name string
	// Exactly one of data, r and err is set.
	data []byte
	r    io.Reader
	err  error
	// done, when set, is closed once r has been read.
	done chan struct{}
	// close, when set, is called once r has been read.
	close func() error
}

// result is the encoded lines of one job.
type result struct {
	out    []byte
	failed bool // the input could not be read
}

// run parses every operand on GOMAXPROCS workers and writes the lines in
// input order. It returns the number of inputs that could not be read; its
// error is a write error or the context's.
func (pc *parseCmd) run(ctx context.Context, operands []string, stdout io.Writer) (failed int, err error) {
	workers := runtime.GOMAXPROCS(0)
	type task struct {
		job job
		res chan result
	}
	tasks := make(chan task)
	// pending holds the result channels in input order; its capacity bounds
	// how far the workers may run ahead of the writer.
	pending := make(chan chan result, 4*workers)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for t := range tasks {
				t.res <- pc.process(t.job)
			}
		})
	}
	go func() {
		defer close(pending)
		defer close(tasks)
		pc.produce(ctx, operands, func(j job) bool {
			res := make(chan result, 1)
			select {
			case pending <- res:
			case <-ctx.Done():
				return false
			}
			tasks <- task{j, res} // a worker is always there to take it
			if j.done != nil {
				<-j.done
			}
			return true
		})
	}()

	w := bufio.NewWriterSize(stdout, 64<<10)
	var werr error
	for res := range pending {
		r := <-res
		if r.failed {
			failed++
		}
		if werr == nil {
			if _, werr = w.Write(r.out); werr != nil {
				cancel() // stop producing; drain what is in flight
			}
		}
	}
	wg.Wait()
	if werr == nil {
		werr = w.Flush()
	}
	if werr != nil {
		return failed, fmt.Errorf("writing output: %w", werr)
	}
	return failed, ctx.Err()
}

// produce calls emit for each message of the operands, in order, until
// emit returns false.
func (pc *parseCmd) produce(ctx context.Context, operands []string, emit func(job) bool) {
	for _, op := range operands {
		if ctx.Err() != nil {
			return
		}
		if op == "-" {
			// Wait for each message of stdin: a second "-" reads on from it.
			if !pc.produceReader("-", bufio.NewReaderSize(pc.stdin, 64<<10), nil, true, emit) {
				return
			}
			continue
		}
		fi, err := os.Stat(op)
		if err != nil {
			if !emit(job{name: op, err: fmt.Errorf("reading input: %w", err)}) {
				return
			}
			continue
		}
		if !fi.IsDir() {
			if !pc.produceFile(op, emit) {
				return
			}
			continue
		}
		// WalkDir visits entries in lexical order.
		err = filepath.WalkDir(op, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if !emit(job{name: path, err: fmt.Errorf("reading directory: %w", err)}) {
					return filepath.SkipAll
				}
				if d != nil && d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !isRegular(path, d) {
				return nil
			}
			if !pc.produceFile(path, emit) {
				return filepath.SkipAll
			}
			return ctx.Err()
		})
		if err != nil {
			return
		}
	}
}

// isRegular reports whether the walked entry is a regular file, or a
// symbolic link to one.
func isRegular(path string, d fs.DirEntry) bool {
	if d.Type().IsRegular() {
		return true
	}
	if d.Type()&fs.ModeSymlink == 0 {
		return false
	}
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

func (pc *parseCmd) produceFile(path string, emit func(job) bool) bool {
	f, err := os.Open(path)
	if err != nil {
		return emit(job{name: path, err: fmt.Errorf("reading input: %w", err)})
	}
	return pc.produceReader(path, bufio.NewReaderSize(f, 64<<10), f.Close, false, emit)
}

// produceReader emits the message of br, or its messages if it is an mbox.
// closeFn, when set, is called once br is no longer needed. With wait, it
// returns only once the message has been read.
func (pc *parseCmd) produceReader(name string, br *bufio.Reader, closeFn func() error, wait bool, emit func(job) bool) bool {
	head, err := br.Peek(len(mboxMagic))
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		if closeFn != nil {
			closeFn()
		}
		return emit(job{name: name, err: fmt.Errorf("reading input: %w", err)})
	}
	if !bytes.Equal(head, mboxMagic) {
		// One message: a worker streams it straight from the file.
		j := job{name: name, r: br, close: closeFn}
		if wait {
			j.done = make(chan struct{})
		}
		if !emit(j) {
			if closeFn != nil {
				closeFn()
			}
			return false
		}
		return true
	}
	if closeFn != nil {
		defer closeFn()
	}
	sp := newMboxSplitter(br, pc.maxBytes)
	first, err := sp.Next()
	if err != nil {
		return emit(job{name: name, err: fmt.Errorf("reading mbox: %w", err)})
	}
	second, err := sp.Next()
	if err == io.EOF {
		// An mbox of one message is a message with an envelope line: it
		// keeps the file's name.
		return emit(job{name: name, data: first})
	}
	if !emit(job{name: name + "#1", data: first}) {
		return false
	}
	msg, n := second, 2
	for err == nil {
		if !emit(job{name: fmt.Sprintf("%s#%d", name, n), data: msg}) {
			return false
		}
		msg, err = sp.Next()
		n++
	}
	if err != io.EOF {
		return emit(job{name: fmt.Sprintf("%s#%d", name, n), err: fmt.Errorf("reading mbox: %w", err)})
	}
	return true
}

// process parses and classifies one message and encodes its lines.
func (pc *parseCmd) process(j job) result {
	if j.err != nil {
		return result{out: encodeLines([]line{{File: j.name, Error: j.err.Error()}}), failed: true}
	}
	o, panicked := judge(pc.parser, pc.classifier, j.data, j.r)
	if j.close != nil {
		j.close()
	}
	if j.done != nil {
		close(j.done)
	}
	if panicked != nil {
		// A bug, not the message's fault: report it and go on with the rest.
		return result{out: encodeLines([]line{{File: j.name, Error: fmt.Sprintf("parsing: internal error: %v", panicked)}}), failed: true}
	}
	lines := pc.lines(j.name, o)
	failed := false
	if o.ReadErr != nil {
		// The message could not be read to its end: say so on its lines
		// rather than the parser's view of the cut.
		failed = true
		for i := range lines {
			lines[i].Error = fmt.Sprintf("reading input: %v", o.ReadErr)
		}
	}
	return result{out: encodeLines(lines), failed: failed}
}

// judge runs eval.Judge over r when it is set (a stream), else
// eval.JudgeBytes over data (a message in memory), turning a panic (a bug:
// the parser promises none) into a value so that one message cannot stop
// the run.
func judge(p *dsn.Parser, c *classify.Classifier, data []byte, r io.Reader) (o eval.Outcome, panicked any) {
	defer func() {
		if v := recover(); v != nil {
			panicked = v
		}
	}()
	if r != nil {
		return eval.Judge(p, c, r), nil
	}
	return eval.JudgeBytes(p, c, data), nil
}

// line is one line of `bounced parse`. The names are those of the labels
// files (file, kind, recipient, status, reply_code, cause, severity).
type line struct {
	File   string   `json:"file"`
	Kind   dsn.Kind `json:"kind,omitempty"`
	Format string   `json:"format,omitempty"`

	// Recipient is set on recipient lines, "" when the notice names none.
	Recipient         *string           `json:"recipient,omitempty"`
	OriginalRecipient string            `json:"original_recipient,omitempty"`
	Action            dsn.Action        `json:"action,omitempty"`
	Status            dsn.Status        `json:"status,omitzero"`
	ReplyCode         int               `json:"reply_code,omitempty"`
	Cause             classify.Cause    `json:"cause,omitempty"`
	Severity          classify.Severity `json:"severity,omitempty"`
	Scope             classify.Scope    `json:"scope,omitempty"`
	Rule              string            `json:"rule,omitempty"`
	Matched           string            `json:"matched,omitempty"`
	Diagnostic        string            `json:"diagnostic,omitempty"`
	Command           string            `json:"command,omitempty"`
	RemoteMTA         string            `json:"remote_mta,omitempty"`
	ReportingMTA      string            `json:"reporting_mta,omitempty"`
	LastAttempt       time.Time         `json:"last_attempt,omitzero"`

	// The notice itself.
	MessageID string    `json:"message_id,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	Date      time.Time `json:"date,omitzero"`

	// The original message.
	OriginalMessageID string            `json:"original_message_id,omitempty"`
	OriginalFrom      string            `json:"original_from,omitempty"`
	OriginalTo        string            `json:"original_to,omitempty"`
	OriginalSubject   string            `json:"original_subject,omitempty"`
	OriginalDate      time.Time         `json:"original_date,omitzero"`
	ListID            string            `json:"list_id,omitempty"`
	Correlation       map[string]string `json:"correlation,omitempty"`

	Feedback *dsn.Feedback `json:"feedback,omitempty"`

	Error string `json:"error,omitempty"`
}

// lines gives the lines of one message.
func (pc *parseCmd) lines(name string, o eval.Outcome) []line {
	rep := o.Report
	base := line{
		File:              name,
		Kind:              rep.Kind,
		Format:            rep.Format,
		ReportingMTA:      rep.ReportingMTA,
		MessageID:         rep.MessageID,
		Subject:           rep.Subject,
		Date:              rep.Date,
		OriginalMessageID: rep.Original.MessageID,
		OriginalFrom:      rep.Original.From,
		OriginalTo:        rep.Original.To,
		OriginalSubject:   rep.Original.Subject,
		OriginalDate:      rep.Original.Date,
		ListID:            rep.Original.ListID,
		Correlation:       rep.Original.Headers,
		Feedback:          rep.Feedback,
	}
	if o.Err != nil {
		base.Error = o.Err.Error()
	}
	perRecipient := rep.Kind == dsn.Bounce || rep.Kind == dsn.Delay
	if !perRecipient || len(rep.Recipients) == 0 {
		return []line{base}
	}
	lines := make([]line, len(rep.Recipients))
	for i := range rep.Recipients {
		r := &rep.Recipients[i]
		l := base
		l.Recipient = &r.Recipient
		l.OriginalRecipient = r.OriginalRecipient
		l.Action = r.Action
		l.Status = r.Status
		l.ReplyCode = r.ReplyCode
		l.Diagnostic = r.Diagnostic
		l.Command = r.Command
		l.RemoteMTA = r.RemoteMTA
		if r.ReportingMTA != "" {
			l.ReportingMTA = r.ReportingMTA
		}
		l.LastAttempt = r.LastAttempt
		if i < len(o.Results) {
			res := o.Results[i]
			l.Cause, l.Severity, l.Scope = res.Cause, res.Severity, res.Scope
			if pc.explain {
				l.Rule, l.Matched = res.Rule, res.Matched
			}
		}
		lines[i] = l
	}
	return lines
}

// encodeLines writes each line as JSON followed by a newline. HTML
// characters are left alone: message ids keep their angle brackets.
func encodeLines(lines []line) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			// Only a bad time value can fail to encode (a year past 9999);
			// keep the line, without its times.
			l.Date, l.OriginalDate, l.LastAttempt = time.Time{}, time.Time{}, time.Time{}
			if l.Feedback != nil {
				fb := *l.Feedback
				fb.ArrivalDate = time.Time{}
				l.Feedback = &fb
			}
			l.Error = fmt.Sprintf("encoding line: %v", err)
			enc.Encode(l)
		}
	}
	return buf.Bytes()
}
