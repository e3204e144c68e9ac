package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/policy"
)

// affected gives the addresses of rows the policy may count, each once.
func (s *Store) affected(rows []added) []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range rows {
		counts := a.kind == "complaint" || a.kind == "bounce" && slices.Contains(s.causes, a.cause)
		if counts && a.recipient != "" && !seen[a.recipient] {
			seen[a.recipient] = true
			out = append(out, a.recipient)
		}
	}
	return out
}

// upkeep applies the policy to addrs from their stored rows and writes the
// verdicts. Addresses are locked (a transaction-scoped advisory lock each,
// in hash order) so that two batches about one address see each other's
// rows. With rebuild, a suppression the rows no longer support is removed,
// unless retention may have deleted some of the rows it rests on; without
// it, suppressions are only added or renewed, as fits new rows arriving.
// It returns the number of suppressions added or changed.
func (s *Store) upkeep(ctx context.Context, tx pgx.Tx, addrs []string, rebuild bool) (int, error) {
	if len(addrs) == 0 {
		return 0, nil
	}
	const doing = "updating suppressions"
	// The locks, then the rows and the releases, in one round trip: each
	// statement sees what was committed before it began, so the reads see
	// the rows of any batch that held a lock before.
	batch := &pgx.Batch{}
	batch.Queue(`SELECT pg_advisory_xact_lock(h) FROM
		(SELECT DISTINCT hashtextextended('bounced.address:' || a, 0) AS h FROM unnest($1::text[]) a) t ORDER BY h`, addrs)
	batch.Queue(`
		SELECT recipient, coalesce(cause, 'complaint'), coalesce(severity, ''), bounced_at, message
		FROM bounce
		WHERE recipient = ANY($1) AND scope = 'recipient'
		  AND (kind = 'complaint' OR kind = 'bounce' AND cause = ANY($2))`, addrs, s.causes)
	batch.Queue(`SELECT address, max(released_at) FROM release WHERE address = ANY($1) GROUP BY address`, addrs)
	events := make(map[string][]policy.Event, len(addrs))
	released := map[string]time.Time{}
	err := func() error {
		br := tx.SendBatch(ctx, batch)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			var (
				addr, reason, sev string
				e                 policy.Event
			)
			if err := rows.Scan(&addr, &reason, &sev, &e.At, &e.Message); err != nil {
				return err
			}
			e.Reason, e.Severity = policy.Reason(reason), classify.Severity(sev)
			events[addr] = append(events[addr], e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = br.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			var a string
			var t time.Time
			if err := rows.Scan(&a, &t); err != nil {
				return err
			}
			released[a] = t
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return br.Close()
	}()
	if err != nil {
		return 0, dbError(doing, err)
	}

	var (
		addr, dom, reason, rule []string
		at, first, last         []time.Time
		count                   []int32
		msg                     []int64
		gone                    []string
	)
	for _, a := range addrs {
		v, ok := s.policy.Evaluate(events[a], released[a])
		if !ok {
			gone = append(gone, a)
			continue
		}
		addr, dom, reason, rule = append(addr, a), append(dom, domainOf(a)), append(reason, string(v.Reason)), append(rule, v.Rule)
		at, first, last = append(at, v.At), append(first, v.First), append(last, v.Last)
		count, msg = append(count, int32(v.Count)), append(msg, v.Message)
	}
	var renewed int64
	if len(addr) > 0 {
		tag, err := tx.Exec(ctx, `
			INSERT INTO suppression AS s (address, domain, reason, suppressed_at, first_bounce, last_bounce,
				bounce_count, last_message, rule)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[],
				$6::timestamptz[], $7::integer[], $8::bigint[], $9::text[])
			ON CONFLICT (address) DO UPDATE SET reason = excluded.reason, suppressed_at = excluded.suppressed_at,
				first_bounce = excluded.first_bounce, last_bounce = excluded.last_bounce,
				bounce_count = excluded.bounce_count, last_message = excluded.last_message,
				rule = excluded.rule, updated_at = now()
			WHERE (s.reason, s.suppressed_at, s.first_bounce, s.last_bounce, s.bounce_count, s.last_message, s.rule)
				IS DISTINCT FROM (excluded.reason, excluded.suppressed_at, excluded.first_bounce,
				excluded.last_bounce, excluded.bounce_count, excluded.last_message, excluded.rule)`,
			addr, dom, reason, at, first, last, count, msg, rule)
		if err != nil {
			return 0, dbError(doing, err)
		}
		renewed = tag.RowsAffected() // those unchanged are not counted
	}
	if rebuild && len(gone) > 0 {
		// A suppression some of whose bounces retention may have deleted
		// stays: its message is gone, or its first bounce is older than a
		// day after the horizon of Cleanup (a bounce is dated at most a
		// day after its message arrived, bounceTime).
		_, err := tx.Exec(ctx, `
			DELETE FROM suppression s WHERE address = ANY($1)
			AND EXISTS (SELECT 1 FROM message m WHERE m.id = s.last_message)
			AND NOT EXISTS (SELECT 1 FROM setting WHERE name = $2
				AND s.first_bounce < value::timestamptz + interval '1 day')`, gone, horizonSetting)
		if err != nil {
			return 0, dbError(doing, err)
		}
	}
	return int(renewed), nil
}

// policySetting names the setting row holding the policy's fingerprint.
const policySetting = "suppression_policy"

// horizonSetting names the setting row holding the latest
// Retention.RowsBefore that Cleanup applied (RFC 3339): rows of messages
// received before it may be gone.
const horizonSetting = "rows_deleted_before"

// PolicyCurrent reports whether the suppression list was built with the
// store's policy; when it is not, ApplyPolicy rebuilds it.
func (s *Store) PolicyCurrent(ctx context.Context) (bool, error) {
	var v string
	err := s.pool.QueryRow(ctx, `SELECT value FROM setting WHERE name = $1`, policySetting).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		// A store with no bounces yet has nothing to rebuild.
		var any bool
		err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM bounce)`).Scan(&any)
		return !any, dbError("reading the suppression policy", err)
	}
	if err != nil {
		return false, dbError("reading the suppression policy", err)
	}
	return v == s.policy.Fingerprint(), nil
}

// ApplyPolicy makes the suppression list follow the store's policy: when
// the list was built with another policy, every address is evaluated again
// (RebuildSuppressions). It reports whether it rebuilt.
func (s *Store) ApplyPolicy(ctx context.Context) (bool, error) {
	ok, err := s.PolicyCurrent(ctx)
	if err != nil || ok {
		if err == nil {
			err = s.setPolicy(ctx)
		}
		return false, err
	}
	if err := s.RebuildSuppressions(ctx, nil); err != nil {
		return false, err
	}
	return true, s.setPolicy(ctx)
}

func (s *Store) setPolicy(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO setting (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, policySetting, s.policy.Fingerprint())
	return dbError("saving the suppression policy", err)
}

// RebuildSuppressions evaluates the policy again for every address that
// has rows, a few thousand addresses a transaction. progress, when set, is
// told how many were done. Suppressions whose rows retention may have
// deleted, even in part, stay.
func (s *Store) RebuildSuppressions(ctx context.Context, progress func(done int)) error {
	const chunk = 5000
	after, done := "", 0
	for {
		rows, err := s.pool.Query(ctx, `
			SELECT address FROM (
				(SELECT DISTINCT recipient AS address FROM bounce WHERE recipient > $1 AND recipient <> ''
					ORDER BY 1 LIMIT $2)
				UNION (SELECT address FROM suppression WHERE address > $1 ORDER BY 1 LIMIT $2)) t
			ORDER BY address LIMIT $2`, after, chunk)
		if err != nil {
			return dbError("rebuilding suppressions", err)
		}
		addrs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return dbError("rebuilding suppressions", err)
		}
		if len(addrs) == 0 {
			return nil
		}
		err = s.inTx(ctx, "rebuilding suppressions", func(tx pgx.Tx) error {
			_, err := s.upkeep(ctx, tx, addrs, true)
			return err
		})
		if err != nil {
			return err
		}
		done += len(addrs)
		after = addrs[len(addrs)-1]
		if progress != nil {
			progress(done)
		}
	}
}

// Release is the record of an unsuppressed address.
type Release struct {
	Address    string
	ReleasedAt time.Time
	Reason, By string
	// Was is the suppression lifted.
	Was Suppression
}

// Unsuppress lifts the suppression of address, keeping a release row for
// audit; only bounces after now count against the address again. It
// returns ErrNotFound when the address is not suppressed.
func (s *Store) Unsuppress(ctx context.Context, address, reason, by string) (Release, error) {
	if reason == "" {
		return Release{}, fmt.Errorf("unsuppressing %s: a reason is required", address)
	}
	address = normalize(address)
	if address == "" {
		return Release{}, fmt.Errorf("unsuppressing: not an address")
	}
	r := Release{Address: address, Reason: reason, By: by}
	err := s.inTx(ctx, "unsuppressing "+address, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('bounced.address:' || $1::text, 0))`, address); err != nil {
			return dbError("unsuppressing "+address, err)
		}
		w := &r.Was
		err := tx.QueryRow(ctx, `DELETE FROM suppression WHERE address = $1
			RETURNING address, domain, reason, rule, suppressed_at, first_bounce, last_bounce, bounce_count, coalesce(last_message, 0)`,
			address).Scan(&w.Address, &w.Domain, &w.Reason, &w.Rule, &w.SuppressedAt, &w.FirstBounce, &w.LastBounce, &w.Count, &w.LastMessage)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%s is not suppressed: %w", address, ErrNotFound)
		}
		if err != nil {
			return dbError("unsuppressing "+address, err)
		}
		err = tx.QueryRow(ctx, `INSERT INTO release (address, reason, released_by, was_reason, was_suppressed_at, was_count)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING released_at`,
			address, clean(reason), clean(by), w.Reason, w.SuppressedAt, w.Count).Scan(&r.ReleasedAt)
		return dbError("unsuppressing "+address, err)
	})
	return r, err
}
