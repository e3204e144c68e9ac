package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/bounced/bounced/internal/daemon"
	"github.com/bounced/bounced/internal/fetch"
)

// IMAPConfig holds how `bounced run` reads the mailboxes, for every
// account.
type IMAPConfig struct {
	// Timeout is the deadline of every IMAP command, connecting and
	// logging in included. Default 60s.
	Timeout duration `toml:"timeout"`
	// PollInterval is how often a mailbox is checked for new mail on a
	// server without IDLE, and the longest wait with IDLE. Default 60s.
	PollInterval duration `toml:"poll_interval"`
	// IdleRestart is how often IDLE is ended and started again. Default 5m.
	IdleRestart duration `toml:"idle_restart"`
	// BatchSize is the most messages fetched and saved in one transaction.
	// Default 1000.
	BatchSize int `toml:"batch_size"`
	// BatchBytes is the most bytes of messages held in one batch; with
	// max_message_bytes it bounds the memory used. Default 16777216.
	BatchBytes int64 `toml:"batch_bytes"`
	// MaxMessageBytes is the size cap: a larger message is read up to it,
	// analysed from its start, stored as unparseable ("oversized") and
	// gets the unparseable action. Default 16777216 (16 MiB).
	MaxMessageBytes int64 `toml:"max_message_bytes"`
	// ReconnectMin and ReconnectMax bound the wait, doubled after each
	// failure with jitter, before connecting again. Defaults 1s and 2m.
	ReconnectMin duration `toml:"reconnect_min"`
	ReconnectMax duration `toml:"reconnect_max"`
	// LockRetry is how often an instance on standby tries to take over a
	// mailbox that another instance works. Default 5s.
	LockRetry duration `toml:"lock_retry"`
	// StopTimeout bounds the time given to the batch in flight on
	// SIGTERM. Default 30s.
	StopTimeout duration `toml:"stop_timeout"`
}

// AccountConfig is one IMAP account ([[account]]).
type AccountConfig struct {
	// Name names the account in the tables, logs and metrics; it must be
	// unique and must not change once mail was read. Required.
	Name string `toml:"name"`
	// Address is the server's host:port. Required.
	Address string `toml:"address"`
	// Security is "tls" (implicit TLS, port 993), "starttls" (port 143)
	// or "plain" (no encryption: only with allow_plaintext). Default "tls".
	Security string `toml:"security"`
	// AllowPlaintext allows security = "plain". Default false.
	AllowPlaintext bool `toml:"allow_plaintext"`
	// CAFile is a PEM file of the certificate authorities to verify the
	// server with. Default: the system's. Verification is always on.
	CAFile string `toml:"ca_file"`
	// ServerName is the name to verify the certificate for. Default: the
	// host of Address.
	ServerName string `toml:"server_name"`
	// Username logs in. Required.
	Username string `toml:"username"`
	// Auth is "login" (the LOGIN command), "plain" (AUTHENTICATE PLAIN) or
	// "xoauth2" (Microsoft 365, Gmail). Default "login".
	Auth string `toml:"auth"`
	// Password for login and plain. The environment variable
	// BOUNCED_ACCOUNT_<NAME>_PASSWORD overrides it (NAME upper-cased,
	// characters other than letters and digits as "_"). Default: none.
	Password string `toml:"password"`
	// PasswordFile names a file holding the password. Default: none.
	PasswordFile string `toml:"password_file"`
	// TokenFile names a file holding an OAuth 2 access token for xoauth2,
	// read again at every connection (a token refresher rewrites it).
	TokenFile string `toml:"token_file"`
	// TokenCommand is a command printing the access token for xoauth2,
	// run at every connection, e.g. ["/usr/local/bin/get-token", "bounces"].
	TokenCommand []string `toml:"token_command"`
	// Mailboxes are the folders to read. Default ["INBOX"].
	Mailboxes []string `toml:"mailboxes"`
}

// ActionsConfig is what is done to a message once its rows are committed,
// by outcome: "none", "seen", "flag", "move:FOLDER" (created if missing)
// or "delete".
type ActionsConfig struct {
	// Bounce is for bounces. Default "seen".
	Bounce string `toml:"bounce"`
	// Other is for delay warnings, auto-replies, complaints and positive
	// notices. Default "none".
	Other string `toml:"other"`
	// NotBounce is for anything else. Default "none".
	NotBounce string `toml:"not_bounce"`
	// Unparseable is for messages that could not be analysed, or were
	// over imap.max_message_bytes. Default "none".
	Unparseable string `toml:"unparseable"`
}

