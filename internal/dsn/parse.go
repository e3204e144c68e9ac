package dsn

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/bounced/bounced/internal/phrase"
)

// ErrTooLarge reports that a bound on the input was reached; the Report
// holds what was read before it.
var ErrTooLarge = errors.New("message exceeds a parser bound")

var errTooManyParts = fmt.Errorf("more than %d MIME parts: %w", maxParts, ErrTooLarge)

// Bounds on what one message may cost. Bytes past maxText of text parts are
// skipped, not failed; parts past maxParts and nesting past maxDepth are
// skipped with an error.
const (
	defaultMaxBytes = 128 << 20
	maxText         = 1 << 20
	maxStatusBytes  = 256 << 10
	maxParts        = 500
	maxDepth        = 12
)

// VERP describes how a list manager encodes the recipient in the envelope
// sender: bounces+alice=example.com@lists.example.org has Separator "+" and
// At "=". Prefixes, when set, restrict it to local parts starting so.
type VERP struct {
	Separator string
	At        string
	Prefixes  []string
}

// Parser holds the options of Parse. The zero value is ready to use.
type Parser struct {
	// CorrelationHeaders names headers of the original message to keep in
	// Original.Headers (e.g. "X-Campaign-ID"). Default none.
	CorrelationHeaders []string
	// VERP, when set, decodes the recipient from the address the notice was
	// sent to. Default nil: off.
	VERP *VERP
	// MaxBytes bounds the bytes read from the message. Default 128 MiB.
	MaxBytes int64

	// scratch holds the buffers of finished parses for the next ones: a
	// Parser used for many messages allocates its readers once. A Parser
	// must not be copied after first use.
	scratch sync.Pool
}

// buffers are what a parse needs that can outlive it.
type buffers struct {
	top     *bufio.Reader
	decoded []byte // the body being decoded
	hdr     []byte // header values being read
}

// Parse reads one message with the default options.
func Parse(r io.Reader) (*Report, error) {
	var p Parser
	return p.Parse(r)
}

// Parse reads one message, streaming: attachments are skipped, not held, so
// memory stays small whatever the message's size. On damaged input it
// returns what it understood together with an error; the Report is never
// nil and Parse never panics.
func (p *Parser) Parse(r io.Reader) (rep *Report, err error) {
	limit := p.maxBytes()
	lr := &limitReader{r: r, n: limit}
	return p.parse(func(b *buffers) lines {
		b.top.Reset(&crReader{r: lr})
		skipMboxLine(b.top)
		return b.top
	}, func() bool { return lr.hit })
}

// ParseBytes reads one message held in memory, without copying it: what
// Parse does, faster. msg is not modified.
func (p *Parser) ParseBytes(msg []byte) (*Report, error) {
	limit := p.maxBytes()
	hit := int64(len(msg)) > limit
	if hit {
		msg = msg[:limit]
	}
	if hasBareCR(msg) {
		// QUIRK: old Mac mailers end lines with CR alone.
		msg = bytes.ReplaceAll(bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n")), []byte("\r"), []byte("\n"))
	}
	if bytes.HasPrefix(msg, []byte("From ")) {
		// An mbox "From " separator line is not a header.
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		} else {
			msg = nil
		}
	}
	return p.parse(func(*buffers) lines { return &sliceLines{b: msg} }, func() bool { return hit })
}

func (p *Parser) maxBytes() int64 {
	if p.MaxBytes <= 0 {
		return defaultMaxBytes
	}
	return p.MaxBytes
}

// hasBareCR reports whether b has a CR not followed by LF.
func hasBareCR(b []byte) bool {
	for {
		i := bytes.IndexByte(b, '\r')
		if i < 0 {
			return false
		}
		if i+1 == len(b) || b[i+1] != '\n' {
			return true
		}
		b = b[i+2:]
	}
}

