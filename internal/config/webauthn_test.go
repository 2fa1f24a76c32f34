package config

import (
	"slices"
	"strings"
	"testing"
)

// TestWebAuthn: the relying party of security keys comes from the flags
// (or their environment variables), else from --base-url, else, on
// loopback, from localhost at the listener's port; a bad explicit setting
// fails Validate with a message naming it.
func TestWebAuthn(t *testing.T) {
	for _, tc := range []struct {
		name        string
		args        []string
		env         map[string]string
		listen      string
		wantRPID    string
		wantOrigins []string
		wantErr     string // in Validate's error and WebAuthn's
	}{
		{"loopback default", nil, nil, "127.0.0.1:41234", "localhost", []string{"http://localhost:41234"}, ""},
		{"from base-url", []string{"--base-url", "https://login.example.com/"}, nil, "0.0.0.0:8080", "login.example.com", []string{"https://login.example.com"}, ""},
		{"rp id above the origin", []string{"--base-url", "https://login.example.com", "--webauthn-rp-id", "example.com"}, nil, "0.0.0.0:8080", "example.com", []string{"https://login.example.com"}, ""},
		{"from the environment", nil, map[string]string{"TWOFOLD_WEBAUTHN_RP_ID": "example.com", "TWOFOLD_WEBAUTHN_ORIGINS": "https://a.example.com,https://b.example.com:8443"}, "0.0.0.0:8080",
			"example.com", []string{"https://a.example.com", "https://b.example.com:8443"}, ""},
		{"origin not below the rp id", []string{"--webauthn-rp-id", "example.com", "--webauthn-origins", "https://example.org"}, nil, "0.0.0.0:8080", "", nil, "neither the relying party ID"},
		{"rp id an IP address", []string{"--webauthn-rp-id", "10.0.0.5", "--webauthn-origins", "https://10.0.0.5"}, nil, "0.0.0.0:8080", "", nil, "not an IP address"},
		{"plain http off localhost", []string{"--webauthn-origins", "http://login.example.com"}, nil, "0.0.0.0:8080", "", nil, "use https"},
		{"origin with a path", []string{"--webauthn-origins", "https://example.com/login"}, nil, "0.0.0.0:8080", "", nil, "want scheme://host[:port]"},
		{"no origin to be had", nil, nil, "10.1.2.3:8080", "", nil, "set --base-url"},
		{"every address", nil, nil, "[::]:41234", "localhost", []string{"http://localhost:41234"}, ""},
		{"ipv6 loopback", nil, nil, "[::1]:41234", "localhost", []string{"http://localhost:41234"}, ""},
		// localhost does not lead to 127.0.0.2: no origin browsers could use.
		{"another loopback address", nil, nil, "127.0.0.2:8080", "", nil, "set --base-url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(t, tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			c.Listen = tc.listen
			rp, err := c.WebAuthn(tc.listen)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("WebAuthn: got %v, want an error saying %q", err, tc.wantErr)
				}
				explicit := c.WebAuthnRPID != "" || len(c.WebAuthnOrigins) > 0
				if verr := c.Validate(); explicit && (verr == nil || !strings.Contains(verr.Error(), tc.wantErr)) {
					t.Fatalf("Validate: got %v, want an error saying %q", verr, tc.wantErr)
				} else if !explicit && verr != nil {
					t.Fatalf("Validate without webauthn settings: %v (security keys are then only off)", verr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rp.RPID != tc.wantRPID || !slices.Equal(rp.Origins, tc.wantOrigins) {
				t.Fatalf("got %q %q, want %q %q", rp.RPID, rp.Origins, tc.wantRPID, tc.wantOrigins)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}
