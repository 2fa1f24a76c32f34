package httpapi_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
	"github.com/twofold/twofold/internal/testenv"
)

// adminDelay is the waiting period of resets in the operator API's tests.
var adminDelay = func(c *config.Config) { c.ResetDelay = time.Hour }

// eventWith returns the detail of the account's latest audit event of type
// typ, failing the test when there is none.
func eventWith(t *testing.T, s *testenv.Server, accountID, typ string) string {
	t.Helper()
	evs, err := s.Store.Events(context.Background(), accountID, 0, 200)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Type == typ {
			return e.Detail
		}
	}
	t.Fatalf("no %s event of account %s", typ, accountID)
	return ""
}

// objects returns the objects of the response's array field key.
func objects(t *testing.T, r testenv.Response, key string) []map[string]any {
	t.Helper()
	arr, ok := r.JSON[key].([]any)
	if !ok {
		t.Fatalf("%s: not an array in %s", key, r.Body)
	}
	out := make([]map[string]any, 0, len(arr))
	for _, v := range arr {
		out = append(out, v.(map[string]any))
	}
	return out
}

// wrongPassword signs in as name with a wrong password, which the
// account's locks count.
func wrongPassword(t *testing.T, s *testenv.Server, name string) {
	t.Helper()
	r := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": name, "password": "wrong guess"})
	wantProblem(t, r, 401, "invalid-credentials")
}

