package fetch

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
)

const (
	testUser     = "bounces"
	testPassword = "secret"
)

// Capability sets for the in-memory server. IDLE comes with IMAP4rev1 in any
// case.
var (
	capsFull      = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}, imap.CapMove: {}}
	capsUIDPlus   = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}
	capsRev1Alone = imap.CapSet{imap.CapIMAP4rev1: {}}
)

// serverOptions says how to run a test server.
type serverOptions struct {
	caps        imap.CapSet // nil: capsFull
	implicitTLS *tls.Config // the listener speaks TLS from the start
	startTLS    *tls.Config // STARTTLS is offered
}

// testServer is go-imap's in-memory server on 127.0.0.1 with one user.
type testServer struct {
	addr string
	user *imapmemserver.User
	sent *syncBuffer // every byte clients sent, all connections

	mu     sync.Mutex
	tokens []string // XOAUTH2 tokens received
}

func startServer(t *testing.T, o serverOptions) *testServer {
	t.Helper()
	caps := o.caps
	if caps == nil {
		caps = capsFull
	}
	ts := &testServer{
		user: imapmemserver.NewUser(testUser, testPassword),
		sent: &syncBuffer{},
	}
	if err := ts.user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &testSession{ts: ts}, nil, nil
		},
		Caps:         caps,
		Logger:       nopLogger{},
		TLSConfig:    o.startTLS,
		InsecureAuth: o.implicitTLS == nil && o.startTLS == nil,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	var l net.Listener = recordingListener{ln, ts.sent}
	if o.implicitTLS != nil {
		l = tls.NewListener(ln, o.implicitTLS)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return ts
}

// account is how to reach ts in plain text.
func (ts *testServer) account() Account {
	return Account{
		Name:           "test",
		Address:        ts.addr,
		Security:       "plain",
		AllowPlaintext: true,
		Username:       testUser,
		Password:       testPassword,
		Timeout:        5 * time.Second,
	}
}

// mustDial dials a and closes the client at the end of the test.
func mustDial(t *testing.T, a Account) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, a)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialInbox dials ts and selects INBOX.
func dialInbox(t *testing.T, ts *testServer) *Client {
	t.Helper()
	c := mustDial(t, ts.account())
	if _, err := c.Select(context.Background(), "INBOX"); err != nil {
		t.Fatalf("Select: %v", err)
	}
	return c
}

// add appends messages to mailbox and returns their UIDs.
func (ts *testServer) add(t *testing.T, mailbox string, flags []imap.Flag, bodies ...[]byte) []uint32 {
	t.Helper()
	var uids []uint32
	for _, b := range bodies {
		data, err := ts.user.Append(mailbox, bytes.NewReader(b), &imap.AppendOptions{Flags: flags})
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, uint32(data.UID))
	}
	return uids
}

