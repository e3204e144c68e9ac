package main

import (
	"math/rand/v2"
	"strings"

	"github.com/bounced/bounced/internal/classify"
)

// What the remote servers say: for each cause, the refusals met in
// practice with their codes, per kind of mail system.

type kind uint8

const (
	kBounce kind = iota
	kDelay
	kComplaint
)

var kindNames = [...]string{"bounce", "delay", "complaint"}

// refusal is one way a server refuses or delays a recipient.
type refusal struct {
	cause   classify.Cause
	delay   bool   // a delay warning (action delayed) rather than a failure
	flavors uint8  // the flavors that say it (1 << flavor); 0: any
	w       int    // weight among the refusals of its cause and flavor
	status  string // "" when the notice carries none
	code    int    // 0 when the notice carries none
	soft    bool
	rule    string
	command string // the SMTP command answered, "" when unsaid
	noMTA   bool   // no remote MTA was reached
	text    []piece
}

// piece is a literal or a placeholder of a diagnostic text.
type piece struct {
	lit string
	ph  byte // 'a' address, 'd' domain, 'm' remote MTA, 'i' an IP, 't' a token; 0 literal
}

func fl(fs ...flavor) uint8 {
	var m uint8
	for _, f := range fs {
		m |= 1 << f
	}
	return m
}

// compile splits a text with {addr}, {domain}, {mx}, {ip} and {token}
// placeholders.
func compile(s string) []piece {
	var ps []piece
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			ps = append(ps, piece{lit: s})
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if i > 0 {
			ps = append(ps, piece{lit: s[:i]})
		}
		name := s[i+1 : i+j]
		ph := map[string]byte{"addr": 'a', "domain": 'd', "mx": 'm', "ip": 'i', "token": 't'}[name]
		if ph == 0 {
			panic("unknown placeholder " + name)
		}
		ps = append(ps, piece{ph: ph})
		s = s[i+j+1:]
	}
	return ps
}

// render writes the text of f for addr.
func (f *refusal) render(sb *strings.Builder, r *rand.Rand, addr, dom, mx string) {
	for _, p := range f.text {
		switch p.ph {
		case 0:
			sb.WriteString(p.lit)
		case 'a':
			sb.WriteString(addr)
		case 'd':
			sb.WriteString(dom)
		case 'm':
			sb.WriteString(mx)
		case 'i':
			sb.WriteString("192.0.2.")
			sb.WriteString(itoa(10 + r.IntN(40)))
		case 't':
			const hex = "0123456789abcdef"
			for range 16 {
				sb.WriteByte(hex[r.IntN(16)])
			}
		}
	}
}

type refusalSpec struct {
	cause   classify.Cause
	delay   bool
	flavors uint8
	w       int
	status  string
	code    int
	soft    bool
	rule    string
	command string
	noMTA   bool
	text    string
}

