package web_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzRecordForm posts any form to the DNS pages' forms: adding a record
// (POST /settings/dns/{zone}/records) and removing one (POST
// /settings/dns/{zone}/delete), with any zone, from the browsers of
// formHolders (alice's elevated, alice's never elevated, bob's, who has no
// authenticator). alice owns alice.test, and ops.test, which she shares
// with the team Ops, where she is an owner and bob read-only; bob owns
// bob.test; dave owns web.test, which he shares with the team Web, which
// requires two-factor, where alice is ops and bob an admin. Each zone
// holds an A record at www and a TXT record at _acme-challenge. Whatever
// the form:
//
//   - the answer is never a server error;
//   - a record is added or removed only with the browser's CSRF token, in
//     the zone the path names, by its owner or by a member of the team it
//     is shared with whose role changes the team's resources, and, when
//     the team requires two-factor, whose account has a factor and whose
//     session passed one; one record is added, of the form's type and TTL
//     (and host, when the form gives a plain name), or the one record of
//     the form's host, type and data goes; the browser is back on the
//     zone's page, told so; nothing else changes but the zone's serial;
//   - otherwise the database is as it was (testenv.Snapshot);
//   - no password or code of alice's app the form sent comes back in the
//     page, and none goes to the log.
//
// The which byte picks the form (its value mod 2: add, remove). In a zone,
// @alice@, @bob@, @ops@ and @web@ stand for the zones' names; in a form,
// placeholders stand for the passwords and alice's app's codes
// (formHolders.replace). The zones and teams are made anew after a change,
// and when an account was. The who byte picks the browser. A path the mux
// cleans to another form's route is skipped (servedSegments). On SQLite;
// FuzzRecordFormPostgres is the same on PostgreSQL.
func FuzzRecordForm(f *testing.F) { recordForm(f, testenv.SQLiteDSN(f)) }

// FuzzRecordFormPostgres is FuzzRecordForm on PostgreSQL.
func FuzzRecordFormPostgres(f *testing.F) { recordForm(f, testenv.PostgresDSN(f)) }

// plainHost is a host name the oracle may compare as it is typed.
var plainHost = regexp.MustCompile(`^[a-z0-9_-]+(\.[a-z0-9_-]+)*$`)

func recordForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	w := newTeamWorld(f, hs, dsn, []worldTeam{
		{name: "Ops", owner: worldAlice, members: map[int]twofold.Role{worldBob: twofold.RoleReadOnly}},
		{name: "Web", require: true, owner: worldDave, members: map[int]twofold.Role{worldAlice: twofold.RoleOps, worldBob: twofold.RoleAdmin}},
	}, []worldZone{{"alice.test", worldAlice, -1}, {"bob.test", worldBob, -1}, {"ops.test", worldAlice, 0}, {"web.test", worldDave, 1}})
	var zones []string
	for _, z := range w.zones {
		zones = append(zones, z.name)
	}
	// records reads every zone's records, a line each.
	records := func(t *testing.T) map[string]twofold.Record {
		out := map[string]twofold.Record{}
		for _, z := range zones {
			rs, err := ts.Store.Records(ctx, z)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				out[fmt.Sprintf("%s %s %s %d %s", z, r.Host, r.Type, r.TTL, r.Data)] = r
			}
		}
		return out
	}

	for _, in := range []struct {
		which      uint8
		zone, form string
		who        uint8
	}{
		{0, "@alice@", "host=new&type=A&ttl=300&data=192.0.2.7", 0},
		{0, "@alice@", "host=+New+&type=+txt+&ttl=+120+&data=hello", 1},
		{0, "@alice@", "host=new&type=A&ttl=300&data=192.0.2.7", 2},
		{0, "@bob@", "host=@&type=TXT&ttl=60&data=%22v%3Dspf1+-all%22", 2},
		{0, "@ops@", "host=_acme-challenge&type=TXT&ttl=60&data=other", 2},
		{0, "@web@", "host=_acme-challenge&type=TXT&ttl=60&data=other", 0},
		{0, "@web@", "host=_acme-challenge&type=TXT&ttl=60&data=other", 1},
		{0, "@web@", "host=_acme-challenge&type=TXT&ttl=60&data=other", 2},
		{0, "@alice@", "host=new&type=A&ttl=x&data=192.0.2.7", 0},
		{0, "@alice@", "host=new&type=A&ttl=300&data=300.0.0.1", 0},
		{0, "@alice@", "host=www&type=A&ttl=300&data=192.0.2.1", 0},
		{0, "@alice@", "host=new&type=A&ttl=300&data=192.0.2.7&csrf=x", 0},
		{0, "new.@alice@", "host=new&type=A&ttl=300&data=192.0.2.7", 0},
		{1, "@alice@", "host=www&type=A&data=192.0.2.1", 0},
		{1, "@alice@", "host=www&type=A&data=192.0.2.1", 2},
		{1, "@ops@", "host=_acme-challenge&type=TXT&data=%22token%22", 2},
		{1, "@web@", "host=_acme-challenge&type=TXT&data=%22token%22", 0},
		{1, "@web@", "host=_acme-challenge&type=TXT&data=%22token%22", 1},
		{1, "@web@", "host=www&type=A&data=192.0.2.1", 2},
		{1, "@bob@", "host=www&type=A&data=192.0.2.2", 2},
		{1, "@bob@", "host=www&type=A", 2},
		{1, "@alice@/..", "host=www&type=A&data=192.0.2.1", 0},
	} {
		f.Add(in.which, in.zone, in.form, in.who)
	}

	f.Fuzz(func(t *testing.T, which uint8, zone, form string, who uint8) {
		rebuild := false
		for _, made := range hs.ready(t) {
			rebuild = rebuild || made
		}
		if rebuild {
			w.make(t)
		}
		h, c, caller := hs.browser(who)
		zone = strings.NewReplacer(w.placeholders(true)...).Replace(zone)
		suffix := "/records"
		if which%2 == 1 {
			suffix = "/delete"
		}
		path := "/settings/dns/" + zone + suffix
		req, err := http.NewRequest("POST", ts.URL()+path, nil)
		if err != nil || !testenv.Sendable(req) {
			return // no request a browser could send
		}
		named := servedID(req.URL, "/settings/dns/", suffix)
		if named == "" {
			return // another form's (a path cleaned to another route), or none
		}
		before := records(t)
		// Who may change each zone, as the zones and teams stand.
		mayWrite := map[string]bool{}
		for i, z := range w.zones {
			if w.account(z.owner) == h.id || w.shares[i] == "" {
				mayWrite[z.name] = w.account(z.owner) == h.id
				continue
			}
			role, require := w.roleOf(t, w.shares[i], h.id)
			// alice's elevated browser passed a second factor.
			mayWrite[z.name] = role.WritesResources() && (!require || h.withApp && caller == 0)
		}
		form = hs.replace(form, c, ts.Clock.Now())
		p := hs.post(t, path, form, who)
		after := records(t)
		var added, gone []string
		for k := range after {
			if _, ok := before[k]; !ok {
				added = append(added, k)
			}
		}
		for k := range before {
			if _, ok := after[k]; !ok {
				gone = append(gone, k)
			}
		}
		d := p.before.Diff(hs.snaps.Take(t))
		if len(added) == 0 && len(gone) == 0 {
			if d != "" {
				t.Fatalf("%s %q by %d: refused (%d %s), but the database changed:\n%s", path, form, caller, p.r.status, pageError(p.r.body), d)
			}
			toldNothingDone(t, p, path)
			return
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("%s %q by %d: added %q, removed %q, but %s", path, form, caller, added, gone, fmt.Sprintf(format, args...))
		}
		switch {
		case p.parseErr != nil || p.sent.Get("csrf") != c.csrf:
			fail("the form has another CSRF token")
		case named == "" || !mayWrite[named]:
			fail("the browser's account may not change the zone the path names (%q)", named)
		}
		var changed string
		if which%2 == 0 {
			if len(added) != 1 || len(gone) != 0 {
				fail("the form adds one record")
			}
			changed = added[0]
			r := after[changed]
			ttl, _ := strconv.Atoi(strings.TrimSpace(p.sent.Get("ttl")))
			host := strings.ToLower(strings.TrimSpace(p.sent.Get("host")))
			switch {
			case r.Type != strings.ToUpper(strings.TrimSpace(p.sent.Get("type"))):
				fail("the form's type is %q", p.sent.Get("type"))
			case int(r.TTL) != ttl:
				fail("the form's TTL is %q", p.sent.Get("ttl"))
			case plainHost.MatchString(host) && !strings.HasSuffix(host, "."+named) && host != named && r.Host != host:
				fail("the form's host is %q", p.sent.Get("host"))
			}
			if p.r.url.Path != "/settings/dns/"+named || p.r.url.Query().Get("m") != "record_added" {
				fail("the browser is at %s (%d)", p.r.url, p.r.status)
			}
		} else {
			if len(gone) != 1 || len(added) != 0 {
				fail("the form removes one record")
			}
			changed = gone[0]
			r := before[changed]
			if r.Type != strings.ToUpper(strings.TrimSpace(p.sent.Get("type"))) || r.Data != p.sent.Get("data") && r.Data != strings.TrimSpace(p.sent.Get("data")) {
				fail("the form names %q %q", p.sent.Get("type"), p.sent.Get("data"))
			}
			if p.r.url.Path != "/settings/dns/"+named || p.r.url.Query().Get("m") != "record_removed" {
				fail("the browser is at %s (%d)", p.r.url, p.r.status)
			}
		}
		if !strings.HasPrefix(changed, named+" ") {
			fail("the path names %s", named)
		}
		// Nothing else changed: the record, and the zone's serial.
		for _, l := range strings.Split(d, "\n") {
			kind, _, _ := strings.Cut(l, ":")
			switch {
			case kind == "- dns_records" || kind == "+ dns_records":
			case (kind == "- dns_zones" || kind == "+ dns_zones") && strings.Contains(l, " name="+named+" "):
			default:
				fail("more changed: %s", l)
			}
		}
		w.make(t)
	})
}
