package core_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/factor/securitykey"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

const keyOrigin = "https://login.twofold.example"

// keyWorld is a service with a relying party, a movable clock and a
// signed-in account.
type keyWorld struct {
	t    *testing.T
	svc  *core.Service
	st   *store.Store
	now  time.Time
	auth core.Auth
}

func newKeyWorld(t *testing.T, dsn string) *keyWorld {
	t.Helper()
	db := openStore(t, dsn)
	w := &keyWorld{t: t, st: db.Store, now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	w.svc = newService(t, db.Store, db, func() time.Time { return w.now }, nil)
	if err := w.svc.SetRelyingParty(securitykey.Config{RPID: "twofold.example", Origins: []string{keyOrigin}}); err != nil {
		t.Fatal(err)
	}
	w.auth = signedIn(t, w.svc, "ada")
	return w
}

// addKey enrols a key labelled label with the world's session and
// confirms it, returning the confirmation.
func (w *keyWorld) addKey(k *testenv.SecurityKey, label string) core.Confirmation {
	w.t.Helper()
	ctx := w.t.Context()
	e, err := w.svc.EnrolFactor(ctx, w.auth, core.NewFactor{Type: twofold.FactorWebAuthn, Label: label}, core.Meta{})
	if err != nil {
		w.t.Fatalf("enrol %s: %v", label, err)
	}
	if e.Factor.Status != twofold.FactorPending || len(e.Options) == 0 {
		w.t.Fatalf("enrolment: got %+v", e)
	}
	c, err := w.svc.ConfirmSecurityKey(ctx, w.auth, e.Factor.ID, k.Create(w.t, e.Options), core.Meta{})
	if err != nil {
		w.t.Fatalf("confirm %s: %v", label, err)
	}
	return c
}

// login passes the password and returns the login id.
func (w *keyWorld) login() string {
	w.t.Helper()
	res, err := w.svc.Login(w.t.Context(), "ada", testPassword, core.Meta{})
	if err != nil || res.Authenticated {
		w.t.Fatalf("login: %+v, %v", res, err)
	}
	return res.LoginID
}

func (w *keyWorld) loginOptions(loginID string) json.RawMessage {
	w.t.Helper()
	c, err := w.svc.ChallengeLogin(w.t.Context(), loginID, twofold.MethodWebAuthn, "", "", core.Meta{})
	if err != nil {
		w.t.Fatalf("challenge: %v", err)
	}
	return c.Options
}

// verify offers credential at the login's second step, 30 s after the
// last attempt: the account's throttle lets a few failures through at once,
// then asks for growing waits, which the clock then covers.
func (w *keyWorld) verify(loginID string, credential []byte) (core.Verified, error) {
	w.now = w.now.Add(30 * time.Second)
	return w.svc.VerifyLogin(w.t.Context(), loginID, core.SecondFactor{Method: twofold.MethodWebAuthn, Credential: credential}, core.Meta{})
}

func (w *keyWorld) events(typ string) []string {
	w.t.Helper()
	es, err := w.st.Events(w.t.Context(), w.auth.Account.ID, 0, 200)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if e.Type == typ {
			out = append(out, e.Detail)
		}
	}
	return out
}

// elevated signs in again with key and makes that elevated session the world's.
func (w *keyWorld) elevated(k *testenv.SecurityKey) {
	w.t.Helper()
	id := w.login()
	v, err := w.verify(id, k.Get(w.t, w.loginOptions(id)))
	if err != nil {
		w.t.Fatalf("sign in with key: %v", err)
	}
	if w.auth, err = w.svc.Authenticate(w.t.Context(), v.Token); err != nil {
		w.t.Fatal(err)
	}
}

func wantBadProof(t *testing.T, what string, err error) {
	t.Helper()
	if got := twofold.ErrorCode(err); got != twofold.CodeInvalidCode {
		t.Fatalf("%s: got %v (%s), want invalid-code", what, err, got)
	}
}

