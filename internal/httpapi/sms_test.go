package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/factor/sms"
	"github.com/twofold/twofold/internal/testenv"
)

const phone, phoneE164, phoneMasked = "+44 7400 123456", "+447400123456", "+44 •••• ••3456"

// eachStoreWithGateway runs f on SQLite and PostgreSQL against a server
// whose text messages go to a fake gateway of its own.
func eachStoreWithGateway(t *testing.T, f func(t *testing.T, s *testenv.Server, g *testenv.SMSGateway)) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := testenv.NewSMSGateway(t)
			f(t, testenv.NewServer(t, dsn(t), g.Option()), g)
			if r := g.Refused(); len(r) > 0 {
				t.Errorf("the gateway refused requests: %q", r)
			}
		})
	}
}

// enrolPhone adds and confirms an sms factor with the code the gateway got,
// and returns the factor's id.
func enrolPhone(t testing.TB, c *testenv.Client, g *testenv.SMSGateway, number, e164, label string) (id string, confirm testenv.Response) {
	t.Helper()
	r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "sms", "phone": number, "label": label})
	if r.Status != 201 {
		t.Fatalf("enrol sms: got %d %s, want 201", r.Status, r.Body)
	}
	id = r.JSON["factor"].(map[string]any)["id"].(string)
	confirm = c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": g.LastCode(t, e164)})
	if confirm.Status != 200 {
		t.Fatalf("confirm sms: got %d %s, want 200", confirm.Status, confirm.Body)
	}
	return id, confirm
}

func challenge(t *testing.T, s *testenv.Server, loginID string, body map[string]string) testenv.Response {
	t.Helper()
	return testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login/"+loginID+"/challenge", body)
}

// TestSMSStory walks SPEC §1 stories 2 and 4 with an sms factor over HTTP:
// enrolment confirmed by a texted code, the login's methods, a code sent
// for the second step and checked, one-time use, and elevation with a code.
func TestSMSStory(t *testing.T) {
	eachStoreWithGateway(t, func(t *testing.T, s *testenv.Server, g *testenv.SMSGateway) {
		addUser(t, s, "sam")
		c := login(t, s, "sam")
		r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "sms", "phone": phone, "label": "mobile"})
		if r.Status != 201 {
			t.Fatalf("enrol: got %d %s", r.Status, r.Body)
		}
		f := r.JSON["factor"].(map[string]any)
		id := f["id"].(string)
		if f["status"] != "pending" || f["type"] != "sms" || f["destination"] != phoneMasked || r.String("code_sent_to") != phoneMasked {
			t.Errorf("enrolment %s, want a pending sms factor sent to %s", r.Body, phoneMasked)
		}
		if r.String("code_expires_at") != s.Clock.Now().Add(10*time.Minute).Format(time.RFC3339) {
			t.Errorf("code_expires_at %q, want 10 minutes from now", r.String("code_expires_at"))
		}
		if _, ok := r.JSON["secret"]; ok {
			t.Errorf("an sms enrolment answered a secret: %s", r.Body)
		}
		msgs := g.Messages()
		if len(msgs) != 1 || msgs[0].To != phoneE164 || msgs[0].From != g.From || !strings.Contains(msgs[0].Body, "to add this authenticator") {
			t.Fatalf("gateway got %+v, want one message to %s saying what it is for", msgs, phoneE164)
		}
		code := g.LastCode(t, phoneE164)
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": otherCode(code)}), 401, "invalid-code")
		cr := c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": code})
		if cr.Status != 200 || len(cr.JSON["recovery_codes"].([]any)) != 10 || cr.String("paper_key") == "" {
			t.Fatalf("confirm: got %d %s, want recovery codes and a paper key", cr.Status, cr.Body)
		}
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": code}), 409, "conflict")

		loginID, lr := startLogin(t, s, "sam")
		m := lr.JSON["methods"].([]any)[0].(map[string]any)
		if m["method"] != "sms" || m["factor_id"] != id || m["label"] != "mobile" || m["destination"] != phoneMasked {
			t.Errorf("methods %v, want the sms factor first, masked", lr.JSON["methods"])
		}
		if strings.Contains(string(lr.Body), "0123456") {
			t.Errorf("the login answer shows the number: %s", lr.Body)
		}
		// No code sent for this login yet: the confirming one does not work.
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "sms", "code": code}), 401, "invalid-code")
		ch := challenge(t, s, loginID, map[string]string{"method": "sms", "factor_id": id})
		if ch.Status != 202 || ch.String("sent_to") != phoneMasked || ch.String("expires_at") == "" || ch.String("code") != "" {
			t.Fatalf("challenge: got %d %s, want 202 with where and until when", ch.Status, ch.Body)
		}
		if strings.Contains(string(ch.Body), g.LastCode(t, phoneE164)) {
			t.Fatalf("the challenge answer holds the code: %s", ch.Body)
		}
		loginCode := g.LastCode(t, phoneE164)
		if !strings.Contains(g.Messages()[1].Body, "to sign in") {
			t.Errorf("login message %q does not say it is for signing in", g.Messages()[1].Body)
		}
		v := verify(t, s, loginID, map[string]string{"method": "sms", "factor_id": id, "code": loginCode})
		if v.Status != 200 || v.String("token") == "" {
			t.Fatalf("verify: got %d %s", v.Status, v.Body)
		}
		// Used once: a new login cannot take it, nor can its own challenge's code be another's.
		loginID2, _ := startLogin(t, s, "sam")
		wantProblem(t, verify(t, s, loginID2, map[string]string{"method": "sms", "code": loginCode}), 401, "invalid-code")

		// Elevation with a code sent for it.
		c.Token = v.String("token")
		s.Clock.Add(11 * time.Minute)
		wantProblem(t, c.Do(t, "POST", "/v1/me/recovery-codes", nil), 403, "elevation-required")
		if r := c.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "sms", "factor_id": id}); r.Status != 202 {
			t.Fatalf("elevate challenge: got %d %s", r.Status, r.Body)
		}
		ec := g.LastCode(t, phoneE164)
		if !strings.Contains(g.Messages()[len(g.Messages())-1].Body, "to confirm a change") {
			t.Errorf("elevation message does not say what it is for")
		}
		// A code sent for elevation is no login's.
		loginID2, _ = startLogin(t, s, "sam")
		wantProblem(t, verify(t, s, loginID2, map[string]string{"method": "sms", "code": ec}), 401, "invalid-code")
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "sms", "code": ec}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		if r := c.Do(t, "POST", "/v1/me/recovery-codes", nil); r.Status != 200 {
			t.Fatalf("recovery codes after elevating: got %d %s", r.Status, r.Body)
		}
		me := c.Do(t, "GET", "/v1/me", nil)
		if f := me.JSON["factors"].([]any)[0].(map[string]any); f["destination"] != phoneMasked || f["status"] != "active" {
			t.Errorf("GET /v1/me factor %v, want the active sms factor, masked", f)
		}
		if strings.Contains(string(me.Body), "0123456") {
			t.Errorf("GET /v1/me shows the number: %s", me.Body)
		}
		if n := len(g.Messages()); n != 3 {
			t.Errorf("gateway got %d messages, want 3", n)
		}
	})
}

