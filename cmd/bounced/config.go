package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
	"github.com/bounced/bounced/internal/policy"
)

// Config is bounced's configuration, read from a TOML file
// (config.example.toml documents every key). The zero value holds the
// defaults; a key left out keeps its default.
type Config struct {
	// Parse holds the options of the bounce parser.
	Parse ParseConfig `toml:"parse"`
	// Classify holds the user's classification rules.
	Classify ClassifyConfig `toml:"classify"`
	// Database says where the tables are.
	Database DatabaseConfig `toml:"database"`
	// Store holds what is kept of each message.
	Store StoreConfig `toml:"store"`
	// Suppress overrides the suppression policy, one table per reason
	// ([suppress.mailbox_full]); a key left out keeps the default.
	Suppress map[string]SuppressConfig `toml:"suppress"`
	// Retention is what `bounced cleanup` deletes when run without flags.
	Retention RetentionConfig `toml:"retention"`
	// IMAP holds how `bounced run` reads the mailboxes.
	IMAP IMAPConfig `toml:"imap"`
	// Accounts are the IMAP accounts `bounced run` reads ([[account]]).
	Accounts []AccountConfig `toml:"account"`
	// Actions is what `bounced run` does to a message once it is stored.
	Actions ActionsConfig `toml:"actions"`
	// HTTP is where `bounced run` serves its metrics and health checks.
	HTTP HTTPConfig `toml:"http"`
	// Log says how `bounced run` logs.
	Log LogConfig `toml:"log"`
}

// DatabaseConfig says how to reach PostgreSQL.
type DatabaseConfig struct {
	// URL is a PostgreSQL URL or keyword/value string. The environment
	// variable BOUNCED_DATABASE_URL overrides it. Default: URLFile, else
	// the environment's DATABASE_URL, else
	// postgres://127.0.0.1:5432/bounced.
	URL string `toml:"url"`
	// URLFile names a file holding the URL (e.g. a systemd credential),
	// for keeping a password out of the configuration. Default: none.
	URLFile string `toml:"url_file"`
	// MaxConns bounds the connection pool. Default 0: the larger of 4
	// and the number of CPUs.
	MaxConns int32 `toml:"max_conns"`
}

// StoreConfig says what is kept of each message.
type StoreConfig struct {
	// KeepRaw keeps each message's raw source, gzip-compressed, for
	// `bounced reclassify`. Default true.
	KeepRaw *bool `toml:"keep_raw"`
	// BatchSize is the number of messages written per transaction by
	// import and reclassify. Default 1000.
	BatchSize int `toml:"batch_size"`
}

// SuppressConfig is the rule of one reason (a recipient-scope cause or
// "complaint"): Count bounces, the first and last at least Span apart,
// all within Window. Keys left out keep the default of policy.Default.
type SuppressConfig struct {
	// Count of bounces needed; 0 turns the reason off.
	Count *int `toml:"count"`
	// Severity that counts: "hard" or "any".
	Severity string `toml:"severity"`
	// Span is the least time between the first and last bounce counted.
	Span *duration `toml:"span"`
	// Window is the most time the counted bounces may spread over; "0"
	// for no limit.
	Window *duration `toml:"window"`
}

// RetentionConfig is what `bounced cleanup` deletes when run without
// flags; "0" keeps everything.
type RetentionConfig struct {
	// RawOlderThan drops the raw source of messages older than it.
	// Default 0: kept.
	RawOlderThan duration `toml:"raw_older_than"`
	// RowsOlderThan deletes messages older than it with their recipient
	// rows; suppressions and daily counts stay. Default 0: kept.
	RowsOlderThan duration `toml:"rows_older_than"`
}

// ParseConfig holds the options of the bounce parser (dsn.Parser).
type ParseConfig struct {
	// CorrelationHeaders names headers of the original message to report
	// (e.g. "X-Campaign-ID"), matched without case. Default: none.
	CorrelationHeaders []string `toml:"correlation_headers"`
	// VERP, when the [parse.verp] table is present, decodes the recipient
	// from the address a notice was sent to. Default: absent, VERP off.
	VERP *VERPConfig `toml:"verp"`
	// MaxBytes bounds the bytes read of one message; larger messages are
	// parsed up to the bound and reported damaged. Default 0, meaning
	// 134217728 (128 MiB).
	MaxBytes int64 `toml:"max_bytes"`
}

