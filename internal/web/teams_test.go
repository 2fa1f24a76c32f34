package web_test

import (
	"context"
	"html"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/factor/sshkey"
	"github.com/twofold/twofold/internal/testenv"
)

// setSelect chooses value in a select box.
func setSelect(p *page, sel, value string) {
	p.t.Helper()
	eval[bool](p, `(document.querySelector(`+jsString(sel)+`).value = `+jsString(value)+`, true)`)
}

// TestBrowserTeams runs a team in Chromium: alice makes one, invites bob,
// shares her zone with it and requires two-factor; bob, in his own browser,
// finds the invitation with that warning and joins; once her elevation
// lapses the page asks her to confirm it's her before changing bob's role.
// Bob is kept out of its zone until he has a factor, and others learn
// nothing of the team.
func TestBrowserTeams(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	ctx := context.Background()
	secret := account(t, ts, "alice", false, true)
	account(t, ts, "bob", false, false)
	account(t, ts, "eve", false, false)
	if _, err := ts.Service.AddZone(ctx, "example.com", "alice", core.Meta{}); err != nil {
		t.Fatal(err)
	}

	p := newPage(t, ts.URL())
	p.shots = artifactsDir(t)
	p.signInWithCode(ts, "alice", secret)
	p.click(`nav a[href="/settings/teams"]`)
	p.wantPath("/settings/teams")
	if !p.exists("#no-teams") {
		t.Fatal("a new account is listed in a team")
	}
	p.fillAndSubmit("#team-name", "Acme hosting", "#create-team")
	p.wantPath("/settings/teams/")
	teamPath := strings.SplitN(p.path(), "?", 2)[0]
	if got := p.text("#my-role"); got != "owner" {
		t.Fatalf("the maker's role: %q", got)
	}

	setSelect(p, "#member-role", "ops")
	p.fillAndSubmit("#member-username", "bob", "#invite-button")
	if got := p.text("#invitation-bob"); !strings.Contains(got, "as ops") {
		t.Fatalf("bob's invitation on the page: %q", got)
	}
	if p.exists("#member-bob") {
		t.Fatal("bob is a member before accepting")
	}
	p.click("#share-zone-button")
	if !p.exists("#zone-example\\.com") {
		t.Fatal("the shared zone is not listed")
	}
	p.click("#policy-button")
	if got := p.text("#policy h2"); got != "Two-factor is required" {
		t.Fatalf("policy: %q", got)
	}
	p.screenshot("team")

	// Bob finds the invitation among his teams, told that the team
	// requires two-factor which he has not, and joins.
	bp := newPage(t, ts.URL())
	bp.shots = p.shots
	bp.signIn("bob", testPassword)
	bp.wantPath("/settings/security")
	if got := bp.text("#invitations-waiting"); !strings.Contains(got, "1 invitation to a team is waiting") {
		t.Fatalf("bob's security page does not tell of the invitation: %q", got)
	}
	bp.click("#invitations-waiting a")
	bp.wantPath("/settings/teams")
	if got := bp.text("#invitations"); !strings.Contains(got, "Acme hosting") || !strings.Contains(got, "Invited by alice") ||
		!strings.Contains(got, "two-factor required") || !strings.Contains(got, "add an authenticator") {
		t.Fatalf("bob's invitations: %q", got)
	}
	bp.screenshot("team-invitation")
	bp.click(`#invitations button[aria-label="Join Acme hosting"]`)
	bp.wantPath(teamPath)
	if got := bp.text("#my-role"); got != "ops" {
		t.Fatalf("bob's role once he joined: %q", got)
	}
	if bp.exists("#invitations") {
		t.Fatal("the invitation is still offered after joining")
	}
	bp.open("/settings/security")
	if bp.exists("#invitations-waiting") {
		t.Fatal("the security page still tells of an invitation after joining")
	}
	p.open(teamPath)
	if got := p.text("#member-bob .role"); got != "ops" || p.exists("#invitation-bob") {
		t.Fatalf("bob on alice's page after joining: role %q, invitation still listed: %v", got, p.exists("#invitation-bob"))
	}

	// Bob is kept out of the zone without a factor.
	api := testenv.NewClient(ts.URL())
	lr := api.Do(t, "POST", "/v1/login", map[string]string{"username": "bob", "password": testPassword})
	api.Token = lr.String("token")
	if r := api.Do(t, "GET", "/dns/v2/zones/example.com/records", nil); r.Status != http.StatusForbidden {
		t.Fatalf("bob without a factor: %d %s, want 403", r.Status, r.Body)
	}
	eve := newClient(t, ts.URL())
	eve.signIn("eve")
	if r := eve.get(teamPath); r.status != http.StatusNotFound {
		t.Fatalf("eve on the team's page: %d, want 404", r.status)
	}

	// Once the elevation lapses, changing a role asks for a code first.
	ts.Clock.Add(11 * time.Minute)
	p.open(teamPath)
	if !p.exists("#elevate_code") {
		t.Fatal("no code asked once the elevation lapsed")
	}
	setSelect(p, "#member-bob select", "read-only")
	p.click("#member-bob button[type=submit]")
	if got := p.text("#error"); got == "" {
		t.Fatal("a role changed without a fresh second factor")
	}
	p.fillAndSubmit("#elevate_code", testenv.TOTP(t, secret, ts.Clock.Now()), "#elevate-button")
	if p.exists("#elevate_code") {
		t.Fatalf("still asking for a code after confirming: %s", p.text("main"))
	}
	setSelect(p, "#member-bob select", "read-only")
	p.click("#member-bob button[type=submit]")
	if got := p.text("#member-bob .role"); got != "read-only" {
		t.Fatalf("bob's role after the change: %q (%s)", got, p.text("main"))
	}
}

