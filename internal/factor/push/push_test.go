package push

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestURIRoundTrip(t *testing.T) {
	e := Enrolment{Server: "https://twofold.example.com", DeviceID: "dev1", Token: "tok&=?", Challenge: "ch", Issuer: "Twofold", Account: "alice", Label: "work laptop"}
	got, err := ParseURI(e.URI())
	if err != nil || got != e {
		t.Fatalf("ParseURI(URI()) = %+v, %v; want %+v", got, err, e)
	}
	for name, uri := range map[string]string{
		"other scheme": "otpauth://totp/x?secret=A",
		"other action": "twofold-push://other?server=https://a&device=d&token=t&challenge=c",
		"no server":    "twofold-push://enrol?device=d&token=t&challenge=c",
		"ftp server":   "twofold-push://enrol?server=ftp://a&device=d&token=t&challenge=c",
		"no token":     "twofold-push://enrol?server=https://a&device=d&challenge=c",
		"no challenge": "twofold-push://enrol?server=https://a&device=d&token=t",
		"no device":    "twofold-push://enrol?server=https://a&token=t&challenge=c",
		"not a URI":    "%zz",
		"empty":        "",
	} {
		if _, err := ParseURI(uri); !errors.Is(err, ErrURI) {
			t.Errorf("%s: ParseURI(%q): got %v, want ErrURI", name, uri, err)
		}
	}
}

func TestSignAndVerify(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"decision":"approve","number":"42"}`)
	h := Sign(priv, "dev1", "POST", "/v1/push/challenges/c1", now, "abcdefghijklmnop", body)
	sig, err := ParseAuthorization(h)
	if err != nil || sig.DeviceID != "dev1" || !sig.Time.Equal(now) || sig.Nonce != "abcdefghijklmnop" {
		t.Fatalf("ParseAuthorization(%q) = %+v, %v", h, sig, err)
	}
	if !sig.Verify(pub, "POST", "/v1/push/challenges/c1", body) {
		t.Fatal("a good signature does not verify")
	}
	for name, v := range map[string]bool{
		"other key":    sig.Verify(other, "POST", "/v1/push/challenges/c1", body),
		"other method": sig.Verify(pub, "GET", "/v1/push/challenges/c1", body),
		"other path":   sig.Verify(pub, "POST", "/v1/push/challenges/c2", body),
		"other body":   sig.Verify(pub, "POST", "/v1/push/challenges/c1", []byte(`{"decision":"deny"}`)),
		"short key":    sig.Verify(pub[:16], "POST", "/v1/push/challenges/c1", body),
	} {
		if v {
			t.Errorf("%s: verified", name)
		}
	}
	moved := sig
	moved.Time = now.Add(time.Second)
	if moved.Verify(pub, "POST", "/v1/push/challenges/c1", body) {
		t.Error("another time: verified")
	}
}

func TestParseAuthorizationRefuses(t *testing.T) {
	good := `TwofoldDevice id="d", ts="1", nonce="abcdefghijklmnop", sig="` + Encode(make([]byte, 64)) + `"`
	if _, err := ParseAuthorization(good); err != nil {
		t.Fatalf("good header refused: %v", err)
	}
	for name, h := range map[string]string{
		"bearer":      "Bearer abc",
		"no fields":   "TwofoldDevice",
		"unquoted":    strings.Replace(good, `id="d"`, `id=d`, 1),
		"repeated":    good + `, id="e"`,
		"bad ts":      strings.Replace(good, `ts="1"`, `ts="x"`, 1),
		"short nonce": strings.Replace(good, "abcdefghijklmnop", "abc", 1),
		"nonce chars": strings.Replace(good, "abcdefghijklmnop", "abcdefghijklmno!", 1),
		"short sig":   strings.Replace(good, Encode(make([]byte, 64)), Encode(make([]byte, 10)), 1),
		"no id":       strings.Replace(good, `id="d", `, "", 1),
		"too long":    strings.Replace(good, `id="d"`, `id="`+strings.Repeat("d", 600)+`"`, 1),
	} {
		if _, err := ParseAuthorization(h); err == nil {
			t.Errorf("%s: ParseAuthorization(%q) accepted", name, h)
		}
	}
}
