// Command drainbench measures `bounced run` against a real Dovecot
// (issue 4's figures): it fills a mailbox with bounces, times a bare
// `UID FETCH 1:* BODY.PEEK[]` of it, then times `bounced run --drain`
// storing every message and moving it to Processed, sampling the process's
// resident memory; then it measures the time from a message's delivery to
// its row's commit while bounced waits with IDLE, and the memory used on
// large messages. Nothing here asserts on time: it prints figures.
//
//	go run ./scripts/drainbench [-messages 20000] [-db URL] [-idle 20] [-large 40]
//
// The database is the one -db, BOUNCED_BENCH_DATABASE_URL or the local
// 127.0.0.1:5432 names (database test); the figures go to a schema of
// their own, dropped at the end. Dovecot must be installed
// (apt-get install dovecot-imapd); only loopback addresses are used.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/jackc/pgx/v5"

	"github.com/bounced/bounced/internal/dovecot"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "drainbench: %v\n", err)
		os.Exit(1)
	}
}

type bench struct {
	bin    string
	dc     *dovecot.Server
	db     *pgx.Conn
	url    string // the schema's URL
	tmp    string
	keep   bool
	log    string
	action string
	// largeExtra is configuration for the large-message run.
	largeExtra string
}

func run() error {
	messages := flag.Int("messages", 20000, "bounces in the mailbox to drain")
	dbURL := flag.String("db", "", "PostgreSQL `URL` (loopback); default $BOUNCED_BENCH_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test")
	idleN := flag.Int("idle", 20, "messages delivered one at a time to time the IDLE path")
	largeN := flag.Int("large", 40, "large messages (2 to 30 MB) for the memory figure; 0 skips it")
	keepRaw := flag.Bool("keep-raw", true, "store.keep_raw for the run")
	action := flag.String("action", "move:Processed", "the action of every outcome (the issue's figure moves to Processed)")
	batch := flag.Int("batch", 0, "imap.batch_size for the run; 0 keeps the default")
	logLevel := flag.String("log", "warn", "bounced's log level; its log is printed after the drain unless warn")
	largeCfg := flag.String("large-config", "", "extra configuration `TOML` for the large-message run, e.g. '[imap]\\nbatch_bytes = 8388608'")
	flag.Parse()
	ctx := context.Background()
	b := &bench{keep: *keepRaw, log: *logLevel, action: *action}
	b.largeExtra = strings.ReplaceAll(*largeCfg, `\n`, "\n")
	var err error
	if b.tmp, err = os.MkdirTemp("", "drainbench-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.tmp)
	os.Chmod(b.tmp, 0o755)

	fmt.Printf("building bounced\n")
	b.bin = filepath.Join(b.tmp, "bounced")
	if out, err := exec.Command("go", "build", "-o", b.bin, "./cmd/bounced").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	if b.dc, err = dovecot.Start(filepath.Join(b.tmp, "dovecot"), dovecot.Options{}); err != nil {
		return err
	}
	defer b.dc.Stop()
	if err := b.openDB(ctx, *dbURL); err != nil {
		return err
	}
	defer b.dropSchema()

	msgs, err := notices(*messages)
	if err != nil {
		return err
	}
	var total int64
	for _, m := range msgs {
		total += int64(len(m))
	}
	start := time.Now()
	if err := b.dc.Deliver("bench", "INBOX", msgs...); err != nil {
		return err
	}
	fmt.Printf("delivered %d bounces (%.1f MB, %.1f KB each on average) in %v\n",
		len(msgs), float64(total)/1e6, float64(total)/float64(len(msgs))/1e3, time.Since(start).Round(time.Millisecond))

	// The bare fetch: twice, the better one counts (Dovecot builds its
	// index on the first).
	var bare float64
	for i := range 2 {
		n, took, err := b.bareFetch("bench")
		if err != nil {
			return err
		}
		rate := float64(n) / took.Seconds()
		fmt.Printf("bare UID FETCH 1:* BODY.PEEK[] #%d: %d messages in %v: %.0f messages/s\n", i+1, n, took.Round(time.Millisecond), rate)
		bare = max(bare, rate)
	}

	extra := ""
	if *batch > 0 {
		extra = fmt.Sprintf("[imap]\nbatch_size = %d\n", *batch)
	}
	// The other yardstick: what the server takes to move the same
	// messages, in one UID MOVE, with nothing else running.
	if err := b.dc.Deliver("movebench", "INBOX", msgs...); err != nil {
		return err
	}
	if _, _, err := b.bareFetch("movebench"); err != nil { // the index, as for the bare fetch
		return err
	}
	moveTook, err := b.bareMove("movebench")
	if err != nil {
		return err
	}
	fmt.Printf("bare UID MOVE 1:* Processed: %d messages in %v: %.0f messages/s; bare fetch and move together: %.0f messages/s\n",
		len(msgs), moveTook.Round(time.Millisecond), float64(len(msgs))/moveTook.Seconds(),
		float64(len(msgs))/(moveTook.Seconds()+float64(len(msgs))/bare))

	cfg, err := b.config("bench", extra)
	if err != nil {
		return err
	}
	took, rss, out, err := b.drain(cfg)
	if err != nil {
		return fmt.Errorf("%v\n%s", err, out)
	}
	if b.log != "warn" {
		fmt.Print(out)
	}
	stored, err := b.count(ctx, "SELECT count(*) FROM message")
	if err != nil {
		return err
	}
	processed, _ := b.dc.Count("bench", "Processed")
	inbox, _ := b.dc.Count("bench", "INBOX")
	rate := float64(len(msgs)) / took.Seconds()
	fmt.Printf("bounced run --drain: %d messages in %v: %.0f messages/s (%.0f%% of the bare fetch), peak RSS %.1f MB\n",
		len(msgs), took.Round(time.Millisecond), rate, 100*rate/bare, float64(rss)/(1<<20))
	fmt.Printf("  stored %d messages; Processed holds %d, INBOX %d\n", stored, processed.All, inbox.All)
	if stored != len(msgs) || b.action == "move:Processed" && (processed.All != len(msgs) || inbox.All != 0) {
		return fmt.Errorf("the drain lost or left messages:\n%s", out)
	}

	if *idleN > 0 {
		if err := b.idle(ctx, *idleN); err != nil {
			return err
		}
	}
	if *largeN > 0 {
		if err := b.large(*largeN); err != nil {
			return err
		}
	}
	return nil
}

// openDB connects and makes the bench's schema.
func (b *bench) openDB(ctx context.Context, given string) error {
	if given == "" {
		given = os.Getenv("BOUNCED_BENCH_DATABASE_URL")
	}
	if given == "" {
		given = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	u, err := url.Parse(given)
	if err != nil {
		return fmt.Errorf("database URL: %w", err)
	}
	if host := u.Hostname(); host != "127.0.0.1" && host != "localhost" && host != "::1" {
		return fmt.Errorf("the database must be on a loopback address, not %q", host)
	}
	if b.db, err = pgx.Connect(ctx, given); err != nil {
		return err
	}
	schema := fmt.Sprintf("drainbench_%d", os.Getpid())
	if _, err := b.db.Exec(ctx, "CREATE SCHEMA "+schema+"; SET search_path = "+schema); err != nil {
		return err
	}
	q := u.Query()
	q.Set("options", "-csearch_path="+schema)
	u.RawQuery = q.Encode()
	b.url = u.String()
	return nil
}

func (b *bench) dropSchema() {
	var schema string
	ctx := context.Background()
	if err := b.db.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err == nil && strings.HasPrefix(schema, "drainbench_") {
		b.db.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	}
	b.db.Close(ctx)
}

func (b *bench) count(ctx context.Context, sql string) (int, error) {
	var n int
	err := b.db.QueryRow(ctx, sql).Scan(&n)
	return n, err
}

// notices makes n bounces from the sample notices, each with a Message-ID
// of its own so that no recipient row is a duplicate.
func notices(n int) ([][]byte, error) {
	dir := filepath.Join("internal", "dsn", "testdata", "notices")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("run from the repository's top folder: %w", err)
	}
	var samples [][]byte
	for _, e := range ents {
		m, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		samples = append(samples, m)
	}
	msgID := regexp.MustCompile(`(?im)^message-id:[^\n]*\n`)
	blank := regexp.MustCompile(`\n\r?\n`)
	out := make([][]byte, n)
	for i := range out {
		m := samples[i%len(samples)]
		id := fmt.Sprintf("Message-ID: <drainbench.%d@bench.example>\r\n", i)
		end := len(m)
		if loc := blank.FindIndex(m); loc != nil {
			end = loc[0]
		}
		if loc := msgID.FindIndex(m[:end]); loc != nil {
			out[i] = slices.Concat(m[:loc[0]], []byte(id), m[loc[1]:])
		} else {
			out[i] = slices.Concat([]byte(id), m)
		}
	}
	return out, nil
}

// bareFetch is the yardstick: one UID FETCH 1:* BODY.PEEK[] of the whole
// mailbox, each body read and thrown away.
func (b *bench) bareFetch(user string) (int, time.Duration, error) {
	c, err := imapclient.DialInsecure(b.dc.Addr, nil)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	if err := c.Login(user, b.dc.Password).Wait(); err != nil {
		return 0, 0, err
	}
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	cmd := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	n := 0
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			if body, ok := item.(imapclient.FetchItemDataBodySection); ok {
				io.Copy(io.Discard, body.Literal)
				n++
			}
		}
	}
	if err := cmd.Close(); err != nil {
		return 0, 0, err
	}
	return n, time.Since(start), nil
}

