package httpapi_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// keystoneLogin is the body of POST /v3/auth/tokens for name with pass,
// and with code the totp method beside it.
func keystoneLogin(name, pass, code string) map[string]any {
	user := func(k, v string) map[string]any {
		return map[string]any{"user": map[string]any{"name": name, "domain": map[string]string{"id": "default"}, k: v}}
	}
	id := map[string]any{"methods": []string{"password"}, "password": user("password", pass)}
	if code != "" {
		id["methods"] = []string{"password", "totp"}
		id["totp"] = user("passcode", code)
	}
	return map[string]any{"auth": map[string]any{"identity": id}}
}

// TestStrangerWithUsernameLocksNoOneOut walks what a stranger who knows
// only the owner's username (and address) can send, from addresses of
// their own: wrong passwords on /v1 and the Identity API, password-reset
// requests, and wrong secrets for the owner's API key on /v1 and the DNS
// API. Their addresses are slowed; the owner, from their own, still signs
// in with the password and the app's code (on /v1 and the Identity API),
// still uses the key, and a link the strangers' requests mailed to the
// owner's mailbox works for the owner (README "Guessing, throttling and
// lock-outs", "A forgotten password").
func TestStrangerWithUsernameLocksNoOneOut(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		mb := testenv.NewSMTPServer(t)
		s := testenv.NewServer(t, dsn, behindProxy, mb.Option("Twofold <twofold@example.com>"))
		addUser(t, s, "uma")
		const home = "198.51.100.7"
		owner := from(testenv.NewClient(s.URL()), home)
		r := owner.Do(t, "POST", "/v1/login", map[string]string{"username": "uma", "password": password})
		owner.Token = r.String("token")
		app := enrol(t, s, owner, map[string]any{"type": "totp", "label": "phone"})
		key := makeKey(t, owner, "zone", nil, "dns * read")
		sent := len(mb.Wait(t, 1, time.Minute))

		for i, addr := range []string{"203.0.113.5", "203.0.113.6", "2001:db8:77::5"} {
			st := from(testenv.NewClient(s.URL()), addr)
			refused := 0
			for j := range 12 {
				r := st.Do(t, "POST", "/v1/login", map[string]string{"username": "uma", "password": "guess " + strconv.Itoa(j)})
				if r.Status == 429 {
					refused++
				} else {
					wantProblem(t, r, 401, "invalid-credentials")
				}
				if r := st.Do(t, "POST", "/v3/auth/tokens", keystoneLogin("uma", "guess "+strconv.Itoa(j), "123456")); r.Status != 401 && r.Status != 429 {
					t.Fatalf("a wrong password on the Identity API from %s: got %d %s", addr, r.Status, r.Body)
				}
				ks := from(keyClient(s, key.id, "wrong-secret-"+strconv.Itoa(j)), addr)
				if r := ks.Do(t, "GET", "/v1/me", nil); r.Status != 401 {
					t.Fatalf("a wrong key secret from %s: got %d %s", addr, r.Status, r.Body)
				}
				if r := ks.Do(t, "GET", "/dns/v2/zones", nil); r.Status != 401 {
					t.Fatalf("a wrong key secret on the DNS API from %s: got %d %s", addr, r.Status, r.Body)
				}
				if r := st.Do(t, "POST", "/v1/password-reset", map[string]string{"username": "uma"}); r.Status != 202 && r.Status != 429 {
					t.Fatalf("a reset request from %s: got %d %s", addr, r.Status, r.Body)
				}
			}
			// The stranger's own address pays: even the right password waits.
			if refused == 0 {
				t.Fatalf("stranger %d: no wrong password was throttled", i)
			}
			wantProblem(t, st.Do(t, "POST", "/v1/login", map[string]string{"username": "uma", "password": password}), 429, "throttled")
		}

		// The owner, from home: password and code, on /v1 and on the
		// Identity API, and the key.
		s.Clock.Add(30 * time.Second)
		r = owner.Do(t, "POST", "/v1/login", map[string]string{"username": "uma", "password": password})
		if r.Status != 200 || r.String("status") != "second_factor_required" {
			t.Fatalf("the owner's password: got %d %s", r.Status, r.Body)
		}
		if v := owner.Do(t, "POST", "/v1/login/"+r.String("login_id")+"/verify", map[string]string{"method": "totp", "code": testenv.TOTP(t, app.secret, s.Clock.Now())}); v.Status != 200 {
			t.Fatalf("the owner's code: got %d %s", v.Status, v.Body)
		}
		s.Clock.Add(30 * time.Second)
		if r := owner.Do(t, "POST", "/v3/auth/tokens", keystoneLogin("uma", password, testenv.TOTP(t, app.secret, s.Clock.Now()))); r.Status != 201 {
			t.Fatalf("the owner on the Identity API: got %d %s", r.Status, r.Body)
		}
		if r := from(keyClient(s, key.id, key.secret), home).Do(t, "GET", "/dns/v2/zones", nil); r.Status != 200 {
			t.Fatalf("the owner's key on the DNS API: got %d %s", r.Status, r.Body)
		}
		// The strangers' requests mailed links to the owner, who can use
		// one (with the app's code, as two-factor is on).
		token, _ := resetMail(t, s, mb, sent+1)
		s.Clock.Add(30 * time.Second)
		const fresh = "a brand new passphrase"
		if r := owner.Do(t, "POST", "/v1/password-reset/complete", map[string]string{"token": token, "password": fresh, "method": "totp", "code": testenv.TOTP(t, app.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("the owner with a link a stranger's request mailed: got %d %s", r.Status, r.Body)
		}
	})
}
