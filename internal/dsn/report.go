// Package dsn reads any message found in a bounce mailbox and tells what it
// is: a delivery failure, a delay warning, a positive delivery notice, an
// auto-reply, an abuse complaint or ordinary mail. For failures and delays it
// extracts each recipient with the codes and text the remote server gave.
//
// It understands RFC 3464 delivery status notifications (and RFC 6533's
// internationalised form), RFC 5965 feedback reports, RFC 3834 auto-replies,
// and the non-standard notices of the mail servers met most often. The
// package is pure: no I/O beyond the reader it is given, no logging, no
// clock, no package state; everything is safe for concurrent use.
package dsn

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kind says what a message is. The strings are stored in the database.
type Kind string

// The kinds of message a bounce mailbox receives (DESIGN.md).
const (
	Bounce    Kind = "bounce"     // a delivery failure notice
	Delay     Kind = "delay"      // a delay warning only
	AutoReply Kind = "auto_reply" // vacation, out-of-office, challenge-response
	Complaint Kind = "complaint"  // an abuse or feedback-loop report (RFC 5965)
	Delivered Kind = "delivered"  // a positive DSN: delivered, relayed, expanded
	NotBounce Kind = "not_bounce" // anything else
)

// Action is a recipient's RFC 3464 2.3.3 action, lower-cased.
type Action string

// The actions of RFC 3464 2.3.3.
const (
	Failed        Action = "failed"
	Delayed       Action = "delayed"
	ActDelivered  Action = "delivered"
	Relayed       Action = "relayed"
	Expanded      Action = "expanded"
	unknownAction Action = ""
)

// Status is an RFC 3463 enhanced status code, class.subject.detail. The zero
// value means the message carried none. Status is comparable, so rules can
// switch on it.
type Status struct {
	Class, Subject, Detail uint16
}

// ParseStatus reads "5.1.1" (RFC 3463 2: class is 2, 4 or 5; subject up to 3
// digits; detail up to 3 digits). It reports false for anything else.
func ParseStatus(s string) (Status, bool) {
	s = strings.TrimSpace(s)
	a, rest, ok1 := strings.Cut(s, ".")
	b, c, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || len(a) != 1 || len(b) == 0 || len(b) > 3 || len(c) == 0 || len(c) > 3 {
		return Status{}, false
	}
	if a != "2" && a != "4" && a != "5" {
		return Status{}, false
	}
	sb, err1 := strconv.ParseUint(b, 10, 16)
	dt, err2 := strconv.ParseUint(c, 10, 16)
	if err1 != nil || err2 != nil {
		return Status{}, false
	}
	return Status{Class: uint16(a[0] - '0'), Subject: uint16(sb), Detail: uint16(dt)}, true
}

// IsZero reports whether no status was given.
func (s Status) IsZero() bool { return s == Status{} }

// String gives "5.1.1", or "" for the zero Status.
func (s Status) String() string {
	if s.IsZero() {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d", s.Class, s.Subject, s.Detail)
}

// MarshalText writes the dotted form; the zero Status is empty.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads the dotted form; empty gives the zero Status.
func (s *Status) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*s = Status{}
		return nil
	}
	v, ok := ParseStatus(string(b))
	if !ok {
		return fmt.Errorf("invalid enhanced status code %q", b)
	}
	*s = v
	return nil
}

// Report is what Parse understood of one message.
type Report struct {
	Kind Kind `json:"kind"`
	// Format names the reader that recognised the message: "rfc3464",
	// "arf", "rfc3834", "ses", or an MTA such as "qmail", "exim", "postfix".
	Format string `json:"format,omitempty"`

	// The notice's own headers.
	MessageID string    `json:"message_id,omitempty"`
	From      string    `json:"from,omitempty"`
	To        string    `json:"to,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	Date      time.Time `json:"date,omitzero"`

	// RFC 3464 2.2 per-message fields.
	ReportingMTA string    `json:"reporting_mta,omitempty"`
	ArrivalDate  time.Time `json:"arrival_date,omitzero"`

	// Recipients holds one entry per failed, delayed or (for Delivered)
	// delivered recipient, in the order the message gives them.
	Recipients []Recipient `json:"recipients,omitempty"`

	// Original describes the message that bounced, when the notice returns
	// or quotes it.
	Original Original `json:"original,omitzero"`

	// Feedback holds the RFC 5965 fields of a complaint.
	Feedback *Feedback `json:"feedback,omitempty"`
}

// Recipient is one recipient of an RFC 3464 2.3 block, or what a
// non-standard notice says of one address.
type Recipient struct {
	// Recipient is the failed address with its domain lower-cased; it may
	// be empty when the notice names none and no VERP address gives it.
	Recipient         string `json:"recipient"`
	OriginalRecipient string `json:"original_recipient,omitempty"`
	Action            Action `json:"action"`
	// Status is the RFC 3463 code, zero when the message carries none.
	Status Status `json:"status,omitzero"`
	// ReplyCode is the SMTP basic reply code (RFC 5321 4.2), 0 when absent.
	ReplyCode int `json:"reply_code,omitempty"`
	// Diagnostic is the remote server's text, unfolded.
	Diagnostic   string    `json:"diagnostic,omitempty"`
	RemoteMTA    string    `json:"remote_mta,omitempty"`
	ReportingMTA string    `json:"reporting_mta,omitempty"`
	LastAttempt  time.Time `json:"last_attempt,omitzero"`
	// Command is the SMTP command the failure answered (MAIL, RCPT, DATA,
	// ...) when the notice says so.
	Command string `json:"command,omitempty"`
}

// Original is what the returned or quoted original message gives.
type Original struct {
	MessageID string    `json:"message_id,omitempty"`
	From      string    `json:"from,omitempty"`
	To        string    `json:"to,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	Date      time.Time `json:"date,omitzero"`
	ListID    string    `json:"list_id,omitempty"`
	// Headers holds the correlation headers the caller asked for, by the
	// canonical name the caller gave.
	Headers map[string]string `json:"headers,omitempty"`
}

// Feedback is the machine-readable part of an RFC 5965 report.
type Feedback struct {
	Type             string    `json:"type"`
	UserAgent        string    `json:"user_agent,omitempty"`
	OriginalMailFrom string    `json:"original_mail_from,omitempty"`
	OriginalRcptTo   []string  `json:"original_rcpt_to,omitempty"`
	SourceIP         string    `json:"source_ip,omitempty"`
	ArrivalDate      time.Time `json:"arrival_date,omitzero"`
	ReportedDomain   string    `json:"reported_domain,omitempty"`
}
