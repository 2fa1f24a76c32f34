package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// addKey enrols a security key over c (a passkey when passkey is set) with
// key as its authenticator, and returns the confirmation's answer.
func addKey(t testing.TB, c *testenv.Client, label string, passkey bool, key *testenv.SecurityKey) (string, testenv.Response) {
	t.Helper()
	body := map[string]any{"type": "webauthn", "label": label, "passkey": passkey}
	if passkey {
		body["password"] = password
	}
	r := c.Do(t, "POST", "/v1/me/factors", body)
	if r.Status != 201 {
		t.Fatalf("enrol %s: got %d %s", label, r.Status, r.Body)
	}
	id := r.JSON["factor"].(map[string]any)["id"].(string)
	return id, c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]any{"credential": key.Create(t, options(t, r))})
}

// passkeyOptions begins a sign-in with a passkey and returns its login id
// and assertion options.
func passkeyOptions(t testing.TB, anon *testenv.Client) (string, json.RawMessage) {
	t.Helper()
	r := anon.Do(t, "POST", "/v1/login/passkey", nil)
	if r.Status != 200 || r.String("login_id") == "" || r.String("expires_at") == "" {
		t.Fatalf("begin passkey sign-in: got %d %s", r.Status, r.Body)
	}
	return r.String("login_id"), options(t, r)
}

// eventsOf returns the details of the account's audit events of type typ.
func eventsOf(t *testing.T, c *testenv.Client, typ string) []string {
	t.Helper()
	var out []string
	for _, e := range c.Do(t, "GET", "/v1/me/events?limit=200", nil).JSON["events"].([]any) {
		if e := e.(map[string]any); e["type"] == typ {
			out = append(out, e["detail"].(string))
		}
	}
	return out
}

// TestPasskeyAPI walks passwordless sign-in over HTTP with a software
// authenticator that keeps resident credentials and verifies its user: a
// passkey is enrolled (creation options ask for a discoverable credential,
// user verification and credProps; the factor says passkey), announced by
// mail and audited; the sign-in's options allow any credential and require
// user verification; the assertion signs in to an elevated session. Then
// what must be refused is: the same answer again (410), an old answer to a
// new challenge, another origin, a missing UV flag, a user handle of
// another account, a key enrolled as a plain security key (though it
// signs with a handle and UV, and still passes the second step), a
// passkey enrolment by a key that makes no resident credential or does not
// verify its user, and a removed passkey.
func TestPasskeyAPI(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mb := testenv.NewSMTPServer(t)
			testPasskeyAPI(t, testenv.NewServer(t, dsn(t), mb.Option("Twofold <twofold@example.com>")), mb)
		})
	}
}

