package httpapi_test

import (
	"testing"
	"time"

	"github.com/twofold/twofold/internal/factor/sshkey"
	"github.com/twofold/twofold/internal/testenv"
)

// wantCodeBusy checks that r refuses a code while another requester's is
// live: 409 conflict, a Retry-After no later than that code's end, and no
// code_secret.
func wantCodeBusy(t *testing.T, r testenv.Response, maxWait int) {
	t.Helper()
	wantProblem(t, r, 409, "conflict")
	if n := retryAfter(t, r); n > maxWait || n < 1 {
		t.Errorf("Retry-After %d, want 1 to %d", n, maxWait)
	}
	if r.String("code_secret") != "" || r.String("sent_to") != "" {
		t.Errorf("a refused send answers %s", r.Body)
	}
}

// TestSentCodeStaysWithItsRequester: whoever knows only a login id (it
// travels in URLs) cannot replace the texted code its owner asked for: a
// new send for the same factor and login is refused (409) while the code
// lives, unless it carries the code_secret of the send that asked for it
// (a resend, which keeps that secret); refused sends text nothing and
// spend nothing of the send limits. A stranger who sends first holds the
// factor's code for that login, but the code went to the owner's phone,
// where the owner reads it and types it. A send whose text may not have
// gone (503) still gives its requester the code_secret.
func TestSentCodeStaysWithItsRequester(t *testing.T) {
	eachStoreWithGateway(t, func(t *testing.T, s *testenv.Server, g *testenv.SMSGateway) {
		addUser(t, s, "opal")
		c := login(t, s, "opal")
		id, _ := enrolPhone(t, c, g, phone, phoneE164, "mobile")
		owner := testenv.NewClient(s.URL())
		stranger := testenv.NewClient(s.URL())
		stranger.Header.Set("User-Agent", "stranger/1")
		send := func(cl *testenv.Client, loginID, secret string) testenv.Response {
			t.Helper()
			return cl.Do(t, "POST", "/v1/login/"+loginID+"/challenge", map[string]string{"method": "sms", "factor_id": id, "code_secret": secret})
		}
		sent := func(r testenv.Response) string {
			t.Helper()
			if r.Status != 202 || len(r.String("code_secret")) < 32 || r.String("sent_to") != phoneMasked {
				t.Fatalf("send: got %d %s, want 202 with a code_secret", r.Status, r.Body)
			}
			return r.String("code_secret")
		}

		loginID, _ := startLogin(t, s, "opal")
		sec := sent(send(owner, loginID, ""))
		first := g.LastCode(t, phoneE164)
		other, _ := startLogin(t, s, "opal")
		otherSec := sent(send(owner, other, ""))
		texts := len(g.Messages())
		for _, secret := range []string{"", "abcdefghijklmnopqrstuvwxyz234567", otherSec, sec + "x"} {
			wantCodeBusy(t, send(stranger, loginID, secret), 600)
		}
		if n := len(g.Messages()); n != texts {
			t.Fatalf("the refused sends texted %d messages", n-texts)
		}
		// The owner's code was not replaced: it still works, once.
		if v := verify(t, s, loginID, map[string]string{"method": "sms", "factor_id": id, "code": first}); v.Status != 200 {
			t.Fatalf("the owner's code after the stranger's sends: got %d %s, want 200", v.Status, v.Body)
		}

		// The owner resends with the secret: it replaces the code and keeps
		// the secret. The refused sends took none of the number's 5 sign-in
		// codes (2 spent on the two logins above).
		s.Clock.Add(time.Hour) // the number's bucket refills
		loginID, _ = startLogin(t, s, "opal")
		sec = sent(send(owner, loginID, ""))
		old := g.LastCode(t, phoneE164)
		for range 6 {
			wantCodeBusy(t, send(stranger, loginID, ""), 600)
		}
		for i := range 4 {
			if got := sent(send(owner, loginID, sec)); got != sec {
				t.Fatalf("resend %d: code_secret %q, want the first send's kept", i+1, got)
			}
		}
		wantProblem(t, send(owner, loginID, sec), 429, "throttled")
		fresh := g.LastCode(t, phoneE164)
		if old != fresh {
			wantProblem(t, verify(t, s, loginID, map[string]string{"method": "sms", "factor_id": id, "code": old}), 401, "invalid-code")
		}
		if v := verify(t, s, loginID, map[string]string{"method": "sms", "factor_id": id, "code": fresh}); v.Status != 200 {
			t.Fatalf("the owner's resent code: got %d %s, want 200", v.Status, v.Body)
		}

		// A stranger who sends first: the owner's send is refused, and the
		// code the stranger asked for went to the owner's phone.
		s.Clock.Add(time.Hour)
		loginID, _ = startLogin(t, s, "opal")
		sent(send(stranger, loginID, ""))
		theirs := g.LastCode(t, phoneE164)
		wantCodeBusy(t, send(owner, loginID, ""), 600)
		if v := verify(t, s, loginID, map[string]string{"method": "sms", "factor_id": id, "code": theirs}); v.Status != 200 {
			t.Fatalf("the code the stranger asked for, typed by the owner: got %d %s, want 200", v.Status, v.Body)
		}

		// A text that may not have gone: the 503 gives the secret, and the
		// requester sends again with it; others may not.
		s.Clock.Add(time.Hour)
		loginID, _ = startLogin(t, s, "opal")
		g.FailNext(1)
		r := send(owner, loginID, "")
		wantProblem(t, r, 503, "unavailable")
		if len(r.String("code_secret")) < 32 {
			t.Fatalf("the 503 of a text that may have gone: %s, want its code_secret", r.Body)
		}
		wantCodeBusy(t, send(stranger, loginID, ""), 600)
		if got := sent(send(owner, loginID, r.String("code_secret"))); got != r.String("code_secret") {
			t.Errorf("resend after the 503: code_secret %q, want the 503's", got)
		}

		// Elevation: a copy of the session's token cannot replace its
		// holder's code either; once the code expires, anyone may send,
		// and the copy that sent first no longer holds it.
		s.Clock.Add(time.Hour)
		holder := testenv.NewClient(s.URL())
		holder.Token = verifyWith(t, s, g, "opal", id)
		copyOf := testenv.NewClient(s.URL())
		copyOf.Token = holder.Token
		elevate := func(cl *testenv.Client, secret string) testenv.Response {
			t.Helper()
			return cl.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "sms", "factor_id": id, "code_secret": secret})
		}
		esec := sent(elevate(holder, ""))
		for _, secret := range []string{"", sec, otherSec} {
			wantCodeBusy(t, elevate(copyOf, secret), 600)
		}
		if got := sent(elevate(holder, esec)); got != esec {
			t.Errorf("elevation resend: code_secret %q, want the first's kept", got)
		}
		s.Clock.Add(4 * time.Minute)
		wantCodeBusy(t, elevate(copyOf, ""), 360)
		// Expired: anyone may send, and the one who did holds it.
		s.Clock.Add(6*time.Minute + time.Second)
		sent(elevate(copyOf, ""))
		wantCodeBusy(t, elevate(holder, esec), 600)
		if r := holder.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "sms", "code": g.LastCode(t, phoneE164)}); r.Status != 200 {
			t.Fatalf("the holder elevates with the code the copy asked for: got %d %s, want 200", r.Status, r.Body)
		}
	})
}

