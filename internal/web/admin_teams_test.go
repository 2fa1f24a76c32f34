package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// apiSession signs username in over the API, with a code from secret when
// it has one: the session passed a second factor, so it is elevated.
func apiSession(t *testing.T, ts *testenv.Server, username, secret string) *testenv.Client {
	t.Helper()
	c := testenv.NewClient(ts.URL())
	r := c.Do(t, "POST", "/v1/login", map[string]string{"username": username, "password": testPassword})
	if secret != "" {
		r = c.Do(t, "POST", "/v1/login/"+r.String("login_id")+"/verify", map[string]string{"method": "totp", "code": testenv.TOTP(t, secret, ts.Clock.Now())})
	}
	if r.Status != 200 || r.String("token") == "" {
		t.Fatalf("%s's login: %d %s", username, r.Status, r.Body)
	}
	c.Token = r.String("token")
	return c
}

// teamsFixture makes two teams: alice's "Acme hosting", which requires
// two-factor, with bob (no authenticator) as ops, carol invited as
// read-only, and alice's zone shared;
// and bob's "Night crew", with no policy. It returns Acme's id and alice's
// account.
func teamsFixture(t *testing.T, ts *testenv.Server) (string, twofold.Account) {
	t.Helper()
	ctx := context.Background()
	secret := account(t, ts, "alice", false, true)
	account(t, ts, "bob", false, false)
	if _, err := ts.Service.AddZone(ctx, "example.com", "alice", core.Meta{}); err != nil {
		t.Fatal(err)
	}
	if r := apiSession(t, ts, "bob", "").Do(t, "POST", "/v1/teams", map[string]string{"name": "Night crew"}); r.Status != 201 {
		t.Fatalf("bob's team: %d %s", r.Status, r.Body)
	}
	alice := apiSession(t, ts, "alice", secret)
	r := alice.Do(t, "POST", "/v1/teams", map[string]string{"name": "Acme hosting"})
	if r.Status != 201 {
		t.Fatalf("make team: %d %s", r.Status, r.Body)
	}
	id := r.JSON["team"].(map[string]any)["id"].(string)
	inv := alice.Do(t, "POST", "/v1/teams/"+id+"/invitations", map[string]string{"username": "bob", "role": "ops"})
	if inv.Status != 201 {
		t.Fatalf("invite bob: %d %s", inv.Status, inv.Body)
	}
	if r := apiSession(t, ts, "bob", "").Do(t, "POST", "/v1/me/invitations/"+inv.JSON["invitation"].(map[string]any)["id"].(string)+"/accept", nil); r.Status != 200 {
		t.Fatalf("bob accepts: %d %s", r.Status, r.Body)
	}
	for _, step := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/teams/" + id + "/invitations", map[string]string{"username": "carol", "role": "read-only"}},
		{"PUT", "/v1/teams/" + id + "/zones/example.com", nil},
		{"PATCH", "/v1/teams/" + id, map[string]any{"require_two_factor": true}},
	} {
		if r := alice.Do(t, step.method, step.path, step.body); r.Status/100 != 2 {
			t.Fatalf("%s %s: %d %s", step.method, step.path, r.Status, r.Body)
		}
	}
	a, err := ts.Store.AccountByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	return id, a
}

