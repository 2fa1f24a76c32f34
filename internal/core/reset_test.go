package core_test

import (
	"context"
	"encoding/base32"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/factor/sshkey"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/testenv"
)

// mailbox records the notices a service queues.
type mailbox struct {
	mu    sync.Mutex
	mails []mail
}

type mail struct{ subject, body string }

func (m *mailbox) Enqueue(_ context.Context, _, subject, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mails = append(m.mails, mail{subject, body})
	return nil
}

// EnqueueCode keeps a mail that carries a code, link or invitation like
// any other.
func (m *mailbox) EnqueueCode(ctx context.Context, to, subject, body string, _ twofold.MailedCode, _ time.Time) error {
	return m.Enqueue(ctx, to, subject, body)
}

// take returns the bodies of the notices whose subject ends with subject
// queued since the last take, and forgets every notice.
func (m *mailbox) take(subject string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, ml := range m.mails {
		if strings.HasSuffix(ml.subject, ": "+subject) {
			out = append(out, ml.body)
		}
	}
	m.mails = nil
	return out
}

// holder is bob, who has an authenticator app (TOTP), a key fob (HOTP),
// recovery codes and a paper key, on a service with its own clock whose
// resets of two-factor wait resetDelay.
type holder struct {
	db      testDB
	svc     *core.Service
	clock   *testenv.Clock
	mail    *mailbox
	auth    core.Auth // bob's first session, elevated for the setup
	totp    twofold.Factor
	secret  string // the TOTP factor's, base32
	codes   []string
	paper   string
	fobUsed int // the fob's counters used so far
	fob     []byte
}

const resetDelay = 75 * time.Second