// verifyWith logs name in with a code texted to factor id, and returns the session token.
func verifyWith(t *testing.T, s *testenv.Server, g *testenv.SMSGateway, name, id string) string {
	t.Helper()
	loginID, _ := startLogin(t, s, name)
	if r := challenge(t, s, loginID, map[string]string{"method": "sms", "factor_id": id}); r.Status != 202 {
		t.Fatalf("challenge: got %d %s", r.Status, r.Body)
	}
	v := verify(t, s, loginID, map[string]string{"method": "sms", "code": g.LastCode(t, phoneE164)})
	if v.Status != 200 {
		t.Fatalf("verify: got %d %s", v.Status, v.Body)
	}
	return v.String("token")
}

// TestSMSCodeRules: a code expires after 10 minutes (the clock moved, no
// sleep), is checked at most 5 times, and a resend replaces it; failed
// checks count on the same code counter as TOTP codes.
func TestSMSCodeRules(t *testing.T) {
	eachStoreWithGateway(t, func(t *testing.T, s *testenv.Server, g *testenv.SMSGateway) {
		addUser(t, s, "tom")
		c := login(t, s, "tom")
		id, _ := enrolPhone(t, c, g, phone, phoneE164, "mobile")
		secret := map[string]string{} // each login's code_secret
		send := func(loginID string) string {
			t.Helper()
			r := challenge(t, s, loginID, map[string]string{"method": "sms", "factor_id": id, "code_secret": secret[loginID]})
			if r.Status != 202 {
				t.Fatalf("challenge: got %d %s", r.Status, r.Body)
			}
			secret[loginID] = r.String("code_secret")
			return g.LastCode(t, phoneE164)
		}

		t.Run("expiry", func(t *testing.T) {
			loginID, _ := startLogin(t, s, "tom")
			code := send(loginID)
			s.Clock.Add(10*time.Minute + time.Second)
			loginID2, _ := startLogin(t, s, "tom") // the first login expired too (5 minutes)
			wantProblem(t, verify(t, s, loginID, map[string]string{"method": "sms", "code": code}), 410, "login-expired")
			wantProblem(t, verify(t, s, loginID2, map[string]string{"method": "sms", "code": code}), 401, "invalid-code")
		})
		t.Run("resend replaces", func(t *testing.T) {
			s.Clock.Add(time.Hour) // past the locks of the failures before
			loginID, _ := startLogin(t, s, "tom")
			old := send(loginID)
			fresh := send(loginID)
			if old == fresh { // one chance in a million: the third is another
				fresh = send(loginID)
			}
			wantProblem(t, verify(t, s, loginID, map[string]string{"method": "sms", "code": old}), 401, "invalid-code")
			if v := verify(t, s, loginID, map[string]string{"method": "sms", "code": fresh}); v.Status != 200 {
				t.Fatalf("verify with the new code: got %d %s", v.Status, v.Body)
			}
		})
		t.Run("five checks", func(t *testing.T) {
			s.Clock.Add(time.Hour)
			loginID, _ := startLogin(t, s, "tom")
			code := send(loginID)
			for i := range 5 {
				wantProblem(t, verify(t, s, loginID, map[string]string{"method": "sms", "code": otherCode(code)}), 401, "invalid-code")
				if i >= 2 { // the code counter locks from the third failure, as for TOTP
					s.Clock.Add(time.Minute)
				}
			}
			s.Clock.Add(time.Minute)
			// The right code after five checks: refused, the code is spent.
			wantProblem(t, verify(t, s, loginID, map[string]string{"method": "sms", "code": code}), 401, "invalid-code")
			a, err := s.Store.AccountByUsername(context.Background(), "tom")
			if err != nil {
				t.Fatal(err)
			}
			counters, err := s.Store.Counters(context.Background(), "2fa:"+a.ID+":codes")
			if err != nil {
				t.Fatal(err)
			}
			if len(counters) != 1 || counters[0].Failures != 6 {
				t.Errorf("code counters %+v, want the account's TOTP code counter at 6 failures", counters)
			}
		})
		t.Run("throttled like totp", func(t *testing.T) {
			s.Clock.Add(time.Minute) // past the lock of the sixth failure
			loginID, _ := startLogin(t, s, "tom")
			code := send(loginID)
			// The counter stands at 6 and locks for 8 s after each failure.
			wantProblem(t, verify(t, s, loginID, map[string]string{"method": "sms", "code": otherCode(code)}), 401, "invalid-code")
			r := verify(t, s, loginID, map[string]string{"method": "sms", "code": code})
			wantProblem(t, r, 429, "throttled")
			if r.Header.Get("Retry-After") == "" {
				t.Errorf("a throttled answer without Retry-After")
			}
			s.Clock.Add(time.Minute)
			if v := verify(t, s, loginID, map[string]string{"method": "sms", "code": code}); v.Status != 200 {
				t.Fatalf("verify after the lock: got %d %s", v.Status, v.Body)
			}
		})
	})
}

