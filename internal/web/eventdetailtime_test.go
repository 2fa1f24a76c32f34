package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// TestEventDetailTimes: a time inside an event's detail (a reset's due
// time, as core writes it, RFC 3339) shows on the operators' events pages
// (/admin/events, and an account's events on /admin/users/{id}) as the
// pages show times, in a <time> element whose datetime keeps it
// machine-readable, the rest of the detail escaped as before; the API
// and the stored detail keep RFC 3339. On SQLite and PostgreSQL.
func TestEventDetailTimes(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			ctx := context.Background()
			opSecret := account(t, ts, "olivia", true, true)
			account(t, ts, "alice", false, false)
			aliceID := userID(t, ts, "alice")
			due := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
			// Details as core writes them (reset.go), and an odd one.
			details := []string{
				"by operator olivia, due " + due.Format(time.RFC3339),
				"requested by operator olivia at 2026-03-01T12:00:00+02:00; <b>not bold</b>",
				"not a time: 2026-13-45T99:00:00Z",
			}
			for _, d := range details {
				if err := ts.Store.AddEvent(ctx, twofold.AuditEvent{AccountID: aliceID, Type: "two_factor.reset_requested", At: ts.Clock.Now(), Detail: d}); err != nil {
					t.Fatal(err)
				}
			}
			wants := []string{
				`by operator olivia, due <time datetime="2026-03-04T12:00:00Z">4 Mar 2026, 12:00 UTC</time>`,
				`requested by operator olivia at <time datetime="2026-03-01T10:00:00Z">1 Mar 2026, 10:00 UTC</time>; &lt;b&gt;not bold&lt;/b&gt;`,
				`not a time: 2026-13-45T99:00:00Z`,
			}

			c := newClient(t, ts.URL())
			c.signInWithCode(ts, "olivia", opSecret)
			for _, path := range []string{"/admin/events?account=" + aliceID, "/admin/users/" + aliceID} {
				r := c.get(path)
				if r.status != 200 {
					t.Fatalf("%s: status %d", path, r.status)
				}
				for _, want := range wants {
					if !strings.Contains(r.body, want) {
						t.Errorf("%s does not show %s", path, want)
					}
				}
				if strings.Contains(r.body, "<b>not bold") {
					t.Errorf("%s shows a detail's markup unescaped", path)
				}
			}

			ts.Clock.Add(time.Minute) // a code of another step than the page's sign-in
			api := apiSession(t, ts, "olivia", opSecret)
			r := api.Do(t, "GET", "/v1/admin/events?account="+aliceID+"&type=two_factor.reset_requested", nil)
			if r.Status != 200 {
				t.Fatalf("GET /v1/admin/events: %d %s", r.Status, r.Body)
			}
			var got []string
			for _, e := range r.JSON["events"].([]any) {
				got = append(got, e.(map[string]any)["detail"].(string))
			}
			for _, d := range details {
				if !strings.Contains(strings.Join(got, "\n"), d) {
					t.Errorf("the API's details %q lack %q, as stored", got, d)
				}
			}
		})
	}
}
