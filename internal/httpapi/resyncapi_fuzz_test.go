package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzResyncAPI sends any body to POST /v1/me/factors/{id}/resync, which
// takes two consecutive codes of an authenticator whose clock drifted, with
// any id, by one of four callers: alice's elevated session, another of hers
// that is not elevated (a resync asks for none: its two codes prove the
// app), an API key of hers, and bob's session (he has an app of his own).
// alice is also setting up a second app. Whatever the request:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status or a redirect;
//   - a factor is resynchronised (200) only by a person's session (never
//     a key), only the caller's own active app the path names, and only
//     when the body's code and next_code are, as people type them, that
//     app's codes at two consecutive steps, the second within the resync
//     window of now and after the last step the app took; then the app
//     keeps that step and its drift from now, and nothing else changes;
//   - a refusal writes nothing (testenv.Snapshot);
//   - no code the body sent reaches the log.
//
// In an id, @app@, @spare@ and @bobapp@ stand for alice's app, the one she
// is setting up, and bob's app; in a body, @a<d>@ and @b<d>@ for alice's
// and bob's app's code d steps from now (d from -41 to 41). An account
// whose app was resynchronised is made anew under a new name, and the one
// made before is deleted. The who byte
// picks the caller (its value mod 4). On SQLite; FuzzResyncAPIPostgres is
// the same on PostgreSQL.
func FuzzResyncAPI(f *testing.F) { resyncAPI(f, testenv.SQLiteDSN(f)) }

// FuzzResyncAPIPostgres is FuzzResyncAPI on PostgreSQL.
func FuzzResyncAPIPostgres(f *testing.F) { resyncAPI(f, testenv.PostgresDSN(f)) }

