package core_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/testenv"
)

// TestConfirmSentAgain: a later sending of the form that confirmed the
// account's first factor gets a new paper key in place of the one in the
// first answer, which stops working, a few times at most and only within
// core.PaperKeyAgainWindow; each is audited and mailed. Only the session
// whose form it was, and only for a confirming form, gets one; a second
// factor's form gets none (its answer held no codes). On SQLite and
// PostgreSQL.
func TestConfirmSentAgain(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := openStore(t, dsn(t))
			now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
			notes := &countingNotifier{}
			svc := newService(t, db, db, func() time.Time { return now }, notes)
			a := signedIn(t, svc, "ada")
			// confirm confirms a new TOTP factor with the form token tok,
			// as the page does, and returns the confirmation.
			confirm := func(label, tok string) core.Confirmation {
				t.Helper()
				u := takeForm(t, svc, a, core.FormConfirm, tok)
				e, err := svc.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorTOTP, Label: label}, core.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				secret, err := otp.DecodeSecret(e.Secret)
				if err != nil {
					t.Fatal(err)
				}
				p := otp.DefaultParams()
				c, err := svc.ConfirmFactor(ctx, a, e.Factor.ID, otp.HOTP(secret, otp.Step(now, p.Period), p.Algorithm, p.Digits), core.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				u.DoneConfirm(ctx, c)
				return c
			}
			// elevate confirms it's ada with paper key key, reporting the
			// error code ("" when it works).
			elevate := func(key string) twofold.Code {
				t.Helper()
				e, err := svc.Elevate(ctx, a, core.SecondFactor{Method: twofold.MethodPaperKey, Code: key}, core.Meta{})
				if err != nil {
					return twofold.ErrorCode(err)
				}
				a.Session.ElevatedUntil = e.Until
				return ""
			}

			tok, err := svc.NewFormToken(a, core.FormConfirm)
			if err != nil {
				t.Fatal(err)
			}
			first := confirm("phone", tok)
			if first.PaperKey == "" {
				t.Fatal("the first factor's confirmation made no paper key")
			}
			keys := []string{first.PaperKey}
			for i := range 3 {
				now = now.Add(time.Minute)
				got, err := svc.ConfirmSentAgain(ctx, a, takeForm(t, svc, a, core.FormConfirm, tok), core.Meta{})
				if err != nil {
					t.Fatalf("sending %d: %v", i+2, err)
				}
				if !got.First || got.Factor.ID != first.Factor.ID || got.PaperKey == "" || slices.Contains(keys, got.PaperKey) {
					t.Fatalf("sending %d: got first %v, factor %q, paper key %q; want the first factor and a new key", i+2, got.First, got.Factor.ID, got.PaperKey)
				}
				keys = append(keys, got.PaperKey)
			}
			got, err := svc.ConfirmSentAgain(ctx, a, takeForm(t, svc, a, core.FormConfirm, tok), core.Meta{})
			if err != nil || !got.First || got.PaperKey != "" || got.NoPaperKey != core.NoPaperKeyOften {
				t.Errorf("fifth sending: got %+v, %v; want no paper key (often)", got, err)
			}
			if n := len(slices.DeleteFunc(slices.Clone(notes.subjects), func(s string) bool { return !strings.HasSuffix(s, "a new paper key was made") })); n != 3 {
				t.Errorf("mails: %q, want three of a new paper key", notes.subjects)
			}
			if n := eventCount(t, db, a.Account.ID, "paper_key.reissued"); n != 3 {
				t.Errorf("paper_key.reissued events: got %d, want 3", n)
			}

			// Another session, or another form of this one, gets nothing.
			other := a
			other.Session.ID = "another-session"
			if _, err := svc.ConfirmSentAgain(ctx, other, takeForm(t, svc, a, core.FormConfirm, tok), core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInvalid {
				t.Errorf("another session: got %v, want code invalid", err)
			}
			key := formToken(t, svc.NewFormToken, a, "api-key")
			u := takeForm(t, svc, a, "api-key", key)
			u.Done(ctx, first.Factor.ID)
			if _, err := svc.ConfirmSentAgain(ctx, a, takeForm(t, svc, a, "api-key", key), core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInvalid {
				t.Errorf("a form of another purpose: got %v, want code invalid", err)
			}

			// The last key works, the first no longer.
			if code := elevate(keys[len(keys)-1]); code != "" {
				t.Errorf("the last new paper key: %s", code)
			}
			if code := elevate(keys[0]); code != twofold.CodeInvalidCode {
				t.Errorf("the first paper key: got %q, want %q", code, twofold.CodeInvalidCode)
			}

			// A second factor's form: no codes were shown, none made.
			tok2, err := svc.NewFormToken(a, core.FormConfirm)
			if err != nil {
				t.Fatal(err)
			}
			now = now.Add(30 * time.Second)
			second := confirm("laptop", tok2)
			if second.PaperKey != "" {
				t.Fatal("the second factor's confirmation made a paper key")
			}
			got, err = svc.ConfirmSentAgain(ctx, a, takeForm(t, svc, a, core.FormConfirm, tok2), core.Meta{})
			if err != nil || got.First || got.PaperKey != "" || got.Factor.ID != second.Factor.ID {
				t.Errorf("the second factor's form sent again: got %+v, %v; want not first, no paper key", got, err)
			}
		})
	}
}

