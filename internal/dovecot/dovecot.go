// Package dovecot runs a real Dovecot IMAP server from a configuration of
// its own in a temporary folder, for end-to-end tests and benchmarks
// (DESIGN.md "Dovecot for end-to-end tests"). The server listens on
// 127.0.0.1 only, speaks plain IMAP, and lets any user name log in with one
// password; mail lives in Maildirs under the folder, which the test fills
// directly (Deliver) and inspects directly (Count).
//
// As root, Dovecot's processes run as the "dovecot" and "dovenull" users
// and the mail belongs to "dovecot"; as anyone else, everything runs as
// that user.
package dovecot

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNotInstalled means no dovecot binary was found.
var ErrNotInstalled = errors.New("dovecot is not installed: apt-get install -y --no-install-recommends dovecot-imapd")

// Options shape the server.
type Options struct {
	// Password is the one password every user logs in with. Default "secret".
	Password string
	// NoMove leaves MOVE out of the advertised capabilities (Dovecot still
	// answers a MOVE command sent regardless), so that clients take their
	// COPY fallback. Default false.
	NoMove bool
	// TLSCert and TLSKey, PEM files, turn TLS on: STARTTLS on Addr (plain
	// LOGIN stays allowed there) and implicit TLS on TLSAddr. Default: no
	// TLS.
	TLSCert, TLSKey string
}

// Server is a running Dovecot.
type Server struct {
	// Addr is 127.0.0.1:PORT, plain IMAP, LOGIN allowed without TLS.
	Addr string
	// TLSAddr is 127.0.0.1:PORT with implicit TLS, when Options gave a
	// certificate; "" otherwise.
	TLSAddr string
	// Dir holds the configuration, state, logs and the users' homes.
	Dir      string
	Password string

	instance string
	runDir   string // base_dir; outside Dir when Dir is too long for socket paths
	uid, gid int    // owner of the mail; -1 when not root (no chown)
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the master process has exited
	stopOnce sync.Once
	stopErr  error
	mu       sync.Mutex
	last     time.Time // of the last file Deliver named
}

// startTimeout bounds the wait for the first IMAP greeting.
const startTimeout = 10 * time.Second

// maxSocketPath is the longest path of a Unix socket (sun_path, less the
// final NUL); Dovecot's longest socket below base_dir is
// "token-login/imap-urlauth".
const maxSocketPath = 107 - len("/token-login/imap-urlauth")

// moveless is Dovecot 2.3.19's own post-login capability list less MOVE:
// imap_capability replaces the whole list, it cannot take one away.
const moveless = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY " +
	"THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE " +
	"UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH " +
	"ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY SNIPPET=FUZZY PREVIEW=FUZZY " +
	"PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY"

// Binary finds the dovecot binary: on PATH, else in /usr/sbin (not on a
// normal user's PATH).
func Binary() (string, error) {
	if p, err := exec.LookPath("dovecot"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/dovecot"); err == nil {
		return "/usr/sbin/dovecot", nil
	}
	return "", ErrNotInstalled
}