// TestOperatorAPISession walks the operator API with an operator's elevated
// session: search, inspect, create, unlock, reset and cancel, teams and
// events, with the holder told by mail as the pages tell them.
func TestOperatorAPISession(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, adminDelay)
		s, op := f.s, f.opc

		// Search and inspect.
		r := op.Do(t, "GET", "/v1/admin/users?q=DAV", nil)
		if users := objects(t, r, "users"); r.Status != 200 || len(users) != 1 || users[0]["id"] != f.userID || users[0]["username"] != "dave" {
			t.Fatalf("search: got %d %s, want dave alone", r.Status, r.Body)
		}
		if r := op.Do(t, "GET", "/v1/admin/users?limit=1", nil); len(objects(t, r, "users")) != 1 {
			t.Fatalf("search with limit 1: got %s", r.Body)
		}
		wantProblem(t, op.Do(t, "GET", "/v1/admin/users?limit=201", nil), 400, "invalid")
		r = op.Do(t, "GET", "/v1/admin/users/"+f.userID, nil)
		if r.Status != 200 || r.JSON["user"].(map[string]any)["username"] != "dave" || r.JSON["recovery_codes_remaining"] != float64(10) ||
			len(objects(t, r, "factors")) != 1 || len(objects(t, r, "events")) == 0 || r.JSON["reset"] != nil {
			t.Fatalf("inspect: got %d %s", r.Status, r.Body)
		}
		for _, secret := range []string{f.phone.secret, f.phone.paperKey, password, "password_hash", "secret"} {
			if strings.Contains(string(r.Body), secret) {
				t.Errorf("inspect shows %q: %s", secret, r.Body)
			}
		}
		wantProblem(t, op.Do(t, "GET", "/v1/admin/users/no-such-account", nil), 404, "not-found")

		// Create: the rules of `twofold user add`, and never an operator.
		r = op.Do(t, "POST", "/v1/admin/users", map[string]any{"username": "erin", "email": "erin@example.com", "password": password})
		if r.Status != 201 || r.JSON["user"].(map[string]any)["username"] != "erin" || r.JSON["user"].(map[string]any)["operator"] != false {
			t.Fatalf("create: got %d %s, want 201 erin", r.Status, r.Body)
		}
		erinID := r.JSON["user"].(map[string]any)["id"].(string)
		if loc := r.Header.Get("Location"); loc != "/v1/admin/users/"+erinID {
			t.Errorf("Location: got %q", loc)
		}
		login(t, s, "erin")
		if d := eventWith(t, s, erinID, "account.created"); !strings.Contains(d, "operator carol") {
			t.Errorf("account.created detail %q: want the operator named", d)
		}
		for name, tt := range map[string]struct {
			body    map[string]any
			status  int
			problem string
		}{
			"taken in another case": {map[string]any{"username": "ERIN", "password": password}, 409, "conflict"},
			"short password":        {map[string]any{"username": "frank", "password": "short"}, 400, "invalid"},
			"bad username":          {map[string]any{"username": "fr ank", "password": password}, 400, "invalid"},
			"bad email":             {map[string]any{"username": "frank", "email": "not an address", "password": password}, 400, "invalid"},
			"unknown field":         {map[string]any{"username": "frank", "password": password, "admin": true}, 400, "invalid"},
			"an operator":           {map[string]any{"username": "frank", "password": password, "operator": true}, 403, "forbidden"},
		} {
			t.Run(name, func(t *testing.T) {
				wantProblem(t, op.Do(t, "POST", "/v1/admin/users", tt.body), tt.status, tt.problem)
			})
		}
		if _, err := s.Store.AccountByUsername(context.Background(), "frank"); err == nil {
			t.Fatal("a refused account was stored")
		}

		// Unlock.
		wrongPassword(t, s, "dave")
		if r := op.Do(t, "GET", "/v1/admin/users/"+f.userID, nil); r.JSON["locks"].(map[string]any)["password_failures"] != float64(1) {
			t.Fatalf("locks before the unlock: got %s", r.Body)
		}
		if r := op.Do(t, "POST", "/v1/admin/users/"+f.userID+"/unlock", nil); r.Status != 200 || r.JSON["unlocked"] != true {
			t.Fatalf("unlock: got %d %s", r.Status, r.Body)
		}
		if r := op.Do(t, "POST", "/v1/admin/users/"+f.userID+"/unlock", nil); r.Status != 200 || r.JSON["unlocked"] != false {
			t.Fatalf("unlock with nothing locked: got %d %s", r.Status, r.Body)
		}
		mailWith(t, f.mailbox, "your account was unlocked")
		if d := eventWith(t, s, f.userID, "account.unlocked"); d != "by operator carol" {
			t.Errorf("account.unlocked detail %q", d)
		}

		// Reset, as the page does: delayed, the holder told; then cancelled.
		r = op.Do(t, "POST", "/v1/admin/users/"+f.userID+"/two-factor-reset", nil)
		reset, _ := r.JSON["reset"].(map[string]any)
		if r.Status != 200 || r.JSON["status"] != "scheduled" || reset["due_at"] != s.Clock.Now().Add(time.Hour).UTC().Format(time.RFC3339) || reset["requested_by"] != "operator carol" {
			t.Fatalf("reset: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, op.Do(t, "POST", "/v1/admin/users/"+f.userID+"/two-factor-reset", nil), 409, "conflict")
		if body := mailWith(t, f.mailbox, "a reset of your two-factor was requested"); strings.Contains(body, "carol") {
			t.Errorf("the holder's notice names the operator: %q", body)
		}
		r = op.Do(t, "GET", "/v1/admin/resets", nil)
		if rs := objects(t, r, "resets"); len(rs) != 1 || rs[0]["user_id"] != f.userID || rs[0]["username"] != "dave" || r.JSON["more"] != false {
			t.Fatalf("resets: got %s", r.Body)
		}
		// A page of resets says when more wait.
		enrol(t, s, login(t, s, "erin"), map[string]any{"type": "totp", "label": "phone"})
		s.Clock.Add(time.Minute)
		if r := op.Do(t, "POST", "/v1/admin/users/"+erinID+"/two-factor-reset", nil); r.Status != 200 {
			t.Fatalf("erin's reset: got %d %s", r.Status, r.Body)
		}
		r = op.Do(t, "GET", "/v1/admin/resets?limit=1", nil)
		if rs := objects(t, r, "resets"); len(rs) != 1 || rs[0]["username"] != "dave" || r.JSON["more"] != true {
			t.Fatalf("resets, limit 1 of 2: got %s", r.Body)
		}
		if r := op.Do(t, "GET", "/v1/admin/resets", nil); len(objects(t, r, "resets")) != 2 || r.JSON["more"] != false {
			t.Fatalf("resets, 2 of 2: got %s", r.Body)
		}
		wantProblem(t, op.Do(t, "GET", "/v1/admin/resets?limit=0", nil), 400, "invalid")
		if r := op.Do(t, "DELETE", "/v1/admin/users/"+erinID+"/two-factor-reset", nil); r.Status != 204 {
			t.Fatalf("cancel erin's reset: got %d %s", r.Status, r.Body)
		}
		if r := op.Do(t, "GET", "/v1/admin/users/"+f.userID, nil); r.JSON["reset"] == nil {
			t.Fatalf("inspect while a reset waits: got %s", r.Body)
		}
		if r := op.Do(t, "DELETE", "/v1/admin/users/"+f.userID+"/two-factor-reset", nil); r.Status != 204 {
			t.Fatalf("cancel: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, op.Do(t, "DELETE", "/v1/admin/users/"+f.userID+"/two-factor-reset", nil), 404, "not-found")
		if body := mailWith(t, f.mailbox, "the reset of your two-factor was cancelled"); !strings.Contains(strings.Join(strings.Fields(body), " "), "paper key and SSH keys stay as they are") {
			t.Errorf("the cancellation mail does not say the SSH keys stay too:\n%s", body)
		}
		if r := op.Do(t, "GET", "/v1/admin/resets", nil); len(objects(t, r, "resets")) != 0 {
			t.Fatalf("resets after the cancel: got %s", r.Body)
		}
		wantProblem(t, op.Do(t, "POST", "/v1/admin/users/no-such-account/two-factor-reset", nil), 404, "not-found")
		wantProblem(t, op.Do(t, "POST", "/v1/admin/users/no-such-account/unlock", nil), 404, "not-found")

		// Teams: every team, the operator a member of none.
		team := f.user.Do(t, "POST", "/v1/teams", map[string]string{"name": "Ops crew"})
		teamID := team.JSON["team"].(map[string]any)["id"].(string)
		r = op.Do(t, "GET", "/v1/admin/teams?q=crew", nil)
		if ts := objects(t, r, "teams"); len(ts) != 1 || ts[0]["id"] != teamID || ts[0]["members"] != float64(1) || !slices.Equal(ts[0]["owners"].([]any), []any{"dave"}) {
			t.Fatalf("teams: got %s", r.Body)
		}
		r = op.Do(t, "GET", "/v1/admin/teams/"+teamID, nil)
		if ms := objects(t, r, "members"); r.Status != 200 || len(ms) != 1 || ms[0]["username"] != "dave" || ms[0]["role"] != "owner" {
			t.Fatalf("team: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, op.Do(t, "GET", "/v1/admin/teams/no-such-team", nil), 404, "not-found")

		// A misspelt parameter is refused, never read as "every account"
		// (nor as the default of what it meant).
		for _, path := range []string{"/v1/admin/events?account_id=" + erinID, "/v1/admin/events?acount=" + erinID, "/v1/admin/events?afer=1",
			"/v1/admin/users?query=erin", "/v1/admin/teams?Q=crew", "/v1/admin/resets?limt=1"} {
			r := op.Do(t, "GET", path, nil)
			wantProblem(t, r, 400, "invalid")
			if k := path[strings.Index(path, "?")+1 : strings.Index(path, "=")]; !strings.Contains(string(r.Body), `\"`+k+`\"`) {
				t.Errorf("GET %s: the problem does not name %s: %s", path, k, r.Body)
			}
		}

		// Events of one account, and of all.
		r = op.Do(t, "GET", "/v1/admin/events?account="+erinID, nil)
		evs := objects(t, r, "events")
		if len(evs) == 0 {
			t.Fatalf("erin's events: got %s", r.Body)
		}
		for _, e := range evs {
			if e["account_id"] != erinID {
				t.Fatalf("erin's events: got one of %v", e["account_id"])
			}
		}
		wantProblem(t, op.Do(t, "GET", "/v1/admin/events?before=x", nil), 400, "invalid")
	})
}

// TestOperatorAPIWritesNeedElevation: an operator's session reads without
// elevation but writes only elevated, and only with two-factor on their
// own account, as the pages require.
func TestOperatorAPIWritesNeedElevation(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, adminDelay)
		s := f.s
		wrongPassword(t, s, "dave")
		s.Clock.Add(11 * time.Minute) // past the operator's elevation
		if _, err := s.Service.CreateAccount(context.Background(), core.NewAccount{Username: "oscar", Password: password, Operator: true}, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		oscar := login(t, s, "oscar") // an operator without two-factor
		for _, tt := range []struct {
			name    string
			c       *testenv.Client
			problem string
		}{
			{"not elevated", f.opc, "elevation-required"},
			{"without two-factor", oscar, "forbidden"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if r := tt.c.Do(t, "GET", "/v1/admin/users/"+f.userID, nil); r.Status != 200 {
					t.Fatalf("read: got %d %s", r.Status, r.Body)
				}
				for _, w := range []struct{ method, path string }{
					{"POST", "/v1/admin/users"},
					{"POST", "/v1/admin/users/" + f.userID + "/unlock"},
					{"POST", "/v1/admin/users/" + f.userID + "/two-factor-reset"},
					{"DELETE", "/v1/admin/users/" + f.userID + "/two-factor-reset"},
					{"POST", "/v1/admin/users/" + f.userID + "/suspend"},
					{"POST", "/v1/admin/users/" + f.userID + "/unsuspend"},
				} {
					var body any
					if w.path == "/v1/admin/users" {
						body = map[string]any{"username": "frank", "password": password}
					}
					wantProblem(t, tt.c.Do(t, w.method, w.path, body), 403, tt.problem)
				}
			})
		}
		if _, err := s.Store.AccountByUsername(context.Background(), "frank"); err == nil {
			t.Error("an account was created without elevation")
		}
		// Nor does a key with admin permits come from such a session: the
		// operator without two-factor makes other keys, not these.
		wantProblem(t, oscar.Do(t, "POST", "/v1/me/api-keys", keyRequest("panel", nil, "admin users write")), 403, "forbidden")
		makeKey(t, oscar, "dns", nil, "dns * read")
		if n := countEvents(t, s, f.userID, "account.unlocked") + countEvents(t, s, f.userID, "two_factor.reset_requested"); n != 0 {
			t.Errorf("got %d writes recorded without elevation, want none", n)
		}
	})
}

// adminRoutes are the operator API's routes with ids filled in: userID
// for {id} under users, teamID under teams.
func adminRoutes(t *testing.T, userID, teamID string) []struct{ method, path string } {
	t.Helper()
	var out []struct{ method, path string }
	for pattern := range httpapi.New(nil, nil, nil).Routes() {
		method, path, _ := strings.Cut(pattern, " ")
		if !strings.HasPrefix(path, "/v1/admin/") {
			continue
		}
		id := userID
		if strings.HasPrefix(path, "/v1/admin/teams/") {
			id = teamID
		}
		out = append(out, struct{ method, path string }{method, strings.ReplaceAll(path, "{id}", id)})
	}
	if len(out) < 10 {
		t.Fatalf("got %d operator API routes, want at least 10", len(out))
	}
	return out
}