// TestSMSInput: bad numbers, countries not allowed, wrong methods and
// factors are clear 400s (or 404s) that store nothing and send nothing.
func TestSMSInput(t *testing.T) {
	eachStoreWithGateway(t, func(t *testing.T, s *testenv.Server, g *testenv.SMSGateway) {
		addUser(t, s, "uma")
		c := login(t, s, "uma")
		for _, tt := range []struct {
			name string
			body map[string]any
			code int
		}{
			{"no phone", map[string]any{"type": "sms", "label": "x"}, 400},
			{"national form", map[string]any{"type": "sms", "phone": "07400 123456"}, 400},
			{"not a number", map[string]any{"type": "sms", "phone": "+44 hello"}, 400},
			{"too short", map[string]any{"type": "sms", "phone": "+44 7700"}, 400},
			{"landline", map[string]any{"type": "sms", "phone": "+44 20 7946 0000"}, 400},
			{"country not allowed", map[string]any{"type": "sms", "phone": "+7 912 345 67 89"}, 400},
			{"premium country", map[string]any{"type": "sms", "phone": "+882 1234 5678"}, 400},
			{"email on sms", map[string]any{"type": "sms", "phone": phone, "email": "a@example.com"}, 400},
			{"totp options", map[string]any{"type": "sms", "phone": phone, "digits": 8}, 400},
			{"phone on totp", map[string]any{"type": "totp", "label": "x", "phone": phone}, 400},
			{"bad email", map[string]any{"type": "email", "email": "not an address"}, 400},
		} {
			t.Run(tt.name, func(t *testing.T) {
				wantProblem(t, c.Do(t, "POST", "/v1/me/factors", tt.body), tt.code, "invalid")
			})
		}
		if fs := c.Do(t, "GET", "/v1/me/factors", nil).JSON["factors"].([]any); len(fs) != 0 {
			t.Errorf("refused enrolments left factors: %v", fs)
		}
		if n := len(g.Messages()); n != 0 {
			t.Errorf("refused enrolments sent %d messages", n)
		}
		id, _ := enrolPhone(t, c, g, phone, phoneE164, "mobile")
		loginID, _ := startLogin(t, s, "uma")
		wantProblem(t, challenge(t, s, loginID, map[string]string{"method": "totp", "factor_id": id}), 400, "invalid")
		wantProblem(t, challenge(t, s, loginID, map[string]string{"method": "sms"}), 400, "invalid")
		wantProblem(t, challenge(t, s, loginID, map[string]string{"method": "email", "factor_id": id}), 404, "not-found")
		wantProblem(t, challenge(t, s, loginID, map[string]string{"method": "sms", "factor_id": "nope"}), 404, "not-found")
		wantProblem(t, challenge(t, s, "no-such-login", map[string]string{"method": "sms", "factor_id": id}), 410, "login-expired")
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "sms", "code": "12345"}), 401, "invalid-code")
		// The same number twice is a conflict.
		c.Token = verifyWith(t, s, g, "uma", id)
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "sms", "phone": "+447400123456", "label": "again"}), 409, "conflict")
		// An elevation without a code sent for it fails as a wrong code does.
		s.Clock.Add(11 * time.Minute)
		wantProblem(t, c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "sms", "code": "000000"}), 401, "invalid-code")
	})
}

// TestSMSSendLimits: codes to one number are limited (429 with
// Retry-After), and so is a gateway failure answered (503), storing no
// factor.
func TestSMSSendLimits(t *testing.T) {
	eachStoreWithGateway(t, func(t *testing.T, s *testenv.Server, g *testenv.SMSGateway) {
		addUser(t, s, "vic")
		c := login(t, s, "vic")
		g.FailNext(1)
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "sms", "phone": phone}), 503, "unavailable")
		if fs := c.Do(t, "GET", "/v1/me/factors", nil).JSON["factors"].([]any); len(fs) != 0 {
			t.Errorf("an enrolment whose code was not sent left a factor: %v", fs)
		}
		id, _ := enrolPhone(t, c, g, phone, phoneE164, "mobile") // the second message to the number
		loginID, _ := startLogin(t, s, "vic")
		sec := ""
		for i := range 5 { // 5 to one number at once, for sign-ins apart from enrolments
			r := challenge(t, s, loginID, map[string]string{"method": "sms", "factor_id": id, "code_secret": sec})
			if r.Status != 202 {
				t.Fatalf("challenge %d: got %d %s", i, r.Status, r.Body)
			}
			sec = r.String("code_secret")
		}
		r := challenge(t, s, loginID, map[string]string{"method": "sms", "factor_id": id, "code_secret": sec})
		wantProblem(t, r, 429, "throttled")
		if r.Header.Get("Retry-After") != "720" {
			t.Errorf("Retry-After %q, want 720 (one code each 12 minutes)", r.Header.Get("Retry-After"))
		}
		if n := len(g.Messages()); n != 6 { // the enrolment's first failed at the gateway
			t.Errorf("gateway got %d messages, want 6", n)
		}
		// Retry-After is the wait until the next code, not a whole interval.
		s.Clock.Add(5 * time.Minute)
		loginID, _ = startLogin(t, s, "vic")
		r = challenge(t, s, loginID, map[string]string{"method": "sms", "factor_id": id})
		wantProblem(t, r, 429, "throttled")
		if r.Header.Get("Retry-After") != "420" || !strings.Contains(r.String("detail"), "420 seconds") {
			t.Errorf("5 minutes on: Retry-After %q (%s), want 420", r.Header.Get("Retry-After"), r.String("detail"))
		}
		s.Clock.Add(7 * time.Minute)
		loginID, _ = startLogin(t, s, "vic")
		if r := challenge(t, s, loginID, map[string]string{"method": "sms", "factor_id": id}); r.Status != 202 {
			t.Fatalf("challenge after the refill: got %d %s", r.Status, r.Body)
		}
	})
}