// TestSecurityKeyLifecycle: a key is enrolled and confirmed (recovery codes
// on the first factor), offered and used at login, and a second key's
// registration excludes the first; a refused response, a replayed or
// foreign challenge, an expired one, a wrong key and a counter that goes
// backwards all fail the same way; removing one key leaves the other
// working.
func TestSecurityKeyLifecycle(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			w := newKeyWorld(t, dsn(t))
			yubi := testenv.NewSecurityKey(t, keyOrigin)
			c := w.addKey(yubi, "YubiKey")
			if c.Factor.Status != twofold.FactorActive || len(c.RecoveryCodes) != 10 || c.PaperKey == "" {
				t.Fatalf("first key: got %+v, want active with recovery codes and a paper key", c)
			}

			// The login offers the key; its options allow it.
			id := w.login()
			res, err := w.svc.LoginMethods(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(res) == 0 || res[0].Method != twofold.MethodWebAuthn || res[0].Label != "YubiKey" {
				t.Fatalf("methods: got %+v, want webauthn YubiKey first", res)
			}
			opts := w.loginOptions(id)
			if !yubi.Allowed(t, opts) {
				t.Fatalf("login options do not allow the key: %s", opts)
			}

			// A key not registered signs: refused, and the challenge,
			// which anyone who knows the login id is given, stays for the
			// owner's key.
			stranger := testenv.NewSecurityKey(t, keyOrigin)
			_, err = w.verify(id, stranger.Get(t, opts))
			wantBadProof(t, "wrong key", err)
			if again := w.loginOptions(id); !bytes.Equal(again, opts) {
				t.Fatalf("after a stranger's answer the login's options are %s, want the same challenge %s", again, opts)
			}

			// The challenge of another login does not pass this one.
			other := w.login()
			_, err = w.verify(other, yubi.Get(t, w.loginOptions(id)))
			wantBadProof(t, "challenge of another login", err)

			// A response from another origin is refused.
			phish := *yubi
			phish.Origin = "https://login.twofold.example.evil"
			_, err = w.verify(id, phish.Get(t, w.loginOptions(id)))
			wantBadProof(t, "another origin", err)

			// The right key on a fresh challenge passes; the same assertion
			// again is refused (the login is done, and so is its challenge).
			cred := yubi.Get(t, w.loginOptions(id))
			v, err := w.verify(id, cred)
			if err != nil || v.Token == "" {
				t.Fatalf("sign in: %+v, %v", v, err)
			}
			if _, err := w.verify(id, cred); twofold.ErrorCode(err) != twofold.CodeLoginExpired {
				t.Fatalf("replayed assertion: got %v, want login-expired", err)
			}
			if w.auth, err = w.svc.Authenticate(ctx, v.Token); err != nil {
				t.Fatal(err)
			}

			// Elevation: a challenge good once; a replay of its assertion fails.
			ch, err := w.svc.ChallengeElevation(ctx, w.auth, twofold.MethodWebAuthn, "", "", core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			cred = yubi.Get(t, ch.Options)
			if _, err := w.svc.Elevate(ctx, w.auth, core.SecondFactor{Method: twofold.MethodWebAuthn, Credential: cred}, core.Meta{}); err != nil {
				t.Fatalf("elevate: %v", err)
			}
			_, err = w.svc.Elevate(ctx, w.auth, core.SecondFactor{Method: twofold.MethodWebAuthn, Credential: cred}, core.Meta{})
			wantBadProof(t, "replayed elevation", err)

			// An expired challenge: the clock moves past it.
			ch, err = w.svc.ChallengeElevation(ctx, w.auth, twofold.MethodWebAuthn, "", "", core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			w.now = ch.ExpiresAt
			_, err = w.svc.Elevate(ctx, w.auth, core.SecondFactor{Method: twofold.MethodWebAuthn, Credential: yubi.Get(t, ch.Options)}, core.Meta{})
			wantBadProof(t, "expired challenge", err)

			// A second key: its registration excludes the first, and the
			// first cannot be registered twice.
			w.elevated(yubi)
			e, err := w.svc.EnrolFactor(ctx, w.auth, core.NewFactor{Type: twofold.FactorWebAuthn, Label: "Backup key"}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if !yubi.Excluded(t, e.Options) {
				t.Fatalf("registration options do not exclude the key registered: %s", e.Options)
			}
			if _, err := w.svc.ConfirmSecurityKey(ctx, w.auth, e.Factor.ID, yubi.Create(t, e.Options), core.Meta{}); twofold.ErrorCode(err) != twofold.CodeConflict {
				t.Fatalf("the same key again: got %v, want conflict", err)
			}
			backup := testenv.NewSecurityKey(t, keyOrigin)
			ch, err = w.svc.ResendConfirmation(ctx, w.auth, e.Factor.ID, "", core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if c, err := w.svc.ConfirmSecurityKey(ctx, w.auth, e.Factor.ID, backup.Create(t, ch.Options), core.Meta{}); err != nil || c.RecoveryCodes != nil {
				t.Fatalf("second key: %+v, %v (want no new recovery codes)", c, err)
			}

			// Counter regression: the key's counter goes back; refused, audited.
			id = w.login()
			yubi.Counter -= 2
			_, err = w.verify(id, yubi.Get(t, w.loginOptions(id)))
			wantBadProof(t, "counter went backwards", err)
			if got := w.events("security_key.clone_warning"); len(got) != 1 {
				t.Fatalf("clone warnings: got %q, want 1", got)
			}
			yubi.Counter += 5

			// Removing the first key leaves the second working; the first is
			// no longer allowed nor accepted.
			w.elevated(backup)
			if err := w.svc.DeleteFactor(ctx, w.auth, c.Factor.ID, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			id = w.login()
			opts = w.loginOptions(id)
			if yubi.Allowed(t, opts) || !backup.Allowed(t, opts) {
				t.Fatalf("after removal, options: %s", opts)
			}
			_, err = w.verify(id, yubi.Get(t, opts))
			wantBadProof(t, "removed key", err)
			if _, err := w.verify(id, backup.Get(t, w.loginOptions(id))); err != nil {
				t.Fatalf("remaining key: %v", err)
			}
			failed := strings.Join(w.events("login.second_factor_failed"), "\n")
			for _, cause := range []string{"webauthn: no security key challenge", "did not move forward"} {
				if !strings.Contains(failed, cause) {
					t.Errorf("audit of failures lacks %q:\n%s", cause, failed)
				}
			}
		})
	}
}

// TestSecurityKeyRefusals: what is refused before or without a ceremony.
func TestSecurityKeyRefusals(t *testing.T) {
	ctx := t.Context()
	w := newKeyWorld(t, testenv.SQLiteDSN(t))
	for _, tc := range []struct {
		name string
		n    core.NewFactor
	}{
		{"no label", core.NewFactor{Type: twofold.FactorWebAuthn}},
		{"otp parameters", core.NewFactor{Type: twofold.FactorWebAuthn, Label: "k", Digits: 6}},
	} {
		if _, err := w.svc.EnrolFactor(ctx, w.auth, tc.n, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInvalid {
			t.Errorf("%s: got %v, want invalid", tc.name, err)
		}
	}
	e, err := w.svc.EnrolFactor(ctx, w.auth, core.NewFactor{Type: twofold.FactorWebAuthn, Label: "YubiKey"}, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.ConfirmFactor(ctx, w.auth, e.Factor.ID, "123456", core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInvalid {
		t.Errorf("code for a key: got %v, want invalid", err)
	}
	_, err = w.svc.ConfirmSecurityKey(ctx, w.auth, e.Factor.ID, []byte(`{"id":"x"}`), core.Meta{})
	wantBadProof(t, "malformed credential", err)
	// The pending factor is not active, and nothing was stored for it.
	k := testenv.NewSecurityKey(t, keyOrigin)
	_, err = w.svc.ConfirmSecurityKey(ctx, w.auth, e.Factor.ID, k.Create(t, e.Options), core.Meta{})
	if err != nil {
		t.Fatalf("the same ceremony after a malformed try: %v", err)
	}
	// A login's methods include the key; without a credential the proof is invalid, costing nothing.
	id, err := w.svc.Login(ctx, "ada", testPassword, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.VerifyLogin(ctx, id.LoginID, core.SecondFactor{Method: twofold.MethodWebAuthn}, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInvalid {
		t.Errorf("no credential: got %v, want invalid", err)
	}
	// A registration response is no assertion.
	opts, err := w.svc.ChallengeLogin(ctx, id.LoginID, twofold.MethodWebAuthn, "", "", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.svc.VerifyLogin(ctx, id.LoginID, core.SecondFactor{Method: twofold.MethodWebAuthn, Credential: k.Create(t, opts.Options)}, core.Meta{})
	wantBadProof(t, "registration response at login", err)
}

// TestSecurityKeysOff: without a relying party a key cannot be added.
func TestSecurityKeysOff(t *testing.T) {
	db := openStore(t, testenv.SQLiteDSN(t))
	svc := newService(t, db.Store, db, nil, nil)
	auth := signedIn(t, svc, "ada")
	_, err := svc.EnrolFactor(t.Context(), auth, core.NewFactor{Type: twofold.FactorWebAuthn, Label: "YubiKey"}, core.Meta{})
	if twofold.ErrorCode(err) != twofold.CodeUnavailable {
		t.Fatalf("got %v, want unavailable", err)
	}
}
