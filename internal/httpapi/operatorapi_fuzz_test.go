package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzOperatorAPI sends any body to the operator API's writes about an
// account: unlock, revoke an API key, sign out everywhere, suspend,
// unsuspend, reset two-factor, cancel a waiting reset, change the address
// and delete (/v1/admin/users/{id}/…), with any account and key, by one of
// six callers: alice's elevated session (she is an operator, with an app),
// another of her sessions that is not elevated, three keys of hers (admin
// users read,write; admin resets read,write; admin * read) and bob's
// session (no operator). carol has a session, an API key and an app; dora
// an app and a reset of her two-factor waiting. Whatever the body:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status or a redirect;
//   - a request is done (2xx) only for alice's elevated session, or her
//     key whose admin permits write what the request changes (users;
//     resets, which users write covers too), never an account's deletion
//     for a key, never for a key about an operator's account, and a reset
//     a key asks for always waits; then every row that changed is the
//     named account's (or mail queued);
//   - a refusal writes nothing (testenv.Snapshot).
//
// The which byte picks the request (its value mod 9, in the order above).
// In an id, @carol@, @dora@, @alice@ and @bob@ stand for the accounts' ids
// and @key@ for carol's key's. An account a change was about is made anew
// under a new name before the next input (alice with her sessions and
// keys), and the one made before is deleted. A path the server would read
// as another route's is skipped. The
// who byte picks the caller (its value mod 6). On SQLite;
// FuzzOperatorAPIPostgres is the same on PostgreSQL.
func FuzzOperatorAPI(f *testing.F) { operatorAPI(f, testenv.SQLiteDSN(f)) }

// FuzzOperatorAPIPostgres is FuzzOperatorAPI on PostgreSQL.
func FuzzOperatorAPIPostgres(f *testing.F) { operatorAPI(f, testenv.PostgresDSN(f)) }

// operatorWrites are FuzzOperatorAPI's requests: the method, the path
// after the account's id ("%s" for the key's id), and the admin resource
// a key needs to write ("" for none may).
var operatorWrites = []struct{ method, suffix, resource string }{
	{"POST", "/unlock", "users"},
	{"DELETE", "/api-keys/%s", "users"},
	{"POST", "/logout", "users"},
	{"POST", "/suspend", "users"},
	{"POST", "/unsuspend", "users"},
	{"POST", "/two-factor-reset", "resets"},
	{"DELETE", "/two-factor-reset", "resets"},
	{"PATCH", "", "users"},
	{"DELETE", "", ""},
}

// operatorWorld is what FuzzOperatorAPI works on.
type operatorWorld struct {
	s                     *testenv.Server
	made                  map[string]int // accounts made, by name
	alice, bob            string         // ids
	carol, carolKey, dora string
	callers               []*testenv.Client
}