// TestSMSCodeRace: one code sent to one login and checked by many requests
// at once passes exactly once.
func TestSMSCodeRace(t *testing.T) {
	eachStoreWithGateway(t, func(t *testing.T, s *testenv.Server, g *testenv.SMSGateway) {
		addUser(t, s, "wes")
		c := login(t, s, "wes")
		id, _ := enrolPhone(t, c, g, phone, phoneE164, "mobile")
		loginID, _ := startLogin(t, s, "wes")
		if r := challenge(t, s, loginID, map[string]string{"method": "sms", "factor_id": id}); r.Status != 202 {
			t.Fatalf("challenge: got %d %s", r.Status, r.Body)
		}
		code := g.LastCode(t, phoneE164)
		const n = 4
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { statuses[i] = verify(t, s, loginID, map[string]string{"method": "sms", "code": code}).Status })
		}
		wg.Wait()
		won := 0
		for _, st := range statuses {
			switch st {
			case 200:
				won++
			case 401, 410, 429:
			default:
				t.Errorf("got status %d, want 200, 401, 410 or 429", st)
			}
		}
		if won != 1 {
			t.Fatalf("got %d passes of one code (statuses %v), want 1", won, statuses)
		}
	})
}

// TestSMSSecretsNotInDatabaseFile: the phone number and the codes sent are
// nowhere in the SQLite file in the clear.
func TestSMSSecretsNotInDatabaseFile(t *testing.T) {
	g := testenv.NewSMSGateway(t)
	s := testenv.NewServer(t, testenv.SQLiteDSN(t), g.Option())
	addUser(t, s, "xia")
	c := login(t, s, "xia")
	id, _ := enrolPhone(t, c, g, phone, phoneE164, "mobile")
	loginID, _ := startLogin(t, s, "xia")
	if r := challenge(t, s, loginID, map[string]string{"method": "sms", "factor_id": id}); r.Status != 202 {
		t.Fatalf("challenge: got %d %s", r.Status, r.Body)
	}
	var db []byte
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(s.DBPath + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		db = append(db, b...)
	}
	needles := map[string]string{"number": phoneE164, "national number": "7400123456", "typed number": phone}
	for _, m := range g.Messages() {
		code := regexp.MustCompile(`[0-9]{6}`).FindString(m.Body)
		if strings.Trim(code, "234567") == "" {
			continue // such a run of digits may stand in a base32 id by chance
		}
		needles["code in "+m.SID] = code
	}
	for name, n := range needles {
		if bytes.Contains(db, []byte(n)) {
			t.Errorf("database file contains the %s", name)
		}
	}
}

// TestSMSWithoutGateway: a server with no SMS gateway refuses to add a
// phone (503 unavailable) and stores nothing, rather than leave the holder
// waiting for a code that never comes.
func TestSMSWithoutGateway(t *testing.T) {
	s := testenv.NewServer(t, testenv.SQLiteDSN(t))
	addUser(t, s, "gus")
	c := login(t, s, "gus")
	wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "sms", "phone": phone, "label": "phone"}), 503, "unavailable")
	if r := c.Do(t, "GET", "/v1/me/factors", nil); r.Status != 200 || len(r.JSON["factors"].([]any)) != 0 {
		t.Fatalf("factors after the refusal: %d %s, want none", r.Status, r.Body)
	}
}

// TestSMSOthersCannotUseUpTheOwnersCodes: someone who enrols the owner's
// number in their own account and asks for confirmation codes until the
// number's enrolment limit is spent does not stop the owner's sign-in
// codes (SPEC §1 story 9).
func TestSMSOthersCannotUseUpTheOwnersCodes(t *testing.T) {
	eachStoreWithGateway(t, func(t *testing.T, s *testenv.Server, g *testenv.SMSGateway) {
		addUser(t, s, "owner")
		owner := login(t, s, "owner")
		id, _ := enrolPhone(t, owner, g, phone, phoneE164, "mobile")
		addUser(t, s, "mallory")
		m := login(t, s, "mallory")
		r := m.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "sms", "phone": phone, "label": "not mine"})
		if r.Status != 201 {
			t.Fatalf("mallory enrols the owner's number: %d %s", r.Status, r.Body)
		}
		mid := r.JSON["factor"].(map[string]any)["id"].(string)
		for range 10 {
			if r := m.Do(t, "POST", "/v1/me/factors/"+mid+"/challenge", nil); r.Status == 429 {
				break
			}
		}
		wantProblem(t, m.Do(t, "POST", "/v1/me/factors/"+mid+"/challenge", nil), 429, "throttled")
		loginID, _ := startLogin(t, s, "owner")
		if r := challenge(t, s, loginID, map[string]string{"method": "sms", "factor_id": id}); r.Status != 202 {
			t.Fatalf("the owner's sign-in code after mallory spent the number's enrolment limit: %d %s", r.Status, r.Body)
		}
	})
}

