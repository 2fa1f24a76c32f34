package web_test

import (
	"cmp"
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/factor/sshkey"
	"github.com/twofold/twofold/internal/testenv"
)

// TestOperatorConfirmTitlesNameTheUser: every page on which an operator
// acts on one account (GET /admin/users/{id}/…, walked from the routes so
// that a page added later is checked too) names that account in its
// <title>, after the action ("Suspend account — ulrike · Twofold"), as its
// heading does, so that tabs and the browser's history tell the same
// action on two accounts apart; and no two such pages share a title.
func TestOperatorConfirmTitlesNameTheUser(t *testing.T) {
	ts, opSecret, op := operatorFixture(t)
	ctx := context.Background()
	// ulrike has two-factor, an API key and a reset waiting, so that every
	// page shows its form rather than sending the operator elsewhere.
	const user = "ulrike"
	secret := account(t, ts, user, false, true)
	id := userID(t, ts, user)
	key, _, err := ts.Service.CreateAPIKey(ctx, sessionOf(t, ts, user, secret), core.NewAPIKey{Name: "deploy", Permits: []twofold.Permit{{Service: "account", Resource: "*", Actions: []string{"read"}}}}, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Service.RequestTwoFactorReset(ctx, sessionOf(t, ts, "opal", opSecret), id, core.Meta{}); err != nil {
		t.Fatal(err)
	}

	titles := map[string]string{} // title → path
	for pattern := range pageRoutes(t, ts) {
		path, ok := strings.CutPrefix(pattern, "GET /admin/users/{id}/")
		if !ok {
			continue
		}
		path = "/admin/users/" + id + "/" + strings.ReplaceAll(path, "{key}", key.ID)
		r := op.get(path)
		if r.status != http.StatusOK || r.url.Path != path {
			t.Errorf("GET %s: status %d at %s, want 200 there", path, r.status, r.url.Path)
			continue
		}
		title, heading := pageTitle(r.body), pageHeading(r.body)
		if !strings.HasSuffix(title, " — "+user+" · Twofold") || strings.HasPrefix(title, " — ") {
			t.Errorf("GET %s: title %q, want the action, then %q", path, title, " — "+user+" · Twofold")
		}
		if !strings.Contains(heading, user) {
			t.Errorf("GET %s: heading %q, want it to name %s", path, heading, user)
		}
		if other, dup := titles[title]; dup {
			t.Errorf("GET %s and GET %s have the same title %q", path, other, title)
		}
		titles[title] = path
	}
	if len(titles) < 8 {
		t.Errorf("walked %d pages of an operator acting on an account, want at least 8", len(titles))
	}
}

// TestConfirmTitlesNameWhatTheyActOn: every confirmation page of one thing
// (an authenticator, a setup, a push device, a security key, an SSH key, a
// team, a webhook) names it in its <title>, after the action, and in its
// heading, escaped (names may hold "<" and "&"); a webhook by its
// description and its URL's host, never the path or query, which may hold
// the receiver's token. The GET pages with a path parameter are walked
// from the routes, so that a confirmation page added later must be named
// here, or among those that confirm nothing. On SQLite and PostgreSQL.
func TestConfirmTitlesNameWhatTheyActOn(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t), testenv.NewSMSGateway(t).Option())
			ctx := context.Background()
			opSecret, op := signedIn(t, ts, "opal", true)
			ts.Clock.Add(30 * time.Second) // opal's code is used up
			secret := account(t, ts, "uma", false, true)
			a := sessionOf(t, ts, "uma", secret)
			ts.Clock.Add(30 * time.Second)

			made := map[string]string{} // label → factor id
			for _, n := range []core.NewFactor{{Type: twofold.FactorTOTP, Label: "Tom & <Jerry>"}, {Type: twofold.FactorTOTP, Label: "spare <2>"}, {Type: twofold.FactorWebAuthn, Label: "key <4>"}} {
				e, err := ts.Service.EnrolFactor(ctx, a, n, core.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				made[n.Label] = e.Factor.ID
				if n.Label == "Tom & <Jerry>" {
					if _, err := ts.Service.ConfirmFactor(ctx, a, e.Factor.ID, testenv.TOTP(t, e.Secret, ts.Clock.Now()), core.Meta{}); err != nil {
						t.Fatal(err)
					}
				}
			}
			pe, err := ts.Service.EnrolPush(ctx, a, "pad <3>", ts.URL(), core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			pending, err := ts.Service.AddSSHKey(ctx, a, "laptop <5>", testenv.SSHKeygen(t, "ed25519", 0).Public, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			kp := testenv.SSHKeygen(t, "ed25519", 0)
			active, err := ts.Service.AddSSHKey(ctx, a, "desk <6>", kp.Public, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ts.Service.ConfirmSSHKey(ctx, a, active.Key.ID, testenv.SSHSign(t, kp.File, sshkey.Namespace, active.Challenge.Text), core.Meta{}); err != nil {
				t.Fatal(err)
			}
			team, err := ts.Service.CreateTeam(ctx, a, "Ops & <Dev>", core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			opal := sessionOf(t, ts, "opal", opSecret)
			hook, _, err := ts.Service.CreateWebhook(ctx, opal, core.NewWebhook{URL: "https://hooks.example.com/in/TOKEN-42?key=TOKEN-43", Description: "Billing <feed>"}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			bare, _, err := ts.Service.CreateWebhook(ctx, opal, core.NewWebhook{URL: "https://audit.example.net/TOKEN-44"}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}

			ts.Clock.Add(30 * time.Second)
			c := newClient(t, ts.URL())
			c.signInWithCode(ts, "uma", secret)
			ts.Clock.Add(11 * time.Minute) // the elevation of the sign-ins lapses: every page asks to confirm it's you

			webhook := "Billing <feed> (hooks.example.com)"
			cases := []struct {
				c             *client
				path, title   string // title: the action, then the name
				name, heading string // what the heading names
			}{
				{c, "/settings/security/factors/" + made["Tom & <Jerry>"] + "/remove", "Remove authenticator", "Tom & <Jerry>", ""},
				{c, "/settings/security/factors/" + made["spare <2>"] + "/remove", "Cancel setup", "spare <2>", ""},
				{c, "/settings/security/totp/" + made["spare <2>"], "Add an authenticator", "spare <2>", ""},
				{c, "/settings/security/push/" + pe.Factor.ID + "/renew", "New enrolment code", "pad <3>", ""},
				{c, "/settings/security/push?label=" + url.QueryEscape("pad <7>"), "Add a push device", "pad <7>", ""},
				{c, "/settings/security/sent?type=sms&destination=%2B447400123456&label=" + url.QueryEscape("mobile <8>"), "Add a phone or address", "mobile <8>", "+447400123456"},
				{c, "/settings/security/webauthn/" + made["key <4>"], "Add a security key", "key <4>", ""},
				{c, "/settings/security/ssh-keys/" + pending.Key.ID + "/remove", "Cancel setup", "laptop <5>", ""},
				{c, "/settings/security/ssh-keys/" + active.Key.ID + "/remove", "Remove SSH key", "desk <6>", ""},
				{c, "/settings/teams/" + team.ID + "/delete", "Delete team", "Ops & <Dev>", ""},
				{op, "/admin/webhooks/" + hook.ID + "/rotate-secret", "New webhook secret", webhook, "hooks.example.com/in/TOKEN-42"},
				{op, "/admin/webhooks/" + hook.ID + "/enable", "Enable webhook", webhook, "hooks.example.com/in/TOKEN-42"},
				{op, "/admin/webhooks/" + hook.ID + "/delete", "Delete webhook", webhook, "hooks.example.com/in/TOKEN-42"},
				{op, "/admin/webhooks/" + bare.ID + "/delete", "Delete webhook", "audit.example.net", "audit.example.net/TOKEN-44"},
			}
			covered := map[string]bool{}
			for _, tc := range cases {
				r := tc.c.get(tc.path)
				if r.status != http.StatusOK || r.url.RequestURI() != tc.path {
					t.Errorf("GET %s: status %d at %s, want 200 there: %s", tc.path, r.status, r.url, pageError(r.body))
					continue
				}
				if !strings.Contains(r.body, `id="confirm"`) {
					t.Errorf("GET %s: no button to confirm: not the confirmation page", tc.path)
				}
				title, heading := pageTitle(r.body), pageHeading(r.body)
				if want := tc.title + " — " + tc.name + " · Twofold"; title != want {
					t.Errorf("GET %s: title %q, want %q", tc.path, title, want)
				}
				if want := cmp.Or(tc.heading, tc.name); !strings.Contains(heading, want) {
					t.Errorf("GET %s: heading %q, want it to name %q", tc.path, heading, want)
				}
				if strings.Contains(title, "TOKEN") {
					t.Errorf("GET %s: title %q holds the webhook's path or query", tc.path, title)
				}
				if want := "<title>" + html.EscapeString(tc.title+" — "+tc.name) + " · Twofold</title>"; !strings.Contains(r.body, want) {
					t.Errorf("GET %s: no %s: the name is not escaped as html/template does", tc.path, want)
				}
				path, _, _ := strings.Cut(tc.path, "?")
				covered[path] = true
			}

			// The pages with a path parameter that confirm nothing: a
			// thing's own page, a file, a form that is not a confirmation.
			confirmNothing := map[string]bool{
				"GET /setup/{token}": true, "GET /password-reset/{token}": true, "GET /settings/security/totp/{id}/qr.png": true, "GET /settings/security/sent/{id}": true,
				"GET /settings/security/factors/{id}/resync": true, "GET /settings/dns/{zone}": true, "GET /settings/teams/{id}": true,
				"GET /admin/users/{id}": true, "GET /admin/teams/{id}": true, "GET /settings/security/ssh-keys/{id}": true,
			}
			param := regexp.MustCompile(`\\\{[^/]*\}`)
			for pattern := range pageRoutes(t, ts) {
				if !strings.HasPrefix(pattern, "GET ") || !strings.Contains(strings.ReplaceAll(pattern, "{$}", ""), "{") || confirmNothing[pattern] ||
					strings.HasPrefix(pattern, "GET /admin/users/{id}/") { // TestOperatorConfirmTitlesNameTheUser
					continue
				}
				match := regexp.MustCompile("^" + param.ReplaceAllString(regexp.QuoteMeta(strings.TrimPrefix(pattern, "GET ")), "[^/]+") + "$")
				found := false
				for path := range covered {
					found = found || match.MatchString(path)
				}
				if !found {
					t.Errorf("%s is not checked: add it to the cases, or to the pages that confirm nothing", pattern)
				}
			}
		})
	}
}