// TestMailedCodeStaysWithItsRequester: a mailed code is held by its
// requester as a texted one is: others' sends for the login are refused
// (409) and mail nothing, the owner's resend with the code_secret replaces
// it, and the owner signs in with the code.
func TestMailedCodeStaysWithItsRequester(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		_, id, _, n := withEmailFactor(t, s, mb, "mae")
		send := func(loginID, secret string) testenv.Response {
			t.Helper()
			return challenge(t, s, loginID, map[string]string{"method": "email", "factor_id": id, "code_secret": secret})
		}

		loginID, _ := startLogin(t, s, "mae")
		first := send(loginID, "")
		if first.Status != 202 || len(first.String("code_secret")) < 32 {
			t.Fatalf("send: got %d %s, want 202 with a code_secret", first.Status, first.Body)
		}
		codeMail(t, mb, n+1)
		for _, secret := range []string{"", "abcdefghijklmnopqrstuvwxyz234567"} {
			wantCodeBusy(t, send(loginID, secret), 600)
		}
		again := send(loginID, first.String("code_secret"))
		if again.Status != 202 || again.String("code_secret") != first.String("code_secret") {
			t.Fatalf("resend: got %d %s, want 202 with the same code_secret", again.Status, again.Body)
		}
		code, _ := codeMail(t, mb, n+2)
		if got := len(mb.Messages()); got != n+2 {
			t.Errorf("%d mails, want %d: the refused sends mailed nothing", got, n+2)
		}
		if v := verify(t, s, loginID, map[string]string{"method": "email", "factor_id": id, "code": code}); v.Status != 200 {
			t.Fatalf("verify: got %d %s", v.Status, v.Body)
		}
	})
}

