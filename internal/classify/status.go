package classify

import "github.com/bounced/bounced/internal/dsn"

// causeSet is a set of causes, one bit per position in causeInfo.
type causeSet uint32

func setOf(cs ...Cause) causeSet {
	var s causeSet
	for _, c := range cs {
		s |= 1 << uint(c.index())
	}
	return s
}

func (s causeSet) has(c Cause) bool { return s&(1<<uint(c.index())) != 0 }

// recipientMisuse is the yield set of the codes that say the address is
// bad: a text that blames the sender's IP or rate, or another state of the
// mailbox, is taken at its word, since wrongly blaming the address would
// get it suppressed.
var recipientMisuse = setOf(MailboxFull, MailboxDisabled, Blocklisted, RateLimited)

// anyText is the yield set of a code that any recognised text overrides.
const anyText = ^causeSet(0)

// A statusRule gives the cause that an enhanced status code means, for
// class 4 and 5 alike (RFC 3463 3.1: the subject and detail mean the same
// thing in both classes).
//
// A precise code is weighed before any text, except that a text rule whose
// cause is in yield wins over it: those are the codes servers are known to
// misuse (5.2.1 for an unknown user, 5.4.1 for a refused recipient, 5.1.1
// for a full mailbox). A vague code is weighed after all text rules; a
// vague code with an empty cause only defers to the basic reply code.
type statusRule struct {
	subject, detail uint16
	cause           Cause
	vague           bool
	yield           causeSet
}

// statusRules is the table of enhanced status codes: the IANA "SMTP
// Enhanced Status Codes" registry (RFC 3463, RFC 5248 and the RFCs that
// registered codes later), read for what each code says of a bounce.
var statusRules = []statusRule{
	// X.0.0 Other undefined status (RFC 3463 3.1): says only the class.
	{subject: 0, detail: 0, vague: true},

	// X.1 Addressing status (RFC 3463 3.2).
	{1, 0, BadAddress, true, 0},                                // other address status
	{1, 1, BadAddress, false, recipientMisuse},                 // bad destination mailbox address
	{1, 2, BadDomain, false, 0},                                // bad destination system address
	{1, 3, BadAddress, false, recipientMisuse | setOf(Policy)}, // bad destination mailbox address syntax
	{1, 4, BadAddress, false, 0},                               // destination mailbox address ambiguous
	{1, 6, BadAddress, false, 0},                               // destination mailbox has moved
	{1, 7, Policy, false, 0},                                   // bad sender's mailbox address syntax
	{1, 8, Policy, false, 0},                                   // bad sender's system address
	{1, 9, ServerError, true, 0},                               // message relayed to non-compliant mailer (RFC 3886)
	// X.1.10 Recipient address has null MX (RFC 7505 4.2). Office 365 also
	// sends 5.1.10 for a recipient not found.
	{1, 10, BadDomain, false, setOf(BadAddress)},

	// X.2 Mailbox status (RFC 3463 3.3).
	{2, 0, "", true, 0},
	// X.2.1 Mailbox disabled. Sendmail-style servers send it for unknown
	// users and Gmail for a receiving rate: any text wins.
	{2, 1, MailboxDisabled, false, anyText},
	{2, 2, MailboxFull, false, 0},               // mailbox full
	{2, 3, Oversize, false, setOf(RateLimited)}, // message length exceeds administrative limit
	{2, 4, ServerError, false, anyText},         // mailing list expansion problem

	// X.3 Mail system status (RFC 3463 3.4).
	{3, 0, ServerError, true, 0},
	{3, 1, ServerError, false, setOf(MailboxFull)}, // mail system full
	{3, 2, ServerError, false, anyText},            // system not accepting network messages
	{3, 3, ProtocolError, false, anyText},          // system not capable of selected features
	{3, 4, Oversize, false, 0},                     // message too big for system
	{3, 5, ServerError, false, anyText},            // system incorrectly configured
	{3, 6, ServerError, true, 0},                   // requested priority was changed (RFC 6710)

	// X.4 Network and routing status (RFC 3463 3.5).
	{4, 0, NetworkError, true, 0},
	{4, 1, NetworkError, false, anyText}, // no answer from host
	{4, 2, NetworkError, false, anyText}, // bad connection
	{4, 3, NetworkError, false, anyText}, // directory server failure
	{4, 4, BadDomain, false, anyText},    // unable to route
	{4, 5, ServerError, false, anyText},  // mail system congestion
	{4, 6, NetworkError, false, 0},       // routing loop detected
	// X.4.7 Delivery time expired: the notice gave up; the text may still
	// name what kept failing, but the code says what happened.
	{4, 7, Expired, false, 0},

	// X.5 Mail delivery protocol status (RFC 3463 3.6).
	{5, 0, ProtocolError, true, 0},
	{5, 1, ProtocolError, false, anyText &^ setOf(ServerError, NetworkError)}, // invalid command
	{5, 2, ProtocolError, false, anyText},                                     // syntax error
	{5, 3, RateLimited, false, 0},                                             // too many recipients
	{5, 4, ProtocolError, false, anyText},                                     // invalid command arguments
	{5, 5, ProtocolError, false, anyText},                                     // wrong protocol version
	{5, 6, ProtocolError, false, anyText},                                     // authentication exchange line too long (RFC 4954)

	// X.6 Message content or media status (RFC 3463 3.7; RFC 6531, RFC
	// 4468): a message the receiver cannot take as it is.
	{6, 0, Policy, true, 0},

	// X.7 Security or policy status (RFC 3463 3.8, RFC 5248 and later).
	{7, 0, Policy, true, 0},
	{7, 1, Policy, true, 0}, // delivery not authorized, message refused: says nothing more
	{7, 2, Policy, false, anyText},
	{7, 8, AuthFailure, true, 0},                    // authentication credentials invalid (RFC 4954)
	{7, 9, Policy, true, 0},                         // authentication mechanism too weak; Yahoo: policy reasons
	{7, 10, Policy, false, 0},                       // encryption needed (RFC 5248)
	{7, 13, MailboxDisabled, false, 0},              // user account disabled (RFC 5248)
	{7, 17, BadAddress, false, 0},                   // mailbox owner has changed (RFC 7293)
	{7, 18, BadDomain, false, 0},                    // domain owner has changed (RFC 7293)
	{7, 20, AuthFailure, false, 0},                  // no passing DKIM signature found (RFC 7372)
	{7, 21, AuthFailure, false, 0},                  // no acceptable DKIM signature found (RFC 7372)
	{7, 22, AuthFailure, false, 0},                  // no valid author-matched DKIM signature (RFC 7372)
	{7, 23, AuthFailure, false, 0},                  // SPF validation failed (RFC 7372)
	{7, 24, AuthFailure, false, 0},                  // SPF validation error (RFC 7372)
	{7, 25, Policy, false, 0},                       // reverse DNS validation failed (RFC 7372): no PTR is policy
	{7, 26, AuthFailure, false, 0},                  // multiple authentication checks failed (RFC 7372)
	{7, 27, AuthFailure, false, setOf(BadDomain)},   // sender address has null MX (RFC 7505)
	{7, 28, RateLimited, false, setOf(Blocklisted)}, // mail flood detected
	{7, 29, AuthFailure, false, 0},                  // ARC validation failure (RFC 8617)
	{7, 30, Policy, false, 0},                       // REQUIRETLS support required (RFC 8689)
}

