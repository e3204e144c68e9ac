package web

import (
	"net/http"
	"time"

	"github.com/bounced/bounced/internal/store"
)

// mailboxStale is how long a mailbox's worker may go without reporting
// before the dashboard calls it stale (workers report every few seconds).
const mailboxStale = 5 * time.Minute

// mailboxRow is a mailbox's status and what the dashboard makes of it.
type mailboxRow struct {
	store.MailboxStatus
	// State is "error" (the last poll failed), "stale" (no report for a
	// while), "standby" (an instance reports it but another holds it),
	// "stopped" (only a checkpoint: no instance reports it) or "ok".
	State string
}

// mailboxRows judges each mailbox's status at now.
func mailboxRows(sts []store.MailboxStatus, now time.Time) []mailboxRow {
	out := make([]mailboxRow, 0, len(sts))
	for _, st := range sts {
		row := mailboxRow{MailboxStatus: st, State: "ok"}
		switch {
		case st.Error != "":
			row.State = "error"
		case st.Instance == "" || st.UpdatedAt.IsZero():
			row.State = "stopped"
		case now.Sub(st.UpdatedAt) > mailboxStale:
			row.State = "stale"
		case !st.Active:
			row.State = "standby"
		}
		out = append(out, row)
	}
	return out
}

// mailboxesPage is the data of the mailboxes page.
type mailboxesPage struct {
	layout
	Mailboxes []mailboxRow
	Stale     string
}

// pageMailboxes shows the status of every mailbox.
func (s *Server) pageMailboxes(w http.ResponseWriter, r *http.Request, p *principal) {
	sts, err := s.store.MailboxStatuses(r.Context())
	if err != nil {
		s.pageError(w, r, p, err)
		return
	}
	s.render(w, r, http.StatusOK, "mailboxes", mailboxesPage{layout: s.newLayout(p, "Mailboxes", "mailboxes"),
		Mailboxes: mailboxRows(sts, s.cfg.Now()), Stale: "5 minutes"})
}