// TestSMSCountries: the allow-list works by region, so that the default
// admits the United States and Canada but not the Caribbean numbers of +1
// that SMS pumping targets, and a bare calling code still admits every
// region that shares it; and it is checked at every send, so that a number
// added by an instance with a wider list is sent nothing by one with the
// default list: no sign-in, elevation or confirmation code.
func TestSMSCountries(t *testing.T) {
	eachStoreWithGateway(t, func(t *testing.T, s *testenv.Server, g *testenv.SMSGateway) {
		const jamaica, jamaicaE164, dominican = "+1 876 210 1234", "+18762101234", "+1 809 234 5678"
		addUser(t, s, "ann")
		c := login(t, s, "ann")
		for _, n := range []string{jamaica, dominican, "+1 268 464 1234"} {
			wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "sms", "phone": n}), 400, "invalid")
		}
		if n := len(g.Messages()); n != 0 {
			t.Fatalf("refused numbers were sent %d messages", n)
		}
		if r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "sms", "phone": "+1 415 555 2671"}); r.Status != 201 {
			t.Fatalf("a US number: got %d %s, want 201", r.Status, r.Body)
		}

		wide := testenv.NewServer(t, s.Config.DB, g.Option(), func(c *config.Config) {
			c.KeyFile, c.SMSCountries = s.Config.KeyFile, "1,44"
		})
		addUser(t, wide, "bob")
		bob := login(t, wide, "bob")
		r := bob.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "sms", "phone": jamaica})
		if r.Status != 201 {
			t.Fatalf("a Jamaican number with calling code 1 allowed: got %d %s, want 201", r.Status, r.Body)
		}
		id := r.JSON["factor"].(map[string]any)["id"].(string)
		if r := bob.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": g.LastCode(t, jamaicaE164)}); r.Status != 200 {
			t.Fatalf("confirm: got %d %s", r.Status, r.Body)
		}
		addUser(t, wide, "cat")
		cat := login(t, wide, "cat")
		r = cat.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "sms", "phone": dominican})
		if r.Status != 201 {
			t.Fatalf("a Dominican number with calling code 1 allowed: got %d %s, want 201", r.Status, r.Body)
		}
		pending := r.JSON["factor"].(map[string]any)["id"].(string)
		loginID, _ := startLogin(t, wide, "bob")
		if r := challenge(t, wide, loginID, map[string]string{"method": "sms", "factor_id": id}); r.Status != 202 {
			t.Fatalf("sign-in code with calling code 1 allowed: got %d %s, want 202", r.Status, r.Body)
		}
		token := verify(t, wide, loginID, map[string]string{"method": "sms", "code": g.LastCode(t, jamaicaE164)}).String("token")

		// The default list, on the instance s: nothing more is sent to them.
		sent := len(g.Messages())
		loginID, _ = startLogin(t, s, "bob")
		wantProblem(t, challenge(t, s, loginID, map[string]string{"method": "sms", "factor_id": id}), 503, "unavailable")
		bobOnS := testenv.NewClient(s.URL())
		bobOnS.Token = token
		s.Clock.Add(11 * time.Minute) // past the sign-in's fresh elevation
		wantProblem(t, bobOnS.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "sms", "factor_id": id}), 503, "unavailable")
		catOnS := testenv.NewClient(s.URL())
		catOnS.Token = cat.Token
		wantProblem(t, catOnS.Do(t, "POST", "/v1/me/factors/"+pending+"/challenge", nil), 503, "unavailable")
		if n := len(g.Messages()); n != sent {
			t.Errorf("the gateway got %d more messages, want none", n-sent)
		}
	})
}

// TestSMSLoginCodeLeavesElevationCode: whoever knows the password and asks
// for a sign-in code to the holder's phone does not void the code the
// holder was sent to confirm a change: each works for what it was sent for.
func TestSMSLoginCodeLeavesElevationCode(t *testing.T) {
	eachStoreWithGateway(t, func(t *testing.T, s *testenv.Server, g *testenv.SMSGateway) {
		addUser(t, s, "ivy")
		c := login(t, s, "ivy")
		id, _ := enrolPhone(t, c, g, phone, phoneE164, "mobile")
		c.Token = verifyWith(t, s, g, "ivy", id)
		s.Clock.Add(11 * time.Minute)
		if r := c.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "sms", "factor_id": id}); r.Status != 202 {
			t.Fatalf("elevate challenge: got %d %s", r.Status, r.Body)
		}
		elevation := g.LastCode(t, phoneE164)
		loginID, _ := startLogin(t, s, "ivy") // someone else, with the password
		if r := challenge(t, s, loginID, map[string]string{"method": "sms", "factor_id": id}); r.Status != 202 {
			t.Fatalf("login challenge: got %d %s", r.Status, r.Body)
		}
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "sms", "code": elevation}); r.Status != 200 {
			t.Fatalf("elevate with the code sent for it, after a sign-in code was sent: got %d %s, want 200", r.Status, r.Body)
		}
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "sms", "code": elevation}), 401, "invalid-code")
	})
}

