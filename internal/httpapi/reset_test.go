package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// mailWith waits for a message whose subject contains subject and returns
// its body; it fails the test when none comes.
func mailWith(t *testing.T, mb *testenv.SMTPServer, subject string) string {
	t.Helper()
	for n := 1; ; n++ {
		for _, m := range mb.Wait(t, n, time.Minute) {
			if s, body := mailText(t, m); strings.Contains(s, subject) {
				return body
			}
		}
	}
}

// resetFixture is an operator with two-factor and an elevated session, and
// a user with a phone factor and a session.
type resetFixture struct {
	s       *testenv.Server
	mailbox *testenv.SMTPServer
	op      core.Auth
	opc     *testenv.Client // the operator's elevated session
	opPhone enrolled
	user    *testenv.Client
	userID  string
	phone   enrolled
}

func newResetFixture(t *testing.T, dsn string, opts ...testenv.ServerOption) resetFixture {
	t.Helper()
	mb := testenv.NewSMTPServer(t)
	s := testenv.NewServer(t, dsn, append(opts, mb.Option("Twofold <twofold@example.com>"))...)
	ctx := context.Background()
	if _, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: "carol", Password: password, Operator: true}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	opc := login(t, s, "carol")
	opPhone := enrol(t, s, opc, map[string]any{"type": "totp", "label": "phone"})
	if r := opc.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": opPhone.paperKey}); r.Status != 200 {
		t.Fatalf("elevate: got %d %s", r.Status, r.Body)
	}
	op, err := s.Service.Authenticate(ctx, opc.Token)
	if err != nil {
		t.Fatal(err)
	}
	addUser(t, s, "dave")
	user := login(t, s, "dave")
	phone := enrol(t, s, user, map[string]any{"type": "totp", "label": "phone"})
	a, err := s.Store.AccountByUsername(ctx, "dave")
	if err != nil {
		t.Fatal(err)
	}
	return resetFixture{s: s, mailbox: mb, op: op, opc: opc, opPhone: opPhone, user: user, userID: a.ID, phone: phone}
}

// wantKeysStillWork checks that the mail body of an event that ended every
// session tells the holder that API keys still work, and where to revoke them.
func wantKeysStillWork(t *testing.T, body string) {
	t.Helper()
	if !strings.Contains(body, "API keys were not revoked and still work") || !strings.Contains(body, "/settings/security/api-keys") {
		t.Errorf("the mail does not say that API keys still work, and where to revoke them:\n%s", body)
	}
}

func eachDSN(t *testing.T, f func(t *testing.T, dsn string)) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, dsn(t))
		})
	}
}

