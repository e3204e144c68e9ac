package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// logoutTimeout bounds the LOGOUT that Close sends, whatever Account.Timeout.
const logoutTimeout = 5 * time.Second

// Client is a logged-in connection to one IMAP account.
type Client struct {
	name        string
	timeout     time.Duration
	idleRestart time.Duration
	conn        *deadlineConn
	imap        *imapclient.Client
	caps        Caps
	newMail     chan struct{} // a value waits here once the server reported EXISTS

	selected string          // the selected mailbox, "" when none
	folders  map[string]bool // folders known to exist: created or moved into

	busy atomic.Bool // a command is running; Close then aborts it rather than log out

	mu     sync.Mutex
	broken error // why c can no longer be used; nil while it can
	closed bool  // Close was called
}

// Dial connects to the account's server, sets up TLS as configured, and logs
// in. ctx bounds the whole of it; Account.Timeout bounds each step.
//
// For Auth "xoauth2" the token is read (TokenFile) or made (TokenCommand)
// again at every Dial.
func Dial(ctx context.Context, a Account) (*Client, error) {
	c, err := dial(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("imap account %q: %w", a.Name, err)
	}
	return c, nil
}

func dial(ctx context.Context, a Account) (*Client, error) {
	security := a.Security
	switch security {
	case "":
		security = "tls"
	case "tls", "starttls":
	case "plain":
		if !a.AllowPlaintext {
			return nil, errors.New(`security "plain" refused: it sends the password in clear text, and plain text is not allowed for this account`)
		}
	default:
		return nil, fmt.Errorf(`unknown security %q: want "tls", "starttls" or "plain"`, a.Security)
	}
	timeout := a.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	idleRestart := a.IdleRestart
	if idleRestart <= 0 {
		idleRestart = DefaultIdleRestart
	}
	host, _, err := net.SplitHostPort(a.Address)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", a.Address, err)
	}
	var tlsConfig *tls.Config
	if security != "plain" {
		if tlsConfig, err = a.tlsConfig(host); err != nil {
			return nil, err
		}
	}
	// Before connecting: running a token command must not eat into the
	// server's time.
	auth, err := a.saslClient(ctx, timeout)
	if err != nil {
		return nil, err
	}

	dialer := net.Dialer{Timeout: timeout}
	raw, err := dialer.DialContext(ctx, "tcp", a.Address)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", a.Address, err)
	}
	conn := &deadlineConn{Conn: raw}
	c := &Client{
		name:        a.Name,
		timeout:     timeout,
		idleRestart: idleRestart,
		conn:        conn,
		newMail:     make(chan struct{}, 1),
		folders:     make(map[string]bool),
	}
	stop := context.AfterFunc(ctx, conn.abort)
	err = c.open(ctx, a, security, tlsConfig, auth)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		conn.abort()
		raw.Close()
		return nil, err
	}
	conn.clear()
	return c, nil
}

// open does the IMAP part of Dial on c.conn: TLS, greeting, login,
// capabilities. Each step gets c.timeout.
func (c *Client) open(ctx context.Context, a Account, security string, tlsConfig *tls.Config, auth sasl.Client) error {
	options := &imapclient.Options{
		TLSConfig: tlsConfig,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					select {
					case c.newMail <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	c.conn.extend(c.timeout)
	switch security {
	case "tls":
		tlsConfig.NextProtos = []string{"imap"} // RFC 9051 section 13
		tlsConn := tls.Client(c.conn, tlsConfig)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS handshake with %s: %w", a.Address, err)
		}
		c.imap = imapclient.New(tlsConn, options)
	case "starttls":
		// NewStartTLS sends STARTTLS whatever the server advertises, so a
		// server or attacker that hides STARTTLS gets a refusal, not the
		// password.
		cl, err := imapclient.NewStartTLS(c.conn, options)
		if err != nil {
			return fmt.Errorf("STARTTLS with %s: %w", a.Address, err)
		}
		c.imap = cl
	default:
		c.imap = imapclient.New(c.conn, options)
	}
	if err := c.imap.WaitGreeting(); err != nil {
		return fmt.Errorf("reading the greeting of %s: %w", a.Address, err)
	}

	if c.imap.State() != imap.ConnStateAuthenticated { // else PREAUTH
		c.conn.extend(c.timeout)
		var err error
		if auth == nil {
			err = c.imap.Login(a.Username, a.Password).Wait()
		} else {
			err = c.imap.Authenticate(auth)
		}
		if err != nil {
			return fmt.Errorf("logging in as %q: %w", a.Username, err)
		}
	}

	c.conn.extend(c.timeout)
	caps := c.imap.Caps()
	if caps == nil {
		return errors.New("reading capabilities: no answer")
	}
	c.caps = Caps{
		Move:    caps.Has(imap.CapMove),
		UIDPlus: caps.Has(imap.CapUIDPlus),
		Idle:    caps.Has(imap.CapIdle),
	}
	return nil
}

// tlsConfig is the TLS configuration for a server whose address has host.
func (a Account) tlsConfig(host string) (*tls.Config, error) {
	config := &tls.Config{ServerName: host}
	if a.ServerName != "" {
		config.ServerName = a.ServerName
	}
	if a.CAFile != "" {
		pem, err := os.ReadFile(a.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("reading CA file %s: no PEM certificate in it", a.CAFile)
		}
		config.RootCAs = pool
	}
	return config, nil
}

// Caps returns what the server said it can do after login.
func (c *Client) Caps() Caps { return c.caps }

// Close logs out and closes the connection. Called while another call is in
// progress (from another goroutine), it aborts that call instead of logging
// out. Close on a Client that is already dead or closed returns nil.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	alive := c.broken == nil
	if alive {
		c.broken = errClosedByCaller
	}
	c.mu.Unlock()

	if !alive || c.busy.Load() {
		// No waiting for imapclient's reader here: it may be handing data
		// to the call in progress, even to its fn, and ends once it reads
		// from the closed connection.
		c.conn.abort()
		_ = c.conn.Conn.Close()
		return nil
	}
	c.conn.extend(min(c.timeout, logoutTimeout))
	err := c.imap.Logout().Wait()
	// Its error says no more than the LOGOUT's: the reader saw the
	// connection end, one way or another.
	_ = c.imap.Close()
	if err != nil {
		return fmt.Errorf("imap account %q: logging out: %w", c.name, err)
	}
	return nil
}
