package classify

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// The built-in tables are data; these tests hold them to their rules.
func TestBuiltinTables(t *testing.T) {
	ids := map[string]bool{}
	owner := map[string]string{} // phrase -> rule id
	all := append(append([]textRule{}, providerRules...), genericRules...)
	for _, r := range all {
		t.Run(r.id, func(t *testing.T) {
			if ids[r.id] {
				t.Errorf("duplicate rule id")
			}
			ids[r.id] = true
			if !strings.HasPrefix(r.id, "provider:") && !strings.HasPrefix(r.id, "text:") {
				t.Errorf("id must start with provider: or text:")
			}
			if !r.cause.Valid() || r.cause == Unknown {
				t.Errorf("cause %q", r.cause)
			}
			if len(r.any) == 0 {
				t.Errorf("no phrase")
			}
			for _, p := range append(append([]string{}, r.any...), r.all...) {
				text := strings.TrimSuffix(strings.TrimPrefix(p, `\b`), `\b`)
				if text == "" || strings.TrimSpace(text) != text && text != " not found" {
					t.Errorf("phrase %q: empty or padded", p)
				}
				if strings.ToLower(p) != p {
					t.Errorf("phrase %q is not lower-case", p)
				}
				if !utf8.ValidString(p) {
					t.Errorf("phrase %q is not UTF-8", p)
				}
			}
			// A phrase may come back in a later rule only as the fallback
			// of an earlier rule that has further conditions.
			for _, p := range r.any {
				if o, ok := owner[p]; ok {
					t.Errorf("phrase %q also in %s: the later rule never sees it", p, o)
				}
				if len(r.all) == 0 {
					owner[p] = r.id
				}
			}
		})
	}
	if _, err := New(nil); err != nil {
		t.Fatal(err)
	}
}

func TestStatusTable(t *testing.T) {
	seen := map[uint32]bool{}
	for _, r := range statusRules {
		k := statusKey(r.subject, r.detail)
		if seen[k] {
			t.Errorf("X.%d.%d twice", r.subject, r.detail)
		}
		seen[k] = true
		if r.cause != "" && !r.cause.Valid() {
			t.Errorf("X.%d.%d: cause %q", r.subject, r.detail, r.cause)
		}
		if !r.vague && r.cause == "" {
			t.Errorf("X.%d.%d: a precise code needs a cause", r.subject, r.detail)
		}
	}
	for _, r := range codeRules {
		if !r.cause.Valid() {
			t.Errorf("code %d: cause %q", r.code, r.cause)
		}
	}
}

func TestCauses(t *testing.T) {
	want := map[Cause]Scope{
		BadAddress: ScopeRecipient, BadDomain: ScopeRecipient, MailboxDisabled: ScopeRecipient,
		MailboxFull: ScopeRecipient, Oversize: ScopeMessage, SpamContent: ScopeMessage, Virus: ScopeMessage,
		Blocklisted: ScopeSender, AuthFailure: ScopeSender, Policy: ScopeSender, RateLimited: ScopeSender,
		Expired: ScopeTransport, NetworkError: ScopeTransport, ServerError: ScopeTransport,
		ProtocolError: ScopeTransport, Unknown: ScopeUnknown,
	}
	cs := Causes()
	if len(cs) != len(want) {
		t.Fatalf("Causes() has %d, want %d", len(cs), len(want))
	}
	for _, c := range cs {
		t.Run(string(c), func(t *testing.T) {
			if !c.Valid() {
				t.Error("not valid")
			}
			if got := c.Scope(); got != want[c] {
				t.Errorf("scope %q, want %q", got, want[c])
			}
		})
	}
	cs[0] = "changed"
	if Causes()[0] != BadAddress {
		t.Error("Causes returns shared state")
	}
	for _, c := range []Cause{"", "foo", "Bad_Address"} {
		if c.Valid() || c.Scope() != ScopeUnknown {
			t.Errorf("%q: Valid %v, Scope %q", c, c.Valid(), c.Scope())
		}
	}
}