// TestLoginUnavailableMethods: a phone added while --sms-countries admitted
// its region, which it no longer does, is left out of the login's methods
// and listed in unavailable_methods with its masked number and the reason;
// the recovery codes and paper key are still offered, and a recovery code
// signs in.
func TestLoginUnavailableMethods(t *testing.T) {
	eachStoreWithGateway(t, func(t *testing.T, s *testenv.Server, g *testenv.SMSGateway) {
		const jamaica, jamaicaE164 = "+1 876 210 1234", "+18762101234"
		wide := testenv.NewServer(t, s.Config.DB, g.Option(), func(c *config.Config) {
			c.KeyFile, c.SMSCountries = s.Config.KeyFile, "1,44"
		})
		addUser(t, wide, "bob")
		id, confirm := enrolPhone(t, login(t, wide, "bob"), g, jamaica, jamaicaE164, "mobile")
		codes := confirm.JSON["recovery_codes"].([]any)

		_, r := startLogin(t, wide, "bob")
		if got := r.JSON["methods"].([]any)[0].(map[string]any); got["method"] != "sms" || got["factor_id"] != id {
			t.Errorf("methods with the region admitted: %s, want the phone first", r.Body)
		}
		if _, ok := r.JSON["unavailable_methods"]; ok {
			t.Errorf("unavailable_methods with the region admitted: %s, want none", r.Body)
		}

		loginID, r := startLogin(t, s, "bob")
		var methods []string
		for _, m := range r.JSON["methods"].([]any) {
			methods = append(methods, m.(map[string]any)["method"].(string))
		}
		if diff := cmp.Diff([]string{"recovery_code", "paper_key"}, methods); diff != "" {
			t.Errorf("methods with the region no longer admitted (-want +got):\n%s", diff)
		}
		un, _ := r.JSON["unavailable_methods"].([]any)
		if len(un) != 1 {
			t.Fatalf("unavailable_methods: %s, want the phone", r.Body)
		}
		m := un[0].(map[string]any)
		if m["method"] != "sms" || m["factor_id"] != id || m["label"] != "mobile" || m["destination"] != sms.Mask(jamaicaE164) || m["reason"] == "" {
			t.Errorf("unavailable_methods[0]: %v, want the phone with its masked number and a reason", m)
		}
		v := verify(t, s, loginID, map[string]string{"method": "recovery_code", "code": codes[0].(string)})
		if v.Status != 200 {
			t.Fatalf("sign in with a recovery code: got %d %s", v.Status, v.Body)
		}
		// Signed in, the holder sees why the phone is not offered.
		c := testenv.NewClient(s.URL())
		c.Token = v.String("token")
		me := c.Do(t, "GET", "/v1/me", nil)
		var phone map[string]any
		for _, f := range me.JSON["factors"].([]any) {
			if f := f.(map[string]any); f["id"] == id {
				phone = f
			}
		}
		if phone == nil || phone["unavailable"] == nil || phone["unavailable"] == "" || phone["destination"] != sms.Mask(jamaicaE164) {
			t.Errorf("GET /v1/me: the phone is %v, want it marked unavailable with its masked number", phone)
		}
		meWide := testenv.NewClient(wide.URL())
		meWide.Token = c.Token
		for _, f := range meWide.Do(t, "GET", "/v1/me", nil).JSON["factors"].([]any) {
			if f := f.(map[string]any); f["id"] == id && f["unavailable"] != nil {
				t.Errorf("GET /v1/me where the region is admitted: the phone is %v, want it usable", f)
			}
		}
	})
}

// TestSMSRefusedResendKeepsCode: a new code the gateway refuses (a 4xx,
// so certainly not sent) leaves the code sent before working, for a
// sign-in, an elevation and a confirmation alike, and uses up none of the
// codes the number and the account may be sent. A send whose outcome is
// unknown (a 5xx) keeps the new code, which may still arrive, and counts.
func TestSMSRefusedResendKeepsCode(t *testing.T) {
	const phone2, phone2E164 = "+44 7400 654321", "+447400654321"
	eachStoreWithGateway(t, func(t *testing.T, s *testenv.Server, g *testenv.SMSGateway) {
		addUser(t, s, "rex")
		c := login(t, s, "rex")
		id, _ := enrolPhone(t, c, g, phone, phoneE164, "mobile")
		secret := map[string]string{} // each login's code_secret
		send := func(loginID string) testenv.Response {
			t.Helper()
			r := challenge(t, s, loginID, map[string]string{"method": "sms", "factor_id": id, "code_secret": secret[loginID]})
			if sec := r.String("code_secret"); sec != "" {
				secret[loginID] = sec
			}
			return r
		}

		// Sign-in: three resends refused; the first code still works.
		loginID, _ := startLogin(t, s, "rex")
		if r := send(loginID); r.Status != 202 {
			t.Fatalf("challenge: got %d %s", r.Status, r.Body)
		}
		first := g.LastCode(t, phoneE164)
		g.RefuseNext(3)
		for range 3 {
			wantProblem(t, send(loginID), 503, "unavailable")
		}
		v := verify(t, s, loginID, map[string]string{"method": "sms", "factor_id": id, "code": first})
		if v.Status != 200 {
			t.Fatalf("the code sent before the refused ones: got %d %s, want 200", v.Status, v.Body)
		}
		// The refused ones counted no send: four more of the number's five.
		loginID, _ = startLogin(t, s, "rex")
		for i := range 4 {
			if r := send(loginID); r.Status != 202 {
				t.Fatalf("send %d after the refused ones: got %d %s, want 202", i+2, r.Status, r.Body)
			}
		}
		wantProblem(t, send(loginID), 429, "throttled")

		// Elevation: a refused resend leaves the elevation code working.
		s.Clock.Add(time.Hour) // the number's bucket refills
		c.Token = v.String("token")
		er := c.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "sms", "factor_id": id})
		if er.Status != 202 {
			t.Fatalf("elevate challenge: got %d %s", er.Status, er.Body)
		}
		ec := g.LastCode(t, phoneE164)
		g.RefuseNext(1)
		wantProblem(t, c.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "sms", "factor_id": id, "code_secret": er.String("code_secret")}), 503, "unavailable")
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "sms", "code": ec}); r.Status != 200 {
			t.Fatalf("elevate with the code sent before the refused one: got %d %s, want 200", r.Status, r.Body)
		}

		// Confirmation: a refused resend leaves the confirming code working.
		r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "sms", "phone": phone2, "label": "work"})
		if r.Status != 201 {
			t.Fatalf("enrol a second phone: got %d %s", r.Status, r.Body)
		}
		id2 := r.JSON["factor"].(map[string]any)["id"].(string)
		cc := g.LastCode(t, phone2E164)
		g.RefuseNext(1)
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors/"+id2+"/challenge", nil), 503, "unavailable")
		if r := c.Do(t, "POST", "/v1/me/factors/"+id2+"/confirm", map[string]string{"code": cc}); r.Status != 200 {
			t.Fatalf("confirm with the code sent before the refused one: got %d %s, want 200", r.Status, r.Body)
		}

		// Unknown outcome: the new code stands, the one before is void.
		loginID, _ = startLogin(t, s, "rex")
		if r := send(loginID); r.Status != 202 {
			t.Fatalf("challenge: got %d %s", r.Status, r.Body)
		}
		before := g.LastCode(t, phoneE164)
		g.FailNext(1)
		wantProblem(t, send(loginID), 503, "unavailable")
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "sms", "factor_id": id, "code": before}), 401, "invalid-code")
	})
}

