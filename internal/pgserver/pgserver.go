// Package pgserver runs a throwaway PostgreSQL cluster from the local
// PostgreSQL binaries (initdb, pg_ctl), for tests and for `bounced demo`
// on a machine where no server is set up. The cluster listens on
// 127.0.0.1 and a free port, trusts local connections, and lives in a
// folder of the caller's.
package pgserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries means no initdb was found on PATH or under
// /usr/lib/postgresql.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries (initdb, pg_ctl) found: install them, e.g. apt-get install postgresql")

// Server is a running throwaway cluster.
type Server struct {
	// URL connects to its "postgres" database as user "postgres".
	URL  string
	Dir  string
	Port int
	bin  string
	as   *user.User // set when running as root: the cluster's owner
}

// BinDir finds the folder holding initdb and pg_ctl: PATH first, then the
// newest /usr/lib/postgresql/N/bin.
func BinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if q, err := filepath.EvalSymlinks(p); err == nil {
			p = q
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	if len(dirs) > 0 {
		return filepath.Dir(dirs[0]), nil
	}
	return "", ErrNoBinaries
}

// version reads N from /usr/lib/postgresql/N/bin/initdb.
func version(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// Start makes a cluster in dir/data unless one is there, and starts it on
// a free port. As root, the cluster belongs to the "postgres" user, since
// PostgreSQL refuses to run as root.
func Start(ctx context.Context, dir string) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		if s.as, err = user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("running as root needs a postgres user to own the cluster: %w", err)
		}
	}
	// The folders above dir stay open to the cluster's owner.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := s.chown(dir); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		if err := s.run(ctx, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
			return nil, fmt.Errorf("initdb: %w", err)
		}
	}
	if s.Port, err = freePort(); err != nil {
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
	return s, nil
}

// start runs the cluster on s.Port.
func (s *Server) start(ctx context.Context) error {
	data := filepath.Join(s.Dir, "data")
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off", s.Port, s.Dir)
	if err := s.run(ctx, "pg_ctl", "-D", data, "-l", filepath.Join(s.Dir, "server.log"), "-o", opts, "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.Dir, "server.log"))
		return fmt.Errorf("pg_ctl start: %w\n%s", err, tail(log, 2000))
	}
	return nil
}

// Restart starts a stopped cluster again on the same port, for tests of a
// database that goes away and comes back.
func (s *Server) Restart(ctx context.Context) error { return s.start(ctx) }

// Reachable reports whether a PostgreSQL server answers at url, within 3
// seconds.
func Reachable(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return false
	}
	c.Close(ctx)
	return true
}

// Stop stops the cluster quickly (pg_ctl stop -m fast); its files stay.
func (s *Server) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return s.run(ctx, "pg_ctl", "-D", filepath.Join(s.Dir, "data"), "-m", "fast", "-w", "stop")
}

// run runs one of the server binaries, as the postgres user when root.
func (s *Server) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	if s.as != nil {
		uid, _ := strconv.Atoi(s.as.Uid)
		gid, _ := strconv.Atoi(s.as.Gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		cmd.Dir = s.Dir
		cmd.Env = append(os.Environ(), "HOME="+s.Dir)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, tail(out, 2000))
	}
	return nil
}

// chown gives dir to the cluster's owner when running as root.
func (s *Server) chown(dir string) error {
	if s.as == nil {
		return nil
	}
	uid, _ := strconv.Atoi(s.as.Uid)
	gid, _ := strconv.Atoi(s.as.Gid)
	return os.Chown(dir, uid, gid)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
