package core_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/credhash"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// refusingStore is a real store whose audit table refuses events while
// refuse is set, as PostgreSQL refused an event with a user agent that was
// not UTF-8.
type refusingStore struct {
	*store.Store
	refuse atomic.Bool
}

func (s *refusingStore) AddEvent(ctx context.Context, e twofold.AuditEvent) error {
	if s.refuse.Load() {
		return errors.New("audit table refused the event")
	}
	return s.Store.AddEvent(ctx, e)
}

// TestAuditFailureFailsTheCheck: a second-factor check whose audit event
// cannot be stored fails as a whole. A wrong code is not answered as wrong
// while the slot it took is rolled back (which let guesses run unthrottled),
// and a right code is not spent.
func TestAuditFailureFailsTheCheck(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st, err := store.Open(ctx, dsn(t))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			kf, _, err := keyring.LoadOrCreateFile(filepath.Join(t.TempDir(), "twofold.key"))
			if err != nil {
				t.Fatal(err)
			}
			keys, err := keyring.Open(ctx, kf, st)
			if err != nil {
				t.Fatal(err)
			}
			hasher, err := credhash.NewHasher(kf.HashKey)
			if err != nil {
				t.Fatal(err)
			}
			rs := &refusingStore{Store: st}
			cfg := core.DefaultConfig()
			cfg.PasswordParams = credhash.Params{Memory: 8192, Iterations: 1, Parallelism: 1}
			now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
			svc, err := core.New(core.Options{Store: rs, Keys: keys, Hasher: hasher, Config: cfg, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			const password = "correct horse battery"
			acct, err := svc.CreateAccount(ctx, core.NewAccount{Username: "ada", Password: password}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := svc.Login(ctx, "ada", password, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			auth, err := svc.Authenticate(ctx, res.Token)
			if err != nil {
				t.Fatal(err)
			}
			enr, err := svc.EnrolFactor(ctx, auth, core.NewFactor{Type: twofold.FactorTOTP, Label: "phone"}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			secret, err := otp.DecodeSecret(enr.Secret)
			if err != nil {
				t.Fatal(err)
			}
			p := otp.DefaultParams()
			code := func() string { return otp.HOTP(secret, otp.Step(now, p.Period), p.Algorithm, p.Digits) }
			if _, err := svc.ConfirmFactor(ctx, auth, enr.Factor.ID, code(), core.Meta{}); err != nil {
				t.Fatal(err)
			}
			now = now.Add(30 * time.Second)
			res, err = svc.Login(ctx, "ada", password, core.Meta{})
			if err != nil || res.LoginID == "" {
				t.Fatalf("login: %+v, %v", res, err)
			}

			rs.refuse.Store(true)
			wrong := core.SecondFactor{Method: twofold.MethodTOTP, FactorID: enr.Factor.ID, Code: "000000"}
			if code() == wrong.Code {
				wrong.Code = "111111"
			}
			for i := range 5 {
				if _, err := svc.VerifyLogin(ctx, res.LoginID, wrong, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInternal {
					t.Fatalf("wrong code %d with the audit table refusing: got %v, want an internal error", i+1, err)
				}
			}
			right := core.SecondFactor{Method: twofold.MethodTOTP, FactorID: enr.Factor.ID, Code: code()}
			if _, err := svc.VerifyLogin(ctx, res.LoginID, right, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInternal {
				t.Fatalf("right code with the audit table refusing: got %v, want an internal error", err)
			}
			if _, err := svc.Elevate(ctx, auth, wrong, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInternal {
				t.Fatalf("elevation with a wrong code and the audit table refusing: got %v, want an internal error", err)
			}
			rs.refuse.Store(false)
			// Nothing was counted and nothing spent: the right code still works.
			if failures, _, err := st.Throttle(ctx, "2fa:"+acct.ID+":codes"); err != nil || failures != 0 {
				t.Errorf("code counter after the refused events: %d, %v; want 0", failures, err)
			}
			if _, err := svc.VerifyLogin(ctx, res.LoginID, right, core.Meta{}); err != nil {
				t.Fatalf("right code once events are stored again: %v", err)
			}
		})
	}
}

func TestCleanText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"curl/8.5", 256, "curl/8.5"},
		{"x\xffy", 256, "x\uFFFDy"},
		{strings.Repeat("é", 200), 255, strings.Repeat("é", 127)},
		{"abc", 2, "ab"},
	} {
		got := core.CleanText(tc.in, tc.max)
		if got != tc.want || !utf8.ValidString(got) || len(got) > tc.max {
			t.Errorf("CleanText(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}
