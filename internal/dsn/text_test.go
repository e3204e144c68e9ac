package dsn

import "testing"

// The marker phrases are scanned into one 64-bit mask.
func TestMarkerPhrasesFit(t *testing.T) {
	if n := len(originMarkers) + len(boxedMarkers) + len(notMarkers); n > 64 {
		t.Fatalf("%d marker phrases, more than a mask holds", n)
	}
}

func TestIsOriginMarker(t *testing.T) {
	for line, want := range map[string]bool{
		"--- Below this line is a copy of the message.":                           true,
		"------ This is a copy of the message, including all the headers. ------": true,
		"----- Original message -----":                                            true,
		"The original message was received at Mon, 1 Jan":                         false,
		"delete your own text from the attached returned message.":                false,
		"------- Returned Message --------":                                       true,
		"Original message follows.":                                               true,
		"Hello.":                                                                  false,
	} {
		if got := isOriginMarker(line); got != want {
			t.Errorf("isOriginMarker(%q) = %v, want %v", line, got, want)
		}
	}
}

func TestDecodeQP(t *testing.T) {
	for in, want := range map[string]string{
		"caf=C3=A9":          "café",
		"soft=\nbreak":       "softbreak",
		"soft= \r\nbreak":    "softbreak",
		"bad=ZZ and = alone": "bad=ZZ and = alone",
		"trailing=":          "trailing",
		"":                   "",
	} {
		if got := string(decodeQP([]byte(in))); got != want {
			t.Errorf("decodeQP(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecodeBase64(t *testing.T) {
	for in, want := range map[string]string{
		"aGVsbG8gd29ybGQ=":        "hello world",
		"aGVs\nbG8g\r\nd29y bGQ=": "hello world",
		"aGk=aGk=":                "hihi",
		"aGVsbG8":                 "hello",
		"!!!":                     "",
	} {
		if got := string(decodeBase64([]byte(in))); got != want {
			t.Errorf("decodeBase64(%q) = %q, want %q", in, got, want)
		}
	}
}
