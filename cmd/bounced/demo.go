package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"

	"github.com/bounced/bounced/internal/daemon"
	"github.com/bounced/bounced/internal/fetch"
	"github.com/bounced/bounced/internal/memimap"
	"github.com/bounced/bounced/internal/pgserver"
	"github.com/bounced/bounced/internal/store"
	"github.com/bounced/bounced/internal/web"
)

const demoDoc = `Show what bounced does, with nothing set up: start an IMAP server inside
the process holding the project's sample notices (--notices), run the
service on it until the mailbox is drained (bounces moved to Processed,
other notices to Other, what could not be read to Unparseable), and print
what it found and how to query it.

The tables go to schema bounced_demo, made anew at each run, of the
database named by --db, BOUNCED_DATABASE_URL or DATABASE_URL; else of
database bounced_demo on the PostgreSQL at 127.0.0.1:5432; else of a
throwaway cluster started from the local PostgreSQL binaries in .demo/
(stopped at the end unless --keep).

With --serve ADDR (e.g. 127.0.0.1:9108), it then serves the dashboard and
the API on ADDR over what it stored, with a token made for the run and
printed, until interrupted.`

// demoLocalURL is the PostgreSQL the demo looks for when none is named (a
// variable for the tests).
var demoLocalURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable&connect_timeout=3"

// runDemo is `bounced demo`.
func runDemo(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "[--db URL] [--notices DIR] [--keep] [--verbose] [--serve ADDR]", demoDoc, stderr)
	db := fs.String("db", "", "the database `URL` (the demo uses its schema bounced_demo)")
	notices := fs.String("notices", "internal/dsn/testdata/notices", "the `DIR` of sample notices to load")
	keep := fs.Bool("keep", false, "leave a throwaway cluster running after the demo")
	verbose := fs.Bool("verbose", false, "log every batch")
	serve := fs.String("serve", "", "then serve the dashboard and the API on `ADDR` until interrupted")
	if ops, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(ops) > 0 {
		return &usageError{msg: "demo takes no operands"}
	}
	msgs, err := readNotices(*notices)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	dbURL, where, stop, err := demoDatabase(ctx, *db, *keep, stdout)
	if err != nil {
		return err
	}
	defer stop()

	srv, err := memimap.Start(memimap.Options{})
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.Append("INBOX", msgs...); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "IMAP server in this process at %s: %d sample notices in INBOX\n", srv.Addr, len(msgs))
	fmt.Fprintf(stdout, "database: %s\n", where)

	cfg, _ := loadConfig("")
	opt, err := cfg.storeOptions()
	if err != nil {
		return err
	}
	st, err := openMigrated(ctx, dbURL, opt, log)
	if err != nil {
		return err
	}
	defer st.Close()
	cl, err := cfg.classifier()
	if err != nil {
		return err
	}
	acts := map[daemon.Outcome]fetch.Action{
		daemon.Bounce:      {Op: fetch.Move, Folder: "Processed"},
		daemon.Other:       {Op: fetch.Move, Folder: "Other"},
		daemon.Unparseable: {Op: fetch.Move, Folder: "Unparseable"},
	}
	d := daemon.New(daemon.Config{
		Mailboxes: []daemon.Mailbox{{Name: "INBOX", Account: fetch.Account{Name: "demo", Address: srv.Addr,
			Security: "plain", AllowPlaintext: true, Username: srv.User, Password: srv.Password, Timeout: 30 * time.Second}}},
		Actions: acts, Drain: true, BatchSize: 50,
	}, st, cfg.parser(), cl, log)
	start := time.Now()
	if err := d.Run(ctx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	took := time.Since(start)
	if err := demoReport(ctx, stdout, d, st, srv, len(msgs), took, dbURL); err != nil || *serve == "" {
		return err
	}
	return demoServe(ctx, stdout, st, *serve, log)
}

