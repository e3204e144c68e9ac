package web

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
	"github.com/bounced/bounced/internal/store"
)

// pageClient is a browser of the dashboard in a test: it sends the
// session cookie it got by logging in.
type pageClient struct {
	t      *testing.T
	f      *fixture
	cookie *http.Cookie
}

// fixtureTokens are the tokens of newFixture's server.
func fixtureTokens() []Token {
	return []Token{{Name: "reader", Role: Read, Secret: readSecret}, {Name: "boss", Role: Admin, Secret: adminSecret}}
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// send sends a request to the fixture with the cookie (when there is one)
// and the headers given, and reads the answer.
func (c *pageClient) send(method, path string, form url.Values, header ...string) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.f.http.URL+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp, string(b)
}

// page GETs path, wants 200 and an HTML page, and parses it.
func (c *pageClient) page(path string) *html.Node {
	c.t.Helper()
	resp, body := c.send(http.MethodGet, path, nil)
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("GET %s: %s, want 200\n%s", path, resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		c.t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	return parseHTML(c.t, body)
}

// csrf reads the CSRF token of the session from a page's forms.
func (c *pageClient) csrf() string {
	c.t.Helper()
	for _, n := range all(c.page("/"), "input", "name") {
		if attr(n, "name") == "csrf" {
			return attr(n, "value")
		}
	}
	c.t.Fatal("no csrf field on the overview")
	return ""
}

// login logs in with secret and returns the logged-in client.
func login(t *testing.T, f *fixture, secret string) *pageClient {
	t.Helper()
	c := &pageClient{t: t, f: f}
	resp, body := c.send(http.MethodPost, "/login", url.Values{"token": {secret}, "next": {"/"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %s, want 303\n%s", resp.Status, body)
	}
	c.cookie = sessionCookie(t, resp)
	return c
}

// sessionCookie finds the session cookie a response sets.
func sessionCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, ck := range resp.Cookies() {
		if ck.Name == CookieName {
			return ck
		}
	}
	t.Fatalf("no %s cookie set: %v", CookieName, resp.Header["Set-Cookie"])
	return nil
}

func parseHTML(t *testing.T, s string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// all finds the elements of tag (any when "") under n that have the
// attribute key (any when "").
func all(n *html.Node, tag, key string) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && (tag == "" || d.Data == tag) && (key == "" || hasAttr(d, key)) {
			out = append(out, d)
		}
	}
	return out
}

// byID finds the element of id under n, or fails.
func byID(t *testing.T, n *html.Node, id string) *html.Node {
	t.Helper()
	for _, d := range all(n, "", "id") {
		if attr(d, "id") == id {
			return d
		}
	}
	t.Fatalf("no element #%s", id)
	return nil
}

// byClass finds the elements of tag under n whose class list has class.
func byClass(n *html.Node, tag, class string) []*html.Node {
	var out []*html.Node
	for _, d := range all(n, tag, "class") {
		if slices.Contains(strings.Fields(attr(d, "class")), class) {
			out = append(out, d)
		}
	}
	return out
}

// releaseForms are the release forms of a page.
func releaseForms(doc *html.Node) []*html.Node {
	var out []*html.Node
	for _, form := range all(doc, "form", "action") {
		if attr(form, "action") == "/address/release" {
			out = append(out, form)
		}
	}
	return out
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// text is the text under n, its spaces squeezed (and one between the
// texts of two elements).
func text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data + " ")
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// seedWithin are the seeded rows of kind within the days days before
// testNow (today counted).
func seedWithin(seed []seedRow, kind dsn.Kind, days int) []seedRow {
	var out []seedRow
	for _, r := range seed {
		if r.kind == kind && r.days < days {
			out = append(out, r)
		}
	}
	return out
}

// seedDaily counts the seeded bounces of the last 90 days by
// "cause severity", as the daily chart should.
func seedDaily(seed []seedRow) map[string]int64 {
	out := map[string]int64{}
	for _, r := range seedWithin(seed, dsn.Bounce, 90) {
		out[string(r.cause)+" "+string(r.severity)]++
	}
	return out
}

// seedTopDomains ranks the domains by their seeded recipient-scope
// bounces of the last 30 days, as TopDomains does.
func seedTopDomains(seed []seedRow) []string {
	n := map[string]int{}
	for _, r := range seedWithin(seed, dsn.Bounce, 30) {
		if r.cause.Scope() == classify.ScopeRecipient {
			n[r.domain()]++
		}
	}
	var out []string
	for d := range n {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Or(n[b]-n[a], strings.Compare(a, b)) })
	return out
}

func TestLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	anon := &pageClient{t: t, f: f}

	t.Run("wrong token", func(t *testing.T) {
		resp, body := anon.send(http.MethodPost, "/login", url.Values{"token": {"not-a-token-at-all"}, "next": {"/bounces"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s, want 401", resp.Status)
		}
		if len(resp.Cookies()) != 0 {
			t.Errorf("cookies set: %v", resp.Cookies())
		}
		doc := parseHTML(t, body)
		if got := text(byClass(doc, "p", "problem")[0]); got != "That token is not valid." {
			t.Errorf("message %q", got)
		}
		var next, pw bool
		for _, in := range all(doc, "input", "name") {
			next = next || attr(in, "name") == "next" && attr(in, "value") == "/bounces"
			pw = pw || attr(in, "name") == "token" && attr(in, "type") == "password"
		}
		if !next || !pw {
			t.Errorf("the form again: next field %v, password field %v", next, pw)
		}
	})

	t.Run("right token", func(t *testing.T) {
		resp, _ := anon.send(http.MethodPost, "/login", url.Values{"token": {readSecret}, "next": {"/bounces?cause=virus"}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/bounces?cause=virus" {
			t.Fatalf("%s to %q, want 303 to /bounces?cause=virus", resp.Status, resp.Header.Get("Location"))
		}
		ck := sessionCookie(t, resp)
		if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" {
			t.Errorf("cookie %+v: want HttpOnly, Secure, SameSite=Strict, Path=/", ck)
		}
		if want := testNow.Add(12 * time.Hour); !ck.Expires.Equal(want) || ck.MaxAge != 12*3600 {
			t.Errorf("cookie expires %v, max-age %d; want %v and 12h (by the server's clock)", ck.Expires, ck.MaxAge, want)
		}
		c := &pageClient{t: t, f: f, cookie: ck}
		doc := c.page("/bounces")
		if got := text(byClass(doc, "span", "user")[0]); got != "reader" {
			t.Errorf("logged in as %q, want reader", got)
		}
	})

	t.Run("next stays on the site", func(t *testing.T) {
		for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", ""} {
			resp, _ := anon.send(http.MethodPost, "/login", url.Values{"token": {readSecret}, "next": {next}})
			if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || got != "/" {
				t.Errorf("next %q: %s to %q, want 303 to /", next, resp.Status, got)
			}
		}
	})

	t.Run("origin", func(t *testing.T) {
		form := url.Values{"token": {readSecret}}
		for _, tc := range []struct {
			origin, forwarded string
			want              int
		}{
			{"https://evil.example", "", http.StatusForbidden},
			{"null", "", http.StatusForbidden},
			{"javascript:alert(1)", "", http.StatusForbidden},
			{"https://evil.example", "bounced.example.org", http.StatusForbidden},
			{f.http.URL, "", http.StatusSeeOther},
			{"https://bounced.example.org", "bounced.example.org, 10.0.0.1", http.StatusSeeOther},
		} {
			resp, _ := anon.send(http.MethodPost, "/login", form, "Origin", tc.origin, "X-Forwarded-Host", tc.forwarded)
			if resp.StatusCode != tc.want {
				t.Errorf("Origin %s: %s, want %d", tc.origin, resp.Status, tc.want)
			}
			if tc.want == http.StatusForbidden && len(resp.Cookies()) != 0 {
				t.Errorf("Origin %s: a cookie was set", tc.origin)
			}
		}
	})

	t.Run("pages need a login", func(t *testing.T) {
		for path, next := range map[string]string{
			"/":                         "/login?next=%2F",
			"/bounces?cause=bad_domain": "/login?next=%2Fbounces%3Fcause%3Dbad_domain",
			"/mailboxes":                "/login?next=%2Fmailboxes",
		} {
			resp, _ := anon.send(http.MethodGet, path, nil)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != next {
				t.Errorf("GET %s: %s to %q, want 303 to %s", path, resp.Status, resp.Header.Get("Location"), next)
			}
		}
		resp, _ := anon.send(http.MethodPost, "/address/release", url.Values{"address": {"a@b.example"}, "reason": {"x"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST without a login: %s, want 401", resp.Status)
		}
	})

	t.Run("forged and expired cookies", func(t *testing.T) {
		good := login(t, f, adminSecret).cookie
		payload, mac, _ := strings.Cut(good.Value, ".")
		raw, _ := b64.DecodeString(payload)
		asReader := b64.EncodeToString([]byte(strings.Replace(string(raw), "boss\nadmin", "reader\nread", 1)))
		flipped := []byte(mac)
		flipped[0] ^= 1
		for name, value := range map[string]string{
			"another token's name": asReader + "." + mac,
			"a wrong mac":          payload + "." + string(flipped),
			"no mac":               payload,
			"garbage":              "!!!",
		} {
			c := &pageClient{t: t, f: f, cookie: &http.Cookie{Name: CookieName, Value: value}}
			if resp, _ := c.send(http.MethodGet, "/", nil); resp.StatusCode != http.StatusSeeOther {
				t.Errorf("%s: %s, want 303 to the login", name, resp.Status)
			}
		}
		// The same cookie, to a server whose clock is past the session's
		// end (12h by default), is refused; to this one it is fine.
		later, err := New(f.store, Config{
			Tokens: fixtureTokens(),
			Now:    func() time.Time { return testNow.Add(12*time.Hour + time.Minute) },
		}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			h    http.Handler
			want int
		}{{f.srv.Handler(), http.StatusOK}, {later.Handler(), http.StatusSeeOther}} {
			req := httptest.NewRequest(http.MethodGet, "/mailboxes", nil)
			req.AddCookie(good)
			rec := httptest.NewRecorder()
			tc.h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("got %d, want %d", rec.Code, tc.want)
			}
		}
	})

	t.Run("logout", func(t *testing.T) {
		c := login(t, f, readSecret)
		if resp, _ := c.send(http.MethodPost, "/logout", url.Values{}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("logout without csrf: %s, want 403", resp.Status)
		}
		resp, _ := c.send(http.MethodPost, "/logout", url.Values{"csrf": {c.csrf()}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Fatalf("logout: %s to %q, want 303 to /login", resp.Status, resp.Header.Get("Location"))
		}
		if ck := sessionCookie(t, resp); ck.Value != "" || ck.MaxAge >= 0 {
			t.Errorf("logout: cookie %+v not cleared", ck)
		}
	})
}

func TestDashboardOverview(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	doc := login(t, f, readSecret).page("/")

	t.Run("daily chart", func(t *testing.T) {
		want := seedDaily(f.seed)
		got := map[string]int64{}
		tip := regexp.MustCompile(`^(\d{4}-\d\d-\d\d) ([a-z_]+) (hard|soft): (\d+)$`)
		first, last := testNow.AddDate(0, 0, -89).Format(time.DateOnly), testNow.Format(time.DateOnly)
		for _, r := range all(byID(t, doc, "daily"), "rect", "data-n") {
			n, err := strconv.ParseInt(attr(r, "data-n"), 10, 64)
			if err != nil || n <= 0 {
				t.Fatalf("data-n %q", attr(r, "data-n"))
			}
			day, cause, sev := attr(r, "data-day"), attr(r, "data-cause"), attr(r, "data-severity")
			if day < first || day > last {
				t.Errorf("a bar on %s, outside %s to %s", day, first, last)
			}
			m := tip.FindStringSubmatch(text(r))
			if m == nil || m[1] != day || m[2] != cause || m[3] != sev || m[4] != attr(r, "data-n") {
				t.Errorf("tooltip %q of %s %s %s %d", text(r), day, cause, sev, n)
			}
			got[cause+" "+sev] += n
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("daily chart by cause:\n got %v\nwant %v", got, want)
		}
		// The legend names each cause drawn, with its total.
		legend := map[string]string{}
		for _, li := range all(doc, "li", "class") {
			if strings.HasPrefix(attr(li, "class"), "scope-") {
				w := strings.Fields(text(li))
				legend[w[0]] = w[1]
			}
		}
		for k, n := range want {
			cause := strings.Fields(k)[0]
			if legend[cause] == "" {
				t.Errorf("legend: no %s (%d)", cause, n)
			}
		}
		if legend["bad_address"] != "17" {
			t.Errorf("legend: bad_address %s, want 17", legend["bad_address"])
		}
	})

	t.Run("top domains", func(t *testing.T) {
		var got []string
		for _, r := range all(byID(t, doc, "domains"), "rect", "data-label") {
			got = append(got, attr(r, "data-label"))
		}
		if want := seedTopDomains(f.seed); !slices.Equal(got, want) || len(want) < 3 {
			t.Errorf("top domains %v, want %v", got, want)
		}
	})

	t.Run("sender scope", func(t *testing.T) {
		want := map[string]int64{}
		for _, r := range seedWithin(f.seed, dsn.Bounce, 90) {
			if r.cause.Scope() == classify.ScopeSender {
				want[string(r.cause)]++
			}
		}
		got := map[string]int64{}
		for _, r := range all(byID(t, doc, "sender"), "rect", "data-n") {
			n, _ := strconv.ParseInt(attr(r, "data-n"), 10, 64)
			got[attr(r, "data-cause")] += n
			if w, err := time.Parse(time.DateOnly, attr(r, "data-week")); err != nil || w.Weekday() != time.Monday {
				t.Errorf("data-week %q: not a Monday", attr(r, "data-week"))
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || len(want) != 3 {
			t.Errorf("sender chart %v, want %v", got, want)
		}
	})

	t.Run("totals", func(t *testing.T) {
		var want overviewTotals
		for _, r := range f.seed {
			switch {
			case r.days >= 90:
			case r.kind == dsn.Delay:
				want.Delays++
			case r.kind == dsn.Complaint:
				want.Complaints++
			case r.severity == classify.Hard:
				want.Hard++
			default:
				want.Soft++
			}
			if r.days < 90 && r.kind == dsn.Bounce && r.cause.Scope() == classify.ScopeRecipient {
				want.Recipient++
			}
		}
		counts, err := f.store.SuppressionCounts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var suppressed int64
		for _, n := range counts {
			suppressed += n
		}
		got := map[string]string{}
		for _, n := range all(doc, "span", "data-total") {
			got[attr(n, "data-total")] = text(n)
		}
		w := map[string]string{"hard": fmt.Sprint(want.Hard), "soft": fmt.Sprint(want.Soft), "recipient": fmt.Sprint(want.Recipient),
			"delays": fmt.Sprint(want.Delays), "complaints": fmt.Sprint(want.Complaints), "suppressed": fmt.Sprint(suppressed)}
		if fmt.Sprint(got) != fmt.Sprint(w) || suppressed == 0 {
			t.Errorf("totals %v, want %v", got, w)
		}
		for _, tr := range all(doc, "tr", "data-reason") {
			if got, want := text(all(tr, "td", "")[0]), fmt.Sprint(counts[attr(tr, "data-reason")]); got != want {
				t.Errorf("suppressed for %s: %s, want %s", attr(tr, "data-reason"), got, want)
			}
		}
	})

	t.Run("recent", func(t *testing.T) {
		bounces := seedWithin(f.seed, dsn.Bounce, 1000)
		slices.SortStableFunc(bounces, func(a, b seedRow) int { return a.at().Compare(b.at()) * -1 })
		rows := all(byID(t, doc, "recent"), "tr", "data-recipient")
		if len(rows) != 10 {
			t.Fatalf("%d recent bounces, want 10", len(rows))
		}
		for i, tr := range rows {
			at, rcpt := attr(tr, "data-at"), attr(tr, "data-recipient")
			if want := bounces[i].at().Format(time.RFC3339); at != want {
				t.Errorf("row %d at %s, want %s", i, at, want)
			}
			if !slices.ContainsFunc(bounces, func(r seedRow) bool { return r.rcpt == rcpt && r.at().Format(time.RFC3339) == at }) {
				t.Errorf("row %d: %s at %s was not seeded", i, rcpt, at)
			}
			link := all(tr, "a", "href")[1]
			if attr(link, "href") != "/address?q="+url.QueryEscape(rcpt) {
				t.Errorf("row %d links to %q", i, attr(link, "href"))
			}
		}
	})
}

// rowsOf are the recipients of the bounce rows of a page.
func rowsOf(doc *html.Node) []string {
	var out []string
	for _, tr := range all(doc, "tr", "data-recipient") {
		out = append(out, attr(tr, "data-recipient"))
	}
	return out
}

func TestDashboardBounces(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	c := login(t, f, readSecret)

	t.Run("filters", func(t *testing.T) {
		for _, tc := range []struct {
			query string
			want  func(seedRow) bool
		}{
			{"", func(seedRow) bool { return true }},
			{"cause=bad_address&domain=Beta.example", func(r seedRow) bool { return r.cause == classify.BadAddress && r.domain() == "beta.example" }},
			{"kind=delay", func(r seedRow) bool { return r.kind == dsn.Delay }},
			{"cause=complaint", func(r seedRow) bool { return r.kind == dsn.Complaint }},
			{"scope=sender&severity=soft", func(r seedRow) bool { return r.kind == dsn.Bounce && r.cause == classify.RateLimited }},
			{"since=" + testNow.AddDate(0, 0, -10).Format(time.DateOnly), func(r seedRow) bool { return r.days <= 10 }},
		} {
			var want []string
			for _, r := range f.seed {
				if tc.want(r) {
					want = append(want, r.rcpt)
				}
			}
			got := rowsOf(c.page("/bounces?" + tc.query))
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) || len(want) == 0 {
				t.Errorf("%s: %v, want %v", tc.query, got, want)
			}
		}
	})

	t.Run("explanations", func(t *testing.T) {
		doc := c.page("/bounces?domain=gamma.example")
		got := map[string]string{}
		for _, tr := range all(doc, "tr", "data-recipient") {
			got[attr(tr, "data-recipient")] = text(byClass(tr, "p", "explain")[0])
		}
		want := map[string]string{
			"nodomain@gamma.example": "The domain does not exist or takes no mail (bad_domain, hard, recipient scope): counts against the address",
			"closed@gamma.example":   "The mailbox is disabled, suspended or closed (mailbox_disabled, hard, recipient scope): counts against the address",
			"angry@gamma.example":    "The recipient reported the message as abuse (complaint): counts against the address",
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("explanations\n got %v\nwant %v", got, want)
		}
		doc = c.page("/bounces?cause=blocklisted&n=1")
		if got := text(byClass(doc, "p", "explain")[0]); !strings.HasPrefix(got, "The sending IP or domain is on a blocklist (blocklisted, hard, sender scope): about the sender's own delivery") {
			t.Errorf("blocklisted: %q", got)
		}
	})

	t.Run("paging", func(t *testing.T) {
		var got []string
		var ats []string
		next := "/bounces?n=7&scope=recipient"
		for pages := 0; next != ""; pages++ {
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			doc := c.page(next)
			for _, tr := range all(doc, "tr", "data-recipient") {
				got = append(got, attr(tr, "data-recipient")+" "+attr(tr, "data-at"))
				ats = append(ats, attr(tr, "data-at"))
			}
			next = ""
			for _, a := range all(doc, "a", "rel") {
				next = attr(a, "href")
				if !strings.Contains(next, "scope=recipient") || !strings.Contains(next, "n=7") {
					t.Errorf("the next page %q drops the filters", next)
				}
			}
		}
		var want []string
		for _, r := range f.seed {
			if r.kind == dsn.Complaint || r.cause.Scope() == classify.ScopeRecipient {
				want = append(want, r.rcpt+" "+r.at().Format(time.RFC3339))
			}
		}
		if !slices.IsSortedFunc(ats, func(a, b string) int { return strings.Compare(b, a) }) {
			t.Errorf("not newest first: %v", ats)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("all pages:\n got %v\nwant %v", got, want)
		}
	})

	t.Run("bad parameters", func(t *testing.T) {
		for _, q := range []string{"cause=nope", "kind=x", "severity=medium", "scope=planet", "since=yesterday",
			"before=garbage", "before=2026-01-01T00:00:00Z_x", "n=0", "n=100000", "n=-1"} {
			resp, body := c.send(http.MethodGet, "/bounces?"+q, nil)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `class="problem"`) {
				t.Errorf("%s: %s, want 400 with the problem said", q, resp.Status)
			}
		}
	})
}

func TestDashboardAddress(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	c := login(t, f, readSecret)

	doc := c.page("/address?q=" + url.QueryEscape(" gone0@ALPHA.example "))
	if got := text(byID(t, doc, "suppression")); !strings.Contains(got, "Suppressed") || !strings.Contains(got, "bad_address") {
		t.Errorf("suppression: %q", got)
	}
	rows := all(doc, "tr", "data-at")
	if len(rows) != 1 {
		t.Fatalf("%d events, want 1", len(rows))
	}
	ev := text(rows[0])
	for _, want := range []string{"<campaign-1@lists.example.org>", "X-Campaign-Id c1", "Subject November news",
		"test:bad_address", "5.1.1", "550 5.1.1 bad_address said the server", "acct/INBOX",
		"The mailbox does not exist (bad_address, hard, recipient scope): counts against the address"} {
		if !strings.Contains(ev, want) {
			t.Errorf("event %q lacks %q", ev, want)
		}
	}
	if n := len(releaseForms(doc)); n != 0 {
		t.Errorf("a reader sees %d release forms", n)
	}

	// The event links to its notice.
	href := attr(all(rows[0], "a", "href")[0], "href")
	msg := c.page(href)
	if got := text(msg); !strings.Contains(got, "<notice-1@mx.example>") || !strings.Contains(got, "gone0@alpha.example") {
		t.Errorf("%s: %q", href, got)
	}

	doc = c.page("/address?q=fine1@delta.example")
	if got := text(byID(t, doc, "suppression")); got != "Not suppressed: this address may be mailed." {
		t.Errorf("sender-scope bounces only: %q", got)
	}
	if n := len(all(doc, "tr", "data-at")); n != 2 {
		t.Errorf("fine1@delta.example: %d events, want 2 (blocklisted, auth_failure)", n)
	}
	doc = c.page("/address?q=nobody@nowhere.example")
	if !strings.Contains(text(doc), "bounced knows nothing of this address") {
		t.Error("an unknown address is not said to be unknown")
	}
	if doc := c.page("/address"); len(all(doc, "tr", "")) != 0 {
		t.Error("rows without a search")
	}
}

func TestDashboardMessage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	c := login(t, f, readSecret)
	for _, path := range []string{"/messages/0", "/messages/abc", "/messages/99999999", "/messages/-3", "/messages/99999999999999999999"} {
		if resp, _ := c.send(http.MethodGet, path, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %s, want 404", path, resp.Status)
		}
	}
}

func TestDashboardRelease(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	const addr = "user2@beta.example"
	admin, reader := login(t, f, adminSecret), login(t, f, readSecret)
	release := func(c *pageClient, form url.Values) (*http.Response, string) {
		t.Helper()
		return c.send(http.MethodPost, "/address/release", form)
	}

	// A reader sees no release form and may not post one.
	for _, path := range []string{"/address?q=" + addr, "/suppressions"} {
		doc := reader.page(path)
		if n := len(releaseForms(doc)); n != 0 {
			t.Errorf("%s: a reader sees %d release forms", path, n)
		}
	}
	if resp, _ := release(reader, url.Values{"address": {addr}, "reason": {"please"}, "csrf": {reader.csrf()}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("reader: %s, want 403", resp.Status)
	}

	// An admin sees the forms, with the session's CSRF token.
	csrf := admin.csrf()
	var forms int
	for _, path := range []string{"/address?q=" + addr, "/suppressions?domain=beta.example"} {
		for _, form := range releaseForms(admin.page(path)) {
			forms++
			fields := map[string]string{}
			for _, in := range all(form, "input", "name") {
				fields[attr(in, "name")] = attr(in, "value")
			}
			if fields["csrf"] != csrf || !strings.HasSuffix(fields["address"], "@beta.example") {
				t.Errorf("%s: release form fields %v", path, fields)
			}
		}
	}
	if forms != 1+6 { // the address page's, and one per suppressed address of beta.example
		t.Errorf("%d release forms, want 7", forms)
	}

	for _, tc := range []struct {
		name string
		form url.Values
		want int
	}{
		{"no csrf", url.Values{"address": {addr}, "reason": {"asked"}}, http.StatusForbidden},
		{"wrong csrf", url.Values{"address": {addr}, "reason": {"asked"}, "csrf": {reader.csrf()}}, http.StatusForbidden},
		{"no reason", url.Values{"address": {addr}, "reason": {"  "}, "csrf": {csrf}}, http.StatusBadRequest},
		{"no address", url.Values{"reason": {"asked"}, "csrf": {csrf}}, http.StatusBadRequest},
		{"not suppressed", url.Values{"address": {"fine0@delta.example"}, "reason": {"asked"}, "csrf": {csrf}}, http.StatusConflict},
	} {
		resp, body := release(admin, tc.form)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %s, want %d", tc.name, resp.Status, tc.want)
		}
		if tc.name == "no reason" {
			doc := parseHTML(t, body)
			if !strings.Contains(text(byClass(doc, "p", "problem")[0]), "A reason is required") || len(releaseForms(doc)) != 1 {
				t.Errorf("no reason: the form is not shown again with the problem")
			}
		}
	}
	h, err := f.store.History(context.Background(), addr, 0)
	if err != nil || h.Suppression == nil || len(h.Releases) != 0 {
		t.Fatalf("after the refused releases: %+v, %v", h, err)
	}

	resp, _ := release(admin, url.Values{"address": {" user2@Beta.EXAMPLE "}, "reason": {"the owner wrote"}, "csrf": {csrf}})
	if want := "/address?q=" + url.QueryEscape(addr) + "&released=1"; resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
		t.Fatalf("release: %s to %q, want 303 to %s", resp.Status, resp.Header.Get("Location"), want)
	}
	h, err = f.store.History(context.Background(), addr, 0)
	if err != nil {
		t.Fatal(err)
	}
	if h.Suppression != nil || len(h.Releases) != 1 || h.Releases[0].By != "web:boss" || h.Releases[0].Reason != "the owner wrote" {
		t.Errorf("after the release: suppression %v, releases %+v", h.Suppression, h.Releases)
	}
	doc := admin.page(resp.Header.Get("Location"))
	if got := text(byClass(doc, "p", "flash")[0]); !strings.HasPrefix(got, "The address was released") {
		t.Errorf("flash %q", got)
	}
	if got := text(byID(t, doc, "releases")); !strings.Contains(got, "web:boss") || !strings.Contains(got, "the owner wrote") ||
		!strings.Contains(got, "bad_address · bounces counted: 1") {
		t.Errorf("releases: %q", got)
	}
}

