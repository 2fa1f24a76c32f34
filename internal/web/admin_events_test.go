package web_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// TestBrowserAdminEvents: in Chromium, an operator opens the audit log from
// the menu, sees events of no account (a sign-in with an unknown username)
// beside every account's, filters them by type and by account, and pages
// back and forth through more than a page; a malformed type is said so.
// On SQLite and PostgreSQL.
func TestBrowserAdminEvents(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			ctx := context.Background()
			opSecret := account(t, ts, "olivia", true, true)
			account(t, ts, "alice", false, false)
			aliceID := userID(t, ts, "alice")
			if r := testenv.NewClient(ts.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "nobody", "password": testPassword}); r.Status != 401 {
				t.Fatalf("unknown username: got %d %s", r.Status, r.Body)
			}
			for i := range 60 {
				e := twofold.AuditEvent{AccountID: aliceID, Type: "account.unlocked", At: ts.Clock.Now().Add(time.Duration(i) * time.Second), Detail: fmt.Sprintf("n%02d", i)}
				if err := ts.Store.AddEvent(ctx, e); err != nil {
					t.Fatal(err)
				}
			}

			p := newPage(t, ts.URL())
			if name == "sqlite" {
				p.shots = artifactsDir(t)
			}
			p.signInWithCode(ts, "olivia", opSecret)
			p.openFromMenu("/admin/events")

			// Of no account: the unknown username's failure.
			p.fillAndSubmit("#type", "login.password_failed", "#event-filter button[type=submit]")
			if got := p.texts("#events tbody .type code"); len(got) == 0 || slices.ContainsFunc(got, func(s string) bool { return s != "login.password_failed" }) {
				t.Fatalf("events of type login.password_failed: %q", got)
			}
			if got := p.texts("#events tbody .account"); !slices.Contains(got, "none") {
				t.Errorf("the unknown username's failure, of no account: accounts %q", got)
			}
			p.screenshot("admin-events")

			// One type of one account, paged.
			p.fill("#type", "account.unlocked")
			p.fillAndSubmit("#account", aliceID, "#event-filter button[type=submit]")
			details := func() []string { return p.texts("#events tbody .detail") }
			first := details()
			if len(first) != 50 || first[0] != "n59" || first[49] != "n10" || p.exists("#newer") || p.exists("#newest") {
				t.Fatalf("first page: %d events %q…, newer link %v", len(first), first[:min(len(first), 2)], p.exists("#newer"))
			}
			p.click("#older")
			if got := details(); !slices.Equal(got, []string{"n09", "n08", "n07", "n06", "n05", "n04", "n03", "n02", "n01", "n00"}) || p.exists("#older") {
				t.Fatalf("older page: %q, older link %v", got, p.exists("#older"))
			}
			if got := p.attr("#newer", "href"); !strings.Contains(got, "type=account.unlocked") || !strings.Contains(got, "account="+aliceID) {
				t.Errorf("newer link %q: want the filters kept", got)
			}
			p.click("#newer")
			if got := details(); !slices.Equal(got, first) {
				t.Fatalf("back to the newer page: %q…", got[:min(len(got), 2)])
			}
			p.click("#newest")
			if got := details(); !slices.Equal(got, first) || p.exists("#newest") {
				t.Fatalf("newest page: %q…", got[:min(len(got), 2)])
			}

			p.fillAndSubmit("#type", "not a type!", "#event-filter button[type=submit]")
			if !p.exists("#error") {
				t.Error("a malformed type: no error shown")
			}
		})
	}
}

// TestAdminEventsOperatorsOnly: the audit log page is refused to others
// than operators, and malformed filters are a 400 page. On SQLite and
// PostgreSQL.
func TestAdminEventsOperatorsOnly(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			opSecret := account(t, ts, "olivia", true, true)
			account(t, ts, "bob", false, false)
			bob := newClient(t, ts.URL())
			bob.signIn("bob")
			if r := bob.get("/admin/events"); r.status != http.StatusForbidden {
				t.Errorf("GET /admin/events as a user: status %d, want 403", r.status)
			}
			if r := bob.get("/settings/security"); strings.Contains(r.body, `href="/admin/events"`) {
				t.Error("a user's page links to the audit log")
			}
			op := newClient(t, ts.URL())
			op.signInWithCode(ts, "olivia", opSecret)
			if r := op.get("/admin/events?type=a,b&before=1&after=2"); r.status != http.StatusBadRequest {
				t.Errorf("before and after: status %d, want 400", r.status)
			}
			// A type Twofold never writes is refused, named, as by GET
			// /v1/admin/events, rather than shown as an empty log.
			if r := op.get("/admin/events?type=login.succeeded,login.failed"); r.status != http.StatusBadRequest || !strings.Contains(r.body, "login.failed&#34; is no event type") {
				t.Errorf("an unknown type: status %d, want 400 naming it", r.status)
			}
			if r := op.get("/admin/events"); r.status != http.StatusOK || !strings.Contains(r.body, "login.succeeded") {
				t.Errorf("GET /admin/events: status %d, want 200 with olivia's sign-in", r.status)
			}
		})
	}
}

// TestAdminEventsMalformedPage: a before or after that is no event id (a
// link cut short, a hand-typed address) is refused on the page, saying
// which, as GET /v1/admin/events refuses it, rather than taken for the
// newest page as if the log ended there. Empty is none.
func TestAdminEventsMalformedPage(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	_, op := signedIn(t, ts, "olivia", true)
	for _, q := range []string{"before=abc", "before=0", "before=-1", "after=-5", "after=1x", "after=99999999999999999999", "type=login.succeeded&before=12%2B"} {
		r := op.get("/admin/events?" + q)
		param := strings.SplitN(q[strings.LastIndex(q, "&")+1:], "=", 2)[0]
		if r.status != http.StatusBadRequest || !strings.Contains(strings.ToLower(pageError(r.body)), param+" must be an event id") {
			t.Errorf("?%s: status %d, error %q; want 400 naming %s", q, r.status, pageError(r.body), param)
		}
	}
	for _, q := range []string{"before=", "after=", "type=&account=&before=&after="} {
		if r := op.get("/admin/events?" + q); r.status != http.StatusOK || !strings.Contains(r.body, "login.succeeded") {
			t.Errorf("?%s: status %d, want the newest page", q, r.status)
		}
	}
}