func newHolder(t *testing.T, dsn string) *holder {
	t.Helper()
	ctx := t.Context()
	st := openStore(t, dsn)
	h := &holder{db: st, clock: testenv.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)), mail: &mailbox{}}
	cfg := cheapConfig()
	cfg.ResetDelay = resetDelay
	h.svc = newServiceOpts(t, st, st, core.Options{Config: cfg, Now: h.clock.Now, Notifier: h.mail})
	h.auth = signedIn(t, h.svc, "bob")
	e, err := h.svc.EnrolFactor(ctx, h.auth, core.NewFactor{Type: twofold.FactorTOTP, Label: "phone"}, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	h.secret = e.Secret
	conf, err := h.svc.ConfirmFactor(ctx, h.auth, e.Factor.ID, testenv.TOTP(t, h.secret, h.clock.Now()), core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	h.totp, h.codes, h.paper = conf.Factor, conf.RecoveryCodes, conf.PaperKey
	h.auth.Session.ElevatedUntil = h.clock.Now().Add(time.Hour)
	e, err = h.svc.EnrolFactor(ctx, h.auth, core.NewFactor{Type: twofold.FactorHOTP, Label: "fob"}, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if h.fob, err = base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(e.Secret)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.ConfirmFactor(ctx, h.auth, e.Factor.ID, otp.HOTP(h.fob, 0, otp.SHA1, 6), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	h.fobUsed = 1
	h.clock.Add(time.Minute)
	return h
}

// nextTOTP moves the clock to the next time step and returns its code.
func (h *holder) nextTOTP(t *testing.T) string {
	t.Helper()
	h.clock.Add(30 * time.Second)
	return testenv.TOTP(t, h.secret, h.clock.Now())
}

// signIn logs bob in with his password and, at the second step, with the
// proof p makes for the login; it returns the new session.
func (h *holder) signIn(t *testing.T, p func(loginID string) core.SecondFactor) core.Auth {
	t.Helper()
	ctx := t.Context()
	res, err := h.svc.Login(ctx, "bob", testPassword, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Authenticated {
		t.Fatal("bob signed in with his password alone")
	}
	v, err := h.svc.VerifyLogin(ctx, res.LoginID, p(res.LoginID), core.Meta{})
	if err != nil {
		t.Fatalf("second step: %v", err)
	}
	a, err := h.svc.Authenticate(ctx, v.Token)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestResetWithdrawnAfterTheUseIsErased: a holder who uses a second factor
// while an operator's reset of their two-factor waits withdraws it, as the
// notice of the reset promises, even when they then remove what they used:
// the factor, the SSH key, or the used recovery codes by making a new set.
// The reset falls due; bob's password alone still does not sign him in,
// his factors stay, and he is told the reset was withdrawn.
func TestResetWithdrawnAfterTheUseIsErased(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				// prepare runs before the reset is asked for, and returns
				// what bob does while it waits.
				prepare func(t *testing.T, h *holder) (use func(t *testing.T))
			}{{
				name: "recovery code, then a new set",
				prepare: func(t *testing.T, h *holder) func(t *testing.T) {
					return func(t *testing.T) {
						a := h.signIn(t, func(string) core.SecondFactor {
							return core.SecondFactor{Method: twofold.MethodRecoveryCode, Code: h.codes[0]}
						})
						if _, err := h.svc.RegenerateRecoveryCodes(t.Context(), a, core.Meta{}); err != nil {
							t.Fatal(err)
						}
					}
				},
			}, {
				name: "authenticator, then the authenticator removed",
				prepare: func(t *testing.T, h *holder) func(t *testing.T) {
					return func(t *testing.T) {
						// A TOTP code without a factor named: the second step's hot path.
						a := h.signIn(t, func(string) core.SecondFactor {
							return core.SecondFactor{Method: twofold.MethodTOTP, Code: h.nextTOTP(t)}
						})
						if err := h.svc.DeleteFactor(t.Context(), a, h.totp.ID, core.Meta{}); err != nil {
							t.Fatal(err)
						}
					}
				},
			}, {
				name: "SSH key, then the key removed",
				prepare: func(t *testing.T, h *holder) func(t *testing.T) {
					ctx := t.Context()
					kp := testenv.SSHKeygen(t, "ed25519", 0)
					enr, err := h.svc.AddSSHKey(ctx, h.auth, "laptop", kp.Public, core.Meta{})
					if err != nil {
						t.Fatal(err)
					}
					sig := testenv.SSHSign(t, kp.File, sshkey.Namespace, enr.Challenge.Text)
					if _, err := h.svc.ConfirmSSHKey(ctx, h.auth, enr.Key.ID, sig, core.Meta{}); err != nil {
						t.Fatal(err)
					}
					h.clock.Add(time.Minute)
					return func(t *testing.T) {
						a := h.signIn(t, func(loginID string) core.SecondFactor {
							ch, err := h.svc.ChallengeLoginSSH(t.Context(), loginID, core.Meta{})
							if err != nil {
								t.Fatal(err)
							}
							return core.SecondFactor{Method: twofold.MethodSSHKey, Signature: testenv.SSHSign(t, kp.File, sshkey.Namespace, ch.Text)}
						})
						if err := h.svc.RemoveSSHKey(t.Context(), a, enr.Key.ID, core.Meta{}); err != nil {
							t.Fatal(err)
						}
					}
				},
			}} {
				t.Run(tc.name, func(t *testing.T) {
					ctx := t.Context()
					h := newHolder(t, dsn(t))
					use := tc.prepare(t, h)
					before, err := h.svc.Factors(ctx, h.auth.Account.ID)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := h.svc.ResetTwoFactorByName(ctx, "bob", false, core.Meta{}); err != nil {
						t.Fatal(err)
					}
					h.clock.Add(time.Second)
					use(t)
					h.mail.take("")

					h.clock.Add(resetDelay)
					res, err := h.svc.Login(ctx, "bob", testPassword, core.Meta{})
					if err != nil {
						t.Fatal(err)
					}
					if res.Authenticated {
						t.Fatal("after a use of a second factor while the reset waited, the reset went ahead: bob signed in with his password alone")
					}
					after, err := h.svc.Factors(ctx, h.auth.Account.ID)
					if err != nil {
						t.Fatal(err)
					}
					if len(after) == 0 || len(after) < len(before)-1 {
						t.Errorf("factors: %d before the reset, %d after it fell due; want those bob kept", len(before), len(after))
					}
					if got := h.mail.take("the reset of your two-factor was withdrawn"); len(got) != 1 {
						t.Errorf("notices of the withdrawal: got %d, want 1", len(got))
					}
				})
			}
		})
	}
}

// TestRecoveryNoticeSaysWhatFor: the notice of a recovery code or the paper
// key used says what it was used for: to sign in at a login's second step,
// to confirm a change when it elevated a session.
func TestRecoveryNoticeSaysWhatFor(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			h := newHolder(t, dsn(t))
			const confirm = "used to confirm a change to your account"
			for _, tc := range []struct {
				method          twofold.Method
				code            string
				subject, signIn string
			}{
				{twofold.MethodRecoveryCode, h.codes[1], "a recovery code was used", "used to log in to your account"},
				{twofold.MethodPaperKey, h.paper, "your paper key was used", "used to pass the second step of a login"},
			} {
				h.mail.take("")
				a := h.signIn(t, func(string) core.SecondFactor { return core.SecondFactor{Method: tc.method, Code: tc.code} })
				if got := h.mail.take(tc.subject); len(got) != 1 || !strings.Contains(got[0], tc.signIn) || strings.Contains(got[0], confirm) {
					t.Errorf("%s at a login: notices %q; want one saying %q", tc.method, got, tc.signIn)
				}
				if tc.method == twofold.MethodRecoveryCode {
					tc.code = h.codes[2]
				}
				if _, err := h.svc.Elevate(t.Context(), a, core.SecondFactor{Method: tc.method, Code: tc.code}, core.Meta{}); err != nil {
					t.Fatalf("elevate with %s: %v", tc.method, err)
				}
				if got := h.mail.take(tc.subject); len(got) != 1 || !strings.Contains(got[0], confirm) || strings.Contains(got[0], tc.signIn) {
					t.Errorf("%s for an elevation: notices %q; want one saying %q", tc.method, got, confirm)
				}
			}
		})
	}
}