var refusalSpecs = []refusalSpec{
	// bad_address
	{classify.BadAddress, false, fl(flGmail), 1, "5.1.1", 550, false, "provider:gmail:no-such-user", "RCPT", false,
		"550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. For more information, go to https://support.google.com/mail/?p=NoSuchUser {token} - gsmtp"},
	{classify.BadAddress, false, fl(flMicrosoft), 1, "5.5.0", 550, false, "provider:microsoft:mailbox-unavailable", "RCPT", false,
		"550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [{token}.eurprd04.prod.outlook.com]"},
	{classify.BadAddress, false, fl(flMicrosoft), 1, "5.1.10", 550, false, "status:5.1.10", "RCPT", false,
		"550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient {addr} not found by SMTP address lookup"},
	{classify.BadAddress, false, fl(flYahoo), 1, "5.0.0", 554, false, "provider:yahoo:no-account", "RCPT", false,
		"554 delivery error: dd This user doesn't have a {domain} account ({addr}) [0] - {mx}"},
	{classify.BadAddress, false, fl(flBig, flTail), 4, "5.1.1", 550, false, "status:5.1.1", "RCPT", false,
		"550 5.1.1 <{addr}>: Recipient address rejected: User unknown in virtual mailbox table"},
	{classify.BadAddress, false, fl(flBig, flTail), 2, "5.1.1", 550, false, "status:5.1.1", "RCPT", false,
		"550 5.1.1 <{addr}>... User unknown"},
	{classify.BadAddress, false, fl(flBig, flTail), 1, "", 550, false, "text:user-unknown", "RCPT", false,
		"550 Unrouteable address"},
	{classify.BadAddress, false, fl(flBig, flTail), 1, "5.1.1", 0, false, "status:5.1.1", "", false,
		"Sorry, no mailbox here by that name. (#5.1.1)"},
	{classify.BadAddress, false, fl(flTail), 1, "4.1.1", 450, true, "status:4.1.1", "RCPT", false,
		"450 4.1.1 <{addr}>: Recipient address rejected: unverified address: host {mx}[{ip}] said: 550 5.1.1 User unknown"},

	// bad_domain
	{classify.BadDomain, false, 0, 4, "5.1.2", 0, false, "status:5.1.2", "", true,
		"Host or domain name not found. Name service error for name={domain} type=MX: Host not found"},
	{classify.BadDomain, false, 0, 1, "5.1.10", 0, false, "status:5.1.10", "", true,
		"Domain {domain} does not accept mail (nullMX)"},
	{classify.BadDomain, false, 0, 1, "5.4.4", 0, false, "text:no-such-domain", "", true,
		"Unrouteable mail domain \"{domain}\""},

	// mailbox_disabled
	{classify.MailboxDisabled, false, fl(flGmail), 1, "5.2.1", 550, false, "provider:gmail:disabled", "RCPT", false,
		"550-5.2.1 The email account that you tried to reach is disabled. Learn more at https://support.google.com/mail/?p=DisabledUser {token} - gsmtp"},
	{classify.MailboxDisabled, false, fl(flYahoo), 1, "5.2.1", 554, false, "provider:yahoo:disabled", "RCPT", false,
		"554 delivery error: dd Sorry, your message to {addr} cannot be delivered. This mailbox is disabled (554.30). - {mx}"},
	{classify.MailboxDisabled, false, fl(flMicrosoft, flBig, flTail), 2, "5.2.1", 550, false, "status:5.2.1", "RCPT", false,
		"550 5.2.1 <{addr}>: Mailbox is inactive"},
	{classify.MailboxDisabled, false, fl(flBig, flTail), 1, "5.2.1", 550, false, "text:account-disabled", "RCPT", false,
		"550 5.2.1 This account has been suspended"},

	// mailbox_full
	{classify.MailboxFull, false, fl(flGmail), 1, "4.2.2", 452, true, "provider:gmail:over-quota", "RCPT", false,
		"452-4.2.2 The recipient's inbox is out of storage space. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp {token} - gsmtp"},
	{classify.MailboxFull, false, fl(flMicrosoft, flYahoo, flBig, flTail), 2, "5.2.2", 552, false, "status:5.2.2", "RCPT", false,
		"552 5.2.2 <{addr}>: Mailbox full"},
	{classify.MailboxFull, false, fl(flBig, flTail), 1, "4.2.2", 452, true, "status:4.2.2", "RCPT", false,
		"452 4.2.2 Mailbox full, quota exceeded"},
	{classify.MailboxFull, false, fl(flTail), 1, "5.2.2", 0, false, "text:over-quota", "", false,
		"The users mailfolder is over the allowed quota (size). (#5.2.2)"},
	{classify.MailboxFull, true, 0, 1, "4.2.2", 452, true, "status:4.2.2", "RCPT", false,
		"452 4.2.2 <{addr}>: Mailbox full, try again later"},

	// oversize
	{classify.Oversize, false, fl(flGmail), 1, "5.3.4", 552, false, "provider:gmail:too-large", "DATA", false,
		"552-5.3.4 Your message exceeded Google's message size limits. {token} - gsmtp"},
	{classify.Oversize, false, 0, 2, "5.3.4", 552, false, "status:5.3.4", "DATA", false,
		"552 5.3.4 Message size exceeds fixed maximum message size"},

	// spam_content
	{classify.SpamContent, false, fl(flGmail), 2, "5.7.1", 550, false, "provider:gmail:spam", "DATA", false,
		"550-5.7.1 [{ip}] Gmail has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked. {token} - gsmtp"},
	{classify.SpamContent, false, fl(flMicrosoft), 1, "5.7.1", 550, false, "provider:microsoft:spam", "DATA", false,
		"550 5.7.1 Message rejected as spam by Content Filtering. [{token}.namprd02.prod.outlook.com]"},
	{classify.SpamContent, false, fl(flYahoo, flBig, flTail), 2, "5.7.1", 554, false, "text:spam", "DATA", false,
		"554 5.7.1 Message rejected: spam score too high ({token})"},
	{classify.SpamContent, false, fl(flTail), 1, "", 550, false, "text:spam", "DATA", false,
		"550 High probability of spam"},

	// virus
	{classify.Virus, false, 0, 1, "5.7.0", 554, false, "text:virus", "DATA", false,
		"554 5.7.0 Message rejected: infected (Eicar-Test-Signature)"},

	// blocklisted
	{classify.Blocklisted, false, fl(flMicrosoft), 2, "5.7.1", 550, false, "provider:microsoft:blocklist", "RCPT", false,
		"550 5.7.1 Unfortunately, messages from [{ip}] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150). [{token}.eurprd05.prod.outlook.com]"},
	{classify.Blocklisted, false, fl(flYahoo), 1, "5.7.9", 553, false, "provider:yahoo:blocked", "MAIL", false,
		"553 5.7.9 Mail from {ip} not allowed, listed by a reputation service"},
	{classify.Blocklisted, false, fl(flBig, flTail), 3, "5.7.1", 554, false, "text:dnsbl", "RCPT", false,
		"554 5.7.1 Service unavailable; Client host [{ip}] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/{ip}"},
	{classify.Blocklisted, false, fl(flGmail, flBig, flTail), 1, "5.7.1", 550, false, "text:reputation", "MAIL", false,
		"550 5.7.1 Sender IP [{ip}] reputation is too low"},

	// auth_failure
	{classify.AuthFailure, false, fl(flGmail), 2, "5.7.26", 550, false, "provider:gmail:unauthenticated", "DATA", false,
		"550-5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM. {token} - gsmtp"},
	{classify.AuthFailure, false, fl(flMicrosoft), 1, "5.7.509", 550, false, "provider:microsoft:dmarc", "DATA", false,
		"550 5.7.509 Access denied, sending domain lists.example.org does not pass DMARC verification and has a DMARC policy of reject."},
	{classify.AuthFailure, false, fl(flYahoo, flBig, flTail), 1, "5.7.23", 550, false, "status:5.7.23", "MAIL", false,
		"550 5.7.23 SPF validation failed for lists.example.org"},
	{classify.AuthFailure, false, fl(flBig, flTail), 1, "5.7.25", 550, false, "status:5.7.25", "MAIL", false,
		"550 5.7.25 The IP address sending this message does not have a PTR record setup"},

	// policy
	{classify.Policy, false, fl(flTail), 2, "5.7.1", 554, false, "text:relay-denied", "RCPT", false,
		"554 5.7.1 <{addr}>: Relay access denied"},
	{classify.Policy, false, fl(flBig, flTail), 2, "5.7.1", 550, false, "text:sender-denied", "MAIL", false,
		"550 5.7.1 <news@lists.example.org>: Sender address rejected: Access denied"},
	{classify.Policy, false, fl(flMicrosoft), 1, "5.7.133", 550, false, "provider:microsoft:restricted-group", "RCPT", false,
		"550 5.7.133 RESOLVER.RST.SenderNotAuthenticatedForGroup; authentication required; Delivery restriction check failed as the sender is not authenticated"},
	{classify.Policy, false, fl(flTail), 1, "5.7.0", 530, false, "text:tls-required", "MAIL", false,
		"530 5.7.0 Must issue a STARTTLS command first"},
	{classify.Policy, false, fl(flGmail, flYahoo, flBig), 1, "5.7.1", 550, false, "text:policy", "RCPT", false,
		"550 5.7.1 Message refused by recipient's policy"},

	// rate_limited
	{classify.RateLimited, false, fl(flGmail), 2, "4.7.28", 421, true, "provider:gmail:rate", "DATA", false,
		"421-4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from your IP address [{ip}]. To protect our users from spam, mail sent from your IP address has been temporarily rate limited. {token} - gsmtp"},
	{classify.RateLimited, false, fl(flYahoo), 2, "4.7.0", 421, true, "provider:yahoo:tss04", "MAIL", false,
		"421 4.7.0 [TSS04] Messages from {ip} temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes"},
	{classify.RateLimited, false, fl(flMicrosoft), 1, "4.7.650", 451, true, "provider:microsoft:throttled", "MAIL", false,
		"451 4.7.650 The mail server [{ip}] has been temporarily rate limited due to IP reputation."},
	{classify.RateLimited, false, fl(flBig, flTail), 1, "4.7.1", 450, true, "text:greylisted", "RCPT", false,
		"450 4.7.1 <{addr}>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/{domain}.html"},
	{classify.RateLimited, false, fl(flBig, flTail), 1, "4.2.1", 450, true, "text:rate", "RCPT", false,
		"450 4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered."},
	{classify.RateLimited, true, fl(flGmail), 2, "4.7.28", 421, true, "provider:gmail:rate", "DATA", false,
		"421-4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from your IP address [{ip}]. {token} - gsmtp"},
	{classify.RateLimited, true, fl(flYahoo), 2, "4.7.0", 421, true, "provider:yahoo:tss04", "MAIL", false,
		"421 4.7.0 [TSS04] Messages from {ip} temporarily deferred due to unexpected volume or user complaints"},
	{classify.RateLimited, true, fl(flMicrosoft, flBig, flTail), 2, "4.7.1", 450, true, "text:greylisted", "RCPT", false,
		"450 4.7.1 <{addr}>: Recipient address rejected: Greylisted for 300 seconds"},

	// expired
	{classify.Expired, false, 0, 3, "4.4.7", 0, true, "status:4.4.7", "", false,
		"delivery temporarily suspended: connect to {mx}[{ip}]:25: Connection timed out"},
	{classify.Expired, false, 0, 1, "5.4.7", 0, true, "status:5.4.7", "", false,
		"Message expired: retry timeout exceeded"},

	// network_error
	{classify.NetworkError, false, fl(flTail, flBig), 2, "4.4.1", 0, true, "text:connection-refused", "", true,
		"connect to {mx}[{ip}]:25: Connection refused"},
	{classify.NetworkError, false, fl(flTail), 1, "5.4.6", 0, false, "status:5.4.6", "", false,
		"mail for {domain} loops back to myself"},
	{classify.NetworkError, true, 0, 3, "4.4.1", 0, true, "text:timed-out", "", true,
		"connect to {mx}[{ip}]:25: Connection timed out"},
	{classify.NetworkError, true, fl(flTail), 1, "4.4.3", 0, true, "status:4.4.3", "", true,
		"Host or domain name not found. Name service error for name={domain} type=MX: Host not found, try again"},

	// server_error
	{classify.ServerError, false, 0, 2, "4.3.0", 451, true, "status:4.3.0", "DATA", false,
		"451 4.3.0 Temporary server error. Please try again later"},
	{classify.ServerError, false, fl(flTail, flBig), 1, "4.3.1", 452, true, "status:4.3.1", "RCPT", false,
		"452 4.3.1 Insufficient system storage"},
	{classify.ServerError, true, 0, 2, "4.3.2", 421, true, "status:4.3.2", "", false,
		"421 4.3.2 Service not available, closing transmission channel"},
	{classify.ServerError, true, fl(flMicrosoft), 1, "4.4.316", 451, true, "provider:microsoft:transient", "", false,
		"451 4.4.316 Connection refused [Message=Socket error code 10061] [LastAttemptedServerName={mx}]"},

	// protocol_error
	{classify.ProtocolError, false, fl(flTail, flBig), 1, "5.5.1", 503, false, "status:5.5.1", "DATA", false,
		"503 5.5.1 Error: need RCPT command"},
	{classify.ProtocolError, false, fl(flTail), 1, "5.5.2", 500, false, "status:5.5.2", "", false,
		"500 5.5.2 Syntax error, command unrecognized"},

	// unknown
	{classify.Unknown, false, 0, 2, "", 554, false, "code:554", "DATA", false,
		"554 Transaction failed"},
	{classify.Unknown, false, fl(flTail, flBig), 1, "5.0.0", 550, false, "status:5.0.0", "", false,
		"550 5.0.0 Rejected"},
	{classify.Unknown, false, fl(flTail), 1, "", 0, false, "none", "", false,
		"Remote server returned an error"},
	{classify.Unknown, true, 0, 1, "4.0.0", 451, true, "status:4.0.0", "", false,
		"451 4.0.0 Temporary failure"},
}

