// Command bounced reads bounce mail and tells why each message bounced.
//
// Usage:
//
//	bounced parse [--explain] [--config FILE] [FILE|DIR|MBOX|-]...
//	bounced eval [--json] [--misses] [--config FILE] --labels FILE DIR
//	bounced migrate [--config FILE] [--db URL]
//	bounced import [--config FILE] [--db URL] [FILE|DIR|MBOX|-]...
//	bounced suppressions [--since T] [--cause C] [--domain D] [--format text|csv|json]
//	bounced show [--limit N] [--format text|json] ADDRESS
//	bounced stats [--since T] [--until T] [--by cause|domain|day] [--format text|json]
//	bounced unsuppress --reason TEXT [--by WHO] ADDRESS
//	bounced run [--config FILE] [--db URL] [--drain]
//	bounced serve [--config FILE] [--db URL] [--listen ADDR]
//	bounced check-config --config FILE
//	bounced demo [--db URL] [--notices DIR] [--keep] [--verbose]
//	bounced cleanup [--raw-older-than D] [--rows-older-than D] [--dry-run]
//	bounced reclassify [--since T]
//	bounced help [COMMAND]
//
// See README.md for the output fields and the configuration keys.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	// Decoders for the charsets go-message does not know by itself; once,
	// here, as go-message asks.
	_ "github.com/emersion/go-message/charset"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran but something failed (see the command's doc)
	exitUsage   = 2 // bad command line or configuration
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // the first signal asks to stop; a second one kills
	}()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// usageError is a bad command line: the message is printed with a hint and
// the exit code is exitUsage.
type usageError struct {
	msg   string
	quiet bool // already printed (the flag package prints its own errors)
}

func (e *usageError) Error() string { return e.msg }

// errFailed reports that the command ran to the end but some input failed;
// the details were already printed.
var errFailed = errors.New("some inputs failed")

// exitCode prints err, if it needs printing, and gives the exit code.
func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		if !ue.quiet {
			fmt.Fprintf(stderr, "bounced: %v\nRun 'bounced help' for usage.\n", err)
		}
		return exitUsage
	case errors.Is(err, errFailed):
		return exitFailure
	case errors.Is(err, errConfig):
		fmt.Fprintf(stderr, "bounced: %v\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "bounced: %v\n", err)
		return exitFailure
	}
}

// command is one subcommand.
type command struct {
	name, args, short string
	run               func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"parse", "[--explain] [--config FILE] [FILE|DIR|MBOX|-]...", "print one JSON line per recipient of each message", runParse},
		{"eval", "[--json] [--misses] [--config FILE] --labels FILE DIR", "score parsing and classification against labelled mail", runEval},
		{"migrate", "[--config FILE] [--db URL]", "create or upgrade the tables", runMigrate},
		{"import", "[--config FILE] [--db URL] [FILE|DIR|MBOX|-]...", "analyse saved messages into the store", runImport},
		{"suppressions", "[--since T] [--cause C] [--domain D] [--format text|csv|json]", "print the addresses to stop mailing", runSuppressions},
		{"show", "[--limit N] [--format text|json] ADDRESS", "print the history of one address", runShow},
		{"stats", "[--since T] [--until T] [--by cause|domain|day] [--format text|json]", "count what bounced, and why", runStats},
		{"unsuppress", "--reason TEXT [--by WHO] ADDRESS", "release a suppressed address, kept for audit", runUnsuppress},
		{"run", "[--config FILE] [--db URL] [--drain]", "read the mailboxes as a service: fetch, analyse, store, then move or flag", runRun},
		{"serve", "[--config FILE] [--db URL] [--listen ADDR]", "serve the API and the dashboard over the database, without reading mail", runServe},
		{"check-config", "--config FILE", "check a configuration file and the secrets it names", runCheckConfig},
		{"demo", "[--db URL] [--notices DIR] [--keep] [--verbose]", "run the service on sample notices in a built-in IMAP server, then show what it found", runDemo},
		{"cleanup", "[--raw-older-than D] [--rows-older-than D] [--dry-run]", "delete old raw messages and rows in short batches", runCleanup},
		{"reclassify", "[--since T]", "analyse stored raw messages again and update rows and suppressions", runReclassify},
		{"help", "[COMMAND]", "show usage", nil},
	}
}

// run is the whole program, apart from the process: it takes the arguments
// after the program name.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return &usageError{msg: "no command given"}
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		return help(rest, stdout)
	}
	for _, c := range commands() {
		if c.name == name && c.run != nil {
			return c.run(ctx, rest, stdin, stdout, stderr)
		}
	}
	return &usageError{msg: fmt.Sprintf("unknown command %q", name)}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "bounced reads bounce mail and tells why each message bounced.\n\nUsage:\n\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  bounced %s %s\n        %s\n", c.name, c.args, c.short)
	}
	fmt.Fprintf(w, "\nRun 'bounced help COMMAND' for a command's options.\n")
}

func help(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		usage(stdout)
		return nil
	}
	if len(args) > 1 {
		return &usageError{msg: "help takes at most one command"}
	}
	for _, c := range commands() {
		if c.name == args[0] && c.run != nil {
			// Every command prints its usage on -h and returns flag.ErrHelp.
			return c.run(context.Background(), []string{"-h"}, nil, stdout, stdout)
		}
	}
	if args[0] == "help" {
		usage(stdout)
		return nil
	}
	return &usageError{msg: fmt.Sprintf("unknown command %q", args[0])}
}

// newFlagSet makes a command's flag set: errors are returned, not fatal, and
// -h prints the usage to stderr.
func newFlagSet(name, args, doc string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: bounced %s %s\n\n%s\n", name, args, doc)
		if hasFlags(fs) {
			fmt.Fprintf(stderr, "\nOptions:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parseFlags parses args and returns the operands. Flags may come after
// operands ("bounced parse FILE --explain"); everything after "--" is an
// operand. A flag error becomes a quiet usageError: the flag package has
// printed it and the usage already.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var operands []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{msg: fmt.Sprintf("%s: %v", fs.Name(), err), quiet: true}
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(operands, rest...), nil
		}
		if len(rest) == 0 {
			return operands, nil
		}
		operands = append(operands, rest[0])
		args = rest[1:]
	}
}
