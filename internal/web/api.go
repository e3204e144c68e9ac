package web

// apiRoutes registers the JSON API.
func (s *Server) apiRoutes() {}