// TestOperatorAPIRefusesOthers: every route of the operator API answers 403
// to a person who is not an operator, elevated or not, and to API keys
// without an admin permit, an operator's included; 401 without
// credentials. Nothing is written.
func TestOperatorAPIRefusesOthers(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, adminDelay)
		s := f.s
		team := f.user.Do(t, "POST", "/v1/teams", map[string]string{"name": "crew"}).JSON["team"].(map[string]any)["id"].(string)
		s.Clock.Add(30 * time.Second)
		if r := f.user.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, f.phone.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		daveKey := makeKey(t, f.user, "everything", nil, "dns * read,write", "account * read", "keys * read,write")
		opKey := makeKey(t, f.opc, "not admin", nil, "dns * read,write", "account * read", "keys * read,write")
		callers := map[string]*testenv.Client{
			"a user's elevated session": f.user,
			"a user's key":              keyClient(s, daveKey.id, daveKey.secret),
			"an operator's other key":   keyClient(s, opKey.id, opKey.secret),
		}
		bearer := testenv.NewClient(s.URL())
		bearer.Token = opKey.id + ":" + opKey.secret
		callers["an operator's other key as Bearer"] = bearer
		for name, c := range callers {
			t.Run(name, func(t *testing.T) {
				for _, rt := range adminRoutes(t, f.op.Account.ID, team) {
					var body any
					if rt.method == "POST" && rt.path == "/v1/admin/users" {
						body = map[string]any{"username": "mallory", "password": password}
					}
					if rt.method == "POST" && rt.path == "/v1/admin/webhooks" {
						body = map[string]any{"url": "https://mallory.example/hook"}
					}
					if rt.method == "PATCH" {
						body = map[string]any{"email": "mallory@example.com"}
					}
					r := c.Do(t, rt.method, rt.path, body)
					if r.Status != 403 || r.Problem() != "forbidden" {
						t.Errorf("%s %s: got %d %s, want 403 forbidden", rt.method, rt.path, r.Status, r.Body)
					}
				}
			})
		}
		for _, rt := range adminRoutes(t, f.op.Account.ID, team) {
			if r := testenv.NewClient(s.URL()).Do(t, rt.method, rt.path, nil); r.Status != 401 {
				t.Errorf("%s %s without credentials: got %d, want 401", rt.method, rt.path, r.Status)
			}
		}
		if _, err := s.Store.AccountByUsername(context.Background(), "mallory"); err == nil {
			t.Error("a refused caller created an account")
		}
		// A person who is not an operator makes no key with admin permits,
		// nor does their key.
		wantProblem(t, f.user.Do(t, "POST", "/v1/me/api-keys", keyRequest("panel", nil, "admin users read")), 403, "forbidden")
		wantProblem(t, keyClient(s, daveKey.id, daveKey.secret).Do(t, "POST", "/v1/me/api-keys", keyRequest("panel", nil, "admin * read")), 403, "forbidden")
		// Nor does an operator's key without them.
		wantProblem(t, keyClient(s, opKey.id, opKey.secret).Do(t, "POST", "/v1/me/api-keys", keyRequest("panel", nil, "admin * read")), 403, "forbidden")
	})
}

