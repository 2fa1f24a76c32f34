package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzCloseForm posts any form to the page that closes the browser's
// account for good (POST /settings/security/close) from one of three
// browsers: alice's signed in with her app, so elevated; another of
// hers, signed in before she added the app, so never elevated (its form
// may confirm it's her with the "confirm it's you" fields); and bob's (no
// authenticator, nothing to confirm). alice and bob have passwords of
// their own. Whatever the form:
//
//   - the answer is never a server error;
//   - an account is closed only by a browser of its own, with the
//     browser's CSRF token and the account's password, and, for alice's,
//     an elevated session or fields that confirm it's her with her app's
//     code, not used before; then the browser is signed out and lands on
//     the sign-in page that says the account is closed, none of the
//     account's browsers signs in any more, and the other account is
//     untouched;
//   - otherwise no page says an account was closed, and the database is as
//     it was (testenv.Snapshot), but for the session and the app of
//     alice's unelevated browser when its fields confirmed it's her (the
//     session elevated under a new cookie, the code used up);
//   - no password and no code of alice's app that the form sent comes back
//     in the page, and none goes to the log.
//
// In a form, @alicepw@ and @bobpw@ stand for the passwords, @code@ for
// alice's app's code of now (used already when her elevated browser
// signed in in this step), @next@ for that of the step after, @last@ for
// the code last used. A form
// without csrf gets the browser's own. An account closed, or whose
// browser the form elevated, is made anew under a new name (a closed
// account's name stays taken) with its browsers, before the next form;
// every counter is cleared before each form, so that a wrong password
// never locks the next out. The who byte picks the browser (mod 3:
// alice's elevated, alice's other, bob's). On SQLite;
// FuzzCloseFormPostgres is the same on PostgreSQL.
func FuzzCloseForm(f *testing.F) { closeForm(f, testenv.SQLiteDSN(f)) }

// FuzzCloseFormPostgres is FuzzCloseForm on PostgreSQL.
func FuzzCloseFormPostgres(f *testing.F) { closeForm(f, testenv.PostgresDSN(f)) }

// closingHolder is an account FuzzCloseForm may close, and its browsers.
type closingHolder struct {
	name, password string
	withApp        bool
	made           int       // accounts made for it so far
	id             string    // "" once it is to be made anew
	browsers       []*client // the who values that are its, from first
	first          int
	app            *testenv.App
}

