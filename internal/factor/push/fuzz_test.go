package push

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"
)

// FuzzParseAuthorization: whatever a device (or anyone) sends as its
// Authorization header, a signature taken has the parts the server looks a
// device up by and checks within their bounds; and a header a device signs
// (Sign) reads back as what it signed, and verifies for that request only.
func FuzzParseAuthorization(f *testing.F) {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	f.Add(Sign(key, "dev_1", "POST", "/v1/push/device/answer", time.Unix(1800000000, 0), "AAAAAAAAAAAAAAAAAAAAAA", []byte(`{}`)), "dev_1", int64(1800000000), "AAAAAAAAAAAAAAAAAAAAAA")
	f.Add(`TwofoldDevice id="a", ts="1", nonce="0123456789abcdef", sig="x", id="b"`, "a-b_c", int64(-1), "0123456789abcdef0123")
	f.Fuzz(func(t *testing.T, h, id string, ts int64, nonce string) {
		if sig, err := ParseAuthorization(h); err == nil {
			if sig.DeviceID == "" || len(sig.DeviceID) > 64 || len(sig.Nonce) < 16 || len(sig.Nonce) > 64 || len(sig.Sig) != ed25519.SignatureSize {
				t.Fatalf("ParseAuthorization(%q) = %+v: a part out of bounds", h, sig)
			}
		}
		// A device's own id and nonce are base64url, as the server makes
		// and the device draws them.
		ok := func(s string) bool {
			return strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == ""
		}
		if id == "" || len(id) > 64 || !ok(id) || len(nonce) < 16 || len(nonce) > 64 || !ok(nonce) {
			return
		}
		body := []byte(h)
		signed := Sign(key, id, "POST", "/v1/push/device/answer", time.Unix(ts, 0), nonce, body)
		sig, err := ParseAuthorization(signed)
		if err != nil || sig.DeviceID != id || sig.Nonce != nonce || sig.Time.Unix() != ts {
			t.Fatalf("Sign(%q, %d, %q) = %q reads back as %+v, %v", id, ts, nonce, signed, sig, err)
		}
		pub := key.Public().(ed25519.PublicKey)
		if !sig.Verify(pub, "POST", "/v1/push/device/answer", body) {
			t.Fatalf("Sign(%q, %d, %q) does not verify", id, ts, nonce)
		}
		if sig.Verify(pub, "POST", "/v1/push/device/answer?x", body) || sig.Verify(pub, "PUT", "/v1/push/device/answer", body) || sig.Verify(pub, "POST", "/v1/push/device/answer", append(body, 0)) {
			t.Fatalf("Sign(%q, %d, %q) verifies for another request", id, ts, nonce)
		}
	})
}