// subjectRules give the cause of a code whose detail is not in
// statusRules, by its subject: always vague.
var subjectRules = [8]Cause{
	0: "",
	1: BadAddress,
	2: "",
	3: ServerError,
	4: NetworkError,
	5: ProtocolError,
	6: Policy,
	7: Policy,
}

// statusKey packs a subject and detail for the status table.
func statusKey(subject, detail uint16) uint32 { return uint32(subject)<<16 | uint32(detail) }

// lookupStatus finds the rule for s. ok is false for a zero status, a
// success code, or a code of unknown subject.
func lookupStatus(table map[uint32]statusRule, s dsn.Status) (r statusRule, ok bool) {
	if s.Class != 4 && s.Class != 5 {
		return statusRule{}, false
	}
	if r, ok := table[statusKey(s.Subject, s.Detail)]; ok {
		return r, true
	}
	if int(s.Subject) < len(subjectRules) {
		return statusRule{subject: s.Subject, detail: s.Detail, cause: subjectRules[s.Subject], vague: true}, true
	}
	return statusRule{}, false
}

// A codeRule gives the cause a basic reply code (RFC 5321 4.2) usually
// means in a bounce (DESIGN.md, "Reading the codes"). When command is set
// the rule holds only for a failure answering that SMTP command.
type codeRule struct {
	code    int
	command string
	cause   Cause
}

// codeRules is searched in order; the first rule with the code (and the
// command, when it names one) decides.
var codeRules = []codeRule{
	{421, "", ServerError},   // service not available
	{450, "", ServerError},   // mailbox unavailable: busy, or blocked for now
	{451, "", ServerError},   // local error in processing
	{452, "", ServerError},   // insufficient system storage
	{455, "", ServerError},   // server unable to accommodate parameters
	{500, "", ProtocolError}, // command not recognised
	{501, "MAIL", Policy},    // the sender address is malformed
	{501, "RCPT", BadAddress},
	{501, "", ProtocolError}, // syntax error in parameters
	{502, "", ProtocolError}, // command not implemented
	{503, "", ProtocolError}, // bad sequence of commands
	{504, "", ProtocolError}, // command parameter not implemented
	{521, "", BadDomain},     // host does not accept mail (RFC 7504)
	{530, "", Policy},        // authentication required (RFC 4954)
	{541, "", SpamContent},   // rejected by the receiving server, often as spam
	{550, "MAIL", Policy},
	{550, "DATA", Policy}, // after DATA the recipient was already accepted
	{550, "", BadAddress}, // mailbox unavailable, not found
	{551, "", BadAddress}, // user not local
	{552, "DATA", Oversize},
	{552, "", MailboxFull}, // exceeded storage allocation
	{553, "MAIL", Policy},
	{553, "", BadAddress}, // mailbox name not allowed
	{554, "", Policy},     // transaction failed, no further explanation
	{556, "", BadDomain},  // domain does not accept mail (RFC 7504)
}

// lookupCode finds the rule for a reply code given for command.
func lookupCode(code int, command string) (Cause, bool) {
	for _, r := range codeRules {
		if r.code == code && (r.command == "" || r.command == command) {
			return r.cause, true
		}
	}
	switch code / 100 {
	case 4:
		return ServerError, true
	}
	return "", false
}
