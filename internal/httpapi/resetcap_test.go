package httpapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// capCodes brings name's code counter to the hard cap as a stranger with the
// password does: wrong codes at the second step, waiting out every lock
// on the way, until core.HardCap have failed.
func capCodes(t *testing.T, s *testenv.Server, name, secret string) {
	t.Helper()
	for failures := 0; failures < core.HardCap; {
		id, _ := startLogin(t, s, name)
		r := verify(t, s, id, map[string]string{"method": "totp", "code": otherCode(testenv.TOTP(t, secret, s.Clock.Now()))})
		if r.Status == 429 {
			s.Clock.Add(time.Duration(retryAfter(t, r)) * time.Second)
			continue
		}
		wantProblem(t, r, 401, "invalid-code")
		failures++
	}
}

// TestPasswordResetAtHardCap: whoever has the password can bring the
// account's codes to the hard cap (README "Guessing, throttling and
// lock-outs"); the owner who then forgot the password resets it with what
// still works there. The link's check lists no code (codes_refused), no
// text is sent for it (none could confirm it, and the owner's sends are
// spared), and a code typed all the same is refused with the ways past the
// cap that a reset takes (a recovery code, the paper key), not the security
// key that it cannot take. The recovery code then sets the password and
// lifts the cap.
func TestPasswordResetAtHardCap(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g, mb := testenv.NewSMSGateway(t), testenv.NewSMTPServer(t)
			s := testenv.NewServer(t, dsn(t), g.Option(), mb.Option("Twofold <twofold@example.com>"))
			addUser(t, s, "rhea")
			c := login(t, s, "rhea")
			app := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
			phoneID, _ := enrolPhone(t, c, g, phone, phoneE164, "mobile")
			r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "webauthn", "label": "YubiKey"})
			if r.Status != 201 {
				t.Fatalf("enrol key: got %d %s", r.Status, r.Body)
			}
			key := testenv.NewSecurityKey(t, keyOrigin(t, s))
			if cr := c.Do(t, "POST", "/v1/me/factors/"+r.JSON["factor"].(map[string]any)["id"].(string)+"/confirm", map[string]any{"credential": key.Create(t, options(t, r))}); cr.Status != 200 {
				t.Fatalf("confirm key: got %d %s", cr.Status, cr.Body)
			}
			s.Clock.Add(30 * time.Second)

			capCodes(t, s, "rhea", app.secret)

			if r := askReset(t, s, "rhea"); r.Status != 202 {
				t.Fatalf("ask: got %d %s", r.Status, r.Body)
			}
			token, _ := resetMail(t, s, mb, 1)
			owner := testenv.NewClient(s.URL())
			r = owner.Do(t, "POST", "/v1/password-reset/check", map[string]string{"token": token})
			var methods []string
			for _, m := range r.JSON["methods"].([]any) {
				methods = append(methods, m.(map[string]any)["method"].(string))
			}
			if r.Status != 200 || r.JSON["codes_refused"] != true || strings.Join(methods, " ") != "recovery_code paper_key" {
				t.Fatalf("check at the hard cap: got %d %s, want codes_refused and only recovery_code and paper_key", r.Status, r.Body)
			}

			const want = "too many wrong codes: confirm the new password with a recovery code or the paper key, or ask an operator to unlock the account"
			sent := len(g.Messages())
			r = owner.Do(t, "POST", "/v1/password-reset/challenge", map[string]string{"token": token, "method": "sms", "factor_id": phoneID})
			wantProblem(t, r, 429, "throttled")
			if got := r.String("detail"); got != want {
				t.Errorf("a text asked for at the hard cap: detail %q, want %q", got, want)
			}
			if n := len(g.Messages()); n != sent {
				t.Errorf("a text asked for at the hard cap went out (%d messages, want %d): no code it carries could confirm the reset", n, sent)
			}

			const fresh = "a brand new passphrase"
			r = completeReset(t, s, map[string]string{"token": token, "password": fresh, "method": "totp", "code": testenv.TOTP(t, app.secret, s.Clock.Now())})
			wantProblem(t, r, 429, "throttled")
			if got := r.String("detail"); got != want {
				t.Errorf("a right code at the hard cap: detail %q, want %q (no security key: a reset cannot take one)", got, want)
			}
			if r := completeReset(t, s, map[string]string{"token": token, "password": fresh, "method": "recovery_code", "code": app.codes[0]}); r.Status != 200 {
				t.Fatalf("reset with a recovery code at the hard cap: got %d %s", r.Status, r.Body)
			}
			// The recovery code lifted the cap: the app's code signs in again.
			lr := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "rhea", "password": fresh})
			if lr.Status != 200 || lr.String("status") != "second_factor_required" {
				t.Fatalf("login with the new password: got %d %s", lr.Status, lr.Body)
			}
			s.Clock.Add(30 * time.Second)
			if v := verify(t, s, lr.String("login_id"), map[string]string{"method": "totp", "code": testenv.TOTP(t, app.secret, s.Clock.Now())}); v.Status != 200 {
				t.Fatalf("the app's code after the reset: got %d %s", v.Status, v.Body)
			}
		})
	}
}

// TestNoCodeSentAtHardCap: at the hard cap no code passes, so none is
// texted for a sign-in or an elevation either: the stranger who capped the
// codes with the password can no longer text the owner's phone, nor spend
// the codes the owner needs once the cap is lifted. The answer is the hard
// cap's, naming the ways past it; after a recovery code, texts go again.
func TestNoCodeSentAtHardCap(t *testing.T) {
	eachStoreWithGateway(t, func(t *testing.T, s *testenv.Server, g *testenv.SMSGateway) {
		addUser(t, s, "saul")
		c := login(t, s, "saul")
		app := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
		phoneID, _ := enrolPhone(t, c, g, phone, phoneE164, "mobile")
		s.Clock.Add(30 * time.Second)
		capCodes(t, s, "saul", app.secret)
		lapseElevation(s)

		const want = "too many wrong codes: use a recovery code or the paper key, or ask an operator to unlock the account"
		sent := len(g.Messages())
		id, _ := startLogin(t, s, "saul")
		r := challenge(t, s, id, map[string]string{"method": "sms", "factor_id": phoneID})
		wantProblem(t, r, 429, "throttled")
		if got := r.String("detail"); got != want {
			t.Errorf("a sign-in's text at the hard cap: detail %q, want %q", got, want)
		}
		r = c.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "sms", "factor_id": phoneID})
		wantProblem(t, r, 429, "throttled")
		if got := r.String("detail"); got != want {
			t.Errorf("an elevation's text at the hard cap: detail %q, want %q", got, want)
		}
		if n := len(g.Messages()); n != sent {
			t.Fatalf("texts asked for at the hard cap went out (%d messages, want %d)", n, sent)
		}
		if v := verify(t, s, id, map[string]string{"method": "recovery_code", "code": app.codes[0]}); v.Status != 200 {
			t.Fatalf("recovery code at the hard cap: got %d %s", v.Status, v.Body)
		}
		id, _ = startLogin(t, s, "saul")
		if r := challenge(t, s, id, map[string]string{"method": "sms", "factor_id": phoneID}); r.Status != 202 {
			t.Fatalf("a text once the cap is lifted: got %d %s, want 202", r.Status, r.Body)
		}
		if r := verify(t, s, id, map[string]string{"method": "sms", "code": g.LastCode(t, phoneE164)}); r.Status != 200 {
			t.Fatalf("the texted code once the cap is lifted: got %d %s", r.Status, r.Body)
		}
	})
}
