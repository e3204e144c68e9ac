package daemon

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/jackc/pgx/v5/pgxpool"
	dto "github.com/prometheus/client_model/go"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
	"github.com/bounced/bounced/internal/fetch"
	"github.com/bounced/bounced/internal/memimap"
	"github.com/bounced/bounced/internal/pgserver"
	"github.com/bounced/bounced/internal/pgtest"
	"github.com/bounced/bounced/internal/store"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// env is a database schema, a store on it and an in-memory IMAP server.
type env struct {
	t   *testing.T
	url string
	st  *store.Store
	db  *pgxpool.Pool
	srv *memimap.Server
	cl  *classify.Classifier
}

func newEnv(t *testing.T, opt memimap.Options) *env {
	t.Helper()
	return newEnvAt(t, pgtest.URL(t), opt)
}

// newEnvAt is newEnv on the database at url.
func newEnvAt(t *testing.T, url string, opt memimap.Options) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, url: url}
	var err error
	if e.st, err = store.Open(ctx, e.url, store.Options{KeepRaw: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.st.Close)
	if _, err := e.st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if e.db, err = pgxpool.New(ctx, e.url); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.db.Close)
	if e.srv, err = memimap.Start(opt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.srv.Close() })
	if e.cl, err = classify.New(nil); err != nil {
		t.Fatal(err)
	}
	return e
}

// account is the test server's account.
func (e *env) account() fetch.Account {
	return fetch.Account{Name: "acct", Address: e.srv.Addr, Security: "plain", AllowPlaintext: true,
		Username: e.srv.User, Password: e.srv.Password, Timeout: 10 * time.Second}
}

