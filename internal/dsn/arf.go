package dsn

import "strings"

// readFeedback reads an RFC 5965 abuse report: the feedback-report part's
// fields and the returned original.
func (m *msg) readFeedback(rep *Report) {
	rep.Kind = Complaint
	rep.Format = "arf"
	fb := &Feedback{}
	forEachField(m.feedback, func(key, value string) {
		switch key {
		case "feedback-type": // RFC 5965 3.1
			fb.Type = strings.ToLower(value)
		case "user-agent":
			fb.UserAgent = value
		case "original-mail-from": // RFC 5965 3.2
			fb.OriginalMailFrom = normalizeAddress(value)
		case "original-rcpt-to":
			if a := normalizeAddress(value); a != "" {
				fb.OriginalRcptTo = append(fb.OriginalRcptTo, a)
			}
		case "source-ip":
			fb.SourceIP = value
		case "arrival-date", "received-date":
			fb.ArrivalDate = parseDate(value)
		case "reported-domain":
			fb.ReportedDomain = value
		}
	})
	if fb.Type == "" {
		fb.Type = "abuse"
	}
	rep.Feedback = fb
}
