package httpapi

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// httpMethods are the operation keys of an OpenAPI path item.
var httpMethods = map[string]bool{
	"get": true, "put": true, "post": true, "delete": true, "options": true, "head": true, "patch": true, "trace": true,
}

// pathItemFields are the other keys a path item may hold.
var pathItemFields = map[string]bool{"summary": true, "description": true, "servers": true, "parameters": true, "$ref": true}

// yamlKey returns the key of a "key:" or "key: value" line (already trimmed
// of indentation), unquoted.
func yamlKey(s string) (string, bool) {
	k, _, ok := strings.Cut(s, ": ")
	if !ok {
		if !strings.HasSuffix(s, ":") {
			return "", false
		}
		k = strings.TrimSuffix(s, ":")
	}
	if len(k) >= 2 && (k[0] == '"' || k[0] == '\'') && k[len(k)-1] == k[0] {
		k = k[1 : len(k)-1]
	}
	return k, k != ""
}

// openAPIRoutes returns the operations documented under "paths:" as
// "METHOD /path", reading the file's regular layout line by line: paths are
// keys indented by 2 spaces, their operations lower case HTTP methods indented
// by 4. Anything that breaks the layout is an error, so that the reader can
// never silently miss an operation.
func openAPIRoutes(doc []byte) (map[string]bool, error) {
	routes := map[string]bool{}
	paths := map[string]bool{}
	in, seen := false, false
	path := ""
	for i, line := range strings.Split(string(doc), "\n") {
		n := i + 1
		line = strings.TrimRight(line, " \r")
		trimmed := strings.TrimLeft(line, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.ContainsRune(line, '\t') {
			return nil, fmt.Errorf("line %d: tab character", n)
		}
		indent := len(line) - len(trimmed)
		if indent == 0 {
			in = line == "paths:"
			if in && seen {
				return nil, fmt.Errorf("line %d: second paths: section", n)
			}
			seen = seen || in
			continue
		}
		if !in {
			continue
		}
		switch indent {
		case 2:
			key, ok := yamlKey(trimmed)
			if !ok || !strings.HasPrefix(key, "/") {
				return nil, fmt.Errorf("line %d: want a path key such as \"  /v1/x:\", got %q", n, line)
			}
			if paths[key] {
				return nil, fmt.Errorf("line %d: path %s documented twice", n, key)
			}
			paths[key], path = true, key
		case 4:
			key, ok := yamlKey(trimmed)
			switch {
			case !ok || path == "":
				return nil, fmt.Errorf("line %d: want an operation key under a path, got %q", n, line)
			case httpMethods[key]:
				r := strings.ToUpper(key) + " " + path
				if routes[r] {
					return nil, fmt.Errorf("line %d: %s documented twice", n, r)
				}
				routes[r] = true
			case !pathItemFields[key]:
				return nil, fmt.Errorf("line %d: %q is neither a lower case HTTP method nor a path item field", n, key)
			}
		default:
			if indent < 4 || indent%2 != 0 {
				return nil, fmt.Errorf("line %d: indentation %d under paths: is not a multiple of 2", n, indent)
			}
		}
	}
	if !seen {
		return nil, fmt.Errorf("no paths: section")
	}
	return routes, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
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
			got, err := openAPIRoutes([]byte(tt.doc))
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
	documented, err := openAPIRoutes(OpenAPI)
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	routes := New(nil, nil, slog.New(slog.DiscardHandler)).Routes()
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
