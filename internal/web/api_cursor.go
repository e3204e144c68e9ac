package web

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bounced/bounced/internal/store"
)

// A cursor is a place in a list, opaque to clients: base64url of a tag
// naming the list and the last item of the page before. The tag makes the
// cursor of one list fail on another. A cursor is a place, not a
// snapshot: rows added behind it are not seen, rows added ahead of it are.

// badCursor is what is said of a cursor that is not one.
const badCursor = "not a cursor of this list: give the next_cursor of the page before, or none to start"

// suppressionCursor places a page of suppressions after address.
func suppressionCursor(address string) string {
	return b64.EncodeToString([]byte("s:" + address))
}

// suppressionCursor reads the cursor parameter of the suppression list:
// the address to start after, "" to start at the beginning.
func (p *apiParams) suppressionCursor() string {
	v := p.get("cursor")
	if v == "" {
		return ""
	}
	b, err := b64.DecodeString(v)
	after, ok := strings.CutPrefix(string(b), "s:")
	if err != nil || !ok || after == "" || !utf8.ValidString(after) {
		p.fail("cursor", badCursor)
	}
	return after
}

// bounceCursor places a page of bounces (newest first) after r.
func bounceCursor(r store.Recipient) string {
	return b64.EncodeToString([]byte("b:" + r.BouncedAt.UTC().Format(time.RFC3339Nano) + "," + strconv.FormatInt(r.ID, 10)))
}

// bounceCursor reads the cursor parameter of the bounce list: nil to
// start at the newest.
func (p *apiParams) bounceCursor() *store.BounceCursor {
	v := p.get("cursor")
	if v == "" {
		return nil
	}
	b, err := b64.DecodeString(v)
	rest, ok := strings.CutPrefix(string(b), "b:")
	at, id, ok2 := strings.Cut(rest, ",")
	if err != nil || !ok || !ok2 {
		p.fail("cursor", badCursor)
		return nil
	}
	t, err1 := time.Parse(time.RFC3339Nano, at)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if err1 != nil || err2 != nil || n < 1 {
		p.fail("cursor", badCursor)
		return nil
	}
	return &store.BounceCursor{At: t, ID: n}
}
