package web_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
	"github.com/twofold/twofold/internal/web"
)

// FuzzFormRefusalWritesNothing posts any form to any page that takes one,
// from a browser signed in with an app as alice, an operator with a team
// and the zone example.com, with its form token (unless the form sends
// its own): the answer is never a server error, and a refusal (4xx)
// leaves the database as it was (testenv.Snapshot: but for what counts
// and records attempts) and queues no mail. Forms that end alice's
// session or account, or change her password, are left out, so that the
// rest keep being reached. On SQLite; FuzzFormRefusalWritesNothingPostgres
// is the same on PostgreSQL.
func FuzzFormRefusalWritesNothing(f *testing.F) { formRefusalWritesNothing(f, testenv.SQLiteDSN(f)) }

// FuzzFormRefusalWritesNothingPostgres is FuzzFormRefusalWritesNothing on
// PostgreSQL.
func FuzzFormRefusalWritesNothingPostgres(f *testing.F) {
	formRefusalWritesNothing(f, testenv.PostgresDSN(f))
}

func formRefusalWritesNothing(f *testing.F, dsn string) {
	ts := testenv.NewServer(f, dsn)
	_, c := signedIn(f, ts, "alice", true)
	ctx := context.Background()
	if _, err := ts.Service.AddZone(ctx, "example.com", "alice", core.Meta{}); err != nil {
		f.Fatal(err)
	}
	alice, err := ts.Store.AccountByUsername(ctx, "alice")
	if err != nil {
		f.Fatal(err)
	}
	team, err := ts.Service.CreateTeam(ctx, core.Auth{Account: alice}, "ops", core.Meta{})
	if err != nil {
		f.Fatal(err)
	}
	factors, err := ts.Store.Factors(ctx, alice.ID)
	if err != nil || len(factors) == 0 {
		f.Fatalf("alice's factors: %v, %v", factors, err)
	}
	ids := strings.NewReplacer("{id}", factors[0].ID, "{zone}", "example.com", "{inv}", "x", "{username}", "alice")
	var paths []string
	for route := range (&web.Server{}).Routes() {
		path, ok := strings.CutPrefix(route, "POST ")
		switch {
		case !ok, strings.HasPrefix(path, "/logout"), path == "/settings/security/close", path == "/settings/security/password",
			strings.HasPrefix(path, "/settings/security/sessions/"):
			continue
		case strings.HasPrefix(path, "/settings/teams/{id}"):
			path = strings.Replace(path, "{id}", team.ID, 1)
		}
		paths = append(paths, ids.Replace(path))
	}
	slices.Sort(paths)
	if len(paths) < 40 {
		f.Fatalf("only %d forms", len(paths))
	}
	for i, p := range paths {
		f.Add(uint8(i), "")
		if strings.Contains(p, "/settings/") {
			f.Add(uint8(i), "label=Phone&code=000000&name=x&host=www&type=A&ttl=300&data=192.0.2.1")
		}
	}
	f.Add(uint8(0), "csrf=x&csrf=y")

	snaps := testenv.OpenSnapshots(f, dsn)

	f.Fuzz(func(t *testing.T, which uint8, form string) {
		c.t = t
		path := paths[int(which)%len(paths)]
		if !strings.Contains(form, "csrf=") {
			form = strings.TrimPrefix(form+"&csrf="+c.csrf, "&")
		}
		before := snaps.Take(t)
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {ts.URL()}}
		r := c.do(testenv.NewRequest(t, "POST", ts.URL()+path, form, h))
		if r.status >= 500 {
			t.Fatalf("POST %s %q: %d %s", path, form, r.status, pageError(r.body))
		}
		if r.status < 400 {
			return
		}
		if d := before.Diff(snaps.Take(t)); d != "" {
			t.Fatalf("POST %s %q: refused (%d %s), but the database changed:\n%s", path, form, r.status, pageError(r.body), d)
		}
	})
}
