package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// entryWith returns the object of the JSON array list whose field key is
// id (a factor by "id", a sign-in method by "factor_id"), nil when none is.
func entryWith(list []any, key, id string) map[string]any {
	for _, e := range list {
		if m, _ := e.(map[string]any); m[key] == id {
			return m
		}
	}
	return nil
}

// TestAppWithMissingKeyUnavailable: an app whose secret is sealed under a
// data key this instance cannot read (a key file behind a rotation, a
// data key gone) is listed as unavailable, with the reason, by the reads
// that list factors (GET /v1/me, /v1/me/factors) and by the second step
// (unavailable_methods, not methods), without its secret being opened; the
// account's other app is not, and still signs in. On SQLite and
// PostgreSQL.
func TestAppWithMissingKeyUnavailable(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "uli")
		old := enrol(t, s, login(t, s, "uli"), map[string]any{"type": "totp", "label": "old phone"})
		c := signInTOTP(t, s, "uli", old.secret)
		fresh := enrol(t, s, c, map[string]any{"type": "totp", "label": "new phone"})
		makeUnreadable(t, s, old.id)

		for _, path := range []string{"/v1/me", "/v1/me/factors"} {
			r := c.Do(t, "GET", path, nil)
			if r.Status != http.StatusOK {
				t.Fatalf("GET %s: got %d %s", path, r.Status, r.Body)
			}
			fs, _ := r.JSON["factors"].([]any)
			if f := entryWith(fs, "id", old.id); f == nil || !strings.Contains(fmt.Sprint(f["unavailable"]), "cannot read") {
				t.Errorf("GET %s: the app whose key is missing: %v, want it unavailable: the key cannot be read", path, f)
			}
			if f := entryWith(fs, "id", fresh.id); f == nil || f["unavailable"] != nil {
				t.Errorf("GET %s: the readable app: %v, want it available", path, f)
			}
		}

		s.Clock.Add(30 * time.Second)
		loginID, r := startLogin(t, s, "uli")
		if un, _ := r.JSON["unavailable_methods"].([]any); entryWith(un, "factor_id", old.id) == nil {
			t.Errorf("unavailable_methods: %s, want the app whose key is missing", r.Body)
		}
		if ms, _ := r.JSON["methods"].([]any); entryWith(ms, "factor_id", old.id) != nil || entryWith(ms, "factor_id", fresh.id) == nil {
			t.Errorf("methods: %s, want the readable app and not the other", r.Body)
		}
		if v := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, fresh.secret, s.Clock.Now())}); v.Status != http.StatusOK {
			t.Errorf("the readable app: got %d %s, want 200", v.Status, v.Body)
		}
	})
}

// TestDamagedAppAnswer: a code checked against only an app whose stored
// secret no longer decrypts (named by factor_id) is answered with a clear
// problem: 503 unavailable, saying that the stored key is damaged and the
// app is to be removed and added again, not a bare 500 internal error;
// nothing is counted against the account. The same for an elevation. On
// SQLite and PostgreSQL.
func TestDamagedAppAnswer(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "uri")
		old := enrol(t, s, login(t, s, "uri"), map[string]any{"type": "totp", "label": "old phone"})
		c := signInTOTP(t, s, "uri", old.secret)
		fresh := enrol(t, s, c, map[string]any{"type": "totp", "label": "new phone"})
		s.MakeUndecryptable(t, old.id)

		want := func(what string, r testenv.Response) {
			t.Helper()
			wantProblem(t, r, http.StatusServiceUnavailable, "unavailable")
			if d := r.String("detail"); !strings.Contains(d, "damaged") || !strings.Contains(d, "old phone") {
				t.Errorf("%s: detail %q, want it to name the app and say its key is damaged", what, d)
			}
		}
		s.Clock.Add(30 * time.Second)
		loginID, _ := startLogin(t, s, "uri")
		for range 6 {
			want("second step", verify(t, s, loginID, map[string]string{"method": "totp", "factor_id": old.id, "code": testenv.TOTP(t, old.secret, s.Clock.Now())}))
		}
		want("elevation", c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "factor_id": old.id, "code": testenv.TOTP(t, old.secret, s.Clock.Now())}))
		// No attempt was spent: the other app still signs in at once.
		if v := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, fresh.secret, s.Clock.Now())}); v.Status != http.StatusOK {
			t.Errorf("the readable app after the refusals: got %d %s, want 200", v.Status, v.Body)
		}
	})
}

