package core_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/testenv"
)

// TestSessionWritesOfSessionEndedMeanwhile: a person's write whose
// session is signed out (alone or everywhere), expires, or whose account
// is suspended, after the request was let in (core.WithCaller) and before
// its write, writes nothing: 401 as the door answers such a session, and
// no audit event, on either store. The case that matters: whoever holds a
// stolen session keeps sending writes while the owner signs out
// everywhere; once that is answered, none of theirs lands.
func TestSessionWritesOfSessionEndedMeanwhile(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			m := newMeddled(t, dsn(t), meddling, true) // an address is changed only by a code mailed to it
			db, ms, clock, svc := m.db, m.store, m.clock, m.svc
			n := 0
			unique := func(s string) string { n++; return fmt.Sprintf("%s%d", s, n) }

			enders := []struct {
				name string
				end  func(ctx context.Context, a core.Auth) error
			}{
				{"signed out everywhere", func(ctx context.Context, a core.Auth) error {
					_, err := db.EndSessions(ctx, a.Account.ID)
					return err
				}},
				{"signed out", func(ctx context.Context, a core.Auth) error {
					_, err := db.DeleteSession(ctx, a.Session.ID)
					return err
				}},
				{"suspended", func(ctx context.Context, a core.Auth) error {
					_, err := db.SetSuspended(ctx, a.Account.ID, true)
					return err
				}},
				{"expired", func(ctx context.Context, a core.Auth) error {
					clock.Set(a.Session.ExpiresAt)
					return nil
				}},
			}
			// Each write readies what it needs with the session, elevated,
			// of an account with an authenticator, and returns the write.
			writes := []struct {
				name  string
				ready func(t *testing.T, a core.Auth) func(ctx context.Context) error
			}{
				{"confirm an authenticator", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					e, err := svc.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorTOTP, Label: "laptop"}, core.Meta{})
					if err != nil {
						t.Fatal(err)
					}
					return func(ctx context.Context) error {
						_, err := svc.ConfirmFactor(ctx, a, e.Factor.ID, testenv.TOTP(t, e.Secret, clock.Now()), core.Meta{})
						return err
					}
				}},
				{"ask to change the email address", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					return func(ctx context.Context) error {
						_, err := svc.StartEmailChange(ctx, a, unique("new")+"@example.org", testPassword, core.Meta{})
						return err
					}
				}},
				{"make an API key", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					return func(ctx context.Context) error {
						_, _, err := svc.CreateAPIKey(ctx, a, core.NewAPIKey{Name: "mine", Permits: []twofold.Permit{{Service: "dns", Resource: "*", Actions: []string{"read"}}}}, core.Meta{})
						return err
					}
				}},
				{"change the password", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					return func(ctx context.Context) error {
						_, _, err := svc.ChangePassword(ctx, a, testPassword, "another horse battery", core.Meta{})
						return err
					}
				}},
				{"regenerate recovery codes", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					return func(ctx context.Context) error {
						_, err := svc.RegenerateRecoveryCodes(ctx, a, core.Meta{})
						return err
					}
				}},
				{"remove an authenticator", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					e, err := svc.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorTOTP, Label: "laptop"}, core.Meta{})
					if err != nil {
						t.Fatal(err)
					}
					if _, err := svc.ConfirmFactor(ctx, a, e.Factor.ID, testenv.TOTP(t, e.Secret, clock.Now()), core.Meta{}); err != nil {
						t.Fatal(err)
					}
					return func(ctx context.Context) error { return svc.DeleteFactor(ctx, a, e.Factor.ID, core.Meta{}) }
				}},
				{"rename an authenticator", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					e, err := svc.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorTOTP, Label: "laptop"}, core.Meta{})
					if err != nil {
						t.Fatal(err)
					}
					return func(ctx context.Context) error {
						_, err := svc.RenameFactor(ctx, a, e.Factor.ID, unique("renamed"), core.Meta{})
						return err
					}
				}},
				{"remove an SSH key", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					se, err := svc.AddSSHKey(ctx, a, "laptop", testenv.SSHKeygen(t, "ed25519", 0).Public, core.Meta{})
					if err != nil {
						t.Fatal(err)
					}
					return func(ctx context.Context) error { return svc.RemoveSSHKey(ctx, a, se.Key.ID, core.Meta{}) }
				}},
				{"turn two-factor login off", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					return func(ctx context.Context) error {
						_, err := svc.SetTwoFactorRequired(ctx, a, false, core.Meta{})
						return err
					}
				}},
				{"write DNS records", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					zone := unique("zone") + ".example"
					if _, err := svc.AddZone(ctx, zone, a.Account.Username, core.Meta{}); err != nil {
						t.Fatal(err)
					}
					return func(ctx context.Context) error {
						set := core.RecordSet{Zone: zone, Host: "www", Type: "TXT"}
						_, err := svc.AddDNSRecords(ctx, a, set, []core.RecordInput{{TTL: 300, Data: "late"}}, core.Meta{})
						return err
					}
				}},
				{"resynchronise an authenticator", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					id, secret := appWithSecret(t, svc, clock, a, "laptop")
					return func(ctx context.Context) error {
						step := 30 * time.Second
						return svc.ResyncFactor(ctx, a, id, testenv.TOTP(t, secret, clock.Now().Add(10*step)), testenv.TOTP(t, secret, clock.Now().Add(11*step)), core.Meta{})
					}
				}},
				{"sign another session out", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					id, secret := appWithSecret(t, svc, clock, a, "laptop")
					clock.Add(30 * time.Second) // a code of the next step: the one confirmed is spent
					res, err := svc.Login(ctx, a.Account.Username, testPassword, core.Meta{})
					if err != nil {
						t.Fatal(err)
					}
					v, err := svc.VerifyLogin(ctx, res.LoginID, core.SecondFactor{Method: twofold.MethodTOTP, FactorID: id, Code: testenv.TOTP(t, secret, clock.Now())}, core.Meta{})
					if err != nil {
						t.Fatalf("another session: %v", err)
					}
					other, err := svc.Authenticate(ctx, v.Token)
					if err != nil {
						t.Fatal(err)
					}
					return func(ctx context.Context) error { return svc.EndSession(ctx, a, other.Session.ID, core.Meta{}) }
				}},
				{"get a paper key again", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					// The form that confirmed the account's first
					// authenticator (withTOTP's), sent again.
					fs, err := svc.Factors(ctx, a.Account.ID)
					if err != nil || len(fs) != 1 {
						t.Fatalf("factors: %v, %v; want the first one", fs, err)
					}
					tok := formToken(t, svc.NewFormToken, a, core.FormConfirm)
					takeForm(t, svc, a, core.FormConfirm, tok).Done(ctx, fs[0].ID+"+first")
					u := takeForm(t, svc, a, core.FormConfirm, tok)
					return func(ctx context.Context) error {
						c, err := svc.ConfirmSentAgain(ctx, a, u, core.Meta{})
						if err == nil && c.PaperKey == "" {
							t.Fatalf("fixture: no paper key made (%s)", c.NoPaperKey)
						}
						return err
					}
				}},
				{"import hardware tokens", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					if _, err := db.SetOperator(ctx, a.Account.ID, true); err != nil {
						t.Fatal(err)
					}
					a.Account.Operator = true
					seed := otp.Seed{Serial: unique("YK-"), Type: otp.TypeHOTP, Secret: randomSecret(t), Params: otp.Params{Algorithm: otp.SHA1, Digits: 6}}
					return func(ctx context.Context) error {
						_, err := svc.ImportTokensFor(ctx, a, []otp.Seed{seed}, core.Meta{})
						return err
					}
				}},
				{"make a team", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					return func(ctx context.Context) error {
						_, err := svc.CreateTeam(ctx, a, unique("team"), core.Meta{})
						return err
					}
				}},
				{"rename a team", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					team := newTeam(t, svc, a, unique("team"))
					return func(ctx context.Context) error {
						name := unique("renamed")
						_, _, err := svc.UpdateTeam(ctx, a, team.ID, core.TeamChange{Name: &name}, core.Meta{})
						return err
					}
				}},
				{"delete a team", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					team := newTeam(t, svc, a, unique("team"))
					return func(ctx context.Context) error { return svc.DeleteTeam(ctx, a, team.ID, core.Meta{}) }
				}},
				{"change a member's role", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					team := newTeam(t, svc, a, unique("team"))
					bob := signedIn(t, svc, unique("bob"))
					joined(t, svc, a, team.ID, bob, "ops")
					return func(ctx context.Context) error {
						_, _, err := svc.SetTeamRole(ctx, a, team.ID, bob.Account.Username, "admin", core.Meta{})
						return err
					}
				}},
				{"share a zone", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					team := newTeam(t, svc, a, unique("team"))
					zone := unique("zone") + ".example"
					if _, err := svc.AddZone(ctx, zone, a.Account.Username, core.Meta{}); err != nil {
						t.Fatal(err)
					}
					return func(ctx context.Context) error {
						_, err := svc.ShareZone(ctx, a, zone, team.ID, core.Meta{})
						return err
					}
				}},
				{"stop sharing a zone", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					team := newTeam(t, svc, a, unique("team"))
					zone := unique("zone") + ".example"
					if _, err := svc.AddZone(ctx, zone, a.Account.Username, core.Meta{}); err != nil {
						t.Fatal(err)
					}
					if _, err := svc.ShareZone(ctx, a, zone, team.ID, core.Meta{}); err != nil {
						t.Fatal(err)
					}
					return func(ctx context.Context) error { return svc.UnshareZone(ctx, a, zone, team.ID, core.Meta{}) }
				}},
				{"invite to a team", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					team := newTeam(t, svc, a, unique("team"))
					return func(ctx context.Context) error {
						_, err := svc.InviteTeamMember(ctx, a, team.ID, unique("nobody"), "ops", core.Meta{})
						return err
					}
				}},
				{"revoke an invitation", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					team := newTeam(t, svc, a, unique("team"))
					v, err := svc.InviteTeamMember(ctx, a, team.ID, unique("nobody"), "ops", core.Meta{})
					if err != nil {
						t.Fatal(err)
					}
					return func(ctx context.Context) error { return svc.RevokeTeamInvitation(ctx, a, team.ID, v.ID, core.Meta{}) }
				}},
				{"accept an invitation", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					v := invited(t, svc, signedIn(t, svc, unique("olga")), a)
					return func(ctx context.Context) error {
						_, err := svc.AcceptTeamInvitation(ctx, a, v.ID, core.Meta{})
						return err
					}
				}},
				{"decline an invitation", func(t *testing.T, a core.Auth) func(ctx context.Context) error {
					v := invited(t, svc, signedIn(t, svc, unique("olga")), a)
					return func(ctx context.Context) error { return svc.DeclineTeamInvitation(ctx, a, v.ID, core.Meta{}) }
				}},
			}
			for _, e := range enders {
				for _, w := range writes {
					t.Run(e.name+"/"+w.name, func(t *testing.T) {
						a := withTOTP(t, svc, clock, signedIn(t, svc, unique("ann")))
						write := w.ready(t, a)
						before := allEvents(t, db.Store)
						ms.arm(func(ctx context.Context) error { return e.end(ctx, a) })
						defer ms.meddle.Store(nil)
						err := write(core.WithCaller(ctx, a))
						if ms.meddle.Load() != nil {
							t.Fatalf("fixture: no transaction to end the session before (%v)", err)
						}
						if got := twofold.ErrorCode(err); got != twofold.CodeUnauthorized {
							t.Errorf("%s with the session %s meanwhile: got %s (%v), want %s", w.name, e.name, got, err, twofold.CodeUnauthorized)
						}
						if after := allEvents(t, db.Store); after != before {
							t.Errorf("%s with the session %s meanwhile: %d audit events recorded, want none", w.name, e.name, after-before)
						}
					})
				}
			}
		})
	}
}