// daemon makes a daemon on the env's INBOX with cfg's other settings.
func (e *env) daemon(cfg Config) *Daemon {
	if cfg.Mailboxes == nil {
		cfg.Mailboxes = []Mailbox{{Account: e.account(), Name: "INBOX"}}
	}
	if cfg.ReconnectMin == 0 {
		cfg.ReconnectMin, cfg.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
	}
	if cfg.LockRetry == 0 {
		cfg.LockRetry = 100 * time.Millisecond
	}
	log := slog.New(slog.NewTextHandler(testWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return New(cfg, e.st, &dsn.Parser{}, e.cl, log)
}

// count runs a counting query.
func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// mailboxCount is the number of messages in a mailbox of the server.
func (e *env) mailboxCount(name string) int {
	e.t.Helper()
	n, err := e.srv.Count(name)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// testWriter sends the daemon's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// notices reads the project's sample notices. The one that starts with an
// mbox "From " line is left out: go-imap's in-memory server keeps only
// what go-message can parse of a message, and gives it back empty (the
// Dovecot tests read it).
func notices(t *testing.T) [][]byte {
	t.Helper()
	dir := filepath.Join("..", "dsn", "testdata", "notices")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, ent := range ents {
		b, err := os.ReadFile(filepath.Join(dir, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("From ")) {
			out = append(out, b)
		}
	}
	return out
}

// expectedOutcomes counts the outcomes the notices should have, from the
// parser and classifier themselves.
func expectedOutcomes(t *testing.T, cl *classify.Classifier, msgs [][]byte) map[Outcome]int {
	out := make(map[Outcome]int)
	for _, m := range msgs {
		rep, err := (&dsn.Parser{}).ParseBytes(m)
		kind, res := cl.Message(rep)
		out[outcome(kind, errText(err), len(res))]++
	}
	return out
}

var moveAll = map[Outcome]fetch.Action{
	Bounce:      {Op: fetch.Move, Folder: "Processed"},
	Other:       {Op: fetch.Move, Folder: "Other"},
	NotBounce:   {Op: fetch.Move, Folder: "Junk"},
	Unparseable: {Op: fetch.Move, Folder: "Bad"},
}

func TestDrain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, memimap.Options{})
	msgs := notices(t)
	if err := e.srv.Append("INBOX", msgs...); err != nil {
		t.Fatal(err)
	}
	want := expectedOutcomes(t, e.cl, msgs)
	d := e.daemon(Config{Actions: moveAll, Drain: true, BatchSize: 16})
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM message WHERE account = 'acct' AND mailbox = 'INBOX'`); n != len(msgs) {
		t.Errorf("%d messages stored, want %d", n, len(msgs))
	}
	if n := e.count(`SELECT count(DISTINCT uid) FROM message`); n != len(msgs) {
		t.Errorf("%d distinct UIDs stored, want %d", n, len(msgs))
	}
	if n := e.count(`SELECT count(*) FROM message_raw`); n != len(msgs) {
		t.Errorf("%d raw messages kept, want %d", n, len(msgs))
	}
	cp, err := e.st.Checkpoint(context.Background(), "acct", "INBOX")
	if err != nil || cp.LastUID != uint32(len(msgs)) || cp.ActedUID != cp.LastUID || cp.UIDValidity == 0 {
		t.Errorf("checkpoint %+v, %v; want last and acted UID %d", cp, err, len(msgs))
	}
	if n := e.mailboxCount("INBOX"); n != 0 {
		t.Errorf("%d messages left in INBOX, want 0", n)
	}
	for o, folder := range map[Outcome]string{Bounce: "Processed", Other: "Other", NotBounce: "Junk", Unparseable: "Bad"} {
		if n := e.mailboxCount(folder); n != want[o] {
			t.Errorf("%s: %d messages, want %d (%s)", folder, n, want[o], o)
		}
	}
	if want[Bounce] == 0 || want[Other] == 0 || want[NotBounce] == 0 {
		t.Errorf("the sample notices lack an outcome: %v", want)
	}
	fams := gather(t, d)
	if got := sum(fams, "bounced_messages_fetched_total"); got != float64(len(msgs)) {
		t.Errorf("fetched metric %v, want %d", got, len(msgs))
	}
	if got := sum(fams, "bounced_messages_parsed_total"); got != float64(len(msgs)) {
		t.Errorf("parsed metric %v, want %d", got, len(msgs))
	}
	rows := e.count(`SELECT count(*) FROM bounce`)
	if got := sum(fams, "bounced_saved_total", "what", "recipients"); got != float64(rows) || rows == 0 {
		t.Errorf("saved recipients metric %v, want the %d rows", got, rows)
	}
	if got := sum(fams, "bounced_mailbox_actions_total", "action", "move"); got != float64(len(msgs)) {
		t.Errorf("move actions metric %v, want %d", got, len(msgs))
	}
	if got := sum(fams, "bounced_last_success_timestamp_seconds"); got < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last success %v, want about now", got)
	}

	// A second run finds nothing new and stores nothing twice.
	if err := e.srv.Append("INBOX", msgs[0]); err != nil {
		t.Fatal(err)
	}
	d = e.daemon(Config{Actions: moveAll, Drain: true})
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM message`); n != len(msgs)+1 {
		t.Errorf("%d messages after a second run with one new, want %d", n, len(msgs)+1)
	}
	if n := e.count(`SELECT count(*) FROM bounce`); n != rows {
		t.Errorf("the same notice again added rows: %d, want %d", n, rows)
	}
}

// gather reads a daemon's metrics.
func gather(t *testing.T, d *Daemon) []*dto.MetricFamily {
	t.Helper()
	fams, err := d.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// sum adds the values of a metric, of the series with label = value when
// given.
func sum(fams []*dto.MetricFamily, name string, labelValue ...string) float64 {
	var total float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			if len(labelValue) == 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || l.GetName() == labelValue[0] && l.GetValue() == labelValue[1]
				}
				if !found {
					continue metrics
				}
			}
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return total
}

