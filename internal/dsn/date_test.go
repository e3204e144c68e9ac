package dsn

import (
	"testing"
	"time"
)

func TestParseDate(t *testing.T) {
	jst := time.FixedZone("", 9*3600)
	for in, want := range map[string]time.Time{
		"Thu, 29 Apr 2013 23:45:22 +0900 (JST)": time.Date(2013, 4, 29, 23, 45, 22, 0, jst),
		"29 Apr 2013 23:45 +0900":               time.Date(2013, 4, 29, 23, 45, 0, 0, jst),
		"Mon,  6 Nov 2018 01:02:03 -0000":       time.Date(2018, 11, 6, 1, 2, 3, 0, time.UTC),
		"Fri, 01 Oct 2010 19:15:19 GMT":         time.Date(2010, 10, 1, 19, 15, 19, 0, time.UTC),
		"Thu, 01 Oct 15 13:48:54 UTC":           time.Date(2015, 10, 1, 13, 48, 54, 0, time.UTC),
		"Mon, 2 Jan 2006 15:04:05 +9959":        {}, // found by FuzzParse: no zone 99 hours east
		"Mon, 2 Jan 2006 15:04:05 -2400":        {},
		"not a date":                            {},
		"":                                      {},
	} {
		if got := parseDate(in); !got.Equal(want) {
			t.Errorf("parseDate(%q) = %v, want %v", in, got, want)
		}
	}
}