// appendOverIMAP appends body to mailbox over a connection of its own, as
// another mail client would.
func (ts *testServer) appendOverIMAP(t *testing.T, mailbox string, body []byte) uint32 {
	t.Helper()
	cl, err := imapclient.DialInsecure(ts.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login(testUser, testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	cmd := cl.Append(mailbox, int64(len(body)), nil)
	if _, err := cmd.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := cmd.Wait()
	if err != nil {
		t.Fatal(err)
	}
	return uint32(data.UID)
}

// stored is a message as the server has it.
type stored struct {
	Flags []imap.Flag
	Body  []byte
}

func (m stored) has(flag imap.Flag) bool { return slices.Contains(m.Flags, flag) }

// messages returns the messages of mailbox by UID, read over a connection of
// its own (go-imap's client, not ours).
func (ts *testServer) messages(t *testing.T, mailbox string) map[uint32]stored {
	t.Helper()
	cl, err := imapclient.DialInsecure(ts.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login(testUser, testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := cl.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("selecting %q: %v", mailbox, err)
	}
	m := make(map[uint32]stored)
	if data.NumMessages == 0 {
		return m
	}
	msgs, err := cl.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID:         true,
		Flags:       true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range msgs {
		m[uint32(msg.UID)] = stored{Flags: msg.Flags, Body: msg.FindBodySection(&imap.FetchItemBodySection{})}
	}
	return m
}

// commands returns the commands clients sent whose name (after the tag, and
// after UID) matches name, e.g. "EXPUNGE" or "UID EXPUNGE".
func (ts *testServer) commands(name string) []string {
	re := regexp.MustCompile(`(?m)^[A-Za-z0-9]+ ` + regexp.QuoteMeta(name) + `\b.*$`)
	return re.FindAllString(ts.sent.String(), -1)
}

// dones counts the DONE lines that ended IDLE commands.
func (ts *testServer) dones() int {
	return len(regexp.MustCompile(`(?m)^DONE\r$`).FindAllString(ts.sent.String(), -1))
}

func (ts *testServer) token(i int) string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if i >= len(ts.tokens) {
		return ""
	}
	return ts.tokens[i]
}

// testSession is the in-memory server's session with XOAUTH2 and PLAIN.
type testSession struct {
	*imapmemserver.UserSession // nil until logged in
	ts                         *testServer
}

func (s *testSession) Login(username, password string) error {
	if err := s.ts.user.Login(username, password); err != nil {
		return err
	}
	s.UserSession = imapmemserver.NewUserSession(s.ts.user)
	return nil
}

func (s *testSession) AuthenticateMechanisms() []string { return []string{"PLAIN", "XOAUTH2"} }

func (s *testSession) Authenticate(mech string) (sasl.Server, error) {
	switch mech {
	case "PLAIN":
		return sasl.NewPlainServer(func(identity, username, password string) error {
			return s.Login(username, password)
		}), nil
	case "XOAUTH2":
		return &xoauth2Server{s: s}, nil
	}
	return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "unknown mechanism"}
}

// xoauth2Server accepts the user with any token that starts with "good".
type xoauth2Server struct {
	s       *testSession
	refused bool
}

func (x *xoauth2Server) Next(response []byte) (challenge []byte, done bool, err error) {
	if x.refused { // the client's empty answer to the error challenge
		return nil, false, imapserver.ErrAuthFailed
	}
	fields := strings.Split(string(response), "\x01")
	if len(fields) != 4 || fields[0] != "user="+testUser || !strings.HasPrefix(fields[1], "auth=Bearer ") {
		return nil, false, fmt.Errorf("malformed XOAUTH2 response %q", response)
	}
	token := strings.TrimPrefix(fields[1], "auth=Bearer ")
	x.s.ts.mu.Lock()
	x.s.ts.tokens = append(x.s.ts.tokens, token)
	x.s.ts.mu.Unlock()
	if !strings.HasPrefix(token, "good") {
		x.refused = true
		return []byte(`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`), false, nil
	}
	x.s.UserSession = imapmemserver.NewUserSession(x.s.ts.user)
	return nil, true, nil
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...interface{}) {}

// syncBuffer is a bytes.Buffer for many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// recordingListener copies what clients send into w.
type recordingListener struct {
	net.Listener
	w io.Writer
}

func (l recordingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return recordingConn{conn, l.w}, nil
}

type recordingConn struct {
	net.Conn
	w io.Writer
}

func (c recordingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.w.Write(b[:n])
	return n, err
}

// silentServer accepts connections, reads what comes, and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() })
			go io.Copy(io.Discard, conn)
		}
	}()
	return ln.Addr().String()
}

// proxy forwards connections to a server until frozen: from then on it
// swallows everything both ways, like a server that hangs.
type proxy struct {
	addr   string
	frozen atomic.Bool
	done   chan struct{}

	mu    sync.Mutex
	conns []net.Conn
}

// drop closes every connection, like a server that went away.
func (p *proxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: ln.Addr().String(), done: make(chan struct{})}
	t.Cleanup(func() {
		close(p.done)
		ln.Close()
		p.drop()
	})
	go func() {
		for {
			a, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", target)
			if err != nil {
				a.Close()
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, a, b)
			p.mu.Unlock()
			go p.pipe(a, b)
			go p.pipe(b, a)
		}
	}()
	return p
}

func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if p.frozen.Load() {
			<-p.done
			return
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

// testPKI is a throwaway CA and a certificate it signed for 127.0.0.1.
type testPKI struct {
	caFile string      // the CA certificate, PEM
	server *tls.Config // serves the certificate
}

func newPKI(t *testing.T) testPKI {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "bounced test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"imap.test"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return testPKI{
		caFile: caFile,
		server: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
	}
}

// message returns a small well-formed message, different for each n, with
// CRLF line ends (the in-memory server rewrites the header, so it must be
// in canonical form to come back byte for byte).
func message(n int, extra string) []byte {
	return fmt.Appendf(nil, "From: mailer-daemon@example.org\r\nTo: list@example.com\r\nSubject: bounce %d\r\nMessage-Id: <%d@example.org>\r\n\r\nbody of message %d\r\n%s", n, n, n, extra)
}

// isClosed reports whether err says the Client is dead.
func isClosed(err error) bool { return errors.Is(err, ErrClosed) }