// TestOperatorSeesTeams: an operator's page of a user lists the user's
// teams with the role in each.
func TestOperatorSeesTeams(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	opSecret := account(t, ts, "olivia", true, true)
	account(t, ts, "bob", false, false)
	bob := testenv.NewClient(ts.URL())
	bob.Token = bob.Do(t, "POST", "/v1/login", map[string]string{"username": "bob", "password": testPassword}).String("token")
	if r := bob.Do(t, "POST", "/v1/teams", map[string]string{"name": "Bob's crew"}); r.Status != 201 {
		t.Fatalf("make team: %d %s", r.Status, r.Body)
	}
	acct, err := ts.Store.AccountByUsername(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	op := newClient(t, ts.URL())
	op.signInWithCode(ts, "olivia", opSecret)
	r := op.get("/admin/users/" + acct.ID)
	if r.status != 200 || !strings.Contains(r.body, "Bob&#39;s crew") || !strings.Contains(r.body, `<span class="tag">owner</span>`) {
		t.Fatalf("operator's page of bob: status %d, team listed %v", r.status, strings.Contains(r.body, "crew"))
	}
	if r := op.get("/admin/users/" + func() string {
		a, _ := ts.Store.AccountByUsername(context.Background(), "olivia")
		return a.ID
	}()); !strings.Contains(r.body, "Not a member of any team.") {
		t.Fatal("an account in no team is not said to be so")
	}
}

// TestTeamInvitationPages: on the pages, an invitee declines and a manager
// withdraws an invitation; another account cannot answer one that is not
// its own, by posting directly.
func TestTeamInvitationPages(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	for _, n := range []string{"alice", "carol", "dave", "eve"} {
		account(t, ts, n, false, false)
	}
	alice := newClient(t, ts.URL())
	alice.signIn("alice")
	r := alice.post("/settings/teams", url.Values{"name": {"Acme"}})
	teamPath := r.url.Path
	if !strings.HasPrefix(teamPath, "/settings/teams/") {
		t.Fatalf("making a team landed on %s", r.url)
	}
	for _, who := range []string{"carol", "dave"} {
		if r := alice.post(teamPath+"/invitations", url.Values{"username": {who}, "role": {"ops"}}); !strings.Contains(r.body, "Invitation sent") {
			t.Fatalf("inviting %s: %d %s", who, r.status, r.body)
		}
	}
	// An invitation already waiting is refused with the reason, and what
	// was typed is kept; the name is shown as it is (the message's first
	// letter is put in upper case, so it starts with no name).
	if r := alice.post(teamPath+"/invitations", url.Values{"username": {"carol"}, "role": {"admin"}}); r.status != http.StatusConflict || !strings.Contains(r.body, "An invitation for carol is waiting already") || !strings.Contains(r.body, `value="carol"`) {
		t.Fatalf("inviting carol twice: %d", r.status)
	}
	if r := alice.post(teamPath+"/invitations", url.Values{"username": {"alice"}, "role": {"ops"}}); r.status != http.StatusConflict || !strings.Contains(pageError(r.body), "The team has alice as a member already") {
		t.Fatalf("inviting a member: %d %q", r.status, pageError(r.body))
	}

	invitationOf := func(c *client) string {
		t.Helper()
		m := regexp.MustCompile(`/settings/invitations/([^/"]+)/decline`).FindStringSubmatch(c.get("/settings/teams").body)
		if m == nil {
			t.Fatal("no invitation on the teams page")
		}
		return m[1]
	}
	carol := newClient(t, ts.URL())
	carol.signIn("carol")
	carolInv := invitationOf(carol)

	// Eve cannot answer carol's invitation.
	eve := newClient(t, ts.URL())
	eve.signIn("eve")
	if r := eve.post("/settings/invitations/"+carolInv+"/accept", url.Values{}); r.status != http.StatusNotFound {
		t.Fatalf("eve accepting carol's invitation: %d, want 404", r.status)
	}
	if r := carol.post("/settings/invitations/"+carolInv+"/decline", url.Values{}); !strings.Contains(r.body, "Invitation declined") || strings.Contains(r.body, `id="invitations"`) {
		t.Fatalf("carol declines: %d %s", r.status, r.body)
	}

	// Alice withdraws dave's; he is offered nothing then.
	dave := newClient(t, ts.URL())
	dave.signIn("dave")
	daveInv := invitationOf(dave)
	if r := alice.post(teamPath+"/invitations/"+daveInv+"/revoke", url.Values{}); !strings.Contains(r.body, "Invitation withdrawn") || strings.Contains(r.body, `id="invitation-dave"`) || strings.Contains(r.body, `id="invitation-carol"`) {
		t.Fatalf("alice withdraws: %d", r.status)
	}
	if r := dave.post("/settings/invitations/"+daveInv+"/accept", url.Values{}); r.status != http.StatusNotFound || !strings.Contains(r.body, "No such invitation") {
		t.Fatalf("dave accepting a withdrawn invitation: %d", r.status)
	}
	if r := dave.get(teamPath); r.status != http.StatusNotFound {
		t.Fatalf("dave on the team's page: %d, want 404", r.status)
	}
}

// TestTeamPageElevatesWithSSHKey: the team page's one "confirm it's you"
// box takes any second factor the account offers, not only a typed code:
// here a challenge signed with the real ssh-keygen.
func TestTeamPageElevatesWithSSHKey(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret := account(t, ts, "alice", false, true)
	account(t, ts, "bob", false, false)
	kp := testenv.SSHKeygen(t, "ed25519", 0)
	registerSSHKey(t, ts, "alice", secret, kp)

	alice := newClient(t, ts.URL())
	alice.signInWithCode(ts, "alice", secret)
	teamPath := alice.post("/settings/teams", url.Values{"name": {"Acme"}}).url.Path
	ts.Clock.Add(11 * time.Minute)
	if r := alice.get(teamPath + "?method=ssh_key"); !strings.Contains(r.body, `id="elevation-ssh-challenge"`) {
		t.Fatalf("the team page offers no SSH key to confirm it's you: %d", r.status)
	}
	r := alice.post("/settings/security/elevate/ssh", url.Values{"elevate_method": {"ssh_key"}, "return": {teamPath + "?method=ssh_key"}})
	m := regexp.MustCompile(`(?s)id="elevate-ssh-challenge">([^<]+)</pre>`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no challenge on the team page after asking for one: %s", r.url)
	}
	sig := testenv.SSHSign(t, kp.File, sshkey.Namespace, html.UnescapeString(m[1]))
	r = alice.post(teamPath+"/elevate", url.Values{"elevate_method": {"ssh_key"}, "elevate_signature": {sig}})
	if !strings.Contains(r.body, "Confirmed.") || strings.Contains(r.body, `id="elevate"`) {
		t.Fatalf("confirming with a signature: %d %s", r.status, r.body)
	}
	if r := alice.post(teamPath+"/invitations", url.Values{"username": {"bob"}, "role": {"ops"}}); !strings.Contains(r.body, "Invitation sent") {
		t.Fatalf("inviting once confirmed: %d", r.status)
	}
}

// TestTeamPageKeepsOutManagerWithoutFactor: an admin of a team that
// requires two-factor, with no authenticator, is told on the team's page
// why the forms to manage it are not there, and a change posted anyway is
// refused with that reason.
func TestTeamPageKeepsOutManagerWithoutFactor(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret := account(t, ts, "bob", false, true)
	account(t, ts, "gina", false, false)
	account(t, ts, "mallory", false, false)
	bob := newClient(t, ts.URL())
	bob.signInWithCode(ts, "bob", secret)
	teamPath := bob.post("/settings/teams", url.Values{"name": {"Acme"}}).url.Path
	if r := bob.post(teamPath, url.Values{"require_two_factor": {"on"}}); !strings.Contains(r.body, "Two-factor is required") {
		t.Fatalf("bob requires two-factor: %d %s", r.status, r.url)
	}
	if r := bob.post(teamPath+"/invitations", url.Values{"username": {"gina"}, "role": {"admin"}}); !strings.Contains(r.body, "Invitation sent") {
		t.Fatalf("inviting gina: %d", r.status)
	}
	gina := newClient(t, ts.URL())
	gina.signIn("gina")
	m := regexp.MustCompile(`/settings/invitations/([^/"]+)/accept`).FindStringSubmatch(gina.get("/settings/teams").body)
	if m == nil {
		t.Fatal("no invitation on gina's teams page")
	}
	if r := gina.post("/settings/invitations/"+m[1]+"/accept", url.Values{}); !strings.Contains(r.body, `id="team-needs-factor"`) || strings.Contains(r.body, `id="invite-member"`) {
		t.Fatalf("gina's team page: %d, want the reason and no invitation form", r.status)
	}
	r := gina.post(teamPath+"/invitations", url.Values{"username": {"mallory"}, "role": {"ops"}})
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "requires two-factor authentication") {
		t.Fatalf("gina invites anyway: %d, want 403 with the reason", r.status)
	}
}