// TestDamagedAppRemembered: once a code was checked against an app whose
// stored secret no longer decrypts (503 unavailable), the app is listed as
// unavailable, damaged, by GET /v1/me, /v1/me/factors and the second step
// (unavailable_methods, not methods), with no further code tried: the
// damage is remembered on the factor's row. It is found by a check naming
// the app, and by a sign-in with the account's other app that passes it
// over. The owner still removes it and adds a new one. On SQLite and
// PostgreSQL.
func TestDamagedAppRemembered(t *testing.T) {
	for _, named := range []bool{true, false} {
		t.Run(fmt.Sprintf("named=%v", named), func(t *testing.T) {
			eachStore(t, func(t *testing.T, s *testenv.Server) {
				addUser(t, s, "ursa")
				old := enrol(t, s, login(t, s, "ursa"), map[string]any{"type": "totp", "label": "old phone"})
				c := signInTOTP(t, s, "ursa", old.secret)
				fresh := enrol(t, s, c, map[string]any{"type": "totp", "label": "new phone"})
				s.MakeUndecryptable(t, old.id)
				listed := func(path, id string) map[string]any {
					t.Helper()
					r := c.Do(t, "GET", path, nil)
					if r.Status != http.StatusOK {
						t.Fatalf("GET %s: got %d %s", path, r.Status, r.Body)
					}
					fs, _ := r.JSON["factors"].([]any)
					return entryWith(fs, "id", id)
				}
				// Nothing says so before a code is checked against it.
				if f := listed("/v1/me/factors", old.id); f == nil || f["unavailable"] != nil {
					t.Fatalf("before any check: %v, want it listed as available", f)
				}

				s.Clock.Add(30 * time.Second)
				loginID, _ := startLogin(t, s, "ursa")
				if named {
					r := verify(t, s, loginID, map[string]string{"method": "totp", "factor_id": old.id, "code": testenv.TOTP(t, old.secret, s.Clock.Now())})
					wantProblem(t, r, http.StatusServiceUnavailable, "unavailable")
				} else if r := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, fresh.secret, s.Clock.Now())}); r.Status != http.StatusOK {
					t.Fatalf("sign-in with the other app: got %d %s, want 200", r.Status, r.Body)
				}
				s.Service.Wait() // the mark is written after the answer

				for _, path := range []string{"/v1/me", "/v1/me/factors"} {
					if f := listed(path, old.id); f == nil || !strings.Contains(fmt.Sprint(f["unavailable"]), "damaged") {
						t.Errorf("GET %s: the damaged app: %v, want it unavailable: damaged", path, f)
					}
					if f := listed(path, fresh.id); f == nil || f["unavailable"] != nil {
						t.Errorf("GET %s: the readable app: %v, want it available", path, f)
					}
				}
				_, r := startLogin(t, s, "ursa")
				if un, _ := r.JSON["unavailable_methods"].([]any); !strings.Contains(fmt.Sprint(entryWith(un, "factor_id", old.id)), "damaged") {
					t.Errorf("unavailable_methods: %s, want the damaged app, saying so", r.Body)
				}
				if ms, _ := r.JSON["methods"].([]any); entryWith(ms, "factor_id", old.id) != nil || entryWith(ms, "factor_id", fresh.id) == nil {
					t.Errorf("methods: %s, want the readable app and not the damaged one", r.Body)
				}

				// The owner removes it and adds a new one, which is available.
				if r := c.Do(t, "DELETE", "/v1/me/factors/"+old.id, nil); r.Status/100 != 2 {
					t.Fatalf("remove the damaged app: got %d %s", r.Status, r.Body)
				}
				again := enrol(t, s, c, map[string]any{"type": "totp", "label": "old phone again"})
				if f := listed("/v1/me/factors", again.id); f == nil || f["unavailable"] != nil {
					t.Errorf("the app added again: %v, want it available", f)
				}
			})
		})
	}
}

