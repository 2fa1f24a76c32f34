package core_test

import (
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestSignOutEverywhereForSaysWhetherItDid: an operator's sign-out
// everywhere ends the account's sessions and its login waiting for the
// second step, records it and tells the holder. Asked again when nothing
// is signed in (the form sent twice, or two operators at once), it says
// nothing was signed out, and writes, records and tells nothing: the
// holder gets no second mail about a sign-out that did not happen.
func TestSignOutEverywhereForSaysWhetherItDid(t *testing.T) {
	const mail = "ann@example.com: Twofold: you were signed out everywhere"
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st, mails, svc := mailedService(t, dsn(t))
			op := withFactor(t, svc, signedInAs(t, svc, core.NewAccount{Username: "root", Operator: true}))
			ann := withFactor(t, svc, signedIn(t, svc, "ann"))
			epoch := func() int64 {
				a, err := st.Store.AccountByID(ctx, ann.Account.ID)
				if err != nil {
					t.Fatal(err)
				}
				return a.SessionEpoch
			}
			signOut := func(step string, want bool, wantEvents, wantMails int) {
				t.Helper()
				before := epoch()
				ended, err := svc.SignOutEverywhereFor(ctx, op, ann.Account.ID, core.Meta{})
				if err != nil || ended != want {
					t.Fatalf("%s: ended %v, %v; want %v", step, ended, err, want)
				}
				if moved := epoch() != before; moved != want {
					t.Errorf("%s: the session epoch moved: %v, want %v", step, moved, want)
				}
				if n := eventCount(t, st, ann.Account.ID, "session.ended_everywhere"); n != wantEvents {
					t.Errorf("%s: %d session.ended_everywhere events, want %d", step, n, wantEvents)
				}
				if n := mails.count(mail); n != wantMails {
					t.Errorf("%s: ann was told %d times, want %d; mails: %q", step, n, wantMails, mails.sent)
				}
			}
			signedIn := func() int {
				n, err := st.Store.SignedIn(ctx, ann.Account.ID, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := signedIn(); n != 1 {
				t.Fatalf("fixture: ann is signed in %d times, want 1", n)
			}
			signOut("signed in", true, 1, 1)
			if n := signedIn(); n != 0 {
				t.Fatalf("after the sign-out ann is signed in %d times, want 0", n)
			}
			signOut("again", false, 1, 1)

			// A login waiting for its second step is a sign-in to end.
			res, err := svc.Login(ctx, "ann", testPassword, core.Meta{})
			if err != nil || res.LoginID == "" {
				t.Fatalf("ann's password step: %+v, %v; want a login waiting for the second step", res, err)
			}
			if n := signedIn(); n != 1 {
				t.Fatalf("fixture: ann's waiting login counts %d times, want 1", n)
			}
			signOut("with a login waiting", true, 2, 2)
			if _, err := svc.PendingLogin(ctx, res.LoginID); err == nil {
				t.Error("ann's login still waits after the sign-out")
			}
			signOut("once more", false, 2, 2)
		})
	}
}
