package store

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/bounced/bounced/migrations"
)

// A migration is one numbered SQL file of the migrations package.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads migrations.FS in order of number. Numbers start at
// 1 and have no gaps.
func loadMigrations() ([]migration, error) {
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, f := range files {
		num, _, ok := strings.Cut(f, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: the name must be NNNN_name.sql", f)
		}
		b, err := fs.ReadFile(migrations.FS, f)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{v, strings.TrimSuffix(f, ".sql"), string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected number %d", m.name, i+1)
		}
	}
	return ms, nil
}

// Latest is the schema version this program needs.
func Latest() int {
	ms, err := loadMigrations()
	if err != nil {
		panic(err) // the files are embedded: a broken set fails every test
	}
	return len(ms)
}

// Migrate applies the migrations the database lacks, each in a transaction
// with its row in schema_migration, holding an advisory lock (on the
// current schema) so that several instances starting at once apply each
// migration once. It returns the names applied.
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	ms, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, dbError("migrating", err)
	}
	defer conn.Release()
	const lockKey = "hashtextextended('bounced.migrate:' || current_schema(), 0)"
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock("+lockKey+")"); err != nil {
		return nil, dbError("migrating: taking the migration lock", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock("+lockKey+")")

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migration (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, dbError("migrating: creating schema_migration", err)
	}
	current, err := version(ctx, conn)
	if err != nil {
		return nil, err
	}
	if current > len(ms) {
		return nil, fmt.Errorf("the database schema is at version %d, newer than this bounced knows (%d): upgrade bounced", current, len(ms))
	}
	var applied []string
	for _, m := range ms[current:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migration (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return applied, dbError("applying migration "+m.name, err)
		}
		applied = append(applied, m.name)
	}
	return applied, nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// version reads the schema version, 0 when nothing was applied.
func version(ctx context.Context, q querier) (int, error) {
	var v int
	err := q.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migration`).Scan(&v)
	return v, dbError("reading the schema version", err)
}

// CheckSchema returns an error wrapping ErrSchema unless the database has
// every migration this program knows.
func (s *Store) CheckSchema(ctx context.Context) error {
	v, err := version(ctx, s.pool)
	if err != nil {
		return err
	}
	if want := Latest(); v < want {
		return fmt.Errorf("the database schema is at version %d, this bounced needs %d: run `bounced migrate` (%w)", v, want, ErrSchema)
	}
	return nil
}
