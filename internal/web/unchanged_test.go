package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestFormsSentAgainChangeNothing: each of these forms, sent a second time
// with the same fields (a reload, a double click, or another session was
// first), changes nothing and says so, where its first sending tells of
// the change: renaming an authenticator, turning two-factor at sign-in off
// and on, a member's role, the team's settings, and sharing a zone with
// the team. Each change is audited once (the role's in the log of the
// member whose role changed, who is told of it with that event). On SQLite
// and PostgreSQL.
func TestFormsSentAgainChangeNothing(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			ts := testenv.NewServer(t, dsn(t))
			_, bob := signedIn(t, ts, "bob", false)
			account(t, ts, "cat", false, false)
			if _, err := ts.Service.AddZone(ctx, "bob.example", "bob", core.Meta{}); err != nil {
				t.Fatal(err)
			}
			team := bob.post("/settings/teams", url.Values{"name": {"Acme"}}).url.Path
			if err := ts.Store.AddTeamMember(ctx, strings.TrimPrefix(team, "/settings/teams/"), userID(t, ts, "cat"), twofold.RoleOps, ts.Clock.Now()); err != nil {
				t.Fatal(err)
			}
			factors, err := ts.Store.Factors(ctx, userID(t, ts, "bob"))
			if err != nil || len(factors) != 1 {
				t.Fatalf("bob's factors: %v, %v", factors, err)
			}
			for _, step := range []struct {
				path              string
				form              url.Values
				done, again, told string
				who, event        string // whose audit log has event once
			}{
				{"/settings/security/factors/" + factors[0].ID + "/rename", url.Values{"label": {"Work phone"}}, "renamed", "name_same", "Authenticator renamed", "bob", "factor.renamed"},
				{"/settings/security/two-factor", url.Values{"required": {"false"}}, "required_off", "required_off_already", "no longer asks", "bob", "two_factor.not_required"},
				{"/settings/security/two-factor", url.Values{"required": {"true"}}, "required_on", "required_on_already", "now asks", "bob", "two_factor.required"},
				{team + "/members/cat/role", url.Values{"role": {"admin"}}, "role_changed", "role_same", "Role changed", "cat", "team.role_changed"},
				{team, url.Values{"name": {"Acme Ops"}}, "team_updated", "team_same", "Team settings saved", "bob", "team.renamed"},
				{team + "/zones", url.Values{"zone": {"bob.example"}}, "zone_shared", "zone_shared_already", "Zone shared with the team", "bob", "dns.zone_shared"},
			} {
				for i, want := range []string{step.done, step.again} {
					r := bob.post(step.path, step.form)
					if r.url.Query().Get("m") != want {
						t.Fatalf("%s %v, sent %d times: at %s (%d %s), want ?m=%s", step.path, step.form, i+1, r.url, r.status, pageError(r.body), want)
					}
					notice := pageNotice(r.body)
					if said := strings.Contains(notice, step.told); said != (i == 0) {
						t.Errorf("%s %v, sent %d times: the page tells of the change: %v, want %v", step.path, step.form, i+1, said, i == 0)
					}
					if i == 1 && !strings.Contains(notice, "nothing was changed") {
						t.Errorf("%s %v sent again: the page does not say nothing was changed", step.path, step.form)
					}
				}
				if evs := eventsOf(t, ts, step.who, step.event); len(evs) != 1 {
					t.Errorf("%s %v sent twice: %d %s events of %s, want 1", step.path, step.form, len(evs), step.event, step.who)
				}
			}
		})
	}
}
