package dovecot

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// message is a small bounce-like message with CRLF line endings, as on
// the wire; n makes it unique.
func message(n int, body string) []byte {
	return fmt.Appendf(nil, "From: MAILER-DAEMON@example.net\r\n"+
		"To: bounces@example.org\r\n"+
		"Subject: Undelivered Mail Returned to Sender %d\r\n"+
		"Message-ID: <%d@example.net>\r\n"+
		"MIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n"+
		"\r\n"+
		"%s\r\n", n, n, body)
}

// dial logs user in. Every command gets 30 seconds: go-imap has no
// timeouts of its own.
func dial(t testing.TB, s *Server, user string, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := imapclient.New(conn, opts)
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, s.Password).Wait(); err != nil {
		t.Fatalf("login as %s: %v\n%s", user, err, s.Log())
	}
	return c
}

// fetchAll returns the bodies of all messages of the selected mailbox, in
// UID order, and their UIDs.
func fetchAll(t testing.TB, c *imapclient.Client) ([][]byte, []imap.UID) {
	t.Helper()
	section := &imap.FetchItemBodySection{Peek: true}
	bufs, err := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{section},
	}).Collect()
	if err != nil {
		t.Fatalf("UID FETCH 1:* BODY.PEEK[]: %v", err)
	}
	slices.SortFunc(bufs, func(a, b *imapclient.FetchMessageBuffer) int { return int(a.UID) - int(b.UID) })
	var bodies [][]byte
	var uids []imap.UID
	for _, b := range bufs {
		bodies = append(bodies, b.FindBodySection(section))
		uids = append(uids, b.UID)
	}
	return bodies, uids
}

func sameBodies(t testing.TB, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d messages, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("message %d:\n got %q\nwant %q", i+1, got[i], want[i])
		}
	}
}