// parse runs the walk over the lines open gives, with the Parser's reusable
// buffers; hit says afterwards whether MaxBytes cut the message.
func (p *Parser) parse(open func(*buffers) lines, hit func() bool) (rep *Report, err error) {
	rep = &Report{Kind: NotBounce}
	defer func() {
		// A parser bug must not lose the message: report it as an error.
		if v := recover(); v != nil {
			err = fmt.Errorf("internal parser error: %v", v)
		}
	}()
	b, _ := p.scratch.Get().(*buffers)
	if b == nil {
		b = &buffers{top: bufio.NewReaderSize(nil, 4096)}
	}
	defer func() {
		b.top.Reset(nil)
		b.decoded, b.hdr = b.decoded[:0], b.hdr[:0]
		p.scratch.Put(b)
	}()
	m := &msg{p: p, buffers: b}
	for _, c := range p.CorrelationHeaders {
		m.corr = append(m.corr, strings.ToLower(c))
	}
	src := open(b)
	h, rest, herr := readHeader(src, nil, &m.hdr)
	m.top = h
	if herr != nil {
		m.fail(fmt.Errorf("reading header: %w", herr))
	}
	m.walk(h, withRest(rest, src), 0)
	m.finish(rep)
	if hit() {
		m.fail(fmt.Errorf("reading message: %w (%d bytes)", ErrTooLarge, p.maxBytes()))
	}
	return rep, errors.Join(m.errs...)
}

// skipMboxLine drops an mbox "From " separator line, which is not a header.
func skipMboxLine(br *bufio.Reader) {
	if b, _ := br.Peek(5); string(b) == "From " {
		_, _ = readLine(br)
	}
}

// msg collects what the MIME walk finds, for finish to interpret.
type msg struct {
	p   *Parser
	top header

	texts     []string // decoded text parts (HTML reduced to text), in order
	textBytes int
	htmlOnly  []string // HTML parts, used when there is no plain text

	status     []string // delivery-status parts (RFC 3464 2.1, RFC 6533 6.2)
	feedback   string   // the first feedback-report part (RFC 5965 3.1)
	reportType string   // multipart/report's report-type

	orig      header // the first returned original's header
	origFound bool
	corr      []string   // the correlation headers, lower-case
	lnotice   string     // the notice text, lower-cased once for searches
	subject   string     // the notice's subject, decoded
	scanned   bool       // found and subjFound are filled
	found     phrase.Set // the notice phrases (noticePhrases) in it
	subjFound phrase.Set // the subject phrases (subjectPhrases) in the subject

	*buffers // reused from one message to the next

	parts int
	errs  []error
}

func (m *msg) fail(err error) {
	if len(m.errs) < 8 {
		m.errs = append(m.errs, err)
	}
}

// walk reads one entity with header h and raw body src.
func (m *msg) walk(h header, src lines, depth int) {
	if depth > maxDepth {
		m.fail(fmt.Errorf("MIME nesting deeper than %d: %w", maxDepth, ErrTooLarge))
		return
	}
	ct := h.contentType()
	mt := ct.typ
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		if mt == "multipart/report" && m.reportType == "" {
			m.reportType = ct.reportType
		}
		boundary := ct.boundary
		if boundary == "" {
			// QUIRK: a multipart without a boundary; read it as text.
			m.addText(m.decode(h, ct, src, maxText), false)
			return
		}
		m.walkMultipart(boundary, src, depth, false)
	case mt == "message/delivery-status" || mt == "message/global-delivery-status" ||
		mt == "text/delivery-status" || mt == "message/x-delivery-status":
		// RFC 3464 2.1, RFC 6533 6.2 (UTF-8 fields).
		m.status = append(m.status, m.decode(h, ct, src, maxStatusBytes))
	case mt == "message/feedback-report":
		// RFC 5965 3.1
		if m.feedback == "" {
			m.feedback = m.decode(h, ct, src, maxStatusBytes)
		}
	case mt == "message/rfc822" || mt == "message/global" || mt == "message/partial":
		m.walkOriginal(h, src, true, depth)
	case mt == "text/rfc822-headers" || mt == "message/global-headers" || mt == "text/rfc822-header":
		// RFC 3462 / RFC 6522 returned headers, RFC 6533 6.3.
		m.walkOriginal(h, src, false, depth)
	case mt == "text/plain" || mt == "text/enriched" || mt == "application/json":
		text := m.decode(h, ct, src, maxText-m.textBytes)
		if depth == 0 && !h.has("content-type") {
			// QUIRK: Sendmail without a MIME header: the body is multipart.
			if b := sniffBoundary(text); b != "" {
				m.walkMultipart(b, &sliceLines{b: []byte(text)}, depth, true)
				return
			}
		}
		m.addText(text, false)
	case mt == "text/html":
		// Reduced to text in finish, and only when no plain text came: an
		// HTML alternative after plain text is not even decoded.
		if len(m.texts) > 0 {
			drain(src)
			return
		}
		m.addText(m.decode(h, ct, src, maxText-m.textBytes), true)
	default:
		// Attachments and the rest: skip without holding them.
		drain(src)
	}
}

