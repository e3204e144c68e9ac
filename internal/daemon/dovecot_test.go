package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bounced/bounced/internal/dovecot"
	"github.com/bounced/bounced/internal/fetch"
	"github.com/bounced/bounced/internal/memimap"
)

// These tests run the daemon against a real Dovecot (DESIGN.md "Dovecot for
// end-to-end tests"); each uses a user of its own on one server.

// dovecotEnv is an env whose mail is on a Dovecot server, for user.
type dovecotEnv struct {
	*env
	dc   *dovecot.Server
	user string
}

func newDovecotEnv(t *testing.T, dc *dovecot.Server, user string) *dovecotEnv {
	e := newEnv(t, memimap.Options{}) // its IMAP server goes unused
	return &dovecotEnv{env: e, dc: dc, user: user}
}

func (e *dovecotEnv) account() fetch.Account {
	return fetch.Account{Name: e.user, Address: e.dc.Addr, Security: "plain", AllowPlaintext: true,
		Username: e.user, Password: e.dc.Password, Timeout: 10 * time.Second}
}

func (e *dovecotEnv) daemon(cfg Config) *Daemon {
	cfg.Mailboxes = []Mailbox{{Account: e.account(), Name: "INBOX"}}
	return e.env.daemon(cfg)
}

func (e *dovecotEnv) counts(mailbox string) dovecot.Counts {
	e.t.Helper()
	c, err := e.dc.Count(e.user, mailbox)
	if errors.Is(err, fs.ErrNotExist) {
		return dovecot.Counts{} // never created
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// bounceNotices gives n sample notices whose outcome is Bounce, each made
// unique by a header of its own.
func bounceNotices(t *testing.T, e *env, n int) [][]byte {
	var out [][]byte
	all := notices(t)
	for i := 0; len(out) < n; i++ {
		m := all[i%len(all)]
		if got := expectedOutcomes(t, e.cl, [][]byte{m}); got[Bounce] != 1 {
			continue
		}
		out = append(out, append([]byte(fmt.Sprintf("X-Test-Seq: %d\r\n", i)), m...))
	}
	return out
}

func TestDovecotActions(t *testing.T) {
	t.Parallel()
	dc := dovecot.ForTest(t, dovecot.Options{})
	tests := []struct {
		action                        string
		inbox, seen, flagged, deleted int
		processed                     int
	}{
		{"none", 5, 0, 0, 0, 0},
		{"seen", 5, 5, 0, 0, 0},
		{"flag", 5, 0, 5, 0, 0},
		{"move:Processed", 0, 0, 0, 0, 5},
		{"delete", 0, 0, 0, 0, 0},
	}
	for i, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			t.Parallel()
			e := newDovecotEnv(t, dc, fmt.Sprintf("actions%d", i))
			if err := dc.Deliver(e.user, "INBOX", bounceNotices(t, e.env, 5)...); err != nil {
				t.Fatal(err)
			}
			a, err := fetch.ParseAction(tt.action)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.daemon(Config{Actions: map[Outcome]fetch.Action{Bounce: a}, Drain: true}).Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := e.count(`SELECT count(*) FROM message WHERE kind = 'bounce'`); n != 5 {
				t.Errorf("%d bounces stored, want 5", n)
			}
			in := e.counts("INBOX")
			if in.All != tt.inbox || in.Seen != tt.seen || in.Flagged != tt.flagged || in.Deleted != tt.deleted {
				t.Errorf("INBOX %+v, want all %d seen %d flagged %d deleted %d", in, tt.inbox, tt.seen, tt.flagged, tt.deleted)
			}
			if p := e.counts("Processed"); p.All != tt.processed {
				t.Errorf("Processed holds %d, want %d", p.All, tt.processed)
			}
		})
	}
}