// VERPConfig describes a VERP envelope sender such as
// bounces+alice=example.com@lists.example.org.
type VERPConfig struct {
	// Separator comes between the prefix and the encoded recipient.
	// Default "+".
	Separator string `toml:"separator"`
	// At stands for the "@" of the encoded recipient. Default "=".
	At string `toml:"at"`
	// Prefixes, when given, are the local-part prefixes ("bounces") that
	// mark a VERP address; others are left alone. Default: none, any
	// local part with Separator is decoded.
	Prefixes []string `toml:"prefixes"`
}

// ClassifyConfig holds the classification options.
type ClassifyConfig struct {
	// Rules are the user's rules, tried in order before the built-in ones
	// ([[classify.rule]] tables). Default: none.
	Rules []classify.Rule `toml:"rule"`
}

// The defaults that the zero value stands for.
const (
	defaultDatabaseURL   = "postgres://127.0.0.1:5432/bounced"
	defaultBatchSize     = 1000
	defaultMaxBytes      = 128 << 20
	defaultVERPSeparator = "+"
	defaultVERPAt        = "="
)

// errConfig marks configuration errors: they exit with the usage code.
var errConfig = errors.New("configuration")

// configError is an error in the configuration file.
type configError struct {
	path string
	err  error
}

func (e *configError) Error() string { return fmt.Sprintf("config %s: %v", e.path, e.err) }
func (e *configError) Unwrap() error { return e.err }
func (e *configError) Is(target error) bool {
	return target == errConfig
}

// loadPipeline loads the configuration at path and builds the parser and
// the classifier it describes; a bad rule is a configuration error.
func loadPipeline(path string) (*Config, *dsn.Parser, *classify.Classifier, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, nil, nil, err
	}
	cl, err := cfg.classifier()
	if err != nil {
		return nil, nil, nil, &configError{path, err}
	}
	return cfg, cfg.parser(), cl, nil
}

// loadConfig reads the configuration file at path; "" gives the defaults.
// Unknown keys and values of the wrong type are errors giving the line and
// column; a bad value is an error naming the key.
func loadConfig(path string) (*Config, error) {
	c := new(Config)
	if path == "" {
		c.setDefaults()
		return c, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &configError{path, fmt.Errorf("reading: %w", err)}
	}
	if err := c.decode(b); err != nil {
		return nil, &configError{path, err}
	}
	c.setDefaults()
	if err := c.validate(); err != nil {
		return nil, &configError{path, err}
	}
	return c, nil
}

// decode reads TOML strictly into c.
func (c *Config) decode(b []byte) error {
	d := toml.NewDecoder(bytes.NewReader(b)).DisallowUnknownFields()
	err := d.Decode(c)
	var strict *toml.StrictMissingError
	var de *toml.DecodeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &strict):
		msgs := make([]string, len(strict.Errors))
		for i := range strict.Errors {
			e := &strict.Errors[i]
			line, col := e.Position()
			msgs[i] = fmt.Sprintf("line %d, column %d: unknown key %s", line, col, strings.Join(e.Key(), "."))
		}
		return errors.New(strings.Join(msgs, "; "))
	case errors.As(err, &de):
		line, col := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if k := de.Key(); len(k) > 0 {
			return fmt.Errorf("line %d, column %d: %s: %s", line, col, strings.Join(k, "."), msg)
		}
		return fmt.Errorf("line %d, column %d: %s", line, col, msg)
	default:
		return fmt.Errorf("decoding: %w", err)
	}
}

// setDefaults fills in the defaults of the keys that were left out.
func (c *Config) setDefaults() {
	if c.Store.KeepRaw == nil {
		keep := true
		c.Store.KeepRaw = &keep
	}
	if c.Store.BatchSize == 0 {
		c.Store.BatchSize = defaultBatchSize
	}
	if c.Parse.MaxBytes == 0 {
		c.Parse.MaxBytes = defaultMaxBytes
	}
	c.setDaemonDefaults()
	if v := c.Parse.VERP; v != nil {
		if v.Separator == "" {
			v.Separator = defaultVERPSeparator
		}
		if v.At == "" {
			v.At = defaultVERPAt
		}
	}
}

