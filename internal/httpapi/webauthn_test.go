package httpapi_test

import (
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// keyOrigin is the origin a browser would have on a test server: its
// relying party is localhost, at the port it listens on.
func keyOrigin(t testing.TB, s *testenv.Server) string {
	t.Helper()
	_, port, err := net.SplitHostPort(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return "http://localhost:" + port
}

// options returns the "options" member of r as raw JSON.
func options(t testing.TB, r testenv.Response) json.RawMessage {
	t.Helper()
	var body struct {
		Options json.RawMessage `json:"options"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || len(body.Options) == 0 {
		t.Fatalf("no options in %d %s", r.Status, r.Body)
	}
	return body.Options
}

// TestSecurityKeyAPI walks security keys over HTTP with a software
// authenticator: enrol (201 with creation options) and confirm with the
// attestation (recovery codes on the first factor), the login's methods
// and challenge (200 with assertion options), verify with the assertion,
// a replayed and a foreign challenge refused, elevation, a second key
// labelled and renamed, the first removed and the second still working.
func TestSecurityKeyAPI(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "kim")
		c := login(t, s, "kim")
		origin := keyOrigin(t, s)
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "webauthn", "label": "YubiKey", "digits": 6}), 400, "invalid")
		r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "webauthn", "label": "YubiKey"})
		if r.Status != 201 {
			t.Fatalf("enrol: got %d %s", r.Status, r.Body)
		}
		f := r.JSON["factor"].(map[string]any)
		id := f["id"].(string)
		if f["type"] != "webauthn" || f["status"] != "pending" || f["label"] != "YubiKey" {
			t.Fatalf("factor %v", f)
		}
		var creation struct {
			PublicKey struct {
				RP struct{ ID string } `json:"rp"`
			} `json:"publicKey"`
		}
		if err := json.Unmarshal(options(t, r), &creation); err != nil || creation.PublicKey.RP.ID != "localhost" {
			t.Fatalf("creation options %s: rp id %q, want localhost", options(t, r), creation.PublicKey.RP.ID)
		}
		yubi := testenv.NewSecurityKey(t, origin)
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": "123456"}), 400, "invalid")
		cr := c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]any{"credential": yubi.Create(t, options(t, r))})
		if cr.Status != 200 || cr.JSON["factor"].(map[string]any)["status"] != "active" || len(cr.JSON["recovery_codes"].([]any)) != 10 {
			t.Fatalf("confirm: got %d %s", cr.Status, cr.Body)
		}

		// The login offers the key and its challenge gives assertion options.
		loginID, lr := startLogin(t, s, "kim")
		if m := lr.JSON["methods"].([]any)[0].(map[string]any); m["method"] != "webauthn" || m["factor_id"] != id || m["label"] != "YubiKey" {
			t.Fatalf("methods %v, want the key first", lr.JSON["methods"])
		}
		anon := testenv.NewClient(s.URL())
		challenge := func(loginID string) json.RawMessage {
			t.Helper()
			r := anon.Do(t, "POST", "/v1/login/"+loginID+"/challenge", map[string]string{"method": "webauthn"})
			if r.Status != 200 || r.String("method") != "webauthn" || r.String("expires_at") == "" {
				t.Fatalf("challenge: got %d %s", r.Status, r.Body)
			}
			return options(t, r)
		}
		verifyKey := func(loginID string, cred json.RawMessage) testenv.Response {
			t.Helper()
			s.Clock.Add(20 * time.Second) // past the throttle's short waits
			return anon.Do(t, "POST", "/v1/login/"+loginID+"/verify", map[string]any{"method": "webauthn", "credential": cred})
		}
		opts := challenge(loginID)
		if !yubi.Allowed(t, opts) {
			t.Fatalf("assertion options do not allow the key: %s", opts)
		}
		wantProblem(t, anon.Do(t, "POST", "/v1/login/"+loginID+"/verify", map[string]any{"method": "webauthn"}), 400, "invalid")
		// null, or anything but an object, is no credential: 400, before
		// any throttle slot or the ceremony is used.
		for _, cred := range []string{`null`, `"x"`, `[]`} {
			wantProblem(t, anon.Do(t, "POST", "/v1/login/"+loginID+"/verify", map[string]any{"method": "webauthn", "credential": json.RawMessage(cred)}), 400, "invalid")
		}
		// Answers no key of the account signed (a stranger's key, or the
		// owner's credential with a forged signature: the challenge is
		// given to whoever knows the login id) are refused and use up
		// nothing: the owner's key then signs the same challenge.
		wantProblem(t, verifyKey(loginID, testenv.NewSecurityKey(t, origin).Get(t, opts)), 401, "invalid-code")
		wantProblem(t, verifyKey(loginID, forgedSignature(t, yubi.Get(t, opts))), 401, "invalid-code")
		other, _ := startLogin(t, s, "kim")
		wantProblem(t, verifyKey(other, yubi.Get(t, challenge(loginID))), 401, "invalid-code")
		signed := yubi.Get(t, challenge(loginID))
		v := verifyKey(loginID, signed)
		if v.Status != 200 || v.String("status") != "authenticated" {
			t.Fatalf("verify: got %d %s", v.Status, v.Body)
		}
		wantProblem(t, verifyKey(loginID, signed), 410, "login-expired") // the login is done
		c.Token = v.String("token")

		// Elevation with the key, after the login's has run out.
		s.Clock.Add(11 * time.Minute)
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "webauthn", "label": "Backup"}), 403, "elevation-required")
		er := c.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "webauthn"})
		if er.Status != 200 {
			t.Fatalf("elevation challenge: got %d %s", er.Status, er.Body)
		}
		cred := yubi.Get(t, options(t, er))
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]any{"method": "webauthn", "credential": cred}); r.Status != 200 || r.String("elevated_until") == "" {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, c.Do(t, "POST", "/v1/me/elevate", map[string]any{"method": "webauthn", "credential": cred}), 401, "invalid-code")

		// A second key: the first is excluded; a fresh challenge for the
		// pending key; renamed; listed by /v1/me.
		r = c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "webauthn", "label": "Backup"})
		if r.Status != 201 || !yubi.Excluded(t, options(t, r)) {
			t.Fatalf("second enrolment: got %d %s, want the first key excluded", r.Status, r.Body)
		}
		id2 := r.JSON["factor"].(map[string]any)["id"].(string)
		rr := c.Do(t, "POST", "/v1/me/factors/"+id2+"/challenge", nil)
		if rr.Status != 200 {
			t.Fatalf("new registration challenge: got %d %s", rr.Status, rr.Body)
		}
		backup := testenv.NewSecurityKey(t, origin)
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors/"+id2+"/confirm", map[string]any{"credential": backup.Create(t, options(t, r))}), 401, "invalid-code") // replaced
		if r := c.Do(t, "POST", "/v1/me/factors/"+id2+"/confirm", map[string]any{"credential": backup.Create(t, options(t, rr))}); r.Status != 200 || r.JSON["recovery_codes"] != nil {
			t.Fatalf("confirm the second key: got %d %s", r.Status, r.Body)
		}
		if r := c.Do(t, "PATCH", "/v1/me/factors/"+id2, map[string]string{"label": "Spare key"}); r.Status != 200 {
			t.Fatalf("rename: got %d %s", r.Status, r.Body)
		}
		me := c.Do(t, "GET", "/v1/me", nil)
		fs := me.JSON["factors"].([]any)
		if len(fs) != 2 || fs[1].(map[string]any)["label"] != "Spare key" || fs[1].(map[string]any)["type"] != "webauthn" {
			t.Fatalf("factors: %v", fs)
		}

		// Remove the first; the spare still signs in, the first no longer.
		if r := c.Do(t, "DELETE", "/v1/me/factors/"+id, nil); r.Status != 204 {
			t.Fatalf("remove: got %d %s", r.Status, r.Body)
		}
		loginID, _ = startLogin(t, s, "kim")
		opts = challenge(loginID)
		if yubi.Allowed(t, opts) {
			t.Fatalf("a removed key is allowed: %s", opts)
		}
		wantProblem(t, verifyKey(loginID, yubi.Get(t, opts)), 401, "invalid-code")
		if v := verifyKey(loginID, backup.Get(t, challenge(loginID))); v.Status != 200 {
			t.Fatalf("the spare key: got %d %s", v.Status, v.Body)
		}
	})
}

// TestSecurityKeyRemovedMidChallenge: a key removed between a challenge
// and its answer does not spoil the answer of a key the account still has,
// and never verifies itself: with two keys, two logins and an elevation
// are challenged (both keys allowed), then the first key is removed; the
// second key's answers sign in and elevate, the removed key's is refused.
func TestSecurityKeyRemovedMidChallenge(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "kim")
		c := login(t, s, "kim")
		origin := keyOrigin(t, s)
		add := func(label string) (string, *testenv.SecurityKey) {
			t.Helper()
			r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "webauthn", "label": label})
			if r.Status != 201 {
				t.Fatalf("enrol %s: got %d %s", label, r.Status, r.Body)
			}
			id := r.JSON["factor"].(map[string]any)["id"].(string)
			k := testenv.NewSecurityKey(t, origin)
			if cr := c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]any{"credential": k.Create(t, options(t, r))}); cr.Status != 200 {
				t.Fatalf("confirm %s: got %d %s", label, cr.Status, cr.Body)
			}
			return id, k
		}
		idA, keyA := add("Key A")
		er := c.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "webauthn"})
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]any{"method": "webauthn", "credential": keyA.Get(t, options(t, er))}); r.Status != 200 {
			t.Fatalf("elevate with key A: got %d %s", r.Status, r.Body)
		}
		_, keyB := add("Key B")
		s.Clock.Add(11 * time.Minute) // c's elevation lapses

		anon := testenv.NewClient(s.URL())
		allowsBoth := func(r testenv.Response) json.RawMessage {
			t.Helper()
			if r.Status != 200 {
				t.Fatalf("challenge: got %d %s", r.Status, r.Body)
			}
			opts := options(t, r)
			if !keyA.Allowed(t, opts) || !keyB.Allowed(t, opts) {
				t.Fatalf("the challenge does not allow both keys: %s", opts)
			}
			return opts
		}
		challenge := func(loginID string) json.RawMessage {
			t.Helper()
			return allowsBoth(anon.Do(t, "POST", "/v1/login/"+loginID+"/challenge", map[string]string{"method": "webauthn"}))
		}
		first, _ := startLogin(t, s, "kim")
		second, _ := startLogin(t, s, "kim")
		optsFirst, optsSecond := challenge(first), challenge(second)
		optsElevate := allowsBoth(c.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "webauthn"}))

		// Key A is removed from another session, signed in with key B.
		third, _ := startLogin(t, s, "kim")
		v := anon.Do(t, "POST", "/v1/login/"+third+"/verify", map[string]any{"method": "webauthn", "credential": keyB.Get(t, challenge(third))})
		if v.Status != 200 {
			t.Fatalf("sign in with key B: got %d %s", v.Status, v.Body)
		}
		other := testenv.NewClient(s.URL())
		other.Token = v.String("token")
		if r := other.Do(t, "DELETE", "/v1/me/factors/"+idA, nil); r.Status != 204 {
			t.Fatalf("remove key A: got %d %s", r.Status, r.Body)
		}

		s.Clock.Add(20 * time.Second) // past the throttle's short waits
		if r := anon.Do(t, "POST", "/v1/login/"+first+"/verify", map[string]any{"method": "webauthn", "credential": keyB.Get(t, optsFirst)}); r.Status != 200 || r.String("status") != "authenticated" {
			t.Fatalf("key B answering a login challenged before key A was removed: got %d %s, want 200", r.Status, r.Body)
		}
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]any{"method": "webauthn", "credential": keyB.Get(t, optsElevate)}); r.Status != 200 {
			t.Fatalf("key B answering an elevation challenged before key A was removed: got %d %s, want 200", r.Status, r.Body)
		}
		s.Clock.Add(20 * time.Second)
		wantProblem(t, anon.Do(t, "POST", "/v1/login/"+second+"/verify", map[string]any{"method": "webauthn", "credential": keyA.Get(t, optsSecond)}), 401, "invalid-code")
	})
}

// forgedSignature returns the assertion cred with its signature replaced by
// one its key never made.
func forgedSignature(t *testing.T, cred json.RawMessage) json.RawMessage {
	t.Helper()
	var c map[string]any
	if err := json.Unmarshal(cred, &c); err != nil {
		t.Fatal(err)
	}
	c["response"].(map[string]any)["signature"] = "MEQCIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAiAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