// TestSMSRefusedFirstSendNamesNoCode: when the gateway refuses the first
// code asked for a sign-in (the holder who lost the app asks for a text),
// the 503 does not say that a code sent before still works: none was sent,
// and the holder would wait for it. A refused resend, whose code before
// was put back, still says so.
func TestSMSRefusedFirstSendNamesNoCode(t *testing.T) {
	eachStoreWithGateway(t, func(t *testing.T, s *testenv.Server, g *testenv.SMSGateway) {
		addUser(t, s, "una")
		id, _ := enrolPhone(t, login(t, s, "una"), g, phone, phoneE164, "mobile")
		loginID, _ := startLogin(t, s, "una")
		g.RefuseNext(1)
		r := challenge(t, s, loginID, map[string]string{"method": "sms", "factor_id": id})
		wantProblem(t, r, 503, "unavailable")
		if d := r.String("detail"); strings.Contains(d, "sent before") {
			t.Errorf("refused first send: detail %q speaks of a code sent before, and none was", d)
		}
		r = challenge(t, s, loginID, map[string]string{"method": "sms", "factor_id": id})
		if r.Status != 202 {
			t.Fatalf("send after the refusal: got %d %s, want 202", r.Status, r.Body)
		}
		g.RefuseNext(1)
		r = challenge(t, s, loginID, map[string]string{"method": "sms", "factor_id": id, "code_secret": r.String("code_secret")})
		wantProblem(t, r, 503, "unavailable")
		if d := r.String("detail"); !strings.Contains(d, "code sent before still works") {
			t.Errorf("refused resend: detail %q, want it to say the code sent before still works", d)
		}
	})
}

// spendCodes has name, from addr, add n phone numbers of its own and
// remove each again: n codes from the account's and the address's send
// limits. The numbers are +44 7400 <base><00…n-1>.
func spendCodes(t *testing.T, s *testenv.Server, name, addr, base string, n int) {
	t.Helper()
	c := from(login(t, s, name), addr)
	for i := range n {
		r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "sms", "phone": fmt.Sprintf("+44 7400 %s%02d", base, i)})
		if r.Status != 201 {
			t.Fatalf("%s adds a number: got %d %s", name, r.Status, r.Body)
		}
		if r := c.Do(t, "DELETE", "/v1/me/factors/"+r.JSON["factor"].(map[string]any)["id"].(string), nil); r.Status != 204 {
			t.Fatalf("%s removes it: got %d %s", name, r.Status, r.Body)
		}
	}
}

// TestRefusedSendTakesNothing: a code that one send limit refuses takes
// nothing from the others. The owner, signing in behind a shared address
// whose codes others used up, is refused, and keeps her number's and her
// account's codes: from home she is sent one at once. Concurrent sends
// still get exactly what the limits allow.
func TestRefusedSendTakesNothing(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := testenv.NewSMSGateway(t)
			s := testenv.NewServer(t, dsn(t), g.Option(), behindProxy)
			const home, office = "198.51.100.9", "192.0.2.1"
			for _, u := range []string{"alice", "bob", "carol"} {
				addUser(t, s, u)
			}
			id, _ := enrolPhone(t, from(login(t, s, "alice"), home), g, phone, phoneE164, "mobile")
			spendCodes(t, s, "bob", office, "5550", 10) // the office address's 20 codes
			spendCodes(t, s, "carol", office, "5551", 10)
			sent := len(g.Messages())

			loginID := loginFrom(t, s, "alice", office)
			for i := range 5 {
				r := from(testenv.NewClient(s.URL()), office).Do(t, "POST", "/v1/login/"+loginID+"/challenge", map[string]string{"method": "sms", "factor_id": id})
				wantProblem(t, r, 429, "throttled")
				if got := retryAfter(t, r); got != 180 {
					t.Errorf("refusal %d at the office: Retry-After %d, want 180 (the address's next code)", i+1, got)
				}
			}
			if n := len(g.Messages()) - sent; n != 0 {
				t.Fatalf("the refused challenges sent %d messages", n)
			}
			loginID = loginFrom(t, s, "alice", home)
			atHome := from(testenv.NewClient(s.URL()), home)
			r := atHome.Do(t, "POST", "/v1/login/"+loginID+"/challenge", map[string]string{"method": "sms", "factor_id": id})
			if r.Status != 202 {
				t.Fatalf("at home after the office's refusals: got %d %s, want 202 (the refusals took none of her codes)", r.Status, r.Body)
			}
			resend := map[string]string{"method": "sms", "factor_id": id, "code_secret": r.String("code_secret")}
			// 4 of the number's 5 sign-in codes are left: of 8 asked at
			// once, 4 are sent.
			const n = 8
			statuses := make([]int, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					statuses[i] = atHome.Do(t, "POST", "/v1/login/"+loginID+"/challenge", resend).Status
				})
			}
			wg.Wait()
			count := map[int]int{}
			for _, st := range statuses {
				count[st]++
			}
			if count[202] != 4 || count[429] != 4 {
				t.Fatalf("8 challenges at once with 4 codes left: statuses %v, want 4 × 202 and 4 × 429", statuses)
			}
			if n := len(g.Messages()) - sent; n != 5 {
				t.Fatalf("%d sign-in messages sent, want 5", n)
			}
		})
	}
}

