package httpapi_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/testenv"
)

// TestQRLabelOneColon: zbarimg reads the enrolment QR code of a server whose
// issuer holds spaces and '&', for a username with '+', '@' and '.', and the
// otpauth:// label has exactly one colon (literal or %3A), between issuer and
// account, as apps that split it at the first colon need (Key Uri Format).
// An issuer with a colon is refused by the configuration (config.Validate),
// and a username cannot hold one (core.ValidateUsername).
func TestQRLabelOneColon(t *testing.T) {
	const issuer, username = "Acme Cloud & Co", "alice+ops@example.com"
	eachStoreWith(t, []testenv.ServerOption{func(c *config.Config) { c.Issuer = issuer }}, func(t *testing.T, s *testenv.Server) {
		if _, err := s.Service.CreateAccount(context.Background(), core.NewAccount{Username: username, Email: "alice@example.com", Password: password}, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		c := login(t, s, username)
		r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "phone"})
		if r.Status != 201 {
			t.Fatalf("enrol: got %d %s", r.Status, r.Body)
		}
		qr := c.Do(t, "GET", r.String("qr_png_url"), nil)
		if qr.Status != 200 {
			t.Fatalf("qr: got %d", qr.Status)
		}
		uri := zbarimg(t, qr.Body)
		if uri != r.String("otpauth_uri") {
			t.Fatalf("QR code reads %q, want %q", uri, r.String("otpauth_uri"))
		}
		label, _, _ := strings.Cut(strings.TrimPrefix(uri, "otpauth://totp/"), "?")
		decoded, err := url.PathUnescape(label)
		if err != nil {
			t.Fatalf("label %q: %v", label, err)
		}
		if n := strings.Count(decoded, ":"); n != 1 {
			t.Fatalf("label %q holds %d colons, want 1", label, n)
		}
		if got, want := decoded, issuer+":"+username; got != want {
			t.Errorf("label reads %q, want %q", got, want)
		}
		k, err := otp.ParseURI(uri)
		if err != nil || k.Issuer != issuer || k.Account != username {
			t.Errorf("ParseURI: got issuer %q account %q (%v), want %q %q", k.Issuer, k.Account, err, issuer, username)
		}
	})
}
