package web

import (
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
	"github.com/bounced/bounced/internal/policy"
	"github.com/bounced/bounced/internal/store"
)

// apiBody reads the answer's body, checking its status.
func apiBody(t *testing.T, resp *http.Response, status int) []byte {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL.RequestURI(), resp.StatusCode, status, body)
	}
	return body
}

// apiDecode checks the answer's status and JSON content type, and decodes
// its body into v (a field v lacks is an error).
func apiDecode(t *testing.T, resp *http.Response, status int, v any) []byte {
	t.Helper()
	body := apiBody(t, resp, status)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("%s: Content-Type %q", resp.Request.URL.RequestURI(), ct)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: decoding %s: %v", resp.Request.URL.RequestURI(), body, err)
	}
	return body
}

// apiWantError checks that the answer is the JSON error of status and code
// and that its message mentions mention.
func apiWantError(t *testing.T, resp *http.Response, status int, code, mention string) ErrorBody {
	t.Helper()
	var e Error
	apiDecode(t, resp, status, &e)
	if e.Error.Code != code || !strings.Contains(e.Error.Message, mention) {
		t.Errorf("%s %s: error %+v, want code %s and a message mentioning %q", resp.Request.Method,
			resp.Request.URL.RequestURI(), e.Error, code, mention)
	}
	return e.Error
}

// apiGetHeader sends a GET with the admin token and one more header.
func apiGetHeader(t *testing.T, f *fixture, path, name, value string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.http.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminSecret)
	req.Header.Set(name, value)
	resp, err := f.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// seedVerdicts works out, from the seed and the store's policy, which
// addresses are suppressed and why: the recipient-scope bounces and the
// complaints of each address count.
func seedVerdicts(f *fixture) map[string]policy.Verdict {
	events := map[string][]policy.Event{}
	for _, r := range f.seed {
		var reason policy.Reason
		switch {
		case r.kind == dsn.Complaint:
			reason = policy.Complaint
		case r.kind == dsn.Bounce && r.cause.Scope() == classify.ScopeRecipient:
			reason = policy.Reason(r.cause)
		default:
			continue
		}
		events[r.rcpt] = append(events[r.rcpt], policy.Event{Reason: reason, Severity: r.severity, At: r.at()})
	}
	out := map[string]policy.Verdict{}
	for a, evs := range events {
		if v, ok := f.store.Policy().Evaluate(evs, time.Time{}); ok {
			out[a] = v
		}
	}
	return out
}

// sortedKeys gives the addresses of vs that keep says to, in order.
func sortedKeys(vs map[string]policy.Verdict, keep func(string, policy.Verdict) bool) []string {
	var out []string
	for a, v := range vs {
		if keep(a, v) {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

// domainOfAddr is the domain of an address.
func domainOfAddr(a string) string { return a[strings.LastIndexByte(a, '@')+1:] }

func TestAPISeedSuppresses(t *testing.T) {
	t.Parallel()
	// The tests below are only as good as the seed is varied.
	f := newFixture(t, true)
	reasons := map[policy.Reason]int{}
	for _, v := range seedVerdicts(f) {
		reasons[v.Reason]++
	}
	for _, r := range policy.Reasons() {
		if reasons[r] == 0 {
			t.Errorf("the seed suppresses no address for %s: %v", r, reasons)
		}
	}
}

func TestAPISuppressions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	verdicts := seedVerdicts(f)
	month := testNow.Add(-30 * 24 * time.Hour)
	nov := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		query string
		keep  func(addr string, v policy.Verdict) bool
	}{
		{"all", "", func(string, policy.Verdict) bool { return true }},
		{"since a duration", "since=30d", func(_ string, v policy.Verdict) bool { return !v.At.Before(month) }},
		{"since a date", "since=2026-11-01", func(_ string, v policy.Verdict) bool { return !v.At.Before(nov) }},
		{"since a time", "since=" + url.QueryEscape("2026-11-01T02:00:00+02:00"), func(_ string, v policy.Verdict) bool { return !v.At.Before(nov) }},
		{"cause", "cause=bad_address", func(_ string, v policy.Verdict) bool { return v.Reason == "bad_address" }},
		{"complaints", "cause=complaint", func(_ string, v policy.Verdict) bool { return v.Reason == policy.Complaint }},
		{"full mailboxes", "cause=mailbox_full", func(_ string, v policy.Verdict) bool { return v.Reason == "mailbox_full" }},
		{"domain", "domain=alpha.example", func(a string, _ policy.Verdict) bool { return domainOfAddr(a) == "alpha.example" }},
		{"domain in capitals", "domain=BETA.Example", func(a string, _ policy.Verdict) bool { return domainOfAddr(a) == "beta.example" }},
		{"domain and cause", "domain=beta.example&cause=bad_address",
			func(a string, v policy.Verdict) bool {
				return domainOfAddr(a) == "beta.example" && v.Reason == "bad_address"
			}},
		{"all filters", "since=60d&domain=alpha.example&cause=bad_address", func(a string, v policy.Verdict) bool {
			return domainOfAddr(a) == "alpha.example" && v.Reason == "bad_address" && !v.At.Before(testNow.Add(-60*24*time.Hour))
		}},
		{"empty values are no filter", "since=&cause=&domain=", func(string, policy.Verdict) bool { return true }},
		{"nothing", "domain=nowhere.example", func(string, policy.Verdict) bool { return false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got suppressionList
			body := apiDecode(t, f.get(t, "/api/v1/suppressions?limit=1000&"+tt.query, readSecret), http.StatusOK, &got)
			want := sortedKeys(verdicts, tt.keep)
			if n := len(want); tt.query != "" && !strings.HasPrefix(tt.name, "empty") && (n == len(verdicts) || n == 0 && tt.name != "nothing") {
				t.Fatalf("the filter keeps %d of %d suppressions of the seed: the case proves nothing", n, len(verdicts))
			}
			var addrs []string
			for _, x := range got.Suppressions {
				addrs = append(addrs, x.Address)
			}
			if !slices.Equal(addrs, want) {
				t.Errorf("addresses\n got %q\nwant %q", addrs, want)
			}
			if got.NextCursor != "" || bytes.Contains(body, []byte("next_cursor")) {
				t.Errorf("next_cursor on the only page: %s", body)
			}
			if !bytes.Contains(body, []byte(`"suppressions":[`)) {
				t.Errorf("suppressions is not a list: %s", body)
			}
			for _, x := range got.Suppressions {
				v := verdicts[x.Address]
				if x.Reason != string(v.Reason) || x.Domain != domainOfAddr(x.Address) || x.Count != v.Count ||
					!x.SuppressedAt.Equal(v.At) || !x.FirstBounce.Equal(v.First) || !x.LastBounce.Equal(v.Last) || x.Rule != v.Rule {
					t.Errorf("%s: got %+v, want %+v", x.Address, x, v)
				}
			}
		})
	}
}

// apiPages follows the cursors of a list from path (which has a query),
// calling page with each answer; it returns the number of pages.
func apiPages(t *testing.T, f *fixture, path string, page func(body []byte) (next string)) int {
	t.Helper()
	n := 0
	for cursor := ""; ; n++ {
		if n > 1000 {
			t.Fatal("the cursors go on and on")
		}
		p := path
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		cursor = page(apiBody(t, f.get(t, p, readSecret), http.StatusOK))
		if cursor == "" {
			return n + 1
		}
	}
}

func TestAPISuppressionsPaging(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	verdicts := seedVerdicts(f)
	tests := []struct {
		query string
		limit int
		keep  func(string, policy.Verdict) bool
	}{
		{"", 1, func(string, policy.Verdict) bool { return true }},
		{"", 3, func(string, policy.Verdict) bool { return true }},
		{"", 7, func(string, policy.Verdict) bool { return true }},
		{"", len(verdicts), func(string, policy.Verdict) bool { return true }},
		{"cause=bad_address", 4, func(_ string, v policy.Verdict) bool { return v.Reason == "bad_address" }},
		{"since=30d", 2, func(_ string, v policy.Verdict) bool { return !v.At.Before(testNow.Add(-30 * 24 * time.Hour)) }},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s limit %d", tt.query, tt.limit), func(t *testing.T) {
			t.Parallel()
			want := sortedKeys(verdicts, tt.keep)
			var got []string
			pages := apiPages(t, f, fmt.Sprintf("/api/v1/suppressions?limit=%d&%s", tt.limit, tt.query), func(body []byte) string {
				var l suppressionList
				if err := json.Unmarshal(body, &l); err != nil {
					t.Fatal(err)
				}
				if len(l.Suppressions) > tt.limit || l.NextCursor != "" && len(l.Suppressions) != tt.limit {
					t.Errorf("a page of %d with cursor %q, limit %d", len(l.Suppressions), l.NextCursor, tt.limit)
				}
				for _, x := range l.Suppressions {
					got = append(got, x.Address)
				}
				return l.NextCursor
			})
			if !slices.Equal(got, want) {
				t.Errorf("paged through\n got %q\nwant %q", got, want)
			}
			if wantPages := max(1, (len(want)+tt.limit-1)/tt.limit); pages != wantPages {
				t.Errorf("%d pages, want %d", pages, wantPages)
			}
		})
	}
}

