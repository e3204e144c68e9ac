package classify

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/bounced/bounced/internal/dsn"
	"github.com/bounced/bounced/internal/phrase"
)

// Rule is a user rule, loaded from the configuration. Every condition given
// must hold, and at least one must be given. User rules are weighed before
// every built-in rule, in the order given, and are reported as "user:"+ID.
type Rule struct {
	// ID names the rule; required and unique.
	ID string `toml:"id"`
	// Text holds substrings of the diagnostic, matched case-insensitively;
	// any one of them is enough.
	Text []string `toml:"text"`
	// Status is an enhanced status code or a prefix of one: "5.7.1",
	// "5.7", "4.".
	Status string `toml:"status"`
	// ReplyCode is an exact SMTP basic reply code, e.g. 550.
	ReplyCode int `toml:"reply_code"`
	// Domain is the recipient's domain; it matches the domain and its
	// subdomains.
	Domain string `toml:"domain"`
	// Cause is the cause to report; required, one of Causes().
	Cause Cause `toml:"cause"`
	// Severity is "hard" or "soft"; empty decides as for built-in results
	// (from the codes, else from the cause).
	Severity Severity `toml:"severity"`
}

// Classifier classifies with the built-in rules and, before them, user
// rules. It is immutable and safe for concurrent use.
type Classifier struct {
	m      *phrase.Matcher
	mASCII *phrase.Matcher // m without its non-ASCII phrases
	user   []userRule
	text   []compiledText
	status map[uint32]statusRule
	// phraseRule maps a trigger phrase id to its rule: user rules are
	// negative (-1-i), built-in text rules index text. Trigger phrases are
	// numbered in rule order, user rules first, so the smallest phrase id
	// found names the first rule that may hold.
	phraseRule []int32
	nUser      int32 // phrase ids [0, nUser) belong to user rules
	nTrigger   int32 // phrase ids [nUser, nTrigger) trigger text rules
	nCommand   int32 // phrase ids from nCommand are commandPhrases
	phrases    []string
}

type userRule struct {
	id       string // "user:" + Rule.ID
	cause    Cause
	severity Severity
	hasText  bool
	status   statusPrefix
	code     int
	domain   string
	matched  string // what to report as Matched when no phrase is given
}

// statusPrefix is a parsed Rule.Status: n is how many of class, subject
// and detail it gives (0: no condition).
type statusPrefix struct {
	n int
	s dsn.Status
}

func (p statusPrefix) match(s dsn.Status) bool {
	switch p.n {
	case 0:
		return true
	case 1:
		return s.Class == p.s.Class
	case 2:
		return s.Class == p.s.Class && s.Subject == p.s.Subject
	}
	return s == p.s
}

type compiledText struct {
	id        string
	retriedID string // the id reported when retried turns the cause to Expired
	cause     Cause
	weak      bool
	retried   bool
	all       []int32 // phrase ids that must occur as well
}

// New builds a classifier with the user rules first. A rule that cannot be
// used is an error that names it.
func New(user []Rule) (*Classifier, error) {
	c := &Classifier{status: make(map[uint32]statusRule, len(statusRules))}
	for _, r := range statusRules {
		c.status[statusKey(r.subject, r.detail)] = r
	}

	err := eachRule(user, func(ur userRule, phrases []string) {
		for _, p := range phrases {
			c.phrases = append(c.phrases, p)
			c.phraseRule = append(c.phraseRule, int32(-1-len(c.user)))
		}
		c.user = append(c.user, ur)
	})
	if err != nil {
		return nil, err
	}
	c.nUser = int32(len(c.phrases))

	builtin := make([]textRule, 0, len(providerRules)+len(genericRules))
	builtin = append(append(builtin, providerRules...), genericRules...)
	for i, r := range builtin {
		for _, p := range r.any {
			c.phrases = append(c.phrases, p)
			c.phraseRule = append(c.phraseRule, int32(i))
		}
	}
	c.nTrigger = int32(len(c.phrases))
	for _, r := range builtin {
		ct := compiledText{id: r.id, cause: r.cause, weak: r.weak, retried: r.retried, retriedID: "retried:" + r.id}
		for _, p := range r.all {
			ct.all = append(ct.all, int32(len(c.phrases)))
			c.phrases = append(c.phrases, p)
		}
		c.text = append(c.text, ct)
	}
	c.nCommand = int32(len(c.phrases))
	for _, p := range commandPhrases {
		c.phrases = append(c.phrases, p.phrase)
	}
	if len(c.phrases) > phrase.MaxPhrases {
		return nil, fmt.Errorf("too many text phrases: %d, at most %d", len(c.phrases), phrase.MaxPhrases)
	}
	c.m = phrase.New(c.phrases)
	// Most diagnostics are ASCII: they are scanned with an automaton of the
	// ASCII phrases only (the others stand in as a phrase no text holds,
	// keeping the ids), a quarter of the size and so mostly in cache.
	ascii := make([]string, len(c.phrases))
	for i, p := range c.phrases {
		ascii[i] = p
		if !isASCII(p) {
			ascii[i] = "\x00\x00"
		}
	}
	c.mASCII = phrase.New(ascii)
	return c, nil
}

