package core_test

import (
	"context"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// betweenReadsStore runs hook, once armed, when a sign-in reads the
// account's reset of two-factor: after the password was checked against
// the account as first read, before the account is read again.
type betweenReadsStore struct {
	*store.Store
	armedHook
}

func (s *betweenReadsStore) TwoFactorReset(ctx context.Context, accountID string) (twofold.TwoFactorReset, bool, error) {
	s.trip()
	return s.Store.TwoFactorReset(ctx, accountID)
}

// TestLoginRacingPasswordChangeBetweenReads: a sign-in with the old password, whose
// password was checked just before the owner changed it, makes no session
// (it took the epoch of the account as read after the change, so its
// session outlived the change); one racing a sign-out everywhere, the
// password unchanged, still signs in.
func TestLoginRacingPasswordChangeBetweenReads(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st := openStore(t, dsn(t))
			bs := &betweenReadsStore{Store: st.Store}
			svc := newService(t, bs, st, time.Now, nil)
			owner := signedIn(t, svc, "ada")

			const next = "another long passphrase 77"
			bs.hook = func() {
				if _, _, err := svc.ChangePassword(ctx, owner, testPassword, next, core.Meta{}); err != nil {
					t.Errorf("change the password: %v", err)
				}
			}
			bs.armed.Store(true)
			res, err := svc.Login(ctx, "ada", testPassword, core.Meta{})
			if twofold.ErrorCode(err) != twofold.CodeInvalidCredentials {
				if err == nil && res.Token != "" {
					if _, aerr := svc.Authenticate(ctx, res.Token); aerr == nil {
						t.Fatal("a sign-in with the old password, racing its change, made a session that works")
					}
				}
				t.Fatalf("sign-in with the old password racing its change: %+v, %v; want invalid credentials", res, err)
			}

			res, err = svc.Login(ctx, "ada", next, core.Meta{})
			if err != nil || res.Token == "" {
				t.Fatalf("sign-in with the new password: %+v, %v", res, err)
			}
			owner, err = svc.Authenticate(ctx, res.Token)
			if err != nil {
				t.Fatal(err)
			}
			bs.hook = func() {
				if err := svc.LogoutEverywhere(ctx, owner, core.Meta{}); err != nil {
					t.Errorf("sign out everywhere: %v", err)
				}
			}
			bs.armed.Store(true)
			res, err = svc.Login(ctx, "ada", next, core.Meta{})
			if err != nil || res.Token == "" {
				t.Fatalf("sign-in racing a sign-out everywhere, password unchanged: %+v, %v", res, err)
			}
			if _, err := svc.Authenticate(ctx, res.Token); err != nil {
				t.Errorf("the session of a sign-in racing a sign-out everywhere: %v", err)
			}
		})
	}
}