// csvLine is the CSV line the list has for the suppression v of addr.
func csvLine(addr string, v policy.Verdict) []string {
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	return []string{addr, domainOfAddr(addr), string(v.Reason), ts(v.At), ts(v.First), ts(v.Last), strconv.Itoa(v.Count), v.Rule}
}

func TestAPISuppressionsCSV(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	verdicts := seedVerdicts(f)
	header := []string{"address", "domain", "reason", "suppressed_at", "first_bounce", "last_bounce", "bounce_count", "rule"}
	all := func(string, policy.Verdict) bool { return true }
	tests := []struct {
		name          string
		query, accept string
		keep          func(string, policy.Verdict) bool
	}{
		{"format", "format=csv", "", all},
		{"accept", "", "text/csv", all},
		{"accept among others", "", "text/html;q=0.9, text/csv, application/json", all},
		{"format and filter", "format=csv&cause=bad_address&domain=beta.example",
			"", func(a string, v policy.Verdict) bool {
				return v.Reason == "bad_address" && domainOfAddr(a) == "beta.example"
			}},
		{"empty", "format=csv&domain=nowhere.example", "", func(string, policy.Verdict) bool { return false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := apiGetHeader(t, f, "/api/v1/suppressions?"+tt.query, "Accept", tt.accept)
			body := apiBody(t, resp, http.StatusOK)
			if ct := resp.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if c := resp.Header.Get("Next-Cursor"); c != "" {
				t.Errorf("Next-Cursor %q on the whole list", c)
			}
			lines, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
			if err != nil {
				t.Fatalf("reading the CSV: %v\n%s", err, body)
			}
			want := [][]string{header}
			for _, a := range sortedKeys(verdicts, tt.keep) {
				want = append(want, csvLine(a, verdicts[a]))
			}
			if !slices.EqualFunc(lines, want, slices.Equal) {
				t.Errorf("CSV\n got %q\nwant %q", lines, want)
			}
		})
	}

	t.Run("paged", func(t *testing.T) {
		t.Parallel()
		var got [][]string
		pages := 0
		for cursor := "start"; cursor != ""; pages++ {
			path := "/api/v1/suppressions?format=csv&limit=5"
			if cursor != "start" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			resp := f.get(t, path, readSecret)
			lines, err := csv.NewReader(bytes.NewReader(apiBody(t, resp, http.StatusOK))).ReadAll()
			if err != nil || len(lines) == 0 || !slices.Equal(lines[0], header) {
				t.Fatalf("page %d: %q, %v", pages, lines, err)
			}
			got = append(got, lines[1:]...)
			cursor = resp.Header.Get("Next-Cursor")
		}
		var want [][]string
		for _, a := range sortedKeys(verdicts, all) {
			want = append(want, csvLine(a, verdicts[a]))
		}
		if !slices.EqualFunc(got, want, slices.Equal) || pages != (len(want)+4)/5 {
			t.Errorf("%d pages of CSV\n got %q\nwant %q", pages, got, want)
		}
	})

	t.Run("json wins", func(t *testing.T) {
		t.Parallel()
		var l suppressionList
		apiDecode(t, apiGetHeader(t, f, "/api/v1/suppressions?format=json", "Accept", "text/csv"), http.StatusOK, &l)
		if len(l.Suppressions) != min(len(verdicts), defaultPage) {
			t.Errorf("%d suppressions, want %d", len(l.Suppressions), len(verdicts))
		}
	})
}

