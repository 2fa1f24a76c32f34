package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// FuzzSecurityAPI sends any body to the API's writes of an account's own
// two-factor settings: remove an authenticator (DELETE
// /v1/me/factors/{id}), new recovery codes (POST /v1/me/recovery-codes),
// two-factor login on or off (PUT /v1/me/two-factor) and an
// authenticator's new name (PATCH /v1/me/factors/{id}), with any id, by one
// of four callers: alice's elevated session, which set up her app and is
// setting up a second one, another of her sessions that is not elevated,
// an API key of hers (keys * write, account * read), and bob's session
// (no factor). Whatever the request:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status or a redirect;
//   - something changes only by a person's session (never a key), and
//     every row that changed is the caller's account's (or mail queued);
//     removing an active authenticator, new recovery codes and two-factor
//     login turned off take an elevated session; the authenticator being
//     set up is removed or named only by the session setting it up; a name
//     given is the body's, trimmed; new codes are in neither the log nor
//     the database;
//   - a refusal writes nothing (testenv.Snapshot).
//
// The which byte picks the request (its value mod 4, in the order above).
// In an id, @app@ and @spare@ stand for alice's active app and the one
// being set up. An account a change was about is made anew under a new
// name, and the one made before is deleted. The who byte picks the caller (its value mod 4). On SQLite;
// FuzzSecurityAPIPostgres is the same on PostgreSQL.
func FuzzSecurityAPI(f *testing.F) { securityAPI(f, testenv.SQLiteDSN(f)) }

// FuzzSecurityAPIPostgres is FuzzSecurityAPI on PostgreSQL.
func FuzzSecurityAPIPostgres(f *testing.F) { securityAPI(f, testenv.PostgresDSN(f)) }

// securityWrites are FuzzSecurityAPI's requests: the method and path,
// with "{id}" for the id.
var securityWrites = []struct{ method, path string }{
	{"DELETE", "/v1/me/factors/{id}"},
	{"POST", "/v1/me/recovery-codes"},
	{"PUT", "/v1/me/two-factor"},
	{"PATCH", "/v1/me/factors/{id}"},
}

func securityAPI(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs)
	snaps := testenv.OpenSnapshots(f, dsn)
	ctx := context.Background()
	made := map[string]int{}
	var alice, bob, app, spare string
	callers := make([]*testenv.Client, 4)
	account := func(t testing.TB, name string) (string, *testenv.Client, string) {
		made[name]++
		user := fmt.Sprintf("%s%d", name, made[name])
		addUser(t, s, user)
		return accountID(t, s, user), login(t, s, user), user
	}
	makeAlice := func(t testing.TB) {
		dropAccount(t, s, alice)
		id, other, user := account(t, "alice")
		elevated := login(t, s, user)
		app = enrol(t, s, elevated, map[string]any{"type": "totp", "label": "Phone"}).id // confirming it elevates the session
		spare = startEnrol(t, elevated, map[string]any{"type": "totp", "label": "Spare"}).id
		key, _ := fuzzKey(t, s, elevated, "account * read", "keys * write")
		alice = id
		callers[0], callers[1], callers[2] = elevated, other, key
	}
	makeBob := func(t testing.TB) {
		dropAccount(t, s, bob)
		bob, callers[3], _ = account(t, "bob")
	}
	makeAlice(f)
	makeBob(f)
	s.Service.Wait()

	for _, in := range []struct {
		which    uint8
		id, body string
		who      uint8
	}{
		{0, "@app@", "", 0},
		{0, "@app@", "", 1},
		{0, "@app@", "", 2},
		{0, "@spare@", "", 0},
		{0, "@spare@", "", 1},
		{0, "@app@", "", 3},
		{1, "", "", 0},
		{1, "", "", 1},
		{1, "", "", 2},
		{1, "", "", 3},
		{1, "", "{}", 0},
		{2, "", `{"required":false}`, 0},
		{2, "", `{"required":false}`, 1},
		{2, "", `{"required":true}`, 1},
		{2, "", `{"required":true}`, 3},
		{2, "", `{"required":false}`, 2},
		{2, "", `{}`, 0},
		{3, "@app@", `{"label":" Work phone "}`, 1},
		{3, "@app@", `{"label":"Work phone"}`, 2},
		{3, "@spare@", `{"label":"Tablet"}`, 0},
		{3, "@spare@", `{"label":"Tablet"}`, 1},
		{3, "@app@", `{"label":"Spare"}`, 0},
		{3, "@app@", `{"label":""}`, 0},
		{3, "@app@", `{"label":"x","x":1}`, 0},
	} {
		f.Add(in.which, in.id, in.body, in.who)
	}

	f.Fuzz(func(t *testing.T, which uint8, id, body string, who uint8) {
		caller := int(who % 4)
		c := callers[caller]
		owner := alice
		if caller == 3 {
			owner = bob
		}
		op := securityWrites[int(which)%len(securityWrites)]
		id = strings.NewReplacer("@app@", app, "@spare@", spare).Replace(id)
		req, named, ok := pathRequest(s, op.method, op.path, id, body, c)
		if !ok {
			return // no request a client could send, or another route's
		}
		account, err := s.Store.AccountByID(ctx, owner)
		if err != nil {
			t.Fatal(err)
		}

		logged := len(logs.String())
		input := fmt.Sprintf("%s %s %q by %d", op.method, req.URL.EscapedPath(), body, caller)
		r, d, done := sendJudged(t, s, snaps, dsn, req, input)
		if !done {
			return // refused, and nothing written
		}
		var sent struct {
			Required *bool  `json:"required"`
			Label    string `json:"label"`
		}
		_ = json.Unmarshal([]byte(body), &sent)
		elevated := caller == 0
		switch {
		case caller == 2:
			t.Fatalf("%s: answered %d %s to an API key:\n%s", input, r.Status, r.Body, d)
		case op.method == "DELETE" && named == app && !elevated:
			t.Fatalf("%s: an active authenticator removed without an elevated session", input)
		case op.path == "/v1/me/recovery-codes" && !elevated:
			t.Fatalf("%s: new recovery codes without an elevated session", input)
		case op.path == "/v1/me/two-factor" && (sent.Required == nil || !*sent.Required && account.TwoFactorRequired && !elevated):
			t.Fatalf("%s: two-factor login turned off without an elevated session", input)
		case named == spare && caller != 0:
			t.Fatalf("%s: another session's setup changed", input)
		}
		rowsOf(t, input, d, owner)
		if op.method == "PATCH" {
			fa, err := s.Store.Factor(ctx, owner, named)
			if err != nil || fa.Label != strings.TrimSpace(sent.Label) {
				t.Fatalf("%s: the authenticator is named %q (%v)", input, fa.Label, err)
			}
		}
		if codes, ok := r.JSON["codes"].([]any); ok {
			for _, x := range codes {
				code, _ := x.(string)
				if code == "" || strings.Contains(d, code) || strings.Contains(logs.String()[logged:], code) {
					t.Fatalf("%s: a recovery code %q is empty, stored or logged", input, code)
				}
			}
		} else if op.path == "/v1/me/recovery-codes" {
			t.Fatalf("%s: answered %d %s, without codes", input, r.Status, r.Body)
		}
		if d == "" {
			return
		}
		if owner == alice {
			makeAlice(t)
		} else {
			makeBob(t)
		}
		s.Service.Wait()
	})
}
