package dsn

import (
	"encoding/json"
	"strings"
	"time"
)

// sesNotification is the part of an Amazon SES event notification
// (delivered by SNS as an e-mail with a JSON body) that bounced reads.
type sesNotification struct {
	NotificationType string `json:"notificationType"`
	Message          string `json:"Message"` // the SNS envelope's payload
	EventType        string `json:"eventType"`
	Bounce           *struct {
		BounceType        string `json:"bounceType"`
		BounceSubType     string `json:"bounceSubType"`
		ReportingMTA      string `json:"reportingMTA"`
		Timestamp         string `json:"timestamp"`
		BouncedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			Action         string `json:"action"`
			Status         string `json:"status"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"bouncedRecipients"`
	} `json:"bounce"`
	Complaint *struct {
		ComplaintFeedbackType string `json:"complaintFeedbackType"`
		UserAgent             string `json:"userAgent"`
		ComplainedRecipients  []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"complainedRecipients"`
	} `json:"complaint"`
	Mail *struct {
		Source        string   `json:"source"`
		MessageID     string   `json:"messageId"`
		Destination   []string `json:"destination"`
		CommonHeaders *struct {
			MessageID string   `json:"messageId"`
			Subject   string   `json:"subject"`
			From      []string `json:"from"`
			To        []string `json:"to"`
			Date      string   `json:"date"`
		} `json:"commonHeaders"`
	} `json:"mail"`
}

// readSESJSON reads an Amazon SES bounce, complaint or delivery notification
// whose body is JSON. It reports false when text is not one.
func readSESJSON(rep *Report, text string) bool {
	i := strings.IndexByte(text, '{')
	if i < 0 || !strings.Contains(text, `notificationType`) && !strings.Contains(text, `eventType`) {
		return false
	}
	j := strings.LastIndexByte(text, '}')
	if j < i {
		return false
	}
	body := text[i : j+1]
	// QUIRK: SNS breaks long lines with "!" + line end + space.
	body = strings.ReplaceAll(strings.ReplaceAll(body, "!\r\n ", ""), "!\n ", "")
	var n sesNotification
	if err := json.Unmarshal([]byte(body), &n); err != nil {
		// QUIRK: a mail relay folded the long line inside a JSON string.
		body = strings.ReplaceAll(strings.ReplaceAll(body, "\r\n ", ""), "\n ", "")
		if err := json.Unmarshal([]byte(body), &n); err != nil {
			return false
		}
	}
	if n.NotificationType == "" && n.EventType == "" && n.Message != "" {
		// An SNS envelope: the SES notification is a JSON string inside.
		msg := n.Message
		n = sesNotification{}
		if err := json.Unmarshal([]byte(msg), &n); err != nil {
			return false
		}
	}
	typ := n.NotificationType
	if typ == "" {
		typ = n.EventType
	}
	rep.Format = "ses"
	switch typ {
	case "Bounce":
		rep.Kind = Bounce
		if n.Bounce == nil {
			return true
		}
		rep.ReportingMTA = stripType(n.Bounce.ReportingMTA)
		at, _ := time.Parse(time.RFC3339, n.Bounce.Timestamp)
		at = sane(at)
		transient := n.Bounce.BounceType == "Transient"
		for _, br := range n.Bounce.BouncedRecipients {
			r := Recipient{
				Recipient:   normalizeAddress(br.EmailAddress),
				Action:      parseAction(br.Action),
				Diagnostic:  diagnosticText(br.DiagnosticCode),
				LastAttempt: at,
			}
			if r.Action == unknownAction {
				r.Action = Failed
			}
			r.ReplyCode, r.Status = codes(r.Diagnostic)
			if s, ok := ParseStatus(br.Status); ok && (r.Status.IsZero() || s.Subject != 0 || s.Detail != 0) {
				r.Status = s
			}
			if transient && r.Action == Failed && r.Status.Class != 5 {
				r.Action = Delayed
			}
			rep.Recipients = append(rep.Recipients, r)
		}
	case "Complaint":
		rep.Kind = Complaint
		fb := &Feedback{Type: "abuse"}
		if n.Complaint != nil {
			if n.Complaint.ComplaintFeedbackType != "" {
				fb.Type = n.Complaint.ComplaintFeedbackType
			}
			fb.UserAgent = n.Complaint.UserAgent
			for _, c := range n.Complaint.ComplainedRecipients {
				fb.OriginalRcptTo = append(fb.OriginalRcptTo, normalizeAddress(c.EmailAddress))
			}
		}
		if n.Mail != nil {
			fb.OriginalMailFrom = normalizeAddress(n.Mail.Source)
		}
		rep.Feedback = fb
	case "Delivery":
		rep.Kind = Delivered
	default:
		rep.Format = ""
		return false
	}
	if n.Mail != nil {
		rep.Original.MessageID = n.Mail.MessageID
		if ch := n.Mail.CommonHeaders; ch != nil {
			if ch.MessageID != "" {
				rep.Original.MessageID = strings.Trim(ch.MessageID, "<>")
			}
			rep.Original.Subject = ch.Subject
			rep.Original.From = strings.Join(ch.From, ", ")
			rep.Original.To = strings.Join(ch.To, ", ")
			rep.Original.Date = parseDate(ch.Date)
		}
	}
	return true
}