// TestOperatorAPIKeys: an operator's API key with admin permits drives the
// operator API as far as its permits go, with every write audited naming
// the operator and the key; it schedules a reset the holder is told of but
// never one at once; and it grants nothing once its owner is no longer an
// operator.
func TestOperatorAPIKeys(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, adminDelay)
		s, ctx := f.s, context.Background()

		// Making one needs elevation and two-factor, as operators' writes do.
		s.Clock.Add(11 * time.Minute)
		wantProblem(t, f.opc.Do(t, "POST", "/v1/me/api-keys", keyRequest("panel", nil, "admin users read")), 403, "elevation-required")
		if r := f.opc.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, f.opPhone.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		read := makeKey(t, f.opc, "panel read", nil, "admin * read", "keys * write")
		write := makeKey(t, f.opc, "panel", nil, "admin users read,write")
		resets := makeKey(t, f.opc, "panel resets", nil, "admin resets read,write")
		plain := makeKey(t, f.opc, "plain", nil, "account * read")
		reader, writer := keyClient(s, read.id, read.secret), keyClient(s, write.id, write.secret)
		resetter := keyClient(s, resets.id, resets.secret)

		// A resets key asks for and cancels resets, and nothing else.
		if r := resetter.Do(t, "POST", "/v1/admin/users/"+f.userID+"/two-factor-reset", nil); r.Status != 200 || r.JSON["status"] != "scheduled" {
			t.Fatalf("reset by a resets key: got %d %s", r.Status, r.Body)
		}
		mailWith(t, f.mailbox, "a reset of your two-factor was requested")
		if r := resetter.Do(t, "GET", "/v1/admin/resets", nil); r.Status != 200 || len(objects(t, r, "resets")) != 1 {
			t.Fatalf("resets read by a resets key: got %d %s", r.Status, r.Body)
		}
		if r := resetter.Do(t, "DELETE", "/v1/admin/users/"+f.userID+"/two-factor-reset", nil); r.Status != 204 {
			t.Fatalf("cancel by a resets key: got %d %s", r.Status, r.Body)
		}
		mailWith(t, f.mailbox, "the reset of your two-factor was cancelled")
		wantProblem(t, resetter.Do(t, "POST", "/v1/admin/users/"+f.userID+"/unlock", nil), 403, "forbidden")
		wantProblem(t, resetter.Do(t, "POST", "/v1/admin/users/"+f.userID+"/suspend", nil), 403, "forbidden")
		wantProblem(t, resetter.Do(t, "GET", "/v1/admin/users", nil), 403, "forbidden")
		// Nothing is written under teams or events: no key may say so.
		wantProblem(t, f.opc.Do(t, "POST", "/v1/me/api-keys", keyRequest("teams", nil, "admin teams write")), 400, "invalid")

		// The read key reads everything and writes nothing.
		for _, path := range []string{"/v1/admin/users", "/v1/admin/users/" + f.userID, "/v1/admin/resets", "/v1/admin/teams", "/v1/admin/events"} {
			if r := reader.Do(t, "GET", path, nil); r.Status != 200 {
				t.Errorf("read key: GET %s: got %d %s", path, r.Status, r.Body)
			}
		}
		wrongPassword(t, s, "dave")
		for _, w := range []struct{ method, path string }{
			{"POST", "/v1/admin/users/" + f.userID + "/unlock"},
			{"POST", "/v1/admin/users/" + f.userID + "/two-factor-reset"},
			{"DELETE", "/v1/admin/users/" + f.userID + "/two-factor-reset"},
			{"POST", "/v1/admin/users/" + f.userID + "/suspend"},
			{"POST", "/v1/admin/users/" + f.userID + "/unsuspend"},
		} {
			wantProblem(t, reader.Do(t, w.method, w.path, nil), 403, "forbidden")
		}
		wantProblem(t, reader.Do(t, "POST", "/v1/admin/users", map[string]any{"username": "frank", "password": password}), 403, "forbidden")
		// A key made by it stays within its permits.
		wantProblem(t, reader.Do(t, "POST", "/v1/me/api-keys", keyRequest("wider", nil, "admin users write")), 403, "forbidden")
		if r := reader.Do(t, "POST", "/v1/me/api-keys", keyRequest("narrower", nil, "admin users read")); r.Status != 201 {
			t.Fatalf("a narrower admin key made by a key: got %d %s", r.Status, r.Body)
		}

		// The write key: users only, and the user summary without events.
		wantProblem(t, writer.Do(t, "GET", "/v1/admin/teams", nil), 403, "forbidden")
		wantProblem(t, writer.Do(t, "GET", "/v1/admin/events", nil), 403, "forbidden")
		if r := writer.Do(t, "GET", "/v1/admin/users/"+f.userID, nil); r.Status != 200 || len(objects(t, r, "events")) != 0 {
			t.Fatalf("inspect by a key without admin events read: got %d %s, want no events", r.Status, r.Body)
		}
		r := writer.Do(t, "POST", "/v1/admin/users", map[string]any{"username": "erin", "email": "erin@example.com", "password": password})
		if r.Status != 201 {
			t.Fatalf("create by key: got %d %s", r.Status, r.Body)
		}
		keyNamed := `operator carol with API key "panel" (` + write.id + `)`
		if d := eventWith(t, s, r.JSON["user"].(map[string]any)["id"].(string), "account.created"); d != "by "+keyNamed {
			t.Errorf("account.created detail %q, want the operator and the key", d)
		}
		r = writer.Do(t, "POST", "/v1/admin/users/"+f.userID+"/two-factor-reset", nil)
		if r.Status != 200 || r.JSON["status"] != "scheduled" || r.JSON["reset"].(map[string]any)["requested_by"] != keyNamed {
			t.Fatalf("reset by key: got %d %s", r.Status, r.Body)
		}
		if body := mailWith(t, f.mailbox, "a reset of your two-factor was requested"); strings.Contains(body, "carol") || strings.Contains(body, "panel") {
			t.Errorf("the holder's notice names the operator or the key: %q", body)
		}
		if d := eventWith(t, s, f.userID, "two_factor.reset_requested"); !strings.HasPrefix(d, "by "+keyNamed) {
			t.Errorf("two_factor.reset_requested detail %q", d)
		}
		if r := writer.Do(t, "DELETE", "/v1/admin/users/"+f.userID+"/two-factor-reset", nil); r.Status != 204 {
			t.Fatalf("cancel by key: got %d %s", r.Status, r.Body)
		}
		mailWith(t, f.mailbox, "the reset of your two-factor was cancelled")

		// A key unlocks one account a few times, then an operator must.
		for i := range 3 {
			if i > 0 {
				wrongPassword(t, s, "dave")
			}
			if r := writer.Do(t, "POST", "/v1/admin/users/"+f.userID+"/unlock", nil); r.Status != 200 || r.JSON["unlocked"] != true {
				t.Fatalf("unlock %d by key: got %d %s", i+1, r.Status, r.Body)
			}
		}
		if d := eventWith(t, s, f.userID, "account.unlocked"); d != "by "+keyNamed {
			t.Errorf("account.unlocked detail %q", d)
		}
		wrongPassword(t, s, "dave")
		r = writer.Do(t, "POST", "/v1/admin/users/"+f.userID+"/unlock", nil)
		wantProblem(t, r, 429, "throttled")
		retryAfter(t, r)
		if r := writer.Do(t, "GET", "/v1/admin/users/"+f.userID, nil); r.JSON["locks"].(map[string]any)["password_failures"] != float64(1) {
			t.Fatalf("locks after a refused unlock: got %s, want them kept", r.Body)
		}
		if n := countEvents(t, s, f.userID, "account.unlocked"); n != 3 {
			t.Errorf("got %d unlocks recorded, want 3", n)
		}

		// Its owner no longer an operator: the keys with admin permits are
		// revoked, with the keys they made and their tokens, and do not
		// come back when the account is made an operator again. Its other
		// keys work on.
		_, _, tok := token(t, s, read.id, read.secret, map[string][]string{"grant_type": {"client_credentials"}})
		tokClient := testenv.NewClient(s.URL())
		tokClient.Token, _ = tok["access_token"].(string)
		if r := tokClient.Do(t, "GET", "/v1/admin/events", nil); r.Status != 200 {
			t.Fatalf("the read key's token: got %d %s", r.Status, r.Body)
		}
		if err := s.Store.SetEmail(ctx, f.op.Account.ID, "carol@example.com", s.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Service.SetOperatorByName(ctx, "carol", false, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		body := mailWith(t, f.mailbox, "your account is no longer an operator")
		for _, name := range []string{"panel read", "panel", "panel resets"} {
			if !strings.Contains(body, `"`+name+`"`) {
				t.Errorf("the notice does not name the revoked key %q: %q", name, body)
			}
		}
		for _, c := range []*testenv.Client{reader, writer, resetter, tokClient} {
			wantProblem(t, c.Do(t, "GET", "/v1/admin/users", nil), 401, "unauthorized")
		}
		wantProblem(t, f.opc.Do(t, "GET", "/v1/admin/users", nil), 403, "forbidden")
		// A request that read the account before the demotion makes no
		// admin key after it: the flag is read again as the key is stored.
		stale, err := s.Service.Authenticate(ctx, f.opc.Token)
		if err != nil {
			t.Fatal(err)
		}
		stale.Account.Operator = true
		_, _, err = s.Service.CreateAPIKey(ctx, stale, core.NewAPIKey{Name: "late", Permits: []twofold.Permit{{Service: "admin", Resource: "users", Actions: []string{"write"}}}}, core.Meta{})
		if twofold.ErrorCode(err) != twofold.CodeForbidden {
			t.Errorf("an admin key made with the account read before its demotion: %v", err)
		}
		if n := countEvents(t, s, f.op.Account.ID, "api_key.revoked"); n != 3 { // the one the read key made goes with it
			t.Errorf("got %d api_key.revoked events, want 3", n)
		}
		if r := keyClient(s, plain.id, plain.secret).Do(t, "GET", "/v1/me", nil); r.Status != 200 {
			t.Errorf("a key without admin permits after its owner's demotion: got %d %s", r.Status, r.Body)
		}
		if _, err := s.Service.SetOperatorByName(ctx, "carol", true, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		wantProblem(t, reader.Do(t, "GET", "/v1/admin/events", nil), 401, "unauthorized")
		wantProblem(t, tokClient.Do(t, "GET", "/v1/admin/events", nil), 401, "unauthorized")
	})
}

// TestOperatorAPIKeyNeverResetsAtOnce: a key asks only for a reset that
// waits and that the holder is told of; without a waiting period, or for a
// holder without an email address, only an elevated operator's session can.
func TestOperatorAPIKeyNeverResetsAtOnce(t *testing.T) {
	for name, delay := range map[string]time.Duration{"no waiting period": 0, "a holder who cannot be told": time.Hour} {
		t.Run(name, func(t *testing.T) {
			eachDSN(t, func(t *testing.T, dsn string) {
				f := newResetFixture(t, dsn, func(c *config.Config) { c.ResetDelay = delay })
				s := f.s
				target := f.userID
				if delay > 0 {
					if _, err := s.Service.CreateAccount(context.Background(), core.NewAccount{Username: "nomail", Password: password}, core.Meta{}); err != nil {
						t.Fatal(err)
					}
					enrol(t, s, login(t, s, "nomail"), map[string]any{"type": "totp", "label": "phone"})
					a, err := s.Store.AccountByUsername(context.Background(), "nomail")
					if err != nil {
						t.Fatal(err)
					}
					target = a.ID
				}
				k := makeKey(t, f.opc, "panel", nil, "admin * read,write")
				wantProblem(t, keyClient(s, k.id, k.secret).Do(t, "POST", "/v1/admin/users/"+target+"/two-factor-reset", nil), 403, "forbidden")
				if n := countEvents(t, s, target, "two_factor.reset_requested"); n != 0 {
					t.Fatalf("got %d resets recorded, want none", n)
				}
				r := f.opc.Do(t, "POST", "/v1/admin/users/"+target+"/two-factor-reset", nil)
				want := "scheduled"
				if delay == 0 {
					want = "carried_out"
				}
				if r.Status != 200 || r.JSON["status"] != want {
					t.Fatalf("the operator's session: got %d %s, want %s", r.Status, r.Body, want)
				}
			})
		})
	}
}

