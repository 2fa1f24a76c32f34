package securitykey_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/factor/securitykey"
	"github.com/twofold/twofold/internal/testenv"
)

const origin = "https://login.example.com"

func newRP(t *testing.T) *securitykey.RelyingParty {
	t.Helper()
	rp, err := securitykey.New(securitykey.Config{RPID: "example.com", RPName: "Twofold", Origins: []string{origin + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

// TestCeremonies: a registration and assertions round trip through the
// library with a software key; the counter's clone warning is reported; a
// response to another ceremony's challenge, or from another origin, is an
// *Error.
func TestCeremonies(t *testing.T) {
	rp := newRP(t)
	u := securitykey.User{Handle: []byte("account-id"), Name: "ada", DisplayName: "ada"}
	b, err := rp.BeginRegistration(u, false)
	if err != nil {
		t.Fatal(err)
	}
	key := testenv.NewSecurityKey(t, origin)
	reg, err := securitykey.ParseRegistration(key.Create(t, b.Options))
	if err != nil {
		t.Fatal(err)
	}
	if reg.Challenge() != b.Challenge {
		t.Fatalf("challenge %q, want %q", reg.Challenge(), b.Challenge)
	}
	k, err := rp.FinishRegistration(u, b.Session, reg, false)
	if err != nil {
		t.Fatal(err)
	}
	if string(k.CredentialID) != string(key.CredentialID) || len(k.PublicKey) == 0 || k.AttestationFormat != "none" || len(k.Transports) != 1 {
		t.Fatalf("key: %+v", k)
	}
	k.FactorID = "f1"
	u.Keys = append(u.Keys, k)

	login := func() (securitykey.Begun, securitykey.Assertion) {
		t.Helper()
		b, err := rp.BeginLogin(u)
		if err != nil {
			t.Fatal(err)
		}
		a, err := securitykey.ParseAssertion(key.Get(t, b.Options))
		if err != nil {
			t.Fatal(err)
		}
		return b, a
	}
	b1, a1 := login()
	use, err := rp.FinishLogin(u, b1.Session, a1)
	if err != nil || use.FactorID != "f1" || use.SignCount != 1 || use.CloneWarning {
		t.Fatalf("login: %+v, %v", use, err)
	}
	u.Keys[0].SignCount = use.SignCount

	// Another ceremony's session: refused.
	b2, _ := login()
	_, a3 := login()
	var ke *securitykey.Error
	if _, err := rp.FinishLogin(u, b2.Session, a3); !errors.As(err, &ke) {
		t.Fatalf("another ceremony's assertion: got %v, want *Error", err)
	}
	// The counter going back: the clone warning.
	key.Counter = 0
	b4, a4 := login()
	if use, err := rp.FinishLogin(u, b4.Session, a4); err != nil || !use.CloneWarning {
		t.Fatalf("counter back to 1 after 1: %+v, %v, want a clone warning", use, err)
	}
	// Another origin.
	key.Origin, key.Counter = "https://login.example.com.evil", 10
	b5, a5 := login()
	if _, err := rp.FinishLogin(u, b5.Session, a5); !errors.As(err, &ke) {
		t.Fatalf("another origin: got %v, want *Error", err)
	}
	if _, err := securitykey.ParseAssertion([]byte(`{"id":"x"}`)); !errors.As(err, &ke) {
		t.Fatalf("malformed assertion: got %v, want *Error", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    securitykey.Config
		ok   bool
	}{
		{"https", securitykey.Config{RPID: "example.com", Origins: []string{"https://example.com", "https://a.example.com:8443"}}, true},
		{"localhost", securitykey.Config{RPID: "localhost", Origins: []string{"http://localhost:8080"}}, true},
		{"no origin", securitykey.Config{RPID: "example.com"}, false},
		{"ip", securitykey.Config{RPID: "192.0.2.1", Origins: []string{"https://192.0.2.1"}}, false},
		{"http elsewhere", securitykey.Config{RPID: "example.com", Origins: []string{"http://example.com"}}, false},
		{"suffix is no parent", securitykey.Config{RPID: "example.com", Origins: []string{"https://badexample.com"}}, false},
	} {
		if err := tc.c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: got %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// TestPasskeyCeremonies: a passkey's registration asks for a resident key
// and user verification and records both; one that is not resident, or
// made without user verification, is refused; a sign-in with a passkey
// has no allowCredentials, requires user verification, and is refused for
// a user handle that is not the account's or an assertion without UV.
func TestPasskeyCeremonies(t *testing.T) {
	rp := newRP(t)
	u := securitykey.User{Handle: []byte("account-id"), Name: "ada", DisplayName: "ada"}
	register := func(key *testenv.SecurityKey) (twofold.SecurityKey, error) {
		t.Helper()
		b, err := rp.BeginRegistration(u, true)
		if err != nil {
			t.Fatal(err)
		}
		reg, err := securitykey.ParseRegistration(key.Create(t, b.Options))
		if err != nil {
			t.Fatal(err)
		}
		return rp.FinishRegistration(u, b.Session, reg, true)
	}
	var ke *securitykey.Error
	for name, change := range map[string]func(*testenv.SecurityKey){
		"not resident":         func(k *testenv.SecurityKey) { k.Resident = false },
		"no user verification": func(k *testenv.SecurityKey) { k.UV = false },
	} {
		k := testenv.NewPasskey(t, origin)
		change(k)
		if _, err := register(k); !errors.As(err, &ke) {
			t.Errorf("%s: got %v, want *Error", name, err)
		}
	}
	key := testenv.NewPasskey(t, origin)
	k, err := register(key)
	if err != nil || !k.Discoverable || !k.UserVerified || !k.Passkey() {
		t.Fatalf("passkey registered as %+v, %v", k, err)
	}
	k.FactorID = "p1"
	u.Keys = []twofold.SecurityKey{k}

	signIn := func(key *testenv.SecurityKey) (securitykey.Use, error) {
		t.Helper()
		b, err := rp.BeginPasskeyLogin()
		if err != nil {
			t.Fatal(err)
		}
		if key.Allowed(t, b.Options) || !strings.Contains(string(b.Options), `"userVerification":"required"`) {
			t.Fatalf("passkey sign-in options %s", b.Options)
		}
		a, err := securitykey.ParseAssertion(key.Get(t, b.Options))
		if err != nil {
			t.Fatal(err)
		}
		if string(a.UserHandle()) != string(key.UserHandle) || string(a.CredentialID()) != string(key.CredentialID) || a.UserVerified() != key.UV {
			t.Fatalf("assertion says handle %q, credential %x, UV %v", a.UserHandle(), a.CredentialID(), a.UserVerified())
		}
		return rp.FinishPasskeyLogin(u, b.Session, a)
	}
	if use, err := signIn(key); err != nil || use.FactorID != "p1" || use.Key.FactorID != "p1" {
		t.Fatalf("passkey sign-in: %+v, %v", use, err)
	}
	key.UV = false
	if _, err := signIn(key); !errors.As(err, &ke) {
		t.Fatalf("no user verification: got %v, want *Error", err)
	}
	key.UV, key.UserHandle = true, []byte("another-account")
	if _, err := signIn(key); !errors.As(err, &ke) {
		t.Fatalf("another user handle: got %v, want *Error", err)
	}
	// A plain login's session does not finish a passkey sign-in.
	key.UserHandle = []byte("account-id")
	b, err := rp.BeginLogin(u)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := securitykey.ParseAssertion(key.Get(t, b.Options))
	if _, err := rp.FinishPasskeyLogin(u, b.Session, a); !errors.As(err, &ke) {
		t.Fatalf("a plain login's session: got %v, want *Error", err)
	}
}
