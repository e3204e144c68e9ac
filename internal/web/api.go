package web

import (
	_ "embed"
	"net/http"
	"strings"
)

// apiRoute is one endpoint of the JSON API: the method and net/http
// pattern it is served at, the role its token needs, the query
// parameters it takes (any other is refused) and its handler.
type apiRoute struct {
	method, path string
	role         Role
	query        []string
	handle       func(*Server, http.ResponseWriter, *http.Request, *apiParams, *principal)
}

// apiRouteTable lists the endpoints of the API; openapi.json describes
// the same ones (openapi_test.go compares them).
var apiRouteTable = []apiRoute{
	{"GET", "/api/v1/suppressions", Read, []string{"since", "cause", "domain", "cursor", "limit", "format"}, (*Server).apiSuppressions},
	{"GET", "/api/v1/suppressions/{address}", Read, []string{"limit"}, (*Server).apiAddress},
	{"POST", "/api/v1/suppressions/{address}/release", Admin, nil, (*Server).apiRelease},
	{"GET", "/api/v1/bounces", Read, []string{"since", "until", "cause", "domain", "kind", "severity", "scope", "cursor", "limit"}, (*Server).apiBounces},
	{"GET", "/api/v1/messages/{id}", Read, nil, (*Server).apiMessage},
	{"GET", "/api/v1/messages/{id}/raw", Read, nil, (*Server).apiRaw},
	{"GET", "/api/v1/stats", Read, []string{"by", "since", "until", "limit"}, (*Server).apiStats},
	{"GET", "/api/v1/mailboxes", Read, nil, (*Server).apiMailboxes},
	{"GET", "/api/v1/openapi.json", Read, nil, (*Server).apiSpec},
}

// pattern is the route's net/http pattern.
func (rt *apiRoute) pattern() string { return rt.method + " " + rt.path }

// apiRoutes registers the JSON API: the routes of apiRouteTable, each
// behind its bearer token and the check of its query parameters, and a
// JSON answer for everything else under /api/.
func (s *Server) apiRoutes() {
	for _, rt := range apiRouteTable {
		s.mux.HandleFunc(rt.pattern(), s.withBearer(rt.role, func(w http.ResponseWriter, r *http.Request, p *principal) {
			q, err := newAPIParams(r.URL.RawQuery, rt.query, s.cfg.Now(), s.cfg.MaxPage)
			if err != nil {
				writeError(w, http.StatusBadRequest, CodeBadParameter, err.Error())
				return
			}
			rt.handle(s, w, r, q, p)
		}))
	}
	s.mux.HandleFunc("/api/", s.apiElse)
}

// apiElse answers a request under /api/ that no route took: 405 when the
// path is served with other methods, else 404. Neither needs a token: they
// tell no more than openapi.json does.
func (s *Server) apiElse(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, rt := range apiRouteTable {
		if rt.method == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = rt.method
		if _, pattern := s.mux.Handler(probe); pattern == rt.pattern() {
			allow = append(allow, rt.method)
			if rt.method == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed,
			r.Method+" "+r.URL.Path+": method not allowed; allowed: "+strings.Join(allow, ", "))
		return
	}
	writeError(w, http.StatusNotFound, CodeNotFound, "no such endpoint: "+r.URL.Path+" (see /api/v1/openapi.json)")
}

// openAPI is the API's description, served at /api/v1/openapi.json.
//
//go:embed openapi.json
var openAPI []byte

func (s *Server) apiSpec(w http.ResponseWriter, r *http.Request, _ *apiParams, _ *principal) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(openAPI)
}

// badParameter answers a query parameter or path value that is wrong.
func badParameter(w http.ResponseWriter, err error) {
	writeError(w, http.StatusBadRequest, CodeBadParameter, err.Error())
}