// seedOf gives the seed rows of addr, newest first.
func seedOf(f *fixture, addr string) []seedRow {
	var out []seedRow
	for _, r := range f.seed {
		if r.rcpt == addr {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b seedRow) int { return b.at().Compare(a.at()) })
	return out
}

// checkEvent checks an event of the history against the seed row it
// should be; the notice's uid, read from its Message-ID, names the row.
func checkEvent(t *testing.T, f *fixture, e eventAnswer, want seedRow) {
	t.Helper()
	var uid int
	if _, err := fmt.Sscanf(e.NoticeID, "<notice-%d@mx.example>", &uid); err != nil || uid < 1 || uid > len(f.seed) {
		t.Fatalf("notice id %q: %v", e.NoticeID, err)
	}
	if f.seed[uid-1] != want {
		t.Errorf("event of notice %d is of %+v, want %+v", uid, f.seed[uid-1], want)
	}
	if !e.BouncedAt.Equal(want.at()) || e.Kind != string(want.kind) || e.MessageURL != fmt.Sprintf("/api/v1/messages/%d", e.Message) ||
		e.Mailbox != "acct/INBOX" || e.OriginalMessageID != fmt.Sprintf("<campaign-%d@lists.example.org>", uid) {
		t.Errorf("event %+v, want one of %+v (uid %d)", e, want, uid)
	}
	if h, _ := e.Original["headers"].(map[string]any); h["X-Campaign-Id"] != fmt.Sprintf("c%d", uid%3) || e.Original["to"] != want.rcpt {
		t.Errorf("event's original %v", e.Original)
	}
	switch want.kind {
	case dsn.Complaint:
		if e.Cause != "" || e.Severity != "" || e.Scope != "recipient" || e.Rule != "complaint:abuse" {
			t.Errorf("complaint event %+v", e)
		}
	default:
		if e.Cause != string(want.cause) || e.Severity != string(want.severity) || e.Scope != string(want.cause.Scope()) ||
			e.Rule != "test:"+string(want.cause) || e.Status != want.status || e.ReplyCode != 550 ||
			e.Diagnostic != "550 "+want.status+" "+string(want.cause)+" said the server" {
			t.Errorf("event %+v, want of %+v", e, want)
		}
	}
}

func TestAPIAddress(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	verdicts := seedVerdicts(f)
	tests := []struct {
		path   string
		addr   string // as answered
		events int    // -1: all of the seed's
	}{
		{"gone1@alpha.example", "gone1@alpha.example", -1},
		{"gone1@ALPHA.Example", "gone1@alpha.example", -1},
		{"full@beta.example", "full@beta.example", -1},
		{"full@beta.example?limit=2", "full@beta.example", 2},
		{"nodomain@gamma.example", "nodomain@gamma.example", -1},
		{"closed@gamma.example", "closed@gamma.example", -1},
		{"angry@gamma.example", "angry@gamma.example", -1},
		{"old@alpha.example", "old@alpha.example", -1},
		{"fine0@delta.example", "fine0@delta.example", -1},      // sender-scope bounces only
		{"big@alpha.example", "big@alpha.example", -1},          // an oversize message
		{"later@beta.example", "later@beta.example", -1},        // a delay
		{"busy1@epsilon.example", "busy1@epsilon.example", -1},  // throttled
		{"nobody@nowhere.example", "nobody@nowhere.example", 0}, // never seen
		{url.PathEscape("odd/name@alpha.example"), "odd/name@alpha.example", 0},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			var got addressStatus
			body := apiDecode(t, f.get(t, "/api/v1/suppressions/"+tt.path, readSecret), http.StatusOK, &got)
			v, suppressed := verdicts[tt.addr]
			if got.Address != tt.addr || got.Suppressed != suppressed || (got.Suppression != nil) != suppressed {
				t.Fatalf("got %s, want %s suppressed %v", body, tt.addr, suppressed)
			}
			if suppressed && (got.Suppression.Reason != string(v.Reason) || got.Suppression.Count != v.Count ||
				!got.Suppression.SuppressedAt.Equal(v.At)) {
				t.Errorf("suppression %+v, want %+v", got.Suppression, v)
			}
			if !suppressed && !bytes.Contains(body, []byte(`"suppression":null`)) {
				t.Errorf("suppression not null: %s", body)
			}
			if !bytes.Contains(body, []byte(`"releases":[]`)) {
				t.Errorf("releases not an empty list: %s", body)
			}
			want := seedOf(f, tt.addr)
			if tt.events >= 0 {
				want = want[:min(tt.events, len(want))]
			}
			if len(got.Events) != len(want) {
				t.Fatalf("%d events, want %d: %s", len(got.Events), len(want), body)
			}
			for i, e := range got.Events {
				checkEvent(t, f, e, want[i])
			}
			if len(want) == 0 && !bytes.Contains(body, []byte(`"events":[]`)) {
				t.Errorf("events not an empty list: %s", body)
			}
		})
	}
}

// apiPostRelease posts a release of addr with the token secret.
func apiPostRelease(t *testing.T, f *fixture, addr, secret, body string) *http.Response {
	t.Helper()
	return f.do(t, http.MethodPost, "/api/v1/suppressions/"+addr+"/release", secret, "application/json", strings.NewReader(body))
}