func TestDashboardSuppressions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	c := login(t, f, readSecret)
	ctx := context.Background()
	var want []store.Suppression
	if err := f.store.Suppressions(ctx, store.SuppressionFilter{}, func(x store.Suppression) error {
		want = append(want, x)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	counts, err := f.store.SuppressionCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 20 || counts["mailbox_full"] != 1 || counts["complaint"] != 1 {
		t.Fatalf("the seed's suppressions: %d, %v", len(want), counts)
	}

	doc := c.page("/suppressions")
	for _, n := range all(doc, "span", "data-count") {
		k := attr(n, "data-count")
		w := counts[k]
		if k == "all" {
			w = int64(len(want))
		}
		if text(n) != fmt.Sprint(w) {
			t.Errorf("count %s: %s, want %d", k, text(n), w)
		}
	}

	// Paging by 6 goes through every address in order.
	var got []string
	next := "/suppressions?n=6"
	for pages := 0; next != ""; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		doc := c.page(next)
		for _, tr := range all(doc, "tr", "data-address") {
			got = append(got, attr(tr, "data-address"))
		}
		next = ""
		for _, a := range all(doc, "a", "rel") {
			next = attr(a, "href")
		}
	}
	var addrs []string
	for _, x := range want {
		addrs = append(addrs, x.Address)
	}
	if !slices.Equal(got, addrs) {
		t.Errorf("pages\n got %v\nwant %v", got, addrs)
	}

	for q, want := range map[string][]string{
		"reason=mailbox_full":                                      {"full@beta.example"},
		"reason=complaint":                                         {"angry@gamma.example"},
		"domain=GAMMA.example&reason=bad_domain":                   {"nodomain@gamma.example"},
		"since=" + testNow.AddDate(0, 0, -2).Format(time.DateOnly): {"full@beta.example", "gone0@alpha.example", "user0@beta.example"},
	} {
		var got []string
		for _, tr := range all(c.page("/suppressions?"+q), "tr", "data-address") {
			got = append(got, attr(tr, "data-address"))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", q, got, want)
		}
	}
	for _, q := range []string{"reason=bad_address&since=nope", "reason=blocklisted", "n=x"} {
		if resp, _ := c.send(http.MethodGet, "/suppressions?"+q, nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %s, want 400", q, resp.Status)
		}
	}
}

