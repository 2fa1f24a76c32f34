package httpapi_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestHOTPToken walks a counter-based hardware token (SPEC §2 HOTP) over
// HTTP, with oathtool as the token: enrolment confirmed by a code a few
// presses ahead, login with the next codes, no code twice, a look-ahead of
// 10 presses, resynchronisation with two consecutive codes, and elevation.
func TestHOTPToken(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "hank")
		c := login(t, s, "hank")
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "hotp", "label": "token", "period": 30}), 400, "invalid")
		r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "hotp", "label": "token"})
		if r.Status != 201 {
			t.Fatalf("enrol: got %d %s", r.Status, r.Body)
		}
		uri, secret := r.String("otpauth_uri"), r.String("secret")
		if !strings.HasPrefix(uri, "otpauth://hotp/") || !strings.Contains(uri, "counter=0") || strings.Contains(uri, "period=") {
			t.Errorf("otpauth URI %q, want an hotp one at counter 0", uri)
		}
		f := r.JSON["factor"].(map[string]any)
		id := f["id"].(string)
		if f["type"] != "hotp" {
			t.Errorf("factor type %v, want hotp", f["type"])
		}
		if got := zbarimg(t, c.Do(t, "GET", "/v1/me/factors/"+id+"/qr.png", nil).Body); got != uri {
			t.Errorf("QR code holds %q, want %q", got, uri)
		}
		code := func(n uint64) string { return testenv.HOTP(t, secret, n) }

		// Pressed three times before the first code was typed: within the look-ahead.
		cr := c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": code(3)})
		if cr.Status != 200 || len(cr.JSON["recovery_codes"].([]any)) != 10 {
			t.Fatalf("confirm: got %d %s", cr.Status, cr.Body)
		}

		loginID, lr := startLogin(t, s, "hank")
		methods := lr.JSON["methods"].([]any)
		if m := methods[0].(map[string]any); m["method"] != "hotp" || m["factor_id"] != id || m["label"] != "token" {
			t.Errorf("methods %v, want the hotp token first", methods)
		}
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "totp", "code": code(4)}), 401, "invalid-code")
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "hotp", "code": code(3)}), 401, "invalid-code") // the confirming code
		if v := verify(t, s, loginID, map[string]string{"method": "hotp", "code": code(4)}); v.Status != 200 {
			t.Fatalf("verify with the next code: got %d %s", v.Status, v.Body)
		}
		loginID, _ = startLogin(t, s, "hank")
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "hotp", "code": code(4)}), 401, "invalid-code")
		// Next is 5: 5 to 15 are accepted, 16 is too far ahead.
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "hotp", "code": code(16)}), 401, "invalid-code")
		if v := verify(t, s, loginID, map[string]string{"method": "hotp", "factor_id": id, "code": code(15)}); v.Status != 200 {
			t.Fatalf("verify ten presses ahead: got %d %s", v.Status, v.Body)
		}

		// Pressed 40 times in a drawer: resynchronise with two consecutive codes.
		loginID, _ = startLogin(t, s, "hank")
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "hotp", "code": code(56)}), 401, "invalid-code")
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors/"+id+"/resync", map[string]string{"code": code(56), "next_code": code(58)}), 401, "invalid-code")
		if r := c.Do(t, "POST", "/v1/me/factors/"+id+"/resync", map[string]string{"code": code(56), "next_code": code(57)}); r.Status != 200 {
			t.Fatalf("resync: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "hotp", "code": code(57)}), 401, "invalid-code")
		v := verify(t, s, loginID, map[string]string{"method": "hotp", "code": code(58)})
		if v.Status != 200 {
			t.Fatalf("verify after the resync: got %d %s", v.Status, v.Body)
		}
		// Elevation takes an hotp code too.
		c.Token = v.String("token")
		s.Clock.Add(11 * time.Minute)
		wantProblem(t, c.Do(t, "POST", "/v1/me/recovery-codes", nil), 403, "elevation-required")
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "hotp", "code": code(59)}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		if r := c.Do(t, "POST", "/v1/me/recovery-codes", nil); r.Status != 200 {
			t.Fatalf("recovery codes after elevating: got %d %s", r.Status, r.Body)
		}

		a, err := s.Store.AccountByUsername(context.Background(), "hank")
		if err != nil {
			t.Fatal(err)
		}
		if n := countEvents(t, s, a.ID, "factor.resynchronised"); n != 1 {
			t.Errorf("got %d resync events, want 1", n)
		}
		replays := 0
		evs, _ := s.Store.Events(context.Background(), a.ID, 0, 200)
		for _, e := range evs {
			if strings.Contains(e.Detail, "replayed code") {
				replays++
			}
		}
		if replays < 3 {
			t.Errorf("got %d failures recorded as replays, want at least 3 (codes 3, 4 and 57)", replays)
		}
	})
}

// TestSameHOTPCodeRace: one HOTP code sent to many logins at once is
// accepted by exactly one (SPEC §1 story 8).
func TestSameHOTPCodeRace(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "ivy")
		c := login(t, s, "ivy")
		e := startEnrol(t, c, map[string]any{"type": "hotp", "label": "token"})
		if r := c.Do(t, "POST", "/v1/me/factors/"+e.id+"/confirm", map[string]string{"code": testenv.HOTP(t, e.secret, 0)}); r.Status != 200 {
			t.Fatalf("confirm: got %d %s", r.Status, r.Body)
		}
		code := testenv.HOTP(t, e.secret, 1)
		const n = 6
		ids := make([]string, n)
		for i := range ids {
			ids[i], _ = startLogin(t, s, "ivy")
		}
		var wg sync.WaitGroup
		statuses := make([]int, n)
		for i := range ids {
			wg.Go(func() { statuses[i] = verify(t, s, ids[i], map[string]string{"method": "hotp", "code": code}).Status })
		}
		wg.Wait()
		won := 0
		for _, st := range statuses {
			switch st {
			case 200:
				won++
			case 401, 429:
			default:
				t.Errorf("got status %d, want 200, 401 or 429", st)
			}
		}
		if won != 1 {
			t.Fatalf("got %d logins accepting one code (statuses %v), want 1", won, statuses)
		}
	})
}
