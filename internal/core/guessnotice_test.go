package core_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/factor/push"
	"github.com/twofold/twofold/internal/testenv"
)

const (
	recoveryFailuresSubject = "failed attempts with recovery codes or your paper key"
	pushUnapprovedSubject   = "sign-in requests you did not approve"
)

// TestRecoveryFailuresTellTheHolder: failed recovery codes and paper keys,
// from several addresses, at login and at elevation, count together on
// the account; at core.GuessNoticeAfter the holder is mailed once, naming
// the addresses and no code, and not again within core.GuessNoticeEvery.
// The guesser's answers do not change, and the owner is locked out of
// nothing.
func TestRecoveryFailuresTellTheHolder(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			h := newHolder(t, dsn(t))
			h.mail.take("") // forget the set-up's notices
			addrs := []string{"203.0.113.5", "198.51.100.23"}
			const wrongCode, wrongKey = "aaaa-bbbb-cccc-dddd", "aaaa-bbbb-cccc-dddd-eeee-ffff-gggg-hhhh"
			fail := func(i int) {
				t.Helper()
				h.clock.Add(2 * time.Minute) // past the address's own lock
				m := core.Meta{Source: addrs[i%2], UserAgent: "curl/8"}
				p := core.SecondFactor{Method: twofold.MethodRecoveryCode, Code: wrongCode}
				if i%3 == 1 {
					p = core.SecondFactor{Method: twofold.MethodPaperKey, Code: wrongKey}
				}
				var err error
				if i == 2 { // with a session: confirming it's you
					_, err = h.svc.Elevate(ctx, h.auth, p, m)
				} else {
					res, lerr := h.svc.Login(ctx, "bob", testPassword, m)
					if lerr != nil {
						t.Fatal(lerr)
					}
					_, err = h.svc.VerifyLogin(ctx, res.LoginID, p, m)
				}
				if twofold.ErrorCode(err) != twofold.CodeInvalidCode {
					t.Fatalf("failure %d: got %v, want invalid-code as always", i+1, err)
				}
				h.svc.Wait()
			}
			for i := range core.GuessNoticeAfter - 1 {
				fail(i)
			}
			if got := h.mail.take(recoveryFailuresSubject); len(got) != 0 {
				t.Fatalf("mailed after %d failures: %q", core.GuessNoticeAfter-1, got)
			}
			fail(core.GuessNoticeAfter - 1)
			got := h.mail.take(recoveryFailuresSubject)
			if len(got) != 1 {
				t.Fatalf("notices after %d failures: %d, want 1", core.GuessNoticeAfter, len(got))
			}
			body := got[0]
			for _, want := range []string{"failed 5 times", addrs[0], addrs[1], "change your password"} {
				if !strings.Contains(body, want) {
					t.Errorf("notice %q lacks %q", body, want)
				}
			}
			for _, secret := range append([]string{wrongCode, wrongKey, h.paper}, h.codes...) {
				if strings.Contains(body, secret) {
					t.Errorf("notice carries a code: %q", body)
				}
			}
			// More failures within the day: no more mail.
			for i := core.GuessNoticeAfter; i < 3*core.GuessNoticeAfter; i++ {
				fail(i)
			}
			if got := h.mail.take(recoveryFailuresSubject); len(got) != 0 {
				t.Fatalf("mailed again within the day: %d", len(got))
			}
			// Nothing of the owner's is locked: from another address a
			// recovery code still signs in.
			res, err := h.svc.Login(ctx, "bob", testPassword, core.Meta{Source: "192.0.2.80"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.svc.VerifyLogin(ctx, res.LoginID, core.SecondFactor{Method: twofold.MethodRecoveryCode, Code: h.codes[0]}, core.Meta{Source: "192.0.2.80"}); err != nil {
				t.Fatalf("owner's recovery code after the guessing: %v", err)
			}
			h.svc.Wait()
			// A day on, the next failure is told again.
			h.clock.Add(core.GuessNoticeEvery)
			fail(0)
			if got := h.mail.take(recoveryFailuresSubject); len(got) != 1 {
				t.Fatalf("notices of a failure a day after the first notice: %d, want 1", len(got))
			}
			events, err := h.svc.Events(ctx, h.auth, twofold.EventQuery{Types: []string{"recovery.failures_reported"}, Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range events {
				if e.Type == "recovery.failures_reported" {
					n++
				}
			}
			if n != 2 {
				t.Errorf("recovery.failures_reported events: %d, want 2", n)
			}
		})
	}
}

// pushDevice enrols a push device for the holder and returns it as the
// device's requests are authenticated.
func pushDevice(t *testing.T, h *holder) core.Device {
	t.Helper()
	ctx := t.Context()
	h.auth.Session.ElevatedUntil = h.clock.Now().Add(time.Hour)
	e, err := h.svc.EnrolPush(ctx, h.auth, "pixel", "https://twofold.example", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := push.ParseURI(e.URI)
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.EnrolPushDevice(ctx, u.DeviceID, u.Token, pub, ed25519.Sign(priv, push.EnrolMessage(u.DeviceID, u.Challenge, pub)), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	return core.Device{FactorID: u.DeviceID, Account: h.auth.Account, Label: "pixel"}
}

// TestUnapprovedPushesTellTheHolder: push requests for
// core.PushFatigueLimit sign-ins within core.PushFatigueWindow that all
// went without an approval (denied, or unanswered until they expired) mail
// the holder once, when the next request is sent or denied, and not again
// within core.GuessNoticeEvery; approved requests do not count, nor do
// those still waiting (the owner's own), nor those older than the window.
func TestUnapprovedPushesTellTheHolder(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			h := newHolder(t, dsn(t))
			dev := pushDevice(t, h)
			h.mail.take("")
			const stranger = "203.0.113.7"
			send := func(m core.Meta) (string, core.PushSent) {
				t.Helper()
				h.clock.Add(time.Minute) // the account's push ration refills
				res, err := h.svc.Login(ctx, "bob", testPassword, m)
				if err != nil {
					t.Fatal(err)
				}
				sent, err := h.svc.PushLogin(ctx, res.LoginID, "", "", m)
				if err != nil {
					t.Fatalf("push: %v", err)
				}
				h.svc.Wait()
				return res.LoginID, sent
			}
			deny := func(p core.PushSent) {
				t.Helper()
				if _, err := h.svc.AnswerPush(ctx, dev, p.ChallengeID, false, "", core.Meta{}); err != nil {
					t.Fatal(err)
				}
				h.svc.Wait()
			}
			noMail := func(when string) {
				t.Helper()
				if got := h.mail.take(pushUnapprovedSubject); len(got) != 0 {
					t.Fatalf("mailed %s: %q", when, got)
				}
			}
			oneMail := func(when string) string {
				t.Helper()
				got := h.mail.take(pushUnapprovedSubject)
				if len(got) != 1 {
					t.Fatalf("notices %s: %d, want 1", when, len(got))
				}
				return got[0]
			}
			_, first := send(core.Meta{Source: stranger})
			deny(first)
			for range core.PushFatigueLimit - 1 {
				send(core.Meta{Source: stranger})
			}
			noMail("with requests still waiting")
			// The owner's own sign-in, approved: it does not count, and
			// when it is sent, one of the stranger's still waits.
			loginID, mine := send(core.Meta{Source: "192.0.2.44"})
			if _, err := h.svc.AnswerPush(ctx, dev, mine.ChallengeID, true, mine.Number, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			if _, err := h.svc.VerifyLogin(ctx, loginID, core.SecondFactor{Method: twofold.MethodPush, PushSecret: mine.Secret}, core.Meta{}); err != nil {
				t.Fatalf("owner's approved push: %v", err)
			}
			h.svc.Wait()
			noMail("after the owner's own request")
			h.clock.Add(core.PushTTL) // the stranger's last request expires unanswered
			send(core.Meta{Source: stranger})
			body := oneMail(fmt.Sprintf("after %d unapproved requests", core.PushFatigueLimit))
			for _, want := range []string{"Do not approve", stranger, "change your password"} {
				if !strings.Contains(body, want) {
					t.Errorf("notice %q lacks %q", body, want)
				}
			}
			for range 3 {
				send(core.Meta{Source: stranger})
			}
			h.clock.Add(core.PushTTL)
			send(core.Meta{Source: stranger})
			noMail("again within the day")
			// A day on, the requests of the day before no longer count.
			// A denial is looked at as a request sent is.
			h.clock.Add(core.GuessNoticeEvery)
			var last []core.PushSent
			for range core.PushFatigueLimit {
				_, p := send(core.Meta{Source: stranger})
				last = append(last, p)
			}
			deny(last[len(last)-2])
			noMail(fmt.Sprintf("a day on, with %d requests over", core.PushFatigueLimit-1))
			deny(last[len(last)-1])
			oneMail("a day on, at the denial that makes the count")
		})
	}
}

// TestUnapprovedPushesTellTheHolderWhenTheyExpire: push requests for
// core.PushFatigueLimit sign-ins sent at once and then left unanswered
// mail the holder once they expire, though nothing is sent or denied
// after them: the sweep looks at them; a second sweep (another
// instance's, say) mails nothing more.
func TestUnapprovedPushesTellTheHolderWhenTheyExpire(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			h := newHolder(t, dsn(t))
			pushDevice(t, h)
			h.mail.take("")
			const stranger = "203.0.113.9"
			for range core.PushFatigueLimit {
				res, err := h.svc.Login(ctx, "bob", testPassword, core.Meta{Source: stranger})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := h.svc.PushLogin(ctx, res.LoginID, "", "", core.Meta{Source: stranger}); err != nil {
					t.Fatalf("push: %v", err)
				}
			}
			h.svc.Wait()
			if err := h.svc.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			h.svc.Wait()
			if got := h.mail.take(pushUnapprovedSubject); len(got) != 0 {
				t.Fatalf("mailed while the requests wait: %q", got)
			}
			h.clock.Add(core.PushTTL + time.Second)
			for range 2 {
				if err := h.svc.Sweep(ctx); err != nil {
					t.Fatal(err)
				}
				h.svc.Wait()
			}
			got := h.mail.take(pushUnapprovedSubject)
			if len(got) != 1 {
				t.Fatalf("notices once the requests expired: %d, want 1", len(got))
			}
			if !strings.Contains(got[0], stranger) {
				t.Errorf("notice %q does not name the sender's address %s", got[0], stranger)
			}
		})
	}
}

// TestUnapprovedPushesKeptForTheWindow: the sweep keeps push requests for
// core.PushFatigueWindow, so that requests sent slowly (one every few
// minutes) are still counted.
func TestUnapprovedPushesKeptForTheWindow(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			h := newHolder(t, dsn(t))
			pushDevice(t, h)
			h.mail.take("")
			m := core.Meta{Source: "203.0.113.7"}
			for range core.PushFatigueLimit + 1 {
				h.clock.Add(9 * time.Minute)
				if err := h.svc.Sweep(ctx); err != nil {
					t.Fatal(err)
				}
				res, err := h.svc.Login(ctx, "bob", testPassword, m)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := h.svc.PushLogin(ctx, res.LoginID, "", "", m); err != nil {
					t.Fatalf("push: %v", err)
				}
				h.svc.Wait()
			}
			if got := h.mail.take(pushUnapprovedSubject); len(got) != 1 {
				t.Fatalf("notices after %d requests 9 minutes apart: %d, want 1", core.PushFatigueLimit+1, len(got))
			}
		})
	}
}
