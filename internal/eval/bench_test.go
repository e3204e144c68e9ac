package eval

import (
	"bytes"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
)

// loadCorpus reads every labelled corpus message into memory.
func loadCorpus(b *testing.B) [][]byte {
	dir := corpusDir(b)
	labels, err := LoadLabels(filepath.Join(dir, "labels.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([][]byte, len(labels))
	for i, l := range labels {
		if msgs[i], err = os.ReadFile(filepath.Join(dir, filepath.FromSlash(l.File))); err != nil {
			b.Fatal(err)
		}
	}
	return msgs
}

// BenchmarkCorpus parses and classifies the corpus messages, held in
// memory, one message per op: ns/op and allocs/op are per message, and
// msgs/s is reported. "serial" measures one core (run with -cpu 1);
// "parallel" spreads the messages over GOMAXPROCS goroutines to show the
// scaling (-cpu 1,2,4):
//
//	go test -run '^$' -bench Corpus -benchmem -cpu 1,2 ./internal/eval
func BenchmarkCorpus(b *testing.B) {
	msgs := loadCorpus(b)
	var size int64
	for _, m := range msgs {
		size += int64(len(m))
	}
	p := &dsn.Parser{}
	cl, err := classify.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(size / int64(len(msgs)))
		for i := range b.N {
			JudgeBytes(p, cl, msgs[i%len(msgs)])
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(size / int64(len(msgs)))
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				JudgeBytes(p, cl, msgs[int(next.Add(1)-1)%len(msgs)])
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}

// TestJudgeCorpusConcurrent runs the corpus through one parser and one
// classifier from several goroutines at once, for the race detector, and
// checks every run gives the same answers.
func TestJudgeCorpusConcurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	dir := corpusDir(t)
	labels, err := LoadLabels(filepath.Join(dir, "labels.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(labels) > 120 {
		labels = labels[:120]
	}
	p := &dsn.Parser{}
	cl, err := classify.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	kinds := func() []string {
		var out []string
		for _, l := range labels {
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(l.File)))
			if err != nil {
				t.Error(err)
				return nil
			}
			o := Judge(p, cl, bytes.NewReader(b))
			s := string(o.Report.Kind)
			for _, r := range o.Results {
				s += "," + string(r.Cause)
			}
			out = append(out, s)
		}
		return out
	}
	want := kinds()
	const n = 4
	got := make([][]string, n)
	done := make(chan int)
	for i := range n {
		go func() { got[i] = kinds(); done <- i }()
	}
	for range n {
		<-done
	}
	for i := range n {
		for j := range want {
			if j < len(got[i]) && got[i][j] != want[j] {
				t.Errorf("run %d, %s: %s, want %s", i, labels[j].File, got[i][j], want[j])
			}
		}
	}
}