// TestWithoutMove runs against a server without MOVE, UIDPLUS and IDLE:
// moves are copies checked before the originals are flagged \Deleted, and
// nothing is expunged; new mail is found by polling.
func TestWithoutMove(t *testing.T) {
	t.Parallel()
	e := newEnv(t, memimap.Options{Basic: true})
	msgs := notices(t)[:20]
	if err := e.srv.Append("INBOX", msgs...); err != nil {
		t.Fatal(err)
	}
	want := expectedOutcomes(t, e.cl, msgs)
	d := e.daemon(Config{Actions: map[Outcome]fetch.Action{Bounce: {Op: fetch.Move, Folder: "Processed"}}, Poll: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	waitFor(t, "the first messages", func() bool { return e.count(`SELECT count(*) FROM message`) == len(msgs) })
	// New mail is found by polling.
	if err := e.srv.Append("INBOX", msgs[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the polled message", func() bool { return e.count(`SELECT count(*) FROM message`) == len(msgs)+1 })
	waitFor(t, "the actions", func() bool {
		cp, _ := e.st.Checkpoint(context.Background(), "acct", "INBOX")
		return cp.ActedUID == uint32(len(msgs)+1)
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	bounces := want[Bounce] + 1 // msgs[0] again
	if msgs0 := expectedOutcomes(t, e.cl, msgs[:1]); msgs0[Bounce] == 0 {
		bounces--
	}
	if n := e.mailboxCount("Processed"); n != bounces {
		t.Errorf("Processed holds %d, want %d", n, bounces)
	}
	if n := e.mailboxCount("INBOX"); n != len(msgs)+1 {
		t.Errorf("INBOX holds %d, want all %d (no EXPUNGE without UIDPLUS)", n, len(msgs)+1)
	}
	if n := searchDeleted(t, e.srv, "INBOX"); n != bounces {
		t.Errorf("%d messages of INBOX flagged \\Deleted, want the %d copied", n, bounces)
	}
}

// searchDeleted counts the messages of mailbox flagged \Deleted.
func searchDeleted(t *testing.T, srv *memimap.Server, mailbox string) int {
	t.Helper()
	c, err := imapclient.DialInsecure(srv.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(srv.User, srv.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select(mailbox, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return len(data.AllUIDs())
}

// waitFor polls cond for up to 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIdle: a message that arrives while the daemon waits with IDLE is
// stored. The in-memory server drops the news of a message appended
// between a command and the IDLE after it (its IDLE waits for the next
// change), so the poll safety net is short here; TestDovecotIdleBatches
// checks IDLE alone against Dovecot.
func TestIdle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, memimap.Options{})
	msgs := notices(t)
	d := e.daemon(Config{Actions: moveAll, Poll: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	waitFor(t, "the daemon to wait", func() bool {
		s := d.States()[0]
		return s.Active && !s.LastSuccess.IsZero()
	})
	for i := range 3 {
		if err := e.srv.Append("INBOX", msgs[i]); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the new message", func() bool { return e.count(`SELECT count(*) FROM message`) == i+1 })
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := gatherHistogramCount(t, d, "bounced_new_mail_delay_seconds"); got == 0 || got > 3 {
		t.Errorf("new-mail delay observed %d times, want 1 to 3", got)
	}
}

func gatherHistogramCount(t *testing.T, d *Daemon, name string) uint64 {
	for _, f := range gather(t, d) {
		if f.GetName() == name {
			return f.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// TestCatchUp: a run that stopped after a commit and before the actions
// leaves them to the next run, which does them without storing anything
// again.
func TestCatchUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, memimap.Options{})
	msgs := notices(t)[:30]
	if err := e.srv.Append("INBOX", msgs...); err != nil {
		t.Fatal(err)
	}
	// The first run stores with no actions, as if killed before them: its
	// checkpoint is set back to "nothing acted".
	d := e.daemon(Config{Drain: true})
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(context.Background(), `UPDATE checkpoint SET acted_uid = 10`); err != nil {
		t.Fatal(err)
	}
	d = e.daemon(Config{Actions: moveAll, Drain: true})
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := e.mailboxCount("INBOX"); n != 10 {
		t.Errorf("INBOX holds %d, want the 10 acted on by the first run (action none)", n)
	}
	moved := e.mailboxCount("Processed") + e.mailboxCount("Other") + e.mailboxCount("Junk") + e.mailboxCount("Bad")
	if moved != 20 {
		t.Errorf("%d moved, want the 20 left undone", moved)
	}
	if n := e.count(`SELECT count(*) FROM message`); n != 30 {
		t.Errorf("%d messages stored, want 30", n)
	}
	if got := sum(gather(t, d), "bounced_messages_fetched_total"); got != 0 {
		t.Errorf("the catching up fetched %v messages, want none", got)
	}
}

// TestTwoInstances: two daemons on one mailbox store each message once.
func TestTwoInstances(t *testing.T) {
	t.Parallel()
	e := newEnv(t, memimap.Options{})
	msgs := notices(t)
	if err := e.srv.Append("INBOX", msgs...); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	ds := []*Daemon{e.daemon(Config{Actions: moveAll, Drain: true, BatchSize: 5}), e.daemon(Config{Actions: moveAll, Drain: true, BatchSize: 5})}
	for _, d := range ds {
		wg.Go(func() {
			if err := d.Run(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := e.count(`SELECT count(*) FROM message`); n != len(msgs) {
		t.Errorf("%d messages stored by two instances, want %d", n, len(msgs))
	}
	fetched := sum(gather(t, ds[0]), "bounced_messages_fetched_total") + sum(gather(t, ds[1]), "bounced_messages_fetched_total")
	if fetched != float64(len(msgs)) {
		t.Errorf("the two instances fetched %v messages, want each of the %d once", fetched, len(msgs))
	}
	if n := e.mailboxCount("INBOX"); n != 0 {
		t.Errorf("%d left in INBOX", n)
	}
}

// TestStop: cancelling mid-drain finishes the batch in flight and its
// actions; a later run does the rest, and every message is stored once.
func TestStop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, memimap.Options{})
	msgs := notices(t)
	if err := e.srv.Append("INBOX", msgs...); err != nil {
		t.Fatal(err)
	}
	d := e.daemon(Config{Actions: moveAll, BatchSize: 4})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	waitFor(t, "a first batch", func() bool { return e.count(`SELECT count(*) FROM message`) > 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	stored := e.count(`SELECT count(*) FROM message`)
	cp, _ := e.st.Checkpoint(context.Background(), "acct", "INBOX")
	if cp.ActedUID != cp.LastUID || int(cp.LastUID) != stored {
		t.Errorf("after stop: checkpoint %+v with %d stored; want every stored message acted on", cp, stored)
	}
	if left := e.mailboxCount("INBOX"); left+stored != len(msgs) {
		t.Errorf("after stop: %d in INBOX and %d stored, want %d in all", left, stored, len(msgs))
	}
	if stored == len(msgs) {
		t.Logf("the whole mailbox was drained before the stop")
	}
	if err := e.daemon(Config{Actions: moveAll, Drain: true}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM message`); n != len(msgs) {
		t.Errorf("%d stored in all, want %d", n, len(msgs))
	}
}

// TestOversized: a message over the size cap is stored as unparseable with
// its start, and gets the unparseable action.
func TestOversized(t *testing.T) {
	t.Parallel()
	e := newEnv(t, memimap.Options{})
	big := []byte("From: MAILER-DAEMON@example.org\r\nSubject: Undelivered Mail\r\n\r\n" + strings.Repeat("x", 200<<10) + "\r\n")
	if err := e.srv.Append("INBOX", big); err != nil {
		t.Fatal(err)
	}
	d := e.daemon(Config{Actions: moveAll, Drain: true, MaxMessageBytes: 64 << 10})
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var perr string
	var size int
	if err := e.db.QueryRow(context.Background(), `SELECT parse_error, size FROM message`).Scan(&perr, &size); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(perr, oversizedPrefix) || size != 64<<10 {
		t.Errorf("oversized message stored with error %q and size %d, want %q... and %d", perr, size, oversizedPrefix, 64<<10)
	}
	if n := e.mailboxCount("Bad"); n != 1 {
		t.Errorf("Bad holds %d, want the oversized message", n)
	}
}

// TestIMAPCut: the connection is cut while a batch is fetched; the daemon
// reconnects and stores every message once.
func TestIMAPCut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, memimap.Options{})
	msgs := notices(t)
	if err := e.srv.Append("INBOX", msgs...); err != nil {
		t.Fatal(err)
	}
	p := newCutter(t, e.srv.Addr, 40<<10) // cut each connection after 40 KB
	acct := e.account()
	acct.Address = p.addr
	d := e.daemon(Config{Mailboxes: []Mailbox{{Account: acct, Name: "INBOX"}}, Actions: moveAll, Drain: true, BatchSize: 10})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if p.cuts() == 0 {
		t.Fatal("no connection was cut")
	}
	if n := e.count(`SELECT count(*) FROM message`); n != len(msgs) {
		t.Errorf("%d stored, want %d", n, len(msgs))
	}
	if n := e.mailboxCount("INBOX"); n != 0 {
		t.Errorf("%d left in INBOX", n)
	}
	if got := sum(gather(t, d), "bounced_errors_total"); got == 0 {
		t.Errorf("no error counted after %d cuts", p.cuts())
	}
	t.Logf("%d connections cut", p.cuts())
}

// cutter is a TCP proxy that cuts each connection after it has passed
// limit bytes from the server, the first few times.
type cutter struct {
	addr  string
	mu    sync.Mutex
	n     int
	limit int64
}

func newCutter(t *testing.T, target string, limit int64) *cutter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c := &cutter{addr: ln.Addr().String(), limit: limit}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go c.serve(conn, target)
		}
	}()
	return c
}

func (c *cutter) cuts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *cutter) serve(conn net.Conn, target string) {
	defer conn.Close()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	go io.Copy(up, conn)
	c.mu.Lock()
	cut := c.n < 3
	c.mu.Unlock()
	if !cut {
		io.Copy(conn, up)
		return
	}
	if n, _ := io.CopyN(conn, up, c.limit); n == c.limit {
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
	}
}

// TestDatabaseDown: PostgreSQL stops mid-run; mail stays in the mailbox
// until it is back, then everything is stored once.
func TestDatabaseDown(t *testing.T) {
	t.Parallel()
	if _, err := pgserver.BinDir(); err != nil {
		t.Skipf("this test stops a PostgreSQL of its own: %v", err)
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bounced-pgdown-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755) // the cluster's owner (postgres, when root) must reach it
	pg, err := pgserver.Start(ctx, filepath.Join(dir, "pg"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Stop() })
	e := newEnvAt(t, pg.URL, memimap.Options{})
	msgs := notices(t)
	if err := e.srv.Append("INBOX", msgs[:20]...); err != nil {
		t.Fatal(err)
	}
	d := e.daemon(Config{Actions: moveAll, Poll: 100 * time.Millisecond})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- d.Run(runCtx) }()
	waitFor(t, "the first messages", func() bool { return e.count(`SELECT count(*) FROM message`) == 20 })
	waitFor(t, "their actions", func() bool { return e.mailboxCount("INBOX") == 0 })

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Append("INBOX", msgs[20:30]...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an error to be counted", func() bool { return sum(gather(t, d), "bounced_errors_total") > 0 })
	time.Sleep(500 * time.Millisecond)
	if n := e.mailboxCount("INBOX"); n != 10 {
		t.Errorf("with the database down, INBOX holds %d, want the 10 new messages", n)
	}
	if err := pg.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the messages after the restart", func() bool {
		var n int
		e.db.QueryRow(ctx, `SELECT count(*) FROM message`).Scan(&n)
		return n == 30
	})
	waitFor(t, "their actions", func() bool { return e.mailboxCount("INBOX") == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(DISTINCT uid) FROM message`); n != 30 {
		t.Errorf("%d distinct UIDs, want 30", n)
	}
}

// TestMailboxes: one daemon reads two mailboxes of an account, each with
// its own checkpoint.
func TestMailboxes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, memimap.Options{})
	msgs := notices(t)
	if err := e.srv.Append("INBOX", msgs[:30]...); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Append("Junk", msgs[30:50]...); err != nil {
		t.Fatal(err)
	}
	d := e.daemon(Config{Mailboxes: []Mailbox{{Account: e.account(), Name: "INBOX"}, {Account: e.account(), Name: "Junk"}},
		Actions: map[Outcome]fetch.Action{Bounce: {Op: fetch.Seen}}, Drain: true})
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for mb, n := range map[string]int{"INBOX": 30, "Junk": 20} {
		if got := e.count(`SELECT count(*) FROM message WHERE mailbox = $1`, mb); got != n {
			t.Errorf("%s: %d stored, want %d", mb, got, n)
		}
		cp, err := e.st.Checkpoint(context.Background(), "acct", mb)
		if err != nil || cp.LastUID != uint32(n) || cp.ActedUID != uint32(n) {
			t.Errorf("%s: checkpoint %+v, %v", mb, cp, err)
		}
	}
	if states := d.States(); len(states) != 2 || states[0].Processed != 30 || states[1].Processed != 20 {
		t.Errorf("states %+v", states)
	}
	// What the dashboard reads: each mailbox's last report, written as
	// the daemon stopped, with its checkpoint.
	sts, err := e.st.MailboxStatuses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 2 {
		t.Fatalf("mailbox status: %+v", sts)
	}
	for i, want := range []struct {
		mailbox string
		n       int64
	}{{"INBOX", 30}, {"Junk", 20}} {
		st := sts[i]
		if st.Account != "acct" || st.Mailbox != want.mailbox || st.Processed != want.n || st.LastUID != want.n ||
			st.Active || st.Lag != 0 || st.Error != "" || st.LastPoll.IsZero() || st.LastSuccess.Before(st.LastPoll) ||
			!strings.Contains(st.Instance, ":") {
			t.Errorf("mailbox status %d: %+v", i, st)
		}
	}
}

// TestLockLost: when the connection holding the mailbox lock dies, the
// worker stops working the mailbox, takes the lock again and goes on.
func TestLockLost(t *testing.T) {
	t.Parallel()
	e := newEnv(t, memimap.Options{})
	msgs := notices(t)
	if err := e.srv.Append("INBOX", msgs[:10]...); err != nil {
		t.Fatal(err)
	}
	d := e.daemon(Config{Actions: moveAll, Poll: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	waitFor(t, "the first messages", func() bool { return e.count(`SELECT count(*) FROM message`) == 10 })
	// Kill the lock's session: the one of this schema's database user
	// holding an advisory lock, other than ours.
	var killed int
	err := e.db.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l
		JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND a.pid <> pg_backend_pid()
		AND l.objid = ((hashtextextended('bounced.mailbox:' || current_schema() || ':' || $1, 0)) & 4294967295)::text::oid`,
		"4:acct/INBOX").Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("killed %d lock sessions, %v; want 1", killed, err)
	}
	waitFor(t, "the lock to be reported lost", func() bool {
		return strings.Contains(d.States()[0].Err, "lock") || sum(gather(t, d), "bounced_errors_total") > 0
	})
	if err := e.srv.Append("INBOX", msgs[10:20]...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the messages after the lock came back", func() bool { return e.count(`SELECT count(*) FROM message`) == 20 })
	waitFor(t, "the daemon to hold the lock again", func() bool { return d.States()[0].Active })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
