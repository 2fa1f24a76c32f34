package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold/internal/testenv"
)

// listed returns the factor with id as GET /v1/me/factors lists it to c.
func listed(t *testing.T, c *testenv.Client, id string) map[string]any {
	t.Helper()
	r := c.Do(t, "GET", "/v1/me/factors", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("list factors: got %d %s", r.Status, r.Body)
	}
	for _, f := range r.JSON["factors"].([]any) {
		if f := f.(map[string]any); f["id"] == id {
			return f
		}
	}
	t.Fatalf("factor %s is not listed: %s", id, r.Body)
	return nil
}

// TestFactorLocationAnswers: the Location of a factor's 201 is an address
// whose GET answers the factor as the list shows it, to each session with
// its own setup_session (the session that started the setup sees "this",
// another "other"), and, once confirmed, active. Another account's factor
// and an unknown id are 404. On SQLite and PostgreSQL.
func TestFactorLocationAnswers(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "gwen")
		addUser(t, s, "hugo")
		laptop, tablet := login(t, s, "gwen"), login(t, s, "gwen")
		r := laptop.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "phone"})
		if r.Status != http.StatusCreated {
			t.Fatalf("enrol: got %d %s, want 201", r.Status, r.Body)
		}
		id := r.JSON["factor"].(map[string]any)["id"].(string)
		secret := r.String("secret")
		loc := r.Header.Get("Location")
		if loc != "/v1/me/factors/"+id {
			t.Fatalf("Location %q, want /v1/me/factors/%s", loc, id)
		}

		for name, tt := range map[string]struct {
			c     *testenv.Client
			setup string
		}{
			"the session that started it": {laptop, "this"},
			"another session":             {tablet, "other"},
		} {
			t.Run(name, func(t *testing.T) {
				g := tt.c.Do(t, "GET", loc, nil)
				if g.Status != http.StatusOK {
					t.Fatalf("GET %s: got %d %s, want 200", loc, g.Status, g.Body)
				}
				got := g.JSON["factor"].(map[string]any)
				if diff := cmp.Diff(listed(t, tt.c, id), got); diff != "" {
					t.Errorf("GET %s differs from the list (-list +got):\n%s", loc, diff)
				}
				if got["setup_session"] != tt.setup || got["status"] != "pending" || got["secret"] != nil {
					t.Errorf("got %v, want pending with setup_session %q and no secret", got, tt.setup)
				}
			})
		}

		code := testenv.TOTP(t, secret, s.Clock.Now())
		if c := laptop.Do(t, "POST", loc+"/confirm", map[string]string{"code": code}); c.Status != http.StatusOK {
			t.Fatalf("confirm: got %d %s", c.Status, c.Body)
		}
		g := tablet.Do(t, "GET", loc, nil)
		if g.Status != http.StatusOK || g.JSON["factor"].(map[string]any)["status"] != "active" {
			t.Fatalf("GET %s once confirmed: got %d %s, want 200 active", loc, g.Status, g.Body)
		}
		if diff := cmp.Diff(listed(t, tablet, id), g.JSON["factor"]); diff != "" {
			t.Errorf("GET %s differs from the list (-list +got):\n%s", loc, diff)
		}

		wantProblem(t, login(t, s, "hugo").Do(t, "GET", loc, nil), http.StatusNotFound, "not-found")
		wantProblem(t, laptop.Do(t, "GET", "/v1/me/factors/nosuchfactor", nil), http.StatusNotFound, "not-found")
		wantProblem(t, testenv.NewClient(s.URL()).Do(t, "GET", loc, nil), http.StatusUnauthorized, "unauthorized")
	})
}