func testPasskeyAPI(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
	addUser(t, s, "kim")
	addUser(t, s, "lee")
	c := login(t, s, "kim")
	origin := keyOrigin(t, s)
	anon := testenv.NewClient(s.URL())
	wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "x", "passkey": true}), 400, "invalid")

	// A passkey signs in on its own: a session alone does not add one.
	wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "webauthn", "label": "Phone", "passkey": true}), 400, "invalid")
	wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "webauthn", "label": "Phone", "passkey": true, "password": "not it"}), 403, "forbidden")
	wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "webauthn", "label": "Phone", "password": password}), 400, "invalid")
	r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "webauthn", "label": "Phone", "passkey": true, "password": password})
	if r.Status != 201 || r.JSON["factor"].(map[string]any)["passkey"] != true {
		t.Fatalf("enrol a passkey: got %d %s", r.Status, r.Body)
	}
	var creation struct {
		PublicKey struct {
			Selection struct {
				ResidentKey      string `json:"residentKey"`
				RequireResident  bool   `json:"requireResidentKey"`
				UserVerification string `json:"userVerification"`
			} `json:"authenticatorSelection"`
			Extensions struct {
				CredProps bool `json:"credProps"`
			} `json:"extensions"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options(t, r), &creation); err != nil {
		t.Fatal(err)
	}
	if sel := creation.PublicKey.Selection; sel.ResidentKey != "required" || !sel.RequireResident || sel.UserVerification != "required" || !creation.PublicKey.Extensions.CredProps {
		t.Fatalf("passkey creation options %s: want a required resident key, required user verification and credProps", options(t, r))
	}
	phone := testenv.NewPasskey(t, origin)
	id := r.JSON["factor"].(map[string]any)["id"].(string)
	if cr := c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]any{"credential": phone.Create(t, options(t, r))}); cr.Status != 200 ||
		cr.JSON["factor"].(map[string]any)["status"] != "active" || len(cr.JSON["recovery_codes"].([]any)) != 10 {
		t.Fatalf("confirm the passkey: got %d %s", cr.Status, cr.Body)
	}
	if f := c.Do(t, "GET", "/v1/me", nil).JSON["factors"].([]any)[0].(map[string]any); f["passkey"] != true || f["type"] != "webauthn" {
		t.Fatalf("factor in /v1/me: %v, want a webauthn passkey", f)
	}
	if msgs := mb.Wait(t, 1, time.Minute); !strings.Contains(string(msgs[0].Data), "new passkey was added") {
		t.Errorf("the mail after adding a passkey:\n%s", msgs[0].Data)
	}

	// Sign in with the passkey alone.
	loginID, opts := passkeyOptions(t, anon)
	var assertion struct {
		PublicKey struct {
			Allow            []any  `json:"allowCredentials"`
			UserVerification string `json:"userVerification"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &assertion); err != nil || len(assertion.PublicKey.Allow) != 0 || assertion.PublicKey.UserVerification != "required" {
		t.Fatalf("passkey assertion options %s: want no allowCredentials and required user verification", opts)
	}
	finish := func(loginID string, cred json.RawMessage) testenv.Response {
		t.Helper()
		return anon.Do(t, "POST", "/v1/login/passkey/finish", map[string]any{"login_id": loginID, "credential": cred})
	}
	cred := phone.Get(t, opts)
	v := finish(loginID, cred)
	if v.Status != 200 || v.String("status") != "authenticated" || v.String("token") == "" || v.String("expires_at") == "" {
		t.Fatalf("passkey sign-in: got %d %s", v.Status, v.Body)
	}
	pc := testenv.NewClient(s.URL())
	pc.Token = v.String("token")
	if me := pc.Do(t, "GET", "/v1/me", nil); me.Status != 200 || me.String("username") != "kim" || me.JSON["elevated"] != true {
		t.Fatalf("the passkey's session: got %d %s, want kim's, elevated", me.Status, me.Body)
	}
	if ev := eventsOf(t, pc, "login.succeeded"); len(ev) == 0 || ev[0] != "passkey "+id {
		t.Errorf("login.succeeded events %q, want the passkey's first", ev)
	}

	// Refusals.
	wantProblem(t, finish(loginID, cred), 410, "login-expired")
	wantProblem(t, finish("", cred), 410, "login-expired")
	next, _ := passkeyOptions(t, anon)
	wantProblem(t, finish(next, cred), 401, "invalid-credentials") // an answer to another challenge
	wantProblem(t, anon.Do(t, "POST", "/v1/login/passkey/finish", map[string]any{"login_id": next}), 400, "invalid")
	refused := func(why string, key *testenv.SecurityKey) {
		t.Helper()
		s.Clock.Add(20 * time.Second) // past the address's short waits
		loginID, opts := passkeyOptions(t, anon)
		if r := finish(loginID, key.Get(t, opts)); r.Status != 401 || r.Problem() != "invalid-credentials" {
			t.Fatalf("%s: got %d %s, want 401 invalid-credentials", why, r.Status, r.Body)
		}
	}
	elsewhere := *phone
	elsewhere.Origin = "http://evil.localhost"
	refused("another origin", &elsewhere)
	phone.UV = false
	refused("no user verification", phone)
	phone.UV = true
	lee := login(t, s, "lee")
	leeID := lee.Do(t, "GET", "/v1/me", nil).String("id")
	other := *phone
	other.UserHandle = []byte(leeID)
	refused("another account's user handle", &other)
	wrongHandle := *phone
	wrongHandle.UserHandle = []byte("no-such-account")
	refused("a user handle of no account", &wrongHandle)

	// A key that could be a passkey but was enrolled as a plain
	// security key is a second factor only.
	plain := testenv.NewPasskey(t, origin)
	if _, cr := addKey(t, pc, "Plain", false, plain); cr.Status != 200 {
		t.Fatalf("add a plain key: got %d %s", cr.Status, cr.Body)
	}
	refused("a key enrolled as a plain security key", plain)
	loginID2, _ := startLogin(t, s, "kim")
	ch := anon.Do(t, "POST", "/v1/login/"+loginID2+"/challenge", map[string]string{"method": "webauthn"})
	if r := anon.Do(t, "POST", "/v1/login/"+loginID2+"/verify", map[string]any{"method": "webauthn", "credential": plain.Get(t, options(t, ch))}); r.Status != 200 {
		t.Fatalf("the plain key at the second step: got %d %s", r.Status, r.Body)
	}
	// The passkey is a second factor too.
	loginID3, _ := startLogin(t, s, "kim")
	ch = anon.Do(t, "POST", "/v1/login/"+loginID3+"/challenge", map[string]string{"method": "webauthn"})
	if r := anon.Do(t, "POST", "/v1/login/"+loginID3+"/verify", map[string]any{"method": "webauthn", "credential": phone.Get(t, options(t, ch))}); r.Status != 200 {
		t.Fatalf("the passkey at the second step: got %d %s", r.Status, r.Body)
	}

	// A passkey must be one: resident, and made with user verification.
	notResident := testenv.NewPasskey(t, origin)
	notResident.Resident = false
	if _, cr := addKey(t, pc, "Not resident", true, notResident); cr.Status != 401 || cr.Problem() != "invalid-code" {
		t.Fatalf("a passkey enrolment without a resident key: got %d %s, want 401 invalid-code", cr.Status, cr.Body)
	}
	noUV := testenv.NewPasskey(t, origin)
	noUV.UV = false
	if _, cr := addKey(t, pc, "No UV", true, noUV); cr.Status != 401 || cr.Problem() != "invalid-code" {
		t.Fatalf("a passkey enrolment without user verification: got %d %s, want 401 invalid-code", cr.Status, cr.Body)
	}

	// Every refusal is on the record with its cause.
	causes := strings.Join(eventsOf(t, pc, "login.passkey_failed"), "\n")
	for _, want := range []string{"without user verification", "not a passkey", "origin"} {
		if !strings.Contains(causes, want) {
			t.Errorf("login.passkey_failed events do not record %q:\n%s", want, causes)
		}
	}
	if causes := strings.Join(eventsOf(t, lee, "login.passkey_failed"), "\n"); !strings.Contains(causes, "not an active security key of the account") {
		t.Errorf("lee's login.passkey_failed events do not record kim's key under lee's handle:\n%s", causes)
	}

	// A removed passkey no longer signs in.
	if r := pc.Do(t, "DELETE", "/v1/me/factors/"+id, nil); r.Status != 204 {
		t.Fatalf("remove the passkey: got %d %s", r.Status, r.Body)
	}
	refused("a removed passkey", phone)
}

