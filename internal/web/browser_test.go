package web

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image/png"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bounced/bounced/internal/store"
)

// update makes the browser test write the dashboard's screenshot to
// docs/dashboard.png, as BOUNCED_SCREENSHOT=docs/dashboard.png does.
var update = flag.Bool("update", false, "write docs/dashboard.png (and any golden file) from this run")

// browserWidth is the width of the browser's window, and of the
// screenshot.
const browserWidth = 1280

// chromium finds Debian's Chromium: the test is skipped without it, unless
// BOUNCED_REQUIRE_CHROMIUM=1 (as in CI) makes that a failure.
func chromium(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("BOUNCED_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("chromium is not installed (/usr/bin/chromium, or chromium on PATH) and BOUNCED_REQUIRE_CHROMIUM=1: install the Debian package chromium")
	}
	t.Skip("chromium is not installed (/usr/bin/chromium, or chromium on PATH): install the Debian package chromium to run the browser test")
	return ""
}

// browser starts a headless Chromium of its own, with a fresh profile and
// nothing that calls out to the network; it ends with ctx or the test.
func browser(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(browserWidth, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	return bctx
}

// overviewDOM is what the test reads of the overview in the browser.
type overviewDOM struct {
	Rects   int              `json:"rects"`
	Flat    []string         `json:"flat"` // bars drawn without area
	ByCause map[string]int64 `json:"byCause"`
	Domains []string         `json:"domains"`
	Nav     []string         `json:"nav"`
	// The background of the top bar and of a mailbox in error, as the
	// stylesheet (allowed by the CSP) makes them.
	TopBar   string `json:"topBar"`
	ErrorRow string `json:"errorRow"`
}

// overviewJS reads the daily chart's bars as the browser laid them out,
// and the ranking of the domains.
const overviewJS = `(() => {
	const out = {rects: 0, flat: [], byCause: {}, domains: [], nav: [], topBar: '', errorRow: ''};
	for (const r of document.querySelectorAll('#daily rect[data-n]')) {
		out.rects++;
		const b = r.getBoundingClientRect();
		if (!(b.width > 0 && b.height > 0)) out.flat.push(r.dataset.day + ' ' + r.dataset.cause);
		const k = r.dataset.cause + ' ' + r.dataset.severity;
		out.byCause[k] = (out.byCause[k] || 0) + Number(r.dataset.n);
	}
	out.domains = Array.from(document.querySelectorAll('#domains rect[data-label]'), r => r.dataset.label);
	out.nav = Array.from(document.querySelectorAll('header nav a'), a => a.textContent);
	out.topBar = getComputedStyle(document.querySelector('header.top')).backgroundColor;
	const err = document.querySelector('tr.has-error td');
	out.errorRow = err ? getComputedStyle(err).backgroundColor : '';
	return out;
})()`

func TestBrowser(t *testing.T) {
	t.Parallel()
	chromium(t) // skip before making the fixture when there is no browser
	f := newFixture(t, true)
	// The browser's own server over the fixture's store, logging nothing.
	srv, err := New(f.store, Config{Tokens: fixtureTokens(), Now: func() time.Time { return testNow }}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	site := httptest.NewServer(srv.Handler())
	defer site.Close()
	// Two mailboxes, one failing, so that the overview shows both states.
	err = f.store.SaveMailboxStatus(context.Background(), []store.MailboxStatus{
		{Account: "bounces", Mailbox: "INBOX", Instance: "mx1:2291", Active: true, LastPoll: testNow.Add(-40 * time.Second),
			LastSuccess: testNow.Add(-40 * time.Second), Lag: 12, Processed: 41},
		{Account: "lists", Mailbox: "INBOX", Instance: "mx1:2291", Active: true, LastPoll: testNow.Add(-17 * time.Minute),
			Error:   "imap.example.org:993: authentication failed: [AUTHENTICATIONFAILED] Invalid credentials",
			ErrorAt: testNow.Add(-17 * time.Minute)},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := browser(t, ctx)

	// Not logged in, / leads to the login page, which comes back to /.
	err = chromedp.Do(b,
		chromedp.EmulateViewport(browserWidth, 900),
		chromedp.Navigate(site.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), adminSecret),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.ID("daily")),
	)
	if err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(b, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	dom, err := chromedp.Run(b, chromedp.Evaluate[overviewDOM](overviewJS))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(b, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if title != "Overview · bounced" {
		t.Errorf("title %q", title)
	}
	want := seedDaily(f.seed)
	if dom.Rects == 0 || len(dom.Flat) > 0 {
		t.Errorf("%d bars, drawn flat: %v", dom.Rects, dom.Flat)
	}
	if fmt.Sprint(dom.ByCause) != fmt.Sprint(want) {
		t.Errorf("the daily chart in the browser:\n got %v\nwant %v", dom.ByCause, want)
	}
	if top := seedTopDomains(f.seed); len(dom.Domains) == 0 || dom.Domains[0] != top[0] {
		t.Errorf("top domains %v, want %s first", dom.Domains, top[0])
	}
	if fmt.Sprint(dom.Nav) != "[Overview Bounces Suppressions Mailboxes]" {
		t.Errorf("nav %v", dom.Nav)
	}
	if dom.TopBar != "rgb(29, 36, 48)" || dom.ErrorRow != "rgb(255, 246, 246)" {
		t.Errorf("the stylesheet is not applied: top bar %q, mailbox in error %q", dom.TopBar, dom.ErrorRow)
	}

	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w != browserWidth || h < 900 || len(shot) < 20_000 {
		t.Errorf("screenshot %dx%d, %d bytes: want %d wide, the whole page", w, h, len(shot), browserWidth)
	}
	out := filepath.Join(t.TempDir(), "dashboard.png")
	if p := os.Getenv("BOUNCED_SCREENSHOT"); p != "" || *update {
		if p == "" {
			p = "docs/dashboard.png"
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join("..", "..", p) // the test runs in internal/web
		}
		out = p
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", out)

	// Through the nav to the suppressions and back.
	err = chromedp.Do(b,
		chromedp.Click(chromedp.CSS(`header nav a[href="/suppressions"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.suppressions`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	suppressions, err := chromedp.Run(b, chromedp.Text(chromedp.CSS("h1")))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := chromedp.Run(b, chromedp.Evaluate[int](`document.querySelectorAll('tr[data-address]').length`))
	if err != nil {
		t.Fatal(err)
	}
	back := chromedp.Do(b,
		chromedp.Click(chromedp.CSS(`header nav a[href="/"]`)),
		chromedp.WaitVisible(chromedp.ID("daily")),
	)
	if back != nil {
		t.Fatal(back)
	}
	if loc, err := chromedp.Run(b, chromedp.Location()); err != nil || loc != site.URL+"/" {
		t.Errorf("back at %q (%v), want the overview", loc, err)
	}
	if suppressions != "Suppressions" || rows < 20 {
		t.Errorf("suppressions page: h1 %q, %d rows", suppressions, rows)
	}
}