func TestDashboardMailboxes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	c := login(t, f, readSecret)
	if doc := c.page("/mailboxes"); !strings.Contains(text(doc), "No mailbox has reported yet") {
		t.Error("no mailboxes: not said")
	}
	err := f.store.SaveMailboxStatus(context.Background(), []store.MailboxStatus{
		{Account: "acct", Mailbox: "INBOX", Instance: "host-a:41", Active: true, LastPoll: testNow.Add(-3 * time.Minute),
			LastSuccess: testNow.Add(-3 * time.Minute), Lag: 1234, Processed: 99},
		{Account: "acct", Mailbox: "Junk", Instance: "host-b:7", Active: true, LastPoll: testNow.Add(-time.Hour),
			Error: "dial tcp 192.0.2.1:993: connection <refused>", ErrorAt: testNow.Add(-2 * time.Hour)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/mailboxes", "/"} {
		doc := c.page(path)
		got := map[string]string{}
		for _, tr := range all(doc, "tr", "data-mailbox") {
			got[attr(tr, "data-mailbox")] = attr(tr, "class") + " | " + text(tr)
		}
		inbox, junk := got["acct/INBOX"], got["acct/Junk"]
		if !strings.Contains(inbox, "3 min ago") || !strings.Contains(inbox, "1,234") || strings.Contains(inbox, "has-error") {
			t.Errorf("%s: INBOX %q", path, inbox)
		}
		if !strings.HasPrefix(junk, "has-error") || !strings.Contains(junk, "error") ||
			!strings.Contains(junk, "connection <refused>") || !strings.Contains(junk, "1 h ago") {
			t.Errorf("%s: Junk %q", path, junk)
		}
		if path == "/mailboxes" && !strings.Contains(junk, "2026-11-20 13:00 · 2 h ago") {
			t.Errorf("%s: the error's time in %q", path, junk)
		}
	}
}

func TestDashboardHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	c := login(t, f, readSecret)
	anon := &pageClient{t: t, f: f}
	check := func(name string, resp *http.Response) {
		t.Helper()
		for k, want := range map[string]string{
			"Content-Security-Policy": pageCSP,
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "same-origin",
			"X-Frame-Options":         "DENY",
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s: %s %q, want %q", name, k, got, want)
			}
		}
	}
	for _, path := range []string{"/", "/bounces", "/address?q=gone1@alpha.example", "/suppressions", "/mailboxes", "/messages/1", "/messages/7777"} {
		resp, _ := c.send(http.MethodGet, path, nil)
		check(path, resp)
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: Cache-Control %q", path, cc)
		}
	}
	resp, _ := anon.send(http.MethodGet, "/login", nil)
	check("/login", resp)
	resp, _ = anon.send(http.MethodGet, "/", nil)
	check("/ without a login", resp)
	if !strings.Contains(pageCSP, "default-src 'self'") || strings.Contains(pageCSP, "unsafe-inline") {
		t.Errorf("CSP %q", pageCSP)
	}

	// The stylesheet: linked by a hashed name, cached for good.
	var css string
	for _, l := range all(c.page("/"), "link", "href") {
		if attr(l, "rel") == "stylesheet" {
			css = attr(l, "href")
		}
	}
	if !regexp.MustCompile(`^/static/style\.[0-9a-f]{10}\.css$`).MatchString(css) {
		t.Fatalf("stylesheet %q", css)
	}
	resp, body := anon.send(http.MethodGet, css, nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") ||
		resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || !strings.Contains(body, "svg.chart") {
		t.Errorf("%s: %s %q %q", css, resp.Status, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
	}
	for _, path := range []string{"/static/style.css", "/static/style.0000000000.css", "/static/..%2fdashboard.go"} {
		if resp, _ := anon.send(http.MethodGet, path, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %s, want 404", path, resp.Status)
		}
	}

	// Compressed for a client that takes gzip, and the same page once
	// uncompressed.
	req, _ := http.NewRequest(http.MethodGet, f.http.URL+"/", nil)
	req.Header.Set("Authorization", "Bearer "+readSecret)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	zipped, _ := io.ReadAll(resp.Body)
	zr, err := gzip.NewReader(bytes.NewReader(zipped))
	if resp.Header.Get("Content-Encoding") != "gzip" || err != nil {
		t.Fatalf("GET / with Accept-Encoding gzip: Content-Encoding %q, %v", resp.Header.Get("Content-Encoding"), err)
	}
	page, err := io.ReadAll(zr)
	if err != nil || !strings.Contains(string(page), `id="daily"`) || len(zipped) >= len(page)/3 {
		t.Errorf("the compressed overview: %d bytes for %d, %v", len(zipped), len(page), err)
	}
}

// TestDashboardEscapes puts markup where the pages show stored text.
func TestDashboardEscapes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	evil := `<script>alert(1)</script>`
	err := f.store.SaveMailboxStatus(context.Background(), []store.MailboxStatus{
		{Account: `a"><img src=x>`, Mailbox: evil, Instance: evil, Error: evil, ErrorAt: testNow},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := login(t, f, readSecret)
	for _, path := range []string{"/mailboxes", "/", "/address?q=" + url.QueryEscape(evil+"@x.example"), "/bounces?domain=" + url.QueryEscape(evil)} {
		_, body := c.send(http.MethodGet, path, nil)
		if strings.Contains(body, "<script>") || strings.Contains(body, "<img src=x>") {
			t.Errorf("%s: unescaped markup", path)
		}
	}
}

func TestDashboardFormat(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 3, 14, 5, 30, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		0: "just now", 59 * time.Second: "just now", 3 * time.Minute: "3 min ago", 59 * time.Minute: "59 min ago",
		time.Hour: "1 h ago", 47 * time.Hour: "47 h ago", 48 * time.Hour: "2 days ago", 400 * 24 * time.Hour: "400 days ago",
		-5 * time.Minute: "in 5 min",
	} {
		if got := pageAgo(now, now.Add(-d)); got != want {
			t.Errorf("pageAgo(-%v) = %q, want %q", d, got, want)
		}
	}
	if got := pageAgo(now, time.Time{}); got != "" {
		t.Errorf("pageAgo(zero) = %q", got)
	}
	if got := pageWhen(now.In(time.FixedZone("X", 3600))); got != "2026-11-03 14:05" {
		t.Errorf("pageWhen = %q, want UTC 2026-11-03 14:05", got)
	}
	if got := pageWhen(time.Time{}); got != "never" {
		t.Errorf("pageWhen(zero) = %q", got)
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -45678: "-45,678"} {
		if got := pageCount(n); got != want {
			t.Errorf("pageCount(%d) = %q, want %q", n, got, want)
		}
	}

	// Every cause of the taxonomy has words, and a row's explanation says
	// whether it counts against the address exactly when its scope is
	// the recipient's.
	for _, c := range classify.Causes() {
		if causeWords[c] == "" {
			t.Errorf("no words for %s", c)
		}
		got := explain("bounce", string(c), "hard", string(c.Scope()), "")
		counts := strings.HasSuffix(got, ": counts against the address")
		if counts != (c.Scope() == classify.ScopeRecipient) || !strings.Contains(got, "("+string(c)+", hard, "+string(c.Scope())+" scope)") {
			t.Errorf("%s: %q", c, got)
		}
	}
	for _, tc := range []struct{ kind, cause, sev, scope, feedback, want string }{
		{"bounce", "bad_address", "hard", "recipient", "", "The mailbox does not exist (bad_address, hard, recipient scope): counts against the address"},
		{"delay", "mailbox_full", "soft", "recipient", "", "Delivery is delayed, the server keeps trying: the mailbox is full (mailbox_full, soft, recipient scope): a warning, does not count against the address"},
		{"complaint", "", "", "recipient", "abuse", "The recipient reported the message as abuse (complaint): counts against the address"},
		{"complaint", "", "", "recipient", "fraud", "The recipient's provider reported the message (fraud) (complaint): counts against the address"},
		{"bounce", "made_up", "", "", "", "The cause cannot be told from the notice (made_up): says nothing sure of the address: does not count against it"},
	} {
		if got := explain(tc.kind, tc.cause, tc.sev, tc.scope, tc.feedback); got != tc.want {
			t.Errorf("explain(%s, %s):\n got %q\nwant %q", tc.kind, tc.cause, got, tc.want)
		}
	}
}