// countEvents counts the account's audit events of type typ.
func countEvents(t *testing.T, s *testenv.Server, accountID, typ string) int {
	t.Helper()
	evs, err := s.Store.Events(context.Background(), accountID, 0, 200)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// TestOperatorResetWaits walks SPEC §1 story 4's operator reset: it waits
// for the delay, the holder is told at once and sees it in /v1/me, and when
// due the factors, recovery codes and paper key are gone, every session has
// ended, and the password alone signs in so that the holder can enrol again.
func TestOperatorResetWaits(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, func(c *config.Config) { c.ResetDelay = time.Hour })
		s, ctx := f.s, context.Background()
		elevateWith(t, f.user, f.phone.codes[0])
		key := makeKey(t, f.user, "script", nil, "account * read")
		s.Clock.Add(time.Minute) // the recovery code was used before the request

		if told, why, err := s.Service.ResetNotice(ctx, f.userID); err != nil || !told {
			t.Fatalf("ResetNotice with an email address and a mail server: got %v, %q, %v", told, why, err)
		}
		r, err := s.Service.RequestTwoFactorReset(ctx, f.op, f.userID, core.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		if want := s.Clock.Now().Add(time.Hour); !r.Due.Equal(want) || r.RequestedBy != "operator carol" {
			t.Fatalf("got %+v, want due %s, by operator carol", r, want)
		}
		if _, err := s.Service.RequestTwoFactorReset(ctx, f.op, f.userID, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeConflict {
			t.Fatalf("a second request: got %v, want conflict", err)
		}
		body := mailWith(t, f.mailbox, "a reset of your two-factor was requested")
		if !strings.Contains(body, "an operator") || strings.Contains(body, "carol") || !strings.Contains(body, "cancel") {
			t.Errorf("mail body %q: want who asked, without their user name, and how to cancel", body)
		}
		if !strings.Contains(body, "API keys will not be revoked") {
			t.Errorf("mail body %q: want it to say the API keys stay", body)
		}
		me := f.user.Do(t, "GET", "/v1/me", nil)
		reset, _ := me.JSON["two_factor"].(map[string]any)["reset"].(map[string]any)
		if reset == nil || reset["requested_by"] != "an operator" || reset["due_at"] != r.Due.Format(time.RFC3339) {
			t.Fatalf("/v1/me two_factor: got %s, want the waiting reset", me.Body)
		}

		// Not yet due: a sweep changes nothing, and login asks for a code.
		s.Clock.Add(time.Hour - time.Minute)
		if err := s.Service.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		startLogin(t, s, "dave")
		if r := f.user.Do(t, "GET", "/v1/me", nil); r.Status != 200 {
			t.Fatalf("the session of before, before the reset is due: got %d", r.Status)
		}

		// Due: the password alone signs in, the sessions of before have ended.
		s.Clock.Add(time.Minute)
		c := login(t, s, "dave")
		wantProblem(t, f.user.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
		me = c.Do(t, "GET", "/v1/me", nil)
		tf := me.JSON["two_factor"].(map[string]any)
		if tf["enabled"] != false || tf["required"] != false || tf["recovery_codes_remaining"] != float64(0) || tf["reset"] != nil {
			t.Fatalf("after the reset: got %s", me.Body)
		}
		if fs := me.JSON["factors"].([]any); len(fs) != 0 {
			t.Fatalf("after the reset: got factors %v, want none", fs)
		}
		if pk, err := s.Store.PaperKeyHash(ctx, f.userID); err != nil || pk != nil {
			t.Fatalf("paper key after the reset: got %x, %v; want none", pk, err)
		}
		// Keys are no sessions: they still work, and the notice says so.
		if r := keyClient(s, key.id, key.secret).Do(t, "GET", "/v1/me", nil); r.Status != 200 {
			t.Fatalf("the API key after the reset: got %d %s, want 200", r.Status, r.Body)
		}
		wantKeysStillWork(t, mailWith(t, f.mailbox, "two-factor on your account was reset"))
		if countEvents(t, s, f.userID, "two_factor.reset_requested") != 1 || countEvents(t, s, f.userID, "two_factor.reset") != 1 {
			t.Errorf("want one two_factor.reset_requested and one two_factor.reset event")
		}
		// The holder enrols again; the new factor is asked for at login.
		enrol(t, s, c, map[string]any{"type": "totp", "label": "new phone"})
		startLogin(t, s, "dave")
	})
}

// TestResetWithdrawnWhenAFactorIsUsed: a holder who passes the second step
// with a factor while a reset waits has not lost every way in; when due, the
// reset is withdrawn and the factors stay.
func TestResetWithdrawnWhenAFactorIsUsed(t *testing.T) {
	for _, method := range []string{"totp", "paper_key"} {
		t.Run(method, func(t *testing.T) { testResetWithdrawn(t, method) })
	}
}

// testResetWithdrawn is TestResetWithdrawnWhenAFactorIsUsed with the
// second step passed by method: a code, or the paper key, which the holder
// of a lost account would not have either.
func testResetWithdrawn(t *testing.T, method string) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn)
		s, ctx := f.s, context.Background()
		if _, err := s.Service.RequestTwoFactorReset(ctx, f.op, f.userID, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		s.Clock.Add(30 * time.Second)
		loginID, _ := startLogin(t, s, "dave")
		proof := map[string]string{"method": "totp", "code": testenv.TOTP(t, f.phone.secret, s.Clock.Now())}
		if method == "paper_key" {
			proof = map[string]string{"method": "paper_key", "code": f.phone.paperKey}
		}
		if v := verify(t, s, loginID, proof); v.Status != 200 {
			t.Fatalf("second step while the reset waits: got %d %s", v.Status, v.Body)
		}
		s.Clock.Add(core.DefaultResetDelay)
		if err := s.Service.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		startLogin(t, s, "dave") // still asked for a code
		if _, found, _ := s.Store.TwoFactorReset(ctx, f.userID); found {
			t.Error("the reset still waits")
		}
		if countEvents(t, s, f.userID, "two_factor.reset") != 0 || countEvents(t, s, f.userID, "two_factor.reset_cancelled") != 1 {
			t.Error("want the reset withdrawn and recorded as cancelled, never carried out")
		}
		mailWith(t, f.mailbox, "the reset of your two-factor was withdrawn")
	})
}