// CheckRules reports the first user rule New would refuse, naming it,
// without building the classifier (which takes a tenth of a second).
func CheckRules(user []Rule) error {
	return eachRule(user, func(userRule, []string) {})
}

// eachRule compiles the user rules in order, calling fn with each.
func eachRule(user []Rule, fn func(userRule, []string)) error {
	seen := make(map[string]bool, len(user))
	for i, r := range user {
		ur, phrases, err := compileRule(r)
		if err != nil {
			if r.ID == "" {
				return fmt.Errorf("rule %d: %w", i+1, err)
			}
			return fmt.Errorf("rule %q: %w", r.ID, err)
		}
		if seen[r.ID] {
			return fmt.Errorf("rule %q: duplicate id", r.ID)
		}
		seen[r.ID] = true
		fn(ur, phrases)
	}
	return nil
}

// compileRule checks a user rule and returns it with its phrases,
// lower-cased.
func compileRule(r Rule) (userRule, []string, error) {
	if r.ID == "" {
		return userRule{}, nil, errors.New("id is required")
	}
	if r.Cause == "" {
		return userRule{}, nil, errors.New("cause is required")
	}
	if !r.Cause.Valid() {
		return userRule{}, nil, fmt.Errorf("unknown cause %q", r.Cause)
	}
	if r.Severity != "" && !r.Severity.Valid() {
		return userRule{}, nil, fmt.Errorf("unknown severity %q (want hard or soft)", r.Severity)
	}
	ur := userRule{id: "user:" + r.ID, cause: r.Cause, severity: r.Severity}
	var phrases []string
	for _, t := range r.Text {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" {
			return userRule{}, nil, errors.New("empty text")
		}
		if !utf8.ValidString(t) {
			return userRule{}, nil, fmt.Errorf("text %q is not valid UTF-8", t)
		}
		phrases = append(phrases, t)
	}
	ur.hasText = len(phrases) > 0
	if r.Status != "" {
		p, ok := parseStatusPrefix(r.Status)
		if !ok {
			return userRule{}, nil, fmt.Errorf("invalid status %q (want a code or prefix such as 5.7.1, 5.7 or 4.)", r.Status)
		}
		ur.status = p
		ur.matched = r.Status
	}
	if r.ReplyCode != 0 {
		if r.ReplyCode < 200 || r.ReplyCode > 599 {
			return userRule{}, nil, fmt.Errorf("invalid reply_code %d", r.ReplyCode)
		}
		ur.code = r.ReplyCode
		if ur.matched == "" {
			ur.matched = strconv.Itoa(r.ReplyCode)
		}
	}
	if r.Domain != "" {
		d := strings.ToLower(strings.Trim(strings.TrimSpace(r.Domain), "."))
		d = strings.TrimPrefix(d, "@")
		if d == "" || strings.ContainsAny(d, "@ \t") {
			return userRule{}, nil, fmt.Errorf("invalid domain %q", r.Domain)
		}
		ur.domain = d
		if ur.matched == "" {
			ur.matched = d
		}
	}
	if !ur.hasText && ur.status.n == 0 && ur.code == 0 && ur.domain == "" {
		return userRule{}, nil, errors.New("no condition: give text, status, reply_code or domain")
	}
	return ur, phrases, nil
}

// parseStatusPrefix reads "5", "5.", "5.7", "5.7." or "5.7.1".
func parseStatusPrefix(s string) (statusPrefix, bool) {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return statusPrefix{}, false
	}
	var v [3]uint16
	for i, p := range parts {
		if p == "" || len(p) > 3 {
			return statusPrefix{}, false
		}
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return statusPrefix{}, false
		}
		v[i] = uint16(n)
	}
	if v[0] != 2 && v[0] != 4 && v[0] != 5 || len(parts[0]) != 1 {
		return statusPrefix{}, false
	}
	return statusPrefix{n: len(parts), s: dsn.Status{Class: v[0], Subject: v[1], Detail: v[2]}}, true
}