func TestAPIRelease(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	v := seedVerdicts(f)["gone2@alpha.example"]
	if v.Count == 0 {
		t.Fatal("the seed does not suppress gone2@alpha.example")
	}
	// Refused: the address stays suppressed.
	resp := apiPostRelease(t, f, "gone2@alpha.example", "", `{"reason": "x"}`)
	apiWantError(t, resp, http.StatusUnauthorized, CodeUnauthorized, "bearer token")
	if h := resp.Header.Get("WWW-Authenticate"); h != `Bearer realm="bounced"` {
		t.Errorf("WWW-Authenticate %q", h)
	}
	apiWantError(t, apiPostRelease(t, f, "gone2@alpha.example", "wrong-secret-0123456789", `{"reason": "x"}`),
		http.StatusUnauthorized, CodeUnauthorized, "not valid")
	apiWantError(t, apiPostRelease(t, f, "gone2@alpha.example", readSecret, `{"reason": "x"}`),
		http.StatusForbidden, CodeForbidden, "reader")

	var rel releaseAnswer
	apiDecode(t, apiPostRelease(t, f, "gone2@ALPHA.example", adminSecret, `{"reason": "  the subscriber fixed it  "}`), http.StatusOK, &rel)
	if rel.Address != "gone2@alpha.example" || rel.Reason != "the subscriber fixed it" || rel.ReleasedBy != "api:boss" ||
		rel.ReleasedAt.IsZero() || rel.Was.Reason != string(v.Reason) || rel.Was.Count != v.Count ||
		rel.Was.SuppressedAt == nil || !rel.Was.SuppressedAt.Equal(v.At) {
		t.Errorf("release %+v, want of %+v", rel, v)
	}

	// Audited, and gone from the list.
	var st addressStatus
	apiDecode(t, f.get(t, "/api/v1/suppressions/gone2@alpha.example", readSecret), http.StatusOK, &st)
	if st.Suppressed || st.Suppression != nil || len(st.Releases) != 1 || len(st.Events) != 1 {
		t.Fatalf("after the release: %+v", st)
	}
	if r := st.Releases[0]; r.ReleasedBy != "api:boss" || r.Reason != "the subscriber fixed it" || !r.ReleasedAt.Equal(rel.ReleasedAt) ||
		r.Was.Reason != string(v.Reason) || r.Was.Count != v.Count || r.Was.SuppressedAt == nil || !r.Was.SuppressedAt.Equal(v.At) {
		t.Errorf("the history's release %+v, want %+v", r, rel)
	}
	h, err := f.store.History(context.Background(), "gone2@alpha.example", 0)
	if err != nil || h.Suppression != nil || len(h.Releases) != 1 || h.Releases[0].By != "api:boss" {
		t.Errorf("the store's history after the release: %+v, %v", h, err)
	}
	var l suppressionList
	apiDecode(t, f.get(t, "/api/v1/suppressions?domain=alpha.example", readSecret), http.StatusOK, &l)
	for _, x := range l.Suppressions {
		if x.Address == "gone2@alpha.example" {
			t.Error("still listed after the release")
		}
	}
	if want := len(sortedKeys(seedVerdicts(f), func(a string, _ policy.Verdict) bool { return domainOfAddr(a) == "alpha.example" })) - 1; len(l.Suppressions) != want {
		t.Errorf("%d listed of alpha.example, want %d", len(l.Suppressions), want)
	}

	// Not suppressed (any more, or ever).
	apiWantError(t, apiPostRelease(t, f, "gone2@alpha.example", adminSecret, `{"reason": "again"}`),
		http.StatusConflict, CodeNotSuppressed, "gone2@alpha.example")
	apiWantError(t, apiPostRelease(t, f, "fine1@delta.example", adminSecret, `{"reason": "x"}`),
		http.StatusConflict, CodeNotSuppressed, "fine1@delta.example")
}

func TestAPIReleaseBadBody(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	tests := []struct {
		name        string
		addr        string
		contentType string
		body        string
		status      int
		code        string
		mention     string
	}{
		{"malformed", "gone3@alpha.example", "application/json", `{"reason": `, 400, CodeBadBody, "body"},
		{"empty", "gone3@alpha.example", "application/json", ``, 400, CodeBadBody, "body"},
		{"not an object", "gone3@alpha.example", "application/json", `"fixed"`, 400, CodeBadBody, "body"},
		{"no reason", "gone3@alpha.example", "application/json", `{}`, 400, CodeBadBody, "reason"},
		{"null reason", "gone3@alpha.example", "application/json", `{"reason": null}`, 400, CodeBadBody, "reason"},
		{"blank reason", "gone3@alpha.example", "application/json", `{"reason": " \t "}`, 400, CodeBadBody, "reason"},
		{"reason not a string", "gone3@alpha.example", "application/json", `{"reason": 7}`, 400, CodeBadBody, "reason"},
		{"long reason", "gone3@alpha.example", "application/json", `{"reason": "` + strings.Repeat("é", 501) + `"}`, 400, CodeBadBody, "reason"},
		{"another field", "gone3@alpha.example", "application/json", `{"reason": "x", "by": "me"}`, 400, CodeBadBody, `"by"`},
		{"two objects", "gone3@alpha.example", "application/json", `{"reason": "x"} {"reason": "y"}`, 400, CodeBadBody, "more than one"},
		{"trailing garbage", "gone3@alpha.example", "application/json", `{"reason": "x"} ]`, 400, CodeBadBody, "body"},
		{"over 64 KiB", "gone3@alpha.example", "application/json", `{"reason": "` + strings.Repeat("x", 64<<10) + `"}`, 413, CodeBodyTooLarge, "body"},
		{"over 64 KiB of spaces after", "gone3@alpha.example", "application/json", `{"reason": "x"}` + strings.Repeat(" ", 64<<10), 413, CodeBodyTooLarge, "body"},
		{"form", "gone3@alpha.example", "application/x-www-form-urlencoded", `reason=x`, 415, CodeBadBody, "Content-Type"},
		{"no content type", "gone3@alpha.example", "", `{"reason": "x"}`, 415, CodeBadBody, "Content-Type"},
		{"no address", "gone3", "application/json", `{"reason": "x"}`, 400, CodeBadParameter, "address"},
		{"no domain", "gone3@", "application/json", `{"reason": "x"}`, 400, CodeBadParameter, "address"},
		{"a control character", "gone3%01@alpha.example", "application/json", `{"reason": "x"}`, 400, CodeBadParameter, "address"},
		{"too long", strings.Repeat("a", 250) + "@alpha.example", "application/json", `{"reason": "x"}`, 400, CodeBadParameter, "address"},
	}
	t.Run("refused", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				resp := f.do(t, http.MethodPost, "/api/v1/suppressions/"+tt.addr+"/release", adminSecret, tt.contentType, strings.NewReader(tt.body))
				apiWantError(t, resp, tt.status, tt.code, tt.mention)
			})
		}
	})
	// The refusals are done: they left the address as it was.
	var st addressStatus
	apiDecode(t, f.get(t, "/api/v1/suppressions/gone3@alpha.example", readSecret), http.StatusOK, &st)
	if !st.Suppressed || len(st.Releases) != 0 {
		t.Errorf("a refused release changed the address: %+v", st)
	}
	t.Run("reason of 500 characters and a charset", func(t *testing.T) {
		t.Parallel()
		reason := strings.Repeat("é", 500)
		var rel releaseAnswer
		apiDecode(t, f.do(t, http.MethodPost, "/api/v1/suppressions/gone4@alpha.example/release", adminSecret,
			"application/json; charset=utf-8", strings.NewReader(`{"reason": "`+reason+`"}`)), http.StatusOK, &rel)
		if rel.Reason != reason {
			t.Errorf("reason %q", rel.Reason)
		}
	})
}