// Start writes a configuration into dir, a folder the caller owns (made if
// missing), and runs `dovecot -F -c DIR/dovecot.conf` on a free port of
// 127.0.0.1. It returns once the server has sent an IMAP greeting with its
// capabilities, or an error with the tail of the log after 10 seconds.
//
// As root, every folder above dir must be open to the dovecot user
// (mode 0755 or so): Start says which one is not.
func Start(dir string, opt Options) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if opt.Password == "" {
		opt.Password = "secret"
	}
	if strings.ContainsAny(opt.Password, " \t\r\n\"\\%") {
		return nil, fmt.Errorf("password %q: spaces, quotes, backslashes and %% are not supported", opt.Password)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	for _, path := range []string{dir, opt.TLSCert, opt.TLSKey} {
		if i := strings.IndexFunc(path, unsafePathRune); i >= 0 {
			return nil, fmt.Errorf("path %q: character %q does not fit into a Dovecot configuration", path, path[i])
		}
	}
	if (opt.TLSCert == "") != (opt.TLSKey == "") {
		return nil, errors.New("TLS needs both a certificate and a key")
	}
	s := &Server{Dir: dir, Password: opt.Password, uid: -1, gid: -1}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	internal, group, login := "dovecot", "dovecot", "dovenull"
	if os.Geteuid() == 0 {
		// imap-login and the mail processes refuse to run as root.
		u, err := user.Lookup("dovecot")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the dovecot user to own the mail: %w", err)
		}
		s.uid, _ = strconv.Atoi(u.Uid)
		s.gid, _ = strconv.Atoi(u.Gid)
		if _, err := user.Lookup("dovenull"); err != nil {
			return nil, fmt.Errorf("running as root needs the dovenull user for imap-login: %w", err)
		}
		if err := reachable(dir, s.uid, s.gid); err != nil {
			return nil, err
		}
	} else {
		u, err := user.Current()
		if err != nil {
			return nil, err
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			return nil, err
		}
		// Dovecot's own services then run as this user too.
		internal, group, login = u.Username, g.Name, u.Username
	}
	mailUID, mailGID := s.uid, s.gid
	if mailUID < 0 {
		mailUID, mailGID = os.Geteuid(), os.Getegid()
	}

	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, err
	}
	if err := s.chown(home); err != nil {
		return nil, err
	}
	s.instance = fmt.Sprintf("bounced-%d-%s", os.Getpid(), strconv.FormatInt(time.Now().UnixNano(), 36))
	s.runDir = filepath.Join(dir, "run")
	if len(s.runDir) > maxSocketPath {
		if s.runDir, err = os.MkdirTemp("", "dovecot-run-"); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(s.runDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(s.runDir, 0o755); err != nil {
		return nil, err
	}

	// A free port can be taken by someone else before Dovecot binds it:
	// try again with another.
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			s.removeRunDir()
			return nil, err
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		tlsPort := 0
		if opt.TLSCert != "" {
			if tlsPort, err = freePort(); err != nil {
				s.removeRunDir()
				return nil, err
			}
			s.TLSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort))
		}
		conf := config(s, opt, port, tlsPort, internal, group, login, mailUID, mailGID)
		if err := os.WriteFile(filepath.Join(dir, "dovecot.conf"), []byte(conf), 0o644); err != nil {
			s.removeRunDir()
			return nil, err
		}
		for _, name := range []string{"stderr.log", "dovecot.log"} {
			os.Remove(filepath.Join(dir, name)) // Log shows this attempt only
		}
		// Left by a killed master, it could name a live process by now.
		os.Remove(filepath.Join(s.runDir, "master.pid"))
		err = s.run(bin)
		if err == nil {
			return s, nil
		}
		if attempt < 3 && strings.Contains(s.Log(), "Address already in use") {
			continue
		}
		s.removeRunDir()
		return nil, err
	}
}

// config is the whole dovecot.conf; nothing comes from /etc/dovecot.
func config(s *Server, opt Options, port, tlsPort int, internal, group, login string, uid, gid int) string {
	var b strings.Builder
	set := func(key, value string) { fmt.Fprintf(&b, "%s = %s\n", key, value) }
	set("instance_name", quote(s.instance))
	set("base_dir", quote(s.runDir))
	set("state_dir", quote(filepath.Join(s.Dir, "state")))
	set("log_path", quote(filepath.Join(s.Dir, "dovecot.log")))
	set("protocols", "imap")
	set("listen", "127.0.0.1")
	if opt.TLSCert != "" {
		set("ssl", "yes")
		set("ssl_cert", "<"+opt.TLSCert)
		set("ssl_key", "<"+opt.TLSKey)
	} else {
		set("ssl", "no")
	}
	set("disable_plaintext_auth", "no")
	set("auth_mechanisms", "plain login")
	set("default_internal_user", internal)
	set("default_internal_group", group)
	set("default_login_user", login)
	set("first_valid_uid", strconv.Itoa(uid)) // the default, 500, refuses the dovecot user
	set("mail_location", "maildir:~/Maildir")
	// A test's mail may be lost in a crash; nothing else changes. No
	// maildir_very_dirty_syncs: Deliver writes behind Dovecot's back.
	set("mail_fsync", "never")
	// Tests open many sessions of one user from 127.0.0.1.
	set("mail_max_userip_connections", "1000")
	// A failed login answers in about half a second, not 2 s; and see
	// anvil below.
	set("auth_failure_delay", "0")
	set("login_greeting", quote("Dovecot "+s.instance+" ready."))
	if opt.NoMove {
		set("imap_capability", moveless)
	}
	fmt.Fprintf(&b, "passdb {\n  driver = static\n  args = password=%s\n}\n", opt.Password)
	// Static userdb args are split at spaces and %-expanded: Start refuses
	// folders that would need escaping.
	fmt.Fprintf(&b, "userdb {\n  driver = static\n  args = uid=%d gid=%d home=%s/%%u\n}\n",
		uid, gid, filepath.Join(s.Dir, "home"))
	// imap-login needs no chroot (nor root to make one). The auth process
	// cannot open anvil's auth-penalty socket, so that repeated failed
	// logins from 127.0.0.1 are not slowed down to 15 s each; Dovecot 2.3
	// has no setting for that.
	fmt.Fprintf(&b, `service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = %d
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %d
  }
}
service anvil {
  chroot =
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
`, port, tlsPort)
	return b.String()
}