func closeForm(f *testing.F, dsn string) {
	var logs testenv.Buffer
	mb := testenv.NewSMTPServer(f)
	ts := testenv.NewLoggedServer(f, dsn, testenv.CodeSafeLogger(&logs), mb.Option("Twofold <twofold@example.com>"),
		func(c *config.Config) { c.LoginRate = 0 })
	ctx := context.Background()
	holders := []*closingHolder{
		{name: "alice", password: testPassword, withApp: true},
		{name: "bob", password: "bob own long passphrase 42", first: 2},
	}
	snaps := testenv.OpenSnapshots(f, dsn)

	for _, in := range []struct {
		form string
		who  uint8
	}{
		{"current_password=@alicepw@", 0},
		{"current_password=@alicepw@", 1},
		{"current_password=@alicepw@&elevate_method=totp&elevate_code=@next@", 1},
		{"current_password=@alicepw@&elevate_method=totp&elevate_code=@code@", 1},
		{"current_password=@alicepw@&elevate_code=@next@", 1},
		{"current_password=nope&elevate_method=totp&elevate_code=@next@", 1},
		{"current_password=nope&elevate_method=totp&elevate_code=@code@", 1},
		{"current_password=@alicepw@&elevate_method=totp&elevate_code=@last@", 1},
		{"current_password=@alicepw@&elevate_method=recovery_code&elevate_code=@code@", 1},
		{"current_password=@bobpw@", 2},
		{"current_password=@bobpw@", 0},
		{"current_password=@alicepw@", 2},
		{"current_password=@bobpw@&elevate_method=totp&elevate_code=@code@", 2},
		{"current_password=+@alicepw@", 0},
		{"current_password=@alicepw@&current_password=nope", 0},
		{"current_password=nope&current_password=@alicepw@", 0},
		{"current_password=@alicepw@&csrf=x", 0},
		{"current_password=", 0},
		{"password=@alicepw@", 0},
		{"", 0},
	} {
		f.Add(in.form, in.who)
	}

	// open makes h's account anew under a new name and signs its browsers
	// in: for alice one with her password before she adds her app, then
	// one with the app.
	open := func(t testing.TB, h *closingHolder) {
		h.made++
		name := fmt.Sprintf("%s%d", h.name, h.made)
		if _, err := ts.Service.CreateAccount(ctx, core.NewAccount{Username: name, Email: name + "@example.com", Password: h.password}, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		a, err := ts.Store.AccountByUsername(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		h.id = a.ID
		signIn := func() *client {
			c := newClient(t, ts.URL())
			c.post("/login", url.Values{"username": {name}, "password": {h.password}})
			return c
		}
		first := signIn()
		if r := first.get("/settings/security"); r.url.Path != "/settings/security" {
			t.Fatalf("sign %s in: at %s: %s", name, r.url, pageError(r.body))
		}
		h.browsers = []*client{first}
		if !h.withApp {
			return
		}
		k := enrolPhone(t, ts, name)
		factors, err := ts.Store.Factors(ctx, h.id)
		if err != nil || len(factors) != 1 {
			t.Fatalf("%s's factors: %v, %v", name, factors, err)
		}
		h.app = testenv.NewApp(t, factors[0].ID, k.secret)
		h.app.Last = uint64(ts.Clock.Now().Unix()/30) - 1 // the confirming code's step
		elevated := signIn()
		for !h.app.Spend(ts.Clock.Now(), h.app.Code(ts.Clock.Now(), 0)) {
			ts.Clock.Add(30 * time.Second)
		}
		r := elevated.post("/login/verify", url.Values{"method": {"totp"}, "code": {h.app.Code(ts.Clock.Now(), 0)}})
		if r.url.Path != "/settings/security" {
			t.Fatalf("%s's second step: at %s: %s", name, r.url, pageError(r.body))
		}
		h.browsers = []*client{elevated, first}
	}
	for _, h := range holders {
		open(f, h)
	}
	// isElevated reports whether the session of c's cookie is elevated now.
	isElevated := func(t testing.TB, c *client) bool {
		a, err := ts.Service.Authenticate(ctx, sessionCookie(t, c))
		return err == nil && a.Elevated(ts.Clock.Now())
	}

	f.Fuzz(func(t *testing.T, form string, who uint8) {
		for _, h := range holders {
			// A browser whose session lapsed, or alice's first no longer
			// elevated, is made anew with its account.
			if h.id != "" && h.withApp && !isElevated(t, h.browsers[0]) {
				h.id = ""
			}
			for _, c := range h.browsers {
				c.t = t
				if h.id != "" && !signsIn(ts, sessionCookie(t, c)) {
					h.id = ""
				}
			}
			if h.id == "" {
				open(t, h)
			}
		}
		ts.Service.Wait() // the mail of an account closed or made before
		caller := int(who % 3)
		h := holders[0]
		if caller >= holders[1].first {
			h = holders[1]
		}
		c := h.browsers[caller-h.first]
		alice := holders[0]
		now := ts.Clock.Now()
		esc := url.QueryEscape
		form = strings.NewReplacer("@alicepw@", esc(alice.password), "@bobpw@", esc(holders[1].password),
			"@code@", alice.app.Code(now, 0), "@next@", alice.app.Code(now, 1), "@last@", alice.app.LastCode()).Replace(form)
		if !strings.Contains(form, "csrf=") {
			form = strings.TrimPrefix(form+"&csrf="+esc(c.csrf), "&")
		}
		if _, err := ts.Store.ResetThrottlePrefix(ctx, ""); err != nil {
			t.Fatal(err)
		}
		wasElevated, cookie := isElevated(t, c), sessionCookie(t, c)
		before := snaps.Take(t)
		logged := len(logs.String())
		hdr := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {ts.URL()}}
		r := c.do(testenv.NewRequest(t, "POST", ts.URL()+"/settings/security/close", form, hdr))
		ts.Service.Wait()
		newLog := logs.String()[logged:]
		if r.status >= 500 {
			t.Fatalf("%q by %d: %d %s", form, caller, r.status, pageError(r.body))
		}
		sent, parseErr := url.ParseQuery(form)
		var values []string
		for _, vs := range sent {
			values = append(values, vs...)
		}
		secrets := []string{alice.password, holders[1].password}
		for d := int64(-testenv.TypedWindow); d <= testenv.TypedWindow; d++ {
			secrets = append(secrets, alice.app.Code(now, d))
		}
		for _, s := range secrets {
			if !slices.ContainsFunc(values, func(v string) bool { return strings.Contains(v, s) }) {
				continue
			}
			if testenv.HoldsWord(newLog, s) {
				t.Fatalf("%q by %d: the log holds a password or code the form sent:\n%s", form, caller, newLog)
			}
			if testenv.HoldsWord(r.body, s) {
				t.Fatalf("%q by %d: the page (%d) holds a password or code the form sent", form, caller, r.status)
			}
		}
		closedPage := r.url.Path == "/login" && r.url.Query().Get("m") == "account_closed"

		gone := map[*closingHolder]bool{}
		for _, x := range holders {
			_, err := ts.Store.AccountByID(ctx, x.id)
			if err != nil && twofold.ErrorCode(err) != twofold.CodeNotFound {
				t.Fatal(err)
			}
			gone[x] = err != nil
		}
		if gone[holders[0]] || gone[holders[1]] {
			switch {
			case !gone[h]:
				t.Fatalf("%q by %d: closed another account than the browser's", form, caller)
			case gone[holders[0]] && gone[holders[1]]:
				t.Fatalf("%q by %d: closed both accounts", form, caller)
			case parseErr != nil || sent.Get("current_password") != h.password:
				t.Fatalf("%q by %d: closed %s's account without its password", form, caller, h.name)
			case sent.Get("csrf") != c.csrf:
				t.Fatalf("%q by %d: closed %s's account by a form with another CSRF token", form, caller, h.name)
			case !closedPage || jarValue(t, c, "/", "twofold_session") != "":
				t.Fatalf("%q by %d: closed %s's account, but the browser, at %s (%d), was not signed out to the page that says so",
					form, caller, h.name, r.url, r.status)
			}
			if h.withApp && !wasElevated && !h.app.Spend(now, sent.Get("elevate_code")) {
				t.Fatalf("%q by %d: closed %s's account from a session not elevated, with no code of her app", form, caller, h.name)
			}
			for _, x := range h.browsers {
				if k := jarValue(t, x, "/", "twofold_session"); k != "" && signsIn(ts, k) {
					t.Fatalf("%q by %d: a browser of the account closed still signs in", form, caller)
				}
			}
			h.id = ""
			return
		}
		if closedPage {
			t.Fatalf("%q by %d: nothing was closed, but the browser is at %s", form, caller, r.url)
		}
		d := before.Diff(snaps.Take(t))
		if !wasElevated && isElevated(t, c) {
			// The fields confirmed it's alice: the session was elevated,
			// under a new cookie, and the code is used up.
			if caller != 1 || !h.app.Spend(now, sent.Get("elevate_code")) {
				t.Fatalf("%q by %d: the session was elevated without a code of alice's app", form, caller)
			}
			if sessionCookie(t, c) == cookie || signsIn(ts, cookie) {
				t.Fatalf("%q by %d: the session was elevated under the cookie it had", form, caller)
			}
			var rest []string
			for _, l := range strings.Split(d, "\n") {
				if !strings.HasPrefix(l, "- sessions:") && !strings.HasPrefix(l, "+ sessions:") &&
					!strings.HasPrefix(l, "- factors:") && !strings.HasPrefix(l, "+ factors:") {
					rest = append(rest, l)
				}
			}
			d = strings.Join(rest, "\n")
			h.id = "" // alice anew, with a browser not elevated
		}
		if d != "" {
			t.Fatalf("%q by %d: refused (%d %s), but the database changed:\n%s", form, caller, r.status, pageError(r.body), d)
		}
	})
}
