// Command apibench prints the HTTP side's figures: the latency of the API
// under a steady load, the request rate at saturation, and the time of the
// dashboard's first page, against `bounced serve` run as a process over
// the 10-million-row data set of scripts/store-figures (database
// bounced_bench). Nothing asserts on time; it prints.
//
//	go run ./scripts/apibench [--db URL] [--rate 200] [--warmup 5s] [--duration 30s] [--saturate 10s]
//
// The steady load first runs for --warmup, reported apart: the server's
// first requests open its connections to PostgreSQL (a process each, tens
// of milliseconds here) and the client's to the server.
//
// The load generator is open-loop: requests leave at a fixed rate whatever
// the answers do, and each latency counts from the time its request was
// due, so a stall shows in the figures instead of slowing the load down.
// Every address is on loopback.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

const secret = "apibench-token-0123456789"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "apibench:", err)
		os.Exit(1)
	}
}

func run() error {
	db := flag.String("db", envOr("BOUNCED_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bounced_bench?sslmode=disable"), "the data set's database `URL`")
	rate := flag.Int("rate", 200, "requests per second of the steady load")
	dur := flag.Duration("duration", 30*time.Second, "how long the steady load lasts")
	warm := flag.Duration("warmup", 5*time.Second, "how long the load runs before it is measured")
	sat := flag.Duration("saturate", 10*time.Second, "how long each saturation step lasts")
	conc := flag.String("concurrency", "4,16,64", "the clients of the saturation steps")
	pages := flag.Int("pages", 50, "dashboard first pages to time")
	flag.Parse()
	ctx := context.Background()

	dir, err := os.MkdirTemp("", "apibench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "bounced")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/bounced").CombinedOutput(); err != nil {
		return fmt.Errorf("building bounced: %v\n%s", err, out)
	}
	fmt.Println("== migrating the data set (0004 fills bounce_domain_day from the rows once)")
	t0 := time.Now()
	if out, err := exec.Command(bin, "migrate", "--db", *db).CombinedOutput(); err != nil {
		return fmt.Errorf("bounced migrate: %v\n%s", err, out)
	} else {
		fmt.Printf("%s(%.1f s)\n", out, time.Since(t0).Seconds())
	}

	conn, err := pgx.Connect(ctx, *db)
	if err != nil {
		return err
	}
	var rows, supp int64
	conn.QueryRow(ctx, `SELECT (SELECT reltuples::bigint FROM pg_class WHERE oid = 'bounce'::regclass), (SELECT count(*) FROM suppression)`).Scan(&rows, &supp)
	fmt.Printf("data set: about %d recipient rows, %d suppressions\n", rows, supp)
	// Enough addresses that a lookup seldom meets one asked before (the
	// steady load asks 3,000).
	addrs, err := column(ctx, conn, `(SELECT address FROM suppression ORDER BY random() LIMIT 10000)
		UNION ALL (SELECT recipient FROM bounce TABLESAMPLE SYSTEM (0.2) LIMIT 10000)`)
	if err != nil {
		return err
	}
	var rareDomain string
	conn.QueryRow(ctx, `SELECT domain FROM bounce_domain_day GROUP BY domain ORDER BY sum(bounces), domain LIMIT 1`).Scan(&rareDomain)
	conn.Close(ctx)

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	cfg := filepath.Join(dir, "bounced.toml")
	os.WriteFile(cfg, []byte("[log]\nlevel = \"warn\"\n"), 0o600)
	cmd := exec.Command(bin, "serve", "--config", cfg, "--db", *db, "--listen", addr)
	cmd.Env = append(os.Environ(), "BOUNCED_HTTP_TOKENS=bench:admin:"+secret)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	base := "http://" + addr
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 0}, Timeout: 30 * time.Second}
	if err := waitReady(c, base); err != nil {
		return err
	}

	// The cursors of suppression pages, gathered by walking the list.
	fmt.Println("\n== gathering suppression pages")
	cursors := []string{""}
	for len(cursors) < 300 {
		var page struct {
			Next string `json:"next_cursor"`
		}
		code, body, err := get(c, base+"/api/v1/suppressions?limit=100&cursor="+url.QueryEscape(cursors[len(cursors)-1]))
		if err != nil || code != 200 {
			return fmt.Errorf("suppression page: %d %v %s", code, err, body)
		}
		json.Unmarshal(body, &page)
		if page.Next == "" {
			break
		}
		cursors = append(cursors, page.Next)
	}
	fmt.Printf("%d pages of 100\n", len(cursors))
	reqs := []request{
		{"address lookup", func(r *rand.Rand) string {
			return "/api/v1/suppressions/" + url.PathEscape(addrs[r.IntN(len(addrs))])
		}},
		{"suppression page (100)", func(r *rand.Rand) string {
			return "/api/v1/suppressions?limit=100&cursor=" + url.QueryEscape(cursors[r.IntN(len(cursors))])
		}},
	}

	fmt.Printf("\n== warm-up: %d requests/s for %s, as below (the server's first connections to PostgreSQL, the client's to the server)\n", *rate, *warm)
	steady(c, base, reqs, *rate, *warm)
	fmt.Printf("\n== steady load: %d requests/s for %s, half address lookups, half suppression pages (open loop)\n", *rate, *dur)
	steady(c, base, reqs, *rate, *dur)

	fmt.Println("\n== saturation: closed loop, each client sends its next request when the last is answered")
	for _, s := range strings.Split(*conc, ",") {
		var n int
		fmt.Sscan(s, &n)
		saturate(c, base, reqs, n, *sat)
	}

	fmt.Println("\n== other endpoints, 20 times each, one after the other")
	for _, path := range []string{
		"/api/v1/bounces?limit=100",
		"/api/v1/bounces?limit=100&domain=" + url.QueryEscape(rareDomain),
		"/api/v1/bounces?limit=100&cause=virus",
		"/api/v1/bounces?limit=100&scope=sender&since=30d",
		"/api/v1/stats?by=cause&since=365d",
		"/api/v1/stats?by=domain&since=30d",
		"/api/v1/stats?by=day&since=90d",
		"/api/v1/mailboxes",
	} {
		var lat []time.Duration
		for range 20 {
			t := time.Now()
			code, body, err := get(c, base+path)
			if err != nil || code != 200 {
				return fmt.Errorf("GET %s: %d %v %.200s", path, code, err, body)
			}
			lat = append(lat, time.Since(t))
		}
		printLat(path, lat, 0)
	}

	fmt.Printf("\n== dashboard: the first page (GET /), %d times one after the other\n", *pages)
	var lat []time.Duration
	for i := range *pages {
		t := time.Now()
		code, body, err := get(c, base+"/")
		d := time.Since(t)
		if err != nil || code != 200 {
			return fmt.Errorf("GET /: %d %v %.200s", code, err, body)
		}
		if i == 0 {
			fmt.Printf("first request: %.1f ms (%d bytes, %d compressed)\n", ms(d), len(body), compressedSize(c, base+"/"))
		}
		lat = append(lat, d)
	}
	printLat("GET /", lat, 0)
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "VmHWM") {
				fmt.Println("\nbounced serve peak RSS:", strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:")))
			}
		}
	}
	return nil
}