// bounceKey is a row as a string to compare rows by.
func bounceKey(rcpt string, at time.Time, kind, cause string) string {
	return fmt.Sprintf("%s %s %s %s", rcpt, at.UTC().Format(time.RFC3339Nano), kind, cause)
}

func TestAPIBounces(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	scope := func(r seedRow) classify.Scope {
		if r.kind == dsn.Complaint {
			return classify.ScopeRecipient
		}
		return r.cause.Scope()
	}
	causeOf := func(r seedRow) string {
		if r.kind == dsn.Complaint {
			return "complaint"
		}
		return string(r.cause)
	}
	oct, nov := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tenth := time.Date(2026, 11, 9, 22, 0, 0, 0, time.UTC)
	tests := []struct {
		query string
		keep  func(seedRow) bool
	}{
		{"", func(seedRow) bool { return true }},
		{"since=30d", func(r seedRow) bool { return !r.at().Before(testNow.Add(-30 * 24 * time.Hour)) }},
		{"since=90d", func(r seedRow) bool { return !r.at().Before(testNow.Add(-90 * 24 * time.Hour)) }},
		{"since=36h", func(r seedRow) bool { return !r.at().Before(testNow.Add(-36 * time.Hour)) }},
		{"since=1d12h", func(r seedRow) bool { return !r.at().Before(testNow.Add(-36 * time.Hour)) }},
		{"until=2026-11-01", func(r seedRow) bool { return r.at().Before(nov) }},
		{"since=2026-10-01&until=2026-11-01", func(r seedRow) bool { return !r.at().Before(oct) && r.at().Before(nov) }},
		{"since=2026-11-10T00:00:00%2B02:00", func(r seedRow) bool { return !r.at().Before(tenth) }},
		{"since=2026-11-10T00:00:00+02:00", func(r seedRow) bool { return !r.at().Before(tenth) }}, // the + unescaped
		{"cause=bad_address", func(r seedRow) bool { return causeOf(r) == "bad_address" }},
		{"cause=mailbox_full", func(r seedRow) bool { return causeOf(r) == "mailbox_full" }},
		{"cause=complaint", func(r seedRow) bool { return r.kind == dsn.Complaint }},
		{"cause=virus", func(seedRow) bool { return false }},
		{"domain=beta.example", func(r seedRow) bool { return r.domain() == "beta.example" }},
		{"domain=Gamma.EXAMPLE", func(r seedRow) bool { return r.domain() == "gamma.example" }},
		{"kind=bounce", func(r seedRow) bool { return r.kind == dsn.Bounce }},
		{"kind=delay", func(r seedRow) bool { return r.kind == dsn.Delay }},
		{"kind=complaint", func(r seedRow) bool { return r.kind == dsn.Complaint }},
		{"severity=soft", func(r seedRow) bool { return r.severity == classify.Soft }},
		{"severity=hard", func(r seedRow) bool { return r.severity == classify.Hard }},
		{"scope=sender", func(r seedRow) bool { return scope(r) == classify.ScopeSender }},
		{"scope=recipient", func(r seedRow) bool { return scope(r) == classify.ScopeRecipient }},
		{"scope=message", func(r seedRow) bool { return scope(r) == classify.ScopeMessage }},
		{"kind=bounce&scope=recipient&severity=hard&domain=alpha.example&since=60d", func(r seedRow) bool {
			return r.kind == dsn.Bounce && scope(r) == classify.ScopeRecipient && r.severity == classify.Hard &&
				r.domain() == "alpha.example" && !r.at().Before(testNow.Add(-60*24*time.Hour))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			var want []string
			rows := map[string]seedRow{}
			for _, r := range f.seed {
				if tt.keep(r) {
					k := bounceKey(r.rcpt, r.at(), string(r.kind), string(r.cause))
					want, rows[k] = append(want, k), r
				}
			}
			if n := len(want); tt.query != "" && (n == len(f.seed) || n == 0 && tt.query != "cause=virus") {
				t.Fatalf("the filter keeps %d of %d rows of the seed: the case proves nothing", n, len(f.seed))
			}
			var all bounceList
			apiDecode(t, f.get(t, "/api/v1/bounces?limit=1000&"+tt.query, readSecret), http.StatusOK, &all)
			var got []string
			for i, b := range all.Bounces {
				k := bounceKey(b.Recipient.Recipient, b.BouncedAt, b.Kind, b.Cause)
				got = append(got, k)
				if i > 0 {
					p := all.Bounces[i-1]
					if c := cmp.Or(p.BouncedAt.Compare(b.BouncedAt), cmp.Compare(p.ID, b.ID)); c <= 0 {
						t.Errorf("row %d (%s, %d) is not older than the one before (%s, %d)", i, b.BouncedAt, b.ID, p.BouncedAt, p.ID)
					}
				}
				r := rows[k]
				if b.Domain != r.domain() || b.Scope != string(scope(r)) || b.MessageURL != fmt.Sprintf("/api/v1/messages/%d", b.Message) ||
					r.kind != dsn.Complaint && (b.Severity != string(r.severity) || b.Status != r.status || b.ReplyCode != 550 || b.Rule != "test:"+string(r.cause)) {
					t.Errorf("row %+v, want of %+v", b, r)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("rows\n got %q\nwant %q", got, want)
			}

			// Paging meets the same rows, in the same order.
			var paged []int64
			apiPages(t, f, "/api/v1/bounces?limit=4&"+tt.query, func(body []byte) string {
				var l bounceList
				if err := json.Unmarshal(body, &l); err != nil {
					t.Fatal(err)
				}
				if len(l.Bounces) > 4 || l.NextCursor != "" && len(l.Bounces) != 4 {
					t.Errorf("a page of %d with cursor %q", len(l.Bounces), l.NextCursor)
				}
				for _, b := range l.Bounces {
					paged = append(paged, b.ID)
				}
				return l.NextCursor
			})
			var ids []int64
			for _, b := range all.Bounces {
				ids = append(ids, b.ID)
			}
			if !slices.Equal(paged, ids) {
				t.Errorf("paged through %v, want %v", paged, ids)
			}
		})
	}
}

func TestAPIMessages(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	// The raw source of the messages older than 90 days goes.
	if _, err := f.store.Cleanup(context.Background(), store.Retention{RawBefore: testNow.Add(-90 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"gone3@alpha.example", "full@beta.example", "angry@gamma.example", "later@beta.example", "old@alpha.example"} {
		t.Run(addr, func(t *testing.T) {
			t.Parallel()
			var st addressStatus
			apiDecode(t, f.get(t, "/api/v1/suppressions/"+addr, readSecret), http.StatusOK, &st)
			for _, e := range st.Events {
				var m messageAnswer
				apiDecode(t, f.get(t, e.MessageURL, readSecret), http.StatusOK, &m)
				var uid int
				fmt.Sscanf(m.MessageID, "<notice-%d@mx.example>", &uid)
				if uid < 1 || uid > len(f.seed) {
					t.Fatalf("message %+v", m)
				}
				r := f.seed[uid-1]
				kept := !r.at().Before(testNow.Add(-90 * 24 * time.Hour))
				if m.ID != e.Message || m.Kind != string(r.kind) || m.Subject != fmt.Sprintf("failure %d", uid) ||
					m.Account != "acct" || m.Mailbox != "INBOX" || m.UID != int64(uid) || m.HasRaw != kept ||
					len(m.Recipients) != 1 || m.Recipients[0].Recipient != addr || m.Recipients[0].Message != m.ID ||
					m.OriginalMessageID != fmt.Sprintf("<campaign-%d@lists.example.org>", uid) {
					t.Errorf("message %+v, want of %+v", m, r)
				}
				wantURL := ""
				if kept {
					wantURL = fmt.Sprintf("/api/v1/messages/%d/raw", m.ID)
				}
				if m.RawURL != wantURL {
					t.Errorf("raw_url %q, want %q", m.RawURL, wantURL)
				}
				resp := f.get(t, fmt.Sprintf("/api/v1/messages/%d/raw", m.ID), readSecret)
				if !kept {
					apiWantError(t, resp, http.StatusNotFound, CodeNotFound, "raw source")
					continue
				}
				if got, want := string(apiBody(t, resp, http.StatusOK)), string(r.message(uint32(uid)).Raw); got != want {
					t.Errorf("raw %q, want %q", got, want)
				}
				if ct, cd := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"); ct != "message/rfc822" ||
					cd != fmt.Sprintf(`attachment; filename="message-%d.eml"`, m.ID) {
					t.Errorf("Content-Type %q, Content-Disposition %q", ct, cd)
				}
			}
		})
	}
	tests := []struct {
		path    string
		status  int
		code    string
		mention string
	}{
		{"/api/v1/messages/999999", 404, CodeNotFound, "999999"},
		{"/api/v1/messages/999999/raw", 404, CodeNotFound, "999999"},
		{"/api/v1/messages/x", 400, CodeBadParameter, `id: want a message id (a whole number from 1); got "x"`},
		{"/api/v1/messages/0", 400, CodeBadParameter, "id"},
		{"/api/v1/messages/-4", 400, CodeBadParameter, "id"},
		{"/api/v1/messages/1.5/raw", 400, CodeBadParameter, "id"},
		{"/api/v1/messages/99999999999999999999", 400, CodeBadParameter, "id"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			apiWantError(t, f.get(t, tt.path, readSecret), tt.status, tt.code, tt.mention)
		})
	}
}

// seedCounts counts the seed rows of the days in [since, until) (both
// midnights UTC) as Stats groups them by.
func seedCounts(rows []seedRow, by store.StatsBy, since, until time.Time) map[string]store.Count {
	out := map[string]store.Count{}
	for _, r := range rows {
		day := startOfDay(r.at())
		if day.Before(since) || !day.Before(until) {
			continue
		}
		var key string
		switch by {
		case store.ByCause:
			key = string(r.cause)
			if r.kind == dsn.Complaint {
				key = "complaint"
			}
		case store.ByDomain:
			key = r.domain()
		case store.ByDay:
			key = day.Format(time.DateOnly)
		}
		c := out[key]
		c.Key = key
		switch r.kind {
		case dsn.Bounce:
			c.Bounces++
			if r.severity == classify.Hard {
				c.Hard++
			} else {
				c.Soft++
			}
			if by == store.ByDomain && r.cause.Scope() == classify.ScopeRecipient {
				c.Recipient++
			}
		case dsn.Delay:
			c.Delays++
		case dsn.Complaint:
			c.Complaints++
		}
		out[key] = c
	}
	return out
}

func TestAPIStats(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	tomorrow := startOfDay(testNow).AddDate(0, 0, 1)
	month := tomorrow.Add(-30 * 24 * time.Hour)
	day := func(s string) time.Time { t, _ := time.Parse(time.DateOnly, s); return t }
	tests := []struct {
		query        string
		by           store.StatsBy
		since, until time.Time
		top          int // by domain: how many
	}{
		{"", store.ByCause, month, tomorrow, 0},
		{"by=cause", store.ByCause, month, tomorrow, 0},
		{"by=day", store.ByDay, month, tomorrow, 0},
		{"by=domain", store.ByDomain, month, tomorrow, 0},
		{"by=domain&limit=2", store.ByDomain, month, tomorrow, 2},
		{"since=2026-08-01&until=2026-11-21", store.ByCause, day("2026-08-01"), tomorrow, 0},
		{"by=day&since=2026-08-01&until=2026-09-01", store.ByDay, day("2026-08-01"), day("2026-09-01"), 0},
		{"by=domain&since=7d", store.ByDomain, startOfDay(testNow.Add(-7 * 24 * time.Hour)), tomorrow, 0},
		{"until=2026-11-20T23:00:00Z", store.ByCause, day("2026-11-20").Add(-30 * 24 * time.Hour), day("2026-11-20"), 0},
		{"by=cause&since=2026-11-20&until=2026-11-20", store.ByCause, day("2026-11-20"), day("2026-11-20"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			var got statsAnswer
			body := apiDecode(t, f.get(t, "/api/v1/stats?"+tt.query, readSecret), http.StatusOK, &got)
			if got.By != string(tt.by) || !got.Since.Equal(tt.since) || !got.Until.Equal(tt.until) {
				t.Errorf("by %s from %s to %s, want %s from %s to %s", got.By, got.Since, got.Until, tt.by, tt.since, tt.until)
			}
			want := seedCounts(f.seed, tt.by, tt.since, tt.until)
			if tt.top > 0 {
				keys := slices.Collect(func(yield func(string) bool) {
					for k := range want {
						if !yield(k) {
							return
						}
					}
				})
				total := func(c store.Count) int64 { return c.Bounces + c.Delays + c.Complaints }
				slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(total(want[b]), total(want[a])), cmp.Compare(a, b)) })
				for _, k := range keys[tt.top:] {
					delete(want, k)
				}
			}
			gotMap := map[string]store.Count{}
			for i, c := range got.Counts {
				gotMap[c.Key] = c
				if i > 0 && tt.by == store.ByDay && got.Counts[i-1].Key >= c.Key {
					t.Errorf("days out of order: %s after %s", c.Key, got.Counts[i-1].Key)
				}
			}
			if len(gotMap) != len(want) {
				t.Errorf("%d counts, want %d: %s", len(gotMap), len(want), body)
			}
			for k, c := range want {
				if gotMap[k] != c {
					t.Errorf("%s: got %+v, want %+v", k, gotMap[k], c)
				}
			}
			if len(want) == 0 && !bytes.Contains(body, []byte(`"counts":[]`)) {
				t.Errorf("counts not an empty list: %s", body)
			}
		})
	}
}