// TestConfirmSentAgainLateOrUsed: no new paper key once
// core.PaperKeyAgainWindow has passed since the confirmation, nor once the
// paper key was used (someone holds it); the key then keeps working. On
// SQLite and PostgreSQL.
func TestConfirmSentAgainLateOrUsed(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := openStore(t, dsn(t))
			now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
			svc := newService(t, db, db, func() time.Time { return now }, nil)
			for _, tc := range []struct {
				name string
				use  bool
				wait time.Duration
				want core.NoPaperKey
			}{
				{"late", false, core.PaperKeyAgainWindow, core.NoPaperKeyLate},
				{"used", true, time.Minute, core.NoPaperKeyUsed},
			} {
				t.Run(tc.name, func(t *testing.T) {
					a := signedIn(t, svc, tc.name)
					tok, err := svc.NewFormToken(a, core.FormClaim)
					if err != nil {
						t.Fatal(err)
					}
					u, err := svc.TakeForm(ctx, a, core.FormClaim, tok)
					if err != nil {
						t.Fatal(err)
					}
					e, err := svc.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorTOTP, Label: "phone"}, core.Meta{})
					if err != nil {
						t.Fatal(err)
					}
					secret, _ := otp.DecodeSecret(e.Secret)
					p := otp.DefaultParams()
					c, err := svc.ConfirmFactor(ctx, a, e.Factor.ID, otp.HOTP(secret, otp.Step(now, p.Period), p.Algorithm, p.Digits), core.Meta{})
					if err != nil {
						t.Fatal(err)
					}
					u.DoneConfirm(ctx, c)
					if tc.use {
						if _, err := svc.Elevate(ctx, a, core.SecondFactor{Method: twofold.MethodPaperKey, Code: c.PaperKey}, core.Meta{}); err != nil {
							t.Fatal(err)
						}
					}
					now = now.Add(tc.wait)
					again, err := svc.TakeForm(ctx, a, core.FormClaim, tok)
					if err != nil {
						t.Fatal(err)
					}
					got, err := svc.ConfirmSentAgain(ctx, a, again, core.Meta{})
					if err != nil || !got.First || got.PaperKey != "" || got.NoPaperKey != tc.want {
						t.Errorf("got %+v, %v; want no paper key (%s)", got, err, tc.want)
					}
					if _, err := svc.Elevate(ctx, a, core.SecondFactor{Method: twofold.MethodPaperKey, Code: c.PaperKey}, core.Meta{}); err != nil {
						t.Errorf("the paper key stopped working: %v", err)
					}
				})
			}
		})
	}
}