// TestPasskeyThrottle: failed passkey sign-ins from one address are
// throttled (429 with Retry-After), on a counter of their own: the owner
// still signs in with the password meanwhile, and the account's second
// step is not locked by them; once the wait is over the passkey signs in.
func TestPasskeyThrottle(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "kim")
		c := login(t, s, "kim")
		origin := keyOrigin(t, s)
		phone := testenv.NewPasskey(t, origin)
		if _, cr := addKey(t, c, "Phone", true, phone); cr.Status != 200 {
			t.Fatalf("add the passkey: got %d %s", cr.Status, cr.Body)
		}
		anon := testenv.NewClient(s.URL())
		stranger := testenv.NewPasskey(t, origin)
		stranger.UserHandle = phone.UserHandle // claims kim's account
		var throttled testenv.Response
		for i := 0; i < 20 && throttled.Status == 0; i++ {
			loginID, opts := passkeyOptions(t, anon)
			r := anon.Do(t, "POST", "/v1/login/passkey/finish", map[string]any{"login_id": loginID, "credential": stranger.Get(t, opts)})
			switch {
			case r.Status == 429:
				throttled = r
			case r.Status != 401:
				t.Fatalf("attempt %d: got %d %s, want 401 or 429", i, r.Status, r.Body)
			}
		}
		if throttled.Status != 429 || throttled.Header.Get("Retry-After") == "" {
			t.Fatalf("20 failed passkey sign-ins were never throttled")
		}
		wantProblem(t, throttled, 429, "throttled")
		loginID, opts := passkeyOptions(t, anon)
		wantProblem(t, anon.Do(t, "POST", "/v1/login/passkey/finish", map[string]any{"login_id": loginID, "credential": phone.Get(t, opts)}), 429, "throttled")

		// The password and the second step are untouched.
		first, _ := startLogin(t, s, "kim")
		ch := anon.Do(t, "POST", "/v1/login/"+first+"/challenge", map[string]string{"method": "webauthn"})
		if r := anon.Do(t, "POST", "/v1/login/"+first+"/verify", map[string]any{"method": "webauthn", "credential": phone.Get(t, options(t, ch))}); r.Status != 200 {
			t.Fatalf("password and passkey as second step while passkey sign-ins are throttled: got %d %s", r.Status, r.Body)
		}

		s.Clock.Add(16 * time.Minute)
		loginID, opts = passkeyOptions(t, anon)
		if r := anon.Do(t, "POST", "/v1/login/passkey/finish", map[string]any{"login_id": loginID, "credential": phone.Get(t, opts)}); r.Status != 200 {
			t.Fatalf("after the wait: got %d %s", r.Status, r.Body)
		}
	})
}

