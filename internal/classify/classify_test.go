package classify

import (
	"strings"
	"testing"

	"github.com/bounced/bounced/internal/dsn"
)

func st(s string) dsn.Status {
	v, ok := dsn.ParseStatus(s)
	if !ok {
		panic("bad status " + s)
	}
	return v
}

type classifyTest struct {
	name string
	in   Input
	want Cause
	rule string // when set, the rule id that must decide
}

func runClassify(t *testing.T, c *Classifier, tests []classifyTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.Classify(tt.in)
			if got.Cause != tt.want {
				t.Errorf("cause %q (rule %s, matched %q), want %q", got.Cause, got.Rule, got.Matched, tt.want)
			}
			if tt.rule != "" && got.Rule != tt.rule {
				t.Errorf("rule %q, want %q", got.Rule, tt.rule)
			}
			if got.Scope != got.Cause.Scope() {
				t.Errorf("scope %q for cause %q", got.Scope, got.Cause)
			}
			if !got.Severity.Valid() {
				t.Errorf("severity %q", got.Severity)
			}
		})
	}
}

func builtinClassifier(t *testing.T) *Classifier {
	t.Helper()
	c, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Every cause, from its most usual evidence.
func TestClassifyCauses(t *testing.T) {
	runClassify(t, builtinClassifier(t), []classifyTest{
		{"bad_address/status", Input{Status: st("5.1.1"), ReplyCode: 550, Diagnostic: "550 5.1.1 <a@example.com>: nope"}, BadAddress, "status:5.1.1"},
		{"bad_address/text", Input{ReplyCode: 550, Diagnostic: "550 sorry, no such user here"}, BadAddress, "text:user-unknown"},
		{"bad_address/moved", Input{Status: st("5.1.6"), Diagnostic: "mailbox moved"}, BadAddress, "status:5.1.6"},
		{"bad_domain/status", Input{Status: st("5.1.2"), Diagnostic: "bad destination system"}, BadDomain, "status:5.1.2"},
		{"bad_domain/null-mx", Input{Status: st("5.1.10"), Diagnostic: "recipient domain has a null MX"}, BadDomain, "status:5.1.10"},
		{"bad_domain/text", Input{Diagnostic: "Host or domain name not found. Name service error for name=example.invalid type=A: Host not found"}, BadDomain, "text:domain-not-found"},
		{"mailbox_disabled/status", Input{Status: st("5.2.1"), Diagnostic: "550 5.2.1 disabled"}, MailboxDisabled, ""},
		{"mailbox_disabled/5.7.13", Input{Status: st("5.7.13"), ReplyCode: 525, Diagnostic: "525 5.7.13 user account disabled"}, MailboxDisabled, "status:5.7.13"},
		{"mailbox_disabled/text", Input{ReplyCode: 550, Diagnostic: "550 this account has been suspended"}, MailboxDisabled, "text:mailbox-disabled"},
		{"mailbox_full/status", Input{Status: st("4.2.2"), ReplyCode: 452, Diagnostic: "452 4.2.2 try later"}, MailboxFull, "status:4.2.2"},
		{"mailbox_full/text", Input{ReplyCode: 552, Diagnostic: "552 user is over quota"}, MailboxFull, "text:mailbox-full"},
		{"oversize/5.3.4", Input{Status: st("5.3.4"), Diagnostic: "552 5.3.4 too big"}, Oversize, "status:5.3.4"},
		{"oversize/5.2.3", Input{Status: st("5.2.3"), Diagnostic: "552 5.2.3 length"}, Oversize, "status:5.2.3"},
		{"oversize/text", Input{ReplyCode: 552, Diagnostic: "552 Message size exceeds fixed maximum message size"}, Oversize, "text:oversize"},
		{"spam_content", Input{Status: st("5.7.1"), ReplyCode: 550, Diagnostic: "550 5.7.1 Message scored as spam by the filter"}, SpamContent, "text:spam"},
		{"virus", Input{Status: st("5.7.1"), ReplyCode: 554, Diagnostic: "554 5.7.1 Virus detected: Eicar-Test-Signature"}, Virus, "text:virus"},
		{"blocklisted", Input{Status: st("5.7.1"), ReplyCode: 554, Diagnostic: "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"}, Blocklisted, "text:blocklisted"},
		{"auth_failure/status", Input{Status: st("5.7.26"), Diagnostic: "550 5.7.26 unauthenticated"}, AuthFailure, "status:5.7.26"},
		{"auth_failure/5.7.23", Input{Status: st("5.7.23"), Diagnostic: "SPF"}, AuthFailure, "status:5.7.23"},
		{"auth_failure/text", Input{ReplyCode: 550, Diagnostic: "550 rejected per DMARC policy for example.org"}, AuthFailure, "text:auth-failure"},
		{"policy/relay", Input{Status: st("5.7.1"), ReplyCode: 554, Diagnostic: "554 5.7.1 <a@example.com>: Relay access denied"}, Policy, "text:relay-denied"},
		{"policy/ptr", Input{Status: st("5.7.25"), Diagnostic: "550 5.7.25 no PTR"}, Policy, "status:5.7.25"},
		{"policy/tls", Input{ReplyCode: 530, Diagnostic: "530 Must issue a STARTTLS command first"}, Policy, "text:tls-required"},
		{"rate_limited/text", Input{Status: st("4.7.0"), ReplyCode: 421, Diagnostic: "421 4.7.0 Too many connections from your IP"}, RateLimited, "text:rate-limited"},
		{"rate_limited/greylist", Input{Status: st("4.7.1"), ReplyCode: 450, Diagnostic: "450 4.7.1 Greylisted, please come back in 5 minutes"}, RateLimited, "text:rate-limited"},
		{"expired/status", Input{Status: st("4.4.7"), Action: dsn.Failed, Diagnostic: "delivery time expired"}, Expired, "status:4.4.7"},
		{"expired/text", Input{Action: dsn.Failed, Diagnostic: "retry timeout exceeded"}, Expired, "text:expired"},
		{"network_error/refused", Input{Status: st("5.4.1"), Diagnostic: "connect to mx.example.com[192.0.2.1]:25: Connection refused"}, NetworkError, "text:connection"},
		{"network_error/loop", Input{Status: st("5.4.6"), Diagnostic: "554 5.4.6 Too many hops"}, NetworkError, "status:5.4.6"},
		{"server_error/text", Input{Status: st("4.3.0"), ReplyCode: 451, Diagnostic: "451 4.3.0 Internal server error"}, ServerError, "text:server-error"},
		{"server_error/code", Input{ReplyCode: 421, Diagnostic: "421 closing"}, ServerError, "code:421"},
		{"protocol_error/code", Input{ReplyCode: 503, Diagnostic: "503 need RCPT"}, ProtocolError, "code:503"},
		{"protocol_error/text", Input{Diagnostic: "Command not recognized"}, ProtocolError, "text:protocol-error"},
		{"unknown", Input{Diagnostic: "something odd happened"}, Unknown, "none"},
		{"unknown/empty", Input{}, Unknown, "none"},
	})
}

// The common causes in each language group.
func TestClassifyLanguages(t *testing.T) {
	type lang struct {
		name    string
		phrases map[Cause][]string
	}
	langs := []lang{
		{"english", map[Cause][]string{
			BadAddress:      {"User unknown", "No such user here", "mailbox unavailable", "The email account does not exist"},
			MailboxFull:     {"Mailbox is full", "Quota exceeded for this recipient"},
			MailboxDisabled: {"Account disabled", "This mailbox has been deactivated"},
			BadDomain:       {"Domain not found", "no MX record for the domain"},
			SpamContent:     {"Message rejected as spam"},
			Virus:           {"The message contains a virus"},
			Oversize:        {"Message too large"},
			Blocklisted:     {"Your IP is listed at bl.example.net"},
			Policy:          {"Relaying denied"},
			RateLimited:     {"Too many messages, slow down"},
			Expired:         {"Message expired after 5 days"},
			NetworkError:    {"Connection refused by host"},
		}},
		{"french", map[Cause][]string{
			BadAddress:      {"Utilisateur inconnu", "Adresse destinataire invalide", "cette adresse n'existe pas"},
			MailboxFull:     {"Boîte aux lettres pleine", "BOITE PLEINE", "quota dépassé"},
			MailboxDisabled: {"Compte désactivé"},
			BadDomain:       {"Domaine inexistant"},
			SpamContent:     {"Message considéré comme pourriel"},
			Oversize:        {"Message trop volumineux"},
			Blocklisted:     {"Adresse présente sur liste noire"},
			Policy:          {"Relais refusé"},
			RateLimited:     {"Trop de connexions"},
			NetworkError:    {"Connexion refusée"},
		}},
		{"german", map[Cause][]string{
			BadAddress:      {"Benutzer unbekannt", "Empfänger unbekannt", "Das Postfach existiert nicht"},
			MailboxFull:     {"Postfach voll", "POSTFACH IST VOLL"},
			MailboxDisabled: {"Konto gesperrt"},
			BadDomain:       {"Domain existiert nicht"},
			Oversize:        {"Nachricht zu groß"},
			Blocklisted:     {"IP steht auf der schwarze Liste"},
			RateLimited:     {"Zu viele Verbindungen"},
			NetworkError:    {"Verbindung abgelehnt"},
		}},
		{"spanish", map[Cause][]string{
			BadAddress:      {"Usuario desconocido", "El usuario no existe"},
			MailboxFull:     {"Buzón lleno", "BUZON LLENO"},
			MailboxDisabled: {"Cuenta desactivada"},
			BadDomain:       {"Dominio inexistente"},
			Oversize:        {"Mensaje demasiado grande"},
			Blocklisted:     {"IP en lista negra"},
			RateLimited:     {"Demasiadas conexiones"},
			NetworkError:    {"Conexión rechazada"},
		}},
		{"portuguese", map[Cause][]string{
			BadAddress:      {"Usuário desconhecido", "Endereço inexistente"},
			MailboxFull:     {"Caixa postal cheia", "cota excedida"},
			MailboxDisabled: {"Conta desativada"},
			BadDomain:       {"Domínio inexistente"},
			Oversize:        {"Mensagem muito grande"},
			RateLimited:     {"Muitas conexões"},
			NetworkError:    {"Conexão recusada"},
		}},
		{"italian", map[Cause][]string{
			BadAddress:      {"Utente sconosciuto", "Indirizzo inesistente"},
			MailboxFull:     {"Casella piena", "casella di posta piena"},
			MailboxDisabled: {"Account sospeso"},
			BadDomain:       {"Dominio inesistente"},
			Oversize:        {"Messaggio troppo grande"},
			Blocklisted:     {"IP in lista nera"},
			RateLimited:     {"Troppe connessioni"},
			NetworkError:    {"Connessione rifiutata"},
		}},
		{"dutch", map[Cause][]string{
			BadAddress:      {"Onbekende gebruiker", "Dit adres bestaat niet"},
			MailboxFull:     {"Mailbox vol", "postvak vol"},
			MailboxDisabled: {"Account geblokkeerd"},
			BadDomain:       {"Domein bestaat niet"},
			Oversize:        {"Bericht te groot"},
			Blocklisted:     {"IP op zwarte lijst"},
			RateLimited:     {"Te veel verbindingen"},
			NetworkError:    {"Verbinding geweigerd"},
		}},
		{"japanese", map[Cause][]string{
			BadAddress:      {"宛先不明のため配送できません", "指定されたユーザは存在しません"},
			MailboxFull:     {"メールボックスの容量超過", "メールボックスがいっぱいです"},
			MailboxDisabled: {"このアカウントは利用停止中です"},
			BadDomain:       {"ドメインが存在しません"},
			SpamContent:     {"迷惑メールと判定されました"},
			Virus:           {"ウイルスが検出されました"},
			Oversize:        {"メールのサイズが大きすぎます"},
			NetworkError:    {"接続が拒否されました"},
		}},
		{"chinese", map[Cause][]string{
			BadAddress:      {"用户不存在", "收件人不存在", "邮箱不存在"},
			MailboxFull:     {"邮箱已满", "邮箱空间不足"},
			MailboxDisabled: {"该账户已冻结"},
			BadDomain:       {"域名不存在"},
			SpamContent:     {"被判定为垃圾邮件"},
			Virus:           {"邮件含有病毒"},
			Oversize:        {"邮件过大"},
			Blocklisted:     {"IP在黑名单中"},
			RateLimited:     {"发送频率过快"},
			NetworkError:    {"连接被拒绝"},
		}},
	}
	c := builtinClassifier(t)
	for _, l := range langs {
		var tests []classifyTest
		for cause, phrases := range l.phrases {
			for _, p := range phrases {
				tests = append(tests, classifyTest{name: string(cause) + "/" + p, in: Input{Diagnostic: p}, want: cause})
			}
		}
		t.Run(l.name, func(t *testing.T) { runClassify(t, c, tests) })
	}
}

// The order of evidence.
func TestClassifyPrecedence(t *testing.T) {
	runClassify(t, builtinClassifier(t), []classifyTest{
		// A vague code never beats a precise text.
		{"vague 5.7.1 vs blocklist text", Input{Status: st("5.7.1"), ReplyCode: 550, Diagnostic: "550 5.7.1 blocked using zen.spamhaus.org"}, Blocklisted, "text:blocklisted"},
		{"vague 5.0.0 vs full text", Input{Status: st("5.0.0"), ReplyCode: 550, Diagnostic: "5.0.0 mailbox full"}, MailboxFull, "text:mailbox-full"},
		{"vague 5.5.0 vs unknown user", Input{Status: st("5.5.0"), ReplyCode: 550, Diagnostic: "550 Requested action not taken: mailbox unavailable"}, BadAddress, "text:user-unknown"},
		{"vague 5.7.1 alone", Input{Status: st("5.7.1"), ReplyCode: 550, Diagnostic: "550 5.7.1 go away"}, Policy, "status:5.7.1"},
		{"vague 5.0.0 then reply code", Input{Status: st("5.0.0"), ReplyCode: 552, Diagnostic: "552 nope"}, MailboxFull, "code:552"},
		{"unregistered detail is decided by its subject", Input{Status: st("5.7.650"), Diagnostic: "nothing known"}, Policy, "status:5.7"},
		// A precise code beats generic text...
		{"5.1.1 vs spam word", Input{Status: st("5.1.1"), ReplyCode: 550, Diagnostic: "550 5.1.1 user unknown (spam trap list)"}, BadAddress, "status:5.1.1"},
		{"5.2.2 vs user word", Input{Status: st("5.2.2"), ReplyCode: 552, Diagnostic: "552 5.2.2 user unknown or over quota"}, MailboxFull, "status:5.2.2"},
		{"4.4.7 vs timeout text", Input{Status: st("4.4.7"), Action: dsn.Failed, Diagnostic: "Connection timed out"}, Expired, "status:4.4.7"},
		// ...except where servers are known to misuse it.
		{"5.2.1 used for unknown users", Input{Status: st("5.2.1"), ReplyCode: 550, Diagnostic: "550 5.2.1 <a@example.com>... User Unknown"}, BadAddress, "text:user-unknown"},
		{"5.2.1 used for receiving rate", Input{Status: st("5.2.1"), ReplyCode: 550, Diagnostic: "550-5.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages"}, RateLimited, "provider:google:receiving-rate"},
		{"5.1.1 with a full mailbox", Input{Status: st("5.1.1"), ReplyCode: 552, Diagnostic: "552 5.1.1 mailbox full"}, MailboxFull, "text:mailbox-full"},
		{"5.1.1 blaming the sending rate", Input{Status: st("5.1.1"), ReplyCode: 550, Diagnostic: "550 5.1.1 192.0.2.1 has sent to too many recipients this hour"}, RateLimited, ""},
		{"5.4.1 from Microsoft is a refused recipient", Input{Status: st("5.4.1"), ReplyCode: 550, Diagnostic: "550 5.4.1 Recipient address rejected: Access denied. [x.prod.protection.outlook.com]"}, BadAddress, "provider:microsoft:recipient-not-found"},
		{"5.1.10 from Microsoft is a missing recipient", Input{Status: st("5.1.10"), ReplyCode: 550, Diagnostic: "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"}, BadAddress, ""},
		// Provider text before generic text.
		{"gmail disabled", Input{Status: st("5.2.1"), Diagnostic: "550-5.2.1 The email account that you tried to reach is disabled. https://support.google.com/mail/?p=DisabledUser"}, MailboxDisabled, "provider:google:disabled"},
		{"microsoft banned ip", Input{Status: st("5.7.606"), Diagnostic: "550 5.7.606 Access denied, banned sending IP [192.0.2.1]"}, Blocklisted, "provider:microsoft:blocked-ip"},
		{"yahoo no account", Input{ReplyCode: 554, Diagnostic: "554 delivery error: dd This user doesn't have a yahoo.com account"}, BadAddress, "provider:yahoo:no-account"},
		{"orange invalid recipient", Input{Status: st("5.1.1"), Diagnostic: "550 5.1.1 Adresse d au moins un destinataire invalide. OFR_416"}, BadAddress, ""},
		{"tencent frequency", Input{ReplyCode: 550, Diagnostic: "550 Ip frequency limited"}, RateLimited, "provider:tencent:frequency"},
		{"google dns error", Input{Status: st("4.0.0"), Diagnostic: "DNS Error: DNS type 'mx' lookup of example.invalid responded with code NXDOMAIN"}, NetworkError, "provider:google:dns-error"},
		{"generic nxdomain without google", Input{Diagnostic: "lookup responded with NXDOMAIN"}, BadDomain, "text:domain-not-found"},
		{"google groups by domain", Input{Domain: "googlegroups.com", Diagnostic: "Γεια σας, η ομάδα"}, Policy, "provider:google:groups"},
		// Sender-side text before recipient-side text.
		{"sender domain does not exist", Input{Status: st("5.1.8"), ReplyCode: 553, Diagnostic: "553 5.1.8 Domain of sender address x@example.invalid does not exist"}, Policy, "status:5.1.8"},
		{"sender text with vague code", Input{Status: st("5.0.0"), ReplyCode: 553, Diagnostic: "553 Domain of sender address x@example.invalid does not exist"}, Policy, "text:sender-rejected"},
		{"blocklist url in content", Input{ReplyCode: 550, Diagnostic: "550 Blacklisted URL in message, see uribl"}, SpamContent, "text:listed-url"},
		{"bare recipient rejection is weak", Input{Status: st("5.7.0"), ReplyCode: 550, Diagnostic: "550 5.7.0 <a@example.com>: Recipient address rejected: Spam detected"}, SpamContent, "text:spam"},
		{"word boundary", Input{ReplyCode: 451, Diagnostic: "451 queue id 8SPF2X1 deferred"}, ServerError, "code:451"},
		// Corrections after the evidence.
		{"refused after MAIL FROM is about the sender", Input{ReplyCode: 553, Diagnostic: "SMTP error from remote mail server after MAIL FROM:<s@example.org>: 553 s.example.org does not exist"}, Policy, "command:mail"},
		{"MAIL command given", Input{ReplyCode: 550, Command: "MAIL FROM", Diagnostic: "550 unknown user"}, Policy, "command:mail"},
		{"RCPT command given", Input{ReplyCode: 550, Command: "RCPT TO", Diagnostic: "550 unknown user"}, BadAddress, "text:user-unknown"},
		{"refused at connection", Input{ReplyCode: 550, Diagnostic: "SMTP error from remote mail server after initial connection: 550 Access denied"}, Blocklisted, "command:connect"},
		{"550 after DATA", Input{ReplyCode: 550, Command: "DATA", Diagnostic: "550 go away"}, Policy, "code:550"},
		{"connection timeout retried until failure", Input{Status: st("4.4.1"), Action: dsn.Failed, Diagnostic: "connect to mx.example.com[192.0.2.1]:25: Connection timed out"}, Expired, "retried:text:connect-timeout"},
		{"permanent connection failure", Input{Status: st("5.4.1"), Action: dsn.Failed, Diagnostic: "Connection timed out"}, NetworkError, "text:connect-timeout"},
		{"delay without reason", Input{Kind: dsn.Delay, Action: dsn.Delayed, Diagnostic: "will keep trying"}, Expired, "delay"},
		{"delay with a reason", Input{Kind: dsn.Delay, Action: dsn.Delayed, Status: st("4.2.2"), Diagnostic: "mailbox full"}, MailboxFull, "status:4.2.2"},
		{"local mailer exit status", Input{Status: st("5.3.0"), Diagnostic: "75"}, ServerError, "text:mailer-exit-status"},
		{"a number that is no exit status", Input{Status: st("5.3.0"), Diagnostic: "1234"}, ServerError, "status:5.3.0"},
		{"PTR refused at connection stays policy", Input{ReplyCode: 554, Diagnostic: "SMTP error from remote mail server after initial connection: 554 Missing reverse DNS for 192.0.2.1"}, Policy, "text:ptr"},
		{"full mailbox then expiry", Input{Action: dsn.Failed, Diagnostic: "mailbox is full: retry timeout exceeded"}, MailboxFull, "text:mailbox-full"},
	})
}

func TestSeverity(t *testing.T) {
	c := builtinClassifier(t)
	tests := []struct {
		name string
		in   Input
		want Severity
	}{
		{"status class 5", Input{Status: st("5.1.1"), ReplyCode: 450}, Hard},
		{"status class 4", Input{Status: st("4.2.2"), ReplyCode: 552}, Soft},
		{"reply code 5xx", Input{ReplyCode: 550, Diagnostic: "user unknown"}, Hard},
		{"reply code 4xx", Input{ReplyCode: 450, Diagnostic: "user unknown"}, Soft},
		{"gave up after a transient error", Input{Status: st("4.4.1"), Action: dsn.Failed, Diagnostic: "connection timed out"}, Soft},
		{"delay is always soft", Input{Kind: dsn.Delay, Status: st("5.1.1"), ReplyCode: 550}, Soft},
		{"delayed action is always soft", Input{Action: dsn.Delayed, ReplyCode: 550, Diagnostic: "user unknown"}, Soft},
		{"no code: bad address hard", Input{Diagnostic: "user unknown"}, Hard},
		{"no code: mailbox full soft", Input{Diagnostic: "mailbox full"}, Soft},
		{"no code: rate limited soft", Input{Diagnostic: "too many connections"}, Soft},
		{"no code: network soft", Input{Diagnostic: "connection refused"}, Soft},
		{"no code: server soft", Input{Diagnostic: "internal server error"}, Soft},
		{"no code: expired soft", Input{Diagnostic: "message expired"}, Soft},
		{"no code: policy hard", Input{Diagnostic: "relay access denied"}, Hard},
		{"no code: unknown hard", Input{Diagnostic: "??"}, Hard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.Classify(tt.in).Severity; got != tt.want {
				t.Errorf("severity %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMatchedForExplain(t *testing.T) {
	c := builtinClassifier(t)
	tests := []struct {
		name          string
		in            Input
		rule, matched string
	}{
		{"status", Input{Status: st("5.1.1"), Diagnostic: "x"}, "status:5.1.1", "5.1.1"},
		{"class 4 status", Input{Status: st("4.2.2")}, "status:4.2.2", "4.2.2"},
		{"text", Input{Diagnostic: "550 NO SUCH USER here"}, "text:user-unknown", "no such user"},
		{"code", Input{ReplyCode: 553}, "code:553", "553"},
		{"unicode text", Input{Diagnostic: "ÜBERFÜLLT: Postfach voll"}, "text:mailbox-full", "postfach voll"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.Classify(tt.in)
			if got.Rule != tt.rule || got.Matched != tt.matched {
				t.Errorf("rule %q matched %q, want %q %q", got.Rule, got.Matched, tt.rule, tt.matched)
			}
		})
	}
}

func TestUserRules(t *testing.T) {
	c, err := New([]Rule{
		{ID: "acme-full", Text: []string{"ACME-ERR-42"}, Cause: MailboxFull},
		{ID: "relay-is-spam", Status: "5.7.1", Text: []string{"relay access denied"}, Domain: "example.net", Cause: SpamContent, Severity: Soft},
		{ID: "class4", Status: "4.", Domain: "slow.example", Cause: RateLimited},
		{ID: "code551", ReplyCode: 551, Cause: BadDomain},
		{ID: "subject", Status: "5.7", Domain: "strict.example", Cause: AuthFailure},
		{ID: "中文", Text: []string{"特殊错误"}, Cause: ServerError},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		in            Input
		want          Cause
		rule, matched string
		sev           Severity
	}{
		{"user rule beats precise status", Input{Status: st("5.1.1"), Diagnostic: "550 5.1.1 acme-err-42"}, MailboxFull, "user:acme-full", "acme-err-42", Hard},
		{"all conditions hold", Input{Status: st("5.7.1"), Domain: "mx.example.net", Diagnostic: "Relay access denied"}, SpamContent, "user:relay-is-spam", "relay access denied", Soft},
		{"domain does not hold", Input{Status: st("5.7.1"), Domain: "example.org", Diagnostic: "Relay access denied"}, Policy, "text:relay-denied", "relay access denied", Hard},
		{"domain is not a suffix match", Input{Status: st("5.7.1"), Domain: "badexample.net", Diagnostic: "Relay access denied"}, Policy, "text:relay-denied", "relay access denied", Hard},
		{"status does not hold", Input{Status: st("5.7.2"), Domain: "example.net", Diagnostic: "Relay access denied"}, Policy, "text:relay-denied", "relay access denied", Hard},
		{"status class prefix", Input{Status: st("4.2.2"), Domain: "slow.example"}, RateLimited, "user:class4", "4.", Soft},
		{"status subject prefix", Input{Status: st("5.7.9"), Domain: "strict.example"}, AuthFailure, "user:subject", "5.7", Hard},
		{"reply code", Input{ReplyCode: 551}, BadDomain, "user:code551", "551", Hard},
		{"unicode text", Input{Diagnostic: "发生特殊错误"}, ServerError, "user:中文", "特殊错误", Soft},
		{"built-in when nothing holds", Input{Status: st("5.1.1")}, BadAddress, "status:5.1.1", "5.1.1", Hard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.Classify(tt.in)
			if got.Cause != tt.want || got.Rule != tt.rule || got.Matched != tt.matched || got.Severity != tt.sev {
				t.Errorf("got %+v, want %s %s %q %s", got, tt.want, tt.rule, tt.matched, tt.sev)
			}
		})
	}
	// The package-level classifier knows nothing of them.
	if got := Classify(Input{Diagnostic: "ACME-ERR-42"}); got.Cause != Unknown {
		t.Errorf("built-in classifier applied a user rule: %+v", got)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name  string
		rules []Rule
		want  string
	}{
		{"unknown cause", []Rule{{ID: "x", Text: []string{"a"}, Cause: "foo"}}, `rule "x": unknown cause "foo"`},
		{"missing cause", []Rule{{ID: "x", Text: []string{"a"}}}, `rule "x": cause is required`},
		{"missing id", []Rule{{ID: "ok", Text: []string{"a"}, Cause: Policy}, {Text: []string{"a"}, Cause: Policy}}, `rule 2: id is required`},
		{"duplicate id", []Rule{{ID: "x", Text: []string{"a"}, Cause: Policy}, {ID: "x", ReplyCode: 550, Cause: Policy}}, `rule "x": duplicate id`},
		{"no condition", []Rule{{ID: "x", Cause: Policy}}, `rule "x": no condition`},
		{"bad severity", []Rule{{ID: "x", ReplyCode: 550, Cause: Policy, Severity: "medium"}}, `rule "x": unknown severity "medium"`},
		{"bad status", []Rule{{ID: "x", Status: "5.x", Cause: Policy}}, `rule "x": invalid status "5.x"`},
		{"bad status class", []Rule{{ID: "x", Status: "3.1.1", Cause: Policy}}, `rule "x": invalid status "3.1.1"`},
		{"too long status", []Rule{{ID: "x", Status: "5.1.1.1", Cause: Policy}}, `rule "x": invalid status`},
		{"bad reply code", []Rule{{ID: "x", ReplyCode: 55, Cause: Policy}}, `rule "x": invalid reply_code 55`},
		{"empty text", []Rule{{ID: "x", Text: []string{" "}, Cause: Policy}}, `rule "x": empty text`},
		{"bad domain", []Rule{{ID: "x", Domain: "a@b", Cause: Policy}}, `rule "x": invalid domain "a@b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.rules)
			if err == nil {
				t.Fatalf("no error, classifier %v", c != nil)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %q, want it to start with %q", err, tt.want)
			}
		})
	}
	for _, good := range []string{"5", "5.", "5.7", "5.7.", "5.7.1", "4.4.7", "5.1.10"} {
		if _, err := New([]Rule{{ID: "s", Status: good, Cause: Policy}}); err != nil {
			t.Errorf("status %q: %v", good, err)
		}
	}
}

func TestNormCommand(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "RCPT TO": "RCPT", "rcpt": "RCPT", "MAIL FROM": "MAIL", "end of DATA": "DATA",
		"DATA": "DATA", "BDAT": "DATA", "EHLO": "HELO", "connect": "CONNECT", "VRFY": "VRFY",
	} {
		if got := normCommand(in); got != want {
			t.Errorf("normCommand(%q) = %q, want %q", in, got, want)
		}
	}
}

// Classify allocates nothing for ASCII text: the matcher folds case itself.
func TestClassifyAllocs(t *testing.T) {
	c := builtinClassifier(t)
	in := Input{Status: st("5.7.1"), ReplyCode: 554, Diagnostic: "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"}
	if n := testing.AllocsPerRun(100, func() { c.Classify(in) }); n != 0 {
		t.Errorf("%v allocations per Classify", n)
	}
}

func TestClassifyConcurrent(t *testing.T) {
	c := builtinClassifier(t)
	done := make(chan bool)
	for i := 0; i < 8; i++ {
		go func() {
			for j := 0; j < 200; j++ {
				if got := c.Classify(Input{ReplyCode: 550, Diagnostic: "550 user unknown"}); got.Cause != BadAddress {
					t.Errorf("got %q", got.Cause)
				}
			}
			done <- true
		}()
	}
	for i := 0; i < 8; i++ {
		<-done
	}
}

func FuzzClassify(f *testing.F) {
	for _, s := range []string{"550 5.1.1 user unknown", "メールボックスがいっぱい", "\xff\xfe", "RELAY", `\b`, ""} {
		f.Add(s, uint16(5), uint16(1), uint16(1), 550)
	}
	c, err := New([]Rule{{ID: "u", Text: []string{"zz"}, Cause: Policy}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, diag string, class, subject, detail uint16, code int) {
		in := Input{Diagnostic: diag, Status: dsn.Status{Class: class, Subject: subject, Detail: detail}, ReplyCode: code}
		got := c.Classify(in)
		if !got.Cause.Valid() || !got.Severity.Valid() || got.Scope != got.Cause.Scope() || got.Rule == "" {
			t.Fatalf("bad result %+v", got)
		}
	})
}

var benchInputs = []Input{
	{Status: dsn.Status{Class: 5, Subject: 1, Detail: 1}, ReplyCode: 550, Diagnostic: "550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. Learn more at https://support.google.com/mail/?p=NoSuchUser a1si123456qkb.12 - gsmtp"},
	{Status: dsn.Status{Class: 5, Subject: 7, Detail: 1}, ReplyCode: 554, Diagnostic: "554 5.7.1 Service unavailable; Client host [192.0.2.55] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.55"},
	{Status: dsn.Status{Class: 5, Subject: 0, Detail: 0}, ReplyCode: 550, Diagnostic: "550 Requested action not taken: mailbox unavailable (-2147467259:2914:-2147467259)"},
	{Status: dsn.Status{Class: 4, Subject: 4, Detail: 1}, Action: dsn.Failed, Diagnostic: "connect to mx.example.org[192.0.2.1]:25: Connection timed out"},
	{Status: dsn.Status{Class: 5, Subject: 2, Detail: 2}, ReplyCode: 552, Diagnostic: "552 5.2.2 <someone@example.jp>... Mailbox Full"},
	{ReplyCode: 550, Diagnostic: "550 5.7.1 メールボックスの容量超過のため受信できません"},
}

func BenchmarkClassify(b *testing.B) {
	c, err := New(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.Classify(benchInputs[i%len(benchInputs)])
	}
}
