package httpapi

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// eachOperation decodes each operation of openapi.yaml, path by path and
// method by method in order, into an Op and calls f with it; it returns
// how many there were.
func eachOperation[Op any](t *testing.T, f func(method, path string, op Op)) int {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, path := range sortedKeys(doc.Paths) {
		for _, method := range sortedKeys(doc.Paths[path]) {
			if !httpMethods[method] {
				continue
			}
			n++
			var op Op
			node := doc.Paths[path][method]
			if err := node.Decode(&op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			f(method, path, op)
		}
	}
	return n
}

func TestOpenAPIRoutesReader(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    []string
		wantErr bool
	}{
		{
			name: "paths and methods",
			doc: `openapi: 3.1.0
paths:
  /a:
    get:
      responses:
        "200":
          description: ok
    post:
      summary: x
  "/b/{id}":
    parameters:
      - name: id
    delete:
      responses: {}
components:
  schemas:
    put:
      type: object
`,
			want: []string{"DELETE /b/{id}", "GET /a", "POST /a"},
		},
		{name: "no paths section", doc: "openapi: 3.1.0\ninfo:\n  title: x\n", wantErr: true},
		{name: "empty paths", doc: "paths: {}\n", wantErr: true},
		{name: "odd indentation", doc: "paths:\n   /a:\n     get: {}\n", wantErr: true},
		{name: "upper case method", doc: "paths:\n  /a:\n    GET:\n      responses: {}\n", wantErr: true},
		{name: "method without path", doc: "paths:\n    get: {}\n", wantErr: true},
		{name: "path twice", doc: "paths:\n  /a:\n    get: {}\n  /a:\n    post: {}\n", wantErr: true},
		{name: "method twice", doc: "paths:\n  /a:\n    get: {}\n    get: {}\n", wantErr: true},
		{name: "tab", doc: "paths:\n  /a:\n\tget: {}\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DocumentedRoutes([]byte(tt.doc))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got routes %v and no error, want an error", sortedKeys(got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sortedKeys(got), tt.want) {
				t.Errorf("got %v, want %v", sortedKeys(got), tt.want)
			}
		})
	}
}

// TestOpenAPIDocumentsEveryRoute checks that openapi.yaml documents exactly
// the routes the server registers (SPEC §3: the API is documented).
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	documented, err := DocumentedRoutes(OpenAPI)
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	routes := New(nil, nil, slog.New(slog.DiscardHandler)).Routes()
	for r := range documented {
		if _, path, _ := strings.Cut(r, " "); strings.HasPrefix(path, "/dns/v2/") {
			delete(documented, r) // the DNS API's, which internal/dnsapi checks
		}
	}
	for _, r := range sortedKeys(routes) {
		if !documented[r] {
			t.Errorf("route %q is served but not documented in openapi.yaml", r)
		}
	}
	for _, r := range sortedKeys(documented) {
		if _, ok := routes[r]; !ok {
			t.Errorf("openapi.yaml documents %q, which Routes() does not serve", r)
		}
	}
}