// account makes an account name+n, and signs it in.
func (w *operatorWorld) account(t testing.TB, name string, operator bool) (string, *testenv.Client) {
	w.made[name]++
	user := fmt.Sprintf("%s%d", name, w.made[name])
	a, err := w.s.Service.CreateAccount(context.Background(), core.NewAccount{Username: user, Email: user + "@example.com", Password: password, Operator: operator}, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID, login(t, w.s, user)
}

func (w *operatorWorld) makeAlice(t testing.TB) {
	dropAccount(t, w.s, w.alice)
	id, other := w.account(t, "alice", true)
	c := login(t, w.s, fmt.Sprintf("alice%d", w.made["alice"]))
	enrol(t, w.s, c, map[string]any{"type": "totp", "label": "Phone"}) // confirming it elevates the session
	w.alice = id
	w.callers[0], w.callers[1] = c, other
	for i, permits := range [][]string{{"admin users read,write"}, {"admin resets read,write"}, {"admin * read"}} {
		r := c.Do(t, "POST", "/v1/me/api-keys", keyRequest("panel", nil, permits...))
		if r.Status != 201 {
			t.Fatalf("make alice's key: %d %s", r.Status, r.Body)
		}
		k := keyClient(w.s, r.JSON["api_key"].(map[string]any)["id"].(string), r.String("secret"))
		if r := k.Do(t, "GET", "/v1/admin/users", nil); r.Status == 401 { // its first use, written once a minute at most: before any snapshot
			t.Fatalf("alice's key: %d %s", r.Status, r.Body)
		}
		w.callers[2+i] = k
	}
}

func (w *operatorWorld) makeBob(t testing.TB) {
	dropAccount(t, w.s, w.bob)
	w.bob, w.callers[5] = w.account(t, "bob", false)
}

func (w *operatorWorld) makeCarol(t testing.TB) {
	dropAccount(t, w.s, w.carol)
	id, c := w.account(t, "carol", false)
	r := c.Do(t, "POST", "/v1/me/api-keys", keyRequest("deploy", nil, "account * read"))
	if r.Status != 201 {
		t.Fatalf("make carol's key: %d %s", r.Status, r.Body)
	}
	enrol(t, w.s, c, map[string]any{"type": "totp", "label": "Phone"})
	w.carol, w.carolKey = id, r.JSON["api_key"].(map[string]any)["id"].(string)
}

func (w *operatorWorld) makeDora(t testing.TB) {
	dropAccount(t, w.s, w.dora)
	id, c := w.account(t, "dora", false)
	enrol(t, w.s, c, map[string]any{"type": "totp", "label": "Phone"})
	if _, err := w.s.Service.ResetTwoFactorByName(context.Background(), fmt.Sprintf("dora%d", w.made["dora"]), false, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	w.dora = id
}

func operatorAPI(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs)
	snaps := testenv.OpenSnapshots(f, dsn)
	w := &operatorWorld{s: s, made: map[string]int{}, callers: make([]*testenv.Client, 6)}
	w.makeAlice(f)
	w.makeBob(f)
	w.makeCarol(f)
	w.makeDora(f)
	s.Service.Wait()

	for _, in := range []struct {
		which         uint8
		id, key, body string
		who           uint8
	}{
		{0, "@carol@", "", "", 0},
		{0, "@carol@", "", "", 2},
		{0, "@carol@", "", "", 3},
		{1, "@carol@", "@key@", "", 0},
		{1, "@carol@", "@key@", "", 1},
		{1, "@carol@", "@key@", "", 2},
		{1, "@bob@", "@key@", "", 0},
		{1, "@carol@", "@key@", "", 4},
		{2, "@carol@", "", "", 0},
		{2, "@carol@", "", "", 5},
		{3, "@carol@", "", "", 0},
		{3, "@carol@", "", "", 2},
		{3, "@bob@", "", "", 0},
		{3, "@alice@", "", "", 0},
		{3, "@alice@", "", "", 2},
		{0, "@alice@", "", "", 2},
		{2, "@alice@", "", "", 2},
		{4, "@carol@", "", "", 0},
		{5, "@carol@", "", "", 0},
		{5, "@carol@", "", "", 3},
		{5, "@carol@", "", "", 2},
		{5, "@carol@", "", "", 4},
		{5, "@dora@", "", "", 3},
		{6, "@dora@", "", "", 3},
		{6, "@dora@", "", "", 1},
		{6, "@dora@", "", "", 0},
		{6, "@carol@", "", "", 2},
		{7, "@carol@", "", `{"email":"carol.new@example.com"}`, 0},
		{7, "@carol@", "", `{"email":"carol.new@example.com"}`, 2},
		{7, "@carol@", "", `{"email":"carol.new@example.com"}`, 3},
		{7, "@carol@", "", `{"email":""}`, 0},
		{7, "@carol@", "", `{"email":"x@example.com","x":1}`, 0},
		{8, "@carol@", "", "", 0},
		{8, "@carol@", "", "", 2},
		{8, "@alice@", "", "", 0},
		{8, "@carol@/..", "", "", 0},
		{8, "@carol@", "", "", 1},
	} {
		f.Add(in.which, in.id, in.key, in.body, in.who)
	}

	f.Fuzz(func(t *testing.T, which uint8, id, key, body string, who uint8) {
		caller := int(who % 6)
		c := w.callers[caller]
		fill := strings.NewReplacer("@carol@", w.carol, "@dora@", w.dora, "@alice@", w.alice, "@bob@", w.bob, "@key@", w.carolKey)
		id, key = fill.Replace(id), fill.Replace(key)
		op := operatorWrites[int(which)%len(operatorWrites)]
		suffix := op.suffix
		if strings.Contains(suffix, "%s") {
			suffix = fmt.Sprintf(suffix, key)
		}
		const prefix = "/v1/admin/users/"
		req, err := http.NewRequest(op.method, s.URL()+prefix+id+suffix, strings.NewReader(body))
		if err != nil || !testenv.Sendable(req) {
			return // no request a client could send
		}
		shape := append([]string{""}, strings.Split(strings.ReplaceAll(op.suffix, "%s", ""), "/")[1:]...)
		named, ok := adminSegment(req.URL, prefix, shape)
		if !ok {
			return // another route's
		}
		asCaller(req, c)

		input := fmt.Sprintf("%s %s %q by %d", op.method, req.URL.EscapedPath(), body, caller)
		r, d, done := sendJudged(t, s, snaps, dsn, req, input)
		if !done {
			return // refused, and nothing written
		}
		switch {
		case caller == 0:
		case caller == 2 && op.resource != "":
		case caller == 3 && op.resource == "resets":
		default:
			t.Fatalf("%s: answered %d %s to a caller that may not:\n%s", input, r.Status, r.Body, d)
		}
		if caller != 0 && named == w.alice {
			t.Fatalf("%s: a key acted on an operator's account: %d %s", input, r.Status, r.Body)
		}
		if caller != 0 && op.suffix == "/two-factor-reset" && op.method == "POST" && r.JSON["status"] != "scheduled" {
			t.Fatalf("%s: a key's reset did not wait: %s", input, r.Body)
		}
		rowsOf(t, input, d, named)
		switch named {
		case w.alice:
			w.makeAlice(t)
		case w.bob:
			w.makeBob(t)
		case w.carol:
			w.makeCarol(t)
		case w.dora:
			w.makeDora(t)
		}
		s.Service.Wait()
	})
}

// adminSegment is the account's id in u, a path prefix+id+shape's
// segments ("" for any), as the server reads it; ok is false when the
// server would serve another path (cleaned) or the path has another shape.
func adminSegment(u *url.URL, prefix string, shape []string) (string, bool) {
	if testenv.ServedPath(u) != u.EscapedPath() {
		return "", false
	}
	rest, ok := strings.CutPrefix(u.EscapedPath(), prefix)
	if !ok {
		return "", false
	}
	segments := strings.Split(rest, "/")
	if len(segments) != len(shape) {
		return "", false
	}
	for i, s := range segments {
		v, err := url.PathUnescape(s)
		if err != nil || v == "" || shape[i] != "" && v != shape[i] {
			return "", false
		}
		segments[i] = v
	}
	return segments[0], true
}
