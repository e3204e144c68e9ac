package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// The bounds of a release's body.
const (
	maxReleaseBody   = 64 << 10 // bytes of the body
	maxReleaseReason = 500      // characters of the reason
)

// bodyError is a request body that cannot be acted on, and how to answer.
type bodyError struct {
	status int
	code   string
	msg    string
}

// readReleaseReason reads the body of a release, {"reason": "..."}: JSON
// (else 415), at most maxReleaseBody bytes (else 413), one object with no
// other field, and a reason of 1 to maxReleaseReason characters, trimmed
// (else 400).
func readReleaseReason(w http.ResponseWriter, r *http.Request) (string, *bodyError) {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return "", &bodyError{http.StatusUnsupportedMediaType, CodeBadBody,
			fmt.Sprintf("Content-Type: want application/json; got %q", ct)}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxReleaseBody))
	dec.DisallowUnknownFields()
	var body struct {
		Reason *string `json:"reason"`
	}
	err := dec.Decode(&body)
	if err == nil {
		// Nothing may follow the object: read on to the end of the body.
		var more json.RawMessage
		switch extra := dec.Decode(&more); {
		case extra == nil:
			err = errors.New("more than one JSON value")
		case extra != io.EOF:
			err = extra
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return "", &bodyError{http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
			fmt.Sprintf("body: over the limit of %d bytes", maxReleaseBody)}
	case err != nil:
		return "", &bodyError{http.StatusBadRequest, CodeBadBody, `body: want a JSON object {"reason": "..."}: ` + err.Error()}
	case body.Reason == nil || strings.TrimSpace(*body.Reason) == "":
		return "", &bodyError{http.StatusBadRequest, CodeBadBody, "reason: required: say why the address may be mailed again"}
	}
	reason := strings.TrimSpace(*body.Reason)
	if n := utf8.RuneCountInString(reason); n > maxReleaseReason {
		return "", &bodyError{http.StatusBadRequest, CodeBadBody,
			fmt.Sprintf("reason: %d characters, over the limit of %d", n, maxReleaseReason)}
	}
	return reason, nil
}
