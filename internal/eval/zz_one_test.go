package eval

import (
	"bytes"
	"os"
	"testing"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
)

func BenchmarkOne(b *testing.B) {
	data, _ := os.ReadFile(os.Getenv("F"))
	cl, _ := classify.New(nil)
	p := &dsn.Parser{}
	for b.Loop() {
		Judge(p, cl, bytes.NewReader(data))
	}
}
