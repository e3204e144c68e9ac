// Command storebench measures internal/store on a large, realistic data set:
// it fills a database with millions of bounce rows and times the hygiene
// queries, retention and writes on it, through the store package, the code
// the bounced command uses. scripts/store-figures runs it all.
//
// Usage:
//
//	go run ./scripts/storebench generate --url URL [--rows 10000000] [--addresses 400000] [--seed 1] [--truncate]
//	go run ./scripts/storebench latency  --url URL [--n 200]
//	go run ./scripts/storebench explain  --url URL
//	go run ./scripts/storebench save     --url URL [--batches 200] [--size 500] [--raw] [--workers 1] [--keep]
//	go run ./scripts/storebench cleanup  --url URL [--before 365d] [--batch 1000] [--pause 0]
//	go run ./scripts/storebench rebuild  --url URL
//
// generate empties the tables first only with --truncate. save adds rows and
// takes them away again unless --keep. cleanup deletes the rows older than
// --before for good: run it last.
//
// Only databases on loopback addresses are accepted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const usage = `usage: storebench COMMAND --url URL [flags]

commands:
  generate   fill the tables with a realistic data set (--rows, --addresses, --seed, --truncate)
  latency    time the hygiene queries through the store package (--n)
  explain    EXPLAIN (ANALYZE, BUFFERS) the hygiene queries
  save       time store.Save on the data set, then take the rows away (--batches, --size, --raw, --workers, --keep)
  cleanup    time store.Cleanup of old rows while batches keep being saved (--before, --batch, --pause)
  rebuild    time store.RebuildSuppressions (bounced migrate after a policy change); nothing should change

Run 'storebench COMMAND -h' for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "storebench: %v\n%s", err, usage)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "storebench: %v\n", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("bad usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("no command: %w", errUsage)
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"generate": runGenerate,
		"latency":  runLatency,
		"explain":  runExplain,
		"save":     runSave,
		"cleanup":  runCleanup,
		"rebuild":  runRebuild,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			fmt.Fprint(stdout, usage)
			return nil
		}
		return fmt.Errorf("unknown command %q: %w", args[0], errUsage)
	}
	return cmd(ctx, args[1:], stdout, stderr)
}

// flags is the flag set of a command with its --url flag.
type flags struct {
	*flag.FlagSet
	url *string
}

func newFlags(name string, stderr io.Writer) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &flags{FlagSet: fs, url: fs.String("url", os.Getenv("BOUNCED_BENCH_DATABASE_URL"),
		"the database `URL` (default $BOUNCED_BENCH_DATABASE_URL); only loopback hosts")}
}

// parse reads the flags and checks the URL.
func (f *flags) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return fmt.Errorf("%s takes no operands: %w", f.Name(), errUsage)
	}
	if *f.url == "" {
		return fmt.Errorf("%s: --url is required: %w", f.Name(), errUsage)
	}
	return checkLoopback(*f.url)
}

// checkLoopback refuses a database anywhere but on this machine's loopback
// addresses (or a Unix socket).
func checkLoopback(url string) error {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("database url: %w", err)
	}
	hosts := []string{cfg.Host}
	for _, fb := range cfg.Fallbacks {
		hosts = append(hosts, fb.Host)
	}
	for _, h := range hosts {
		if strings.HasPrefix(h, "/") || h == "localhost" {
			continue
		}
		if ip := net.ParseIP(h); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("database host %q: only loopback addresses are allowed", h)
		}
	}
	return nil
}

// connect opens one connection, for the work the store package has no
// method for (loading, EXPLAIN, counting).
func connect(ctx context.Context, url string) (*pgx.Conn, error) {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	return c, nil
}

// durationFlag reads a duration with a d (days) unit besides Go's.
type durationFlag struct{ d time.Duration }

func (f *durationFlag) String() string { return f.d.String() }
func (f *durationFlag) Set(s string) error {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err != nil || days < 0 {
			return fmt.Errorf("%q is not a number of days", s)
		}
		f.d = time.Duration(days * 24 * float64(time.Hour))
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	f.d = d
	return nil
}

// timings summarises durations.
type timings []time.Duration

func (t timings) quantile(q float64) time.Duration {
	if len(t) == 0 {
		return 0
	}
	s := slices.Clone(t)
	slices.Sort(s)
	i := int(q*float64(len(s)-1) + 0.5)
	return s[i]
}

func (t timings) max() time.Duration {
	if len(t) == 0 {
		return 0
	}
	return slices.Max(t)
}

func (t timings) min() time.Duration {
	if len(t) == 0 {
		return 0
	}
	return slices.Min(t)
}

// ms prints a duration in milliseconds.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64)
}

// tableSizes prints the size of each of bounced's tables with its
// indexes, and its rows as ANALYZE estimated them.
func tableSizes(ctx context.Context, c *pgx.Conn, w io.Writer) error {
	rows, err := c.Query(ctx, `
		SELECT c.relname, c.reltuples::bigint, pg_table_size(c.oid), pg_indexes_size(c.oid), pg_total_relation_size(c.oid)
		FROM pg_class c
		WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace
		ORDER BY pg_total_relation_size(c.oid) DESC`)
	if err != nil {
		return fmt.Errorf("reading table sizes: %w", err)
	}
	defer rows.Close()
	fmt.Fprintf(w, "%-16s %12s %10s %10s %10s\n", "table", "rows (est.)", "table", "indexes", "total")
	var sum int64
	for rows.Next() {
		var name string
		var n, table, idx, total int64
		if err := rows.Scan(&name, &n, &table, &idx, &total); err != nil {
			return err
		}
		sum += total
		fmt.Fprintf(w, "%-16s %12d %10s %10s %10s\n", name, max(n, 0), size(table), size(idx), size(total))
	}
	fmt.Fprintf(w, "%-16s %12s %10s %10s %10s\n", "all", "", "", "", size(sum))
	return rows.Err()
}

func size(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(b)/(1<<20))
	default:
		return fmt.Sprintf("%d kB", b>>10)
	}
}
