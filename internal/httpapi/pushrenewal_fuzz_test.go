package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/factor/push"
	"github.com/twofold/twofold/internal/pushdevice"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzPushRenewal sends any body to POST /v1/me/factors/{id}/enrolment,
// which makes a new enrolment code for a push device that has not enrolled
// yet, with any id, by one of five callers: alice's elevated session, which
// set up her app and then began adding a push device, another of hers that
// is not elevated, a third elevated by her paper key (not the one adding
// the device), an API key of hers, and bob's session (no factor), which
// began adding a push device of his own. Whatever the request:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status or a redirect;
//   - a new code is made (200) only by the session that began adding the
//     device the path names, a pending push device of its account, elevated
//     when the account has a factor (never a key); then every row that
//     changed is the device's, the code's token is new and in neither the
//     database nor the log, the device enrols with the new code and no
//     longer with the one before;
//   - a refusal writes nothing (testenv.Snapshot).
//
// In an id, @pending@, @bobpending@ and @app@ stand for alice's and bob's
// devices waiting to enrol and alice's app. An account whose device got a
// new code is made anew under a new name, and the one made before is
// deleted. The who byte picks the caller (its value mod 5). On SQLite; FuzzPushRenewalPostgres is the same on
// PostgreSQL.
func FuzzPushRenewal(f *testing.F) { pushRenewal(f, testenv.SQLiteDSN(f)) }

// FuzzPushRenewalPostgres is FuzzPushRenewal on PostgreSQL.
func FuzzPushRenewalPostgres(f *testing.F) { pushRenewal(f, testenv.PostgresDSN(f)) }

func pushRenewal(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs)
	snaps := testenv.OpenSnapshots(f, dsn)
	ctx := context.Background()
	made := map[string]int{}
	var alice, bob, app string             // account ids, alice's app
	uris := map[string]string{}            // the enrolment URI of each account's pending device
	pending := map[string]push.Enrolment{} // and its enrolment
	callers := make([]*testenv.Client, 5)
	begin := func(t testing.TB, account string, c *testenv.Client) {
		uris[account] = startPush(t, c, "Tablet").String("enrolment_uri")
		e, err := push.ParseURI(uris[account])
		if err != nil {
			t.Fatal(err)
		}
		pending[account] = e
	}
	makeAlice := func(t testing.TB) {
		dropAccount(t, s, alice)
		made["alice"]++
		user := fmt.Sprintf("alice%d", made["alice"])
		addUser(t, s, user)
		other, third, elevated := login(t, s, user), login(t, s, user), login(t, s, user)
		e := enrol(t, s, elevated, map[string]any{"type": "totp", "label": "Phone"}) // confirming it elevates the session
		if r := third.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": e.paperKey}); r.Status != 200 {
			t.Fatalf("elevate by the paper key: %d %s", r.Status, r.Body)
		}
		key, _ := fuzzKey(t, s, elevated, "account * read", "keys * write")
		alice, app = accountID(t, s, user), e.id
		begin(t, alice, elevated)
		callers[0], callers[1], callers[2], callers[3] = elevated, other, third, key
	}
	makeBob := func(t testing.TB) {
		dropAccount(t, s, bob)
		made["bob"]++
		user := fmt.Sprintf("bob%d", made["bob"])
		addUser(t, s, user)
		bob, callers[4] = accountID(t, s, user), login(t, s, user)
		begin(t, bob, callers[4])
	}
	makeAlice(f)
	makeBob(f)
	s.Service.Wait()

	for _, in := range []struct {
		id, body string
		who      uint8
	}{
		{"@pending@", "", 0},
		{"@pending@", "", 1},
		{"@pending@", "", 2},
		{"@pending@", "", 3},
		{"@pending@", "", 4},
		{"@bobpending@", "", 4},
		{"@bobpending@", "", 0},
		{"@app@", "", 0},
		{"@pending@", "{}", 0},
		{"@pending@", `{"x":1}`, 0},
		{"nosuch", "", 0},
		{"@pending@/..", "", 0},
	} {
		f.Add(in.id, in.body, in.who)
	}

	f.Fuzz(func(t *testing.T, id, body string, who uint8) {
		caller := int(who % 5)
		owner := alice
		if caller == 4 {
			owner = bob
		}
		id = strings.NewReplacer("@pending@", pending[alice].DeviceID, "@bobpending@", pending[bob].DeviceID, "@app@", app).Replace(id)
		req, named, ok := pathRequest(s, "POST", "/v1/me/factors/{id}/enrolment", id, body, callers[caller])
		if !ok {
			return // no request a client could send, or another route's
		}
		logged := len(logs.String())
		input := fmt.Sprintf("%s %q by %d", req.URL.EscapedPath(), body, caller)
		r, d, done := sendJudged(t, s, snaps, dsn, req, input)
		if !done {
			return // refused, and nothing written
		}
		old := pending[owner]
		e, err := push.ParseURI(r.String("enrolment_uri"))
		switch {
		case caller != 0 && caller != 4:
			t.Fatalf("%s: answered %d %s to a caller that did not begin adding the device:\n%s", input, r.Status, r.Body, d)
		case named != old.DeviceID:
			t.Fatalf("%s: a new code for %s, not the caller's device waiting to enrol", input, named)
		case err != nil || e.DeviceID != named:
			t.Fatalf("%s: answered %s (%v)", input, r.Body, err)
		case e.Token == old.Token:
			t.Fatalf("%s: the new code has the old token", input)
		case strings.Contains(d, e.Token) || strings.Contains(logs.String()[logged:], e.Token):
			t.Fatalf("%s: the new token is stored or logged", input)
		}
		rowsOf(t, input, d, named)
		if _, _, err := pushdevice.Enrol(ctx, http.DefaultClient, uris[owner]); !isProblem(err, 401, "invalid-code") {
			t.Fatalf("%s: the code before the new one: %v, want 401 invalid-code", input, err)
		}
		if _, en, err := pushdevice.Enrol(ctx, http.DefaultClient, r.String("enrolment_uri")); err != nil || en.Status != "active" || en.FactorID != named {
			t.Fatalf("%s: enrol with the new code: %+v %v", input, en, err)
		}
		if owner == alice {
			makeAlice(t)
		} else {
			makeBob(t)
		}
		s.Service.Wait()
	})
}
