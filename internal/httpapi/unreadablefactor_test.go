package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/testenv"
)

// TestUnreadableFactorPassedOver: of an account's two apps, the older one's
// secret is sealed under a data key this instance cannot read (a key file
// behind a rotation). A code of the newer app still signs in without naming
// it, and wrong codes are counted as wrong codes (401, then 429) instead of
// each answering an uncounted 503, which would let a holder of the password
// try codes outside the throttle. With only the unreadable app named, the
// answer is 503 and no attempt is spent. On SQLite and PostgreSQL.
func TestUnreadableFactorPassedOver(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "uma")
		old := enrol(t, s, login(t, s, "uma"), map[string]any{"type": "totp", "label": "old phone"})
		fresh := enrol(t, s, signInTOTP(t, s, "uma", old.secret), map[string]any{"type": "totp", "label": "new phone"})

		makeUnreadable(t, s, old.id)

		s.Clock.Add(30 * time.Second)
		loginID, _ := startLogin(t, s, "uma")
		if r := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, old.secret, s.Clock.Now()), "factor_id": old.id}); r.Status != http.StatusServiceUnavailable {
			t.Errorf("a code for the unreadable app, named: got %d %s, want 503", r.Status, r.Body)
		}
		if r := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, fresh.secret, s.Clock.Now())}); r.Status != http.StatusOK {
			t.Fatalf("a code of the readable app, not named: got %d %s, want 200", r.Status, r.Body)
		}

		s.Clock.Add(30 * time.Second)
		loginID, _ = startLogin(t, s, "uma")
		var statuses []int
		for range 6 {
			r := verify(t, s, loginID, map[string]string{"method": "totp", "code": "000000"})
			statuses = append(statuses, r.Status)
		}
		if statuses[0] != http.StatusUnauthorized || statuses[len(statuses)-1] != http.StatusTooManyRequests {
			t.Errorf("wrong codes while one app is unreadable: got %v, want 401s counted up to a 429", statuses)
		}
	})
}

// makeUnreadable points the factor's secret at a data key wrapped by a master
// key the key file does not hold, as an instance whose key file is behind a
// rotation sees it.
func makeUnreadable(t *testing.T, s *testenv.Server, factorID string) {
	t.Helper()
	ctx := context.Background()
	keys, err := s.Store.DataKeys(ctx)
	if err != nil || len(keys) == 0 {
		t.Fatalf("data keys: %v %v", keys, err)
	}
	gone := keyring.WrappedKey{ID: "dgone" + factorID, MasterID: "mgone", Wrapped: keys[0].Wrapped, Created: keys[0].Created}
	if err := s.Store.AddDataKey(ctx, gone); err != nil {
		t.Fatal(err)
	}
	db := s.Store.Pools()["writer"]
	if db == nil {
		db = s.Store.Pools()["pool"]
	}
	if _, err := db.ExecContext(ctx, `UPDATE factors SET secret_key_id = $1 WHERE id = $2`, gone.ID, factorID); err != nil {
		t.Fatal(err)
	}
}

// TestUnreadablePhoneNotOffered: a phone whose number this instance cannot
// read is not offered at sign-in but listed as unavailable, instead of
// failing the password step with a 503; the account's app still signs in.
// On SQLite and PostgreSQL.
func TestUnreadablePhoneNotOffered(t *testing.T) {
	eachStoreWithGateway(t, func(t *testing.T, s *testenv.Server, g *testenv.SMSGateway) {
		addUser(t, s, "vic")
		app := enrol(t, s, login(t, s, "vic"), map[string]any{"type": "totp", "label": "app"})
		phone, _ := enrolPhone(t, signInTOTP(t, s, "vic", app.secret), g, "+44 7400 123456", "+447400123456", "mobile")
		makeUnreadable(t, s, phone)

		s.Clock.Add(30 * time.Second)
		loginID, r := startLogin(t, s, "vic")
		for _, m := range r.JSON["methods"].([]any) {
			if m.(map[string]any)["factor_id"] == phone {
				t.Errorf("methods: %s, the unreadable phone offered", r.Body)
			}
		}
		if un, _ := r.JSON["unavailable_methods"].([]any); len(un) != 1 || un[0].(map[string]any)["factor_id"] != phone {
			t.Errorf("unavailable_methods: %s, want the phone", r.Body)
		}
		if r := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, app.secret, s.Clock.Now())}); r.Status != http.StatusOK {
			t.Errorf("the app beside an unreadable phone: got %d %s, want 200", r.Status, r.Body)
		}
	})
}

// signInTOTP signs name in with a code of the app whose key is secret, at
// the next time step, and returns the client with its session (elevated).
func signInTOTP(t *testing.T, s *testenv.Server, name, secret string) *testenv.Client {
	t.Helper()
	s.Clock.Add(30 * time.Second)
	loginID, _ := startLogin(t, s, name)
	r := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, secret, s.Clock.Now())})
	if r.Status != http.StatusOK {
		t.Fatalf("second step: got %d %s", r.Status, r.Body)
	}
	c := testenv.NewClient(s.URL())
	c.Token = r.String("token")
	return c
}
