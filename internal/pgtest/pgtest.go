// Package pgtest gives each test a PostgreSQL schema of its own (DESIGN.md
// "Components"): the server named by BOUNCED_TEST_DATABASE_URL, else the
// one on 127.0.0.1:5432 (database test), else a throwaway cluster started
// from the local initdb. Without any of them the test is skipped, saying
// why.
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bounced/bounced/internal/pgserver"
)

// EnvURL names the variable that points the tests at a database.
const EnvURL = "BOUNCED_TEST_DATABASE_URL"

// localURL is the server that machines of this project run.
const localURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

var (
	once     sync.Once
	baseURL  string
	skipWhy  string
	server   *pgserver.Server
	tempDir  string
	sequence atomic.Int64
)

// Main runs the tests of a package and stops the throwaway cluster, if one
// was started. Call it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if server != nil {
		if err := server.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stopping the throwaway cluster: %v\n", err)
		}
		os.RemoveAll(tempDir)
	}
	return code
}

// find picks the database, once per test binary.
func find() {
	if u := os.Getenv(EnvURL); u != "" {
		baseURL = u
		return
	}
	if pgserver.Reachable(context.Background(), localURL) {
		baseURL = localURL
		return
	}
	dir, err := os.MkdirTemp("", "bounced-pgtest-")
	if err == nil {
		err = os.Chmod(dir, 0o755) // the postgres user must reach the cluster inside
	}
	if err != nil {
		skipWhy = fmt.Sprintf("no PostgreSQL: %s unset, nothing on 127.0.0.1:5432, and no temporary folder: %v", EnvURL, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := pgserver.Start(ctx, filepath.Join(dir, "pg"))
	if err != nil {
		os.RemoveAll(dir)
		skipWhy = fmt.Sprintf("no PostgreSQL: %s unset, nothing on 127.0.0.1:5432, and no throwaway cluster: %v", EnvURL, err)
		return
	}
	server, tempDir, baseURL = s, dir, s.URL
}

// URL gives a database URL whose search_path is a new, empty schema, and
// drops the schema when the test ends. It skips the test when there is no
// PostgreSQL.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(find)
	if baseURL == "" {
		t.Skip(skipWhy)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		t.Fatalf("connecting to the test database: %v", err)
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("test_%d_%d", os.Getpid(), sequence.Add(1))
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("creating schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, baseURL)
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return WithSearchPath(baseURL, schema)
}

// WithSearchPath adds search_path=schema to a URL or keyword/value
// connection string.
func WithSearchPath(conn, schema string) string {
	if strings.Contains(conn, "://") {
		u, err := url.Parse(conn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return conn + " search_path=" + schema
}