// TestHolderCancelsReset: the holder, with a fresh second factor, cancels a
// waiting reset; nothing is removed when it would have been due.
func TestHolderCancelsReset(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn)
		s, ctx := f.s, context.Background()
		if _, err := s.Service.RequestTwoFactorReset(ctx, f.op, f.userID, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		// dave's session came from before two-factor, and the elevation
		// that confirming the factor gave it has lapsed.
		lapseElevation(s)
		wantProblem(t, f.user.Do(t, "DELETE", "/v1/me/two-factor/reset", nil), 403, "elevation-required")
		s.Clock.Add(30 * time.Second)
		if r := f.user.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, f.phone.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		if r := f.user.Do(t, "DELETE", "/v1/me/two-factor/reset", nil); r.Status != 204 {
			t.Fatalf("cancel: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, f.user.Do(t, "DELETE", "/v1/me/two-factor/reset", nil), 404, "not-found")
		body := mailWith(t, f.mailbox, "the reset of your two-factor was cancelled")
		if !strings.Contains(body, "the account holder") {
			t.Errorf("mail body %q: want who cancelled", body)
		}
		// The operator can ask again, and cancel too (with a fresh check:
		// the lapse above ended the operator's elevation too).
		elevateWith(t, f.opc, f.opPhone.codes[0])
		f.op, _ = s.Service.Authenticate(ctx, f.opc.Token)
		if _, err := s.Service.RequestTwoFactorReset(ctx, f.op, f.userID, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Service.CancelTwoFactorResetFor(ctx, f.op, f.userID, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		s.Clock.Add(core.DefaultResetDelay)
		if err := s.Service.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		startLogin(t, s, "dave")
		if n := countEvents(t, s, f.userID, "two_factor.reset_cancelled"); n != 2 {
			t.Errorf("got %d cancellations recorded, want 2", n)
		}
		if n := countEvents(t, s, f.userID, "two_factor.reset"); n != 0 {
			t.Errorf("got %d resets carried out, want none", n)
		}
	})
}

// TestResetRules: who may reset, what, and when it is carried out at once.
func TestResetRules(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, func(c *config.Config) { c.ResetDelay = 0 })
		s, ctx := f.s, context.Background()
		userAuth, err := s.Service.Authenticate(ctx, f.user.Token)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Service.RequestTwoFactorReset(ctx, userAuth, f.userID, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeForbidden {
			t.Fatalf("reset by a user: got %v, want forbidden", err)
		}
		if _, err := s.Service.RequestTwoFactorReset(ctx, f.op, f.op.Account.ID, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeForbidden {
			t.Fatalf("an operator's reset of their own two-factor: got %v, want forbidden", err)
		}
		stale := f.op
		stale.Session.ElevatedUntil = time.Time{}
		if _, err := s.Service.RequestTwoFactorReset(ctx, stale, f.userID, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeElevationRequired {
			t.Fatalf("reset without elevation: got %v, want elevation required", err)
		}
		addUser(t, s, "erin")
		erin, err := s.Store.AccountByUsername(ctx, "erin")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Service.RequestTwoFactorReset(ctx, f.op, erin.ID, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInvalid {
			t.Fatalf("reset of an account without two-factor: got %v, want invalid", err)
		}
		if _, err := s.Service.RequestTwoFactorReset(ctx, f.op, "no-such-account", core.Meta{}); twofold.ErrorCode(err) != twofold.CodeNotFound {
			t.Fatalf("reset of an unknown account: got %v, want not found", err)
		}
		// With no delay configured it is carried out at once.
		if _, err := s.Service.RequestTwoFactorReset(ctx, f.op, f.userID, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		wantProblem(t, f.user.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
		login(t, s, "dave")
	})
}

// TestResetCarriedOutOnce: sweeps (as of several instances) and a login
// racing to carry out one due reset do it exactly once, and the racing
// login's session works.
func TestResetCarriedOutOnce(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn)
		s, ctx := f.s, context.Background()
		if _, err := s.Service.RequestTwoFactorReset(ctx, f.op, f.userID, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		s.Clock.Add(core.DefaultResetDelay)
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				if err := s.Service.Sweep(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		var res core.LoginResult
		var loginErr error
		wg.Go(func() { res, loginErr = s.Service.Login(ctx, "dave", password, core.Meta{}) })
		wg.Wait()
		if loginErr != nil || !res.Authenticated {
			t.Fatalf("login racing the sweeps: got %+v, %v; want a session", res, loginErr)
		}
		if _, err := s.Service.Authenticate(ctx, res.Token); err != nil {
			t.Errorf("the racing login's session: %v", err)
		}
		if n := countEvents(t, s, f.userID, "two_factor.reset"); n != 1 {
			t.Fatalf("got %d two_factor.reset events, want 1", n)
		}
	})
}

// TestResetRacesRecoveryLogin: a recovery-code login and the carry-out of a
// due reset at the same moment (on PostgreSQL they lock the same rows)
// never fail with a 500; the reset is either carried out or, when the
// recovery code was used first, withdrawn.
func TestResetRacesRecoveryLogin(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, func(c *config.Config) { c.ResetDelay = time.Minute })
		s, ctx := f.s, context.Background()
		codes := f.phone.codes
		for round := range 4 {
			if _, err := s.Service.ResetTwoFactorByName(ctx, "dave", false, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			s.Clock.Add(30 * time.Second)
			loginID, _ := startLogin(t, s, "dave")
			s.Clock.Add(31 * time.Second) // due
			var wg sync.WaitGroup
			var status int
			wg.Go(func() {
				status = verify(t, s, loginID, map[string]string{"method": "recovery_code", "code": codes[0]}).Status
			})
			wg.Go(func() {
				if err := s.Service.Sweep(ctx); err != nil {
					t.Error(err)
				}
			})
			wg.Wait()
			if status != 200 && status != 401 && status != 410 {
				t.Fatalf("round %d: recovery login racing the reset: got %d", round, status)
			}
			if _, found, _ := s.Store.TwoFactorReset(ctx, f.userID); found {
				t.Fatalf("round %d: the reset still waits after the sweep", round)
			}
			if countEvents(t, s, f.userID, "two_factor.reset") == round {
				// Withdrawn: the recovery code came first. Reset at once.
				if _, err := s.Service.ResetTwoFactorByName(ctx, "dave", true, core.Meta{}); err != nil {
					t.Fatal(err)
				}
			}
			// Two-factor again, for the next round.
			c := login(t, s, "dave")
			codes = enrol(t, s, c, map[string]any{"type": "totp", "label": fmt.Sprint("phone ", round)}).codes
			s.Clock.Add(30 * time.Second)
		}
	})
}