func resyncAPI(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs)
	snaps := testenv.OpenSnapshots(f, dsn)
	ctx := context.Background()
	window := int64(core.DefaultConfig().ResyncWindow)
	made := map[string]int{}
	var alice, bob, spare string // alice's and bob's account ids, alice's app being set up
	var aliceApp, bobApp enrolled
	callers := make([]*testenv.Client, 4)
	account := func(t testing.TB, name string) (id string, elevated, other *testenv.Client, app enrolled) {
		made[name]++
		user := fmt.Sprintf("%s%d", name, made[name])
		elevated, other, app = holderWithApp(t, s, user)
		return accountID(t, s, user), elevated, other, app
	}
	makeAlice := func(t testing.TB) {
		dropAccount(t, s, alice)
		var elevated, other *testenv.Client
		alice, elevated, other, aliceApp = account(t, "alice")
		spare = startEnrol(t, elevated, map[string]any{"type": "totp", "label": "Spare"}).id
		key, _ := fuzzKey(t, s, elevated, "account * read", "keys * write")
		callers[0], callers[1], callers[2] = elevated, other, key
	}
	makeBob := func(t testing.TB) {
		dropAccount(t, s, bob)
		bob, callers[3], _, bobApp = account(t, "bob")
	}
	makeAlice(f)
	makeBob(f)
	s.Service.Wait()

	for _, in := range []struct {
		id, body string
		who      uint8
	}{
		{"@app@", `{"code":"@a5@","next_code":"@a6@"}`, 0},
		{"@app@", `{"code":"@a5@","next_code":"@a6@"}`, 1},
		{"@app@", `{"code":"@a5@","next_code":"@a6@"}`, 2},
		{"@bobapp@", `{"code":"@b-3@","next_code":"@b-2@"}`, 3},
		{"@bobapp@", `{"code":"@b5@","next_code":"@b6@"}`, 0},
		{"@app@", `{"code":"@a5@","next_code":"@a6@"}`, 3},
		{"@app@", `{"code":" @a1@ ","next_code":"@a2@"}`, 1},
		{"@app@", `{"code":"@a1@","next_code":"@a3@"}`, 0},
		{"@app@", `{"code":"@a6@","next_code":"@a5@"}`, 0},
		{"@app@", `{"code":"@a39@","next_code":"@a40@"}`, 0},
		{"@app@", `{"code":"@a40@","next_code":"@a41@"}`, 0},
		{"@app@", `{"code":"@a-41@","next_code":"@a-40@"}`, 0},
		{"@app@", `{"code":"@a-40@","next_code":"@a-39@"}`, 0},
		{"@spare@", `{"code":"@a5@","next_code":"@a6@"}`, 0},
		{"@app@", `{"code":"","next_code":""}`, 0},
		{"@app@", `{"code":"@a5@"}`, 0},
		{"@app@", `{"code":"@a5@","next_code":"@a6@","x":1}`, 0},
		{"@app@", `{"code":"@a5@","next_code":"@a6@","next_code":"000000"}`, 0},
		{"@app@", ``, 0},
		{"nosuch", `{"code":"@a5@","next_code":"@a6@"}`, 0},
		{"@app@/..", `{"code":"@a5@","next_code":"@a6@"}`, 0},
	} {
		f.Add(in.id, in.body, in.who)
	}

	f.Fuzz(func(t *testing.T, id, body string, who uint8) {
		caller := int(who % 4)
		c, owner, app := callers[caller], alice, aliceApp
		if caller == 3 {
			owner, app = bob, bobApp
		}
		now := s.Clock.Now()
		codes := testenv.NewApp(t, app.id, app.secret)
		aliceCodes, bobCodes := testenv.NewApp(t, aliceApp.id, aliceApp.secret), testenv.NewApp(t, bobApp.id, bobApp.secret)
		pairs := []string{}
		for d := -window - 1; d <= window+1; d++ {
			pairs = append(pairs, "@a"+strconv.FormatInt(d, 10)+"@", aliceCodes.Code(now, d), "@b"+strconv.FormatInt(d, 10)+"@", bobCodes.Code(now, d))
		}
		body = strings.NewReplacer(pairs...).Replace(body)
		id = strings.NewReplacer("@app@", aliceApp.id, "@spare@", spare, "@bobapp@", bobApp.id).Replace(id)
		req, named, ok := pathRequest(s, "POST", "/v1/me/factors/{id}/resync", id, body, c)
		if !ok {
			return // no request a client could send, or another route's
		}
		before, err := s.Store.Factor(ctx, owner, app.id)
		if err != nil {
			t.Fatal(err)
		}

		logged := len(logs.String())
		input := fmt.Sprintf("%s %q by %d", req.URL.EscapedPath(), body, caller)
		r, d, done := sendJudged(t, s, snaps, dsn, req, input)
		var sent struct {
			Code     string `json:"code"`
			NextCode string `json:"next_code"`
		}
		_ = json.Unmarshal([]byte(body), &sent)
		first, second := testenv.TypedText(sent.Code, false), testenv.TypedText(sent.NextCode, false)
		newLog := logs.String()[logged:]
		for _, code := range []string{first, second} {
			if len(code) >= 6 && testenv.HoldsWord(newLog, code) {
				t.Fatalf("%s: a code sent is in the log:\n%s", input, newLog)
			}
		}
		if !done {
			return // refused, and nothing written
		}
		switch {
		case caller == 2:
			t.Fatalf("%s: answered %d %s to an API key:\n%s", input, r.Status, r.Body, d)
		case named != app.id:
			t.Fatalf("%s: resynchronised %s, not the caller's app:\n%s", input, named, d)
		}
		// The step of the body's second code: the first pair of
		// consecutive codes in the window, as the server looks for it.
		cur := now.Unix() / 30
		step := int64(-1)
		for x := cur - window; x <= cur+window && step < 0; x++ {
			if at := time.Unix(x*30, 0); codes.Code(at, -1) == first && codes.Code(at, 0) == second {
				step = x
			}
		}
		if step < 0 || step <= before.LastStep {
			t.Fatalf("%s: resynchronised, but the codes are not two consecutive codes of the app after its last step %d within the window", input, before.LastStep)
		}
		after, err := s.Store.Factor(ctx, owner, app.id)
		switch {
		case err != nil:
			t.Fatal(err)
		case after.LastStep != step || after.Drift != step-cur:
			t.Fatalf("%s: the app keeps step %d and drift %d, want %d and %d", input, after.LastStep, after.Drift, step, step-cur)
		case r.JSON["status"] != "resynchronised":
			t.Fatalf("%s: answered %s", input, r.Body)
		}
		for _, l := range strings.Split(d, "\n") {
			if kind, _, _ := strings.Cut(l, ":"); (kind != "- factors" && kind != "+ factors") || !strings.Contains(l, "id="+app.id+" ") {
				t.Fatalf("%s: more changed than the app: %s\n%s", input, l, d)
			}
		}
		if owner == alice {
			makeAlice(t)
		} else {
			makeBob(t)
		}
		s.Service.Wait()
	})
}