// TestOperatorAPIEventsPaging: paging through every account's events by
// next_before returns each event once, newest first, while new events are
// added between pages.
func TestOperatorAPIEventsPaging(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, adminDelay)
		s := f.s
		for _, name := range []string{"u1", "u2", "u3", "u4"} {
			addUser(t, s, name)
		}
		all, err := s.Store.Events(context.Background(), "", 0, 200)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		seen := map[int64]bool{}
		path := "/v1/admin/events?limit=3"
		for page := 0; ; page++ {
			if page > len(all) {
				t.Fatal("paging does not end")
			}
			r := f.opc.Do(t, "GET", path, nil)
			if r.Status != 200 {
				t.Fatalf("page %d: got %d %s", page, r.Status, r.Body)
			}
			evs := objects(t, r, "events")
			if len(evs) == 0 {
				if _, ok := r.JSON["next_before"]; ok {
					t.Errorf("an empty page with next_before: %s", r.Body)
				}
				break
			}
			if len(evs) > 3 {
				t.Fatalf("page %d: got %d events, want at most 3", page, len(evs))
			}
			for _, e := range evs {
				id := int64(e["id"].(float64))
				if seen[id] {
					t.Fatalf("event %d returned twice", id)
				}
				seen[id] = true
				got = append(got, id)
			}
			if next := int64(r.JSON["next_before"].(float64)); next != got[len(got)-1] {
				t.Fatalf("next_before %d, want the page's last id %d", next, got[len(got)-1])
			}
			path = "/v1/admin/events?limit=3&before=" + jsonNumber(r.JSON["next_before"])
			addUser(t, s, "late"+jsonNumber(float64(page))) // comes before the first page
		}
		want := make([]int64, 0, len(all))
		for _, e := range all {
			want = append(want, e.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("paged ids %v, want %v", got, want)
		}
	})
}

// TestOperatorAPISuspend: a suspended account cannot sign in, its sessions,
// pending second steps, API keys and their tokens stop working at once;
// lifting the suspension lets it sign in and its keys work again, but no
// session comes back. Operators and the caller's own account are not
// suspended; a key with admin users write suspends as a session does.
func TestOperatorAPISuspend(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, adminDelay)
		s, op := f.s, f.opc
		s.Clock.Add(30 * time.Second)
		if r := f.user.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, f.phone.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		k := makeKey(t, f.user, "script", nil, "account * read")
		key := keyClient(s, k.id, k.secret)
		_, _, tok := token(t, s, k.id, k.secret, map[string][]string{"grant_type": {"client_credentials"}})
		tokClient := testenv.NewClient(s.URL())
		tokClient.Token, _ = tok["access_token"].(string)
		pending, _ := startLogin(t, s, "dave")
		works := func(c *testenv.Client) bool { return c.Do(t, "GET", "/v1/me", nil).Status == 200 }
		if !works(f.user) || !works(key) || !works(tokClient) {
			t.Fatal("the session, key or token does not work before the suspension")
		}

		r := op.Do(t, "POST", "/v1/admin/users/"+f.userID+"/suspend", nil)
		if r.Status != 200 || r.JSON["user"].(map[string]any)["suspended"] != true {
			t.Fatalf("suspend: got %d %s", r.Status, r.Body)
		}
		mailWith(t, f.mailbox, "your account was suspended")
		if d := eventWith(t, s, f.userID, "account.suspended"); d != "by operator carol" {
			t.Errorf("account.suspended detail %q", d)
		}
		wantProblem(t, f.user.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
		wantProblem(t, key.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
		wantProblem(t, tokClient.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
		if status, _, _ := token(t, s, k.id, k.secret, map[string][]string{"grant_type": {"client_credentials"}}); status != 401 {
			t.Errorf("a token for the key of a suspended account: got %d, want 401", status)
		}
		if v := verify(t, s, pending, map[string]string{"method": "totp", "code": testenv.TOTP(t, f.phone.secret, s.Clock.Now().Add(30*time.Second))}); v.Status == 200 {
			t.Errorf("a second step started before the suspension: got %d %s", v.Status, v.Body)
		}
		r = testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "dave", "password": password})
		wantProblem(t, r, 403, "forbidden")
		wantProblem(t, testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "dave", "password": "wrong guess"}), 401, "invalid-credentials")
		if r := op.Do(t, "GET", "/v1/admin/users?q=dave", nil); objects(t, r, "users")[0]["suspended"] != true {
			t.Errorf("search: got %s, want dave suspended", r.Body)
		}
		// Again: nothing changes, nothing is recorded.
		if r := op.Do(t, "POST", "/v1/admin/users/"+f.userID+"/suspend", nil); r.Status != 200 {
			t.Fatalf("suspend again: got %d %s", r.Status, r.Body)
		}
		if n := countEvents(t, s, f.userID, "account.suspended"); n != 1 {
			t.Errorf("got %d account.suspended events, want 1", n)
		}

		// Lifted by a key with admin users write.
		panel := makeKey(t, op, "panel", nil, "admin users write")
		r = keyClient(s, panel.id, panel.secret).Do(t, "POST", "/v1/admin/users/"+f.userID+"/unsuspend", nil)
		if r.Status != 200 || r.JSON["user"].(map[string]any)["suspended"] != false {
			t.Fatalf("unsuspend by key: got %d %s", r.Status, r.Body)
		}
		mailWith(t, f.mailbox, "your account's suspension was lifted")
		if d := eventWith(t, s, f.userID, "account.unsuspended"); !strings.Contains(d, `API key "panel"`) {
			t.Errorf("account.unsuspended detail %q: want the key named", d)
		}
		if !works(key) {
			t.Error("the key does not work after the suspension was lifted")
		}
		wantProblem(t, f.user.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
		if _, r := startLogin(t, s, "dave"); r.String("status") != "second_factor_required" {
			t.Errorf("login after the suspension was lifted: got %s", r.Body)
		}

		// Never the caller's own account, nor an operator's.
		wantProblem(t, op.Do(t, "POST", "/v1/admin/users/"+f.op.Account.ID+"/suspend", nil), 403, "forbidden")
		if _, err := s.Service.CreateAccount(context.Background(), core.NewAccount{Username: "oscar", Password: password, Operator: true}, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		oscar, err := s.Store.AccountByUsername(context.Background(), "oscar")
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, op.Do(t, "POST", "/v1/admin/users/"+oscar.ID+"/suspend", nil), 403, "forbidden")
		login(t, s, "oscar")
		wantProblem(t, op.Do(t, "POST", "/v1/admin/users/no-such-account/suspend", nil), 404, "not-found")
	})
}

// TestSuspensionCancelsWaitingReset: a holder cannot cancel a reset of
// two-factor while suspended, so a suspension cancels it: a key cannot ask
// for a reset, then suspend the holder until it falls due.
func TestSuspensionCancelsWaitingReset(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, adminDelay)
		s, ctx := f.s, context.Background()
		panel := makeKey(t, f.opc, "panel", nil, "admin users write")
		key := keyClient(s, panel.id, panel.secret)
		if r := key.Do(t, "POST", "/v1/admin/users/"+f.userID+"/two-factor-reset", nil); r.Status/100 != 2 {
			t.Fatalf("reset by key: got %d %s", r.Status, r.Body)
		}
		if r := key.Do(t, "POST", "/v1/admin/users/"+f.userID+"/suspend", nil); r.Status != 200 {
			t.Fatalf("suspend by key: got %d %s", r.Status, r.Body)
		}
		if _, found, err := s.Store.TwoFactorReset(ctx, f.userID); err != nil || found {
			t.Fatalf("after the suspension a reset still waits (%v, %v)", found, err)
		}
		if d := eventWith(t, s, f.userID, "two_factor.reset_cancelled"); !strings.Contains(d, "suspended") {
			t.Errorf("two_factor.reset_cancelled detail %q", d)
		}
		if body := mailWith(t, f.mailbox, "your account was suspended"); !strings.Contains(body, "reset of your two-factor that was waiting is cancelled") {
			t.Errorf("the suspension mail does not say the reset was cancelled:\n%s", body)
		}
		s.Clock.Add(2 * time.Hour)
		if r := key.Do(t, "POST", "/v1/admin/users/"+f.userID+"/unsuspend", nil); r.Status != 200 {
			t.Fatalf("unsuspend: got %d %s", r.Status, r.Body)
		}
		if err := s.Service.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if _, r := startLogin(t, s, "dave"); r.String("status") != "second_factor_required" {
			t.Errorf("after the suspension, login: got %s, want the holder's factors still asked for", r.Body)
		}
	})
}

