package web_test

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/pushdevice"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzPushForm posts any form to the pages' push device forms: add one
// (POST /settings/security/push) and make a new enrolment code for one
// not enrolled yet (POST /settings/security/push/{id}/renew), with any
// device id, from the browsers of formHolders (alice's elevated, alice's
// never elevated, bob's, who has no two-factor). Each account has a
// device waiting to enrol: @pa@ alice's, @pb@ bob's. Whatever the form:
//
//   - the answer is never a server error;
//   - something changes only with the browser's CSRF token and a one-time
//     token that is absent or the one the browser's page gives, only on
//     the browser's own account, and for alice only with an elevated
//     session or fields that confirm it's her with her app's code not
//     used before; then an added device is the only factor added, a push
//     device waiting to enrol, named as the form names it, and only a
//     stale setup of the account's (core.PendingSetupTTL old, or of a
//     session ended) goes with it; a new code is made only for the
//     waiting device the path names, by the session that added it (the
//     account's first browser); either way the page shows an enrolment
//     code with which the project's own device client
//     (internal/pushdevice) enrols that device;
//   - otherwise the database is as it was (testenv.Snapshot) but for the
//     elevation alice's unelevated browser's fields made
//     (formHolders.refusedDiff);
//   - no password or code of alice's app the form sent comes back in the
//     page, and none goes to the log.
//
// The which byte picks the form (its value mod 2, in the order above); with
// its bit 2 set the clock first moves on by core.PendingSetupTTL, so that
// the devices waiting are stale setups (bob's: alice's account is then
// made anew, as her browser is no longer elevated). In the id, @pa@ and @pb@ stand for
// the waiting devices; in a form, @once@ for the one-time token of the add
// form as the browser's security page gives it, and placeholders for the passwords and alice's app's codes
// (formHolders.replace). An account a form changed is made anew. The who
// byte picks the browser. A path the mux cleans to another form's route is
// skipped (servedSegments). On SQLite; FuzzPushFormPostgres is the same on
// PostgreSQL.
func FuzzPushForm(f *testing.F) { pushForm(f, testenv.SQLiteDSN(f)) }

// FuzzPushFormPostgres is FuzzPushForm on PostgreSQL.
func FuzzPushFormPostgres(f *testing.F) { pushForm(f, testenv.PostgresDSN(f)) }

// enrolURIShown finds the enrolment code a page shows.
var enrolURIShown = regexp.MustCompile(`<pre class="command" id="enrol-uri">([^<]*)</pre>`)

// pushOnce finds the one-time token of the security page's form that adds
// a push device.
var pushOnce = onceAfter("/settings/security/push")

func pushForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	waiting := make([]string, len(hs.list)) // each account's device waiting to enrol
	// wait gives the account of hs.list[i] a device waiting to enrol.
	wait := func(t testing.TB, i int) {
		a, err := ts.Service.Authenticate(ctx, sessionCookie(t, hs.list[i].browsers[0]))
		if err != nil {
			t.Fatal(err)
		}
		e, err := ts.Service.EnrolPush(ctx, a, "old phone", ts.URL(), core.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		waiting[i] = e.Factor.ID
		ts.Service.Wait()
	}
	for i := range hs.list {
		wait(f, i)
	}

	for _, in := range []struct {
		which    uint8
		id, form string
		who      uint8
	}{
		{0, "", "label=+tablet+&once=@once@", 0},
		{0, "", "label=tablet&once=@once@&elevate_method=totp&elevate_code=@next@", 1},
		{0, "", "label=tablet", 1},
		{0, "", "label=tablet&once=@once@", 2},
		{0, "", "label=old+phone", 0},
		{0, "", "label=", 2},
		{0, "", "label=tablet&once=x", 0},
		{0, "", "label=tablet&csrf=x", 2},
		{1, "@pa@", "", 0},
		{1, "@pa@", "elevate_method=totp&elevate_code=@next@", 1},
		{1, "@pa@", "", 1},
		{1, "@pb@", "", 2},
		{1, "@pb@", "", 0},
		{1, "@pa@", "", 2},
		{1, "nosuch", "", 0},
		{1, "@pa@/..", "", 0},
		{2, "", "label=tablet&once=@once@&elevate_method=totp&elevate_code=@next@", 1},
		{2, "", "label=tablet&once=@once@", 2},
		{3, "@pb@", "", 2},
	} {
		f.Add(in.which, in.id, in.form, in.who)
	}

	f.Fuzz(func(t *testing.T, which uint8, id, form string, who uint8) {
		if which&2 != 0 {
			// Before the accounts are readied: a session this lapses,
			// and alice's elevation, make them anew.
			ts.Clock.Add(core.PendingSetupTTL)
		}
		for i, made := range hs.ready(t) {
			if made {
				wait(t, i)
			}
		}
		h, c, caller := hs.browser(who)
		account := h.id // mayAct may mark it to be made anew
		mine := waiting[slices.Index(hs.list, h)]
		id = strings.NewReplacer("@pa@", waiting[0], "@pb@", waiting[1]).Replace(id)
		path, named := "/settings/security/push", ""
		if which%2 == 1 {
			path = "/settings/security/push/" + id + "/renew"
			req, err := http.NewRequest("POST", ts.URL()+path, nil)
			if err != nil || !testenv.Sendable(req) {
				return // no request a browser could send
			}
			served := servedSegments(req.URL, "/settings/security/push/", "", "renew")
			if served == nil {
				return // another form's (a path cleaned to another route)
			}
			named = served[0]
		}
		once := "none"
		if strings.Contains(form, "@once@") {
			if m := pushOnce.FindStringSubmatch(c.get("/settings/security").body); m != nil {
				once = m[1]
			}
		}
		form = hs.replace(form, c, ts.Clock.Now(), "@once@", once)
		before, err := ts.Store.Factors(ctx, account)
		if err != nil {
			t.Fatal(err)
		}
		p := hs.post(t, path, form, who)
		did, _ := hs.changed(t, p)
		if len(did) == 0 && enrolURIShown.MatchString(p.r.body) {
			t.Fatalf("%s %q by %d: nothing changed, but the page (%d) shows an enrolment code", path, form, caller, p.r.status)
		}
		fail := hs.judge(t, p, path, did)
		if fail == nil {
			return // refused, and nothing written
		}
		switch {
		case p.sent.Get("once") != "" && p.sent.Get("once") != once:
			fail("the form's one-time token is not its page's")
		}
		for _, l := range did {
			if !strings.Contains(l, account) {
				fail("a row not of the browser's account changed: %s", l)
			}
		}
		hs.mayAct(t, p, "a push device's enrolment made")
		after, err := ts.Store.Factors(ctx, account)
		if err != nil {
			t.Fatal(err)
		}
		device, gone := named, 0
		if which%2 == 0 {
			// An unfinished setup of the account's that is stale
			// (core.PendingSetupTTL old, or its session ended) goes as
			// another begins; nothing else does.
			for _, fb := range before {
				if slices.ContainsFunc(after, func(fa twofold.Factor) bool { return fa.ID == fb.ID }) {
					continue
				}
				ended := sessionEnded(t, ts, fb.PendingSessionID)
				if fb.Status != twofold.FactorPending || p.now.Before(fb.CreatedAt.Add(core.PendingSetupTTL)) && !ended {
					fail("%s %s %q went, which is no stale setup", fb.Status, fb.Type, fb.Label)
				}
				gone++
			}
			if len(after) != len(before)-gone+1 {
				fail("the form adds one factor (%d before, %d stale setups gone, %d after)", len(before), gone, len(after))
			}
			for _, fa := range after {
				if !slices.ContainsFunc(before, func(b twofold.Factor) bool { return b.ID == fa.ID }) {
					device = fa.ID
					switch {
					case fa.Type != twofold.FactorPush || fa.Status != twofold.FactorPending:
						fail("the factor added is a %s %s", fa.Status, fa.Type)
					case fa.Label != strings.TrimSpace(p.sent.Get("label")):
						fail("the device added is named %q", fa.Label)
					}
				}
			}
		} else if named != mine || c != h.browsers[0] {
			fail("a new code made for another device than the one the browser's session added and waits")
		}
		m := enrolURIShown.FindStringSubmatch(p.r.body)
		if p.r.status != 200 || m == nil {
			fail("the page (%d) shows no enrolment code", p.r.status)
		}
		if _, _, err := pushdevice.Enrol(ctx, http.DefaultClient, html.UnescapeString(m[1])); err != nil {
			fail("the device client cannot enrol with the code shown: %v", err)
		}
		enrolled, err := ts.Store.Factor(ctx, account, device)
		if err != nil || enrolled.Status != twofold.FactorActive {
			fail("the code shown enrolled another device than %s (%v)", device, err)
		}
		ts.Service.Wait()
		h.id = "" // made anew, with a device waiting
	})
}

// sessionEnded reports whether the session id no longer stands: gone, or
// of an earlier epoch of its account's sessions (a sign-out everywhere).
func sessionEnded(t *testing.T, ts *testenv.Server, id string) bool {
	t.Helper()
	ctx := context.Background()
	s, err := ts.Store.Session(ctx, id, ts.Clock.Now())
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	a, err := ts.Store.AccountByID(ctx, s.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	return s.Epoch != a.SessionEpoch
}
