package core_test

import (
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestStoredUserAgentShownClean: an event stored before user agents were
// cleaned on the way in (here written straight to the store) is read back
// cleaned, by its holder and by an operator, so a direction override kept
// from then cannot turn a page of events around.
func TestStoredUserAgentShownClean(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st := openStore(t, dsn(t))
			svc := newService(t, st, st, time.Now, nil)
			auth := signedIn(t, svc, "ada")
			raw := "Mozilla/5.0 \u202etxt.exe\u202c (X11)"
			if err := st.AddEvent(ctx, twofold.AuditEvent{AccountID: auth.Account.ID, Type: "login.succeeded", At: time.Now(), Source: "192.0.2.7", UserAgent: raw}); err != nil {
				t.Fatal(err)
			}
			want := core.CleanText(raw, 256)
			if want == raw || !strings.Contains(want, "\uFFFD") {
				t.Fatalf("CleanText left %q as it was", raw)
			}
			seen := func(who string, evs []twofold.AuditEvent, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", who, err)
				}
				found := false
				for _, e := range evs {
					if strings.ContainsRune(e.UserAgent, '\u202e') {
						t.Errorf("%s reads user agent %q", who, e.UserAgent)
					}
					found = found || e.UserAgent == want
				}
				if !found {
					t.Errorf("%s: no event with user agent %q among %d", who, want, len(evs))
				}
			}
			evs, err := svc.Events(ctx, auth, twofold.EventQuery{Limit: 50})
			seen("the holder", evs, err)

			op := signedInAs(t, svc, core.NewAccount{Username: "root", Operator: true})
			evs, err = svc.AuditEvents(ctx, op, twofold.EventQuery{AccountID: auth.Account.ID, Limit: 50})
			seen("an operator's query", evs, err)
			sum, err := svc.InspectAccount(ctx, op, auth.Account.ID, 50)
			seen("an operator's view of the account", sum.Events, err)
		})
	}
}