// TestOpenAPIMalformedQuery checks that every operation in openapi.yaml,
// of /v1 and of the DNS API alike, documents the 400 invalid problem that
// ParsableQuery answers a malformed query string with (`%zz`, `;`), and
// that every route the server registers answers so.
func TestOpenAPIMalformedQuery(t *testing.T) {
	type operation struct {
		Responses map[string]struct {
			Ref string `yaml:"$ref"`
		} `yaml:"responses"`
	}
	n := eachOperation(t, func(method, path string, op operation) {
		r, ok := op.Responses["400"]
		if !ok {
			t.Errorf("%s %s documents no 400 for a malformed query", strings.ToUpper(method), path)
		} else if r.Ref != "" && r.Ref != "#/components/responses/Invalid" {
			t.Errorf("%s %s: 400 is %s, want #/components/responses/Invalid", strings.ToUpper(method), path, r.Ref)
		}
	})
	if n == 0 {
		t.Fatal("no operations read from openapi.yaml")
	}
	var doc struct {
		Components struct {
			Responses map[string]struct {
				Description string `yaml:"description"`
			} `yaml:"responses"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	if d := doc.Components.Responses["Invalid"].Description; !strings.Contains(d, "%zz") || !strings.Contains(d, "semicolon") {
		t.Errorf("the Invalid response does not say a malformed query answers so: %q", d)
	}

	mux := http.NewServeMux()
	New(nil, nil, slog.New(slog.DiscardHandler)).Register(mux)
	for _, route := range sortedKeys(New(nil, nil, slog.New(slog.DiscardHandler)).Routes()) {
		method, path, _ := strings.Cut(route, " ")
		path = strings.NewReplacer("{", "", "}", "").Replace(path)
		for _, q := range []string{"a=%zz", "a=1;b=2"} {
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, httptest.NewRequest(method, path+"?"+q, nil))
			if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), ProblemTypeBase+"invalid") {
				t.Errorf("%s %s?%s: got %d %s, want 400 invalid", method, path, q, w.Code, w.Body)
			}
		}
	}
}

// TestOpenAPIProblemTypes checks that the file lists every stable problem
// type the problem writer can produce, and no other.
func TestOpenAPIProblemTypes(t *testing.T) {
	want := map[string]bool{ProblemTypeBase + "not-ready": true, // GET /readyz
		ProblemTypeBase + "method-not-allowed": true} // a known /v1/ path with another method
	for code := range statuses {
		want[ProblemTypeBase+string(code)] = true
	}
	got := map[string]bool{}
	for line := range strings.Lines(string(OpenAPI)) {
		item, ok := strings.CutPrefix(strings.TrimSpace(line), "- ")
		if ok && strings.HasPrefix(item, ProblemTypeBase) {
			if got[item] {
				t.Errorf("problem type %s listed twice", item)
			}
			got[item] = true
		}
	}
	if g, w := sortedKeys(got), sortedKeys(want); !slices.Equal(g, w) {
		t.Errorf("got problem types %v, want %v", g, w)
	}
}

func TestOpenAPIServed(t *testing.T) {
	mux := http.NewServeMux()
	New(nil, nil, slog.New(slog.DiscardHandler)).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	res, err := http.Get(srv.URL + "/v1/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("got status %d, want %d", res.StatusCode, http.StatusOK)
	}
	if got, want := res.Header.Get("Content-Type"), "application/yaml"; got != want {
		t.Errorf("got Content-Type %q, want %q", got, want)
	}
	if !bytes.Equal(body, OpenAPI) {
		t.Errorf("got %d bytes, want the embedded openapi.yaml (%d bytes)", len(body), len(OpenAPI))
	}
	if !bytes.HasPrefix(OpenAPI, []byte("# ")) || !bytes.Contains(OpenAPI, []byte("\nopenapi: 3.1.")) {
		t.Errorf("openapi.yaml does not declare openapi: 3.1.x")
	}
}

// TestOpenAPIIsValidYAML parses the file as YAML, as every client generator
// will, and checks that each $ref names a part of it and each operation has
// an operationId of its own. (A summary with an unquoted ": " once made the
// whole file unreadable to them.)
func TestOpenAPIIsValidYAML(t *testing.T) {
	var doc map[string]any
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml is not valid YAML: %v", err)
	}
	var walk func(where string, v any)
	refs := map[string]string{}
	walk = func(where string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if ref, ok := x.(string); ok && k == "$ref" {
					refs[ref] = where
				}
				walk(where+"/"+k, x)
			}
		case []any:
			for _, x := range v {
				walk(where, x)
			}
		}
	}
	walk("", doc)
	for _, ref := range sortedKeys(refs) {
		var node any = doc
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			m, _ := node.(map[string]any)
			node = m[part]
		}
		if !strings.HasPrefix(ref, "#/") || node == nil {
			t.Errorf("%s: $ref %q names nothing in the file", refs[ref], ref)
		}
	}
	ids := map[string]string{}
	paths, _ := doc["paths"].(map[string]any)
	for _, path := range sortedKeys(paths) {
		ops, _ := paths[path].(map[string]any)
		for method, op := range ops {
			o, ok := op.(map[string]any)
			if !ok || method == "parameters" {
				continue
			}
			id, _ := o["operationId"].(string)
			if id == "" {
				t.Errorf("%s %s has no operationId", method, path)
			} else if other, dup := ids[id]; dup {
				t.Errorf("operationId %q of %s %s is also that of %s", id, method, path, other)
			}
			ids[id] = method + " " + path
		}
	}
}

// TestOpenAPIRequestBodies checks takesBody, the routes that read a body
// (every other refuses one), against the operations openapi.yaml gives a
// requestBody.
func TestOpenAPIRequestBodies(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	bodies := takesBody()
	for _, pattern := range sortedKeys(New(nil, nil, slog.New(slog.DiscardHandler)).Routes()) {
		method, path, _ := strings.Cut(pattern, " ")
		op, _ := doc.Paths[path][strings.ToLower(method)].(map[string]any)
		documented := op["requestBody"] != nil
		if documented != bodies[pattern] {
			t.Errorf("%s: openapi.yaml gives a requestBody: %v; takesBody: %v", pattern, documented, bodies[pattern])
		}
		delete(bodies, pattern)
	}
	for _, pattern := range sortedKeys(bodies) {
		t.Errorf("takesBody lists %q, which Routes() does not serve", pattern)
	}
}

// TestOpenAPITooLarge checks that every operation that takes a request
// body, of /v1 and of the DNS API alike, documents the 413 its body over
// the bound gets: the too-large problem, or for POST /v1/token OAuth's
// error form, which that route answers in.
func TestOpenAPITooLarge(t *testing.T) {
	type operation struct {
		RequestBody map[string]any `yaml:"requestBody"`
		Responses   map[string]struct {
			Ref     string `yaml:"$ref"`
			Content map[string]struct {
				Schema struct {
					Ref string `yaml:"$ref"`
				} `yaml:"schema"`
			} `yaml:"content"`
		} `yaml:"responses"`
	}
	n := 0
	eachOperation(t, func(method, path string, op operation) {
		r, ok := op.Responses["413"]
		switch {
		case op.RequestBody == nil && ok:
			t.Errorf("%s %s takes no body but documents a 413", strings.ToUpper(method), path)
		case op.RequestBody == nil:
		case !ok:
			t.Errorf("%s %s takes a body but documents no 413 for one too large", strings.ToUpper(method), path)
		case path == "/v1/token":
			n++
			if got := r.Content["application/json"].Schema.Ref; got != "#/components/schemas/OAuthError" {
				t.Errorf("POST /v1/token: 413 is %q, want OAuth's error (#/components/schemas/OAuthError)", got)
			}
		default:
			n++
			if r.Ref != "#/components/responses/TooLarge" {
				t.Errorf("%s %s: 413 is %q, want #/components/responses/TooLarge", strings.ToUpper(method), path, r.Ref)
			}
		}
	})
	if want := len(takesBody()); n < want {
		t.Errorf("%d operations document a 413, want at least the %d /v1 routes that take a body", n, want)
	}
}

// TestOpenAPIProblemMembers checks that the Problem schema describes every
// member a problem can have (Problem's JSON names), the extension members
// naming the refused input among them, and no member it cannot have.
func TestOpenAPIProblemMembers(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `yaml:"properties"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	documented := doc.Components.Schemas["Problem"].Properties
	members := map[string]bool{}
	pt := reflect.TypeFor[Problem]()
	for i := range pt.NumField() {
		name, _, _ := strings.Cut(pt.Field(i).Tag.Get("json"), ",")
		members[name] = true
		if documented[name] == nil {
			t.Errorf("the Problem schema does not describe member %q", name)
		}
	}
	for name := range documented {
		if !members[name] {
			t.Errorf("the Problem schema describes member %q, which no problem has", name)
		}
	}
}
