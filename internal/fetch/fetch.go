// Package fetch reads mail from IMAP mailboxes: it connects and logs in, lists
// and streams new messages, waits for new mail, and applies the mailbox action
// (mark seen, flag, move, delete) to messages once they have been handled. It
// knows nothing about what the messages say.
//
// go-imap v2 has no context support and no timeouts a caller can rely on, so
// every command sent here runs under a deadline on the connection
// (Account.Timeout) and is aborted when its context ends. A Client whose
// command timed out, was aborted, or whose connection broke is dead: every
// later call fails at once with an error wrapping ErrClosed, and the caller
// dials again. A refusal by the server (a NO or BAD answer) leaves the Client
// usable.
//
// A Client is not safe for concurrent use, except that Close may be called
// from another goroutine to abort a call in progress.
package fetch

import (
	"errors"
	"time"
)

// Defaults for the zero values of Account.Timeout and Account.IdleRestart.
const (
	DefaultTimeout     = 60 * time.Second
	DefaultIdleRestart = 5 * time.Minute
)

// ErrClosed is wrapped by the errors of a Client that can no longer be used:
// after a command timed out, was aborted by its context, or lost the
// connection, and after Close. The caller dials again.
var ErrClosed = errors.New("connection closed")

// Account is how to reach and log in to one IMAP account.
type Account struct {
	// Name identifies the account in errors; it is not sent anywhere.
	Name string
	// Address is host:port.
	Address string
	// Security is "tls" (implicit TLS, usually port 993), "starttls" (usually
	// port 143) or "plain" (no encryption at all); "" means "tls".
	Security string
	// AllowPlaintext must be true for Security "plain", which is refused
	// otherwise: it sends the password in clear text.
	AllowPlaintext bool
	// CAFile is a PEM bundle of the certificate authorities to verify the
	// server with; "" means the system's roots. Verification is always on.
	CAFile string
	// ServerName is the name the server's certificate must be valid for;
	// "" means the host of Address.
	ServerName string
	// Username is the login name.
	Username string
	// Auth is how to log in: "login" (the LOGIN command; "" means "login"),
	// "plain" (AUTHENTICATE PLAIN) or "xoauth2" (AUTHENTICATE XOAUTH2 with an
	// OAuth 2 access token).
	Auth string
	// Password is the password for Auth "login" and "plain".
	Password string
	// TokenFile is, for Auth "xoauth2", a file holding the access token
	// (surrounding white space is ignored). It is read again at every Dial,
	// so another program can keep it fresh.
	TokenFile string
	// TokenCommand is, for Auth "xoauth2" and instead of TokenFile, a command
	// (program and arguments, no shell) whose standard output is the access
	// token. It runs at every Dial, under Timeout.
	TokenCommand []string
	// Timeout bounds every command, the dial and the TLS handshake included,
	// and every pause of the server while it streams a message body.
	// 0 means DefaultTimeout (60s).
	Timeout time.Duration
	// IdleRestart is how often Wait stops and restarts IDLE, so that a
	// connection that died silently is noticed and NAT state stays fresh.
	// 0 means DefaultIdleRestart (5m).
	IdleRestart time.Duration
}

// Caps is what the server can do, as far as this package cares.
type Caps struct {
	// Move is MOVE (RFC 6851) or IMAP4rev2.
	Move bool
	// UIDPlus is UIDPLUS (RFC 4315) or IMAP4rev2: COPYUID and UID EXPUNGE.
	UIDPlus bool
	// Idle is IDLE (RFC 2177) or IMAP4rev2.
	Idle bool
}

// Mailbox is the state of a mailbox when it was selected.
type Mailbox struct {
	Name string
	// UIDValidity changes when the server renumbered the mailbox's UIDs.
	UIDValidity uint32
	// UIDNext is the UID the next message will get, or more; 0 if the server
	// did not say.
	UIDNext uint32
	// Messages is the number of messages in the mailbox.
	Messages uint32
}

// Info is a message's UID and size (RFC822.SIZE).
type Info struct {
	UID  uint32
	Size int64
}

// Message is one fetched message.
type Message struct {
	UID uint32
	// Size is the RFC822.SIZE the server gave, or the size of the body it
	// sent if it gave none.
	Size int64
	// Body is the whole message as the server stores it; when Oversized,
	// only its first maxSize bytes.
	Body []byte
	// Oversized says that the message was larger than maxSize and Body is
	// cut short.
	Oversized bool
}
