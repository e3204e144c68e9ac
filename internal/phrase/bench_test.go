package phrase

import (
	"strings"
	"testing"
)

// BenchmarkScan measures the cost a byte of text of a small and a large
// phrase table.
func BenchmarkScan(b *testing.B) {
	text := strings.Repeat("550 5.1.1 <someone@example.com>: Recipient address rejected: User unknown in virtual mailbox table ", 10)
	small := New([]string{"in reply to rcpt to command", "after end of data", "after rcpt to", "user unknown"})
	var large []string
	for i := 0; i < 1500; i++ {
		large = append(large, strings.Repeat(string(rune('a'+i%26)), 3)+" phrase "+strings.Repeat(string(rune('a'+i/26%26)), 4))
	}
	big := New(large)
	for _, tc := range []struct {
		name string
		m    *Matcher
	}{{"small", small}, {"large", big}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				var found Set
				tc.m.Scan(text, &found)
			}
		})
	}
}