// validate checks the values, naming the bad key.
func (c *Config) validate() error {
	p := &c.Parse
	if p.MaxBytes < 0 {
		return fmt.Errorf("parse.max_bytes: %d is negative", p.MaxBytes)
	}
	for i, h := range p.CorrelationHeaders {
		if !isFieldName(h) {
			return fmt.Errorf("parse.correlation_headers[%d]: %q is not a header field name", i, h)
		}
	}
	if v := p.VERP; v != nil {
		if v.Separator == v.At {
			return fmt.Errorf("parse.verp.at: %q is the same as parse.verp.separator", v.At)
		}
		if strings.Contains(v.Separator, "@") {
			return fmt.Errorf("parse.verp.separator: %q contains @", v.Separator)
		}
		if strings.Contains(v.At, "@") {
			return fmt.Errorf("parse.verp.at: %q contains @", v.At)
		}
		for i, pre := range v.Prefixes {
			if pre == "" || strings.ContainsAny(pre, "@ \t") {
				return fmt.Errorf("parse.verp.prefixes[%d]: %q is not a local-part prefix", i, pre)
			}
		}
	}
	if err := classify.CheckRules(c.Classify.Rules); err != nil {
		return fmt.Errorf("classify rules: %w", err)
	}
	if c.Store.BatchSize < 0 || c.Store.BatchSize > 10000 {
		return fmt.Errorf("store.batch_size: %d is not between 1 and 10000", c.Store.BatchSize)
	}
	if c.Database.MaxConns < 0 {
		return fmt.Errorf("database.max_conns: %d is negative", c.Database.MaxConns)
	}
	if c.Database.URL != "" && c.Database.URLFile != "" {
		return fmt.Errorf("database.url_file: give url or url_file, not both")
	}
	if _, err := c.policy(); err != nil {
		return err
	}
	return c.validateDaemon()
}

// policy is the default suppression policy with the [suppress] tables
// laid over it.
func (c *Config) policy() (policy.Policy, error) {
	p := policy.Default()
	for name, sc := range c.Suppress {
		r := policy.Reason(name)
		if !r.Valid() {
			err := fmt.Errorf("suppress.%s: not a reason: one of %v", name, policy.Reasons())
			if cl := classify.Cause(name); cl.Valid() {
				err = fmt.Errorf("suppress.%s: a cause of %s scope says nothing about the address and never suppresses it", name, cl.Scope())
			}
			return nil, err
		}
		rule := p[r]
		if sc.Count != nil {
			rule.Count = *sc.Count
		}
		switch sc.Severity {
		case "":
		case "hard":
			rule.HardOnly = true
		case "any":
			rule.HardOnly = false
		default:
			return nil, fmt.Errorf("suppress.%s.severity: %q is not hard or any", name, sc.Severity)
		}
		if sc.Span != nil {
			rule.Span = time.Duration(*sc.Span)
		}
		if sc.Window != nil {
			rule.Window = time.Duration(*sc.Window)
		}
		p[r] = rule
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("suppress.%w", err)
	}
	return p, nil
}

// databaseURL says where the tables are: BOUNCED_DATABASE_URL, else
// database.url, else the file database.url_file, else DATABASE_URL, else
// the default.
func (c *Config) databaseURL() (string, error) {
	if u := os.Getenv("BOUNCED_DATABASE_URL"); u != "" {
		return u, nil
	}
	if c.Database.URL != "" {
		return c.Database.URL, nil
	}
	if f := c.Database.URLFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("database.url_file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u, nil
	}
	return defaultDatabaseURL, nil
}

// isFieldName reports whether s is an RFC 5322 2.2 field name: printable
// US-ASCII except colon.
func isFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 || s[i] == ':' {
			return false
		}
	}
	return true
}

// parser builds the bounce parser the configuration describes.
func (c *Config) parser() *dsn.Parser {
	p := &dsn.Parser{
		CorrelationHeaders: c.Parse.CorrelationHeaders,
		MaxBytes:           c.Parse.MaxBytes,
	}
	if v := c.Parse.VERP; v != nil {
		p.VERP = &dsn.VERP{Separator: v.Separator, At: v.At, Prefixes: v.Prefixes}
	}
	return p
}

// classifier compiles the built-in rules with the user's. A bad rule is an
// error naming it.
func (c *Config) classifier() (*classify.Classifier, error) {
	cl, err := classify.New(c.Classify.Rules)
	if err != nil {
		return nil, fmt.Errorf("classify rules: %w", err)
	}
	return cl, nil
}
