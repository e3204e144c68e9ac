package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/daemon"
	"github.com/bounced/bounced/internal/fetch"
	"github.com/bounced/bounced/internal/policy"
	"github.com/bounced/bounced/internal/web"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigExample(t *testing.T) {
	c, err := loadConfig(filepath.Join("..", "..", "config.example.toml"))
	if err != nil {
		t.Fatalf("loading config.example.toml: %v", err)
	}
	if len(c.Parse.CorrelationHeaders) != 0 {
		t.Errorf("correlation_headers = %q, want none", c.Parse.CorrelationHeaders)
	}
	if c.Parse.MaxBytes != defaultMaxBytes {
		t.Errorf("max_bytes = %d, want %d", c.Parse.MaxBytes, defaultMaxBytes)
	}
	if c.Parse.VERP != nil {
		t.Errorf("verp = %+v, want off", *c.Parse.VERP)
	}
	want := []classify.Rule{{
		ID:       "example-quota",
		Text:     []string{"mailbox is over its limit"},
		Domain:   "mail.example.invalid",
		Cause:    classify.MailboxFull,
		Severity: classify.Soft,
	}}
	if len(c.Classify.Rules) != 1 || !ruleEqual(c.Classify.Rules[0], want[0]) {
		t.Errorf("rules = %+v, want %+v", c.Classify.Rules, want)
	}
	if _, err := c.classifier(); err != nil {
		t.Errorf("compiling the example rules: %v", err)
	}
	p, err := c.policy()
	if err != nil {
		t.Fatal(err)
	}
	if p.Fingerprint() != policy.Default().Fingerprint() {
		t.Errorf("example policy %q, want the default %q", p.Fingerprint(), policy.Default().Fingerprint())
	}
	if !*c.Store.KeepRaw || c.Store.BatchSize != defaultBatchSize || c.Retention.RawOlderThan != 0 || c.Retention.RowsOlderThan != 0 {
		t.Errorf("store %+v retention %+v", c.Store, c.Retention)
	}
}