// TestNoResetOfASuspendedAccount: a suspended holder could neither cancel
// a reset nor withdraw it by using a factor, so none is asked for while the
// suspension lasts: a key cannot suspend first and ask for a reset after.
func TestNoResetOfASuspendedAccount(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, adminDelay)
		k := makeKey(t, f.opc, "panel", nil, "admin users write")
		key := keyClient(f.s, k.id, k.secret)
		if r := key.Do(t, "POST", "/v1/admin/users/"+f.userID+"/suspend", nil); r.Status != 200 {
			t.Fatalf("suspend: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, key.Do(t, "POST", "/v1/admin/users/"+f.userID+"/two-factor-reset", nil), 409, "conflict")
		wantProblem(t, f.opc.Do(t, "POST", "/v1/admin/users/"+f.userID+"/two-factor-reset", nil), 409, "conflict")
		if _, found, err := f.s.Store.TwoFactorReset(t.Context(), f.userID); err != nil || found {
			t.Fatalf("a reset waits on a suspended account (%v, %v)", found, err)
		}
	})
}

// TestResetAskedTwiceSaysItWaits: asking for a reset while one waits is a
// 409 that says so, with when it falls due, and not that the account may
// be suspended, which it is not.
func TestResetAskedTwiceSaysItWaits(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, adminDelay)
		first := f.opc.Do(t, "POST", "/v1/admin/users/"+f.userID+"/two-factor-reset", nil)
		if first.Status != 200 {
			t.Fatalf("reset: got %d %s", first.Status, first.Body)
		}
		due := first.JSON["reset"].(map[string]any)["due_at"].(string)
		r := f.opc.Do(t, "POST", "/v1/admin/users/"+f.userID+"/two-factor-reset", nil)
		wantProblem(t, r, 409, "conflict")
		d := r.String("detail")
		if strings.Contains(d, "suspended") || !strings.Contains(d, "already waiting") {
			t.Errorf("asked again: detail %q, want it to say that a reset waits", d)
		}
		if at, err := time.Parse(time.RFC3339, due); err != nil || !strings.Contains(d, at.UTC().Format(time.RFC3339)) {
			t.Errorf("asked again: detail %q does not say when the reset is due (%s)", d, due)
		}
	})
}

// TestKeySuspensionsAreBounded: a key suspends and lifts suspensions
// within the bound it shares with signing out (each mails the holder and a
// suspension ends every session), so a leaked key looping suspend and
// unsuspend cannot keep the holder out; asking for what already holds
// takes nothing from it; a key's attempt on an operator is refused and
// recorded; an elevated operator is not held back.
func TestKeySuspensionsAreBounded(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, adminDelay)
		s := f.s
		wk := makeKey(t, f.opc, "writer", nil, "admin users write")
		writer := keyClient(s, wk.id, wk.secret)
		user := "/v1/admin/users/" + f.userID
		// Already not suspended: nothing changes, nothing is taken.
		for range 3 {
			if r := writer.Do(t, "POST", user+"/unsuspend", nil); r.Status != 200 {
				t.Fatalf("unsuspend of an account not suspended: got %d %s", r.Status, r.Body)
			}
		}
		for i, act := range []string{"suspend", "unsuspend", "suspend", "unsuspend"} {
			if r := writer.Do(t, "POST", user+"/"+act, nil); r.Status != 200 {
				t.Fatalf("%s %d by a key: got %d %s", act, i, r.Status, r.Body)
			}
		}
		if r := writer.Do(t, "POST", user+"/logout", nil); r.Status != 204 {
			t.Fatalf("sign-out by a key: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, writer.Do(t, "POST", user+"/suspend", nil), 429, "throttled")
		if r := f.opc.Do(t, "GET", user, nil); r.JSON["user"].(map[string]any)["suspended"] != false {
			t.Errorf("after the refused suspension: got %s, want dave not suspended", r.Body)
		}
		if n := countEvents(t, s, f.userID, "account.suspended"); n != 2 {
			t.Errorf("got %d account.suspended events, want 2", n)
		}
		if n := countEvents(t, s, f.userID, "admin.key_refused"); n != 1 {
			t.Errorf("got %d admin.key_refused events on the user, want 1 (the 429)", n)
		}
		// An elevated operator still can.
		if r := f.opc.Do(t, "POST", user+"/suspend", nil); r.Status != 200 {
			t.Fatalf("suspend by the operator's session: got %d %s", r.Status, r.Body)
		}
		// A key's attempt on an operator is refused and on the record.
		if _, err := s.Service.CreateAccount(context.Background(), core.NewAccount{Username: "oscar", Password: password, Operator: true}, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		oscar, err := s.Store.AccountByUsername(context.Background(), "oscar")
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, writer.Do(t, "POST", "/v1/admin/users/"+oscar.ID+"/suspend", nil), 403, "forbidden")
		if n := countEvents(t, s, oscar.ID, "admin.key_refused"); n != 1 {
			t.Errorf("got %d admin.key_refused events on the operator, want 1", n)
		}
		// One event per refusal: the key's owner has no api_key.refused
		// besides the admin.key_refused on the account aimed at.
		if n := countEvents(t, s, f.op.Account.ID, "api_key.refused"); n != 0 {
			t.Errorf("got %d api_key.refused events on the key's owner, want 0 (admin.key_refused records the refusal)", n)
		}
	})
}

