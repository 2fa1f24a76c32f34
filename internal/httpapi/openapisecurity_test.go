package httpapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/httpapi"
	"github.com/twofold/twofold/internal/testenv"
	"go.yaml.in/yaml/v3"
)

// documentedSecurity returns, for each "METHOD /path" of openapi.yaml, the
// names of the security schemes its operation declares, or the document's
// default when it declares none.
func documentedSecurity(t *testing.T) map[string][]string {
	t.Helper()
	type requirements []map[string][]string
	var doc struct {
		Security requirements                    `yaml:"security"`
		Paths    map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(httpapi.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	names := func(rs requirements) []string {
		var out []string
		for _, r := range rs {
			for name := range r {
				out = append(out, name)
			}
		}
		slices.Sort(out)
		return out
	}
	out := map[string][]string{}
	for path, item := range doc.Paths {
		for method, node := range item {
			if method == "parameters" {
				continue
			}
			var op struct {
				Security *requirements `yaml:"security"`
			}
			if err := node.Decode(&op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			rs := doc.Security
			if op.Security != nil {
				rs = *op.Security
			}
			out[strings.ToUpper(method)+" "+path] = names(rs)
		}
	}
	return out
}

// TestOpenAPISecurityMatchesServer checks each route's declared security
// against what the server accepts: a route that takes API keys answers an
// unknown key in HTTP Basic with 401 and a Bearer challenge (/v1 offers
// Basic only at POST /v1/token, TestAPIChallenge), and declares basicAuth;
// a route that does not (a session's alone answers a key 403, a push
// device's challenges TwofoldDevice), declares no basicAuth.
func TestOpenAPISecurityMatchesServer(t *testing.T) {
	// These authenticate a key only to refuse it (403, recorded as
	// admin.key_refused), as their descriptions say: no key may use them.
	refusesKeys := map[string]bool{
		"PATCH /v1/admin/users/{id}":  true,
		"DELETE /v1/admin/users/{id}": true,
	}
	s := testenv.NewServer(t, testenv.SQLiteDSN(t))
	documented := documentedSecurity(t)
	param := regexp.MustCompile(`\{[^}]+\}`)
	for route := range httpapi.New(nil, nil, slog.New(slog.DiscardHandler)).Routes() {
		method, path, _ := strings.Cut(route, " ")
		var body io.Reader
		if route == "POST /v1/token" { // asks for the key only with a grant
			body = strings.NewReader("grant_type=client_credentials")
		}
		req, err := http.NewRequestWithContext(t.Context(), method, s.URL()+param.ReplaceAllString(path, "x"), body)
		if err != nil {
			t.Fatal(err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.SetBasicAuth("nosuchkey", "nosuchsecret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		challenge := resp.Header.Get("WWW-Authenticate")
		takesKeys := resp.StatusCode == http.StatusUnauthorized && (strings.HasPrefix(challenge, "Bearer ") || strings.HasPrefix(challenge, "Basic ")) && !refusesKeys[route]
		declared, ok := documented[route]
		if !ok {
			continue // TestOpenAPIDocumentsEveryRoute reports it
		}
		if got := slices.Contains(declared, "basicAuth"); got != takesKeys {
			t.Errorf("%s declares security %v, but taking API keys is %v (an unknown key answers %d %q)", route, declared, takesKeys, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
}
