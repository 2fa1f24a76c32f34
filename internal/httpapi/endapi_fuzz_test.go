package httpapi_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// FuzzEndAPI sends any body to the API's requests that take power away
// and ask for no second factor: revoke an API key (DELETE
// /v1/me/api-keys/{id}), end a session (DELETE /v1/me/sessions/{id}), sign
// out everywhere (POST /v1/logout/everywhere) and sign out (POST
// /v1/logout), with any id, by one of five callers: alice's sessions A and
// B, her key maker (keys * write), which made the key made, her key plain
// (no keys permit), and bob's session. bob has a key too. Whatever the
// request:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status or a redirect;
//   - something changes only for the caller's own account, and every row
//     that changed is of that account (or mail queued): a key is revoked,
//     with the keys it made and nothing else, by a person's session, or by
//     a key that may write keys when the key revoked is itself or one it
//     made; a session ends, it alone, by a person's session, and the
//     account is told when it was another's; signing out everywhere ends
//     every session of the account; signing out ends the caller's session;
//     then the ended sessions and revoked keys answer 401, and the others
//     (bob's always, when alice acted) still work;
//   - a refusal writes nothing (testenv.Snapshot).
//
// The which byte picks the request (its value mod 4, in the order above).
// In an id, @maker@, @made@, @plain@ and @bobs@ stand for the keys' ids,
// @a@, @b@ and @bob@ for the sessions'. After a change both accounts are
// made anew under new names, and those made before are deleted. The who
// byte picks the caller (its value mod 5). On SQLite; FuzzEndAPIPostgres is the same on PostgreSQL.
func FuzzEndAPI(f *testing.F) { endAPI(f, testenv.SQLiteDSN(f)) }

// FuzzEndAPIPostgres is FuzzEndAPI on PostgreSQL.
func FuzzEndAPIPostgres(f *testing.F) { endAPI(f, testenv.PostgresDSN(f)) }

// endWorld is what FuzzEndAPI works on, made anew after each change.
type endWorld struct {
	alice, bob string            // account ids
	callers    []*testenv.Client // A, B, maker, plain, bob's session
	keys       map[string]string // ids by placeholder: maker, made, plain, bobs
	sessions   map[string]string // ids by placeholder: a, b, bob
	clients    map[string]*testenv.Client
}