// builtin is the classifier of the built-in rules, built on first use.
var builtin = sync.OnceValue(func() *Classifier {
	c, err := New(nil)
	if err != nil {
		panic("classify: built-in rules: " + err.Error()) // the tests build them
	}
	return c
})

// Classify classifies in with the built-in rules only.
func Classify(in Input) Result { return builtin().Classify(in) }

// Classify tells why the recipient described by in bounced. Evidence is
// weighed in this order: user rules; a precise enhanced status code (unless
// it is one servers misuse and the text says otherwise); provider texts;
// generic texts; the recipient's domain; a vague enhanced status code; weak
// texts; the basic reply code.
//
// Then three corrections: a recipient cause for a failure that answered
// MAIL FROM (or the greeting) is about the sender; connection trouble that
// the MTA retried, with no permanent code, is Expired; and a delay notice
// that says nothing more precise is Expired too (the message is ageing in
// a queue).
func (c *Classifier) Classify(in Input) Result {
	text := in.Diagnostic
	ascii := isASCII(text)
	if !ascii {
		// The matcher folds ASCII case itself; other scripts need the
		// Unicode mapping. strings.ToLower returns text itself, without
		// allocating, when nothing changes.
		text = strings.ToLower(text)
	}
	var found phrase.Set
	if ascii {
		// No non-ASCII phrase can occur.
		c.mASCII.Scan(text, &found)
	} else {
		c.m.Scan(text, &found)
	}

	for i := range c.user {
		if matched, ok := c.matchUser(i, &found, in); ok {
			u := &c.user[i]
			return c.result(in, u.cause, u.severity, u.id, matched)
		}
	}

	cmd, cmdMatched := normCommand(in.Command), in.Command
	if cmd == "" {
		cmd, cmdMatched = c.commandFromText(&found)
	}
	cause, rule, matched := c.decide(in, &found, cmd)
	switch {
	case cause.Scope() == ScopeRecipient && cmd == "MAIL":
		// RFC 5321 3.3: MAIL FROM comes before any recipient, so its
		// refusal cannot be about one.
		cause, rule, matched = Policy, commandRule(cmd), cmdMatched
	case (cmd == "CONNECT" || cmd == "HELO") && (cause.Scope() == ScopeRecipient || cause == Policy && vaguePolicy(rule)):
		// Refused at the greeting or the HELO, before any sender or
		// recipient, for no reason more precise: the connecting host is
		// refused.
		cause, rule, matched = Blocklisted, commandRule(cmd), cmdMatched
	case cause == BadAddress && cmd == "DATA" && strings.HasSuffix(strings.ToLower(in.RemoteMTA), "docomo.ne.jp"):
		// NTT docomo accepts every recipient at RCPT and answers a sender
		// its subscriber filters out with "550 Unknown user" after DATA.
		cause, rule, matched = Policy, "provider:docomo:filtered-after-data", in.RemoteMTA
	case rule == "" && isDelay(in):
		cause, rule, matched = Expired, "delay", string(in.Action)
	}
	if rule == "" {
		rule = "none"
	}
	return c.result(in, cause, "", rule, matched)
}

// decide weighs the built-in evidence. An empty rule means nothing
// precise decided: the cause is Unknown or comes from a vague code.
func (c *Classifier) decide(in Input, found *phrase.Set, cmd string) (cause Cause, rule, matched string) {
	if isExitStatus(in.Diagnostic) {
		// sysexits(3) or a pipe's exit status, as Sendmail reports a
		// local mailer's failure ("Diagnostic-Code: X-Unix; 75").
		return ServerError, "text:mailer-exit-status", in.Diagnostic
	}
	tr, phrase, textOK := c.firstText(found)
	sr, statusOK := lookupStatus(c.status, in.Status)
	if statusOK && !sr.vague && sr.cause != "" && !(textOK && sr.yield.has(tr.cause)) {
		rule, matched := c.statusRule(in.Status)
		return sr.cause, rule, matched
	}
	if textOK && !tr.weak {
		if tr.retried && !permanent(in) {
			return Expired, tr.retriedID, phrase
		}
		return tr.cause, tr.id, phrase
	}
	if isDelay(in) {
		return Unknown, "", ""
	}
	for i := range domainRules {
		if d := &domainRules[i]; domainMatch(in.Domain, d.domain) {
			return d.cause, d.id, d.domain
		}
	}
	if statusOK && sr.cause != "" {
		rule, matched := c.statusRule(in.Status)
		return sr.cause, rule, matched
	}
	if textOK {
		return tr.cause, tr.id, phrase
	}
	if cause, ok := lookupCode(in.ReplyCode, cmd); ok {
		s := codeString(in.ReplyCode)
		return cause, "code:" + s, s
	}
	return Unknown, "", ""
}

