package web_test

import (
	"net/url"
	"testing"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestRemovalsSentAgain: a form that removes something, sent a second
// time (a double click without JavaScript, two tabs), leads to the list
// it came from saying the thing is no longer there, not to a bare "not
// found" page: deleting a team, leaving one, removing an SSH key,
// deleting a webhook.
func TestRemovalsSentAgain(t *testing.T) {
	ts, _, op := operatorFixture(t)
	ctx := t.Context()
	a, err := ts.Service.Authenticate(ctx, sessionCookie(t, op))
	if err != nil {
		t.Fatal(err)
	}
	nina := newClient(t, ts.URL())
	nina.signIn("nina")
	n, err := ts.Service.Authenticate(ctx, sessionCookie(t, nina))
	if err != nil {
		t.Fatal(err)
	}
	doomed, err := ts.Service.CreateTeam(ctx, a, "Doomed", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := ts.Service.CreateTeam(ctx, a, "Kept", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := ts.Service.InviteTeamMember(ctx, a, kept.ID, "nina", "ops", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Service.AcceptTeamInvitation(ctx, n, inv.ID, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	kp := testenv.SSHKeygen(t, "ed25519", 0)
	key, err := ts.Service.AddSSHKey(ctx, a, "laptop", kp.Public, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	hook, _, err := ts.Service.CreateWebhook(ctx, a, core.NewWebhook{URL: "https://hooks.example.com/twofold"}, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    *client
		path string
		done string // the first sending's page, with its notice
		gone string // the second's
	}{
		{"delete a team", op, "/settings/teams/" + doomed.ID + "/delete", "/settings/teams?m=team_deleted", "/settings/teams?m=team_gone"},
		{"leave a team", nina, "/settings/teams/" + kept.ID + "/members/nina/remove", "/settings/teams?m=team_left", "/settings/teams?m=team_gone"},
		{"remove an SSH key", op, "/settings/security/ssh-keys/" + key.Key.ID + "/remove", "/settings/security/ssh-keys?m=ssh_key_cancelled", "/settings/security/ssh-keys?m=ssh_key_gone"},
		{"delete a webhook", op, "/admin/webhooks/" + hook.ID + "/delete", "/admin/webhooks?m=webhook_deleted", "/admin/webhooks?m=webhook_gone"},
	} {
		for i, want := range []string{tc.done, tc.gone} {
			r := tc.c.post(tc.path, url.Values{})
			if got := r.url.RequestURI(); r.status != 200 || got != want {
				t.Errorf("%s, sending %d: at %s (%d), want %s: %s", tc.name, i+1, got, r.status, want, pageError(r.body))
			}
		}
	}
}
