package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestUndecryptableFactorPassedOver: of an account's two apps, the older
// one's stored secret no longer decrypts (one bit of its ciphertext changed:
// bit rot, a bad restore, tampering). As for a secret whose key cannot be
// read, it is passed over: a code of the newer app signs in without naming
// it (on SQLite the writer's batched second step, on PostgreSQL its single
// statement) and elevates a session, and wrong codes are counted as wrong
// codes (401, then 429), not each an uncounted 500. On SQLite and PostgreSQL.
func TestUndecryptableFactorPassedOver(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "una")
		old := enrol(t, s, login(t, s, "una"), map[string]any{"type": "totp", "label": "old phone"})
		fresh := enrol(t, s, signInTOTP(t, s, "una", old.secret), map[string]any{"type": "totp", "label": "new phone"})

		s.MakeUndecryptable(t, old.id)

		c := signInTOTP(t, s, "una", fresh.secret) // code only, no factor_id
		s.Clock.Add(30 * time.Second)
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, fresh.secret, s.Clock.Now())}); r.Status != http.StatusOK {
			t.Errorf("elevating with the readable app, not named: got %d %s, want 200", r.Status, r.Body)
		}

		s.Clock.Add(30 * time.Second)
		loginID, _ := startLogin(t, s, "una")
		var statuses []int
		for range 6 {
			r := verify(t, s, loginID, map[string]string{"method": "totp", "code": "000000"})
			statuses = append(statuses, r.Status)
		}
		if statuses[0] != http.StatusUnauthorized || statuses[len(statuses)-1] != http.StatusTooManyRequests {
			t.Errorf("wrong codes while one app does not decrypt: got %v, want 401s counted up to a 429", statuses)
		}
	})
}

// TestUndecryptableFactorListed: a phone whose stored number and an app
// whose stored secret no longer decrypt do not fail the reads that list the
// account's factors (GET /v1/me, /v1/me/factors, /v1/me/factors/{id}): the
// list shows both by label and type, the phone without its number and
// marked unavailable; a new app is still added; and the second step lists
// the phone as unavailable. On SQLite and PostgreSQL.
func TestUndecryptableFactorListed(t *testing.T) {
	eachStoreWithGateway(t, func(t *testing.T, s *testenv.Server, g *testenv.SMSGateway) {
		addUser(t, s, "ugo")
		app := enrol(t, s, login(t, s, "ugo"), map[string]any{"type": "totp", "label": "app"})
		c := signInTOTP(t, s, "ugo", app.secret)
		old := enrol(t, s, c, map[string]any{"type": "totp", "label": "old app"})
		phone, _ := enrolPhone(t, c, g, "+44 7400 123456", "+447400123456", "mobile")
		s.MakeUndecryptable(t, old.id)
		s.MakeUndecryptable(t, phone)

		check := func(where string, fs []any) {
			t.Helper()
			byID := map[string]map[string]any{}
			for _, f := range fs {
				byID[f.(map[string]any)["id"].(string)] = f.(map[string]any)
			}
			if f := byID[old.id]; f == nil || f["label"] != "old app" || f["type"] != "totp" {
				t.Errorf("%s: the app that does not decrypt: got %v, want it listed", where, f)
			}
			f := byID[phone]
			if f == nil || f["label"] != "mobile" || f["type"] != "sms" {
				t.Fatalf("%s: the phone that does not decrypt: got %v, want it listed", where, f)
			}
			if un, _ := f["unavailable"].(string); un == "" {
				t.Errorf("%s: the phone that does not decrypt: got %v, want it marked unavailable", where, f)
			}
			if _, ok := f["destination"]; ok {
				t.Errorf("%s: the phone that does not decrypt: got %v, want no destination", where, f)
			}
		}
		r := c.Do(t, "GET", "/v1/me", nil)
		if r.Status != http.StatusOK {
			t.Fatalf("GET /v1/me: got %d %s, want 200", r.Status, r.Body)
		}
		check("GET /v1/me", r.JSON["factors"].([]any))
		if r = c.Do(t, "GET", "/v1/me/factors", nil); r.Status != http.StatusOK {
			t.Fatalf("GET /v1/me/factors: got %d %s, want 200", r.Status, r.Body)
		}
		check("GET /v1/me/factors", r.JSON["factors"].([]any))
		if r = c.Do(t, "GET", "/v1/me/factors/"+phone, nil); r.Status != http.StatusOK {
			t.Fatalf("GET /v1/me/factors/{phone}: got %d %s, want 200", r.Status, r.Body)
		}
		check("GET /v1/me/factors/{phone}", []any{r.JSON["factor"], map[string]any{"id": old.id, "label": "old app", "type": "totp"}})

		enrol(t, s, c, map[string]any{"type": "totp", "label": "new app"})

		s.Clock.Add(30 * time.Second)
		_, r = startLogin(t, s, "ugo")
		if un, _ := r.JSON["unavailable_methods"].([]any); len(un) != 1 || un[0].(map[string]any)["factor_id"] != phone {
			t.Errorf("unavailable_methods: %s, want the phone", r.Body)
		}
	})
}