// permanent reports whether the codes say the failure is permanent.
func permanent(in Input) bool {
	switch in.Status.Class {
	case 5:
		return true
	case 4:
		return false
	}
	return in.ReplyCode/100 == 5
}

// vaguePolicy reports whether a Policy decision came from evidence that
// names no particular policy.
func vaguePolicy(rule string) bool {
	return rule == "text:policy" || strings.HasPrefix(rule, "code:") || strings.HasPrefix(rule, "status:")
}

// commandRule is the rule id of a decision taken from the SMTP command.
func commandRule(cmd string) string {
	switch cmd {
	case "MAIL":
		return "command:mail"
	case "HELO":
		return "command:helo"
	case "CONNECT":
		return "command:connect"
	}
	return "command:" + strings.ToLower(cmd)
}

// isExitStatus reports whether diag is only a number from 1 to 255.
func isExitStatus(diag string) bool {
	diag = strings.TrimSpace(diag)
	if len(diag) == 0 || len(diag) > 3 {
		return false
	}
	n := 0
	for i := 0; i < len(diag); i++ {
		if diag[i] < '0' || diag[i] > '9' {
			return false
		}
		n = n*10 + int(diag[i]-'0')
	}
	return n >= 1 && n <= 255
}

func isDelay(in Input) bool { return in.Kind == dsn.Delay || in.Action == dsn.Delayed }

// commandPhrases tell from the text which SMTP command a failure answered,
// as Exim ("after MAIL FROM"), Postfix ("in reply to RCPT TO command") and
// qmail ("but sender was rejected") write it.
var commandPhrases = []struct{ phrase, command string }{
	{"after mail from", "MAIL"},
	{"in reply to mail from", "MAIL"},
	{"but sender was rejected", "MAIL"},
	{"after rcpt to", "RCPT"},
	{"in reply to rcpt to", "RCPT"},
	{"did not like our rcpt to", "RCPT"},
	{"does not like recipient", "RCPT"},
	{"after end of data", "DATA"},
	{"in reply to end of data", "DATA"},
	{"in reply to data", "DATA"},
	{"after data", "DATA"},
	{"after initial connection", "CONNECT"},
	{"after helo", "HELO"},
	{"after ehlo", "HELO"},
	{"in reply to helo", "HELO"},
	{"in reply to ehlo", "HELO"},
	{"but my name was rejected", "HELO"},
}

// commandFromText returns the command the text names, when it names
// exactly one.
func (c *Classifier) commandFromText(found *phrase.Set) (cmd, matched string) {
	for i, p := range commandPhrases {
		if !found.Has(c.nCommand + int32(i)) {
			continue
		}
		if cmd != "" && cmd != p.command {
			return "", "" // a text about several recipients: no answer
		}
		cmd, matched = p.command, p.phrase
	}
	return cmd, matched
}

// matchUser reports whether user rule i holds, and what it matched.
func (c *Classifier) matchUser(i int, found *phrase.Set, in Input) (string, bool) {
	u := &c.user[i]
	if u.status.n > 0 && !u.status.match(in.Status) {
		return "", false
	}
	if u.code != 0 && u.code != in.ReplyCode {
		return "", false
	}
	if u.domain != "" && !domainMatch(in.Domain, u.domain) {
		return "", false
	}
	if !u.hasText {
		return u.matched, true
	}
	want := int32(-1 - i)
	for p := found.NextBelow(0, c.nUser); p >= 0; p = found.NextBelow(p+1, c.nUser) {
		if c.phraseRule[p] == want {
			return c.phrases[p], true
		}
	}
	return "", false
}

// firstText finds the first built-in text rule that holds and the phrase
// that triggered it.
func (c *Classifier) firstText(found *phrase.Set) (*compiledText, string, bool) {
	for p := found.NextBelow(c.nUser, c.nTrigger); p >= 0; p = found.NextBelow(p+1, c.nTrigger) {
		r := &c.text[c.phraseRule[p]]
		ok := true
		for _, a := range r.all {
			if !found.Has(a) {
				ok = false
				break
			}
		}
		if ok {
			return r, c.phrases[p], true
		}
	}
	return nil, "", false
}

