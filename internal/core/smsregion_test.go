package core_test

import (
	"context"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/factor/sms"
	"github.com/twofold/twofold/internal/notify"
	"github.com/twofold/twofold/internal/testenv"
)

// smsService is a service on db whose texts go to g, with the allow-list
// countries, and whose mails with codes or links go to mb.
func smsService(t *testing.T, db testDB, g *testenv.SMSGateway, mb *codeMailbox, countries string) *core.Service {
	t.Helper()
	cfg := cheapConfig()
	cfg.MailSent = true
	var err error
	if cfg.SMSCountries, err = sms.ParseCountries(countries); err != nil {
		t.Fatal(err)
	}
	svc := newServiceOpts(t, db, db, core.Options{Config: cfg, Now: time.Now, CodeMail: mb,
		Texts: &notify.Twilio{BaseURL: g.URL, AccountSID: g.AccountSID, Token: g.Token, From: g.From}})
	svc.SetLinkBase("http://127.0.0.1:8080")
	t.Cleanup(svc.Wait)
	return svc
}

// codeMailbox keeps the bodies of the mails queued with codes or links.
type codeMailbox struct {
	mu     sync.Mutex
	bodies []string
}

func (b *codeMailbox) EnqueueCode(_ context.Context, _, _, body string, _ twofold.MailedCode, _ time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bodies = append(b.bodies, body)
	return nil
}

var resetLink = regexp.MustCompile(`/password-reset/([A-Za-z0-9._-]+)`)

// resetToken returns the token of the newest password-reset link mailed.
func (b *codeMailbox) resetToken(t *testing.T) string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.bodies) - 1; i >= 0; i-- {
		if m := resetLink.FindStringSubmatch(b.bodies[i]); m != nil {
			return m[1]
		}
	}
	t.Fatal("no password-reset link was mailed")
	return ""
}

// addPhone adds and confirms a phone for a on svc and returns its factor.
func addPhone(t *testing.T, svc *core.Service, g *testenv.SMSGateway, a core.Auth, number, e164 string) twofold.Factor {
	t.Helper()
	e, err := svc.EnrolFactor(t.Context(), a, core.NewFactor{Type: twofold.FactorSMS, Phone: number, Label: "mobile"}, core.Meta{})
	if err != nil {
		t.Fatalf("EnrolFactor sms: %v", err)
	}
	if _, err := svc.ConfirmFactor(t.Context(), a, e.Factor.ID, g.LastCode(t, e164), core.Meta{}); err != nil {
		t.Fatalf("ConfirmFactor sms: %v", err)
	}
	return e.Factor
}

// option is a MethodOption without its hint and reason, to compare.
type option struct {
	Method   twofold.Method
	FactorID string
	Usable   bool
}

func options(ms []core.MethodOption) []option {
	var out []option
	for _, m := range ms {
		out = append(out, option{m.Method, m.FactorID, m.Usable()})
	}
	return out
}