// demoServe serves the dashboard and the API over st on addr, with a
// token made for the run, until ctx ends.
func demoServe(ctx context.Context, stdout io.Writer, st *store.Store, addr string, log *slog.Logger) error {
	secret := make([]byte, 18)
	rand.Read(secret) // never fails (crypto/rand)
	tok := web.Token{Name: "demo", Role: web.Admin, Secret: base64.RawURLEncoding.EncodeToString(secret)}
	h, err := httpHandler(st, web.Config{Tokens: []web.Token{tok}}, false, nil, log)
	if err != nil {
		return err
	}
	var hc HTTPConfig
	stop, err := serveHTTP(addr, hc, h, log)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(stdout, "\nthe dashboard: http://%s/ (log in with the token %s)\n", addr, tok.Secret)
	fmt.Fprintf(stdout, "the API:       curl -H 'Authorization: Bearer %s' http://%s/api/v1/stats\n", tok.Secret, addr)
	fmt.Fprintln(stdout, "serving until interrupted (Ctrl-C)")
	<-ctx.Done()
	return nil
}

// readNotices reads every file of dir.
func readNotices(dir string) ([][]byte, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the sample notices: %w (run the demo from the repository's top folder, or give --notices DIR)", err)
	}
	var msgs [][]byte
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading a sample notice: %w", err)
		}
		// A notice saved from an mbox starts with its "From " line, which
		// is not part of the message a mailbox holds.
		if rest, ok := bytes.CutPrefix(b, []byte("From ")); ok {
			if _, after, found := bytes.Cut(rest, []byte("\n")); found {
				b = after
			}
		}
		msgs = append(msgs, b)
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("no sample notices in %s", dir)
	}
	return msgs, nil
}

// demoDatabase finds the demo's database and empties its schema
// bounced_demo. It returns the URL to use, a description, and what to do
// at the end.
func demoDatabase(ctx context.Context, given string, keep bool, stdout io.Writer) (dbURL, where string, stop func(), err error) {
	stop = func() {}
	if given == "" {
		given = os.Getenv("BOUNCED_DATABASE_URL")
	}
	if given == "" {
		given = os.Getenv("DATABASE_URL")
	}
	switch {
	case given != "":
		where = "the database you named, schema bounced_demo"
	case pgserver.Reachable(ctx, demoLocalURL):
		if err := createDatabase(ctx, demoLocalURL, "bounced_demo"); err != nil {
			return "", "", stop, err
		}
		given = strings.Replace(demoLocalURL, "/postgres?", "/bounced_demo?", 1)
		where = "database bounced_demo on 127.0.0.1:5432, schema bounced_demo"
	default:
		fmt.Fprintf(stdout, "no PostgreSQL at 127.0.0.1:5432 and no DATABASE_URL: starting a throwaway cluster in .demo/postgres\n")
		srv, err := pgserver.Start(ctx, filepath.Join(".demo", "postgres"))
		if err != nil && !errors.Is(err, pgserver.ErrNoBinaries) && os.Geteuid() == 0 {
			// As root the cluster runs as user postgres, who may not reach
			// the project's folder (under /root, say).
			dir := filepath.Join(os.TempDir(), "bounced-demo-postgres")
			fmt.Fprintf(stdout, "could not start it there (%v); trying %s\n", firstLine(err), dir)
			srv, err = pgserver.Start(ctx, dir)
		}
		if errors.Is(err, pgserver.ErrNoBinaries) {
			return "", "", stop, fmt.Errorf("the demo needs PostgreSQL: set DATABASE_URL, run a server on 127.0.0.1:5432, or install the server binaries (Debian: apt-get install postgresql) so that the demo can start one: %w", err)
		}
		if err != nil {
			return "", "", stop, fmt.Errorf("starting a throwaway PostgreSQL: %w", err)
		}
		given = srv.URL
		where = fmt.Sprintf("throwaway cluster in %s on port %d, schema bounced_demo", srv.Dir, srv.Port)
		stop = func() {
			if keep {
				fmt.Fprintf(stdout, "the throwaway cluster is still running (--keep); stop it with: pg_ctl -D %s stop\n", filepath.Join(srv.Dir, "data"))
				return
			}
			srv.Stop()
		}
	}
	if err := resetSchema(ctx, given); err != nil {
		stop()
		return "", "", func() {}, err
	}
	u, err := withSearchPath(given, "bounced_demo")
	if err != nil {
		stop()
		return "", "", func() {}, err
	}
	return u, where, stop, nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

func createDatabase(ctx context.Context, u, name string) error {
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		return fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		return fmt.Errorf("looking for database %s: %w", name, err)
	}
	if n == 0 {
		if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return fmt.Errorf("creating database %s: %w", name, err)
		}
	}
	return nil
}

