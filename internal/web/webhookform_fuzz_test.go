package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzWebhookForm posts any form to the operators' webhook forms: add one
// (POST /admin/webhooks), make a new secret, enable and delete one (POST
// /admin/webhooks/{id}/…), with any webhook id, from the browsers of
// formHolders, where alice is an operator (her elevated browser, her never
// elevated one) and bob is not. Two webhooks stand: @w0@ delivering, @w1@
// disabled. Whatever the form:
//
//   - the answer is never a server error;
//   - a webhook changes only with the browser's CSRF token, from alice's
//     browser with an elevated session or fields that confirm it's her
//     with her app's code not used before, and a one-time token that is
//     absent or the one her page gives; then only the webhooks change
//     (but for the form's one-time token and the elevation alice's fields
//     made), and as the form says: an added one has the form's URL,
//     events and description and is the only one added; a new secret
//     and an enabling change only the webhook the path names (enabling
//     only a disabled one), a deletion removes only it; a secret made is
//     the one the page shows, and goes to no log; the browser is told
//     what it did;
//   - otherwise the page shows no secret and the database is as it was
//     (testenv.Snapshot) but for the elevation alice's unelevated
//     browser's fields made (formHolders.refusedDiff);
//   - no password or code of alice's app the form sent comes back in the
//     page, and none goes to the log.
//
// The which byte picks the form (its value mod 4, in the order above); in
// the id, @w0@ and @w1@ stand for the webhooks' ids; in the form, @once@
// for the one-time token of the form's page as the browser gets it, and
// placeholders for the passwords and alice's app's codes
// (formHolders.replace). The webhooks are made anew after a change. The
// who byte picks the browser. A path the mux cleans to another form's
// route is skipped (servedSegments). On SQLite; FuzzWebhookFormPostgres is
// the same on PostgreSQL.
func FuzzWebhookForm(f *testing.F) { webhookForm(f, testenv.SQLiteDSN(f)) }

// FuzzWebhookFormPostgres is FuzzWebhookForm on PostgreSQL.
func FuzzWebhookFormPostgres(f *testing.F) { webhookForm(f, testenv.PostgresDSN(f)) }

// webhookSecretShown finds the signing secret a page shows as made.
var webhookSecretShown = regexp.MustCompile(`<code id="webhook-secret">([^<]*)</code>`)

// webhookActions are the last path elements of FuzzWebhookForm's forms
// about one webhook (which 1 to 3), and the notice each leads to ("" for
// the page that shows a secret).
var webhookActions = []struct{ action, done string }{{"rotate-secret", ""}, {"enable", "webhook_enabled"}, {"delete", "webhook_deleted"}}

func webhookForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	// secretOf is the signing secret webhook id has now.
	secretOf := func(t testing.TB, id string) string {
		w, err := ts.Store.Webhook(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ts.Keys.Open(ctx, w.SecretKeyID, w.SealedSecret, keyring.AAD("webhooks", "secret", id))
		if err != nil {
			t.Fatal(err)
		}
		return string(s)
	}
	operator := func(t testing.TB) {
		testenv.Exec(t, dsn, fmt.Sprintf(`UPDATE accounts SET operator = TRUE WHERE id = '%s'`, hs.list[0].id))
	}
	// aliceAuth is alice's elevated browser's session.
	aliceAuth := func(t testing.TB) core.Auth {
		a, err := ts.Service.Authenticate(ctx, sessionCookie(t, hs.list[0].browsers[0]))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	var w0, w1 string
	// makeWebhooks makes the two webhooks anew, the second disabled.
	makeWebhooks := func(t testing.TB) {
		testenv.Exec(t, dsn, `DELETE FROM webhooks`)
		a := aliceAuth(t)
		var ids []string
		for i, u := range []string{"https://panel.example.com/hook", "https://audit.example.net/in?token=abc"} {
			w, _, err := ts.Service.CreateWebhook(ctx, a, core.NewWebhook{URL: u, Description: fmt.Sprintf("hook %d", i)}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, w.ID)
		}
		if ok, err := ts.Store.DisableWebhook(ctx, ids[1], "", ts.Clock.Now(), twofold.WebhookDisabledNotOperator); err != nil || !ok {
			t.Fatalf("disable %s: %v, %v", ids[1], ok, err)
		}
		w0, w1 = ids[0], ids[1]
	}
	operator(f)
	makeWebhooks(f)

	for _, in := range []struct {
		which    uint8
		id, form string
		who      uint8
	}{
		{0, "", "url=https%3A%2F%2Fhooks.example.com%2Fa&events=login.*%2C+account.suspended&description=+the+panel+&once=@once@", 0},
		{0, "", "url=https%3A%2F%2Fhooks.example.com%2Fa&events=*&once=@once@&elevate_method=totp&elevate_code=@next@", 1},
		{0, "", "url=https%3A%2F%2Fhooks.example.com%2Fa&elevate_method=totp&elevate_code=@code@", 1},
		{0, "", "url=https%3A%2F%2Fhooks.example.com%2Fa", 2},
		{0, "", "url=http%3A%2F%2F127.0.0.1%2Fa", 0},
		{0, "", "url=https%3A%2F%2Fhooks.example.com%2Fa&events=frob", 0},
		{0, "", "url=https%3A%2F%2Fhooks.example.com%2Fa&once=x", 0},
		{0, "", "url=https%3A%2F%2Fhooks.example.com%2Fa&csrf=x", 0},
		{1, "@w0@", "once=@once@", 0},
		{1, "@w1@", "", 0},
		{1, "@w0@", "once=@once@&elevate_method=totp&elevate_code=@next@", 1},
		{1, "@w0@", "", 2},
		{1, "nosuch", "", 0},
		{2, "@w1@", "", 0},
		{2, "@w0@", "", 0},
		{2, "@w1@", "", 2},
		{3, "@w0@", "", 0},
		{3, "@w1@", "elevate_method=totp&elevate_code=@code@", 1},
		{3, "@w0@", "", 2},
		{3, "@w0@/..", "", 0},
	} {
		f.Add(in.which, in.id, in.form, in.who)
	}

	f.Fuzz(func(t *testing.T, which uint8, id, form string, who uint8) {
		if hs.ready(t)[0] {
			operator(t)
		}
		h, c, caller := hs.browser(who)
		alice := hs.list[0]
		id = strings.NewReplacer("@w0@", w0, "@w1@", w1).Replace(id)
		path, named := "/admin/webhooks", ""
		var act struct{ action, done string }
		if which%4 > 0 {
			act = webhookActions[which%4-1]
			path = "/admin/webhooks/" + id + "/" + act.action
		}
		req, err := http.NewRequest("POST", ts.URL()+path, nil)
		if err != nil || !testenv.Sendable(req) {
			return // no request a browser could send
		}
		if act.action != "" {
			served := servedSegments(req.URL, "/admin/webhooks/", "", act.action)
			if served == nil {
				return // another form's (a path cleaned to another route)
			}
			named = served[0]
		}
		once := "none"
		if strings.Contains(form, "@once@") {
			// The add form's token is the page's last; a webhook's own
			// form's, on its confirmation page, its only one.
			if m := onceValue.FindAllStringSubmatch(c.get(path).body, -1); m != nil {
				once = m[len(m)-1][1]
			}
		}
		form = hs.replace(form, c, ts.Clock.Now(), "@once@", once)
		before, err := ts.Store.Webhooks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		secrets := map[string]string{}
		for _, w := range before {
			secrets[w.ID] = secretOf(t, w.ID)
		}
		p := hs.post(t, path, form, who)
		did, _ := hs.changed(t, p)
		shown := webhookSecretShown.FindStringSubmatch(p.r.body)
		if len(did) == 0 && shown != nil {
			t.Fatalf("%s %q by %d: nothing changed, but the page (%d) shows a secret", path, form, caller, p.r.status)
		}
		fail := hs.judge(t, p, path, did)
		if fail == nil {
			return // refused, and nothing written
		}
		switch {
		case h != alice:
			fail("the browser's account is no operator's")
		case p.sent.Get("once") != "" && p.sent.Get("once") != once:
			fail("the form's one-time token is not its page's")
		}
		for _, l := range did {
			if kind, _, _ := strings.Cut(l, ":"); kind != "+ webhooks" && kind != "- webhooks" {
				fail("more than the webhooks changed: %s", l)
			}
		}
		hs.mayAct(t, p, "a webhook changed")
		after, err := ts.Store.Webhooks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wasThere := func(id string) bool {
			return slices.ContainsFunc(before, func(w twofold.Webhook) bool { return w.ID == id })
		}
		var added []twofold.Webhook
		for _, w := range after {
			if !wasThere(w.ID) {
				added = append(added, w)
			}
		}
		// Every line of the change is the named webhook's, when the form
		// names one.
		for _, l := range did {
			if named != "" && !strings.Contains(l, "id="+named+" ") {
				fail("a webhook the path does not name changed: %s", l)
			}
		}
		madeFor := ""
		switch which % 4 {
		case 0:
			if len(added) != 1 || len(after) != len(before)+1 {
				fail("the form adds one webhook (%d added, %d before, %d after)", len(added), len(before), len(after))
			}
			w, err := ts.Service.Webhook(ctx, aliceAuth(t), added[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			wantURL, err := url.Parse(strings.TrimSpace(p.sent.Get("url")))
			if err != nil || w.URL != wantURL.String() {
				fail("its URL is %q, the form's %q", w.URL, p.sent.Get("url"))
			}
			var events []string
			for _, e := range strings.FieldsFunc(p.sent.Get("events"), func(c rune) bool { return c == ',' || unicode.IsSpace(c) }) {
				if e == "*" {
					events = nil
					break
				}
				if !slices.Contains(events, e) {
					events = append(events, e)
				}
			}
			if !slices.Equal(w.Events, events) {
				fail("its events are %q, the form's %q", w.Events, p.sent.Get("events"))
			}
			if w.Description != strings.TrimSpace(p.sent.Get("description")) {
				fail("its description is %q, the form's %q", w.Description, p.sent.Get("description"))
			}
			madeFor = w.ID
		case 1:
			if named != w0 && named != w1 {
				fail("the path names no webhook")
			}
			if secretOf(t, named) == secrets[named] {
				fail("the named webhook's secret is the one it had")
			}
			madeFor = named
		case 2:
			if named != w1 || len(after) != len(before) {
				fail("only the disabled webhook is enabled")
			}
			for _, w := range after {
				if w.ID == named && !w.DisabledAt.IsZero() {
					fail("the webhook is still disabled")
				}
			}
		case 3:
			if !wasThere(named) || len(after) != len(before)-1 || slices.ContainsFunc(after, func(w twofold.Webhook) bool { return w.ID == named }) {
				fail("only the named webhook is deleted")
			}
		}
		if madeFor != "" {
			if p.r.status != 200 || shown == nil {
				fail("the page (%d) shows no secret", p.r.status)
			}
			s := html.UnescapeString(shown[1])
			if s != secretOf(t, madeFor) {
				fail("the page shows another secret than the webhook's")
			}
			if testenv.HoldsWord(p.newLog, s) {
				fail("the secret went to the log:\n%s", p.newLog)
			}
		} else if at := p.r.url.Path + "?m=" + p.r.url.Query().Get("m"); at != "/admin/webhooks?m="+act.done {
			fail("the browser is at %s (%d)", p.r.url, p.r.status)
		}
		makeWebhooks(t)
	})
}