// TestTeamPolicyFormSaysWhich: the team's settings form changes the
// two-factor policy only when it says "on" or "off", as the page's button
// does; any other value (a form cut short, or made elsewhere) is refused
// and the team still requires it.
func TestTeamPolicyFormSaysWhich(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret := account(t, ts, "bob", false, true)
	bob := newClient(t, ts.URL())
	bob.signInWithCode(ts, "bob", secret)
	teamPath := bob.post("/settings/teams", url.Values{"name": {"Acme"}}).url.Path
	if r := bob.post(teamPath, url.Values{"require_two_factor": {"on"}}); !strings.Contains(r.body, "Two-factor is required") {
		t.Fatalf("bob requires two-factor: %d %s", r.status, r.url)
	}
	requires := func() bool {
		tm, err := ts.Store.Team(context.Background(), strings.TrimPrefix(teamPath, "/settings/teams/"))
		if err != nil {
			t.Fatal(err)
		}
		return tm.RequireTwoFactor
	}
	for _, v := range []string{"", "no", "OFF", "false"} {
		r := bob.post(teamPath, url.Values{"require_two_factor": {v}})
		if r.status != http.StatusBadRequest || !strings.Contains(pageError(r.body), "did not say whether to require two-factor") {
			t.Errorf("require_two_factor=%q: %d %q, want 400 saying the form did not say", v, r.status, pageError(r.body))
		}
		if !requires() {
			t.Fatalf("require_two_factor=%q turned the team's requirement off", v)
		}
	}
	if r := bob.post(teamPath, url.Values{"require_two_factor": {"off"}}); r.status != 200 || requires() {
		t.Fatalf("require_two_factor=off: %d, the team still requires it: %v", r.status, requires())
	}
}

