package httpapi_test

import (
	"bytes"
	"context"
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

		makeUndecryptable(t, s, old.id)

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

// makeUndecryptable flips one bit of the factor's sealed secret in the
// database.
func makeUndecryptable(t *testing.T, s *testenv.Server, factorID string) {
	t.Helper()
	ctx := context.Background()
	values, err := s.Store.SealedValues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		if v.Table != "factors" || v.Row != factorID {
			continue
		}
		changed := bytes.Clone(v.Ciphertext)
		changed[len(changed)-1] ^= 1
		if ok, err := s.Store.Reseal(ctx, v, v.KeyID, changed); !ok || err != nil {
			t.Fatalf("changing the ciphertext: %v, %v", ok, err)
		}
		return
	}
	t.Fatalf("factor %s has no sealed secret", factorID)
}
