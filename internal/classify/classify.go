// Package classify tells why a recipient bounced: from the enhanced status
// code, the SMTP reply code and the remote server's text it picks a cause, a
// severity and a scope, and names the rule that decided.
//
// Evidence is weighed in the order of DESIGN.md: a precise enhanced status
// code, then provider-specific text, then generic text (in several
// languages), then a vague enhanced code, then the basic reply code. Rules
// are ordered data tables compiled once; user rules come first. The package
// is pure and safe for concurrent use.
//
// The tables: statusRules and codeRules (status.go) for the codes,
// providerRules and domainRules (text.go) and genericRules (phrases.go)
// for the text. All phrases of a classifier are searched in one pass over
// the diagnostic by an Aho-Corasick automaton (match.go), so a
// classification costs about a microsecond and no allocation.
package classify

import "github.com/bounced/bounced/internal/dsn"

// Cause is why a recipient bounced. The strings are stored in the database.
type Cause string

// The causes of DESIGN.md.
const (
	BadAddress      Cause = "bad_address"
	BadDomain       Cause = "bad_domain"
	MailboxDisabled Cause = "mailbox_disabled"
	MailboxFull     Cause = "mailbox_full"
	Oversize        Cause = "oversize"
	SpamContent     Cause = "spam_content"
	Virus           Cause = "virus"
	Blocklisted     Cause = "blocklisted"
	AuthFailure     Cause = "auth_failure"
	Policy          Cause = "policy"
	RateLimited     Cause = "rate_limited"
	Expired         Cause = "expired"
	NetworkError    Cause = "network_error"
	ServerError     Cause = "server_error"
	ProtocolError   Cause = "protocol_error"
	Unknown         Cause = "unknown"
)

// Severity says whether retrying could ever help.
type Severity string

// The severities.
const (
	Hard Severity = "hard" // permanent
	Soft Severity = "soft" // transient
)

// Scope is what a cause says something about; list hygiene acts only on
// ScopeRecipient.
type Scope string

// The scopes of DESIGN.md.
const (
	ScopeRecipient Scope = "recipient"
	ScopeMessage   Scope = "message"
	ScopeSender    Scope = "sender"
	ScopeTransport Scope = "transport"
	ScopeUnknown   Scope = "unknown"
)

// Input is the evidence about one recipient.
type Input struct {
	Status     dsn.Status
	ReplyCode  int
	Diagnostic string
	Action     dsn.Action
	Kind       dsn.Kind
	// Command is the SMTP command the failure answered, when known.
	Command string
	// Domain is the recipient's domain, lower-cased; user rules match on it.
	Domain string
	// ReportingMTA and RemoteMTA help provider rules.
	ReportingMTA, RemoteMTA string
}

// Result is the classification of one recipient.
type Result struct {
	Cause    Cause    `json:"cause"`
	Severity Severity `json:"severity"`
	Scope    Scope    `json:"scope"`
	// Rule is the id of the rule that decided, e.g. "status:5.1.1",
	// "text:user-unknown", "provider:gmail:...", "user:NAME".
	Rule string `json:"rule"`
	// Matched is the text or code the rule matched, for --explain.
	Matched string `json:"matched,omitempty"`
}

// causeInfo holds what the package knows of each cause, in the order of
// DESIGN.md.
var causeInfo = [...]struct {
	cause Cause
	scope Scope
	soft  bool // the default severity when neither code gives one
}{
	{BadAddress, ScopeRecipient, false},
	{BadDomain, ScopeRecipient, false},
	{MailboxDisabled, ScopeRecipient, false},
	{MailboxFull, ScopeRecipient, true},
	{Oversize, ScopeMessage, false},
	{SpamContent, ScopeMessage, false},
	{Virus, ScopeMessage, false},
	{Blocklisted, ScopeSender, false},
	{AuthFailure, ScopeSender, false},
	{Policy, ScopeSender, false},
	{RateLimited, ScopeSender, true},
	{Expired, ScopeTransport, true},
	{NetworkError, ScopeTransport, true},
	{ServerError, ScopeTransport, true},
	{ProtocolError, ScopeTransport, false},
	{Unknown, ScopeUnknown, false},
}

// index gives the position of c in causeInfo, or -1.
func (c Cause) index() int {
	for i := range causeInfo {
		if causeInfo[i].cause == c {
			return i
		}
	}
	return -1
}

// Valid reports whether c is one of the causes of the taxonomy.
func (c Cause) Valid() bool { return c.index() >= 0 }

// Scope tells what c says something about. Only ScopeRecipient causes count
// against an address. An invalid cause has ScopeUnknown.
func (c Cause) Scope() Scope {
	if i := c.index(); i >= 0 {
		return causeInfo[i].scope
	}
	return ScopeUnknown
}

// defaultSeverity is the severity of c when the message gives neither an
// enhanced status code nor a reply code: soft for the causes that usually
// pass (a full mailbox, throttling, transport trouble), hard otherwise.
func (c Cause) defaultSeverity() Severity {
	if i := c.index(); i >= 0 && causeInfo[i].soft {
		return Soft
	}
	return Hard
}

// Causes returns every cause of the taxonomy, in the order of DESIGN.md.
func Causes() []Cause {
	cs := make([]Cause, len(causeInfo))
	for i := range causeInfo {
		cs[i] = causeInfo[i].cause
	}
	return cs
}

// Valid reports whether s is Hard or Soft.
func (s Severity) Valid() bool { return s == Hard || s == Soft }
