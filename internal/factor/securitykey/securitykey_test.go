package securitykey_test

import (
	"errors"
	"testing"

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
