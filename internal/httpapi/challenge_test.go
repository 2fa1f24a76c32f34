package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// TestAPIChallenge: a 401 of /v1 offers Bearer alone, so that a browser
// that opened a /v1 address shows no login dialog and keeps no key typed
// there; /v1 still takes an API key sent as HTTP Basic. The DNS API,
// whose clients send HTTP Basic, offers it beside Bearer, and POST
// /v1/token answers a key sent as HTTP Basic with a Basic challenge
// (RFC 6749 §5.2).
func TestAPIChallenge(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "alice")
		k := makeKey(t, login(t, s, "alice"), "reader", nil, "account * read")
		if r := keyClient(s, k.id, k.secret).Do(t, "GET", "/v1/me", nil); r.Status != 200 {
			t.Fatalf("GET /v1/me with the key as HTTP Basic: got %d %s, want 200", r.Status, r.Body)
		}
		const bearer, invalid = `Bearer realm="twofold"`, `Bearer realm="twofold", error="invalid_token"`
		for _, tt := range []struct {
			method, path string
			auth         string // "basic", "bearer" (each a wrong key), or none
			want         string
		}{
			{"GET", "/v1/me", "", bearer},
			{"GET", "/v1/me", "basic", bearer},
			{"GET", "/v1/me", "bearer", invalid},
			{"GET", "/v1/me/api-keys", "basic", bearer},
			{"GET", "/v1/teams", "", bearer},
			{"GET", "/dns/v2/zones", "", bearer + `, Basic realm="twofold"`},
			{"GET", "/dns/v2/zones/example.com/records", "basic", bearer + `, Basic realm="twofold"`},
			{"GET", "/dns/v2/zones", "bearer", invalid + `, Basic realm="twofold"`},
		} {
			c := testenv.NewClient(s.URL())
			switch tt.auth {
			case "basic":
				c = keyClient(s, k.id, otherSecret(k.secret))
			case "bearer":
				c.Token = k.id + ":" + otherSecret(k.secret)
			}
			r := c.Do(t, tt.method, tt.path, nil)
			if got := r.Header.Values("WWW-Authenticate"); r.Status != http.StatusUnauthorized || len(got) != 1 || got[0] != tt.want {
				t.Errorf("%s %s (%s): got %d, WWW-Authenticate %q, want 401 and %q", tt.method, tt.path, tt.auth, r.Status, got, tt.want)
			}
		}
		status, got, _ := token(t, s, k.id, otherSecret(k.secret), url.Values{"grant_type": {"client_credentials"}})
		if want := `Basic realm="twofold"`; status != http.StatusUnauthorized || got != want {
			t.Errorf("POST /v1/token with a wrong key as HTTP Basic: got %d, WWW-Authenticate %q, want 401 and %q", status, got, want)
		}
	})
}
