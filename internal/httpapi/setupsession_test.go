package httpapi_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// TestPendingSetupBelongsToItsSession: a setup (an app, a push device, a
// phone) belongs to the session that started it. Another session of the
// account, signed in with the password, cannot cancel it, confirm it, send
// it a new code or make its device a new enrolment code: each is 404
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