func TestAPIMailboxes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	var got struct {
		Mailboxes []store.MailboxStatus `json:"mailboxes"`
	}
	if body := apiDecode(t, f.get(t, "/api/v1/mailboxes", readSecret), http.StatusOK, &got); string(body) != `{"mailboxes":[]}`+"\n" {
		t.Errorf("no mailboxes: %s", body)
	}
	poll := testNow.Add(-time.Minute)
	saved := []store.MailboxStatus{
		{Account: "acct", Mailbox: "INBOX", Instance: "host:1", Active: true, LastPoll: poll, Lag: 3, Processed: 7},
		{Account: "acct", Mailbox: "Other", Instance: "host:2", Error: "login refused", ErrorAt: poll},
	}
	if err := f.store.SaveMailboxStatus(context.Background(), saved); err != nil {
		t.Fatal(err)
	}
	apiDecode(t, f.get(t, "/api/v1/mailboxes", readSecret), http.StatusOK, &got)
	if len(got.Mailboxes) != len(saved) {
		t.Fatalf("%d mailboxes, want %d", len(got.Mailboxes), len(saved))
	}
	for i, m := range got.Mailboxes {
		w := saved[i]
		if m.Account != w.Account || m.Mailbox != w.Mailbox || m.Instance != w.Instance || m.Active != w.Active ||
			!m.LastPoll.Equal(w.LastPoll) || m.Lag != w.Lag || m.Processed != w.Processed || m.Error != w.Error ||
			!m.ErrorAt.Equal(w.ErrorAt) || m.UpdatedAt.IsZero() {
			t.Errorf("mailbox %d: got %+v, want %+v", i, m, w)
		}
	}
}