// TestLeaveTeamAsksToConfirm: a member with an authenticator whose session
// passed no recent second factor is asked on the team's page to confirm
// it's them before leaving (leaving may turn two-factor login off), and
// leaves once they have.
func TestLeaveTeamAsksToConfirm(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "alice", false, false)
	secret := account(t, ts, "bob", false, true)
	alice := newClient(t, ts.URL())
	alice.signIn("alice")
	teamPath := alice.post("/settings/teams", url.Values{"name": {"Acme"}}).url.Path
	if r := alice.post(teamPath+"/invitations", url.Values{"username": {"bob"}, "role": {"ops"}}); !strings.Contains(r.body, "Invitation sent") {
		t.Fatalf("inviting bob: %d %s", r.status, pageError(r.body))
	}
	bob := newClient(t, ts.URL())
	bob.signInWithCode(ts, "bob", secret)
	m := regexp.MustCompile(`/settings/invitations/([^/"]+)/accept`).FindStringSubmatch(bob.get("/settings/teams").body)
	if m == nil {
		t.Fatal("no invitation on bob's teams page")
	}
	if r := bob.post("/settings/invitations/"+m[1]+"/accept", url.Values{}); r.url.Path != teamPath {
		t.Fatalf("bob accepting: at %s (%d): %s", r.url, r.status, pageError(r.body))
	}
	ts.Clock.Add(11 * time.Minute) // the elevation of the sign-in lapses
	if r := bob.get(teamPath); !strings.Contains(r.body, `id="elevate"`) || !strings.Contains(r.body, "Leaving the team needs a fresh second factor") {
		t.Fatalf("bob's team page asks for no confirmation before leaving: %d", r.status)
	}
	leave := teamPath + "/members/bob/remove"
	r := bob.post(leave, url.Values{})
	if r.status != http.StatusForbidden || !strings.Contains(r.body, `id="elevate"`) {
		t.Fatalf("leaving unconfirmed: %d at %s, want 403 with the confirm form: %s", r.status, r.url, pageError(r.body))
	}
	r = bob.post(teamPath+"/elevate", url.Values{"elevate_method": {"totp"}, "elevate_code": {testenv.TOTP(t, secret, ts.Clock.Now())}})
	if !strings.Contains(r.body, "Confirmed.") {
		t.Fatalf("confirming: %d %s", r.status, pageError(r.body))
	}
	if r := bob.post(leave, url.Values{}); r.url.Path != "/settings/teams" || r.url.Query().Get("m") != "team_left" {
		t.Fatalf("leaving once confirmed: at %s (%d): %s", r.url, r.status, pageError(r.body))
	}
}

