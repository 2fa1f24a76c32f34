package web_test

import (
	"encoding/json"
	"net"
	"net/http"
	"testing"

	"github.com/chromedp/cdproto/webauthn"

	"github.com/twofold/twofold/internal/testenv"
)

// webauthnOrigin is ts's address as WebAuthn wants it: on localhost, never on
// 127.0.0.1, since the test server's relying party is localhost at its
// port.
func webauthnOrigin(ts *testenv.Server) string {
	_, port, _ := net.SplitHostPort(ts.Addr())
	return "http://localhost:" + port
}

// enrolPasskey gives username a passkey "Phone" over the API, enrolled and
// confirmed, and returns the key and its factor's id.
func enrolPasskey(t *testing.T, ts *testenv.Server, username string) (key *testenv.SecurityKey, factorID string) {
	t.Helper()
	key = testenv.NewPasskey(t, webauthnOrigin(ts))
	api := testenv.NewClient(ts.URL())
	r := api.Do(t, "POST", "/v1/login", map[string]string{"username": username, "password": testPassword})
	api.Token = r.String("token")
	r = api.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "webauthn", "label": "Phone", "passkey": true, "password": testPassword})
	var enrolled struct {
		Factor  struct{ ID string }
		Options json.RawMessage
	}
	if err := json.Unmarshal(r.Body, &enrolled); err != nil || r.Status != http.StatusCreated {
		t.Fatalf("enrol a passkey: %d %s", r.Status, r.Body)
	}
	if cr := api.Do(t, "POST", "/v1/me/factors/"+enrolled.Factor.ID+"/confirm", map[string]any{"credential": key.Create(t, enrolled.Options)}); cr.Status != http.StatusOK {
		t.Fatalf("confirm the passkey: %d %s", cr.Status, cr.Body)
	}
	return key, enrolled.Factor.ID
}

// keyPage opens ts's login page in Chromium, on localhost, with a virtual
// security key (virtualAuthenticator), and returns the page and the key's
// id.
func keyPage(t *testing.T, ts *testenv.Server) (*page, webauthn.AuthenticatorID) {
	t.Helper()
	p := newPage(t, webauthnOrigin(ts))
	p.open("/login")
	return p, virtualAuthenticator(t, p)
}
