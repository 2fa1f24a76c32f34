package httpapi_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestPendingSetupBelongsToItsSession: a setup (an app, a push device, a
// phone) belongs to the session that started it. Another session of the
// account, signed in with the password, cannot cancel it, confirm it, send
// it a new code, make its device a new enrolment code or rename it: each is 404
// not-found, and the setup is left as it was; the session that started it
// still confirms or cancels it. Once that session has signed out, another
// may cancel what it left (never confirm it). On SQLite and PostgreSQL.
func TestPendingSetupBelongsToItsSession(t *testing.T) {
	g := testenv.NewSMSGateway(t)
	eachStoreWith(t, []testenv.ServerOption{g.Option()}, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "olga")
		laptop, tablet := login(t, s, "olga"), login(t, s, "olga") // two sessions of the owner
		app := startEnrol(t, laptop, map[string]any{"type": "totp", "label": "phone"})
		token := startEnrol(t, laptop, map[string]any{"type": "hotp", "label": "token"})
		push := startEnrol(t, tablet, map[string]any{"type": "push", "label": "desktop"})
		sms := startEnrol(t, tablet, map[string]any{"type": "sms", "phone": "+44 7400 123456", "label": "mobile"})
		smsCode := g.LastCode(t, "+447400123456")
		texts := len(g.Messages())

		other := login(t, s, "olga")
		for _, f := range []enrolled{app, token, push, sms} {
			wantProblem(t, other.Do(t, "DELETE", "/v1/me/factors/"+f.id, nil), 404, "not-found")
		}
		wantProblem(t, other.Do(t, "POST", "/v1/me/factors/"+app.id+"/confirm", map[string]string{"code": testenv.TOTP(t, app.secret, s.Clock.Now())}), 404, "not-found")
		wantProblem(t, other.Do(t, "POST", "/v1/me/factors/"+sms.id+"/confirm", map[string]string{"code": smsCode}), 404, "not-found")
		wantProblem(t, other.Do(t, "POST", "/v1/me/factors/"+sms.id+"/challenge", nil), 404, "not-found")
		wantProblem(t, other.Do(t, "POST", "/v1/me/factors/"+push.id+"/enrolment", nil), 404, "not-found")
		wantProblem(t, other.Do(t, "PATCH", "/v1/me/factors/"+app.id, map[string]string{"label": "renamed"}), 404, "not-found")
		if r := laptop.Do(t, "PATCH", "/v1/me/factors/"+token.id, map[string]string{"label": "key fob"}); r.Status/100 != 2 {
			t.Errorf("rename a setup, the session that started it: got %d %s", r.Status, r.Body)
		}
		if got := len(g.Messages()); got != texts {
			t.Errorf("another session had %d texts sent to the owner's setup", got-texts)
		}
		if r := other.Do(t, "GET", "/v1/me/factors", nil); r.Status != http.StatusOK || bytes.Count(r.Body, []byte(`"status":"pending"`)) != 4 {
			t.Fatalf("factors after another session's attempts: got %d %s, want the 4 setups", r.Status, r.Body)
		}

		// Signed out, a session leaves its setups to be cancelled by
		// another, not confirmed.
		if r := laptop.Do(t, "POST", "/v1/logout", nil); r.Status/100 != 2 {
			t.Fatalf("logout: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, other.Do(t, "POST", "/v1/me/factors/"+token.id+"/confirm", map[string]string{"code": testenv.HOTP(t, token.secret, 0)}), 404, "not-found")
		for _, f := range []enrolled{app, token} {
			if r := other.Do(t, "DELETE", "/v1/me/factors/"+f.id, nil); r.Status != http.StatusNoContent {
				t.Errorf("cancel a setup whose session signed out: got %d %s", r.Status, r.Body)
			}
		}

		// The session that started a setup still finishes or cancels it.
		if r := tablet.Do(t, "POST", "/v1/me/factors/"+push.id+"/enrolment", nil); r.Status != http.StatusOK {
			t.Errorf("a new enrolment code, the owner's session: got %d %s", r.Status, r.Body)
		}
		if r := tablet.Do(t, "DELETE", "/v1/me/factors/"+push.id, nil); r.Status != http.StatusNoContent {
			t.Errorf("cancel the push device, the owner's session: got %d %s", r.Status, r.Body)
		}
		if r := tablet.Do(t, "POST", "/v1/me/factors/"+sms.id+"/confirm", map[string]string{"code": smsCode}); r.Status != http.StatusOK {
			t.Errorf("confirm the phone, the owner's session: got %d %s", r.Status, r.Body)
		}
	})
}

// TestElevatedSessionCancelsAnotherSessionsSetup: a thief holding a session
// of the account starts adding an app, a push device and a phone. The
// owner, signed in on a session of their own, sees the setups listed as
// started by another session, with no key, enrolment code or code shown.
// Not elevated, the owner's session gets 404 cancelling them, as before;
// elevated, it cancels each (204, a factor.removed event each), without
// ending the thief's session first. Confirming, re-sending and renewing
// stay with the session that started the setup even for the elevated
// owner. On SQLite and PostgreSQL.
func TestElevatedSessionCancelsAnotherSessionsSetup(t *testing.T) {
	g := testenv.NewSMSGateway(t)
	eachStoreWith(t, []testenv.ServerOption{g.Option()}, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "nina")
		phone := enrol(t, s, login(t, s, "nina"), map[string]any{"type": "totp", "label": "phone"})
		signIn := func() *testenv.Client {
			t.Helper()
			s.Clock.Add(30 * time.Second) // a fresh TOTP step
			loginID, _ := startLogin(t, s, "nina")
			r := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, phone.secret, s.Clock.Now())})
			if r.Status != http.StatusOK {
				t.Fatalf("second step: got %d %s", r.Status, r.Body)
			}
			c := testenv.NewClient(s.URL())
			c.Token = r.String("token")
			return c
		}
		owner := signIn()
		thief := signIn() // a session taken while elevated
		app := startEnrol(t, thief, map[string]any{"type": "totp", "label": "evil app"})
		device := startPush(t, thief, "evil phone").JSON["factor"].(map[string]any)["id"].(string)
		sms := startEnrol(t, thief, map[string]any{"type": "sms", "phone": "+44 7400 999999", "label": "evil text"})
		smsCode := g.LastCode(t, "+447400999999")
		texts := len(g.Messages())
		setups := []string{app.id, device, sms.id}
		s.Clock.Add(11 * time.Minute) // no session is elevated any more

		// Listed, marked, and nothing secret shown, on both lists.
		for _, path := range []string{"/v1/me/factors", "/v1/me"} {
			r := owner.Do(t, "GET", path, nil)
			if r.Status != http.StatusOK {
				t.Fatalf("GET %s: got %d %s", path, r.Status, r.Body)
			}
			marks := map[string]any{}
			for _, f := range r.JSON["factors"].([]any) {
				f := f.(map[string]any)
				marks[f["id"].(string)] = f["setup_session"]
			}
			for _, id := range setups {
				if marks[id] != "other" {
					t.Errorf("GET %s: setup %s marked %v, want \"other\"", path, id, marks[id])
				}
			}
			if marks[phone.id] != nil {
				t.Errorf("GET %s: the active factor marked %v, want no mark", path, marks[phone.id])
			}
			for _, secret := range []string{app.secret, `"secret"`, "enrolment", "otpauth"} {
				if bytes.Contains(r.Body, []byte(secret)) {
					t.Errorf("GET %s shows %q of another session's setup: %s", path, secret, r.Body)
				}
			}
		}
		if r := thief.Do(t, "GET", "/v1/me/factors", nil); bytes.Count(r.Body, []byte(`"setup_session":"this"`)) != 3 {
			t.Errorf("the session that started the setups: got %s, want 3 marked \"this\"", r.Body)
		}

		// Not elevated: 404, as for a setup that is gone.
		for _, id := range setups {
			wantProblem(t, owner.Do(t, "DELETE", "/v1/me/factors/"+id, nil), 404, "not-found")
		}

		s.Clock.Add(30 * time.Second)
		if r := owner.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, phone.secret, s.Clock.Now())}); r.Status != http.StatusOK {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		// Elevated, the owner still neither confirms, re-sends nor renews.
		wantProblem(t, owner.Do(t, "POST", "/v1/me/factors/"+app.id+"/confirm", map[string]string{"code": testenv.TOTP(t, app.secret, s.Clock.Now())}), 404, "not-found")
		wantProblem(t, owner.Do(t, "POST", "/v1/me/factors/"+sms.id+"/confirm", map[string]string{"code": smsCode}), 404, "not-found")
		wantProblem(t, owner.Do(t, "POST", "/v1/me/factors/"+sms.id+"/challenge", nil), 404, "not-found")
		wantProblem(t, owner.Do(t, "POST", "/v1/me/factors/"+device+"/enrolment", nil), 404, "not-found")
		wantProblem(t, owner.Do(t, "GET", "/v1/me/factors/"+app.id+"/qr.png", nil), 404, "not-found")
		if got := len(g.Messages()); got != texts {
			t.Errorf("the owner's session had %d texts sent to the thief's phone", got-texts)
		}

		// But cancels each, while the thief's session lasts.
		removed := func() int {
			return strings.Count(strings.Join(eventTypes(t, owner), " "), "factor.removed")
		}
		before := removed()
		for _, id := range setups {
			if r := owner.Do(t, "DELETE", "/v1/me/factors/"+id, nil); r.Status != http.StatusNoContent {
				t.Errorf("cancel another session's setup, elevated: got %d %s", r.Status, r.Body)
			}
		}
		if got := removed() - before; got != len(setups) {
			t.Errorf("%d factor.removed events, want %d", got, len(setups))
		}
		if r := owner.Do(t, "GET", "/v1/me/factors", nil); bytes.Contains(r.Body, []byte(`"pending"`)) {
			t.Errorf("factors after cancelling: %s, want no setup left", r.Body)
		}
		if r := thief.Do(t, "GET", "/v1/me", nil); r.Status != http.StatusOK {
			t.Errorf("the thief's session was ended by cancelling its setups: %d %s", r.Status, r.Body)
		}
		wantProblem(t, thief.Do(t, "POST", "/v1/me/factors/"+sms.id+"/confirm", map[string]string{"code": smsCode}), 404, "not-found")
	})
}
