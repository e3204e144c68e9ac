// Package memimap runs go-imap's in-memory IMAP server on a loopback port,
// for `bounced demo` and for the daemon's tests: one user, its mailboxes
// filled by Append, plaintext LOGIN allowed.
package memimap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// Options are the server's.
type Options struct {
	User, Password string // default "bounces", "secret"
	// Basic makes the server advertise IMAP4rev1 alone: no IDLE, MOVE nor
	// UIDPLUS.
	Basic bool
	// UIDValidity of the mailboxes the server makes; 0: the time now.
	UIDValidity uint32
	// Log receives the server's error messages; nil discards them.
	Log io.Writer
}

// Server is a running in-memory IMAP server.
type Server struct {
	Addr           string // 127.0.0.1:PORT
	User, Password string
	srv            *imapserver.Server
	ln             net.Listener
	user           *imapmemserver.User
	done           chan error
}

// Start starts a server on a free loopback port with an empty INBOX.
func Start(opt Options) (*Server, error) {
	if opt.User == "" {
		opt.User = "bounces"
	}
	if opt.Password == "" {
		opt.Password = "secret"
	}
	if opt.UIDValidity == 0 {
		opt.UIDValidity = uint32(time.Now().Unix())
	}
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(opt.User, opt.Password)
	if err := u.Create("INBOX", nil); err != nil {
		return nil, fmt.Errorf("creating INBOX: %w", err)
	}
	mem.AddUser(u)
	caps := imap.CapSet{imap.CapIMAP4rev1: {}}
	if !opt.Basic {
		for _, c := range []imap.Cap{imap.CapIdle, imap.CapMove, imap.CapUIDPlus, imap.CapNamespace} {
			caps[c] = struct{}{}
		}
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         caps,
		InsecureAuth: true,
		Logger:       log.New(opt.Log, "imap server: ", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening: %w", err)
	}
	s := &Server{Addr: ln.Addr().String(), User: opt.User, Password: opt.Password, srv: srv, ln: ln, user: u,
		done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(ln) }()
	return s, nil
}

// Close stops the server and closes its connections.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	return err
}

// Append adds messages to mailbox, creating it if it is missing.
func (s *Server) Append(mailbox string, msgs ...[]byte) error {
	if _, err := s.user.Status(mailbox, &imap.StatusOptions{}); err != nil {
		if err := s.user.Create(mailbox, nil); err != nil {
			return fmt.Errorf("creating %s: %w", mailbox, err)
		}
	}
	for _, m := range msgs {
		if _, err := s.user.Append(mailbox, literal{bytes.NewReader(m)}, &imap.AppendOptions{}); err != nil {
			return fmt.Errorf("appending to %s: %w", mailbox, err)
		}
	}
	return nil
}

// Count is the number of messages in mailbox; 0 when it does not exist.
func (s *Server) Count(mailbox string) (int, error) {
	st, err := s.user.Status(mailbox, &imap.StatusOptions{NumMessages: true})
	if err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Code == imap.ResponseCodeNonExistent {
			return 0, nil
		}
		return 0, err
	}
	return int(*st.NumMessages), nil
}

// literal is a message for Append.
type literal struct{ *bytes.Reader }

func (l literal) Size() int64 { return l.Reader.Size() }