// TestSSHChallengeStaysWithItsLogin: whoever knows only a login id, or
// holds a copy of a session's token, cannot replace the SSH challenge the
// owner is signing: asking again while it lives answers the same challenge
// (it is no secret: signing it takes the owner's key), so the signature the
// real ssh-keygen makes over the owner's text still signs in, and still
// elevates.
func TestSSHChallengeStaysWithItsLogin(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, _, kp := sshUser(t, s, "sia", "ed25519")
		s.Clock.Add(time.Minute)
		loginID, text := loginChallenge(t, s, "sia")
		for range 3 {
			r := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login/"+loginID+"/challenge", map[string]string{"method": "ssh_key"})
			if r.Status != 200 || r.String("challenge") != text {
				t.Fatalf("the stranger's challenge: got %d %s, want the owner's live one", r.Status, r.Body)
			}
		}
		sig := testenv.SSHSign(t, kp.File, sshkey.Namespace, text)
		if v := verify(t, s, loginID, map[string]string{"method": "ssh_key", "signature": sig}); v.Status != 200 {
			t.Fatalf("the owner's signature: got %d %s, want 200", v.Status, v.Body)
		} else {
			c.Token = v.String("token") // a recovery sign-in ends the other sessions
		}

		s.Clock.Add(11 * time.Minute) // the elevation lapses
		copyOf := testenv.NewClient(s.URL())
		copyOf.Token = c.Token
		r := c.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "ssh_key"})
		if r.Status != 200 {
			t.Fatalf("elevation challenge: got %d %s", r.Status, r.Body)
		}
		if got := copyOf.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "ssh_key"}); got.String("challenge") != r.String("challenge") {
			t.Fatalf("the copy's challenge: got %d %s, want the holder's live one", got.Status, got.Body)
		}
		sig = testenv.SSHSign(t, kp.File, sshkey.Namespace, r.String("challenge"))
		if e := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "ssh_key", "signature": sig}); e.Status != 200 {
			t.Fatalf("the holder's signature: got %d %s, want 200", e.Status, e.Body)
		}
	})
}

// TestSecurityKeyChallengeStaysWithItsLogin: whoever knows only a login
// id, or holds a copy of a session's token, cannot replace the security-key
// challenge the owner's key is signing: asking again while it lives answers
// the same options, so the owner's assertion still signs in, and still
// elevates.
func TestSecurityKeyChallengeStaysWithItsLogin(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "kit")
		c := login(t, s, "kit")
		r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "webauthn", "label": "YubiKey"})
		if r.Status != 201 {
			t.Fatalf("enrol: got %d %s", r.Status, r.Body)
		}
		yubi := testenv.NewSecurityKey(t, keyOrigin(t, s))
		id := r.JSON["factor"].(map[string]any)["id"].(string)
		if cr := c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]any{"credential": yubi.Create(t, options(t, r))}); cr.Status != 200 {
			t.Fatalf("confirm: got %d %s", cr.Status, cr.Body)
		}
		loginID, _ := startLogin(t, s, "kit")
		ask := func(cl *testenv.Client, path string) string {
			t.Helper()
			r := cl.Do(t, "POST", path, map[string]string{"method": "webauthn"})
			if r.Status != 200 {
				t.Fatalf("challenge: got %d %s", r.Status, r.Body)
			}
			return string(options(t, r))
		}
		opts := ask(testenv.NewClient(s.URL()), "/v1/login/"+loginID+"/challenge")
		for range 3 {
			if got := ask(testenv.NewClient(s.URL()), "/v1/login/"+loginID+"/challenge"); got != opts {
				t.Fatalf("the stranger's options %s, want the owner's live ones %s", got, opts)
			}
		}
		v := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login/"+loginID+"/verify", map[string]any{"method": "webauthn", "credential": yubi.Get(t, []byte(opts))})
		if v.Status != 200 {
			t.Fatalf("the owner's assertion: got %d %s, want 200", v.Status, v.Body)
		}

		s.Clock.Add(11 * time.Minute) // the elevation lapses
		c.Token = v.String("token")
		copyOf := testenv.NewClient(s.URL())
		copyOf.Token = c.Token
		opts = ask(c, "/v1/me/elevate/challenge")
		if got := ask(copyOf, "/v1/me/elevate/challenge"); got != opts {
			t.Fatalf("the copy's options %s, want the holder's live ones %s", got, opts)
		}
		if e := c.Do(t, "POST", "/v1/me/elevate", map[string]any{"method": "webauthn", "credential": yubi.Get(t, []byte(opts))}); e.Status != 200 {
			t.Fatalf("the holder's assertion: got %d %s, want 200", e.Status, e.Body)
		}
	})
}