// resetSchema drops and makes again schema bounced_demo: the demo's own,
// and nothing else.
func resetSchema(ctx context.Context, u string) error {
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		return fmt.Errorf("connecting to the demo's database: %w", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS bounced_demo CASCADE; CREATE SCHEMA bounced_demo"); err != nil {
		return fmt.Errorf("making schema bounced_demo: %w", err)
	}
	return nil
}

// withSearchPath sets the URL's search_path, in its options.
func withSearchPath(u, schema string) (string, error) {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "postgres" && p.Scheme != "postgresql") {
		return "", fmt.Errorf("the demo needs a postgres:// URL, not %q", u)
	}
	q := p.Query()
	q.Del("search_path")
	q.Set("options", "-csearch_path="+schema) // understood by psql as well as pgx
	p.RawQuery = q.Encode()
	return p.String(), nil
}

// demoReport prints what the demo found.
func demoReport(ctx context.Context, w io.Writer, d *daemon.Daemon, st *store.Store, srv *memimap.Server, n int, took time.Duration, dbURL string) error {
	fams, err := d.Registry().Gather()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nread %d messages in %s\n", n, took.Round(time.Millisecond))
	printCounts(w, "messages by kind", fams, "bounced_messages_parsed_total", "kind")
	printCounts(w, "failed recipients by cause", fams, "bounced_recipients_total", "cause")
	fmt.Fprintf(w, "\nthe mailbox now:")
	for _, mb := range []string{"INBOX", "Processed", "Other", "Unparseable"} {
		c, err := srv.Count(mb)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, " %s %d", mb, c)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "\naddresses to stop mailing (suppressions):\n")
	var k int
	err = st.Suppressions(ctx, store.SuppressionFilter{}, func(s store.Suppression) error {
		k++
		if k <= demoShown {
			fmt.Fprintf(w, "  %-36s %-16s %d bounce(s)\n", s.Address, s.Reason, s.Count)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if k > demoShown {
		fmt.Fprintf(w, "  ... and %d more\n", k-demoShown)
	}
	fmt.Fprintf(w, "  (%d addresses in all)\n", k)
	psql := dbURL
	fmt.Fprintf(w, "\nquery it:\n  psql '%s' -c 'SELECT cause, count(*) FROM bounce GROUP BY 1 ORDER BY 2 DESC'\n", psql)
	fmt.Fprintf(w, "  bounced suppressions --db '%s'\n  bounced stats --by cause --since 3650d --db '%s'\n", psql, psql)
	fmt.Fprintf(w, "or see it in a browser: go run ./cmd/bounced demo --serve 127.0.0.1:9108\n")
	return nil
}

// demoShown is how many suppressions the demo prints.
const demoShown = 12

// printCounts prints a counter's values by label, largest first.
func printCounts(w io.Writer, title string, fams []*dto.MetricFamily, name, label string) {
	type kv struct {
		k string
		v float64
	}
	var out []kv
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && m.GetCounter().GetValue() > 0 {
					out = append(out, kv{l.GetValue(), m.GetCounter().GetValue()})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].v > out[j].v || out[i].v == out[j].v && out[i].k < out[j].k })
	fmt.Fprintf(w, "\n%s:\n", title)
	for _, e := range out {
		fmt.Fprintf(w, "  %-18s %5.0f\n", e.k, e.v)
	}
}