func TestDeliverAndFetch(t *testing.T) {
	t.Parallel()
	s := ForTest(t, Options{})
	if host, _, _ := net.SplitHostPort(s.Addr); host != "127.0.0.1" {
		t.Errorf("Addr %q, want 127.0.0.1:PORT", s.Addr)
	}
	if s.Password != "secret" {
		t.Errorf("Password %q, want the default secret", s.Password)
	}
	msgs := [][]byte{
		message(1, "The mail system: <alice@example.com>: host mx.example.com said: 550 5.1.1 user unknown"),
		message(2, "Zustellung fehlgeschlagen: Postfach voll. Größe überschritten."),
		message(3, strings.Repeat("a long line of a returned message body ", 200)),
	}
	if err := s.Deliver("bob", "INBOX", msgs...); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Count("bob", "INBOX"); err != nil || c != (Counts{All: 3}) {
		t.Errorf("Count before login: %+v, %v", c, err)
	}

	c := dial(t, s, "bob", nil)
	for _, cap := range []imap.Cap{imap.CapIdle, imap.CapMove, imap.CapUIDPlus} {
		if !c.Caps().Has(cap) {
			t.Errorf("no %s in the capabilities %v", cap, c.Caps())
		}
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 3 || sel.UIDValidity == 0 || sel.UIDNext != 4 {
		t.Errorf("SELECT INBOX: %d messages, UIDVALIDITY %d, UIDNEXT %d; want 3, not 0, 4", sel.NumMessages, sel.UIDValidity, sel.UIDNext)
	}
	bodies, uids := fetchAll(t, c)
	sameBodies(t, bodies, msgs)
	if !slices.Equal(uids, []imap.UID{1, 2, 3}) {
		t.Errorf("UIDs %v, want 1 2 3 in the order of delivery", uids)
	}
	// Dovecot has moved them to cur/; BODY.PEEK set no flag.
	if c, err := s.Count("bob", "INBOX"); err != nil || c != (Counts{All: 3}) {
		t.Errorf("Count after FETCH: %+v, %v", c, err)
	}

	// User names are case-insensitive, as Dovecot lower-cases them.
	if err := s.Deliver("Bob", "INBOX", message(4, "four")); err != nil {
		t.Fatal(err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if n := c.Mailbox().NumMessages; n != 4 {
		t.Errorf("after delivering to Bob: %d messages, want 4", n)
	}

	conn, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	bad := imapclient.New(conn, nil)
	defer bad.Close()
	if err := bad.Login("bob", "wrong").Wait(); err == nil {
		t.Error("login with a wrong password succeeded")
	}
}

func TestDeliverRejects(t *testing.T) {
	t.Parallel()
	s := &Server{Dir: t.TempDir(), uid: -1, gid: -1}
	for _, tc := range []struct{ user, mailbox string }{
		{"", "INBOX"},
		{"../etc", "INBOX"},
		{"a/b", "INBOX"},
		{".hidden", "INBOX"},
		{"bob", ""},
		{"bob", "../x"},
		{"bob", "a/b"},
		{"bob", ".x"},
		{"bob", "Entwürfe"},
		{"bob", "A&B"},
	} {
		if err := s.Deliver(tc.user, tc.mailbox, message(1, "x")); err == nil {
			t.Errorf("Deliver(%q, %q) succeeded", tc.user, tc.mailbox)
		}
	}
	entries, _ := os.ReadDir(s.Dir)
	if len(entries) != 0 {
		t.Errorf("rejected deliveries left %v", entries)
	}
	if _, err := s.Count("nobody", "INBOX"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Count of a missing mailbox: %v, want fs.ErrNotExist", err)
	}
}

func TestIdleSeesDelivery(t *testing.T) {
	t.Parallel()
	s := ForTest(t, Options{})
	if err := s.Deliver("carol", "INBOX", message(1, "before")); err != nil {
		t.Fatal(err)
	}
	exists := make(chan uint32, 16)
	c := dial(t, s, "carol", &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					exists <- *data.NumMessages
				}
			},
		},
	})
	if sel, err := c.Select("INBOX", nil).Wait(); err != nil || sel.NumMessages != 1 {
		t.Fatalf("SELECT INBOX: %+v, %v", sel, err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := s.Deliver("carol", "INBOX", message(2, "during"), message(3, "during")); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
wait:
	for {
		select {
		case n := <-exists:
			if n == 3 {
				break wait
			}
		case <-timeout:
			t.Fatalf("no * 3 EXISTS within 10 s of the delivery\n%s", s.Log())
		}
	}
	t.Logf("EXISTS %v after the delivery", time.Since(start).Round(time.Millisecond))
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	bodies, uids := fetchAll(t, c)
	if len(bodies) != 3 || !bytes.Equal(bodies[2], message(3, "during")) || uids[2] != 3 {
		t.Errorf("after IDLE: UIDs %v, last body %q", uids, bodies[len(bodies)-1])
	}
}

func TestMoveAndFlags(t *testing.T) {
	t.Parallel()
	s := ForTest(t, Options{})
	var msgs [][]byte
	for i := range 5 {
		msgs = append(msgs, message(i+1, "move me"))
	}
	if err := s.Deliver("dave", "INBOX", msgs...); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s, "dave", nil)
	// A folder made on disk after login is seen.
	if err := s.Deliver("dave", "Processed"); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Count("dave", "Processed"); err != nil || c != (Counts{}) {
		t.Errorf("Count of the new folder: %+v, %v", c, err)
	}
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range list {
		names = append(names, l.Mailbox)
	}
	if slices.Sort(names); !slices.Equal(names, []string{"INBOX", "Processed"}) {
		t.Errorf("LIST: %v", names)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	moved, err := c.Move(imap.UIDSet{{Start: 1, Stop: 2}}, "Processed").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if moved.UIDValidity == 0 || fmt.Sprint(moved.SourceUIDs) != "1:2" || fmt.Sprint(moved.DestUIDs) != "1:2" {
		t.Errorf("COPYUID %d %v %v", moved.UIDValidity, moved.SourceUIDs, moved.DestUIDs)
	}
	for _, st := range []struct {
		uid   imap.UID
		flags []imap.Flag
	}{
		{3, []imap.Flag{imap.FlagSeen, imap.FlagFlagged}},
		{4, []imap.Flag{imap.FlagSeen}},
		{5, []imap.Flag{imap.FlagDeleted}},
	} {
		err := c.Store(imap.UIDSetNum(st.uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: st.flags}, nil).Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Count("dave", "INBOX"); err != nil || got != (Counts{All: 3, Seen: 2, Flagged: 1, Deleted: 1}) {
		t.Errorf("Count INBOX: %+v, %v", got, err)
	}
	if got, err := s.Count("dave", "Processed"); err != nil || got != (Counts{All: 2}) {
		t.Errorf("Count Processed: %+v, %v", got, err)
	}
	if err := c.UIDExpunge(imap.UIDSetNum(5)).Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Count("dave", "INBOX"); err != nil || got != (Counts{All: 2, Seen: 2, Flagged: 1}) {
		t.Errorf("Count INBOX after EXPUNGE: %+v, %v", got, err)
	}
	if _, err := c.Select("Processed", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	bodies, _ := fetchAll(t, c)
	sameBodies(t, bodies, msgs[:2])
}

func TestNoMove(t *testing.T) {
	t.Parallel()
	s := ForTest(t, Options{NoMove: true, Password: "hunter2"})
	if s.Password != "hunter2" {
		t.Errorf("Password %q", s.Password)
	}
	c := dial(t, s, "erin", nil)
	if c.Caps().Has(imap.CapMove) {
		t.Errorf("MOVE in the capabilities %v", c.Caps())
	}
	for _, cap := range []imap.Cap{imap.CapIdle, imap.CapUIDPlus, imap.CapIMAP4rev1} {
		if !c.Caps().Has(cap) {
			t.Errorf("no %s in the capabilities %v", cap, c.Caps())
		}
	}
	conn, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	other := imapclient.New(conn, nil)
	defer other.Close()
	if err := other.Login("erin", "secret").Wait(); err == nil {
		t.Error("login with the default password succeeded")
	}
}

func TestResetUIDValidity(t *testing.T) {
	t.Parallel()
	s := ForTest(t, Options{})
	msgs := [][]byte{message(1, "one"), message(2, "two"), message(3, "three")}
	for _, mailbox := range []string{"INBOX", "Bounces.2024"} {
		if err := s.Deliver("frank", mailbox, msgs...); err != nil {
			t.Fatal(err)
		}
	}
	// select opens mailbox in a new session, which it logs out of.
	sel := func(mailbox string) uint32 {
		t.Helper()
		c := dial(t, s, "frank", nil)
		defer func() { c.Logout().Wait() }()
		data, err := c.Select(mailbox, nil).Wait()
		if err != nil {
			t.Fatalf("SELECT %s: %v\n%s", mailbox, err, s.Log())
		}
		bodies, uids := fetchAll(t, c)
		sameBodies(t, bodies, msgs)
		if !slices.Equal(uids, []imap.UID{1, 2, 3}) {
			t.Errorf("%s: UIDs %v", mailbox, uids)
		}
		return data.UIDValidity
	}
	for _, mailbox := range []string{"INBOX", "Bounces.2024"} {
		seen := []uint32{sel(mailbox)}
		for range 2 { // twice within a second
			if err := s.ResetUIDValidity("frank", mailbox); err != nil {
				t.Fatal(err)
			}
			v := sel(mailbox)
			if slices.Contains(seen, v) {
				t.Errorf("%s: UIDVALIDITY %d again after ResetUIDValidity (before: %v)", mailbox, v, seen)
			}
			seen = append(seen, v)
		}
		t.Logf("%s: UIDVALIDITY %v", mailbox, seen)
	}
	if err := s.ResetUIDValidity("frank", "Nowhere"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ResetUIDValidity of a missing folder: %v", err)
	}
}

func TestTwoServers(t *testing.T) {
	t.Parallel()
	a, b := ForTest(t, Options{}), ForTest(t, Options{})
	if a.Addr == b.Addr || a.Dir == b.Dir || a.instance == b.instance {
		t.Fatalf("two servers share %s %s %s", a.Addr, a.Dir, a.instance)
	}
	if err := a.Deliver("gina", "INBOX", message(1, "a")); err != nil {
		t.Fatal(err)
	}
	if err := b.Deliver("gina", "INBOX", message(1, "b"), message(2, "b")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		s    *Server
		want uint32
	}{{a, 1}, {b, 2}} {
		c := dial(t, tc.s, "gina", nil)
		if sel, err := c.Select("INBOX", nil).Wait(); err != nil || sel.NumMessages != tc.want {
			t.Errorf("%s: SELECT INBOX %+v, %v; want %d messages", tc.s.Addr, sel, err, tc.want)
		}
	}
}

// instanceProcesses lists the processes whose command line names the
// server's instance (Dovecot titles them "dovecot-INSTANCE/imap" and so on).
func instanceProcesses(s *Server) []string {
	entries, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range entries {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !strings.Contains(string(b), s.instance) {
			continue
		}
		if stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat"); strings.Contains(string(stat), ") Z ") {
			continue // a zombie is gone, only not yet reaped
		}
		found = append(found, e.Name()+" "+strings.ReplaceAll(string(b), "\x00", " "))
	}
	return found
}

func TestStop(t *testing.T) {
	t.Parallel()
	if _, err := Binary(); err != nil {
		t.Skip(err)
	}
	dir, err := os.MkdirTemp("", "bounced-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s, err := Start(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			s.Stop()
		}
	})
	if !strings.Contains(s.Log(), "starting up") {
		t.Errorf("Log has no start-up line:\n%s", s.Log())
	}
	// A session in IDLE keeps an imap process busy.
	if err := s.Deliver("hank", "INBOX", message(1, "x")); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s, "hank", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	procs := instanceProcesses(s)
	if !slices.ContainsFunc(procs, func(p string) bool { return strings.Contains(p, "/imap") }) {
		t.Errorf("no imap process among %q", procs)
	}
	if len(groupMembers(s.cmd.Process.Pid)) < 4 {
		t.Errorf("process group %d: %v", s.cmd.Process.Pid, groupMembers(s.cmd.Process.Pid))
	}

	start := time.Now()
	stopped = true
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Stop took %v", time.Since(start).Round(time.Millisecond))
	if left := instanceProcesses(s); len(left) > 0 {
		t.Errorf("after Stop: %q", left)
	}
	if left := groupMembers(s.cmd.Process.Pid); len(left) > 0 {
		t.Errorf("after Stop, group %d has %v", s.cmd.Process.Pid, left)
	}
	if conn, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections", s.Addr)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	// Started again in the same folder, it serves the same mail.
	again, err := Start(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Stop()
	c = dial(t, again, "hank", nil)
	if sel, err := c.Select("INBOX", nil).Wait(); err != nil || sel.NumMessages != 1 {
		t.Errorf("SELECT INBOX after a restart: %+v, %v", sel, err)
	}
}