// TestBrowserAdminTeams: in Chromium, an operator opens "All teams" from the
// menu, sees each team with its owners, members, policy, members without
// two-factor and zones, searches by name, follows a team to its page of
// members and zones, and its owner to the owner's page. On SQLite and
// PostgreSQL.
func TestBrowserAdminTeams(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			opSecret := account(t, ts, "olivia", true, true)
			acme, alice := teamsFixture(t, ts)

			p := newPage(t, ts.URL())
			if name == "sqlite" {
				p.shots = artifactsDir(t)
			}
			p.signInWithCode(ts, "olivia", opSecret)
			p.openFromMenu("/admin/teams")
			if got := p.texts("#teams tbody .team-name"); strings.Join(got, ",") != "Acme hosting,Night crew" {
				t.Fatalf("teams listed: %q", got)
			}
			row := "#team-" + acme
			for sel, want := range map[string]string{
				row + " .owners":         "alice",
				row + " .members":        "2",
				row + " .policy":         "Required",
				row + " .without-factor": "1",
				row + " .zones":          "1",
			} {
				if got := strings.TrimSpace(p.text(sel)); got != want {
					t.Errorf("%s: %q, want %q", sel, got, want)
				}
			}
			if got := p.attr(row+" .owners a", "href"); got != "/admin/users/"+alice.ID {
				t.Errorf("owner links to %q, want alice's page", got)
			}
			if got := strings.TrimSpace(p.text(`#teams tr:not([id="team-` + acme + `"]) .policy`)); got != "Not required" {
				t.Errorf("Night crew's policy: %q", got)
			}
			p.screenshot("admin-teams")

			p.fillAndSubmit("#q", "ACME", "form.search button[type=submit]")
			if got := p.texts("#teams tbody .team-name"); len(got) != 1 || got[0] != "Acme hosting" {
				t.Fatalf("search for ACME: %q", got)
			}
			p.click(row + " .team-name")
			p.wantPath("/admin/teams/" + acme)
			if got := p.text("#policy h2"); got != "Two-factor is required" {
				t.Errorf("policy: %q", got)
			}
			for sel, want := range map[string]string{
				"#member-alice .role":       "owner",
				"#member-alice .two-factor": "On",
				"#member-bob .role":         "ops",
				"#member-bob .two-factor":   "Off",
				"#without-factor":           "1 member has no authenticator.",
			} {
				if got := strings.TrimSpace(p.text(sel)); got != want {
					t.Errorf("%s: %q, want %q", sel, got, want)
				}
			}
			if !p.exists(`#zone-example\.com`) || !strings.Contains(p.text(`#zone-example\.com`), "alice") {
				t.Errorf("shared zone: %q", p.text("#zones"))
			}
			if got := p.text("#invitation-carol"); !strings.Contains(got, "read-only") || !strings.Contains(got, "alice") {
				t.Errorf("carol's invitation on the operator's page: %q", got)
			}
			if p.exists("main form[method=post]") {
				t.Error("the operator's team page offers a change")
			}
			p.screenshot("admin-team")
			p.click(`#member-alice a`)
			p.wantPath("/admin/users/" + alice.ID)
			if !strings.Contains(p.text("#teams"), "Acme hosting") {
				t.Errorf("alice's page does not list her team: %q", p.text("#teams"))
			}
		})
	}
}

// TestAdminTeamsOperatorsOnly: the list of every team and a team's page
// there are refused to others than operators, on the pages and in the core,
// and a signed-out visitor is sent to sign in. On SQLite and PostgreSQL.
func TestAdminTeamsOperatorsOnly(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			acme, _ := teamsFixture(t, ts)
			ctx := context.Background()

			// bob is a member of the team, and no operator.
			bob := newClient(t, ts.URL())
			bob.signIn("bob")
			for _, path := range []string{"/admin/teams", "/admin/teams?q=acme", "/admin/teams/" + acme, "/admin/teams/nope"} {
				if r := bob.get(path); r.status != http.StatusForbidden || strings.Contains(r.body, "Acme hosting") {
					t.Errorf("GET %s as a user: status %d, want 403 without the team", path, r.status)
				}
			}
			if r := bob.get("/settings/teams"); strings.Contains(r.body, `href="/admin/teams"`) {
				t.Error("a user's page links to the operator's list of teams")
			}
			anon := newClient(t, ts.URL())
			if r := anon.get("/admin/teams/" + acme); r.url.Path != "/login" {
				t.Errorf("signed out: at %s, want /login", r.url)
			}
			res, err := ts.Service.Login(ctx, "bob", testPassword, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			a, err := ts.Service.Authenticate(ctx, res.Token)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ts.Service.SearchTeams(ctx, a, "", 10); twofold.ErrorCode(err) != twofold.CodeForbidden {
				t.Errorf("SearchTeams by a user: %v, want forbidden", err)
			}
			if _, err := ts.Service.InspectTeam(ctx, a, acme); twofold.ErrorCode(err) != twofold.CodeForbidden {
				t.Errorf("InspectTeam by a user: %v, want forbidden", err)
			}

			// An operator gets the pages; an unknown team is not found.
			_, op := signedIn(t, ts, "olivia", true)
			if r := op.get("/admin/teams"); r.status != 200 || !strings.Contains(r.body, "Acme hosting") || !strings.Contains(r.body, "Night crew") {
				t.Errorf("operator's list: status %d", r.status)
			}
			if r := op.get("/admin/teams?q=zzz"); r.status != 200 || !strings.Contains(r.body, `id="no-teams"`) {
				t.Errorf("search finding nothing: status %d", r.status)
			}
			if r := op.get("/admin/teams/nope"); r.status != http.StatusNotFound {
				t.Errorf("unknown team: status %d, want 404", r.status)
			}
			if r := op.post("/admin/teams/"+acme, url.Values{}); r.status != http.StatusMethodNotAllowed {
				t.Errorf("POST to the team's page: status %d, want 405", r.status)
			}
		})
	}
}
