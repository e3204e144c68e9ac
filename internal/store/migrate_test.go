package store

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bounced/bounced/internal/pgtest"
	"github.com/bounced/bounced/migrations"
)

// migrationNames lists the embedded files without .sql, in order.
func migrationNames(t *testing.T) []string {
	t.Helper()
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	for i, f := range files {
		files[i] = strings.TrimSuffix(f, ".sql")
	}
	return files
}

func TestLatest(t *testing.T) {
	t.Parallel()
	names := migrationNames(t)
	if len(names) == 0 {
		t.Fatal("no migration files embedded")
	}
	if got := Latest(); got != len(names) {
		t.Errorf("Latest() = %d, want %d (the number of files)", got, len(names))
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.URL(t)
	s, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	err = s.CheckSchema(ctx)
	if !errors.Is(err, ErrSchema) {
		t.Fatalf("CheckSchema on an empty schema = %v, want ErrSchema", err)
	}
	if !strings.Contains(err.Error(), "run `bounced migrate`") {
		t.Errorf("CheckSchema error %q does not say to run `bounced migrate`", err)
	}

	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := migrationNames(t); !slices.Equal(applied, want) {
		t.Errorf("first Migrate applied %q, want %q", applied, want)
	}
	if err := s.CheckSchema(ctx); err != nil {
		t.Errorf("CheckSchema after Migrate: %v", err)
	}
	applied, err = s.Migrate(ctx)
	if err != nil || len(applied) != 0 {
		t.Errorf("second Migrate applied %q, %v; want nothing", applied, err)
	}

	c := connect(t, url)
	if n := count(t, c, `SELECT count(*) FROM schema_migration`); n != Latest() {
		t.Errorf("schema_migration has %d rows, want %d", n, Latest())
	}
	var tables []string
	rows, err := c.Query(ctx, `SELECT table_name::text FROM information_schema.tables
		WHERE table_schema = current_schema() ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"bounce", "bounce_day", "bounce_domain_day", "checkpoint", "mailbox_status", "message", "message_raw", "release", "schema_migration", "setting", "suppression"}
	if !slices.Equal(tables, want) {
		t.Errorf("tables %q, want %q", tables, want)
	}

	// A database migrated by a newer bounced is refused, not downgraded.
	if _, err := c.Exec(ctx, `INSERT INTO schema_migration (version, name) VALUES (9999, '9999_future')`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Migrate on a newer schema = %v, want an error saying it is newer", err)
	}
}

// Instances starting together on an empty schema each succeed, and each
// migration is applied once.
func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.URL(t)
	const n = 4
	stores := make([]*Store, n)
	for i := range stores {
		s, err := Open(ctx, url, Options{MaxConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		mu      sync.Mutex
		applied []string
		errs    []error
	)
	for _, s := range stores {
		wg.Go(func() {
			<-start
			names, err := s.Migrate(ctx)
			mu.Lock()
			defer mu.Unlock()
			applied = append(applied, names...)
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("concurrent Migrate: %v", errs)
	}
	slices.Sort(applied)
	if want := migrationNames(t); !slices.Equal(applied, want) {
		t.Errorf("applied together %q, want each of %q once", applied, want)
	}
	c := connect(t, url)
	if got := count(t, c, `SELECT count(*) FROM schema_migration`); got != Latest() {
		t.Errorf("schema_migration has %d rows, want %d", got, Latest())
	}
	if got := count(t, c, `SELECT count(DISTINCT version) FROM schema_migration`); got != Latest() {
		t.Errorf("schema_migration has %d versions, want %d", got, Latest())
	}
	for _, s := range stores {
		if err := s.CheckSchema(ctx); err != nil {
			t.Errorf("CheckSchema: %v", err)
		}
	}
}