// TestDeleteTeamAsksFirst: "Delete the team" on the team's page leads to a
// page that asks to confirm, naming the team and telling that its members
// are told; the team is deleted only by that page's form, and "Cancel"
// leads back to it.
func TestDeleteTeamAsksFirst(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "alice", false, false)
	account(t, ts, "bob", false, false)
	alice := newClient(t, ts.URL())
	alice.signIn("alice")
	r := alice.post("/settings/teams", url.Values{"name": {"Acme"}})
	teamPath := r.url.Path
	if !strings.HasPrefix(teamPath, "/settings/teams/") {
		t.Fatalf("making a team landed on %s", r.url)
	}
	alice.post(teamPath+"/invitations", url.Values{"username": {"bob"}, "role": {"ops"}})
	bob := newClient(t, ts.URL())
	bob.signIn("bob")
	m := regexp.MustCompile(`/settings/invitations/([^/"]+)/accept`).FindStringSubmatch(bob.get("/settings/teams").body)
	if m == nil {
		t.Fatal("bob has no invitation")
	}
	bob.post("/settings/invitations/"+m[1]+"/accept", url.Values{})

	page := alice.get(teamPath)
	if _, ok := postForms(page.body)[teamPath+"/delete"]; ok {
		t.Fatal("the team's page deletes the team at once, with no question")
	}
	if !strings.Contains(page.body, `id="delete-team" href="`+teamPath+`/delete"`) {
		t.Fatalf("the team's page has no way to delete the team: %s", pageError(page.body))
	}
	ask := alice.get(teamPath + "/delete")
	if ask.status != http.StatusOK || !strings.Contains(ask.body, "Delete the team “Acme”?") || !strings.Contains(ask.body, "1 other member") ||
		!strings.Contains(ask.body, `href="`+teamPath+`"`) {
		t.Fatalf("asking to delete: %d: %s", ask.status, pageError(ask.body))
	}
	if _, ok := postForms(ask.body)[teamPath+"/delete"]; !ok {
		t.Fatal("the question has no form that deletes the team")
	}
	if r := alice.get(teamPath); r.status != http.StatusOK {
		t.Fatalf("the team is gone before it was confirmed: %d", r.status)
	}
	// Not the owner: bob is not asked.
	if r := bob.get(teamPath + "/delete"); r.status != http.StatusForbidden {
		t.Errorf("bob asked to delete the team: %d, want 403", r.status)
	}
	if r := alice.post(teamPath+"/delete", url.Values{}); r.url.Path != "/settings/teams" || !strings.Contains(r.body, "deleted") {
		t.Fatalf("confirming: at %s (%d): %s", r.url, r.status, pageError(r.body))
	}
	if r := alice.get(teamPath); r.status != http.StatusNotFound {
		t.Errorf("the team after its deletion: %d, want 404", r.status)
	}
}

