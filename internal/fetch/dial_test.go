package fetch

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selectInbox checks that c works: it can select INBOX.
func selectInbox(t *testing.T, c *Client) {
	t.Helper()
	if _, err := c.Select(context.Background(), "INBOX"); err != nil {
		t.Errorf("Select: %v", err)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	pki := newPKI(t)
	implicit := startServer(t, serverOptions{implicitTLS: pki.server})
	startTLS := startServer(t, serverOptions{startTLS: pki.server})

	tlsAccount := func(ts *testServer, security string) Account {
		a := ts.account()
		a.Security, a.AllowPlaintext, a.CAFile = security, false, pki.caFile
		return a
	}

	t.Run("implicit", func(t *testing.T) {
		a := tlsAccount(implicit, "tls")
		selectInbox(t, mustDial(t, a))
		a.Security = "" // the default
		selectInbox(t, mustDial(t, a))
	})
	t.Run("starttls", func(t *testing.T) {
		// The server refuses LOGIN without TLS: a working session proves
		// the upgrade.
		selectInbox(t, mustDial(t, tlsAccount(startTLS, "starttls")))
	})
	t.Run("server name", func(t *testing.T) {
		a := tlsAccount(implicit, "tls")
		a.ServerName = "imap.test" // in the certificate
		selectInbox(t, mustDial(t, a))
	})

	bad := []struct {
		name   string
		change func(*Account)
		is     func(error) bool
	}{
		{"no CA file", func(a *Account) { a.CAFile = "" }, isUnknownAuthority},
		{"starttls no CA file", func(a *Account) { a.Address, a.Security, a.CAFile = startTLS.addr, "starttls", "" }, isUnknownAuthority},
		{"wrong server name", func(a *Account) { a.ServerName = "imap.example.org" }, isHostnameError},
		{"plain server", func(a *Account) { a.Address = startTLS.addr }, isTLSError},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			a := tlsAccount(implicit, "tls")
			a.Timeout = 2 * time.Second
			tt.change(&a)
			c, err := Dial(context.Background(), a)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if !tt.is(err) {
				t.Errorf("Dial: %v (%T), not the expected TLS error", err, errors.Unwrap(err))
			}
			if !strings.Contains(err.Error(), `imap account "test"`) {
				t.Errorf("Dial: %v does not name the account", err)
			}
		})
	}

	t.Run("bad CA file", func(t *testing.T) {
		a := tlsAccount(implicit, "tls")
		a.CAFile = filepath.Join(t.TempDir(), "ca.pem")
		os.WriteFile(a.CAFile, []byte("not PEM"), 0o600)
		if _, err := Dial(context.Background(), a); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
			t.Errorf("Dial = %v, want a CA file error", err)
		}
	})
}

func isUnknownAuthority(err error) bool {
	var e *tls.CertificateVerificationError
	return errors.As(err, &e) && strings.Contains(e.Error(), "unknown authority")
}

func isHostnameError(err error) bool {
	var e *tls.CertificateVerificationError
	return errors.As(err, &e) && strings.Contains(e.Error(), "imap.example.org")
}

func isTLSError(err error) bool {
	var e tls.RecordHeaderError
	return errors.As(err, &e) || strings.Contains(err.Error(), "TLS handshake")
}

func TestPlaintextRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a := Account{Name: "test", Address: ln.Addr().String(), Security: "plain", Username: "u", Password: "p"}
	_, err = Dial(context.Background(), a)
	if err == nil || !strings.Contains(err.Error(), `security "plain" refused`) {
		t.Fatalf("Dial = %v, want plain text refused", err)
	}
	// Refused before connecting: nobody knocked.
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(100 * time.Millisecond))
	if conn, err := ln.Accept(); err == nil {
		conn.Close()
		t.Errorf("Dial connected before refusing")
	}
}

func TestDialBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*Account)
		want   string
	}{
		{"security", func(a *Account) { a.Security = "ssl" }, `unknown security "ssl"`},
		{"auth", func(a *Account) { a.Auth = "cram-md5" }, `unknown auth "cram-md5"`},
		{"address", func(a *Account) { a.Address = "localhost" }, `address "localhost"`},
		{"no token", func(a *Account) { a.Auth = "xoauth2" }, "needs TokenFile or TokenCommand"},
		{"both tokens", func(a *Account) { a.Auth, a.TokenFile, a.TokenCommand = "xoauth2", "f", []string{"echo"} }, "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Account{Name: "test", Address: "127.0.0.1:1", Security: "plain", AllowPlaintext: true}
			tt.change(&a)
			if _, err := Dial(context.Background(), a); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Dial = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})

	t.Run("login", func(t *testing.T) {
		selectInbox(t, mustDial(t, ts.account()))
	})
	t.Run("plain", func(t *testing.T) {
		a := ts.account()
		a.Auth = "plain"
		selectInbox(t, mustDial(t, a))
		if got := ts.commands("AUTHENTICATE PLAIN"); len(got) != 1 {
			t.Errorf("AUTHENTICATE PLAIN sent %d times", len(got))
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		for _, auth := range []string{"login", "plain"} {
			a := ts.account()
			a.Auth, a.Password = auth, "wrong"
			_, err := Dial(context.Background(), a)
			if err == nil || !strings.Contains(err.Error(), `logging in as "bounces"`) {
				t.Errorf("%s: Dial = %v, want a login error", auth, err)
			}
		}
	})
}

func TestXOAUTH2(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	seen := 0
	expectToken := func(t *testing.T, want string) {
		t.Helper()
		if got := ts.token(seen); got != want {
			t.Errorf("server got token %q, want %q", got, want)
		}
		seen++
	}
	account := func() Account {
		a := ts.account()
		a.Auth, a.Password = "xoauth2", ""
		return a
	}

	// Each Dial reads the file again.
	file := filepath.Join(t.TempDir(), "token")
	a := account()
	a.TokenFile = file
	os.WriteFile(file, []byte("good-1\n"), 0o600)
	selectInbox(t, mustDial(t, a))
	expectToken(t, "good-1")
	os.WriteFile(file, []byte("  good-2  \n"), 0o600)
	selectInbox(t, mustDial(t, a))
	expectToken(t, "good-2")

	// A refused token: the server's JSON explains.
	os.WriteFile(file, []byte("bad-3"), 0o600)
	_, err := Dial(context.Background(), a)
	if err == nil || !strings.Contains(err.Error(), `\"status\":\"401\"`) {
		t.Errorf("Dial with a bad token = %v, want the server's 401", err)
	}
	if strings.Contains(err.Error(), "bad-3") {
		t.Errorf("the error shows the token: %v", err)
	}
	expectToken(t, "bad-3")

	// A command, run at each Dial.
	a = account()
	a.TokenCommand = []string{"/bin/sh", "-c", "echo good-$((2+2))"}
	selectInbox(t, mustDial(t, a))
	expectToken(t, "good-4")
	a.TokenCommand = []string{"echo", "good-5"}
	selectInbox(t, mustDial(t, a))
	expectToken(t, "good-5")

	for _, tt := range []struct {
		argv []string
		want string
	}{
		{[]string{"/bin/sh", "-c", "echo no refresh token >&2; exit 3"}, `exit status 3: "no refresh token"`},
		{[]string{"/bin/sh", "-c", "echo"}, "no token"},
		{[]string{"/bin/sh", "-c", "echo good-6; echo good-7"}, "more than one line"},
		{[]string{"/bin/sh", "-c", "exec sleep 5"}, "context deadline exceeded"},
		{[]string{"/nonexistent/token-helper"}, "no such file"},
	} {
		a.TokenCommand = tt.argv
		a.Timeout = 300 * time.Millisecond
		_, err := Dial(context.Background(), a)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "token command") {
			t.Errorf("token command %q: Dial = %v, want %q", tt.argv, err, tt.want)
		}
	}
	if got := ts.token(seen); got != "" {
		t.Errorf("a failed token command still reached the server with %q", got)
	}
}