// TestRefusedEnrolmentsSpareTheNumber: an account whose own codes are used
// up, asking again and again to add someone else's number, takes nothing
// from that number's enrolment limit, which every account shares: the
// number's owner still adds it.
func TestRefusedEnrolmentsSpareTheNumber(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := testenv.NewSMSGateway(t)
			s := testenv.NewServer(t, dsn(t), g.Option(), behindProxy)
			addUser(t, s, "mallory")
			addUser(t, s, "victim")
			spendCodes(t, s, "mallory", "203.0.113.7", "5552", 10) // the account's 10 codes
			m := from(login(t, s, "mallory"), "203.0.113.7")
			for range 5 {
				wantProblem(t, m.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "sms", "phone": phone}), 429, "throttled")
			}
			if n := len(g.Messages()); n != 10 {
				t.Fatalf("gateway got %d messages, want 10", n)
			}
			v := from(login(t, s, "victim"), "198.51.100.30")
			if r := v.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "sms", "phone": phone}); r.Status != 201 {
				t.Fatalf("the number's owner adds it after another account's refused requests: got %d %s, want 201", r.Status, r.Body)
			}
		})
	}
}

// TestSendRetryAfterIsTheLongestWait: a send that several limits refuse
// answers with the wait until all of them have a code again, so that a
// client that waits for Retry-After is not refused by the next.
func TestSendRetryAfterIsTheLongestWait(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := testenv.NewSMSGateway(t)
			s := testenv.NewServer(t, dsn(t), g.Option(), behindProxy)
			addUser(t, s, "owner")
			addUser(t, s, "other")
			// The number's 5 enrolment codes, at once.
			c := from(login(t, s, "owner"), "198.51.100.30")
			r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "sms", "phone": phone})
			if r.Status != 201 {
				t.Fatalf("enrol: got %d %s", r.Status, r.Body)
			}
			id := r.JSON["factor"].(map[string]any)["id"].(string)
			for range 4 {
				if r := c.Do(t, "POST", "/v1/me/factors/"+id+"/challenge", nil); r.Status != 202 {
					t.Fatalf("resend: got %d %s", r.Status, r.Body)
				}
			}
			// 11 minutes on, the number has a code again in one minute;
			// then another account spends its own 10.
			s.Clock.Add(11 * time.Minute)
			spendCodes(t, s, "other", "203.0.113.7", "5553", 10)
			o := from(login(t, s, "other"), "203.0.113.7")
			r = o.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "sms", "phone": phone})
			wantProblem(t, r, 429, "throttled")
			wait := retryAfter(t, r)
			if wait != 360 {
				t.Fatalf("Retry-After %d, want 360 (the account's next code; the number's comes in 60)", wait)
			}
			s.Clock.Add(time.Duration(wait) * time.Second)
			if r := o.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "sms", "phone": phone}); r.Status != 201 {
				t.Fatalf("after Retry-After: got %d %s, want 201", r.Status, r.Body)
			}
		})
	}
}

// TestSMSStuckGateway: a gateway that takes a message and never answers
// costs the client the gateway timeout, not the connection: the answer is
// the 503 with the code_secret of the code that may still arrive, within
// the server's write timeout, and that secret sends the code again.
func TestSMSStuckGateway(t *testing.T) {
	eachStoreWithGateway(t, func(t *testing.T, s *testenv.Server, g *testenv.SMSGateway) {
		addUser(t, s, "stu")
		c := login(t, s, "stu")
		id, _ := enrolPhone(t, c, g, phone, phoneE164, "mobile")
		loginID, _ := startLogin(t, s, "stu")
		g.StallNext(1)
		r := challenge(t, s, loginID, map[string]string{"method": "sms", "factor_id": id})
		wantProblem(t, r, 503, "unavailable")
		secret := r.String("code_secret")
		if secret == "" {
			t.Fatalf("503 after a stuck gateway: got %s, want the code_secret of the code that may arrive", r.Body)
		}
		if r := challenge(t, s, loginID, map[string]string{"method": "sms", "factor_id": id, "code_secret": secret}); r.Status != 202 {
			t.Fatalf("send again with the code_secret: got %d %s, want 202", r.Status, r.Body)
		}
		code := g.LastCode(t, phoneE164)
		if v := verify(t, s, loginID, map[string]string{"method": "sms", "factor_id": id, "code": code}); v.Status != 200 {
			t.Fatalf("verify: got %d %s", v.Status, v.Body)
		}
	})
}