// statusRule gives the rule id and the matched text of a status decision.
func (c *Classifier) statusRule(s dsn.Status) (rule, matched string) {
	if _, exact := c.status[statusKey(s.Subject, s.Detail)]; !exact {
		// A detail the table does not know: decided by its subject.
		return "status:" + strconv.Itoa(int(s.Class)) + "." + strconv.Itoa(int(s.Subject)), s.String()
	}
	id := statusID(s)
	return id, id[len("status:"):]
}

func (c *Classifier) result(in Input, cause Cause, sev Severity, rule, matched string) Result {
	return Result{
		Cause:    cause,
		Severity: severity(in, cause, sev),
		Scope:    cause.Scope(),
		Rule:     rule,
		Matched:  matched,
	}
}

// severity decides hard or soft: a delay is always soft; then a user
// rule's choice; then the class of the enhanced status code, the first
// digit of the reply code, and last the cause's default. A notice that gave
// up after retrying a transient error carries a class 4 code, so it is
// soft (DESIGN.md).
func severity(in Input, cause Cause, override Severity) Severity {
	if in.Kind == dsn.Delay || in.Action == dsn.Delayed {
		return Soft
	}
	if override != "" {
		return override
	}
	switch in.Status.Class {
	case 4:
		return Soft
	case 5:
		return Hard
	}
	switch in.ReplyCode / 100 {
	case 4:
		return Soft
	case 5:
		return Hard
	}
	return cause.defaultSeverity()
}

// domainMatch reports whether domain is d or a subdomain of it, ignoring
// case.
func domainMatch(domain, d string) bool {
	if len(domain) < len(d) {
		return false
	}
	tail := domain[len(domain)-len(d):]
	if !strings.EqualFold(tail, d) {
		return false
	}
	return len(domain) == len(d) || domain[len(domain)-len(d)-1] == '.'
}

// normCommand reduces the SMTP command a failure answered to its verb:
// "RCPT TO" is RCPT, "end of DATA" and BDAT are DATA.
func normCommand(cmd string) string {
	cmd = strings.TrimSpace(cmd)
	switch {
	case cmd == "":
		return ""
	case hasPrefixFold(cmd, "RCPT"):
		return "RCPT"
	case hasPrefixFold(cmd, "MAIL"):
		return "MAIL"
	case hasPrefixFold(cmd, "DATA"), hasPrefixFold(cmd, "BDAT"), hasPrefixFold(cmd, "END OF DATA"),
		hasPrefixFold(cmd, "END-OF-DATA"):
		return "DATA"
	case hasPrefixFold(cmd, "EHLO"), hasPrefixFold(cmd, "HELO"), hasPrefixFold(cmd, "LHLO"):
		return "HELO"
	case hasPrefixFold(cmd, "CONNECT"):
		return "CONNECT"
	}
	return cmd
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Precomputed strings, so that a result costs no allocation.
var (
	// statusIDs holds "status:C.S.D" for every code of statusRules, by
	// class (4 or 5).
	statusIDs = func() (t [2]map[uint32]string) {
		for i, class := range []uint16{4, 5} {
			t[i] = make(map[uint32]string, len(statusRules))
			for _, r := range statusRules {
				t[i][statusKey(r.subject, r.detail)] = "status:" + statusString(dsn.Status{Class: class, Subject: r.subject, Detail: r.detail})
			}
		}
		return t
	}()
	// codeStrings holds the decimal form of every reply code 200 to 599.
	codeStrings = func() (t [400]string) {
		for i := range t {
			t[i] = strconv.Itoa(200 + i)
		}
		return t
	}()
)

func statusID(s dsn.Status) string {
	if id, ok := statusIDs[s.Class-4][statusKey(s.Subject, s.Detail)]; ok {
		return id
	}
	return "status:" + s.String()
}

// statusString formats s as "C.S.D".
func statusString(s dsn.Status) string {
	return strconv.Itoa(int(s.Class)) + "." + strconv.Itoa(int(s.Subject)) + "." + strconv.Itoa(int(s.Detail))
}

func codeString(code int) string {
	if code >= 200 && code < 600 {
		return codeStrings[code-200]
	}
	return strconv.Itoa(code)
}
