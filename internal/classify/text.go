package classify

// A textRule decides from the diagnostic text. It holds when any of its
// phrases occurs and, when all is set, every phrase of all occurs too.
// Phrases are lower-case substrings; `\b` at either end asks for a word
// boundary there (see matcher).
type textRule struct {
	id    string
	cause Cause
	any   []string
	all   []string
	// weak marks a rule weighed after the enhanced status code, even a
	// vague one.
	weak bool
	// retried marks transport trouble that an MTA retries: when the notice
	// carries no permanent code it kept retrying (a delay) or gave up (a
	// failure), and the cause is Expired.
	retried bool
}

// providerRules name the texts of particular providers. They come before
// the generic phrases because they are more specific: Microsoft's
// "Recipient address rejected: Access denied" is an unknown recipient, not
// a policy refusal.
var providerRules = []textRule{
	// Google (Gmail, Workspace, Groups). The ?p= anchors of the help links
	// are the most stable part of its replies.
	{id: "provider:google:no-such-user", cause: BadAddress, any: []string{
		"?p=nosuchuser", "email account that you tried to reach does not exist",
		"the account that you tried to reach does not exist",
	}},
	{id: "provider:google:disabled", cause: MailboxDisabled, any: []string{
		"?p=disableduser", "account that you tried to reach is disabled",
		"account that you tried to reach is inactive", "account that you tried to reach is over quota and inactive",
	}},
	{id: "provider:google:over-quota", cause: MailboxFull, any: []string{
		"?p=overquotatemp", "?p=overquotaperm", "inbox is out of storage space",
		"is over quota and inactive", "recipient's inbox is full",
	}},
	{id: "provider:google:receiving-rate", cause: RateLimited, any: []string{
		"?p=receivingratetemp", "?p=receivingrateperm", "receiving mail at a rate that",
		"receiving mail too quickly",
	}},
	{id: "provider:google:reputation", cause: Blocklisted, any: []string{
		"very low reputation of the sending", "unusual rate of unsolicited mail",
		"?p=unsolicitedipreputation", "?p=unsolicitedrate",
	}},
	{id: "provider:google:ptr", cause: Policy, any: []string{
		"does not have a ptr record setup", "from ips with missing ptr records",
	}},
	{id: "provider:google:rfc5322", cause: Policy, any: []string{
		"not rfc 5322 compliant", "?p=rfcmessagenoncompliant", "multiple addresses in from: header",
		"multiple addresses in from:",
	}},
	{id: "provider:google:unauthenticated", cause: AuthFailure, any: []string{
		"sender is unauthenticated", "requires all senders to authenticate",
		"does not have authentication information or fails to pass",
	}},
	{id: "provider:google:security-issue", cause: Policy, any: []string{
		"content presents a potential",
	}},
	{id: "provider:google:unsolicited", cause: SpamContent, any: []string{
		"?p=unsolicitedmessage", "has been blocked because it was identified as spam",
		"rejected due to spam classification",
	}},
	{id: "provider:google:null-mx", cause: BadDomain, any: []string{
		"returned null mx", "doesn't receive email according to the administrator",
	}},
	{id: "provider:google:dns-error", cause: NetworkError, all: []string{"dns error"}, any: []string{
		"nxdomain", "servfail", "had no relevant answers", "domain name not found",
	}},
	{id: "provider:google:cannot-connect", cause: NetworkError, retried: true, any: []string{
		"did not accept our requests to connect", "recipient server did not accept our requests",
	}},
	{id: "provider:google:group-permission", cause: Policy, any: []string{
		"you do not have permission to post", "you may not have permission to post",
		"don't have permission to post", "to post messages to the group",
		"the group you tried to contact", "group you tried to contact", "groups.google.com",
	}},
	{id: "provider:google:send-as", cause: Policy, any: []string{"?p=customfromdenied", "'send mail as'"}},

	// Microsoft: Exchange, Office 365, Outlook.com and Hotmail.
	{id: "provider:microsoft:recipient-not-found", cause: BadAddress, any: []string{
		"resolver.adr.recipnotfound", "resolver.adr.recipientnotfound", "resolver.adr.exrecipnotfound",
		"recipient not found by smtp address lookup", "recipient address rejected: access denied",
		"resolver.adr.invalidsmtp",
	}},
	{id: "provider:microsoft:quota", cause: MailboxFull, any: []string{
		"storedrv.deliver: mailbox full", "mapiexceptionshutoffquotaexceeded", "mapiexceptionquotaexceeded",
		"mailbox has exceeded the maximum size",
	}},
	{id: "provider:microsoft:size", cause: Oversize, any: []string{
		"resolver.rst.recipsizelimit", "resolver.rst.sendsizelimit",
	}},
	{id: "provider:microsoft:recipient-rate", cause: RateLimited, any: []string{
		"recipientthresholdexceeded", "per hour message receive limit", "submissionquotaexceeded",
	}},
	{id: "provider:microsoft:restricted", cause: Policy, any: []string{
		"resolver.rst.authrequired", "resolver.rst.notauthorized", "resolver.rst.sendernotauthenticated",
		"resolver.rst.restrictedtorecipientspermission", "tenantattribution",
	}},
	{id: "provider:microsoft:blocked-ip", cause: Blocklisted, any: []string{
		"banned sending ip", "on our block list", "sender.office.com", "rate limited due to ip reputation",
		"traffic not accepted from this ip", "(s3140)", "(s3150)", "(s3113)", "(s3114)", "(s3115)",
		"postmaster.live.com", "client ip not authorized", `\bsc-001\b`, `\bsc-002\b`, `\bsc-003\b`,
		`\bsc-004\b`, `\bdy-001\b`, `\bdy-002\b`, `\bou-001\b`, `\bou-002\b`,
	}},
	{id: "provider:microsoft:dmarc", cause: AuthFailure, any: []string{
		"does not pass dmarc verification",
	}},
	{id: "provider:microsoft:expired", cause: Expired, any: []string{"queue.expired"}},
	{id: "provider:microsoft:domain-unreachable", cause: BadDomain, any: []string{
		"because the domain is not reachable",
	}},
	{id: "provider:microsoft:ptr-mismatch", cause: Policy, any: []string{"mismatches client ip"}},

	// Yahoo, AOL and Verizon Media.
	{id: "provider:yahoo:no-account", cause: BadAddress, any: []string{
		"user doesn't have a", "user does not have a yahoo", "this user doesn't have",
	}},
	{id: "provider:yahoo:disabled", cause: MailboxDisabled, any: []string{
		"account has been disabled or discontinued", "[#102]",
	}},
	{id: "provider:yahoo:deferred", cause: Blocklisted, any: []string{
		"[tss04]", "[tss03]", "[tss01]", "[ts01]", "[ts02]", "[ts03]", "[tsr01]",
		"temporarily deferred due to unexpected volume or user complaints",
		"permanently deferred",
	}},
	{id: "provider:yahoo:policy", cause: Policy, any: []string{
		"not accepted for policy reasons", "email not accepted for policy reasons",
	}},
	{id: "provider:aol:blocked", cause: Blocklisted, any: []string{
		"rtr:bl", "rtr:bb", "rtr:du", "rtr:gr", "rly:b1", "rly:b2", "rly:b3", "rly:bd", "dyn:t1",
		"hvu:b1", "rly:cs4", "rly:nw",
	}},
	{id: "provider:aol:refused", cause: Policy, any: []string{
		"aol will not accept delivery of this message",
	}},

	// Apple iCloud.
	{id: "provider:apple:refused-connection", cause: Blocklisted, all: []string{"me.com"}, any: []string{
		"not accepting connections",
	}},
	{id: "provider:apple:alias", cause: BadAddress, any: []string{"unknown or illegal alias"}},
	{id: "provider:apple:local-policy", cause: Policy, any: []string{"[hm07]", "[hm08]"}},
	{id: "provider:apple:blocked", cause: Blocklisted, any: []string{"[cs01]", "[cs02]"}},

	// GMX, Web.de, 1&1 (United Internet).
	{id: "provider:gmx:ptr", cause: Policy, any: []string{
		"bad dns ptr resource record", "&c=rdns",
	}},
	{id: "provider:gmx:blocked", cause: Blocklisted, any: []string{
		"mailin.blocklist", "&c=bl",
	}},

	// Mail.ru and Yandex.
	{id: "provider:mailru:spam", cause: SpamContent, any: []string{
		"message rejected under suspicion of spam", "spam message rejected",
		"suspicion of spam", "help.mail.ru/notspam",
	}},
	{id: "provider:yandex:blocked", cause: Blocklisted, any: []string{
		"due to poor reputation", "yandex.ru/support/mail-new/web/spam/honest-mailers",
	}},

	// Zoho.
	{id: "provider:zoho:inactive", cause: MailboxDisabled, any: []string{"mailbox is inactive"}},
	{id: "provider:zoho:unusual", cause: RateLimited, any: []string{"unusual sending activity"}},

	// Comcast, Cox, Charter/Spectrum: reference codes in the reply.
	{id: "provider:comcast:ptr", cause: Policy, any: []string{
		"ptr record", "ptr00000", "ptr00001", "comcast requires that all mail servers must have",
	}, all: []string{"comcast"}},
	{id: "provider:comcast:blocked", cause: Blocklisted, any: []string{
		"bl000000", "bl000001", "bl000010", "bl000100", "comcast block for spam", "abuse_rbl",
	}},
	{id: "provider:comcast:rate", cause: RateLimited, any: []string{"rl000001", "rl000010", "rl000100"}},
	{id: "provider:cox:blocked", cause: Blocklisted, any: []string{
		"cox.net/rbl", "cdrbl", "ipbl0", "ipbl1", "ipbl2", "urlbl", "cox.com/rbl",
	}},
	{id: "provider:cox:rate", cause: RateLimited, any: []string{"cxmxrt", "cxconn", "cxsnd", "cxrcpt"}},
	{id: "provider:spectrum:rate", cause: RateLimited, any: []string{
		"aup#in-1310", "aup#i-1310", "aup#out-1310", "aup#o-1310", "aup#mxrt",
	}},
	{id: "provider:spectrum:blocked", cause: Blocklisted, any: []string{
		"aup#cxbl", "aup#in-1000", "aup#i-1000", "aup#bl", "aup#cndp", "aup#dns",
	}},

	// Orange, Wanadoo, La Poste, SFR, Free (France).
	{id: "provider:orange:invalid-recipient", cause: BadAddress, any: []string{
		"ofr_416", "lpn007_416", "destinataires invalide",
	}},
	{id: "provider:orange:mailbox-full", cause: MailboxFull, any: []string{"ofr_417", "lpn007_417"}},
	{id: "provider:orange:blocked", cause: Blocklisted, any: []string{
		"lpn105_104", "ofr004_104", "ofr_104", "lpn007_510", "adresse ip source bloquee", "service refuse",
	}},
	{id: "provider:orange:spam", cause: SpamContent, any: []string{"ofr_506", "ofr004_506", "mail rejete. mail rejected"}},
	{id: "provider:orange:rate", cause: RateLimited, any: []string{
		"ofr_421", "ofr_420", "ofr004_421", "lpn105_421", "nombre de connexions",
	}},

	// Japanese carriers: NTT docomo, au/KDDI (ezweb), SoftBank.
	{id: "provider:au:disabled", cause: MailboxDisabled, any: []string{
		"the user(s) account is temporarily over quota", "account is disabled",
	}, all: []string{"ezweb"}},

	// Tencent (QQ mail), NetEase (163, 126).
	{id: "provider:tencent:frequency", cause: RateLimited, any: []string{
		"frequency limited", "ip frequency", "connection frequency", "domain frequency limited",
	}},
	{id: "provider:tencent:blacklist", cause: Blocklisted, any: []string{"ip in blacklist", "mail.qq.com/zh_cn/help/error"}},
	{id: "provider:netease:spam", cause: SpamContent, any: []string{"dt:spm", "mi:spm"}},
	{id: "provider:netease:blocked", cause: Blocklisted, any: []string{"rp:cel", "rp:qul", "rp:trc", "rp:edr", "dt:rbl", "mi:sfm"}},
	{id: "provider:netease:rate", cause: RateLimited, any: []string{"rp:rdn", "rp:ctr", "rp:ttr", "mi:stc"}},
	{id: "provider:netease:no-user", cause: BadAddress, any: []string{"mailbox not found or access denied"}},

	// Mimecast, Proofpoint, Symantec MessageLabs, Barracuda, Trend Micro.
	{id: "provider:mimecast:network", cause: Policy, any: []string{"host network not allowed"}},
	{id: "provider:mimecast:security", cause: Virus, any: []string{"rejected due to security policies", "mcspamsignature"}},
	{id: "provider:proofpoint:blocked", cause: Blocklisted, any: []string{
		"proofpoint.com/dnsbl", "dnsbl-lookup", "pphosted.com/dnsbl", "ipcheck.proofpoint.com",
	}},
	{id: "provider:messagelabs:auth", cause: Policy, any: []string{"please turn on smtp authentication"}},
	{id: "provider:barracuda:ube", cause: SpamContent, any: []string{"message content rejected, ube", "barracudanetworks.com/reputation"}},
	{id: "provider:trendmicro:blocked", cause: Blocklisted, any: []string{"ers.trendmicro.com", "mail-abuse.com/cgi-bin/lookup"}},

	// cPanel's Exim, for an address it cannot route.
	{id: "provider:cpanel:unroutable", cause: BadDomain, any: []string{"the account or domain may not exist"}},

	// DragonFly Mail Agent.
	{id: "provider:dragonfly:host-not-found", cause: BadDomain, all: []string{"dns lookup failure"},
		any: []string{" not found"}},

	// Amazon SES as a receiver, SendGrid and other senders' reports.
	{id: "provider:amazonses:unverified", cause: Policy, any: []string{
		"email address is not verified", "identities failed the check",
	}},
	{id: "provider:amazonses:duplicate-header", cause: Policy, any: []string{"duplicate header"}},

	// i.ua, web hosting and others.
	{id: "provider:iua:frozen", cause: MailboxDisabled, any: []string{"mailbox is frozen", "mail.i.ua/err/3"}},
	{id: "provider:godaddy:reputation", cause: Blocklisted, any: []string{
		`\bib401\b`, `\bib501\b`, `\bib504\b`, `\bib510\b`, `\bib705\b`, `\bib707\b`, `\bib212\b`,
		`\bib111\b`, "rejected due to poor reputation",
	}},
	{id: "provider:godaddy:rate", cause: RateLimited, any: []string{`\bib605\b`, `\bib607\b`, "to too many recipients this hour"}},
	{id: "provider:interscan:undeliverable", cause: BadAddress, all: []string{"interscan messaging security suite"},
		any: []string{"unable to deliver message to"}},
}

// A domainRule decides by the recipient's domain when no text rule held:
// some providers answer in so many languages that the domain is the
// steadier clue.
type domainRule struct {
	id     string
	domain string // matches the domain and its subdomains
	cause  Cause
}

var domainRules = []domainRule{
	// Google Groups: the group may not exist or the sender may not post
	// to it; it says so in the sender's language.
	{id: "provider:google:groups", domain: "googlegroups.com", cause: Policy},
}
