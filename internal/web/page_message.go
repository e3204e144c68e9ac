package web

import (
	"net/http"
	"strconv"

	"github.com/bounced/bounced/internal/store"
)

// messagePage is the data of a message's page.
type messagePage struct {
	layout
	Message store.StoredMessage
}

// pageMessage shows a stored notice and its recipient rows.
func (s *Server) pageMessage(w http.ResponseWriter, r *http.Request, p *principal) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.pageStatus(w, r, p, http.StatusNotFound, "Not found: a message is known by a positive number.")
		return
	}
	m, err := s.store.Message(r.Context(), id)
	if err != nil {
		s.pageError(w, r, p, err)
		return
	}
	s.render(w, r, http.StatusOK, "message", messagePage{layout: s.newLayout(p, "Message "+strconv.FormatInt(id, 10), ""), Message: m})
}
