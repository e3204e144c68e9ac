package phrase

import "testing"

func TestScan(t *testing.T) {
	m := New([]string{"user unknown", "unknown", `\bspf\b`, "he", "she", "hers", "容量超過", `\brelay`})
	tests := []struct {
		text string
		want []int32
	}{
		{"550 User Unknown", []int32{0, 1}},
		{"USER UNKNOWN", []int32{0, 1}},
		{"spf fail", []int32{2}},
		{"bad SPF.", []int32{2}},
		{"xspf fail", nil},
		{"spfx", nil},
		{"ushers", []int32{3, 4, 5}},
		{"メール容量超過です", []int32{6}},
		{"relaying denied", []int32{7}},
		{"norelay", nil},
		{"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			var found Set
			m.Scan(tt.text, &found)
			var got []int32
			for p := found.NextBelow(0, MaxPhrases); p >= 0; p = found.NextBelow(p+1, MaxPhrases) {
				got = append(got, p)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("found %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("found %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestMask(t *testing.T) {
	m := New([]string{"original message", "returned message", `\bcopy\b`})
	for text, want := range map[string]uint64{
		"----- Original Message -----": 1, "Returned message follows; copy below": 2 | 4, "photocopy": 0, "": 0,
	} {
		if got := m.Mask(text); got != want {
			t.Errorf("Mask(%q) = %b, want %b", text, got, want)
		}
	}
}