// fakeTB records how ForTest ends a test.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper()                  {}
func (f *fakeTB) Skipf(s string, a ...any) { f.skipped = fmt.Sprintf(s, a...); runtime.Goexit() }
func (f *fakeTB) Fatalf(s string, a ...any) {
	f.failed = fmt.Sprintf(s, a...)
	runtime.Goexit()
}

func TestForTestWithoutDovecot(t *testing.T) {
	t.Parallel()
	missing := func() (string, error) { return "", ErrNotInstalled }
	for _, require := range []bool{false, true} {
		f := &fakeTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			forTest(f, Options{}, missing, require)
			t.Errorf("require=%v: ForTest returned without Dovecot", require)
		}()
		<-done
		want := "apt-get install -y --no-install-recommends dovecot-imapd"
		if got := f.skipped + f.failed; !strings.Contains(got, want) {
			t.Errorf("require=%v: message %q does not say %q", require, got, want)
		}
		if require && (f.failed == "" || f.skipped != "") || !require && (f.skipped == "" || f.failed != "") {
			t.Errorf("require=%v: skipped %q, failed %q", require, f.skipped, f.failed)
		}
	}
}

// TestDeliverMany times Deliver of 20,000 messages of 5 KB, and Dovecot's
// first SELECT of them.
func TestDeliverMany(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 messages")
	}
	t.Parallel()
	s := ForTest(t, Options{})
	const n, size = 20000, 5 << 10
	msgs := make([][]byte, n)
	for i := range msgs {
		m := message(i+1, "")
		msgs[i] = append(m, bytes.Repeat([]byte("x"), size-len(m)-2)...)
		msgs[i] = append(msgs[i], "\r\n"...)
	}
	start := time.Now()
	if err := s.Deliver("ivan", "INBOX", msgs...); err != nil {
		t.Fatal(err)
	}
	t.Logf("Deliver of %d messages of %d bytes: %v", n, size, time.Since(start).Round(time.Millisecond))
	if c, err := s.Count("ivan", "INBOX"); err != nil || c.All != n {
		t.Fatalf("Count: %+v, %v", c, err)
	}
	c := dial(t, s, "ivan", nil)
	start = time.Now()
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first SELECT of %d new messages: %v", sel.NumMessages, time.Since(start).Round(time.Millisecond))
	if sel.NumMessages != n || sel.UIDNext != n+1 {
		t.Errorf("SELECT: %d messages, UIDNEXT %d", sel.NumMessages, sel.UIDNext)
	}
	section := &imap.FetchItemBodySection{Peek: true}
	bufs, err := c.Fetch(imap.UIDSetNum(1, n/2, n), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil || len(bufs) != 3 {
		t.Fatalf("UID FETCH: %d, %v", len(bufs), err)
	}
	for _, b := range bufs {
		if !bytes.Equal(b.FindBodySection(section), msgs[b.UID-1]) {
			t.Errorf("UID %d is not message %d", b.UID, b.UID)
		}
	}
}