// TestDovecotIdleBatches: a backlog read in several batches, then mail
// delivered while the daemon IDLEs is stored within seconds.
func TestDovecotIdleBatches(t *testing.T) {
	t.Parallel()
	dc := dovecot.ForTest(t, dovecot.Options{})
	e := newDovecotEnv(t, dc, "idle")
	msgs := bounceNotices(t, e.env, 60)
	if err := dc.Deliver(e.user, "INBOX", msgs[:50]...); err != nil {
		t.Fatal(err)
	}
	d := e.daemon(Config{Actions: moveAll, BatchSize: 7, Poll: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	waitFor(t, "the backlog", func() bool { return e.count(`SELECT count(*) FROM message`) == 50 })
	waitFor(t, "the daemon to idle", func() bool { return !d.States()[0].LastSuccess.IsZero() })
	for i := 50; i < 60; i++ {
		start := time.Now()
		if err := dc.Deliver(e.user, "INBOX", msgs[i]); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the new message", func() bool { return e.count(`SELECT count(*) FROM message`) == i+1 })
		t.Logf("message %d stored %v after delivery", i, time.Since(start).Round(time.Millisecond))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := gatherHistogramCount(t, d, "bounced_batch_duration_seconds"); got < 8+10 {
		t.Errorf("%d batches, want at least 8 for the backlog (batches of 7) and 10 for the new mail", got)
	}
	if p := e.counts("Processed"); p.All != 60 {
		t.Errorf("Processed holds %d, want 60", p.All)
	}
}

// TestDovecotUIDValidity: after the mailbox's UIDVALIDITY changes, it is
// read again; the notices already stored add no recipient rows.
func TestDovecotUIDValidity(t *testing.T) {
	t.Parallel()
	dc := dovecot.ForTest(t, dovecot.Options{})
	e := newDovecotEnv(t, dc, "uidvalidity")
	msgs := bounceNotices(t, e.env, 10)
	if err := dc.Deliver(e.user, "INBOX", msgs...); err != nil {
		t.Fatal(err)
	}
	if err := e.daemon(Config{Drain: true}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	cp1, _ := e.st.Checkpoint(context.Background(), e.user, "INBOX")
	rows := e.count(`SELECT count(*) FROM bounce`)
	if err := dc.ResetUIDValidity(e.user, "INBOX"); err != nil {
		t.Fatal(err)
	}
	d := e.daemon(Config{Drain: true})
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	cp2, _ := e.st.Checkpoint(context.Background(), e.user, "INBOX")
	if cp2.UIDValidity == cp1.UIDValidity || cp2.LastUID != 10 {
		t.Errorf("checkpoints %+v then %+v, want a new UIDVALIDITY read to UID 10", cp1, cp2)
	}
	if got := sum(gather(t, d), "bounced_messages_fetched_total"); got != 10 {
		t.Errorf("fetched %v after the change, want all 10 again", got)
	}
	if n := e.count(`SELECT count(*) FROM bounce`); n != rows {
		t.Errorf("%d recipient rows after the rescan, want still %d", n, rows)
	}
}

// TestDovecotTLS: implicit TLS and STARTTLS against Dovecot with a
// certificate of a CA made here, verified with ca_file; without the CA the
// connection is refused.
func TestDovecotTLS(t *testing.T) {
	t.Parallel()
	caFile, certFile, keyFile := testCA(t)
	dc := dovecot.ForTest(t, dovecot.Options{TLSCert: certFile, TLSKey: keyFile})
	for _, tt := range []struct {
		security, addr string
	}{{"tls", dc.TLSAddr}, {"starttls", dc.Addr}} {
		t.Run(tt.security, func(t *testing.T) {
			e := newDovecotEnv(t, dc, "tls-"+tt.security)
			if err := dc.Deliver(e.user, "INBOX", bounceNotices(t, e.env, 3)...); err != nil {
				t.Fatal(err)
			}
			acct := e.account()
			acct.Address, acct.Security, acct.AllowPlaintext, acct.CAFile = tt.addr, tt.security, false, caFile
			d := e.env.daemon(Config{Mailboxes: []Mailbox{{Account: acct, Name: "INBOX"}}, Drain: true,
				Actions: map[Outcome]fetch.Action{Bounce: {Op: fetch.Move, Folder: "Processed"}}})
			if err := d.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := e.count(`SELECT count(*) FROM message`); n != 3 {
				t.Errorf("%d stored over %s, want 3", n, tt.security)
			}
			if p := e.counts("Processed"); p.All != 3 {
				t.Errorf("Processed holds %d, want 3", p.All)
			}
			acct.CAFile = ""
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := fetch.Dial(ctx, acct)
			if err == nil {
				c.Close()
				t.Fatalf("%s without the CA: connected to a server whose certificate no system CA signed", tt.security)
			}
			if !strings.Contains(err.Error(), "certificate") {
				t.Errorf("%s without the CA: %v, want a certificate error", tt.security, err)
			}
		})
	}
}

// testCA writes a CA and a certificate for 127.0.0.1 signed by it, in PEM
// files readable by Dovecot.
func testCA(t *testing.T) (caFile, certFile, keyFile string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "bounced-tls-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bounced test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", der), write("key.pem", "PRIVATE KEY", keyDER)
}