type request struct {
	name string
	path func(*rand.Rand) string
}

// steady sends rate requests a second for d, alternating between reqs,
// and prints the latencies of each.
func steady(c *http.Client, base string, reqs []request, rate int, d time.Duration) {
	n := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	lat := make([][]time.Duration, len(reqs))
	worst := make([]time.Duration, int(d.Seconds())+1) // the slowest answer of each second
	var mu sync.Mutex
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		k := i % len(reqs)
		path := reqs[k].path(r)
		wg.Go(func() {
			code, _, err := get(c, base+path)
			took := time.Since(due)
			if err != nil || code != 200 {
				failed.Add(1)
				return
			}
			mu.Lock()
			lat[k] = append(lat[k], took)
			sec := int(due.Sub(start).Seconds())
			worst[sec] = max(worst[sec], took)
			mu.Unlock()
		})
	}
	wg.Wait()
	var w []string
	for _, x := range worst {
		w = append(w, fmt.Sprintf("%.0f", ms(x)))
	}
	fmt.Printf("slowest answer of each second (ms): %s\n", strings.Join(w, " "))
	elapsed := time.Since(start)
	fmt.Printf("sent %d in %.1f s (%.0f/s), %d failed\n", n, elapsed.Seconds(), float64(n)/elapsed.Seconds(), failed.Load())
	for k, q := range reqs {
		printLat(q.name, lat[k], 0)
	}
}

// saturate runs n clients for d and prints the rate and latencies.
func saturate(c *http.Client, base string, reqs []request, n int, d time.Duration) {
	var mu sync.Mutex
	var all []time.Duration
	var failed atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for w := range n {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			var mine []time.Duration
			for i := 0; time.Now().Before(stop); i++ {
				q := reqs[(w+i)%len(reqs)]
				t := time.Now()
				code, _, err := get(c, base+q.path(r))
				if err != nil || code != 200 {
					failed.Add(1)
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	printLat(fmt.Sprintf("%d clients", n), all, d)
	if f := failed.Load(); f > 0 {
		fmt.Printf("  %d failed\n", f)
	}
}

func printLat(name string, lat []time.Duration, over time.Duration) {
	if len(lat) == 0 {
		fmt.Printf("%-30s no answers\n", name)
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return ms(lat[min(len(lat)-1, int(p*float64(len(lat))))]) }
	rate := ""
	if over > 0 {
		rate = fmt.Sprintf("%7.0f req/s  ", float64(len(lat))/over.Seconds())
	}
	fmt.Printf("%-30s %s%6d answers  p50 %6.1f ms  p90 %6.1f ms  p99 %6.1f ms  max %6.1f ms\n",
		name, rate, len(lat), q(0.5), q(0.9), q(0.99), ms(lat[len(lat)-1]))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func get(c *http.Client, u string) (int, []byte, error) {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// compressedSize is the size of the gzip-compressed answer to u.
func compressedSize(c *http.Client, u string) int {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Accept-Encoding", "gzip") // set by hand: the transport leaves the body compressed
	resp, err := c.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return len(b)
}

func waitReady(c *http.Client, base string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if code, _, err := get(c, base+"/readyz"); err == nil && code == 200 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("bounced serve did not get ready in 30 s")
}

func column(ctx context.Context, conn *pgx.Conn, sql string) ([]string, error) {
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err == nil && len(out) == 0 {
		err = errors.New("the data set is empty: run scripts/store-figures first")
	}
	return out, err
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
