package keystone_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/applicationcredentials"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/credentials"

	"github.com/twofold/twofold/internal/testenv"
)

// raw is an answer to a request made without gophercloud.
type raw struct {
	status int
	header http.Header
	body   map[string]any
}

// message is the Identity API error's message of r ("" when it has none).
func (r raw) message() string {
	e, _ := r.body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// do sends a request to s as an Identity API client would, with headers h.
func do(t *testing.T, s *testenv.Server, method, path, body string, h map[string]string) raw {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	json.NewDecoder(resp.Body).Decode(&v)
	return raw{status: resp.StatusCode, header: resp.Header, body: v}
}

// passwordBody is a sign-in with the password method alone.
func passwordBody(name string) string {
	return `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"` + name + `","domain":{"id":"default"},"password":"` + password + `"}}}}}`
}

// TestQueryParametersOnce: no Identity API parameter repeats, so one given
// twice is refused with 400 in the Identity API's error form, naming it,
// before anything is done (no token is issued for a sign-in so refused),
// as /v1 refuses it; so is a query that is not form-encoded, a ?nocatalog
// whose value does not leave the catalog out, and an ?allow_expired that is
// not true or false. Parameters Twofold does not read pass, and
// gophercloud's filters still work.
func TestQueryParametersOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		userID, _ := account(t, s, "quinn", false)
		r := do(t, s, "POST", "/v3/auth/tokens", passwordBody("quinn"), nil)
		tok := r.header.Get("X-Subject-Token")
		if r.status != http.StatusCreated || tok == "" {
			t.Fatalf("sign in: %d %v", r.status, r.body)
		}
		auth := map[string]string{"X-Auth-Token": tok, "X-Subject-Token": tok}
		apps := "/v3/users/" + userID + "/application_credentials"
		for _, c := range []struct {
			name, method, path, param string
		}{
			{"sign-in, nocatalog twice", "POST", "/v3/auth/tokens?nocatalog&nocatalog", "nocatalog"},
			{"sign-in, nocatalog=false", "POST", "/v3/auth/tokens?nocatalog=false", "nocatalog"},
			{"sign-in, nocatalog=maybe", "POST", "/v3/auth/tokens?nocatalog=maybe", "nocatalog"},
			{"sign-in, a semicolon", "POST", "/v3/auth/tokens?nocatalog;x=1", ""},
			{"sign-in, a bad escape", "POST", "/v3/auth/tokens?nocatalog&x=%zz", ""},
			{"sign-in, an unread parameter twice", "POST", "/v3/auth/tokens?x=1&x=2", "x"},
			{"validation, allow_expired twice", "GET", "/v3/auth/tokens?allow_expired=1&allow_expired=0", "allow_expired"},
			{"validation, allow_expired=maybe", "GET", "/v3/auth/tokens?allow_expired=maybe", "allow_expired"},
			{"validation, nocatalog twice", "GET", "/v3/auth/tokens?nocatalog&nocatalog", "nocatalog"},
			{"HEAD, nocatalog twice", "HEAD", "/v3/auth/tokens?nocatalog&nocatalog", ""},
			{"credentials, type twice", "GET", "/v3/credentials?type=totp&type=ec2", "type"},
			{"credentials, user_id twice", "GET", "/v3/credentials?user_id=" + userID + "&user_id=someone", "user_id"},
			{"application credentials, name twice", "GET", apps + "?name=a&name=b", "name"},
		} {
			t.Run(c.name, func(t *testing.T) {
				body, h := "", auth
				if c.method == "POST" {
					body, h = passwordBody("quinn"), nil
				}
				r := do(t, s, c.method, c.path, body, h)
				if r.status != http.StatusBadRequest {
					t.Fatalf("got %d %v, want 400", r.status, r.body)
				}
				if c.method == "POST" && r.header.Get("X-Subject-Token") != "" {
					t.Errorf("a token was issued")
				}
				if c.method == "HEAD" {
					return
				}
				if e, _ := r.body["error"].(map[string]any); e == nil || e["code"] != float64(400) || e["title"] != "Bad Request" {
					t.Errorf("body %v, want the Identity API's error form", r.body)
				}
				if c.param != "" && !strings.Contains(r.message(), `"`+c.param+`"`) {
					t.Errorf("message %q does not name %q", r.message(), c.param)
				}
			})
		}
		for _, c := range []struct {
			name, method, path string
			want               int
		}{
			{"sign-in, nocatalog=1", "POST", "/v3/auth/tokens?nocatalog=1", http.StatusCreated},
			{"sign-in, an unread parameter", "POST", "/v3/auth/tokens?x=1", http.StatusCreated},
			{"validation, allow_expired=true", "GET", "/v3/auth/tokens?allow_expired=true", http.StatusOK},
			{"validation, allow_expired=0 and nocatalog", "GET", "/v3/auth/tokens?allow_expired=0&nocatalog", http.StatusOK},
			{"HEAD, nocatalog", "HEAD", "/v3/auth/tokens?nocatalog", http.StatusOK},
			{"credentials, both filters", "GET", "/v3/credentials?type=totp&user_id=" + userID, http.StatusOK},
			{"application credentials, name", "GET", apps + "?name=a", http.StatusOK},
		} {
			body, h := "", auth
			if c.method == "POST" {
				body, h = passwordBody("quinn"), nil
			}
			if r := do(t, s, c.method, c.path, body, h); r.status != c.want {
				t.Errorf("%s: got %d %v, want %d", c.name, r.status, r.body, c.want)
			}
		}

		// gophercloud's filters, each given once.
		id, err := identity(t, authOpts(s, "quinn"))
		if err != nil {
			t.Fatal(err)
		}
		pages, err := credentials.List(id, credentials.ListOpts{UserID: userID, Type: "totp"}).AllPages(t.Context())
		if err != nil {
			t.Fatalf("credentials.List: %v", err)
		}
		if cs, err := credentials.ExtractCredentials(pages); err != nil || len(cs) != 0 {
			t.Errorf("credentials: %v, %v; want none", cs, err)
		}
		pages, err = applicationcredentials.List(id, userID, applicationcredentials.ListOpts{Name: "acme"}).AllPages(t.Context())
		if err != nil {
			t.Fatalf("applicationcredentials.List: %v", err)
		}
		if acs, err := applicationcredentials.ExtractApplicationCredentials(pages); err != nil || len(acs) != 0 {
			t.Errorf("application credentials: %v, %v; want none", acs, err)
		}
	})
}