// TestCreateTeamFormSentTwice: the form that makes a team, sent twice with
// its one-time token (a double click, or a reload, without JavaScript),
// makes one team, and the second answer leads to it.
func TestCreateTeamFormSentTwice(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "alice", false, false)
	c := newClient(t, ts.URL())
	c.signIn("alice")
	form := url.Values{"name": {"Beta"}, "once": {onceOf(t, c.get("/settings/teams").body, "/settings/teams")}}
	first := c.post("/settings/teams", maps.Clone(form))
	second := c.post("/settings/teams", maps.Clone(form))
	if !strings.HasPrefix(first.url.Path, "/settings/teams/") || second.url.Path != first.url.Path || second.url.Query().Get("m") != "team_created" {
		t.Errorf("the form sent twice: first at %s, second at %s (%d): %s", first.url, second.url, second.status, pageError(second.body))
	}
	if n := strings.Count(c.get("/settings/teams").body, ">Beta<"); n != 1 {
		t.Errorf("teams named Beta: got %d, want 1", n)
	}
}

// TestTeamPageRefusesWhatARoleMayNot: on the team's page, a member whose
// role may not stop sharing the team's zone, change a role or remove a
// member gets 403 saying so (the page, with the error), never 404 as if
// the zone or the team did not exist; someone outside the team gets 404.
// The zone's owner may stop sharing it whatever their role, and the page
// offers it to them. On SQLite and PostgreSQL.
func TestTeamPageRefusesWhatARoleMayNot(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			ctx := context.Background()
			secret := account(t, ts, "alice", false, false)
			for _, n := range []string{"bob", "carol"} {
				account(t, ts, n, false, false)
			}
			for _, n := range []string{"alice", "bob"} {
				if _, err := ts.Service.AddZone(ctx, n+".example", n, core.Meta{}); err != nil {
					t.Fatal(err)
				}
			}
			alice, bob := apiSession(t, ts, "alice", secret), apiSession(t, ts, "bob", "")
			r := alice.Do(t, "POST", "/v1/teams", map[string]string{"name": "Acme"})
			if r.Status != 201 {
				t.Fatalf("make team: %d %s", r.Status, r.Body)
			}
			id := r.JSON["team"].(map[string]any)["id"].(string)
			inv := alice.Do(t, "POST", "/v1/teams/"+id+"/invitations", map[string]string{"username": "bob", "role": "admin"})
			if inv.Status != 201 {
				t.Fatalf("invite bob: %d %s", inv.Status, inv.Body)
			}
			// bob shares his zone as an admin, then is made ops: the
			// zone stays his, and shared.
			for _, step := range []struct {
				c            *testenv.Client
				method, path string
				body         any
			}{
				{bob, "POST", "/v1/me/invitations/" + inv.JSON["invitation"].(map[string]any)["id"].(string) + "/accept", nil},
				{alice, "PUT", "/v1/teams/" + id + "/zones/alice.example", nil},
				{bob, "PUT", "/v1/teams/" + id + "/zones/bob.example", nil},
				{alice, "PATCH", "/v1/teams/" + id + "/members/bob", map[string]string{"role": "ops"}},
			} {
				if r := step.c.Do(t, step.method, step.path, step.body); r.Status/100 != 2 {
					t.Fatalf("%s %s: %d %s", step.method, step.path, r.Status, r.Body)
				}
			}

			team := "/settings/teams/" + id
			b := newClient(t, ts.URL())
			b.signIn("bob")
			page := b.get(team)
			if page.status != 200 || strings.Contains(page.body, `aria-label="Stop sharing alice.example"`) || !strings.Contains(page.body, `aria-label="Stop sharing bob.example"`) {
				t.Fatalf("bob's view of the team: %d, want Stop sharing for his zone alone:\n%s", page.status, page.body)
			}
			for _, tc := range []struct {
				name, path string
				form       url.Values
			}{
				{"stop sharing the team's zone", team + "/zones/alice.example/unshare", url.Values{}},
				{"change a role", team + "/members/alice/role", url.Values{"role": {"read-only"}}},
				{"remove a member", team + "/members/alice/remove", url.Values{}},
			} {
				r := b.post(tc.path, tc.form)
				if r.status != 403 || !strings.Contains(pageError(r.body), `role in the team "Acme" is ops`) {
					t.Errorf("%s as ops: got %d %q, want 403 naming the role", tc.name, r.status, pageError(r.body))
				}
			}
			if r := b.post(team+"/zones/bob.example/unshare", url.Values{}); r.url.Query().Get("m") != "zone_unshared" {
				t.Errorf("bob stops sharing his own zone: at %s: %s", r.url, pageError(r.body))
			}

			c := newClient(t, ts.URL())
			c.signIn("carol")
			for _, path := range []string{team + "/zones/alice.example/unshare", team + "/members/alice/remove"} {
				if r := c.post(path, url.Values{}); r.status != 404 {
					t.Errorf("%s by someone outside the team: got %d, want 404", path, r.status)
				}
			}
			if r := alice.Do(t, "GET", "/v1/teams/"+id, nil); r.Status != 200 || len(r.JSON["zones"].([]any)) != 1 || len(r.JSON["members"].([]any)) != 2 {
				t.Errorf("the team after the refusals: got %d %s, want alice.example shared and 2 members", r.Status, r.Body)
			}
		})
	}
}