func endAPI(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs)
	snaps := testenv.OpenSnapshots(f, dsn)
	made := 0
	var w endWorld
	current := func(t testing.TB, c *testenv.Client) string {
		r := c.Do(t, "GET", "/v1/me/sessions", nil)
		list, _ := r.JSON["sessions"].([]any)
		for _, x := range list {
			if m, _ := x.(map[string]any); m["current"] == true {
				return m["id"].(string)
			}
		}
		t.Fatalf("no current session: %d %s", r.Status, r.Body)
		return ""
	}
	newKey := func(t testing.TB, c *testenv.Client, name string, permits ...string) (string, *testenv.Client) {
		r := c.Do(t, "POST", "/v1/me/api-keys", keyRequest(name, nil, permits...))
		if r.Status != 201 {
			t.Fatalf("make key %s: %d %s", name, r.Status, r.Body)
		}
		id := r.JSON["api_key"].(map[string]any)["id"].(string)
		k := keyClient(s, id, r.String("secret"))
		if r := k.Do(t, "GET", "/v1/me", nil); r.Status != 200 { // its first use, written once a minute at most: before any snapshot
			t.Fatalf("key %s: %d %s", name, r.Status, r.Body)
		}
		return id, k
	}
	makeWorld := func(t testing.TB) {
		made++
		dropAccount(t, s, w.alice)
		dropAccount(t, s, w.bob)
		w = endWorld{keys: map[string]string{}, sessions: map[string]string{}, clients: map[string]*testenv.Client{}}
		ids := map[string]string{}
		for _, name := range []string{"alice", "bob"} {
			user := fmt.Sprintf("%s%d", name, made)
			addUser(t, s, user)
			ids[name] = accountID(t, s, user)
		}
		w.alice, w.bob = ids["alice"], ids["bob"]
		a, b, bob := login(t, s, fmt.Sprintf("alice%d", made)), login(t, s, fmt.Sprintf("alice%d", made)), login(t, s, fmt.Sprintf("bob%d", made))
		var maker, plain, bobs, madeKey *testenv.Client
		w.keys["maker"], maker = newKey(t, a, "maker", "keys * write", "account * read")
		w.keys["made"], madeKey = newKey(t, maker, "made", "account * read")
		w.keys["plain"], plain = newKey(t, a, "plain", "account * read")
		w.keys["bobs"], bobs = newKey(t, bob, "bobs", "account * read")
		w.sessions["a"], w.sessions["b"], w.sessions["bob"] = current(t, a), current(t, b), current(t, bob)
		w.callers = []*testenv.Client{a, b, maker, plain, bob}
		w.clients = map[string]*testenv.Client{"maker": maker, "made": madeKey, "plain": plain, "bobs": bobs, "a": a, "b": b, "bob": bob}
		s.Service.Wait()
	}
	makeWorld(f)

	ops := []struct{ method, path string }{
		{"DELETE", "/v1/me/api-keys/{id}"},
		{"DELETE", "/v1/me/sessions/{id}"},
		{"POST", "/v1/logout/everywhere"},
		{"POST", "/v1/logout"},
	}
	for _, in := range []struct {
		which    uint8
		id, body string
		who      uint8
	}{
		{0, "@made@", "", 0},
		{0, "@maker@", "", 1},
		{0, "@plain@", "", 0},
		{0, "@made@", "", 2},
		{0, "@maker@", "", 2},
		{0, "@plain@", "", 2},
		{0, "@plain@", "", 3},
		{0, "@bobs@", "", 0},
		{0, "@bobs@", "", 2},
		{0, "@maker@", "", 4},
		{0, "@bobs@", "", 4},
		{1, "@b@", "", 0},
		{1, "@a@", "", 0},
		{1, "@bob@", "", 0},
		{1, "@a@", "", 4},
		{1, "@a@", "", 2},
		{1, "@b@", "{}", 1},
		{2, "", "", 0},
		{2, "", "", 2},
		{2, "", "", 4},
		{3, "", "", 1},
		{3, "", "", 3},
	} {
		f.Add(in.which, in.id, in.body, in.who)
	}

	f.Fuzz(func(t *testing.T, which uint8, id, body string, who uint8) {
		caller := int(who % 5)
		c := w.callers[caller]
		owner := w.alice
		if caller == 4 {
			owner = w.bob
		}
		op := ops[int(which)%len(ops)]
		var pairs []string
		for k, v := range w.keys {
			pairs = append(pairs, "@"+k+"@", v)
		}
		for k, v := range w.sessions {
			pairs = append(pairs, "@"+k+"@", v)
		}
		id = strings.NewReplacer(pairs...).Replace(id)
		req, named, ok := pathRequest(s, op.method, op.path, id, body, c)
		if !ok {
			return // no request a client could send, or another route's
		}

		input := fmt.Sprintf("%s %s %q by %d", op.method, req.URL.EscapedPath(), body, caller)
		r, d, done := sendJudged(t, s, snaps, dsn, req, input)
		if !done {
			return // refused, and nothing written
		}
		if d == "" {
			t.Fatalf("%s: answered %d %s, and nothing changed", input, r.Status, r.Body)
		}
		rowsOf(t, input, d, owner)
		// What must have ended, by placeholder; everything else of both
		// accounts must still work.
		var ended []string
		switch op.path {
		case "/v1/me/api-keys/{id}":
			key := ""
			for k, v := range w.keys {
				if v == named {
					key = k
				}
			}
			switch {
			case caller == 3:
				t.Fatalf("%s: a key revoked by a key that may not write keys", input)
			case caller == 2 && key != "maker" && key != "made":
				t.Fatalf("%s: key %q revoked by a key it is not, nor made", input, key)
			case key == "" || (key == "bobs") != (owner == w.bob):
				t.Fatalf("%s: key %q revoked, not the caller's account's", input, key)
			}
			ended = []string{key}
			if key == "maker" {
				ended = append(ended, "made")
			}
		case "/v1/me/sessions/{id}":
			sess := ""
			for k, v := range w.sessions {
				if v == named {
					sess = k
				}
			}
			switch {
			case caller == 2 || caller == 3:
				t.Fatalf("%s: a session ended by an API key", input)
			case sess == "" || (sess == "bob") != (owner == w.bob):
				t.Fatalf("%s: session %q ended, not the caller's account's", input, sess)
			case c != w.clients[sess] && !strings.Contains(d, "+ mail queued"):
				t.Fatalf("%s: another session ended, and the account was not told", input)
			}
			ended = []string{sess}
		case "/v1/logout/everywhere":
			if caller == 2 || caller == 3 {
				t.Fatalf("%s: signed out everywhere by an API key", input)
			}
			ended = []string{"a", "b"}
			if owner == w.bob {
				ended = []string{"bob"}
			}
		default:
			if caller == 2 || caller == 3 {
				t.Fatalf("%s: signed out by an API key", input)
			}
			for k, v := range w.clients {
				if v == c {
					ended = []string{k}
				}
			}
		}
		for k, x := range w.clients {
			got := x.Do(t, "GET", "/v1/me", nil).Status
			if gone := slices.Contains(ended, k); gone && got != 401 || !gone && got != 200 {
				t.Fatalf("%s: after it, %s answers %d (ended: %q)\n%s", input, k, got, ended, d)
			}
		}
		makeWorld(t)
	})
}
