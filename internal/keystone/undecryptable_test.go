package keystone_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/credentials"

	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/testenv"
)

// TestTOTPCredentialBesideUndecryptable: a TOTP credential is registered
// while another of the account's factors has a stored secret that no longer
// decrypts (bit rot, a bad restore, tampering). The check that the new
// secret is no other factor's passes that one over, as no code of it passes
// again, instead of failing with a 500; a readable factor's secret is still
// refused as a conflict. On SQLite and PostgreSQL.
func TestTOTPCredentialBesideUndecryptable(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		userID, phone := account(t, s, "uli", true)
		id := signInWithTOTP(t, s, "uli", phone) // elevated, as adding a factor needs
		add := func(fill string) (*credentials.Credential, error) {
			t.Helper()
			raw, err := otp.NewSecret(strings.NewReader(strings.Repeat(fill, 20)), 20)
			if err != nil {
				t.Fatal(err)
			}
			return credentials.Create(t.Context(), id, credentials.CreateOpts{Type: "totp", Blob: otp.EncodeSecret(raw), UserID: userID}).Extract()
		}
		if _, err := add("k"); err != nil {
			t.Fatalf("a first credential: %v", err)
		}
		fs, err := s.Store.Factors(t.Context(), userID)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if f.Label == "OpenStack TOTP" {
				s.MakeUndecryptable(t, f.ID)
			}
		}
		if _, err := add("m"); err != nil {
			t.Fatalf("a credential beside one that does not decrypt: %v", err)
		}
		_, err = credentials.Create(t.Context(), id, credentials.CreateOpts{Type: "totp", Blob: phone, UserID: userID}).Extract()
		wantStatus(t, "the phone's secret as a credential", err, http.StatusConflict)
	})
}
