package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/permit"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzOperatorForm posts any form to the operator's forms about an
// account: unlock, revoke an API key, sign out everywhere, suspend,
// unsuspend, reset two-factor, change the address, delete and cancel a
// waiting reset of two-factor (POST /admin/users/{id}/…), with any account
// and key, from the browsers of formHolders, where alice is an operator
// (her elevated browser, her never elevated one) and bob is not. carol has
// a session, an API key and an authenticator app; dora an app and a reset
// of her two-factor waiting. Whatever the form:
//
//   - the answer is never a server error;
//   - something changes only with the browser's CSRF token, from alice's
//     browser with an elevated session or fields that confirm it's her
//     with her app's code not used before, and only about the account the
//     path names: every row that changed is that account's (but for the
//     form's one-time token, and the elevation alice's fields made), and
//     the browser is told what it did;
//   - otherwise the database is as it was (testenv.Snapshot) but for the
//     elevation alice's unelevated browser's fields made
//     (formHolders.refusedDiff);
//   - no password or code of alice's app the form sent comes back in the
//     page, and none goes to the log.
//
// The which byte picks the form (its value mod 9, in the order above). In
// an id, @carol@, @dora@, @alice@ and @bob@ stand for the accounts' ids
// and @key@ for carol's key's; in a form, @once@ for the one-time token of
// the page of the form's path as the browser gets it, and placeholders for
// the passwords and alice's app's codes (formHolders.replace). carol or
// dora is made anew after a change about her, and so is any account a
// change was about. The who byte picks the browser. A path the mux cleans
// to another form's route is skipped (servedSegments). On SQLite;
// FuzzOperatorFormPostgres is the same on PostgreSQL.
func FuzzOperatorForm(f *testing.F) { operatorForm(f, testenv.SQLiteDSN(f)) }

// FuzzOperatorFormPostgres is FuzzOperatorForm on PostgreSQL.
func FuzzOperatorFormPostgres(f *testing.F) { operatorForm(f, testenv.PostgresDSN(f)) }

// operatorForms are the paths of FuzzOperatorForm's forms after the
// account's id ("%s" for the key's), and what each tells the browser: the
// notice on the account's page, or where it goes.
var operatorForms = []struct{ suffix, done string }{
	{"/unlock", "unlocked nothing_locked"},
	{"/api-keys/%s/revoke", "api_key_revoked_for_user"},
	{"/logout", "signed_out_everywhere"},
	{"/suspend", "suspended"},
	{"/unsuspend", "unsuspended"},
	{"/reset-two-factor", "reset_requested reset_done"},
	{"/email", "email_changed_for_user"},
	{"/delete", "/admin/users?m=account_deleted"},
	{"/reset-two-factor/cancel", "reset_cancelled"},
}

func operatorForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	carols := 0
	var carol, carolKey string
	// makeCarol makes carol anew: a session, a key, then an app.
	makeCarol := func(t testing.TB) {
		carols++
		name := fmt.Sprintf("carol%d", carols)
		if _, err := ts.Service.CreateAccount(ctx, core.NewAccount{Username: name, Email: name + "@example.com", Password: testPassword}, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		res, err := ts.Service.Login(ctx, name, testPassword, core.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		a, err := ts.Service.Authenticate(ctx, res.Token)
		if err != nil {
			t.Fatal(err)
		}
		p, err := permit.Parse("account * read")
		if err != nil {
			t.Fatal(err)
		}
		k, _, err := ts.Service.CreateAPIKey(ctx, a, core.NewAPIKey{Name: "deploy", Permits: []twofold.Permit{p}}, core.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		enrolPhone(t, ts, name)
		carol, carolKey = a.Account.ID, k.ID
		ts.Service.Wait()
	}
	doras := 0
	var dora string
	// makeDora makes dora anew: an app, and a reset of her two-factor
	// waiting, as the command line asks for one.
	makeDora := func(t testing.TB) {
		doras++
		name := fmt.Sprintf("dora%d", doras)
		if _, err := ts.Service.CreateAccount(ctx, core.NewAccount{Username: name, Email: name + "@example.com", Password: testPassword}, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		enrolPhone(t, ts, name)
		if _, err := ts.Service.ResetTwoFactorByName(ctx, name, false, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		a, err := ts.Store.AccountByUsername(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		dora = a.ID
		ts.Service.Wait()
	}
	operator := func(t testing.TB) {
		testenv.Exec(t, dsn, fmt.Sprintf(`UPDATE accounts SET operator = TRUE WHERE id = '%s'`, hs.list[0].id))
	}
	makeCarol(f)
	makeDora(f)
	operator(f)

	for _, in := range []struct {
		which         uint8
		id, key, form string
		who           uint8
	}{
		{0, "@carol@", "", "", 0},
		{1, "@carol@", "@key@", "", 0},
		{1, "@carol@", "@key@", "", 1},
		{1, "@carol@", "@key@", "elevate_method=totp&elevate_code=@next@", 1},
		{1, "@bob@", "@key@", "", 0},
		{1, "@carol@", "@key@", "", 2},
		{2, "@carol@", "", "", 0},
		{2, "@carol@", "", "", 2},
		{3, "@carol@", "", "", 0},
		{3, "@carol@", "", "elevate_method=totp&elevate_code=@code@", 1},
		{3, "@bob@", "", "", 0},
		{3, "@alice@", "", "", 0},
		{4, "@carol@", "", "", 0},
		{5, "@carol@", "", "once=@once@", 0},
		{5, "@carol@", "", "once=x", 0},
		{5, "@carol@", "", "", 2},
		{6, "@carol@", "", "email=carol.new%40example.com", 0},
		{6, "@carol@", "", "email=bob1%40example.com", 0},
		{6, "@carol@", "", "email=", 0},
		{7, "@carol@", "", "", 0},
		{7, "@carol@", "", "", 1},
		{7, "@carol@", "", "csrf=x", 0},
		{7, "@carol@/..", "", "", 0},
		{8, "@dora@", "", "", 0},
		{8, "@dora@", "", "", 1},
		{8, "@dora@", "", "elevate_method=totp&elevate_code=@next@", 1},
		{8, "@carol@", "", "", 0},
		{8, "@dora@", "", "", 2},
	} {
		f.Add(in.which, in.id, in.key, in.form, in.who)
	}

	f.Fuzz(func(t *testing.T, which uint8, id, key, form string, who uint8) {
		made := hs.ready(t)
		if made[0] {
			operator(t)
		}
		h, c, _ := hs.browser(who)
		alice, bob := hs.list[0], hs.list[1]
		fill := strings.NewReplacer("@carol@", carol, "@dora@", dora, "@alice@", alice.id, "@bob@", bob.id, "@key@", carolKey)
		id, key = fill.Replace(id), fill.Replace(key)
		op := operatorForms[int(which)%len(operatorForms)]
		suffix := op.suffix
		if strings.Contains(suffix, "%s") {
			suffix = fmt.Sprintf(suffix, key)
		}
		path := "/admin/users/" + id + suffix
		req, err := http.NewRequest("POST", ts.URL()+path, nil)
		if err != nil || !testenv.Sendable(req) {
			return // no request a browser could send
		}
		shape := append([]string{""}, strings.Split(strings.ReplaceAll(op.suffix[1:], "%s", ""), "/")...)
		served := servedSegments(req.URL, "/admin/users/", shape...)
		if served == nil {
			return // another form's (a path cleaned to another route)
		}
		named := served[0]
		once := "none"
		if strings.Contains(form, "@once@") {
			once = pageOnce(c, path)
		}
		form = hs.replace(form, c, ts.Clock.Now(), "@once@", once)
		p := hs.post(t, path, form, who)
		did, _ := hs.changed(t, p)
		fail := hs.judge(t, p, path, did)
		if fail == nil {
			return // refused, and nothing written
		}
		switch {
		case h != alice:
			fail("the browser's account is no operator's")
		case named == "":
			fail("the path names no account")
		}
		for _, l := range did {
			if !strings.Contains(l, named) && !strings.HasPrefix(l, "+ mail queued") {
				fail("a row not of the account the path names changed: %s", l)
			}
		}
		hs.mayAct(t, p, "an operator's form acted")
		at := p.r.url.Path + "?m=" + p.r.url.Query().Get("m")
		ok := at == op.done
		for _, m := range strings.Fields(op.done) {
			ok = ok || at == "/admin/users/"+named+"?m="+m
		}
		if !ok {
			fail("the browser is at %s (%d)", p.r.url, p.r.status)
		}
		switch named {
		case carol:
			makeCarol(t)
		case dora:
			makeDora(t)
		case alice.id:
			alice.id = ""
		case bob.id:
			bob.id = ""
		}
	})
}