// LogConfig says how `bounced run` logs.
type LogConfig struct {
	// Format is "text" or "json". Default "text".
	Format string `toml:"format"`
	// Level is "debug" (a line per message), "info" (a line per batch),
	// "warn" or "error". Default "info".
	Level string `toml:"level"`
}

// The daemon's defaults.
const (
	defaultIMAPTimeout     = 60 * time.Second
	defaultPollInterval    = 60 * time.Second
	defaultIdleRestart     = 5 * time.Minute
	defaultIMAPBatch       = 1000
	defaultBatchBytes      = 16 << 20
	defaultMaxMessageBytes = 16 << 20
	defaultReconnectMin    = time.Second
	defaultReconnectMax    = 2 * time.Minute
	defaultLockRetry       = 5 * time.Second
	defaultStopTimeout     = 30 * time.Second
)

func (c *Config) setDaemonDefaults() {
	m := &c.IMAP
	for _, d := range []struct {
		v   *duration
		def time.Duration
	}{
		{&m.Timeout, defaultIMAPTimeout}, {&m.PollInterval, defaultPollInterval}, {&m.IdleRestart, defaultIdleRestart},
		{&m.ReconnectMin, defaultReconnectMin}, {&m.ReconnectMax, defaultReconnectMax},
		{&m.LockRetry, defaultLockRetry}, {&m.StopTimeout, defaultStopTimeout},
	} {
		if *d.v == 0 {
			*d.v = duration(d.def)
		}
	}
	if m.BatchSize == 0 {
		m.BatchSize = defaultIMAPBatch
	}
	if m.BatchBytes == 0 {
		m.BatchBytes = defaultBatchBytes
	}
	if m.MaxMessageBytes == 0 {
		m.MaxMessageBytes = defaultMaxMessageBytes
	}
	for i := range c.Accounts {
		a := &c.Accounts[i]
		if a.Security == "" {
			a.Security = "tls"
		}
		if a.Auth == "" {
			a.Auth = "login"
		}
		if len(a.Mailboxes) == 0 {
			a.Mailboxes = []string{"INBOX"}
		}
	}
	act := &c.Actions
	if act.Bounce == "" {
		act.Bounce = "seen"
	}
	for _, s := range []*string{&act.Other, &act.NotBounce, &act.Unparseable} {
		if *s == "" {
			*s = "none"
		}
	}
	c.HTTP.setDefaults()
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
}

// validateDaemon checks the keys of `bounced run`, naming the bad one.
func (c *Config) validateDaemon() error {
	m := &c.IMAP
	if m.BatchSize < 1 || m.BatchSize > 10000 {
		return fmt.Errorf("imap.batch_size: %d is not between 1 and 10000", m.BatchSize)
	}
	if m.BatchBytes < 1<<20 {
		return fmt.Errorf("imap.batch_bytes: %d is less than 1048576", m.BatchBytes)
	}
	if m.MaxMessageBytes < 64<<10 {
		return fmt.Errorf("imap.max_message_bytes: %d is less than 65536", m.MaxMessageBytes)
	}
	if m.ReconnectMax < m.ReconnectMin {
		return fmt.Errorf("imap.reconnect_max: %s is less than imap.reconnect_min", m.ReconnectMax)
	}
	names := make(map[string]bool)
	for i := range c.Accounts {
		a := &c.Accounts[i]
		at := fmt.Sprintf("account[%d]", i)
		if a.Name == "" {
			return fmt.Errorf("%s.name: required", at)
		}
		at = fmt.Sprintf("account %q", a.Name)
		if names[a.Name] {
			return fmt.Errorf("%s: the name is given twice", at)
		}
		names[a.Name] = true
		if _, _, err := net.SplitHostPort(a.Address); err != nil {
			return fmt.Errorf("%s: address: %q is not host:port", at, a.Address)
		}
		switch a.Security {
		case "tls", "starttls":
		case "plain":
			if !a.AllowPlaintext {
				return fmt.Errorf("%s: security = \"plain\" sends the password unencrypted: set allow_plaintext = true to allow it", at)
			}
		default:
			return fmt.Errorf("%s: security: %q is not tls, starttls or plain", at, a.Security)
		}
		if a.Username == "" {
			return fmt.Errorf("%s: username: required", at)
		}
		switch a.Auth {
		case "login", "plain":
			if a.Password != "" && a.PasswordFile != "" {
				return fmt.Errorf("%s: give password or password_file, not both", at)
			}
		case "xoauth2":
			if (a.TokenFile == "") == (len(a.TokenCommand) == 0) {
				return fmt.Errorf("%s: auth = \"xoauth2\" needs token_file or token_command (one of them)", at)
			}
		default:
			return fmt.Errorf("%s: auth: %q is not login, plain or xoauth2", at, a.Auth)
		}
		seen := make(map[string]bool)
		for _, mb := range a.Mailboxes {
			if mb == "" || seen[mb] {
				return fmt.Errorf("%s: mailboxes: %q is empty or given twice", at, mb)
			}
			seen[mb] = true
		}
	}
	if _, err := c.Actions.actions(); err != nil {
		return err
	}
	if err := c.HTTP.validate(); err != nil {
		return err
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return fmt.Errorf("log.format: %q is not text or json", c.Log.Format)
	}
	if _, err := logLevel(c.Log.Level); err != nil {
		return err
	}
	return nil
}

