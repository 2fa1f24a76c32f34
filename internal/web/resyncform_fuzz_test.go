package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzResyncForm posts any form to the page that resynchronises an
// authenticator (POST /settings/security/factors/{id}/resync), with any
// factor id, from the browsers of formHolders (alice's elevated, alice's
// never elevated, bob's, who has no authenticator). Whatever the form:
//
//   - the answer is never a server error;
//   - a factor changes only with the browser's CSRF token, only the
//     browser's own factor the path names, and only when the form's two
//     codes are, as people type them, the codes of alice's app at two
//     consecutive steps, the second within the resync window of now and
//     after the last step the factor took; then the factor keeps that
//     step and its drift from now, nothing else changes, and the browser
//     is told it was resynchronised (no fresh second factor is asked: the
//     two codes prove the app);
//   - otherwise the database is as it was (testenv.Snapshot);
//   - no password or code of alice's app the form sent comes back in the
//     page, and none goes to the log.
//
// In the id, @app@ stands for alice's app's factor; in a form, @c<d>@ for
// her app's code d steps from now (d from -41 to 41) and placeholders for
// the passwords and her other codes (formHolders.replace). The who byte
// picks the browser. A path the mux cleans to another form's route is
// skipped (servedSegments). On SQLite; FuzzResyncFormPostgres is the same
// on PostgreSQL.
func FuzzResyncForm(f *testing.F) { resyncForm(f, testenv.SQLiteDSN(f)) }

// FuzzResyncFormPostgres is FuzzResyncForm on PostgreSQL.
func FuzzResyncFormPostgres(f *testing.F) { resyncForm(f, testenv.PostgresDSN(f)) }

func resyncForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	window := int64(core.DefaultConfig().ResyncWindow)

	for _, in := range []struct {
		id, form string
		who      uint8
	}{
		{"@app@", "code=@c1@+&next_code=+@c2@", 1},
		{"@app@", "code=@c5@&next_code=@c6@", 0},
		{"@app@", "code=@c-3@&next_code=@c-2@", 1},
		{"@app@", "code=@c1@&next_code=@c3@", 0},
		{"@app@", "code=@c39@&next_code=@c40@", 0},
		{"@app@", "code=@c40@&next_code=@c41@", 0},
		{"@app@", "code=@c-41@&next_code=@c-40@", 0},
		{"@app@", "code=@c5@&next_code=@c6@", 2},
		{"@app@", "code=&next_code=", 0},
		{"@app@", "code=@c5@&next_code=@c6@&csrf=x", 0},
		{"nosuch", "code=@c5@&next_code=@c6@", 0},
		{"@app@/..", "code=@c5@&next_code=@c6@", 0},
	} {
		f.Add(in.id, in.form, in.who)
	}

	f.Fuzz(func(t *testing.T, id, form string, who uint8) {
		hs.ready(t)
		h, c, caller := hs.browser(who)
		alice := hs.list[0]
		id = strings.ReplaceAll(id, "@app@", alice.app.ID)
		path := "/settings/security/factors/" + id + "/resync"
		req, err := http.NewRequest("POST", ts.URL()+path, nil)
		if err != nil || !testenv.Sendable(req) {
			return // no request a browser could send
		}
		served := servedSegments(req.URL, "/settings/security/factors/", "", "resync")
		if served == nil {
			return // another form's (a path cleaned to another route)
		}
		now := ts.Clock.Now()
		var codes []string
		for d := -window - 1; d <= window+1; d++ {
			codes = append(codes, "@c"+strconv.FormatInt(d, 10)+"@", alice.app.Code(now, d))
		}
		form = hs.replace(form, c, now, codes...)
		before, err := ts.Store.Factors(ctx, alice.id)
		if err != nil || len(before) != 1 {
			t.Fatalf("alice's factors: %v, %v", before, err)
		}
		p := hs.post(t, path, form, who)
		d := p.before.Diff(hs.snaps.Take(t))
		if d == "" {
			toldNothingDone(t, p, path)
			return
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("%s %q by %d: changed, but %s:\n%s", path, form, caller, fmt.Sprintf(format, args...), d)
		}
		switch {
		case p.parseErr != nil || p.sent.Get("csrf") != c.csrf:
			fail("the form has another CSRF token")
		case h != alice || served[0] != alice.app.ID:
			fail("the path names no factor of the browser's account")
		}
		for _, l := range strings.Split(d, "\n") {
			if kind, _, _ := strings.Cut(l, ":"); (kind != "- factors" && kind != "+ factors") || !strings.Contains(l, "id="+alice.app.ID+" ") {
				fail("more changed than the factor: %s", l)
			}
		}
		// The step of the form's second code, when the two are
		// consecutive codes of the app within the window.
		cur := now.Unix() / 30
		first, second := testenv.TypedText(p.sent.Get("code"), false), testenv.TypedText(p.sent.Get("next_code"), false)
		step := int64(-1)
		for s := cur - window; s <= cur+window && step < 0; s++ {
			at := time.Unix(s*30, 0)
			if alice.app.Code(at, -1) == first && alice.app.Code(at, 0) == second && s > before[0].LastStep {
				step = s
			}
		}
		if step < 0 {
			fail("the form's codes are not two consecutive codes of the app, after its last step, within the window")
		}
		after, err := ts.Store.Factors(ctx, alice.id)
		if err != nil || len(after) != 1 {
			t.Fatalf("alice's factors: %v, %v", after, err)
		}
		switch {
		case after[0].LastStep != step:
			fail("the factor keeps another step than the form's second code's")
		case after[0].Drift != step-cur:
			fail("the factor's drift is not the second code's step from now")
		case p.r.url.Path != "/settings/security" || p.r.url.Query().Get("m") != "resynchronised":
			fail("the browser is not told the factor was resynchronised")
		}
		alice.app.Last = uint64(step)
	})
}