func TestAPISpecServed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	want, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	resp := f.get(t, "/api/v1/openapi.json", readSecret)
	if got := apiBody(t, resp, http.StatusOK); !bytes.Equal(got, want) || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("served %d bytes as %q, want openapi.json's %d", len(got), resp.Header.Get("Content-Type"), len(want))
	}
	apiWantError(t, f.get(t, "/api/v1/openapi.json", ""), http.StatusUnauthorized, CodeUnauthorized, "bearer")
}

// apiPath is the path of route rt with its wildcards filled in.
func apiPath(rt apiRoute) string {
	return strings.NewReplacer("{address}", "gone5@alpha.example", "{id}", "1").Replace(rt.path)
}

func TestAPIAuth(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	for _, rt := range apiRouteTable {
		t.Run(rt.pattern(), func(t *testing.T) {
			t.Parallel()
			send := func(auth string) *http.Response {
				req, err := http.NewRequest(rt.method, f.http.URL+apiPath(rt), strings.NewReader(`{"reason": "x"}`))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				// A dashboard session does not open the API.
				req.AddCookie(&http.Cookie{Name: CookieName, Value: "x.y"})
				resp, err := f.http.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { resp.Body.Close() })
				return resp
			}
			for _, auth := range []string{"", "Bearer wrong-secret-0123456789", "Basic " + adminSecret, "Bearer", "Bearer " + adminSecret[1:]} {
				resp := send(auth)
				apiWantError(t, resp, http.StatusUnauthorized, CodeUnauthorized, "")
				if h := resp.Header.Get("WWW-Authenticate"); h != `Bearer realm="bounced"` {
					t.Errorf("%q: WWW-Authenticate %q", auth, h)
				}
			}
			resp := send("Bearer " + readSecret)
			if rt.role == Admin {
				apiWantError(t, resp, http.StatusForbidden, CodeForbidden, "admin")
			} else if resp.StatusCode != http.StatusOK {
				t.Errorf("read token: status %d", resp.StatusCode)
			}
			if resp := send("bearer " + adminSecret); resp.StatusCode != http.StatusOK {
				t.Errorf("admin token: status %d", resp.StatusCode)
			}
		})
	}
}