// refusals indexes the refusals by cause, delay and flavor.
type refusalKey struct {
	cause  classify.Cause
	delay  bool
	flavor flavor
}

var refusals = func() map[refusalKey][]*refusal {
	m := map[refusalKey][]*refusal{}
	for _, s := range refusalSpecs {
		f := &refusal{cause: s.cause, delay: s.delay, flavors: s.flavors, w: s.w, status: s.status, code: s.code,
			soft: s.soft, rule: s.rule, command: s.command, noMTA: s.noMTA, text: compile(s.text)}
		for fv := flGmail; fv <= flTail; fv++ {
			if s.flavors == 0 || s.flavors&(1<<fv) != 0 {
				k := refusalKey{s.cause, s.delay, fv}
				for range s.w {
					m[k] = append(m[k], f)
				}
			}
		}
	}
	return m
}()

// pickRefusal draws how flavor says cause; ok is false when it never
// says it as a delay (or a failure).
func pickRefusal(r *rand.Rand, c classify.Cause, delay bool, fv flavor) (*refusal, bool) {
	fs := refusals[refusalKey{c, delay, fv}]
	if len(fs) == 0 {
		return nil, false
	}
	return fs[r.IntN(len(fs))], true
}

// A mix is the share of each cause among the rows that don't speak
// against an address, per flavor, for failures and for delays.
type mix struct {
	causes []classify.Cause
	cum    []float64
}

