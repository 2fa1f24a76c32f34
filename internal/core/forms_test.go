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
			token := func(purpose string) string {
				t.Helper()
				tok, err := svc.NewFormToken(a, purpose)
				if err != nil {
					t.Fatal(err)
				}
				return tok
			}
			take := func(purpose, tok string) *core.FormUse {
				t.Helper()
				u, err := svc.TakeForm(ctx, a, purpose, tok)
				if err != nil {
					t.Fatalf("TakeForm: %v", err)
				}
				return u
			}

			tok := token("api-key")
			first := take("api-key", tok)
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
			if u := take("api-key", tok); !u.Again || u.Made != "key-1" {
				t.Errorf("third sending: got Again %v, Made %q; want key-1", u.Again, u.Made)
			}

			// A first sending that made nothing lets the next go ahead.
			tok = token("enrol")
			take("enrol", tok).Done(ctx, "")
			if u := take("enrol", tok); u.Again {
				t.Error("the sending after one that made nothing: Again, want it to go ahead")
			}

			other := a
			other.Session.ID = "another-session"
			for what, refuse := range map[string]func() error{
				"another purpose": func() error { _, err := svc.TakeForm(ctx, a, "enrol", token("api-key")); return err },
				"another session": func() error { _, err := svc.TakeForm(ctx, other, "api-key", token("api-key")); return err },
				"malformed":       func() error { _, err := svc.TakeForm(ctx, a, "api-key", "a.b"); return err },
				"out of date": func() error {
					tok := token("api-key")
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
