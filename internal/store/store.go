// Package store keeps bounced's results in PostgreSQL: the schema and its
// migrations, idempotent batch writes, the suppression list kept current as
// bounces arrive, the hygiene queries, retention and reclassification.
//
// Every method takes a context first and is safe for concurrent use.
// Driver errors are translated in one place (dbError) into messages that
// say what was being done.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bounced/bounced/internal/policy"
)

// ErrNotFound is returned when the thing asked for is not in the store.
var ErrNotFound = errors.New("not found")

// ErrSchema means the database's schema is missing or older than this
// program's: `bounced migrate` fixes it.
var ErrSchema = errors.New("database schema out of date")

// ErrUnavailable wraps the errors of a database that cannot be reached or
// is starting or shutting down: trying again later may work.
var ErrUnavailable = errors.New("database unavailable")

// Store is a handle on bounced's tables.
type Store struct {
	pool    *pgxpool.Pool
	policy  policy.Policy
	causes  []string // the causes the policy counts
	keepRaw bool
}

// Options configure a Store. The zero value is usable.
type Options struct {
	// Policy decides suppressions. Default: policy.Default().
	Policy policy.Policy
	// KeepRaw keeps each message's raw source, gzip-compressed, so that
	// `bounced reclassify` can run over it later.
	KeepRaw bool
	// MaxConns bounds the connection pool. Default: pgxpool's (the larger
	// of 4 and the number of CPUs).
	MaxConns int32
}

// Open connects to the database at url (a PostgreSQL URL or keyword/value
// string; search_path=SCHEMA puts the tables in a schema of their own). It
// checks that the server answers, not the schema: Migrate and
// CheckSchema do.
func Open(ctx context.Context, url string, opt Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	if opt.MaxConns > 0 {
		cfg.MaxConns = opt.MaxConns
	}
	// The hygiene queries are index probes: JIT compiling them costs more
	// than it saves.
	if cfg.ConnConfig.RuntimeParams["jit"] == "" {
		cfg.ConnConfig.RuntimeParams["jit"] = "off"
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "bounced"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, dbError("connecting to the database", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, dbError("connecting to the database", err)
	}
	p := opt.Policy
	if p == nil {
		p = policy.Default()
	}
	if err := p.Validate(); err != nil {
		pool.Close()
		return nil, fmt.Errorf("suppression policy: %w", err)
	}
	return &Store{pool: pool, policy: p, causes: p.Causes(), keepRaw: opt.KeepRaw}, nil
}

// Close closes the connections.
func (s *Store) Close() { s.pool.Close() }

// Policy is the suppression policy the store applies.
func (s *Store) Policy() policy.Policy { return s.policy }

// dbError says what was being done when the database failed, in words an
// operator can act on.
func dbError(doing string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", doing, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "42P01", "42703": // undefined_table, undefined_column
			return fmt.Errorf("%s: %s (%w: run `bounced migrate`)", doing, pe.Message, ErrSchema)
		case "23514": // check_violation
			if col := columnOf(pe.ConstraintName, pe.TableName); col != "" {
				return fmt.Errorf("%s: a value is outside what column %s allows (constraint %s on table %s): %w", doing, col, pe.ConstraintName, pe.TableName, err)
			}
			return fmt.Errorf("%s: the values of a row break constraint %s on table %s: %w", doing, pe.ConstraintName, pe.TableName, err)
		case "23502": // not_null_violation
			return fmt.Errorf("%s: column %s of table %s needs a value: %w", doing, pe.ColumnName, pe.TableName, err)
		case "23505": // unique_violation
			return fmt.Errorf("%s: already stored (%s): %w", doing, pe.ConstraintName, err)
		case "40P01": // deadlock_detected
			return fmt.Errorf("%s: deadlock, try again: %w", doing, err)
		case "57P01", "57P02", "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
			return fmt.Errorf("%s: %s (%w): %w", doing, pe.Message, ErrUnavailable, err)
		}
		if strings.HasPrefix(pe.Code, "08") { // connection_exception
			return fmt.Errorf("%s: %s (%w): %w", doing, pe.Message, ErrUnavailable, err)
		}
		return fmt.Errorf("%s: %w", doing, err)
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) || strings.Contains(err.Error(), "connect") {
		return fmt.Errorf("%s: the database is unreachable (%w): %w", doing, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// columnOf guesses the column of a CHECK constraint from PostgreSQL's
// default name, TABLE_COLUMN_check (with a number after it when taken). A
// table constraint, TABLE_check, is about several columns: "".
func columnOf(constraint, table string) string {
	c, ok := strings.CutPrefix(strings.TrimRight(constraint, "0123456789"), table+"_")
	if !ok {
		return ""
	}
	c, ok = strings.CutSuffix(c, "_check")
	if !ok {
		return ""
	}
	return c
}

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, doing string, fn func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return dbError(doing, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	return dbError(doing, tx.Commit(ctx))
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return dbError("reaching the database", s.pool.Ping(ctx))
}