// sniffBoundary finds a multipart boundary in a body whose header names
// none: a "--token" line, soon followed by a header or a blank line, that
// comes again later.
func sniffBoundary(text string) string {
	for n, rest := 0, text; n < 40 && rest != ""; n++ {
		line, r, _ := strings.Cut(rest, "\n")
		rest = r
		line = strings.TrimRight(line, "\r")
		if len(line) < 10 || !strings.HasPrefix(line, "--") || indexSpace(line) >= 0 || strings.Trim(line, "-") == "" {
			continue
		}
		if strings.Contains(rest, "\n"+line) {
			return line[2:]
		}
	}
	return ""
}

// walkOriginal reads the header of a returned message (withBody) or of
// returned headers; a returned message that is itself a notice is read as
// one.
func (m *msg) walkOriginal(h header, src lines, withBody bool, depth int) {
	if enc := asciiLower(h.get("content-transfer-encoding")); enc == "base64" || enc == "quoted-printable" {
		// QUIRK: an encoded message/rfc822 (RFC 2046 5.2.1 forbids it):
		// decoded in a buffer of its own, since a forwarded notice inside
		// is walked while m.decoded is in use.
		src = &sliceLines{b: readDecoded(nil, src, enc, maxStatusBytes)}
	}
	oh, rest, err := readHeader(src, m.corr, &m.hdr)
	if err != nil {
		m.fail(fmt.Errorf("reading returned message header: %w", err))
	}
	if ct := oh.contentType(); withBody && ct.typ == "multipart/report" && len(m.status) == 0 && m.feedback == "" &&
		ct.reportType == "delivery-status" {
		// QUIRK: a notice that attaches another notice (a forwarded
		// bounce): read the inner one's report.
		m.walk(oh, withRest(rest, src), depth+1)
		return
	}
	if !m.origFound && len(oh) > 0 {
		m.orig, m.origFound = oh, true
	}
	drain(src)
}

func (m *msg) addText(s string, html bool) {
	if s == "" {
		return
	}
	m.textBytes += len(s)
	if html {
		m.htmlOnly = append(m.htmlOnly, s)
		return
	}
	m.texts = append(m.texts, s)
}

// decode reads at most max bytes of an entity's decoded body, undoing its
// transfer encoding and charset; the rest is skipped. Text parts are small,
// so they are read whole and decoded in memory.
func (m *msg) decode(h header, ct mediaType, src lines, max int) string {
	if max <= 0 {
		drain(src)
		return ""
	}
	raw := readDecoded(m.decoded[:0], src, h.get("content-transfer-encoding"), max)
	m.decoded = raw[:0]
	// QUIRK: KDDI labels UTF-8 text ISO-2022-JP; text that is already valid
	// UTF-8 beyond ASCII is in no legacy charset, so it is kept as it is.
	mislabelled := ct.charset != "" && !isASCII(raw) && utf8.Valid(raw)
	if cs := ct.charset; cs != "" && !mislabelled && !isUTF8Name(cs) && (strings.HasPrefix(ct.typ, "text/") || strings.HasPrefix(ct.typ, "message/")) {
		if cr, err := charsetReader(cs, bytes.NewReader(raw)); err == nil && cr != nil {
			if conv := readBytes(cr, 4*max); len(conv) > 0 || len(raw) == 0 {
				raw = conv
			}
		}
	}
	return validUTF8(string(raw))
}
