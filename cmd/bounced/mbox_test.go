package main

import (
	"bufio"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func splitAll(t *testing.T, r io.Reader, max int64) ([]string, error) {
	t.Helper()
	sp := newMboxSplitter(bufio.NewReaderSize(r, 16), max)
	var msgs []string
	for {
		m, err := sp.Next()
		if err == io.EOF {
			return msgs, nil
		}
		if err != nil {
			return msgs, err
		}
		msgs = append(msgs, string(m))
	}
}

func TestMboxSplit(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"one", "From a@b Mon Jan 1\nSubject: x\n\nbody\n", []string{"From a@b Mon Jan 1\nSubject: x\n\nbody\n"}},
		{"two", "From a Mon\nS: 1\n\nb1\n\nFrom b Tue\nS: 2\n\nb2\n",
			[]string{"From a Mon\nS: 1\n\nb1\n\n", "From b Tue\nS: 2\n\nb2\n"}},
		{"crlf", "From a\r\nS: 1\r\n\r\nb1\r\n\r\nFrom b\r\nS: 2\r\n",
			[]string{"From a\r\nS: 1\r\n\r\nb1\r\n\r\n", "From b\r\nS: 2\r\n"}},
		{"from in body without a blank line before", "From a\nS: 1\n\nline\nFrom here on, text\n",
			[]string{"From a\nS: 1\n\nline\nFrom here on, text\n"}},
		{"escaped from", "From a\nS: 1\n\n>From b\n\nFrom c\n",
			[]string{"From a\nS: 1\n\n>From b\n\n", "From c\n"}},
		{"long lines", "From " + strings.Repeat("x", 40) + "\nS: " + strings.Repeat("y", 50) + "\n\nFrom " + strings.Repeat("z", 40),
			[]string{"From " + strings.Repeat("x", 40) + "\nS: " + strings.Repeat("y", 50) + "\n\n", "From " + strings.Repeat("z", 40)}},
		{"long line starting with From mid-line", "From a\n\n" + strings.Repeat("w", 20) + "From x\n",
			[]string{"From a\n\n" + strings.Repeat("w", 20) + "From x\n"}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splitAll(t, strings.NewReader(tt.in), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestMboxSplitBound(t *testing.T) {
	big := "From a\nS: 1\n\n" + strings.Repeat("0123456789\n", 100) + "\nFrom b\nS: 2\n"
	got, err := splitAll(t, strings.NewReader(big), 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d messages, want 2", len(got))
	}
	// Kept up to the bound plus at most one buffered chunk, so the parser
	// sees the message is too large.
	if n := len(got[0]); n <= 50 || n > 50+16 {
		t.Errorf("first message kept %d bytes, want just over 50", n)
	}
	if got[1] != "From b\nS: 2\n" {
		t.Errorf("second message %q", got[1])
	}
}

func TestMboxSplitReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("From a\nS: 1\n\nFrom b\nS: 2\n"), iotest.ErrReader(boom))
	got, err := splitAll(t, r, 1<<20)
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want boom", err)
	}
	if len(got) != 2 || got[0] != "From a\nS: 1\n\n" || got[1] != "From b\nS: 2\n" {
		t.Errorf("messages before the error: %q", got)
	}
}

// FuzzMboxSplit checks that splitting loses and adds nothing, and that
// every message but the first opens with a "From " line.
func FuzzMboxSplit(f *testing.F) {
	f.Add("From a\nS: 1\n\nb1\n\nFrom b\nS: 2\n")
	f.Add("From a\r\n\r\nFrom b\r\n\r\n\r\nFrom c")
	f.Add("no mbox at all\n\nFrom x\n")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := splitAll(t, strings.NewReader(in), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if joined := strings.Join(got, ""); joined != in {
			t.Fatalf("split %q into %q", in, got)
		}
		for i, m := range got {
			if m == "" {
				t.Errorf("message %d is empty", i)
			}
			if i > 0 && !strings.HasPrefix(m, "From ") {
				t.Errorf("message %d does not open with From: %q", i, m)
			}
		}
	})
}
