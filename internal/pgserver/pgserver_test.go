package pgserver

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestStart(t *testing.T) {
	t.Parallel()
	if _, err := BinDir(); errors.Is(err, ErrNoBinaries) {
		t.Skipf("no throwaway cluster to test: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// As root the cluster runs as postgres, which must reach its folder:
	// t.TempDir makes it and its parent private.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, filepath.Join(dir, "pg"))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped && s != nil {
			s.Stop()
		}
	})
	if s.Port == 0 || s.Dir != filepath.Join(dir, "pg") {
		t.Errorf("server %+v", s)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "data", "PG_VERSION")); err != nil {
		t.Errorf("no cluster in %s: %v", s.Dir, err)
	}

	c, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	var one int
	var user string
	if err := c.QueryRow(ctx, `SELECT 1, current_user`).Scan(&one, &user); err != nil || one != 1 || user != "postgres" {
		t.Errorf("SELECT 1, current_user: %d, %q, %v", one, user, err)
	}
	if _, err := c.Exec(ctx, `CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)

	// Stopped and started again, the cluster is the same one.
	if err := s.Stop(); err != nil {
		t.Fatalf("stopping: %v", err)
	}
	if s, err = Start(ctx, filepath.Join(dir, "pg")); err != nil {
		t.Fatalf("starting again: %v", err)
	}
	if c, err = pgx.Connect(ctx, s.URL); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow(ctx, `SELECT n FROM kept`).Scan(&one); err != nil || one != 42 {
		t.Errorf("after a restart: %d, %v", one, err)
	}
	c.Close(ctx)

	stopped = true
	if err := s.Stop(); err != nil {
		t.Fatalf("stopping: %v", err)
	}
	if c, err := pgx.Connect(ctx, s.URL); err == nil {
		c.Close(ctx)
		t.Error("the server still answers after Stop")
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "data", "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid after Stop: %v", err)
	}
}