func TestAPIBadParameters(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	var page bounceList
	apiDecode(t, f.get(t, "/api/v1/bounces?limit=1", readSecret), http.StatusOK, &page)
	bounceCur := url.QueryEscape(page.NextCursor)
	var spage suppressionList
	apiDecode(t, f.get(t, "/api/v1/suppressions?limit=1", readSecret), http.StatusOK, &spage)
	suppCur := url.QueryEscape(spage.NextCursor)
	if bounceCur == "" || suppCur == "" {
		t.Fatal("no cursors")
	}
	tests := []struct {
		path    string
		mention string
	}{
		{"/api/v1/suppressions?since=xyz", `since: want an RFC 3339 time, a date (2026-05-01) or a duration back from now (7d, 36h); got "xyz"`},
		{"/api/v1/suppressions?since=-7d", "since"},
		{"/api/v1/suppressions?since=7", "since"},
		{"/api/v1/suppressions?since=1.5d", "since"},
		{"/api/v1/suppressions?since=99999d", "since"},
		{"/api/v1/bounces?until=2026-13-01", "until"},
		{"/api/v1/bounces?since=2026-11-10&until=2026-11-01", "since: 2026-11-10T00:00:00Z is after until"},
		{"/api/v1/stats?since=2026-11-10&until=2026-11-01", "since"},
		{"/api/v1/stats?since=2026-12-10", "since"},
		{"/api/v1/suppressions?limit=0", `limit: want a whole number from 1 to 1000; got "0"`},
		{"/api/v1/suppressions?limit=100000", "limit: want a whole number from 1 to 1000"},
		{"/api/v1/bounces?limit=x", "limit: want a whole number from 1 to 1000"},
		{"/api/v1/bounces?limit=-1", "limit"},
		{"/api/v1/suppressions/gone1@alpha.example?limit=1001", "limit"},
		{"/api/v1/stats?by=domain&limit=0", "limit"},
		{"/api/v1/stats?by=cause&limit=5", "limit: only by=domain"},
		{"/api/v1/stats?limit=5", "limit: only by=domain"},
		{"/api/v1/suppressions?cause=oversize", "cause: want one of bad_address, bad_domain, mailbox_disabled, complaint, mailbox_full"},
		{"/api/v1/bounces?cause=nope", "cause: want one of bad_address"},
		{"/api/v1/bounces?kind=auto_reply", "kind: want one of bounce, delay, complaint"},
		{"/api/v1/bounces?severity=medium", "severity: want one of hard, soft"},
		{"/api/v1/bounces?scope=world", "scope: want one of recipient, message, sender, transport, unknown"},
		{"/api/v1/stats?by=week", "by: want one of cause, domain, day"},
		{"/api/v1/suppressions?format=xml", "format: want one of json, csv"},
		{"/api/v1/suppressions?reason=bad_address", `unknown parameter "reason": this endpoint takes since, cause, domain, cursor, limit, format`},
		{"/api/v1/bounces?sinse=7d", `unknown parameter "sinse"`},
		{"/api/v1/mailboxes?verbose=1", `unknown parameter "verbose": this endpoint takes none`},
		{"/api/v1/messages/1?x", `unknown parameter "x"`},
		{"/api/v1/bounces?limit=1&limit=2", "limit: given 2 times"},
		{"/api/v1/suppressions?since=%zz", "query"},
		{"/api/v1/suppressions?cursor=!!!", "cursor: not a cursor of this list"},
		{"/api/v1/suppressions?cursor=" + bounceCur, "cursor"},
		{"/api/v1/bounces?cursor=" + suppCur, "cursor"},
		{"/api/v1/bounces?cursor=" + b64.EncodeToString([]byte("b:yesterday,1")), "cursor"},
		{"/api/v1/bounces?cursor=" + b64.EncodeToString([]byte("b:2026-11-01T00:00:00Z,0")), "cursor"},
		{"/api/v1/suppressions?cursor=" + b64.EncodeToString([]byte("s:")), "cursor"},
		{"/api/v1/suppressions/not-an-address", `address: want an email address (local@domain, at most 254 characters); got "not-an-address"`},
		{"/api/v1/suppressions/@alpha.example", "address"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			apiWantError(t, f.get(t, tt.path, readSecret), http.StatusBadRequest, CodeBadParameter, tt.mention)
		})
	}
}

func TestAPIParseInstant(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Time // zero: refused
	}{
		{"30d", testNow.Add(-30 * 24 * time.Hour)},
		{"36h", testNow.Add(-36 * time.Hour)},
		{"1d12h", testNow.Add(-36 * time.Hour)},
		{"90m", testNow.Add(-90 * time.Minute)},
		{"0", testNow},
		{"0d", testNow},
		{"2026-05-01", time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)},
		{"2026-05-01T10:00:00Z", time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)},
		{"2026-05-01T10:00:00.5+02:00", time.Date(2026, 5, 1, 8, 0, 0, 5e8, time.UTC)},
		{"2026-05-01T10:00:00 02:00", time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)},
		{"36500d", testNow.Add(-36500 * 24 * time.Hour)},
		{"", time.Time{}},
		{"xyz", time.Time{}},
		{"d", time.Time{}},
		{"7", time.Time{}},
		{"-1d", time.Time{}},
		{"+1d", time.Time{}},
		{"-5h", time.Time{}},
		{"1d-1h", time.Time{}},
		{"1.5d", time.Time{}},
		{"7 d", time.Time{}},
		{"36501d", time.Time{}},
		{"36400d9000h", time.Time{}},
		{"36000d9000h", testNow.Add(-36375 * 24 * time.Hour)},
		{"9999999999h", time.Time{}},
		{"2026-02-30", time.Time{}},
		{"2026-05-01T10:00:00", time.Time{}},
	}
	for _, tt := range tests {
		got, ok := parseInstant(tt.in, testNow)
		if ok != !tt.want.IsZero() || !got.Equal(tt.want) {
			t.Errorf("parseInstant(%q) = %s, %v; want %s", tt.in, got, ok, tt.want)
		}
	}
}

func TestAPIElse(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/api/v1/nope", 404, ""},
		{"GET", "/api/v2/suppressions", 404, ""},
		{"GET", "/api/v1/suppressions/", 404, ""},
		{"GET", "/api/v1/suppressions/a@b.example/history", 404, ""},
		{"POST", "/api/v1/bounces", 405, "GET, HEAD"},
		{"DELETE", "/api/v1/suppressions/a@b.example", 405, "GET, HEAD"},
		{"GET", "/api/v1/suppressions/a@b.example/release", 405, "POST"},
		{"PUT", "/api/v1/openapi.json", 405, "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			for _, secret := range []string{"", adminSecret} {
				resp := f.do(t, tt.method, tt.path, secret, "", nil)
				if tt.status == 404 {
					apiWantError(t, resp, tt.status, CodeNotFound, tt.path)
				} else {
					apiWantError(t, resp, tt.status, CodeMethodNotAllowed, tt.allow)
				}
				if got := resp.Header.Get("Allow"); got != tt.allow {
					t.Errorf("Allow %q, want %q", got, tt.allow)
				}
			}
		})
	}
}