func newMix(ws map[classify.Cause]float64) mix {
	var m mix
	for _, c := range classify.Causes() {
		if w := ws[c]; w > 0 {
			m.causes = append(m.causes, c)
			prev := 0.0
			if len(m.cum) > 0 {
				prev = m.cum[len(m.cum)-1]
			}
			m.cum = append(m.cum, prev+w)
		}
	}
	return m
}

func (m mix) pick(r *rand.Rand) classify.Cause {
	x := r.Float64() * m.cum[len(m.cum)-1]
	for i, c := range m.cum {
		if x < c {
			return m.causes[i]
		}
	}
	return m.causes[len(m.causes)-1]
}

// delayShare is the part of the everyday rows that are delay warnings.
const delayShare = 0.22

var (
	bounceMix = [...]mix{
		flGmail: newMix(map[classify.Cause]float64{
			classify.SpamContent: 16, classify.Blocklisted: 5, classify.AuthFailure: 10, classify.Policy: 3,
			classify.RateLimited: 16, classify.Expired: 6, classify.ServerError: 4, classify.Oversize: 1.5,
			classify.Virus: 0.1, classify.Unknown: 5, classify.MailboxFull: 4}),
		flMicrosoft: newMix(map[classify.Cause]float64{
			classify.SpamContent: 9, classify.Blocklisted: 18, classify.AuthFailure: 6, classify.Policy: 6,
			classify.RateLimited: 9, classify.Expired: 6, classify.ServerError: 4, classify.Oversize: 1,
			classify.Virus: 0.1, classify.Unknown: 5, classify.MailboxFull: 3}),
		flYahoo: newMix(map[classify.Cause]float64{
			classify.SpamContent: 7, classify.Blocklisted: 8, classify.AuthFailure: 4, classify.Policy: 3,
			classify.RateLimited: 22, classify.Expired: 6, classify.ServerError: 3, classify.Oversize: 0.5,
			classify.Virus: 0.1, classify.Unknown: 5, classify.MailboxFull: 4}),
		flBig: newMix(map[classify.Cause]float64{
			classify.SpamContent: 9, classify.Blocklisted: 12, classify.AuthFailure: 4, classify.Policy: 5,
			classify.RateLimited: 8, classify.Expired: 7, classify.NetworkError: 3, classify.ServerError: 5,
			classify.Oversize: 1, classify.Virus: 0.2, classify.ProtocolError: 0.5, classify.Unknown: 7,
			classify.MailboxFull: 5}),
		flTail: newMix(map[classify.Cause]float64{
			classify.SpamContent: 7, classify.Blocklisted: 10, classify.AuthFailure: 3, classify.Policy: 9,
			classify.RateLimited: 6, classify.Expired: 9, classify.NetworkError: 8, classify.ServerError: 6,
			classify.Oversize: 1.5, classify.Virus: 0.3, classify.ProtocolError: 1.5, classify.Unknown: 9,
			classify.MailboxFull: 3}),
	}
	delayMix = newMix(map[classify.Cause]float64{
		classify.RateLimited: 40, classify.NetworkError: 28, classify.ServerError: 20, classify.MailboxFull: 6,
		classify.Unknown: 6})
)

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