// run starts the master process in a process group of its own and waits
// for the greeting.
func (s *Server) run(bin string) error {
	stderr, err := os.OpenFile(filepath.Join(s.Dir, "stderr.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer stderr.Close()
	cmd := exec.Command(bin, "-F", "-c", filepath.Join(s.Dir, "dovecot.conf"))
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = stderr, stderr
	// A process group of its own, for Stop to kill; and should this
	// process die without Stop (a test's timeout panic), the master dies
	// too, and its children once their clients are gone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting dovecot: %w", err)
	}
	s.cmd = cmd
	exited := make(chan struct{})
	s.exited = exited
	go func() {
		cmd.Wait()
		close(exited)
	}()
	if err := s.waitGreeting(); err != nil {
		s.kill()
		return fmt.Errorf("starting dovecot in %s: %w\n%s", s.Dir, err, s.Log())
	}
	return nil
}

// waitGreeting dials until imap-login answers with its capabilities.
// Before the auth process is up, imap-login first sends "* OK Waiting for
// authentication process to respond..": that one does not count.
func (s *Server) waitGreeting() error {
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("dovecot exited: %v", s.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no IMAP greeting on %s within %v", s.Addr, startTimeout)
		}
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		c.SetDeadline(deadline)
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break
			}
			if strings.HasPrefix(line, "* OK [CAPABILITY ") {
				fmt.Fprintf(c, "x LOGOUT\r\n")
				c.Close()
				return nil
			}
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills Dovecot and every process it started (its process group) and
// waits until they are gone. It does not ask nicely: on SIGTERM Dovecot
// takes a second to shut down, and the folder is thrown away anyway.
// Stop can be called more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.stopErr = s.kill()
		s.removeRunDir()
	})
	return s.stopErr
}

// kill kills the process group and waits until none of it is left.
func (s *Server) kill() error {
	pgid := s.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGKILL)
	<-s.exited
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := groupMembers(pgid)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stopping dovecot: processes %v of group %d are still running", left, pgid)
		}
		syscall.Kill(-pgid, syscall.SIGKILL)
		time.Sleep(20 * time.Millisecond)
	}
}

// removeRunDir removes base_dir when it had to live outside Dir.
func (s *Server) removeRunDir() {
	if s.runDir != "" && filepath.Dir(s.runDir) != s.Dir {
		os.RemoveAll(s.runDir)
	}
}

// groupMembers lists the live (not zombie) processes of a process group,
// from /proc.
func groupMembers(pgid int) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Log returns the tail of Dovecot's log and of what it wrote to stderr.
func (s *Server) Log() string {
	var b strings.Builder
	for _, name := range []string{"stderr.log", "dovecot.log"} {
		data, err := os.ReadFile(filepath.Join(s.Dir, name))
		if err != nil || len(data) == 0 {
			continue
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", name, tail(data, 4000))
	}
	return b.String()
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
		if i := strings.IndexByte(string(b), '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return strings.TrimSpace(string(b))
}

// chown gives a file or folder to the mail's owner, when root.
func (s *Server) chown(path string) error {
	if s.uid < 0 {
		return nil
	}
	return os.Lchown(path, s.uid, s.gid)
}

// reachable checks that the user can walk down to dir: as root, t.TempDir
// and os.MkdirTemp make folders of mode 0700.
func reachable(dir string, uid, gid int) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode().Perm()
		ok = ok && (mode&0o001 != 0 ||
			int(st.Uid) == uid && mode&0o100 != 0 ||
			int(st.Gid) == gid && mode&0o010 != 0)
		if !ok {
			return fmt.Errorf("the dovecot user cannot reach %s: %s has mode %#o (make it 0755)", dir, d, uint32(mode))
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// unsafePathRune reports characters that would need escaping in
// dovecot.conf or in the static userdb's args.
func unsafePathRune(r rune) bool {
	return r <= ' ' || r == 0x7f || strings.ContainsRune(`"\%$#'{}`, r)
}

func quote(s string) string { return `"` + s + `"` }
