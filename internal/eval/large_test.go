package eval

import (
	"io"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
)

// largeSize is the size of the large message: a bounce returning a message
// with a big base64 attachment.
const largeSize = 50 << 20

// heapBound is what parsing the large message may use (issue 2).
const heapBound = 64 << 20

const largeHead = "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n" +
	"To: bounces@lists.example.org\r\n" +
	"Subject: Undelivered Mail Returned to Sender\r\n" +
	"Date: Mon, 2 Feb 2026 10:00:04 +0100\r\n" +
	"Message-ID: <large@mx.example.net>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/report; report-type=delivery-status; boundary=\"outer\"\r\n" +
	"\r\n" +
	"--outer\r\n" +
	"Content-Type: text/plain\r\n" +
	"\r\n" +
	"<alice@example.org>: host mx.example.org said: 552 5.3.4 Message size exceeds fixed limit\r\n" +
	"\r\n" +
	"--outer\r\n" +
	"Content-Type: message/delivery-status\r\n" +
	"\r\n" +
	"Reporting-MTA: dns; mx.example.net\r\n" +
	"\r\n" +
	"Final-Recipient: rfc822; alice@example.org\r\n" +
	"Action: failed\r\n" +
	"Status: 5.3.4\r\n" +
	"Diagnostic-Code: smtp; 552 5.3.4 Message size exceeds fixed limit\r\n" +
	"\r\n" +
	"--outer\r\n" +
	"Content-Type: message/rfc822\r\n" +
	"\r\n" +
	"From: News <news@lists.example.org>\r\n" +
	"To: alice@example.org\r\n" +
	"Subject: The big file\r\n" +
	"Message-ID: <big-file@lists.example.org>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"inner\"\r\n" +
	"\r\n" +
	"--inner\r\n" +
	"Content-Type: text/plain\r\n" +
	"\r\n" +
	"Here it is.\r\n" +
	"\r\n" +
	"--inner\r\n" +
	"Content-Type: application/octet-stream; name=\"big.bin\"\r\n" +
	"Content-Disposition: attachment; filename=\"big.bin\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n"

const largeTail = "\r\n--inner--\r\n\r\n--outer--\r\n"

// base64Line is one 76-character line of base64 and its CRLF.
const base64Line = "QmlnIGZpbGUgY29udGVudHMgdGhhdCBub2JvZHkgd2lsbCBldmVyIHJlYWQsIHJlcGVhdGVkIGFu\r\n"

// largeBounce streams a bounce of about size bytes without holding it:
// the attachment's lines are made as they are read.
func largeBounce(size int) io.Reader {
	n := (size - len(largeHead) - len(largeTail)) / len(base64Line)
	return io.MultiReader(strings.NewReader(largeHead), &repeatReader{line: base64Line, left: n * len(base64Line)}, strings.NewReader(largeTail))
}

// repeatReader gives line over and over, left bytes in all.
type repeatReader struct {
	line string
	off  int
	left int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && r.left > 0 {
		c := copy(p[n:min(len(p), n+r.left)], r.line[r.off:])
		n += c
		r.left -= c
		r.off = (r.off + c) % len(r.line)
	}
	return n, nil
}

// heapSampler samples the bytes of heap in use (live objects, garbage not
// yet swept, and free space in spans in use: MemStats.HeapInuse) until
// stopped, and keeps the peak.
type heapSampler struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

var heapMetrics = []string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes"}

func heapInuse(s []metrics.Sample) uint64 {
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	samples := make([]metrics.Sample, len(heapMetrics))
	for i, m := range heapMetrics {
		samples[i].Name = m
	}
	h.peak = heapInuse(samples)
	h.wg.Go(func() {
		t := time.NewTicker(100 * time.Microsecond)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				h.peak = max(h.peak, heapInuse(samples))
				return
			case <-t.C:
				h.peak = max(h.peak, heapInuse(samples))
			}
		}
	})
	return h
}

// Stop ends the sampling and gives the peak.
func (h *heapSampler) Stop() uint64 {
	close(h.stop)
	h.wg.Wait()
	return h.peak
}

// parseLarge parses and classifies the large message and gives the peak
// heap in use meanwhile, and the bytes the parser read of the message.
func parseLarge(p *dsn.Parser, cl *classify.Classifier) (o Outcome, peak uint64, read int64) {
	cr := &countReader{r: largeBounce(largeSize)}
	h := startHeapSampler()
	o = Judge(p, cl, cr)
	return o, h.Stop(), cr.n
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestLargeMessageHeap parses a 50 MB bounce from a stream and checks the
// heap stays within 64 MB. The peak is sampled, so it may be missed but
// not overstated.
func TestLargeMessageHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	cl, err := classify.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	o, peak, read := parseLarge(&dsn.Parser{}, cl)
	t.Logf("peak heap in use parsing a %d MB message: %.1f MB (the parser read %d of its bytes)", largeSize>>20, float64(peak)/(1<<20), read)
	if o.Err != nil {
		t.Errorf("parse error: %v", o.Err)
	}
	rep := o.Report
	if rep.Kind != dsn.Bounce || len(rep.Recipients) != 1 || rep.Recipients[0].Recipient != "alice@example.org" {
		t.Errorf("report: kind %s, recipients %+v; want one bounce for alice@example.org", rep.Kind, rep.Recipients)
	}
	if rep.Original.MessageID != "<big-file@lists.example.org>" && rep.Original.MessageID != "big-file@lists.example.org" {
		t.Errorf("original message id %q, want big-file@lists.example.org", rep.Original.MessageID)
	}
	if peak > heapBound {
		t.Errorf("peak heap %d bytes, over %d", peak, heapBound)
	}
}

// BenchmarkLargeMessage parses the 50 MB bounce from a stream and reports
// the throughput and the peak heap in use (MB) during a parse:
//
//	go test -run '^$' -bench LargeMessage -benchmem ./internal/eval
func BenchmarkLargeMessage(b *testing.B) {
	cl, err := classify.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	p := &dsn.Parser{}
	b.SetBytes(largeSize)
	b.ReportAllocs()
	var peak uint64
	for range b.N {
		b.StopTimer()
		runtime.GC()
		b.StartTimer()
		_, pk, _ := parseLarge(p, cl)
		peak = max(peak, pk)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}

// The generator must give the size asked for and well-formed lines.
func TestLargeBounceSize(t *testing.T) {
	n, err := io.Copy(io.Discard, largeBounce(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if n > 1<<20 || n < 1<<20-int64(len(base64Line)) {
		t.Errorf("generated %d bytes, want about %d", n, 1<<20)
	}
	b, _ := io.ReadAll(largeBounce(len(largeHead) + len(largeTail) + 3*len(base64Line)))
	want := largeHead + strings.Repeat(base64Line, 3) + largeTail
	if string(b) != want {
		t.Errorf("generated:\n%s\nwant:\n%s", b, want)
	}
}