// A server that accepts the connection and never answers.
func TestDialTimeout(t *testing.T) {
	t.Parallel()
	addr := silentServer(t)
	for _, security := range []string{"plain", "tls", "starttls"} {
		t.Run(security, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			a := Account{Name: "test", Address: addr, Security: security, AllowPlaintext: true, Timeout: 300 * time.Millisecond}
			c, err := Dial(ctx, a)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if ctx.Err() != nil {
				t.Errorf("Dial ended with the context, not the timeout: %v", err)
			}
		})
	}

	// ctx bounds the whole: a long Timeout does not matter.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	a := Account{Name: "test", Address: addr, Security: "plain", AllowPlaintext: true, Timeout: time.Minute}
	if _, err := Dial(ctx, a); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dial = %v, want the context's deadline", err)
	}
}

// A server that stops answering in the middle of a session.
func TestHungServer(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.add(t, "INBOX", nil, message(1, ""))

	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		p := startProxy(t, ts.addr)
		a := ts.account()
		a.Address, a.Timeout = p.addr, 500*time.Millisecond
		c := mustDial(t, a)
		selectInbox(t, c)
		p.frozen.Store(true)

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := c.List(ctx, 0, 0)
		if err == nil {
			t.Fatal("List on a hung server succeeded")
		}
		if ctx.Err() != nil {
			t.Fatalf("List ended with the context, not the timeout: %v", err)
		}
		if !isClosed(err) || !strings.Contains(err.Error(), `imap account "test": listing messages`) {
			t.Errorf("List = %v, want a closed connection", err)
		}
		// Dead: later calls fail at once, without touching the network.
		err = c.Noop(ctx)
		if !isClosed(err) {
			t.Errorf("Noop after the timeout = %v, want ErrClosed", err)
		}
		err = c.Fetch(ctx, []uint32{1}, 0, func(Message) error { return nil })
		if !isClosed(err) {
			t.Errorf("Fetch after the timeout = %v, want ErrClosed", err)
		}
		if err := c.Wait(ctx, time.Second); !isClosed(err) {
			t.Errorf("Wait after the timeout = %v, want ErrClosed", err)
		}
		if ctx.Err() != nil {
			t.Errorf("calls on a dead client took the context's 10s")
		}
	})

	t.Run("cancel", func(t *testing.T) {
		t.Parallel()
		p := startProxy(t, ts.addr)
		a := ts.account()
		a.Address, a.Timeout = p.addr, time.Minute
		c := mustDial(t, a)
		selectInbox(t, c)
		p.frozen.Store(true)

		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		err := c.Noop(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !isClosed(err) {
			t.Errorf("Noop = %v, want the context's deadline and a closed connection", err)
		}
		if err := c.Noop(context.Background()); !isClosed(err) {
			t.Errorf("Noop after the abort = %v, want ErrClosed", err)
		}
	})

	t.Run("dropped", func(t *testing.T) {
		t.Parallel()
		p := startProxy(t, ts.addr)
		a := ts.account()
		a.Address = p.addr
		c := mustDial(t, a)
		selectInbox(t, c)
		p.drop()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Noop(ctx); !isClosed(err) {
			t.Errorf("Noop on a dropped connection = %v, want ErrClosed", err)
		}
		if ctx.Err() != nil {
			t.Errorf("Noop waited for the context")
		}
	})

	t.Run("close aborts", func(t *testing.T) {
		t.Parallel()
		p := startProxy(t, ts.addr)
		a := ts.account()
		a.Address, a.Timeout = p.addr, time.Minute
		c := mustDial(t, a)
		selectInbox(t, c)
		p.frozen.Store(true)

		done := make(chan error)
		go func() { done <- c.Noop(context.Background()) }()
		time.Sleep(50 * time.Millisecond)
		if err := c.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
		select {
		case err := <-done:
			if !isClosed(err) {
				t.Errorf("Noop aborted by Close = %v, want ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not abort Noop")
		}
	})
}

func TestClose(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	c := mustDial(t, ts.account())
	if err := c.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if got := ts.commands("LOGOUT"); len(got) != 1 {
		t.Errorf("LOGOUT sent %d times, want once", len(got))
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := c.Select(context.Background(), "INBOX"); !isClosed(err) {
		t.Errorf("Select after Close = %v, want ErrClosed", err)
	}
}
