package httpapi_test

import (
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestCodeBusyNotPastTheLogin: a second texted-code request for a login
// whose code lives is refused with a Retry-After no later than the login's
// own expiry, when the login ends first (after it, asking again is no use:
// the login is gone and its verify answers 410).
func TestCodeBusyNotPastTheLogin(t *testing.T) {
	eachStoreWithGateway(t, func(t *testing.T, s *testenv.Server, g *testenv.SMSGateway) {
		addUser(t, s, "opal")
		c := login(t, s, "opal")
		id, _ := enrolPhone(t, c, g, phone, phoneE164, "mobile")
		send := func(loginID string) testenv.Response {
			t.Helper()
			return testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login/"+loginID+"/challenge", map[string]string{"method": "sms", "factor_id": id})
		}
		loginID, start := startLogin(t, s, "opal")
		expires, err := time.Parse(time.RFC3339, start.String("expires_at"))
		if err != nil {
			t.Fatalf("the login's expires_at %q: %v", start.String("expires_at"), err)
		}
		if r := send(loginID); r.Status != 202 {
			t.Fatalf("first send: got %d %s, want 202", r.Status, r.Body)
		}
		left := int(expires.Sub(s.Clock.Now()).Seconds()) + 1
		r := send(loginID)
		wantCodeBusy(t, r, left)

		s.Clock.Add(4 * time.Minute)
		left = int(expires.Sub(s.Clock.Now()).Seconds()) + 1
		wantCodeBusy(t, send(loginID), left)

		s.Clock.Add(time.Duration(left) * time.Second)
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "sms", "factor_id": id, "code": g.LastCode(t, phoneE164)}), 410, "login-expired")
	})
}