// enrolPasskey adds a passkey to name's account (password-only so far)
// and returns it with an elevated session of the account.
func enrolPasskey(t testing.TB, s *testenv.Server, name string) (*testenv.SecurityKey, *testenv.Client) {
	t.Helper()
	c := login(t, s, name)
	key := testenv.NewPasskey(t, keyOrigin(t, s))
	if _, cr := addKey(t, c, "Phone", true, key); cr.Status != 200 {
		t.Fatalf("add the passkey: got %d %s", cr.Status, cr.Body)
	}
	return key, c
}

// signInWithPasskey begins and finishes a sign-in with key on s.
func signInWithPasskey(t *testing.T, s *testenv.Server, key *testenv.SecurityKey) testenv.Response {
	t.Helper()
	anon := testenv.NewClient(s.URL())
	loginID, opts := passkeyOptions(t, anon)
	return anon.Do(t, "POST", "/v1/login/passkey/finish", map[string]any{"login_id": loginID, "credential": key.Get(t, opts)})
}

// TestPasskeyAndReset: a passkey sign-in is judged as the password login
// and second step are. Signing in with the passkey while an operator's
// reset of two-factor waits withdraws it, as any factor passing a check
// does; once a reset has fallen due, the passkey is refused (the reset is
// carried out, and the passkey with the account's factors is gone) and
// the password alone signs in.
func TestPasskeyAndReset(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "kim")
		key, _ := enrolPasskey(t, s, "kim")
		reset := func() {
			t.Helper()
			if _, err := s.Service.ResetTwoFactorByName(t.Context(), "kim", false, core.Meta{}); err != nil {
				t.Fatal(err)
			}
		}
		reset()
		s.Clock.Add(time.Second)
		v := signInWithPasskey(t, s, key)
		if v.Status != 200 {
			t.Fatalf("passkey sign-in while a reset waits: got %d %s", v.Status, v.Body)
		}
		s.Clock.Add(core.DefaultResetDelay + time.Minute)
		if r := signInWithPasskey(t, s, key); r.Status != 200 {
			t.Fatalf("after the reset's due time, having signed in with the passkey before: got %d %s, want the reset withdrawn", r.Status, r.Body)
		}

		reset()
		s.Clock.Add(core.DefaultResetDelay + time.Minute)
		wantProblem(t, signInWithPasskey(t, s, key), 401, "invalid-credentials")
		login(t, s, "kim") // the password alone
	})
}