func TestConfigPolicy(t *testing.T) {
	c, err := loadConfig(writeConfig(t, "[suppress.mailbox_full]\ncount = 5\nwindow = \"60d\"\n[suppress.bad_address]\nseverity = \"any\"\n[suppress.complaint]\ncount = 0\n[retention]\nraw_older_than = \"90d\"\nrows_older_than = \"1d12h\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.policy()
	if err != nil {
		t.Fatal(err)
	}
	want := "bad_address x1; bad_domain x1 hard; mailbox_disabled x1 hard; mailbox_full x5 over 7d within 60d"
	if got := p.Fingerprint(); got != want {
		t.Errorf("policy %q, want %q", got, want)
	}
	if time.Duration(c.Retention.RawOlderThan) != 90*24*time.Hour || time.Duration(c.Retention.RowsOlderThan) != 36*time.Hour {
		t.Errorf("retention %+v", c.Retention)
	}
}

func TestDatabaseURL(t *testing.T) {
	t.Setenv("BOUNCED_DATABASE_URL", "")
	t.Setenv("DATABASE_URL", "")
	c, _ := loadConfig("")
	if u, _ := c.databaseURL(); u != defaultDatabaseURL {
		t.Errorf("default url %q", u)
	}
	t.Setenv("DATABASE_URL", "postgres://env/db")
	if u, _ := c.databaseURL(); u != "postgres://env/db" {
		t.Errorf("DATABASE_URL gives %q", u)
	}
	f := filepath.Join(t.TempDir(), "url")
	os.WriteFile(f, []byte("postgres://file/db\n"), 0o600)
	c.Database.URLFile = f
	if u, _ := c.databaseURL(); u != "postgres://file/db" {
		t.Errorf("url_file gives %q", u)
	}
	c.Database.URLFile, c.Database.URL = "", "postgres://config/db"
	if u, _ := c.databaseURL(); u != "postgres://config/db" {
		t.Errorf("url gives %q", u)
	}
	t.Setenv("BOUNCED_DATABASE_URL", "postgres://override/db")
	if u, _ := c.databaseURL(); u != "postgres://override/db" {
		t.Errorf("BOUNCED_DATABASE_URL gives %q", u)
	}
	c.Database.URL, c.Database.URLFile = "", filepath.Join(t.TempDir(), "missing")
	t.Setenv("BOUNCED_DATABASE_URL", "")
	if _, err := c.databaseURL(); err == nil || !strings.Contains(err.Error(), "database.url_file") {
		t.Errorf("missing url_file: %v", err)
	}
}

func ruleEqual(a, b classify.Rule) bool {
	return a.ID == b.ID && slices.Equal(a.Text, b.Text) && a.Status == b.Status && a.ReplyCode == b.ReplyCode &&
		a.Domain == b.Domain && a.Cause == b.Cause && a.Severity == b.Severity
}

// The example's commented-out keys must be the defaults and must load.
func TestConfigExampleUncommented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for l := range strings.Lines(string(b)) {
		// "# key = value" and "# [table]" lines are settings; prose is not.
		s := strings.TrimPrefix(l, "# ")
		if s != l && (strings.HasPrefix(s, "[") || strings.Contains(s, " = ")) {
			l = s
		}
		out = append(out, l)
	}
	c, err := loadConfig(writeConfig(t, strings.Join(out, "")))
	if err != nil {
		t.Fatalf("loading the uncommented example: %v", err)
	}
	v := c.Parse.VERP
	if v == nil {
		t.Fatal("verp is off, want the example's table")
	}
	if v.Separator != "+" || v.At != "=" || !slices.Equal(v.Prefixes, []string{"bounces"}) {
		t.Errorf("verp = %+v, want separator + at = prefixes [bounces]", *v)
	}
	if len(c.Accounts) != 1 {
		t.Fatalf("%d accounts, want the example's", len(c.Accounts))
	}
	a := c.Accounts[0]
	if a.Name != "bounces" || a.Address != "imap.example.org:993" || a.Security != "tls" || a.Auth != "login" ||
		a.PasswordFile != "/run/credentials/bounced.service/imap_password" || !slices.Equal(a.Mailboxes, []string{"INBOX"}) {
		t.Errorf("account = %+v", a)
	}
	if h := c.HTTP; len(h.Tokens) != 1 || h.Tokens[0] != (TokenConfig{Name: "listmonk", Role: "read",
		TokenFile: "/run/credentials/bounced.service/listmonk_token"}) || h.TLSCert == "" || h.TLSKey == "" {
		t.Errorf("http = %+v, want the example's token and TLS files", h)
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	p := c.parser()
	if p.MaxBytes != defaultMaxBytes || p.VERP != nil || len(p.CorrelationHeaders) != 0 {
		t.Errorf("default parser = %+v", p)
	}

	c, err = loadConfig(writeConfig(t, "[parse.verp]\nprefixes = [\"bounces\"]\n[parse]\nmax_bytes = 1000\ncorrelation_headers = [\"X-Campaign-ID\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	p = c.parser()
	if p.VERP == nil || p.VERP.Separator != "+" || p.VERP.At != "=" || !slices.Equal(p.VERP.Prefixes, []string{"bounces"}) {
		t.Errorf("verp = %+v, want defaults with prefixes [bounces]", p.VERP)
	}
	if p.MaxBytes != 1000 || !slices.Equal(p.CorrelationHeaders, []string{"X-Campaign-ID"}) {
		t.Errorf("parser = %+v", p)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string // all must appear in the error
	}{
		{"unknown key", "[parse]\nmax_bytes = 10\ncorelation_headers = []\n",
			[]string{"line 3, column 1", "unknown key parse.corelation_headers"}},
		{"unknown table", "[parse]\n\n[pasre.verp]\nat = \"=\"\n",
			[]string{"line 3", "unknown key pasre"}},
		{"unknown rule key", "[[classify.rule]]\nid = \"a\"\ncause = \"policy\"\nseverity = \"hard\"\n  reason = \"x\"\n",
			[]string{"line 5, column 3", "classify.rule.reason"}},
		{"wrong type", "[parse]\nmax_bytes = \"big\"\n",
			[]string{"line 2", "max_bytes"}},
		{"syntax", "[parse\nmax_bytes = 1\n",
			[]string{"line 1"}},
		{"negative max_bytes", "[parse]\nmax_bytes = -1\n",
			[]string{"parse.max_bytes", "negative"}},
		{"bad header name", "[parse]\ncorrelation_headers = [\"X-Ok\", \"X Bad:\"]\n",
			[]string{"parse.correlation_headers[1]", `"X Bad:"`}},
		{"verp same separators", "[parse.verp]\nseparator = \"=\"\n",
			[]string{"parse.verp.at"}},
		{"verp empty prefix", "[parse.verp]\nprefixes = [\"\"]\n",
			[]string{"parse.verp.prefixes[0]"}},
		{"rule without id", "[[classify.rule]]\ntext = [\"x\"]\ncause = \"policy\"\nseverity = \"hard\"\n",
			[]string{"classify rules", "rule 1"}},
		{"rule with bad cause", "[[classify.rule]]\nid = \"ok\"\ntext = [\"x\"]\ncause = \"policy\"\nseverity = \"hard\"\n\n" +
			"[[classify.rule]]\nid = \"acme-full\"\ntext = [\"x\"]\ncause = \"full\"\nseverity = \"soft\"\n",
			[]string{"classify rules", `rule "acme-full"`, "full"}},
		{"duplicate rule id", "[[classify.rule]]\nid = \"a\"\ntext = [\"x\"]\ncause = \"policy\"\n\n[[classify.rule]]\nid = \"a\"\nstatus = \"5.7\"\ncause = \"policy\"\n",
			[]string{`rule "a"`, "duplicate"}},
		{"rule with bad status", "[[classify.rule]]\nid = \"s\"\nstatus = \"5.x\"\ncause = \"policy\"\n",
			[]string{`rule "s"`}},
		{"suppress a sender-scope cause", "[suppress.blocklisted]\ncount = 1\n",
			[]string{"suppress.blocklisted", "sender scope", "never suppresses"}},
		{"suppress an unknown reason", "[suppress.full]\ncount = 1\n",
			[]string{"suppress.full", "not a reason"}},
		{"suppress bad severity", "[suppress.bad_address]\nseverity = \"soft\"\n",
			[]string{"suppress.bad_address.severity", "hard or any"}},
		{"suppress bad duration", "[suppress.mailbox_full]\nspan = \"a week\"\n",
			[]string{"line 2", "span", "invalid duration"}},
		{"suppress span over window", "[suppress.mailbox_full]\nspan = \"40d\"\n",
			[]string{"suppress.mailbox_full", "longer than window"}},
		{"negative count", "[suppress.bad_domain]\ncount = -1\n",
			[]string{"suppress.bad_domain", "negative"}},
		{"bad batch size", "[store]\nbatch_size = 20000\n",
			[]string{"store.batch_size"}},
		{"url and url_file", "[database]\nurl = \"postgres://x\"\nurl_file = \"/x\"\n",
			[]string{"database.url_file", "not both"}},
		{"bad retention", "[retention]\nrows_older_than = \"-3d\"\n",
			[]string{"rows_older_than", "invalid duration"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.text)
			_, err := loadConfig(path)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, errConfig) {
				t.Errorf("error %v is not a configuration error", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestConfigDaemon(t *testing.T) {
	c, err := loadConfig(filepath.Join("..", "..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := loadConfig("")
	if c.IMAP != d.IMAP || c.Actions != d.Actions || *c.HTTP.Listen != *d.HTTP.Listen || c.Log != d.Log {
		t.Errorf("the example's daemon settings differ from the defaults:\n%+v %+v %q %+v\n%+v %+v %q %+v",
			c.IMAP, c.Actions, *c.HTTP.Listen, c.Log, d.IMAP, d.Actions, *d.HTTP.Listen, d.Log)
	}
	if time.Duration(d.IMAP.Timeout) != time.Minute || d.IMAP.BatchSize != 1000 || d.Actions.Bounce != "seen" || *d.HTTP.Listen != "127.0.0.1:9108" {
		t.Errorf("defaults %+v %+v %q", d.IMAP, d.Actions, *d.HTTP.Listen)
	}

	c, err = loadConfig(writeConfig(t, `
[[account]]
name = "Main box"
address = "127.0.0.1:143"
security = "starttls"
username = "u"
password = "from-file"
mailboxes = ["INBOX", "Junk"]

[[account]]
name = "m365"
address = "outlook.office365.com:993"
username = "bounces@example.org"
auth = "xoauth2"
token_command = ["echo", "tok"]

[actions]
bounce = "move:Processed"
unparseable = "flag"
`))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("BOUNCED_ACCOUNT_MAIN_BOX_PASSWORD", "from-env")
	dc, err := c.daemonConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(dc.Mailboxes) != 3 || dc.Mailboxes[1].Name != "Junk" || dc.Mailboxes[2].Account.Auth != "xoauth2" {
		t.Fatalf("mailboxes %+v", dc.Mailboxes)
	}
	if pw := dc.Mailboxes[0].Account.Password; pw != "from-env" {
		t.Errorf("password %q, want the environment's", pw)
	}
	if a := dc.Actions[daemon.Bounce]; a.Op != fetch.Move || a.Folder != "Processed" {
		t.Errorf("bounce action %+v", a)
	}
	if a := dc.Actions[daemon.Unparseable]; a.Op != fetch.Flag {
		t.Errorf("unparseable action %+v", a)
	}
	if a := dc.Actions[daemon.NotBounce]; a.Op != fetch.None {
		t.Errorf("not_bounce action %+v", a)
	}

	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("s3cret\n"), 0o600)
	c, err = loadConfig(writeConfig(t, "[[account]]\nname = \"a\"\naddress = \"h:993\"\nusername = \"u\"\npassword_file = \""+pwFile+"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if mbs, err := c.accounts(); err != nil || mbs[0].Account.Password != "s3cret" {
		t.Errorf("password from file: %+v, %v", mbs, err)
	}
}

func TestConfigDaemonErrors(t *testing.T) {
	acct := "[[account]]\nname = \"a\"\naddress = \"h:993\"\nusername = \"u\"\n"
	tests := []struct {
		name, text string
		want       []string
	}{
		{"unknown account key", acct + "pasword = \"x\"\n", []string{"line 5, column 1", "unknown key account.pasword"}},
		{"no name", "[[account]]\naddress = \"h:1\"\n", []string{"account[0].name", "required"}},
		{"twice", acct + acct, []string{`account "a"`, "twice"}},
		{"bad address", "[[account]]\nname = \"a\"\naddress = \"h\"\nusername = \"u\"\n", []string{`account "a"`, "host:port"}},
		{"plain refused", acct + "security = \"plain\"\n", []string{"allow_plaintext"}},
		{"bad security", acct + "security = \"ssl\"\n", []string{"security", `"ssl"`}},
		{"bad auth", acct + "auth = \"cram\"\n", []string{"auth", `"cram"`}},
		{"xoauth2 without token", acct + "auth = \"xoauth2\"\n", []string{"token_file or token_command"}},
		{"password twice", acct + "password = \"a\"\npassword_file = \"/x\"\n", []string{"password or password_file"}},
		{"mailbox twice", acct + "mailboxes = [\"INBOX\", \"INBOX\"]\n", []string{"mailboxes", "twice"}},
		{"bad action", "[actions]\nbounce = \"archive\"\n", []string{"actions.bounce"}},
		{"move without folder", "[actions]\nother = \"move:\"\n", []string{"actions.other"}},
		{"bad batch", "[imap]\nbatch_size = 20000\n", []string{"imap.batch_size"}},
		{"bad timeout", "[imap]\ntimeout = \"soon\"\n", []string{"line 2", "timeout"}},
		{"bad listen", "[http]\nlisten = \"9108\"\n", []string{"http.listen"}},
		{"tls half", "[http]\ntls_cert = \"/c.pem\"\n", []string{"tls_cert and tls_key"}},
		{"short session", "[http]\nsession_ttl = \"10s\"\n", []string{"http.session_ttl"}},
		{"bad max page", "[http]\nmax_page = -1\n", []string{"http.max_page"}},
		{"token without name", "[[http.token]]\nrole = \"read\"\n", []string{"http.token[0]", "name"}},
		{"token role", "[[http.token]]\nname = \"x\"\nrole = \"root\"\n", []string{"http.token[0]", `"root"`}},
		{"token short", "[[http.token]]\nname = \"x\"\ntoken = \"short\"\n", []string{"http.token[0]", "fewer than 16"}},
		{"token twice", "[[http.token]]\nname = \"x\"\n[[http.token]]\nname = \"x\"\n", []string{"http.token[1]", "twice"}},
		{"token and file", "[[http.token]]\nname = \"x\"\ntoken = \"0123456789abcdef\"\ntoken_file = \"/t\"\n", []string{"token or token_file"}},
		{"token key typo", "[[http.token]]\nname = \"x\"\nsecret = \"0123456789abcdef\"\n", []string{"unknown key http.token.secret"}},
		{"bad log format", "[log]\nformat = \"xml\"\n", []string{"log.format"}},
		{"bad log level", "[log]\nlevel = \"loud\"\n", []string{"log.level"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(writeConfig(t, tt.text))
			if err == nil || !errors.Is(err, errConfig) {
				t.Fatalf("error %v, want a configuration error", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestConfigTokens: the bearer tokens and where their secrets come from.
func TestConfigTokens(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(file, []byte("from-a-file-0123456789\n"), 0o600)
	c, err := loadConfig(writeConfig(t, `
[[http.token]]
name = "list-manager"
token_file = "`+file+`"

[[http.token]]
name = "ops"
role = "admin"
token = "inline-secret-0123456789"

[[http.token]]
name = "env"
role = "admin"
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.HTTP.tokens(); err == nil || !strings.Contains(err.Error(), "BOUNCED_TOKEN_ENV") {
		t.Errorf("a token without a secret: %v, want an error naming BOUNCED_TOKEN_ENV", err)
	}
	t.Setenv("BOUNCED_TOKEN_ENV", "from-the-environment-01")
	t.Setenv("BOUNCED_TOKEN_OPS", "ops-from-the-environment")
	t.Setenv(tokensEnv, "cron:read:cron-secret-0123456789, grafana:read:grafana-secret-0123456")
	wc, err := c.HTTP.webConfig()
	if err != nil {
		t.Fatal(err)
	}
	want := []web.Token{
		{Name: "list-manager", Role: web.Read, Secret: "from-a-file-0123456789"},
		{Name: "ops", Role: web.Admin, Secret: "ops-from-the-environment"},
		{Name: "env", Role: web.Admin, Secret: "from-the-environment-01"},
		{Name: "cron", Role: web.Read, Secret: "cron-secret-0123456789"},
		{Name: "grafana", Role: web.Read, Secret: "grafana-secret-0123456"},
	}
	if !slices.Equal(wc.Tokens, want) {
		t.Errorf("tokens %+v\nwant %+v", wc.Tokens, want)
	}
	if wc.SessionTTL != defaultSessionTTL || wc.MaxPage != defaultMaxPage || wc.InsecureCookie {
		t.Errorf("web config %+v, want the defaults", wc)
	}
	for _, bad := range []struct{ env, want string }{
		{"cron:read", "item 1 is not NAME:ROLE:SECRET"},
		{"cron:root:cron-secret-0123456789", `role "root"`},
		{"cron:read:short", "fewer than 16"},
		{"ops:read:another-secret-0123456", `token "ops" is also configured`},
	} {
		t.Setenv(tokensEnv, bad.env)
		if _, err := c.HTTP.tokens(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s=%q: %v, want an error saying %q", tokensEnv, bad.env, err, bad.want)
		}
	}
}

func TestConfigMissingFile(t *testing.T) {
	_, err := loadConfig(filepath.Join(t.TempDir(), "nope.toml"))
	if !errors.Is(err, os.ErrNotExist) || !errors.Is(err, errConfig) {
		t.Errorf("err = %v, want a configuration error wrapping not-exist", err)
	}
}
