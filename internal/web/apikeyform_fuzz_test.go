package web_test

import (
	"context"
	"html"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/permit"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzAPIKeyForm posts any form to the page that makes an API key (POST
// /settings/security/api-keys) from the browsers of formHolders (alice's
// elevated, alice's never elevated, bob's, who has no authenticator).
// Whatever the form:
//
//   - the answer is never a server error;
//   - a key is made only for the browser's own account, with the
//     browser's CSRF token, a one-time token that is absent or the one the
//     browser's page gives, and an elevated session or fields that confirm
//     it's alice with her app's code not used before; then it is the only
//     key made, its name is the form's (trimmed), its permits are the
//     form's lines (blank ones skipped, none of them admin), its expiry the
//     one the form chose from the page's list, it says whether a second
//     factor made it, and the page shows its secret, which then signs in
//     as that key and goes to no log;
//   - otherwise the page shows no secret, and the database is as it was
//     (testenv.Snapshot) but for the elevation alice's unelevated
//     browser's fields made (formHolders.refusedDiff);
//   - no password or code of alice's app the form sent comes back in the
//     page, and none goes to the log.
//
// In a form, placeholders stand for the passwords and alice's app's codes
// (formHolders.replace), @once@ for the one-time token of the browser's
// page and @theirs@ for the one of the next browser's (the who byte plus
// one). A key made is deleted before the next form; an account whose
// browser was elevated by the form is made anew. The who byte picks the
// browser. On SQLite; FuzzAPIKeyFormPostgres is the same on PostgreSQL.
func FuzzAPIKeyForm(f *testing.F) { apiKeyForm(f, testenv.SQLiteDSN(f)) }

// FuzzAPIKeyFormPostgres is FuzzAPIKeyForm on PostgreSQL.
func FuzzAPIKeyFormPostgres(f *testing.F) { apiKeyForm(f, testenv.PostgresDSN(f)) }

// keySecretShown finds the secret of the key the page shows as made (and
// keyIDShown its id).
var keySecretShown = regexp.MustCompile(`id="key-secret"[^>]*value="([^"]*)"`)

// keyLives are the lifetimes the API keys page offers, by the form's value
// ("" for a key that never expires).
var keyLives = map[string]time.Duration{"": 0, "1d": 24 * time.Hour, "30d": 30 * 24 * time.Hour,
	"90d": 90 * 24 * time.Hour, "365d": 365 * 24 * time.Hour}

func apiKeyForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	const path = "/settings/security/api-keys"
	const acme = "dns+example.com%2F_acme-challenge%2FTXT+read%2Cwrite"

	for _, in := range []struct {
		form string
		who  uint8
	}{
		{"name=ci&permits=" + acme + "&expiry=90d&once=@once@", 0},
		{"name=+ci+&permits=%0A" + acme + "%0D%0A%0Aaccount+*+read%0A&expiry=", 0},
		{"name=ci&permits=" + acme + "&expiry=1d", 1},
		{"name=ci&permits=" + acme + "&expiry=30d&once=@once@&elevate_method=totp&elevate_code=@next@", 1},
		{"name=ci&permits=" + acme + "&expiry=7y&elevate_method=totp&elevate_code=@code@", 1},
		{"name=ci&permits=" + acme + "&expiry=365d&once=@once@", 2},
		{"name=ci&permits=admin+*+read&expiry=1d", 2},
		{"name=ci&permits=dns+example.com+frob&expiry=1d", 2},
		{"name=&permits=" + acme + "&expiry=1d", 2},
		{"name=ci&permits=%0A+%0A&expiry=1d", 0},
		{"name=ci&permits=" + acme + "&expiry=1d&once=x", 0},
		{"name=ci&permits=" + acme + "&expiry=1d&once=@theirs@", 0},
		{"name=ci&permits=" + acme + "&expiry=1d&once=@theirs@", 1},
		{"name=ci&permits=" + acme + "&expiry=1d&csrf=x", 2},
		{"name=ci&name=cd&permits=" + acme + "&permits=account+*+read&expiry=1d&expiry=", 0},
	} {
		f.Add(in.form, in.who)
	}

	keysOf := func(t *testing.T) map[string]twofold.APIKey {
		keys := map[string]twofold.APIKey{}
		for _, h := range hs.list {
			ks, err := ts.Store.APIKeys(ctx, h.id)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range ks {
				keys[k.ID] = k
			}
		}
		return keys
	}

	f.Fuzz(func(t *testing.T, form string, who uint8) {
		hs.ready(t)
		_, c, caller := hs.browser(who)
		once, theirs := hs.onceTokens(form, who, path)
		form = hs.replace(form, c, ts.Clock.Now(), "@once@", once, "@theirs@", theirs)
		before := keysOf(t)
		p := hs.post(t, path, form, who)
		var made []twofold.APIKey
		for id, k := range keysOf(t) {
			if _, ok := before[id]; !ok {
				made = append(made, k)
			}
		}
		secret := keySecretShown.FindStringSubmatch(p.r.body)
		if len(made) == 0 {
			if secret != nil {
				t.Fatalf("%q by %d: no key was made, but the page (%d) shows a secret", form, caller, p.r.status)
			}
			hs.refused(t, p, "")
			return
		}
		k := made[0]
		life, listed := keyLives[p.sent.Get("expiry")]
		switch {
		case len(made) > 1:
			t.Fatalf("%q by %d: %d keys made", form, caller, len(made))
		case k.AccountID != p.h.id:
			t.Fatalf("%q by %d: a key made for another account", form, caller)
		case p.sent.Get("once") != "" && p.sent.Get("once") != once:
			t.Fatalf("%q by %d: a key made by a form whose one-time token is not its page's", form, caller)
		case !listed:
			t.Fatalf("%q by %d: a key made with an expiry the page does not offer", form, caller)
		}
		hs.mayAct(t, p, "a key made")
		want := time.Time{}
		if life > 0 {
			want = p.now.Add(life).UTC().Truncate(time.Microsecond)
		}
		var permits []twofold.Permit
		for _, line := range strings.Split(p.sent.Get("permits"), "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			pm, err := permit.Parse(line)
			if err != nil {
				t.Fatalf("%q by %d: a key made with a permit line that does not read: %q", form, caller, line)
			}
			permits = append(permits, pm)
		}
		permits, err := permit.NormalizeAll(permits)
		if err != nil {
			t.Fatalf("%q by %d: a key made with permits that do not normalize: %v", form, caller, err)
		}
		formatted := func(ps []twofold.Permit) []string {
			var out []string
			for _, pm := range ps {
				out = append(out, permit.Format(pm))
			}
			return out
		}
		switch {
		case k.Name != strings.TrimSpace(p.sent.Get("name")):
			t.Fatalf("%q by %d: the key is named %q", form, caller, k.Name)
		case !slices.Equal(formatted(k.Permits), formatted(permits)):
			t.Fatalf("%q by %d: the key's permits are %q, the form's %q", form, caller, formatted(k.Permits), formatted(permits))
		case permit.Grants(k.Permits, permit.Admin):
			t.Fatalf("%q by %d: a key with admin permits made for an account that is no operator's", form, caller)
		case !k.ExpiresAt.Equal(want):
			t.Fatalf("%q by %d: the key expires at %v, not %v", form, caller, k.ExpiresAt, want)
		case k.SecondFactor != p.h.withApp:
			t.Fatalf("%q by %d: the key says a second factor made it: %v", form, caller, k.SecondFactor)
		case p.r.status != 200 || secret == nil:
			t.Fatalf("%q by %d: a key made, but the page (%d) shows no secret", form, caller, p.r.status)
		}
		if id := keyIDShown.FindStringSubmatch(p.r.body); id == nil || id[1] != k.ID {
			t.Fatalf("%q by %d: the page shows another key's id than the one made: %v", form, caller, id)
		}
		s := html.UnescapeString(secret[1])
		if testenv.HoldsWord(p.newLog, s) {
			t.Fatalf("%q by %d: the new key's secret went to the log:\n%s", form, caller, p.newLog)
		}
		a, err := ts.Service.AuthenticateAPIKey(ctx, k.ID, s, core.Meta{})
		if err != nil || a.Key == nil || a.Key.ID != k.ID || a.Account.ID != k.AccountID {
			t.Fatalf("%q by %d: the secret shown does not sign in as the key made: %v", form, caller, err)
		}
		if _, err := ts.Store.DeleteAPIKey(ctx, k.AccountID, k.ID); err != nil {
			t.Fatal(err)
		}
	})
}
