package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
	"github.com/bounced/bounced/internal/store"
)

// jsonObject is a JSON object decoded with numbers kept as written.
type jsonObject = map[string]any

// specDecode decodes b, keeping numbers as json.Number.
func specDecode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return v, nil
}

// specDoc is openapi.json, and the validator of its schemas: the subset
// of JSON Schema the file uses (schemaKeywords), every keyword checked.
type specDoc struct{ root jsonObject }

func loadSpec(t *testing.T) *specDoc {
	t.Helper()
	v, err := specDecode(openAPI)
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return &specDoc{root: v.(jsonObject)}
}

// schemaKeywords are the keywords the validator knows; a schema with
// another one fails, so that none is silently ignored.
var schemaKeywords = map[string]bool{
	"$ref": true, "anyOf": true, "type": true, "enum": true, "format": true, "properties": true, "required": true,
	"additionalProperties": true, "items": true, "minLength": true, "maxLength": true, "minimum": true,
	"description": true, "example": true,
}

// resolve follows $ref (a local JSON pointer) until node is not one.
func (d *specDoc) resolve(node jsonObject) jsonObject {
	for i := 0; i < 10; i++ {
		ref, ok := node["$ref"].(string)
		if !ok {
			return node
		}
		var cur any = d.root
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			m, _ := cur.(jsonObject)
			cur = m[part]
		}
		next, ok := cur.(jsonObject)
		if !ok {
			panic("openapi.json: $ref " + ref + " leads nowhere")
		}
		node = next
	}
	panic("openapi.json: $ref loop")
}

// get walks keys down from node; nil where one is missing.
func specGet(node any, keys ...string) any {
	for _, k := range keys {
		m, _ := node.(jsonObject)
		node = m[k]
	}
	return node
}

// specType names the JSON type of x ("integer" for a whole number).
func specType(x any) string {
	switch x := x.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if strings.ContainsAny(string(x), ".eE") {
			return "number"
		}
		return "integer"
	case []any:
		return "array"
	case jsonObject:
		return "object"
	}
	return fmt.Sprintf("%T", x)
}

