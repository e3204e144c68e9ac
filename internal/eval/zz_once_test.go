package eval

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
)

func TestOnce(t *testing.T) {
	if os.Getenv("ONCE") == "" {
		t.Skip()
	}
	dir := corpusDir(t)
	labels, _ := LoadLabels(filepath.Join(dir, "labels.jsonl"))
	cl, _ := classify.New(nil)
	p := &dsn.Parser{}
	var msgs [][]byte
	for _, l := range labels {
		b, _ := os.ReadFile(filepath.Join(dir, l.File))
		msgs = append(msgs, b)
	}
	n := 0
	fmt.Sscan(os.Getenv("ONCE"), &n)
	for i := 0; i < n; i++ {
		for _, b := range msgs {
			Judge(p, cl, bytes.NewReader(b))
		}
	}
}
