package core_test

import (
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestFormTokenOnce: a form token goes ahead once; a later sending of it,
// even one sent while the first is at work, learns what the first made. A
// first sending that made nothing lets the next go ahead. A token of
// another purpose or session, or out of date, is refused. On SQLite and
// PostgreSQL.
func TestFormTokenOnce(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := openStore(t, dsn(t))
			now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
			svc := newService(t, db, db, func() time.Time { return now }, nil)
			a := signedIn(t, svc, "ada")

			tok := formToken(t, svc.NewFormToken, a, "api-key")
			first := takeForm(t, svc, a, "api-key", tok)
			if first.Again {
				t.Fatal("first sending: Again")
			}
			// A second sending while the first is at work waits for it.
			second := make(chan *core.FormUse)
			go func() {
				u, err := svc.TakeForm(ctx, a, "api-key", tok)
				if err != nil {
					t.Error(err)
				}
				second <- u
			}()
			first.Done(ctx, "key-1")
			if u := <-second; u == nil || !u.Again || u.Made != "key-1" {
				t.Errorf("second sending: got %+v, want Again with key-1", u)
			}
			if u := takeForm(t, svc, a, "api-key", tok); !u.Again || u.Made != "key-1" {
				t.Errorf("third sending: got Again %v, Made %q; want key-1", u.Again, u.Made)
			}

			// A first sending that made nothing lets the next go ahead.
			tok = formToken(t, svc.NewFormToken, a, "enrol")
			takeForm(t, svc, a, "enrol", tok).Done(ctx, "")
			if u := takeForm(t, svc, a, "enrol", tok); u.Again {
				t.Error("the sending after one that made nothing: Again, want it to go ahead")
			}

			other := a
			other.Session.ID = "another-session"
			for what, refuse := range map[string]func() error{
				"another purpose": func() error {
					_, err := svc.TakeForm(ctx, a, "enrol", formToken(t, svc.NewFormToken, a, "api-key"))
					return err
				},
				"another session": func() error {
					_, err := svc.TakeForm(ctx, other, "api-key", formToken(t, svc.NewFormToken, a, "api-key"))
					return err
				},
				"malformed": func() error { _, err := svc.TakeForm(ctx, a, "api-key", "a.b"); return err },
				"out of date": func() error {
					tok := formToken(t, svc.NewFormToken, a, "api-key")
					now = now.Add(core.FormTTL)
					_, err := svc.TakeForm(ctx, a, "api-key", tok)
					return err
				},
			} {
				if err := refuse(); twofold.ErrorCode(err) != twofold.CodeInvalid {
					t.Errorf("%s: got %v, want code invalid", what, err)
				}
			}
		})
	}
}

// TestSameFormToken: the tokens NewSameFormToken makes for one session and
// purpose, on two pages a minute apart, are one form: the second page's
// sending, after the first page's, learns what that one made. Another
// purpose or session gets tokens of its own, which go ahead, and a token of
// one purpose is refused for another. On SQLite and PostgreSQL.
func TestSameFormToken(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := openStore(t, dsn(t))
			now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
			svc := newService(t, db, db, func() time.Time { return now }, nil)
			a := signedIn(t, svc, "ada")
			other := signedIn(t, svc, "bea")
			first := formToken(t, svc.NewSameFormToken, a, "join inv-1")
			now = now.Add(time.Minute)
			second := formToken(t, svc.NewSameFormToken, a, "join inv-1")
			if first == second {
				t.Fatal("two pages a minute apart got the same token, want the same random part only")
			}
			u, err := svc.TakeForm(ctx, a, "join inv-1", first)
			if err != nil || u.Again {
				t.Fatalf("the first page's sending: %+v, %v", u, err)
			}
			u.Done(ctx, "team-1")
			if u, err := svc.TakeForm(ctx, a, "join inv-1", second); err != nil || !u.Again || u.Made != "team-1" {
				t.Errorf("the second page's sending: %+v, %v; want Again with team-1", u, err)
			}
			for what, tc := range map[string]struct {
				a       core.Auth
				purpose string
			}{"another purpose": {a, "join inv-2"}, "another session": {other, "join inv-1"}} {
				if u, err := svc.TakeForm(ctx, tc.a, tc.purpose, formToken(t, svc.NewSameFormToken, tc.a, tc.purpose)); err != nil || u.Again {
					t.Errorf("%s: %+v, %v; want a first sending", what, u, err)
				}
			}
			if _, err := svc.TakeForm(ctx, a, "join inv-2", second); twofold.ErrorCode(err) != twofold.CodeInvalid {
				t.Errorf("a token for another purpose: got %v, want code invalid", err)
			}
		})
	}
}

// TestSweepKeepsUsesForClocksBehind: two instances on one database whose
// clocks differ by two minutes each way. A use one of them remembers (a
// form's token, a push device's nonce) is not swept by the instance ahead
// while the one behind still takes what was used as in date: there it stays
// used. On SQLite and PostgreSQL.
func TestSweepKeepsUsesForClocksBehind(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := openStore(t, dsn(t))
			real := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
			skew := 2 * time.Minute
			behind := newService(t, db, db, func() time.Time { return real.Add(-skew) }, nil)
			ahead := newService(t, db, db, func() time.Time { return real.Add(skew) }, nil)
			a := signedIn(t, behind, "ada")

			tok, err := behind.NewFormToken(a, "api-key")
			if err != nil {
				t.Fatal(err)
			}
			if u, err := behind.TakeForm(ctx, a, "api-key", tok); err != nil || u.Again {
				t.Fatalf("first sending: %+v, %v", u, err)
			} else {
				u.Done(ctx, "key-1")
			}
			// Any factor holds nonces in the store; as AuthenticateDevice
			// keeps one, by the clock behind.
			enr, err := behind.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorTOTP, Label: "phone"}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			fid := enr.Factor.ID
			if ok, err := db.TakePushNonce(ctx, fid, "nonce-1", behind.Now().Add(2*core.PushClockSkew)); err != nil || !ok {
				t.Fatalf("TakePushNonce: %v, %v", ok, err)
			}

			// A second before the instance behind would take the nonce's
			// request again (one signed a minute ahead of its clock, a
			// minute old by it).
			real = real.Add(2*core.PushClockSkew - time.Second)
			if err := ahead.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			if used, err := db.PushNonceUsed(ctx, fid, "nonce-1"); err != nil || !used {
				t.Errorf("push nonce after the sweep: used %v, %v; want still used", used, err)
			}
			// A second before it would take the form's token again.
			real = real.Add(core.FormTTL - 2*core.PushClockSkew)
			if err := ahead.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			u, err := behind.TakeForm(ctx, a, "api-key", tok)
			if err != nil || !u.Again || u.Made != "key-1" {
				t.Fatalf("the form sent again after the sweep: %+v, %v; want Again with key-1", u, err)
			}
		})
	}
}

// formToken returns a token of a's form purpose from newToken
// (svc.NewFormToken or svc.NewSameFormToken), failing the test on an error.
func formToken(t *testing.T, newToken func(core.Auth, string) (string, error), a core.Auth, purpose string) string {
	t.Helper()
	tok, err := newToken(a, purpose)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// takeForm is svc.TakeForm of a's form purpose sent with tok, failing the
// test on an error.
func takeForm(t *testing.T, svc *core.Service, a core.Auth, purpose, tok string) *core.FormUse {
	t.Helper()
	u, err := svc.TakeForm(t.Context(), a, purpose, tok)
	if err != nil {
		t.Fatalf("TakeForm: %v", err)
	}
	return u
}