// validate checks x against schema and returns what is wrong, each with
// the place in x (at).
func (d *specDoc) validate(schema jsonObject, x any, at string) []string {
	schema = d.resolve(schema)
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, at+": "+fmt.Sprintf(format, args...)) }
	for k := range schema {
		if !schemaKeywords[k] {
			bad("schema keyword %q: not known to the validator", k)
		}
	}
	if anyOf, ok := schema["anyOf"].([]any); ok {
		for _, s := range anyOf {
			if len(d.validate(s.(jsonObject), x, at)) == 0 {
				return errs
			}
		}
		bad("matches none of anyOf: %v", x)
		return errs
	}
	if ty, ok := schema["type"]; ok {
		var types []string
		switch ty := ty.(type) {
		case string:
			types = []string{ty}
		case []any:
			for _, t := range ty {
				types = append(types, t.(string))
			}
		}
		got := specType(x)
		if !slices.Contains(types, got) && !(got == "integer" && slices.Contains(types, "number")) {
			bad("a %s, want %v", got, types)
			return errs
		}
	}
	if enum, ok := schema["enum"].([]any); ok && !slices.Contains(enum, x) {
		bad("%v is not one of %v", x, enum)
	}
	switch x := x.(type) {
	case string:
		if schema["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, x); err != nil {
				bad("not a date-time: %q", x)
			}
		}
		if n, ok := schema["minLength"].(json.Number); ok && int64(utf8.RuneCountInString(x)) < specInt(n) {
			bad("shorter than %s", n)
		}
		if n, ok := schema["maxLength"].(json.Number); ok && int64(utf8.RuneCountInString(x)) > specInt(n) {
			bad("longer than %s", n)
		}
	case json.Number:
		if n, ok := schema["minimum"].(json.Number); ok {
			if v, err := x.Float64(); err != nil || v < float64(specInt(n)) {
				bad("%s is under the minimum %s", x, n)
			}
		}
	case []any:
		if items, ok := schema["items"].(jsonObject); ok {
			for i, e := range x {
				errs = append(errs, d.validate(items, e, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	case jsonObject:
		props, _ := schema["properties"].(jsonObject)
		for _, r := range specStrings(schema["required"]) {
			if _, ok := x[r]; !ok {
				bad("required field %q is missing", r)
			}
		}
		for k, v := range x {
			if p, ok := props[k].(jsonObject); ok {
				errs = append(errs, d.validate(p, v, at+"."+k)...)
				continue
			}
			switch more := schema["additionalProperties"].(type) {
			case bool:
				if !more {
					bad("field %q is not documented", k)
				}
			case jsonObject:
				errs = append(errs, d.validate(more, v, at+"."+k)...)
			default:
				bad("the schema does not say whether fields other than its properties may be (additionalProperties)")
			}
		}
	}
	return errs
}

func specInt(n json.Number) int64 {
	v, err := n.Int64()
	if err != nil {
		panic("openapi.json: not a whole number: " + string(n))
	}
	return v
}

func specStrings(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, s := range l {
		out = append(out, s.(string))
	}
	return out
}

// httpMethods are the operations a path item of OpenAPI may have.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operation is the spec's operation for a route, nil when there is none.
func (d *specDoc) operation(rt apiRoute) jsonObject {
	op, _ := specGet(d.root, "paths", rt.path, strings.ToLower(rt.method)).(jsonObject)
	return op
}

// parameters gives the operation's parameters (resolved) that are in
// where (query or path), by name.
func (d *specDoc) parameters(op jsonObject, where string) map[string]jsonObject {
	out := map[string]jsonObject{}
	l, _ := op["parameters"].([]any)
	for _, p := range l {
		p := d.resolve(p.(jsonObject))
		if p["in"] == where {
			out[p["name"].(string)] = p
		}
	}
	return out
}

func TestOpenAPIRoutes(t *testing.T) {
	t.Parallel()
	d := loadSpec(t)
	if v := d.root["openapi"]; v != "3.1.0" {
		t.Errorf("openapi %v", v)
	}
	var inSpec, inTable []string
	for path, item := range d.root["paths"].(jsonObject) {
		for m := range item.(jsonObject) {
			if !slices.Contains(httpMethods, m) {
				t.Errorf("%s: %q is not an operation", path, m)
				continue
			}
			inSpec = append(inSpec, strings.ToUpper(m)+" "+path)
		}
	}
	wildcard := regexp.MustCompile(`\{([a-z]+)\}`)
	for _, rt := range apiRouteTable {
		inTable = append(inTable, rt.pattern())
		op := d.operation(rt)
		if op == nil {
			continue
		}
		if role := op["x-role"]; role != string(rt.role) {
			t.Errorf("%s: x-role %v, the route needs %s", rt.pattern(), role, rt.role)
		}
		query := slices.Sorted(func(yield func(string) bool) {
			for name := range d.parameters(op, "query") {
				if !yield(name) {
					return
				}
			}
		})
		if want := slices.Sorted(slices.Values(rt.query)); !slices.Equal(query, want) {
			t.Errorf("%s: the spec's query parameters %v, the route takes %v", rt.pattern(), query, want)
		}
		var wildcards, pathParams []string
		for _, m := range wildcard.FindAllStringSubmatch(rt.path, -1) {
			wildcards = append(wildcards, m[1])
		}
		for name, p := range d.parameters(op, "path") {
			pathParams = append(pathParams, name)
			if p["required"] != true {
				t.Errorf("%s: path parameter %s not required", rt.pattern(), name)
			}
		}
		slices.Sort(pathParams)
		if slices.Sort(wildcards); !slices.Equal(wildcards, pathParams) {
			t.Errorf("%s: path parameters %v, the pattern has %v", rt.pattern(), pathParams, wildcards)
		}
		for _, where := range []string{"query", "path"} {
			for name, p := range d.parameters(op, where) {
				if errs := d.validate(p["schema"].(jsonObject), p["example"], name+" example"); p["example"] == nil || len(errs) > 0 {
					t.Errorf("%s: parameter %s needs an example that fits its schema: %v", rt.pattern(), name, errs)
				}
			}
		}
		responses, _ := op["responses"].(jsonObject)
		want := []string{"200", "400", "401"}
		if rt.role == Admin {
			want = append(want, "403")
		}
		for _, code := range want {
			if responses[code] == nil {
				t.Errorf("%s: response %s is not documented", rt.pattern(), code)
			}
		}
	}
	slices.Sort(inSpec)
	slices.Sort(inTable)
	if !slices.Equal(inSpec, inTable) {
		t.Errorf("the spec's operations\n%q\nthe routes\n%q", inSpec, inTable)
	}
	if got := specGet(d.root, "components", "securitySchemes", "bearer"); specGet(got, "type") != "http" || specGet(got, "scheme") != "bearer" {
		t.Errorf("bearer scheme %v", got)
	}
	if sec := d.root["security"]; fmt.Sprint(sec) != "[map[bearer:[]]]" {
		t.Errorf("security %v", sec)
	}
}

// walkSchemas calls fn with every schema under node (at names the place).
func walkSchemas(node jsonObject, at string, fn func(jsonObject, string)) {
	fn(node, at)
	if props, ok := node["properties"].(jsonObject); ok {
		for k, p := range props {
			walkSchemas(p.(jsonObject), at+"."+k, fn)
		}
	}
	for _, k := range []string{"items", "additionalProperties"} {
		if s, ok := node[k].(jsonObject); ok {
			walkSchemas(s, at+"."+k, fn)
		}
	}
	if l, ok := node["anyOf"].([]any); ok {
		for i, s := range l {
			walkSchemas(s.(jsonObject), fmt.Sprintf("%s.anyOf[%d]", at, i), fn)
		}
	}
}

func TestOpenAPISchemas(t *testing.T) {
	t.Parallel()
	d := loadSpec(t)
	for name, s := range d.root["components"].(jsonObject)["schemas"].(jsonObject) {
		walkSchemas(s.(jsonObject), name, func(s jsonObject, at string) {
			for k := range s {
				if !schemaKeywords[k] {
					t.Errorf("%s: keyword %q is not known to the validator", at, k)
				}
			}
			if s["type"] != "object" {
				return
			}
			if _, ok := s["additionalProperties"]; !ok {
				t.Errorf("%s: an object must say whether other fields may be (additionalProperties)", at)
			}
			props, _ := s["properties"].(jsonObject)
			for _, r := range specStrings(s["required"]) {
				if props[r] == nil {
					t.Errorf("%s: required %q is not a property", at, r)
				}
			}
		})
	}
}

func TestOpenAPIEnums(t *testing.T) {
	t.Parallel()
	d := loadSpec(t)
	enum := func(schema any) []string {
		return specStrings(d.resolve(schema.(jsonObject))["enum"])
	}
	param := func(path, name string) any {
		op := d.operation(apiRoute{method: "GET", path: path})
		return d.parameters(op, "query")[name]["schema"]
	}
	strs := func(vs ...any) []string {
		var out []string
		for _, v := range vs {
			out = append(out, fmt.Sprint(v))
		}
		return out
	}
	var causes []any
	for _, c := range classify.Causes() {
		causes = append(causes, c)
	}
	schemas := d.root["components"].(jsonObject)["schemas"].(jsonObject)
	tests := []struct {
		name string
		spec []string
		code []string
	}{
		{"ErrorCode", enum(schemas["ErrorCode"]), []string{CodeUnauthorized, CodeForbidden, CodeNotFound, CodeMethodNotAllowed,
			CodeBadParameter, CodeBadBody, CodeBodyTooLarge, CodeNotSuppressed, CodeUnavailable, CodeInternal}},
		{"Cause", enum(schemas["Cause"]), strs(causes...)},
		{"Reason", enum(schemas["Reason"]), apiReasons()},
		{"RowKind", enum(schemas["RowKind"]), apiKinds},
		{"Severity", enum(schemas["Severity"]), apiSeverities},
		{"Scope", enum(schemas["Scope"]), apiScopes},
		{"MessageKind", enum(schemas["MessageKind"]), strs(dsn.Bounce, dsn.Delay, dsn.AutoReply, dsn.Complaint, dsn.Delivered, dsn.NotBounce)},
		{"bounces' cause", enum(param("/api/v1/bounces", "cause")), apiCauses()},
		{"suppressions' cause", enum(param("/api/v1/suppressions", "cause")), apiReasons()},
		{"format", enum(param("/api/v1/suppressions", "format")), []string{"json", "csv"}},
		{"by", enum(param("/api/v1/stats", "by")), strs(store.ByCause, store.ByDomain, store.ByDay)},
		{"Stats.by", enum(specGet(schemas, "Stats", "properties", "by")), strs(store.ByCause, store.ByDomain, store.ByDay)},
	}
	for _, tt := range tests {
		if !slices.Equal(slices.Sorted(slices.Values(tt.spec)), slices.Sorted(slices.Values(tt.code))) {
			t.Errorf("%s: the spec says %v, the code %v", tt.name, tt.spec, tt.code)
		}
	}
}

// specRequest is a request sent to check the answer against the spec.
type specRequest struct {
	path         string // with the query
	secret       string
	contentType  string
	body         string
	header, hval string
}

// requests gives the requests to send for route rt: the examples of the
// spec, without a token, with an unknown parameter, and extra.
func (d *specDoc) requests(t *testing.T, rt apiRoute, extra []specRequest) []specRequest {
	op := d.operation(rt)
	path := rt.path
	for name, p := range d.parameters(op, "path") {
		path = strings.ReplaceAll(path, "{"+name+"}", url.PathEscape(fmt.Sprint(p["example"])))
	}
	base := specRequest{path: path, secret: adminSecret}
	if rb := specGet(op, "requestBody", "content", "application/json"); rb != nil {
		b, err := json.Marshal(specGet(rb, "example"))
		if err != nil {
			t.Fatal(err)
		}
		base.contentType, base.body = "application/json", string(b)
	}
	q := url.Values{}
	for name, p := range d.parameters(op, "query") {
		q.Set(name, fmt.Sprint(p["example"]))
	}
	examples := base
	if len(q) > 0 {
		examples.path += "?" + q.Encode()
	}
	noToken, unknown := base, base
	noToken.secret = ""
	unknown.path += "?bogus=1"
	out := []specRequest{base, examples, noToken, unknown}
	for _, e := range extra {
		r := base
		if e.path != "" {
			r.path = e.path
		}
		if e.secret != "" {
			r.secret = e.secret
		}
		if e.contentType != "" {
			r.contentType, r.body = e.contentType, e.body
		}
		r.header, r.hval = e.header, e.hval
		out = append(out, r)
	}
	return out
}

func TestOpenAPIResponses(t *testing.T) {
	t.Parallel()
	d := loadSpec(t)
	f := newFixture(t, true)
	extra := map[string][]specRequest{
		"GET /api/v1/suppressions": {
			{header: "Accept", hval: "text/csv"},
			{path: "/api/v1/suppressions?limit=2"},
			{path: "/api/v1/suppressions?limit=0"},
		},
		"GET /api/v1/suppressions/{address}": {
			{path: "/api/v1/suppressions/nobody@nowhere.example"},
			{path: "/api/v1/suppressions/full@beta.example"},
			{path: "/api/v1/suppressions/angry@gamma.example"},
			{path: "/api/v1/suppressions/not-an-address"},
		},
		"POST /api/v1/suppressions/{address}/release": {
			{secret: readSecret},
			{contentType: "text/plain", body: "x"},
			{contentType: "application/json", body: `{"reason": "` + strings.Repeat("x", 65<<10) + `"}`},
			{contentType: "application/json", body: `{}`},
			{contentType: "application/json", body: `{"reason": "x", "by": "me"}`},
			{contentType: "application/json", body: `{"reason": "` + strings.Repeat("x", 501) + `"}`},
			{path: "/api/v1/suppressions/angry@gamma.example/release"},
			{path: "/api/v1/suppressions/not-an-address/release"},
		},
		"GET /api/v1/bounces": {
			{path: "/api/v1/bounces?limit=2"},
			{path: "/api/v1/bounces?kind=complaint"},
			{path: "/api/v1/bounces?since=tomorrow"},
		},
		"GET /api/v1/messages/{id}": {
			{path: "/api/v1/messages/999999"},
			{path: "/api/v1/messages/x"},
		},
		"GET /api/v1/messages/{id}/raw": {
			{path: "/api/v1/messages/999999/raw"},
			{path: "/api/v1/messages/x/raw"},
		},
		"GET /api/v1/stats": {
			{path: "/api/v1/stats?by=day&since=90d"},
			{path: "/api/v1/stats?by=cause&since=2020-01-01"},
			{path: "/api/v1/stats?by=cause&limit=3"},
		},
	}
	if err := f.store.SaveMailboxStatus(t.Context(), []store.MailboxStatus{{Account: "acct", Mailbox: "INBOX", Instance: "h:1",
		Active: true, LastPoll: testNow, LastSuccess: testNow, Error: "e", ErrorAt: testNow}}); err != nil {
		t.Fatal(err)
	}
	for _, rt := range apiRouteTable {
		op := d.operation(rt)
		if op == nil {
			continue // TestOpenAPIRoutes says so
		}
		responses := op["responses"].(jsonObject)
		seen := map[string]bool{}
		for _, sr := range d.requests(t, rt, extra[rt.pattern()]) {
			req, err := http.NewRequest(rt.method, f.http.URL+sr.path, strings.NewReader(sr.body))
			if err != nil {
				t.Fatal(err)
			}
			if sr.secret != "" {
				req.Header.Set("Authorization", "Bearer "+sr.secret)
			}
			if sr.contentType != "" {
				req.Header.Set("Content-Type", sr.contentType)
			}
			if sr.header != "" {
				req.Header.Set(sr.header, sr.hval)
			}
			resp, err := f.http.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			what := fmt.Sprintf("%s %s (token %q, %s): %d", rt.method, sr.path, sr.secret, sr.contentType, resp.StatusCode)
			if len(what) > 200 {
				what = what[:200]
			}
			code := strconv.Itoa(resp.StatusCode)
			seen[code] = true
			doc, ok := responses[code].(jsonObject)
			if !ok {
				t.Errorf("%s: status not documented: %s", what, body)
				continue
			}
			doc = d.resolve(doc)
			headers, _ := specGet(doc, "headers").(jsonObject)
			for name, h := range headers {
				if specGet(h, "required") == true && resp.Header.Get(name) == "" {
					t.Errorf("%s: header %s missing", what, name)
				}
			}
			mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			media, ok := specGet(doc, "content", mt).(jsonObject)
			if !ok {
				t.Errorf("%s: content type %q not documented", what, mt)
				continue
			}
			if mt != "application/json" {
				if len(body) == 0 {
					t.Errorf("%s: empty %s", what, mt)
				}
				continue
			}
			v, err := specDecode(body)
			if err != nil {
				t.Errorf("%s: %v: %s", what, err, body)
				continue
			}
			for _, e := range d.validate(media["schema"].(jsonObject), v, "body") {
				t.Errorf("%s: %s", what, e)
			}
			// The request body fits the spec exactly when it was taken.
			if rb, ok := specGet(op, "requestBody", "content", "application/json", "schema").(jsonObject); ok && sr.contentType == "application/json" {
				in, err := specDecode([]byte(sr.body))
				fits := err == nil && len(d.validate(rb, in, "request")) == 0
				refused := specGet(v, "error", "code") == CodeBadBody || specGet(v, "error", "code") == CodeBodyTooLarge
				if fits == refused {
					t.Errorf("%s: a request body that fits the schema: %v; refused: %v", what, fits, refused)
				}
			}
		}
		for code := range responses {
			if code < "500" && !seen[code] {
				t.Errorf("%s: documented status %s not met by the requests of the test", rt.pattern(), code)
			}
		}
	}
}

func TestOpenAPIValidator(t *testing.T) {
	t.Parallel()
	// The validator must fail what the spec does not allow, or the tests
	// above prove nothing.
	d := loadSpec(t)
	schema := jsonObject{"$ref": "#/components/schemas/Suppression"}
	good := `{"address": "a@b.example", "domain": "b.example", "reason": "bad_address", "rule": "r",
		"suppressed_at": "2026-11-01T00:00:00Z", "first_bounce": "2026-11-01T00:00:00Z",
		"last_bounce": "2026-11-01T00:00:00.5+01:00", "bounce_count": 1}`
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"good", good, true},
		{"undocumented field", strings.Replace(good, `"rule": "r"`, `"rule": "r", "extra": 1`, 1), false},
		{"missing field", strings.Replace(good, `"rule": "r",`, ``, 1), false},
		{"wrong type", strings.Replace(good, `"bounce_count": 1`, `"bounce_count": "1"`, 1), false},
		{"not an integer", strings.Replace(good, `"bounce_count": 1`, `"bounce_count": 1.5`, 1), false},
		{"under the minimum", strings.Replace(good, `"bounce_count": 1`, `"bounce_count": 0`, 1), false},
		{"not in the enum", strings.Replace(good, `"bad_address"`, `"oversize"`, 1), false},
		{"not a time", strings.Replace(good, `"2026-11-01T00:00:00Z"`, `"yesterday"`, 1), false},
		{"null", `null`, false},
	}
	for _, tt := range tests {
		v, err := specDecode([]byte(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		if errs := d.validate(schema, v, "body"); (len(errs) == 0) != tt.ok {
			t.Errorf("%s: %v", tt.name, errs)
		}
	}
	status := jsonObject{"$ref": "#/components/schemas/AddressStatus"}
	for body, ok := range map[string]bool{
		`{"address": "a@b", "suppressed": false, "suppression": null, "events": [], "releases": []}`:           true,
		`{"address": "a@b", "suppressed": false, "suppression": 7, "events": [], "releases": []}`:              false,
		`{"address": "a@b", "suppressed": false, "suppression": null, "events": [{}], "releases": []}`:         false,
		`{"address": "a@b", "suppressed": false, "suppression": null, "events": null, "releases": []}`:         false,
		`{"address": "a@b", "suppressed": false, "suppression": {"address": 1}, "events": [], "releases": []}`: false,
	} {
		v, _ := specDecode([]byte(body))
		if errs := d.validate(status, v, "body"); (len(errs) == 0) != ok {
			t.Errorf("%s: %v", body, errs)
		}
	}
	if errs := d.validate(jsonObject{"type": "object", "properties": jsonObject{}}, jsonObject{"x": true}, "body"); len(errs) == 0 {
		t.Error("an object schema without additionalProperties took a field")
	}
	if errs := d.validate(jsonObject{"type": "string", "pattern": "x"}, "x", "body"); len(errs) == 0 {
		t.Error("an unknown keyword went unnoticed")
	}
}