// TestDamagedAppMended: an app found damaged (its stored secret did not
// decrypt when a code was checked against it: 503, and listed unavailable)
// whose ciphertext the operator then puts back is usable again: the mark
// on its row is cleared, by the next list of the account's factors
// (GET /v1/me/factors, which opens the secret of a factor marked damaged
// alone) or by the next check of a code against it (an elevation), and it
// is listed available, offered at sign-in, and its code accepted, once:
// the same code is refused after that, as any replayed code is. On SQLite
// and PostgreSQL.
func TestDamagedAppMended(t *testing.T) {
	for _, foundBy := range []string{"list", "check"} {
		t.Run(foundBy, func(t *testing.T) {
			eachStore(t, func(t *testing.T, s *testenv.Server) {
				addUser(t, s, "ubu")
				old := enrol(t, s, login(t, s, "ubu"), map[string]any{"type": "totp", "label": "old phone"})
				c := signInTOTP(t, s, "ubu", old.secret)
				enrol(t, s, c, map[string]any{"type": "totp", "label": "new phone"})
				listed := func(path string) map[string]any {
					t.Helper()
					r := c.Do(t, "GET", path, nil)
					if r.Status != http.StatusOK {
						t.Fatalf("GET %s: got %d %s", path, r.Status, r.Body)
					}
					fs, _ := r.JSON["factors"].([]any)
					return entryWith(fs, "id", old.id)
				}
				marked := func() bool {
					t.Helper()
					s.Service.Wait() // the mark is written, and cleared, after the answer
					a, err := s.Store.AccountByUsername(t.Context(), "ubu")
					if err != nil {
						t.Fatal(err)
					}
					f, err := s.Store.Factor(t.Context(), a.ID, old.id)
					if err != nil {
						t.Fatal(err)
					}
					return f.DamagedAt != nil
				}

				s.MakeUndecryptable(t, old.id)
				s.Clock.Add(30 * time.Second)
				r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "factor_id": old.id, "code": testenv.TOTP(t, old.secret, s.Clock.Now())})
				wantProblem(t, r, http.StatusServiceUnavailable, "unavailable")
				if !marked() {
					t.Fatal("after the 503: the app is not marked damaged")
				}
				if f := listed("/v1/me/factors"); f == nil || !strings.Contains(fmt.Sprint(f["unavailable"]), "damaged") {
					t.Fatalf("while damaged: %v, want it unavailable: damaged", f)
				}

				s.MendUndecryptable(t, old.id)
				s.Clock.Add(30 * time.Second)
				switch foundBy {
				case "list":
					if f := listed("/v1/me/factors"); f == nil || f["unavailable"] != nil || f["status"] != "active" {
						t.Errorf("GET /v1/me/factors once mended: %v, want it active and available", f)
					}
				case "check":
					r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "factor_id": old.id, "code": testenv.TOTP(t, old.secret, s.Clock.Now())})
					if r.Status != http.StatusOK {
						t.Errorf("elevating with the mended app: got %d %s, want 200", r.Status, r.Body)
					}
					s.Clock.Add(30 * time.Second)
				}
				if marked() {
					t.Fatalf("found opening again by a %s: the app is still marked damaged", foundBy)
				}
				for _, path := range []string{"/v1/me", "/v1/me/factors"} {
					if f := listed(path); f == nil || f["unavailable"] != nil || f["status"] != "active" {
						t.Errorf("GET %s once mended: %v, want it active and available", path, f)
					}
				}

				loginID, r := startLogin(t, s, "ubu")
				if ms, _ := r.JSON["methods"].([]any); entryWith(ms, "factor_id", old.id) == nil {
					t.Errorf("methods once mended: %s, want the mended app", r.Body)
				}
				if un, _ := r.JSON["unavailable_methods"].([]any); entryWith(un, "factor_id", old.id) != nil {
					t.Errorf("unavailable_methods once mended: %s, want it not there", r.Body)
				}
				code := testenv.TOTP(t, old.secret, s.Clock.Now())
				if v := verify(t, s, loginID, map[string]string{"method": "totp", "code": code}); v.Status != http.StatusOK {
					t.Fatalf("the mended app's code: got %d %s, want 200", v.Status, v.Body)
				}
				again, _ := startLogin(t, s, "ubu")
				wantProblem(t, verify(t, s, again, map[string]string{"method": "totp", "factor_id": old.id, "code": code}), http.StatusUnauthorized, "invalid-code")
			})
		})
	}
}