// TestOperatorAPISignsAUserOut: an operator lists a user's sessions and
// signs them out everywhere; a key with admin users read may list but not
// sign out; the holder is told and the event names the operator.
func TestOperatorAPISignsAUserOut(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, adminDelay)
		s := f.s
		r := f.opc.Do(t, "GET", "/v1/admin/users/"+f.userID+"/sessions", nil)
		if r.Status != 200 || len(r.JSON["sessions"].([]any)) == 0 {
			t.Fatalf("sessions: got %d %s", r.Status, r.Body)
		}
		k := makeKey(t, f.opc, "reader", nil, "admin users read")
		reader := keyClient(s, k.id, k.secret)
		if r := reader.Do(t, "GET", "/v1/admin/users/"+f.userID+"/sessions", nil); r.Status != 200 {
			t.Fatalf("sessions by a reading key: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, reader.Do(t, "POST", "/v1/admin/users/"+f.userID+"/logout", nil), 403, "forbidden")
		wantProblem(t, f.user.Do(t, "POST", "/v1/admin/users/"+f.userID+"/logout", nil), 403, "forbidden")
		if r := f.opc.Do(t, "POST", "/v1/admin/users/"+f.userID+"/logout", nil); r.Status != 204 {
			t.Fatalf("sign out: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, f.user.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
		if r := f.opc.Do(t, "GET", "/v1/admin/users/"+f.userID+"/sessions", nil); len(r.JSON["sessions"].([]any)) != 0 {
			t.Errorf("sessions after signing out: %s", r.Body)
		}
		mailWith(t, f.mailbox, "you were signed out everywhere")
		if d := eventWith(t, s, f.userID, "session.ended_everywhere"); d != "by operator carol" {
			t.Errorf("session.ended_everywhere detail %q", d)
		}
		// A key may not sign an operator out (a leaked one would keep every
		// operator from ever finishing a sign-in), nor act on one account
		// without end.
		wk := makeKey(t, f.opc, "writer", nil, "admin users write")
		writer := keyClient(s, wk.id, wk.secret)
		wantProblem(t, writer.Do(t, "POST", "/v1/admin/users/"+f.op.Account.ID+"/logout", nil), 403, "forbidden")
		wantProblem(t, writer.Do(t, "DELETE", "/v1/admin/users/"+f.op.Account.ID+"/api-keys/"+wk.id, nil), 403, "forbidden")
		for i := range 5 {
			if r := writer.Do(t, "POST", "/v1/admin/users/"+f.userID+"/logout", nil); r.Status != 204 {
				t.Fatalf("sign-out %d by a key: got %d %s", i, r.Status, r.Body)
			}
		}
		wantProblem(t, writer.Do(t, "POST", "/v1/admin/users/"+f.userID+"/logout", nil), 429, "throttled")
		// The bound is each key's own: a leaked key that used it up does
		// not keep the panel's own key from acting on the account.
		pk := makeKey(t, f.opc, "panel", nil, "admin users write")
		if r := keyClient(s, pk.id, pk.secret).Do(t, "POST", "/v1/admin/users/"+f.userID+"/logout", nil); r.Status != 204 {
			t.Fatalf("another key after the first's bound: got %d %s", r.Status, r.Body)
		}
		if n := countEvents(t, s, f.userID, "admin.key_refused"); n != 1 {
			t.Errorf("got %d admin.key_refused events on the user, want 1 (the 429)", n)
		}
		// Nor may a key unlock an operator for more guesses, nor ask for or
		// cancel an operator's reset; each refusal is on the operator's record.
		wantProblem(t, writer.Do(t, "POST", "/v1/admin/users/"+f.op.Account.ID+"/unlock", nil), 403, "forbidden")
		wantProblem(t, writer.Do(t, "POST", "/v1/admin/users/"+f.op.Account.ID+"/two-factor-reset", nil), 403, "forbidden")
		wantProblem(t, writer.Do(t, "DELETE", "/v1/admin/users/"+f.op.Account.ID+"/two-factor-reset", nil), 403, "forbidden")
		if n := countEvents(t, s, f.op.Account.ID, "admin.key_refused"); n != 1 { // one an hour per key and account
			t.Errorf("got %d admin.key_refused events on the operator, want 1", n)
		}
		if _, found, _ := s.Store.TwoFactorReset(context.Background(), f.op.Account.ID); found {
			t.Error("a key asked for an operator's reset")
		}
	})
}

// TestOperatorAPIRevokesAUsersKey: an operator lists a user's API keys and
// revokes one, with the keys it made; a key of another account is not
// found through this user; a reading key may list but not revoke; the
// holder is told and the event names the operator.
func TestOperatorAPIRevokesAUsersKey(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, adminDelay)
		s := f.s
		s.Clock.Add(30 * time.Second)
		if r := f.user.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, f.phone.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		script := makeKey(t, f.user, "deploy", nil, "account * read", "keys * write")
		child := makeKey(t, keyClient(s, script.id, script.secret), "deploy child", nil, "account * read")
		r := f.opc.Do(t, "GET", "/v1/admin/users/"+f.userID+"/api-keys", nil)
		if keys := objects(t, r, "api_keys"); len(keys) != 2 || keys[0]["secret"] != nil || keys[1]["secret"] != nil {
			t.Fatalf("the user's keys: %s", r.Body)
		}
		reader := makeKey(t, f.opc, "reader", nil, "admin users read")
		readerClient := keyClient(s, reader.id, reader.secret)
		if r := readerClient.Do(t, "GET", "/v1/admin/users/"+f.userID+"/api-keys", nil); r.Status != 200 {
			t.Fatalf("list by a reading key: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, readerClient.Do(t, "DELETE", "/v1/admin/users/"+f.userID+"/api-keys/"+script.id, nil), 403, "forbidden")
		wantProblem(t, f.opc.Do(t, "DELETE", "/v1/admin/users/"+f.userID+"/api-keys/"+reader.id, nil), 404, "not-found")
		wantProblem(t, f.user.Do(t, "DELETE", "/v1/admin/users/"+f.userID+"/api-keys/"+script.id, nil), 403, "forbidden")
		if r := f.opc.Do(t, "DELETE", "/v1/admin/users/"+f.userID+"/api-keys/"+script.id, nil); r.Status != 204 {
			t.Fatalf("revoke: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, keyClient(s, script.id, script.secret).Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
		wantProblem(t, keyClient(s, child.id, child.secret).Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
		// The mail and the event say that the key it made went with it.
		if body := mailWith(t, f.mailbox, "one of your API keys was revoked"); !strings.Contains(body, `"deploy" and the 1 key it made`) {
			t.Errorf("the notice does not count the key it made: %q", body)
		}
		if d := eventWith(t, s, f.userID, "api_key.revoked"); !strings.Contains(d, "by operator carol") || !strings.Contains(d, `"deploy" and the 1 key it made`) {
			t.Errorf("api_key.revoked detail %q", d)
		}
	})
}

// TestOperatorAPIChangesAnEmail: an operator changes a user's address; both
// addresses are told, a waiting reset link dies, bad input is refused, and
// a key may not change an operator's address.
func TestOperatorAPIChangesAnEmail(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, adminDelay)
		s := f.s
		askReset(t, s, "dave")
		token, _ := resetMail(t, s, f.mailbox, 1)
		wantProblem(t, f.opc.Do(t, "PATCH", "/v1/admin/users/"+f.userID, map[string]string{"email": "not an address"}), 400, "invalid")
		wantProblem(t, f.opc.Do(t, "PATCH", "/v1/admin/users/"+f.userID, map[string]string{"name": "x"}), 400, "invalid")
		wantProblem(t, f.user.Do(t, "PATCH", "/v1/admin/users/"+f.userID, map[string]string{"email": "dave@evil.example"}), 403, "forbidden")
		wantProblem(t, f.opc.Do(t, "PATCH", "/v1/admin/users/"+f.op.Account.ID, map[string]string{"email": "carol@new.example"}), 403, "forbidden") // one's own: by the security page
		// The account's summary says when an operator last changed its
		// address: never, until now.
		changedAt := func() any {
			t.Helper()
			r := f.opc.Do(t, "GET", "/v1/admin/users/"+f.userID, nil)
			if r.Status != 200 {
				t.Fatalf("the account's summary: got %d %s", r.Status, r.Body)
			}
			wantDocumented(t, "GET", "/v1/admin/users/{id}", r)
			return r.JSON["email_changed_by_operator_at"]
		}
		if got := changedAt(); got != nil {
			t.Errorf("email_changed_by_operator_at before any change: got %v, want none", got)
		}
		s.Clock.Add(time.Minute)
		r := f.opc.Do(t, "PATCH", "/v1/admin/users/"+f.userID, map[string]string{"email": "dave@new.example"})
		if r.Status != 200 || r.JSON["user"].(map[string]any)["email"] != "dave@new.example" {
			t.Fatalf("change: got %d %s", r.Status, r.Body)
		}
		if got, want := changedAt(), s.Clock.Now().UTC().Format(time.RFC3339); got != want {
			t.Errorf("email_changed_by_operator_at: got %v, want %v", got, want)
		}
		mailWith(t, f.mailbox, "your email address was changed")           // to the old address
		mailWith(t, f.mailbox, "this is now your account's email address") // to the new one
		for _, m := range f.mailbox.Messages() {
			if subject, _ := mailText(t, m); strings.Contains(subject, "your email address was changed") && m.To[0] != "dave@example.com" ||
				strings.Contains(subject, "this is now your account's") && m.To[0] != "dave@new.example" {
				t.Errorf("%q went to %v", subject, m.To)
			}
		}
		wantProblem(t, completeReset(t, s, map[string]string{"token": token, "password": "a brand new passphrase"}), 410, "login-expired")
		if d := eventWith(t, s, f.userID, "account.email_changed"); !strings.Contains(d, "by operator carol") {
			t.Errorf("account.email_changed detail %q", d)
		}
		// Never by an API key: whoever holds the address can reset the
		// password, and would hear of a reset of two-factor in the
		// holder's place, so a leaked key would take the account over.
		k := makeKey(t, f.opc, "writer", nil, "admin users write")
		for _, id := range []string{f.userID, f.op.Account.ID} {
			wantProblem(t, keyClient(s, k.id, k.secret).Do(t, "PATCH", "/v1/admin/users/"+id, map[string]string{"email": "mallory@evil.example"}), 403, "forbidden")
			if a, _ := s.Store.AccountByID(context.Background(), id); a.Email == "mallory@evil.example" {
				t.Errorf("a key changed the address of %s", a.Username)
			}
		}
		// The refusal is on the record of the account it aimed at, as every
		// refusal of an operator's key is (README "Operator API").
		if d := eventWith(t, s, f.userID, "admin.key_refused"); !strings.Contains(d, k.id) || !strings.Contains(d, "email address") {
			t.Errorf("admin.key_refused detail %q: want the key and the email address named", d)
		}
		// Nor another operator's address: whoever holds it can have that
		// operator's password reset (as an operator cannot suspend or
		// delete another); once no longer an operator, it can.
		ctx := context.Background()
		if _, err := s.Service.SetOperatorByName(ctx, "dave", true, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		wantProblem(t, f.opc.Do(t, "PATCH", "/v1/admin/users/"+f.userID, map[string]string{"email": "mallory@evil.example"}), 403, "forbidden")
		if a, _ := s.Store.AccountByID(ctx, f.userID); a.Email != "dave@new.example" {
			t.Errorf("another operator's address: got %q, want dave@new.example", a.Email)
		}
		if _, err := s.Service.SetOperatorByName(ctx, "dave", false, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		if r := f.opc.Do(t, "PATCH", "/v1/admin/users/"+f.userID, map[string]string{"email": "dave@other.example"}); r.Status != 200 {
			t.Errorf("change once no longer an operator: got %d %s", r.Status, r.Body)
		}
	})
}

// TestKeyBoundCoversItsLine: the hourly bound on a key's actions on one
// account holds for the keys made from it too, so that a leaked key that
// may make keys cannot get round it; asking for and cancelling resets are
// bounded alike, each of which mails the holder.
func TestKeyBoundCoversItsLine(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, adminDelay)
		s := f.s
		root := makeKey(t, f.opc, "panel", nil, "admin users write", "keys * write")
		rc := keyClient(s, root.id, root.secret)
		for i := range 5 {
			if r := rc.Do(t, "POST", "/v1/admin/users/"+f.userID+"/logout", nil); r.Status != 204 {
				t.Fatalf("sign-out %d: got %d %s", i, r.Status, r.Body)
			}
		}
		wantProblem(t, rc.Do(t, "POST", "/v1/admin/users/"+f.userID+"/logout", nil), 429, "throttled")
		child := makeKey(t, rc, "fresh", nil, "admin users write", "keys * write")
		cc := keyClient(s, child.id, child.secret)
		wantProblem(t, cc.Do(t, "POST", "/v1/admin/users/"+f.userID+"/logout", nil), 429, "throttled")
		grandchild := makeKey(t, cc, "fresher", nil, "admin users write")
		wantProblem(t, keyClient(s, grandchild.id, grandchild.secret).Do(t, "POST", "/v1/admin/users/"+f.userID+"/two-factor-reset", nil), 429, "throttled")

		other := makeKey(t, f.opc, "resets", nil, "admin resets write")
		oc := keyClient(s, other.id, other.secret)
		for i := range 5 {
			method, want := "POST", 200
			if i%2 == 1 {
				method, want = "DELETE", 204
			}
			if r := oc.Do(t, method, "/v1/admin/users/"+f.userID+"/two-factor-reset", nil); r.Status != want {
				t.Fatalf("reset action %d: got %d %s", i, r.Status, r.Body)
			}
		}
		wantProblem(t, oc.Do(t, "DELETE", "/v1/admin/users/"+f.userID+"/two-factor-reset", nil), 429, "throttled")
		if _, found, _ := s.Store.TwoFactorReset(t.Context(), f.userID); !found {
			t.Error("the refused cancel cancelled the reset")
		}
	})
}

