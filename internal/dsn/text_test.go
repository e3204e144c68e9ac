package dsn

import (
	"encoding/base64"
	"strings"
	"testing"
)

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

// An original message/rfc822 part in base64 (RFC 2046 5.2.1 forbids it, some
// MTAs do it) still gives the original's header.
func TestEncodedOriginal(t *testing.T) {
	orig := base64.StdEncoding.EncodeToString([]byte("Message-ID: <o-1@example.com>\r\nSubject: Hi\r\n\r\nbody\r\n"))
	m := "From: MAILER-DAEMON@mx.example.net\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n" +
		"--b\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n\n" +
		"--b\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" + orig + "\n--b--\n"
	var p Parser
	for _, parse := range []func() (*Report, error){
		func() (*Report, error) { return p.Parse(strings.NewReader(m)) },
		func() (*Report, error) { return p.ParseBytes([]byte(m)) },
	} {
		rep, err := parse()
		if err != nil {
			t.Fatal(err)
		}
		if rep.Original.MessageID != "o-1@example.com" || rep.Original.Subject != "Hi" {
			t.Errorf("original = %+v, want o-1@example.com, Hi", rep.Original)
		}
	}
}