// TestPasskeyLockedSecondStep: a lock of the account's codes, which anyone
// with the password can set, does not stop a passkey, whose signature
// cannot be guessed, and its sign-in clears the lock; the failures of a
// stranger claiming the account's user handle never lock it either.
func TestPasskeyLockedSecondStep(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "kim")
		key, _ := enrolPasskey(t, s, "kim")
		stranger := testenv.NewPasskey(t, keyOrigin(t, s))
		stranger.UserHandle = key.UserHandle
		for range 4 { // below the address's own limit
			wantProblem(t, signInWithPasskey(t, s, stranger), 401, "invalid-credentials")
		}
		if r := signInWithPasskey(t, s, key); r.Status != 200 {
			t.Fatalf("after a stranger's failures: got %d %s", r.Status, r.Body)
		}

		anon := testenv.NewClient(s.URL())
		for range 3 { // three wrong codes at the second step lock the codes for a second
			loginID, _ := startLogin(t, s, "kim")
			wantProblem(t, anon.Do(t, "POST", "/v1/login/"+loginID+"/verify", map[string]any{"method": "totp", "code": "123456"}), 401, "invalid-code")
		}
		loginID, _ := startLogin(t, s, "kim")
		wantProblem(t, anon.Do(t, "POST", "/v1/login/"+loginID+"/verify", map[string]any{"method": "totp", "code": "123456"}), 429, "throttled")
		if r := signInWithPasskey(t, s, key); r.Status != 200 {
			t.Fatalf("while the codes are locked: got %d %s", r.Status, r.Body)
		}
		a, err := s.Store.AccountByUsername(context.Background(), "kim")
		if err != nil {
			t.Fatal(err)
		}
		if n, _, err := s.Store.Throttle(context.Background(), "2fa:"+a.ID+":codes"); err != nil || n != 0 {
			t.Fatalf("code counter at %d (%v) after the passkey, want it cleared", n, err)
		}
	})
}

// TestPasskeyAcrossInstances: two servers on one database are one server
// for passkey sign-ins: one begun on the first is finished on the second
// and is then used on both, and failed attempts from one address count on
// one counter whichever instance they reach.
func TestPasskeyAcrossInstances(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := dsn(t)
			a := testenv.NewServer(t, db)
			b := testenv.NewServer(t, db, func(c *config.Config) { c.KeyFile = a.Config.KeyFile })
			addUser(t, a, "kim")
			key, _ := enrolPasskey(t, a, "kim")
			onA, onB := testenv.NewClient(a.URL()), testenv.NewClient(b.URL())

			// The browser's origin is the one both instances serve; here each
			// has its own port, so the key signs for the one it answers.
			loginID, opts := passkeyOptions(t, onA)
			key.Origin = keyOrigin(t, b)
			cred := key.Get(t, opts)
			if r := onB.Do(t, "POST", "/v1/login/passkey/finish", map[string]any{"login_id": loginID, "credential": cred}); r.Status != 200 {
				t.Fatalf("begun on A, finished on B: got %d %s", r.Status, r.Body)
			}
			key.Origin = keyOrigin(t, a)
			wantProblem(t, onA.Do(t, "POST", "/v1/login/passkey/finish", map[string]any{"login_id": loginID, "credential": key.Get(t, opts)}), 410, "login-expired")

			// Five failures from this address claiming the account,
			// alternating, lock it on both (each instance alone has seen at
			// most three, under the limit); the replay above was not counted,
			// as an answer to no open sign-in.
			stranger := testenv.NewPasskey(t, keyOrigin(t, a))
			stranger.UserHandle = key.UserHandle
			for i := range 5 {
				s := []*testenv.Server{a, b}[i%2]
				stranger.Origin = keyOrigin(t, s)
				wantProblem(t, signInWithPasskey(t, s, stranger), 401, "invalid-credentials")
			}
			key.Origin = keyOrigin(t, b)
			wantProblem(t, signInWithPasskey(t, b, key), 429, "throttled")
		})
	}
}