// appWithSecret confirms an authenticator app labelled label on a's
// account, elevated, and returns its id and secret.
func appWithSecret(t *testing.T, svc *core.Service, clock *testenv.Clock, a core.Auth, label string) (string, string) {
	t.Helper()
	e, err := svc.EnrolFactor(t.Context(), a, core.NewFactor{Type: twofold.FactorTOTP, Label: label}, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ConfirmFactor(t.Context(), a, e.Factor.ID, testenv.TOTP(t, e.Secret, clock.Now()), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	return e.Factor.ID, e.Secret
}

// newTeam makes a team named name owned by a.
func newTeam(t *testing.T, svc *core.Service, a core.Auth, name string) twofold.Team {
	t.Helper()
	team, err := svc.CreateTeam(t.Context(), a, name, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	return team
}

// invited returns an invitation of who, to a team that by makes, waiting
// for its answer, once what inviting does after answering is done.
func invited(t *testing.T, svc *core.Service, by, who core.Auth) twofold.TeamInvitation {
	t.Helper()
	team := newTeam(t, svc, by, "team of "+by.Account.Username)
	v, err := svc.InviteTeamMember(t.Context(), by, team.ID, who.Account.Username, "ops", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Wait() // the invitee's side, recorded in the invitee's log
	return v
}

// joined makes who a member of by's team teamID with role.
func joined(t *testing.T, svc *core.Service, by core.Auth, teamID string, who core.Auth, role string) {
	t.Helper()
	v, err := svc.InviteTeamMember(t.Context(), by, teamID, who.Account.Username, role, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Wait()
	if _, err := svc.AcceptTeamInvitation(t.Context(), who, v.ID, core.Meta{}); err != nil {
		t.Fatal(err)
	}
}

// randomSecret returns a random 20-byte secret.
func randomSecret(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSessionWritesOfSessionStanding: the same writes of a session that
// still stands pass the check, on either store: the check refuses only
// what the door would.
func TestSessionWritesOfSessionStanding(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			db := openStore(t, dsn(t))
			clock := testenv.NewClock(time.Now())
			svc := newService(t, db.Store, db, clock.Now, nil)
			a := withTOTP(t, svc, clock, signedIn(t, svc, "ann"))
			wctx := core.WithCaller(ctx, a)
			if _, err := svc.RegenerateRecoveryCodes(wctx, a, core.Meta{}); err != nil {
				t.Errorf("recovery codes of a session standing: %v", err)
			}
			if _, _, err := svc.CreateAPIKey(wctx, a, core.NewAPIKey{Name: "mine", Permits: []twofold.Permit{{Service: "dns", Resource: "*", Actions: []string{"read"}}}}, core.Meta{}); err != nil {
				t.Errorf("API key of a session standing: %v", err)
			}
			// A password change signs the other sessions out and gives
			// the caller a new one; the old one's later writes are
			// refused as the door would refuse it.
			if _, _, err := svc.ChangePassword(wctx, a, testPassword, "another horse battery", core.Meta{}); err != nil {
				t.Fatalf("password change of a session standing: %v", err)
			}
			if _, err := svc.RegenerateRecoveryCodes(wctx, a, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeUnauthorized {
				t.Errorf("recovery codes of the session a password change ended: got %v, want %s", err, twofold.CodeUnauthorized)
			}
		})
	}
}