func BenchmarkDeliver(b *testing.B) {
	s := ForTest(b, Options{})
	m := message(1, strings.Repeat("x", 5<<10))
	b.SetBytes(int64(len(m)))
	for b.Loop() {
		if err := s.Deliver("judy", "INBOX", m); err != nil {
			b.Fatal(err)
		}
	}
}

func TestStartUnreachableFolder(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("only root runs Dovecot as another user")
	}
	if _, err := Binary(); err != nil {
		t.Skip(err)
	}
	// t.TempDir's parent has mode 0700: the dovecot user cannot get in.
	dir := t.TempDir()
	s, err := Start(dir, Options{})
	if err == nil {
		s.Stop()
		t.Fatal("Start in a folder closed to the dovecot user succeeded")
	}
	if !strings.Contains(err.Error(), "cannot reach") || !strings.Contains(err.Error(), "0755") {
		t.Errorf("error %q does not say what to do", err)
	}
}

// TestLongFolder starts a server in a folder too deep for Unix socket
// paths below it: base_dir goes to a temporary folder of its own.
func TestLongFolder(t *testing.T) {
	t.Parallel()
	if _, err := Binary(); err != nil {
		t.Skip(err)
	}
	top, err := os.MkdirTemp("", "bounced-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(top, strings.Repeat("deep", 25))
	s, err := Start(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if strings.HasPrefix(s.runDir, dir) {
		t.Errorf("base_dir %s is too long for sockets", s.runDir)
	}
	if err := s.Deliver("kate", "INBOX", message(1, "deep")); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s, "kate", nil)
	if sel, err := c.Select("INBOX", nil).Wait(); err != nil || sel.NumMessages != 1 {
		t.Errorf("SELECT INBOX: %+v, %v", sel, err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.runDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stop left base_dir %s: %v", s.runDir, err)
	}
}