// TestPasskeySuspended: a suspended account cannot sign in with its
// passkey either, and the refusal looks like any other; lifting the
// suspension lets the passkey work again.
func TestPasskeySuspended(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "lee")
		key, _ := enrolPasskey(t, s, "lee")
		a, err := s.Store.AccountByUsername(t.Context(), "lee")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Store.SetSuspended(t.Context(), a.ID, true); err != nil {
			t.Fatal(err)
		}
		wantProblem(t, signInWithPasskey(t, s, key), 401, "invalid-credentials")
		if d := eventWith(t, s, a.ID, "login.passkey_failed"); !strings.Contains(d, "suspended") {
			t.Errorf("login.passkey_failed detail %q, want the suspension", d)
		}
		if _, err := s.Store.SetSuspended(t.Context(), a.ID, false); err != nil {
			t.Fatal(err)
		}
		if r := signInWithPasskey(t, s, key); r.Status != 200 {
			t.Fatalf("after the suspension: got %d %s", r.Status, r.Body)
		}
	})
}

// TestPasskeyThrottleSharedAddress: failures from an address claiming one
// account lock passkey sign-ins to that account from there, not those of
// another holder behind the same address (an office, a carrier's NAT).
func TestPasskeyThrottleSharedAddress(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "kim")
		key, _ := enrolPasskey(t, s, "kim")
		junk := testenv.NewPasskey(t, keyOrigin(t, s))
		junk.UserHandle = []byte("someone-else")
		throttled := false
		for i := 0; i < 20 && !throttled; i++ {
			r := signInWithPasskey(t, s, junk)
			throttled = r.Status == 429
		}
		if !throttled {
			t.Fatal("20 failed passkey sign-ins were never throttled")
		}
		if r := signInWithPasskey(t, s, key); r.Status != 200 {
			t.Fatalf("another holder from the same address: got %d %s", r.Status, r.Body)
		}
	})
}

// TestPasskeySetupRestartTakesThePassword: a passkey its holder began to
// add and left pending is not finished with a session alone: beginning its
// registration again takes the password, as adding it did.
func TestPasskeySetupRestartTakesThePassword(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "max")
		owner := login(t, s, "max")
		r := owner.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "webauthn", "label": "Laptop", "passkey": true, "password": password})
		if r.Status != 201 {
			t.Fatalf("enrol: got %d %s", r.Status, r.Body)
		}
		id := r.JSON["factor"].(map[string]any)["id"].(string)
		// The session that began it (which a thief may hold) needs the
		// password; another session may not restart it at all, as the
		// setup is not its own (README "How two-factor behaves").
		wantProblem(t, owner.Do(t, "POST", "/v1/me/factors/"+id+"/challenge", nil), 400, "invalid")
		wantProblem(t, owner.Do(t, "POST", "/v1/me/factors/"+id+"/challenge", map[string]string{"password": "not it"}), 403, "forbidden")
		other := login(t, s, "max")
		wantProblem(t, other.Do(t, "POST", "/v1/me/factors/"+id+"/challenge", map[string]string{"password": password}), 404, "not-found")
		r = owner.Do(t, "POST", "/v1/me/factors/"+id+"/challenge", map[string]string{"password": password})
		if r.Status != 200 {
			t.Fatalf("restart with the password: got %d %s", r.Status, r.Body)
		}
		key := testenv.NewPasskey(t, keyOrigin(t, s))
		if cr := owner.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]any{"credential": key.Create(t, options(t, r))}); cr.Status != 200 {
			t.Fatalf("confirm: got %d %s", cr.Status, cr.Body)
		}
	})
}
