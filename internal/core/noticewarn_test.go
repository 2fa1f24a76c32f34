package core_test

import (
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// mailed returns the bodies of the mails queued to mb whose subject ends
// with subject.
func (m *mailbox) mailed(subject string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, ml := range m.mails {
		if strings.HasSuffix(ml.subject, ": "+subject) {
			out = append(out, ml.body)
		}
	}
	return out
}

// mailingService opens a store on dsn and builds a service on it with
// cheap password hashing, a clock set to 2026-03-01 09:00 UTC and a mailbox
// taking both notices and code mails; tune, if not nil, adjusts the
// configuration first.
func mailingService(t *testing.T, dsn string, tune func(*core.Config)) (testDB, *testenv.Clock, *core.Service, *mailbox) {
	t.Helper()
	st := openStore(t, dsn)
	clock := testenv.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	mb := &mailbox{}
	cfg := cheapConfig()
	if tune != nil {
		tune(&cfg)
	}
	return st, clock, newServiceOpts(t, st, st, core.Options{Config: cfg, Now: clock.Now, Notifier: mb, CodeMail: mb}), mb
}

// withTOTP confirms an authenticator app on a's account and returns a
// elevated for an hour.
func withTOTP(t *testing.T, svc *core.Service, clock *testenv.Clock, a core.Auth) core.Auth {
	t.Helper()
	e, err := svc.EnrolFactor(t.Context(), a, core.NewFactor{Type: twofold.FactorTOTP, Label: "phone"}, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ConfirmFactor(t.Context(), a, e.Factor.ID, testenv.TOTP(t, e.Secret, clock.Now()), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	a.Session.ElevatedUntil = clock.Now().Add(time.Hour)
	return a
}

// TestWarningsPastTheNoticeBound: once whoever holds a session has used up
// the account's bound on notices with changes of little weight (new
// recovery codes, again and again), the changes that lock the holder out
// or leave them minutes to react are still mailed, each with a footer
// that fits it and links under the server's public URL: a change of
// address asked for, the password changed, two-factor reset, the account
// suspended.
func TestWarningsPastTheNoticeBound(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			_, clock, svc, mb := mailingService(t, dsn(t), func(cfg *core.Config) { cfg.MailSent = true })
			const base = "https://login.example.com"
			svc.SetLinkBase(base)
			bob := withTOTP(t, svc, clock, signedIn(t, svc, "bob"))
			for range core.NoticeBurst + 2 {
				if _, err := svc.RegenerateRecoveryCodes(ctx, bob, core.Meta{}); err != nil {
					t.Fatal(err)
				}
			}
			more := mb.mailed("more security changes to your account")
			if len(more) != 1 {
				t.Fatalf("fixture: mails about more changes: got %d, want 1 (the bound is used up)", len(more))
			}
			if !strings.Contains(more[0], base+"/settings/security/events") || !strings.Contains(more[0], base+"/login") {
				t.Errorf("the mail about more changes does not link to the security log and the sign-in page under %s:\n%s", base, more[0])
			}

			// Each warning, and what its footer must and must not say.
			check := func(subject string, want, not []string) {
				t.Helper()
				got := mb.mailed(subject)
				if len(got) != 1 {
					t.Errorf("%q past the notice bound: mailed %d times, want once", subject, len(got))
					return
				}
				for _, w := range want {
					if !strings.Contains(got[0], w) {
						t.Errorf("%q does not say %q:\n%s", subject, w, got[0])
					}
				}
				for _, n := range not {
					if strings.Contains(got[0], n) {
						t.Errorf("%q says %q, which cannot apply:\n%s", subject, n, got[0])
					}
				}
			}

			if _, err := svc.StartEmailChange(ctx, bob, "bob@new.example", testPassword, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			check("a change of your email address was asked for", []string{"sign in at " + base + "/login", base + "/settings/security"}, nil)

			token, _, err := svc.ChangePassword(ctx, bob, testPassword, "a wholly different passphrase", core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			check("your password was changed", []string{"Forgot your password?", base + "/login", base + "/settings/security/api-keys"}, []string{"recovery code"})
			if bob, err = svc.Authenticate(ctx, token); err != nil {
				t.Fatal(err)
			}

			if _, err := svc.ResetTwoFactorByName(ctx, "bob", true, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			check("two-factor on your account was reset", []string{"no recovery codes", base + "/login"}, []string{"use a recovery code"})

			op := withTOTP(t, svc, clock, signedInAs(t, svc, core.NewAccount{Username: "root", Email: "root@example.com", Operator: true}))
			if _, _, err := svc.SetSuspended(ctx, op, bob.Account.ID, true, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			check("your account was suspended", []string{"contact your operator"}, []string{"sign in at", "recovery code"})

			// An operator's action on an account under its bound gets the
			// operator's footer, not advice to change the password.
			ada := signedIn(t, svc, "ada")
			if ended, err := svc.SignOutEverywhereFor(ctx, op, ada.Account.ID, core.Meta{}); err != nil || !ended {
				t.Fatalf("signing ada out: ended %v, %v", ended, err)
			}
			check("you were signed out everywhere", []string{"An operator of this server did this", base + "/settings/security/events"}, []string{"If this was not you"})
		})
	}
}

// TestNoInvitationMailWhenSuspended: an invitation to a team made for a
// suspended account is made, and recorded in its log, as any other (the
// inviter is not told the account is suspended), but not mailed: its
// holder cannot sign in to answer it.
func TestNoInvitationMailWhenSuspended(t *testing.T) {
	const subject = "you were invited to a team"
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st, clock, svc, mb := mailingService(t, dsn(t), nil)
			bob := signedIn(t, svc, "bob")
			ann := signedIn(t, svc, "ann")
			op := withTOTP(t, svc, clock, signedInAs(t, svc, core.NewAccount{Username: "root", Operator: true}))
			if _, _, err := svc.SetSuspended(ctx, op, bob.Account.ID, true, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			tm, err := svc.CreateTeam(ctx, ann, "ops", core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.InviteTeamMember(ctx, ann, tm.ID, "bob", "ops", core.Meta{}); err != nil {
				t.Fatalf("invite a suspended account: %v, want the invitation made", err)
			}
			svc.Wait()
			if got := mb.mailed(subject); len(got) != 0 {
				t.Errorf("a suspended account was mailed %d invitations, want none", len(got))
			}
			if n := countTypes(t, st, bob.Account.ID, "team.invitation_received"); n != 1 {
				t.Errorf("bob's log holds %d invitations, want 1", n)
			}
			// Once the suspension is lifted, invitations are mailed again.
			if _, _, err := svc.SetSuspended(ctx, op, bob.Account.ID, false, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			tm2, err := svc.CreateTeam(ctx, ann, "ops two", core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			clock.Add(25 * time.Hour)
			if _, err := svc.InviteTeamMember(ctx, ann, tm2.ID, "bob", "ops", core.Meta{}); err != nil {
				t.Fatal(err)
			}
			svc.Wait()
			if got := mb.mailed(subject); len(got) != 1 {
				t.Errorf("bob, no longer suspended, was mailed %d invitations, want 1", len(got))
			}
		})
	}
}
