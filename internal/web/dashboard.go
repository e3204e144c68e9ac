package web

// pageRoutes registers the dashboard's pages.
func (s *Server) pageRoutes() {}