// TestHolderEventsNameNoOperator: the events an operator's actions record
// on an account show its holder "an operator", without the operator's
// name, API key, address or user agent; operators read them whole.
func TestHolderEventsNameNoOperator(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, adminDelay)
		s, op := f.s, f.opc
		key := makeKey(t, op, "panel", nil, "admin users read,write")
		wrongPassword(t, s, "dave")
		for _, w := range []struct{ method, path string }{
			{"POST", "/v1/admin/users/" + f.userID + "/unlock"},
			{"POST", "/v1/admin/users/" + f.userID + "/two-factor-reset"},
			{"DELETE", "/v1/admin/users/" + f.userID + "/two-factor-reset"},
		} {
			if r := op.Do(t, w.method, w.path, nil); r.Status >= 300 {
				t.Fatalf("%s %s: got %d %s", w.method, w.path, r.Status, r.Body)
			}
		}
		wantProblem(t, keyClient(s, key.id, key.secret).Do(t, "DELETE", "/v1/admin/users/"+f.userID, nil), 403, "forbidden")
		due := s.Clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)

		want := map[string]string{
			"account.unlocked":           "by an operator",
			"two_factor.reset_requested": "by an operator, due " + due,
			"two_factor.reset_cancelled": "by an operator; it was requested by an operator",
			"admin.key_refused":          "deleting the account",
		}
		r := f.user.Do(t, "GET", "/v1/me/events?limit=200", nil)
		if r.Status != 200 {
			t.Fatalf("the holder's events: got %d %s", r.Status, r.Body)
		}
		for _, secret := range []string{"carol", "panel", key.id} {
			if strings.Contains(string(r.Body), secret) {
				t.Errorf("the holder's events show %q: %s", secret, r.Body)
			}
		}
		seen := map[string]bool{}
		for _, e := range objects(t, r, "events") {
			typ, _ := e["type"].(string)
			w, ok := want[typ]
			if !ok {
				continue
			}
			seen[typ] = true
			if d, _ := e["detail"].(string); !strings.HasPrefix(d, w) || !strings.Contains(d, "operator") {
				t.Errorf("%s: the holder reads %q, want %q", typ, d, w)
			}
			if e["source"] != "" || e["user_agent"] != "" {
				t.Errorf("%s: the holder reads the operator's source %q and user agent %q", typ, e["source"], e["user_agent"])
			}
		}
		if len(seen) != len(want) {
			t.Errorf("the holder's events: got %v of %v", seen, want)
		}

		// Operators read the same events whole.
		r = op.Do(t, "GET", "/v1/admin/events?account="+f.userID+"&limit=200", nil)
		seen = map[string]bool{}
		for _, e := range objects(t, r, "events") {
			typ, _ := e["type"].(string)
			if _, ok := want[typ]; !ok {
				continue
			}
			seen[typ] = true
			if d, _ := e["detail"].(string); !strings.Contains(d, "operator carol") {
				t.Errorf("%s: operators read %q, want the operator named", typ, d)
			}
			if e["source"] == "" || e["user_agent"] == "" {
				t.Errorf("%s: operators read no source or user agent: %v", typ, e)
			}
		}
		if len(seen) != len(want) {
			t.Errorf("the operator's view: got %v of %v", seen, want)
		}
		// The holder's own events keep their address.
		r = f.user.Do(t, "GET", "/v1/me/events?type=login.succeeded", nil)
		if evs := objects(t, r, "events"); len(evs) == 0 || evs[0]["source"] == "" {
			t.Errorf("the holder's own sign-in: got %s", r.Body)
		}
	})
}