// actions parses the action of each outcome.
func (a *ActionsConfig) actions() (map[daemon.Outcome]fetch.Action, error) {
	out := make(map[daemon.Outcome]fetch.Action)
	for _, o := range []struct {
		outcome daemon.Outcome
		value   string
	}{{daemon.Bounce, a.Bounce}, {daemon.Other, a.Other}, {daemon.NotBounce, a.NotBounce}, {daemon.Unparseable, a.Unparseable}} {
		act, err := fetch.ParseAction(o.value)
		if err != nil {
			return nil, fmt.Errorf("actions.%s: %w", o.outcome, err)
		}
		out[o.outcome] = act
	}
	return out, nil
}

func logLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log.level: %q is not debug, info, warn or error", s)
	}
	return l, nil
}

// accounts gives the fetch accounts with their secrets: the password from
// the environment (BOUNCED_ACCOUNT_<NAME>_PASSWORD), else the
// configuration, else password_file.
func (c *Config) accounts() ([]daemon.Mailbox, error) {
	var out []daemon.Mailbox
	for i := range c.Accounts {
		a := &c.Accounts[i]
		pw := a.Password
		if v := os.Getenv(passwordEnv(a.Name)); v != "" {
			pw = v
		} else if pw == "" && a.PasswordFile != "" {
			b, err := os.ReadFile(a.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("account %q: password_file: %w", a.Name, err)
			}
			pw = strings.TrimRight(string(b), "\r\n")
		}
		fa := fetch.Account{
			Name: a.Name, Address: a.Address, Security: a.Security, AllowPlaintext: a.AllowPlaintext,
			CAFile: a.CAFile, ServerName: a.ServerName, Username: a.Username, Auth: a.Auth, Password: pw,
			TokenFile: a.TokenFile, TokenCommand: a.TokenCommand,
			Timeout: time.Duration(c.IMAP.Timeout), IdleRestart: time.Duration(c.IMAP.IdleRestart),
		}
		for _, mb := range a.Mailboxes {
			out = append(out, daemon.Mailbox{Account: fa, Name: mb})
		}
	}
	return out, nil
}

// passwordEnv is the variable that overrides an account's password.
func passwordEnv(account string) string {
	return "BOUNCED_ACCOUNT_" + envName(account) + "_PASSWORD"
}

// envName is name upper-cased with every character but letters and
// digits made "_", as it goes into an environment variable's name.
func envName(name string) string {
	b := []byte(strings.ToUpper(name))
	for i, c := range b {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// daemonConfig is the daemon's configuration.
func (c *Config) daemonConfig() (daemon.Config, error) {
	mbs, err := c.accounts()
	if err != nil {
		return daemon.Config{}, err
	}
	acts, err := c.Actions.actions()
	if err != nil {
		return daemon.Config{}, err
	}
	m := &c.IMAP
	return daemon.Config{
		Mailboxes: mbs, Actions: acts, Poll: time.Duration(m.PollInterval),
		BatchSize: m.BatchSize, BatchBytes: m.BatchBytes, MaxMessageBytes: m.MaxMessageBytes,
		ReconnectMin: time.Duration(m.ReconnectMin), ReconnectMax: time.Duration(m.ReconnectMax),
		LockRetry: time.Duration(m.LockRetry), StopTimeout: time.Duration(m.StopTimeout),
	}, nil
}
