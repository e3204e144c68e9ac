package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/bounced/bounced/internal/store"
)

// dbFlags are the flags of every command that uses the database.
type dbFlags struct {
	config *string
	db     *string
}

func addDBFlags(fs *flag.FlagSet) *dbFlags {
	return &dbFlags{
		config: fs.String("config", "", "read the configuration from `FILE` (see config.example.toml)"),
		db:     fs.String("db", "", "the database `URL`, over the configuration and the environment"),
	}
}

// open loads the configuration and opens the store it names. Unless
// migrating, the schema must be current.
func (f *dbFlags) open(ctx context.Context, migrating bool) (*Config, *store.Store, error) {
	cfg, err := loadConfig(*f.config)
	if err != nil {
		return nil, nil, err
	}
	url := *f.db
	if url == "" {
		if url, err = cfg.databaseURL(); err != nil {
			return nil, nil, &configError{*f.config, err}
		}
	}
	opt, err := cfg.storeOptions()
	if err != nil {
		return nil, nil, &configError{*f.config, err}
	}
	st, err := store.Open(ctx, url, opt)
	if err != nil {
		return nil, nil, err
	}
	if !migrating {
		if err := st.CheckSchema(ctx); err != nil {
			st.Close()
			return nil, nil, err
		}
	}
	return cfg, st, nil
}

// storeOptions are the store's options the configuration gives.
func (c *Config) storeOptions() (store.Options, error) {
	p, err := c.policy()
	if err != nil {
		return store.Options{}, err
	}
	return store.Options{Policy: p, KeepRaw: *c.Store.KeepRaw, MaxConns: c.Database.MaxConns}, nil
}

// warnStalePolicy says so when the suppression list was built with
// another policy than the configured one.
func warnStalePolicy(ctx context.Context, st *store.Store, stderr io.Writer) {
	ok, err := st.PolicyCurrent(ctx)
	if err == nil && !ok {
		fmt.Fprintf(stderr, "bounced: warning: the suppression list was built with another policy than the configured one; `bounced migrate` rebuilds it\n")
	}
}

const migrateDoc = `Create or upgrade bounced's tables: apply the numbered migrations the
database lacks, each in a transaction, under an advisory lock so that
instances starting together apply each once. Then, when the suppression
policy of the configuration differs from the one the list was built with,
rebuild the list.`

// runMigrate is `bounced migrate`.
func runMigrate(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", "[--config FILE] [--db URL]", migrateDoc, stderr)
	df := addDBFlags(fs)
	if ops, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(ops) > 0 {
		return &usageError{msg: "migrate takes no operands"}
	}
	_, st, err := df.open(ctx, true)
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	for _, name := range applied {
		fmt.Fprintf(stdout, "applied %s\n", name)
	}
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "schema is up to date (version %d)\n", store.Latest())
	}
	rebuilt, err := st.ApplyPolicy(ctx)
	if err != nil {
		return err
	}
	if rebuilt {
		fmt.Fprintf(stdout, "suppression list rebuilt for the policy: %s\n", st.Policy().Fingerprint())
	}
	return nil
}