// bareMove moves the whole INBOX of user to Processed in one command.
func (b *bench) bareMove(user string) (time.Duration, error) {
	c, err := imapclient.DialInsecure(b.dc.Addr, nil)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if err := c.Login(user, b.dc.Password).Wait(); err != nil {
		return 0, err
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		return 0, err
	}
	if err := c.Create("Processed", nil).Wait(); err != nil {
		return 0, err
	}
	start := time.Now()
	if _, err := c.Move(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, "Processed").Wait(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// config writes a configuration for user's INBOX.
func (b *bench) config(user, extra string) (string, error) {
	path := filepath.Join(b.tmp, user+".toml")
	text := fmt.Sprintf(`
[[account]]
name = %q
address = %q
security = "plain"
allow_plaintext = true
username = %q
password = %q

[store]
keep_raw = %v

[actions]
bounce = %[7]q
other = %[7]q
not_bounce = %[7]q
unparseable = %[7]q

[log]
level = %[6]q
%[8]s
`, user, b.dc.Addr, user, b.dc.Password, b.keep, b.log, b.action, extra)
	return path, os.WriteFile(path, []byte(text), 0o600)
}

// drain runs bounced run --drain and samples its resident memory.
func (b *bench) drain(config string) (time.Duration, int64, string, error) {
	var out bytes.Buffer
	cmd := exec.Command(b.bin, "run", "--drain", "--config", config, "--db", b.url)
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	busy0, all0 := cpuTicks()
	if err := cmd.Start(); err != nil {
		return 0, 0, "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var peak int64
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			took := time.Since(start)
			busy1, all1 := cpuTicks()
			if all1 > all0 {
				fmt.Printf("  the machine's CPUs were %.0f%% busy meanwhile (bounced, PostgreSQL and Dovecot share them)\n", 100*float64(busy1-busy0)/float64(all1-all0))
			}
			if ps := cmd.ProcessState; ps != nil {
				fmt.Printf("  bounced used %v of CPU (user %v, system %v) in %v\n",
					(ps.UserTime() + ps.SystemTime()).Round(time.Millisecond), ps.UserTime().Round(time.Millisecond),
					ps.SystemTime().Round(time.Millisecond), took.Round(time.Millisecond))
			}
			return took, peak, out.String(), err
		case <-tick.C:
			if kb := statusKB(cmd.Process.Pid, "VmHWM"); kb*1024 > peak {
				peak = kb * 1024
			}
		}
	}
}

// cpuTicks reads the busy and total CPU time of the machine from /proc/stat.
func cpuTicks() (busy, all int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	for i, f := range strings.Fields(line)[1:] {
		n, _ := strconv.ParseInt(f, 10, 64)
		all += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, all
}

// statusKB reads a field of /proc/PID/status in kB.
func statusKB(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// idle times delivery to commit while bounced waits with IDLE.
func (b *bench) idle(ctx context.Context, n int) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	cfg, err := b.config("idle", fmt.Sprintf("[http]\nlisten = %q\nmetrics_public = true\n", addr))
	if err != nil {
		return err
	}
	var out bytes.Buffer
	cmd := exec.Command(b.bin, "run", "--config", cfg, "--db", b.url)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	if err := waitHTTP("http://"+addr+"/metrics", `bounced_last_success_timestamp_seconds{account="idle"`); err != nil {
		return fmt.Errorf("%v\n%s", err, out.String())
	}
	msgs, err := notices(n)
	if err != nil {
		return err
	}
	var lat []time.Duration
	for i, m := range msgs {
		m = slices.Concat([]byte(fmt.Sprintf("X-Idle-Seq: %d\r\n", i)), m)
		time.Sleep(300 * time.Millisecond) // let IDLE settle
		before, err := b.count(ctx, "SELECT count(*) FROM message WHERE account = 'idle'")
		if err != nil {
			return err
		}
		start := time.Now()
		if err := b.dc.Deliver("idle", "INBOX", m); err != nil {
			return err
		}
		for {
			k, err := b.count(ctx, "SELECT count(*) FROM message WHERE account = 'idle'")
			if err != nil {
				return err
			}
			if k > before {
				break
			}
			if time.Since(start) > 30*time.Second {
				return fmt.Errorf("message %d not stored after 30 s\n%s", i, out.String())
			}
			time.Sleep(2 * time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	fmt.Printf("new mail with IDLE, delivery to commit, %d messages: median %v, p90 %v, max %v\n", len(lat),
		lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*9/10].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	return nil
}

func waitHTTP(u, want string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(u)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), want) {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("bounced did not come up")
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// large drains n large bounces (2 to 30 MB: an attachment returned with
// the notice), some over the 16 MiB size cap, and reports the peak RSS.
func (b *bench) large(n int) error {
	var msgs [][]byte
	var total int64
	for i := range n {
		size := (2 + (i*7)%29) << 20
		var m bytes.Buffer
		fmt.Fprintf(&m, "Message-ID: <large.%d@bench.example>\r\nFrom: MAILER-DAEMON@bench.example\r\nTo: bounces@bench.example\r\n"+
			"Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"+
			"--b\r\nContent-Type: text/plain\r\n\r\nThis is the mail system.\r\n<user%d@example.net>: host mx.example.net said: 550 5.1.1 User unknown\r\n"+
			"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n", i, i)
		line := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 3)[:76] + "\r\n"
		for m.Len() < size {
			m.WriteString(line)
		}
		m.WriteString("--b--\r\n")
		msgs = append(msgs, m.Bytes())
		total += int64(m.Len())
	}
	if err := b.dc.Deliver("large", "INBOX", msgs...); err != nil {
		return err
	}
	cfg, err := b.config("large", b.largeExtra)
	if err != nil {
		return err
	}
	took, rss, out, err := b.drain(cfg)
	if err != nil {
		return fmt.Errorf("%v\n%s", err, out)
	}
	fmt.Printf("bounced run --drain of %d large messages (%.0f MB, 2 to 30 MB each, %d over the 16 MiB cap): %v, peak RSS %.1f MB\n",
		n, float64(total)/1e6, countOver(msgs, 16<<20), took.Round(time.Millisecond), float64(rss)/(1<<20))
	return nil
}

func countOver(msgs [][]byte, limit int) int {
	n := 0
	for _, m := range msgs {
		if len(m) > limit {
			n++
		}
	}
	return n
}