// TestLoginPhoneOutsideAllowList: a phone added while --sms-countries
// admitted its region, which no longer does, is not offered at login but
// listed as unavailable, with why; the account's recovery codes and paper
// key still are, and a login still needs the second step even when nothing
// else is left (it is never password-only because its factor cannot be
// used). A code typed for it fails as any wrong code does.
func TestLoginPhoneOutsideAllowList(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st := openStore(t, dsn(t))
			g := testenv.NewSMSGateway(t)
			mb := &codeMailbox{}
			wide := smsService(t, st, g, mb, "1,GB")
			narrow := smsService(t, st, g, mb, "US,CA,GB")
			const jamaica = "+18762101234"
			bob := addPhone(t, wide, g, signedIn(t, wide, "bob"), "+1 876 210 1234", jamaica)
			kim := addPhone(t, wide, g, signedIn(t, wide, "kim"), "+44 7400 123456", "+447400123456")

			login := func(svc *core.Service, user string) core.LoginResult {
				t.Helper()
				res, err := svc.Login(ctx, user, testPassword, core.Meta{})
				if err != nil {
					t.Fatalf("Login %s: %v", user, err)
				}
				if res.Authenticated {
					t.Fatalf("Login %s: authenticated by the password alone, want the second step", user)
				}
				return res
			}
			recovery := []option{{Method: twofold.MethodRecoveryCode, Usable: true}, {Method: twofold.MethodPaperKey, Usable: true}}
			for _, tt := range []struct {
				name string
				svc  *core.Service
				user string
				want []option
			}{
				{"admitted by calling code 1", wide, "bob", append([]option{{twofold.MethodSMS, bob.ID, true}}, recovery...)},
				{"JM not on the list", narrow, "bob", append([]option{{twofold.MethodSMS, bob.ID, false}}, recovery...)},
				{"GB on the list", narrow, "kim", append([]option{{twofold.MethodSMS, kim.ID, true}}, recovery...)},
			} {
				res := login(tt.svc, tt.user)
				if diff := cmp.Diff(tt.want, options(res.Methods)); diff != "" {
					t.Errorf("%s: login methods (-want +got):\n%s", tt.name, diff)
				}
				ms, err := tt.svc.LoginMethods(ctx, res.LoginID)
				if err != nil || !cmp.Equal(res.Methods, ms) {
					t.Errorf("%s: LoginMethods: got %+v, %v; want the login's %+v", tt.name, ms, err, res.Methods)
				}
			}
			res := login(narrow, "bob")
			if o := res.Methods[0]; o.Unavailable == "" || o.Hint != sms.Mask(jamaica) {
				t.Errorf("the phone outside the list: got %+v, want its masked number and why it is not offered", o)
			}
			sent := len(g.Messages())
			if _, err := narrow.ChallengeLogin(ctx, res.LoginID, twofold.MethodSMS, bob.ID, "", core.Meta{}); twofold.ErrorCode(err) != twofold.CodeUnavailable {
				t.Errorf("ChallengeLogin to the phone outside the list: got %v, want unavailable", err)
			}
			if _, err := narrow.VerifyLogin(ctx, res.LoginID, core.SecondFactor{Method: twofold.MethodSMS, Code: "123456"}, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInvalidCode {
				t.Errorf("VerifyLogin with an sms code: got %v, want invalid-code, as any wrong code", err)
			}
			if n := len(g.Messages()); n != sent {
				t.Errorf("the gateway got %d messages for the phone outside the list, want none", n-sent)
			}

			// The password-reset form leaves the phone out too.
			for _, tt := range []struct {
				name string
				svc  *core.Service
				want []option
			}{
				{"admitted by calling code 1", wide, append([]option{{twofold.MethodSMS, bob.ID, true}}, recovery...)},
				{"JM not on the list", narrow, recovery},
			} {
				if err := tt.svc.RequestPasswordReset(ctx, "bob", core.Meta{Source: "192.0.2.1"}); err != nil {
					t.Fatal(err)
				}
				tt.svc.Wait()
				f, err := tt.svc.CheckPasswordReset(ctx, mb.resetToken(t), core.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, options(f.Methods)); diff != "" || !f.SecondFactor {
					t.Errorf("%s: password-reset form (second factor %v; -want +got):\n%s", tt.name, f.SecondFactor, diff)
				}
			}

			// Nothing usable left: still the second step, never the
			// password alone; an operator's reset is the way back.
			for _, q := range []string{`DELETE FROM recovery_codes`, `DELETE FROM paper_keys`} {
				if _, err := writer(st).ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			res = login(narrow, "bob")
			if diff := cmp.Diff([]option{{twofold.MethodSMS, bob.ID, false}}, options(res.Methods)); diff != "" {
				t.Errorf("login methods with only the phone outside the list (-want +got):\n%s", diff)
			}
		})
	}
}
