package core_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/testenv"
)

// TestWeakSecretsRefused: a secret a user or an operator gives is at least
// 128 bits, and 96 without the zero bytes at its end, which HMAC adds to a
// short key anyway: 01 and fifteen zeros is a 1-byte key, sixteen zeros the
// empty one (a random seed ends in a zero byte once in 256, and is sound). An import with such a seed is refused whole, naming the token, and
// never the secret.
func TestWeakSecretsRefused(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st := openStore(t, dsn(t))
			svc := newService(t, st, st, time.Now, nil)
			good := bytes.Repeat([]byte{0xA5}, 20)
			seed := func(serial string, secret []byte) otp.Seed {
				return otp.Seed{Serial: serial, Type: otp.TypeHOTP, Secret: secret, Params: otp.Params{Algorithm: otp.SHA1, Digits: 6}}
			}
			for _, tt := range []struct {
				name   string
				secret []byte
			}{
				{"a 1-byte key", append([]byte{1}, make([]byte, 15)...)},
				{"an 11-byte key", append(bytes.Repeat([]byte{0xA5}, 11), make([]byte, 9)...)},
				{"an all-zero secret", make([]byte, 20)},
			} {
				_, err := svc.ImportTokens(ctx, []otp.Seed{seed("GOOD1", good), seed("WEAK1", tt.secret)}, core.Meta{})
				if twofold.ErrorCode(err) != twofold.CodeInvalid {
					t.Errorf("import with %s: got %v, want invalid", tt.name, err)
					continue
				}
				if msg := twofold.ErrorMessage(err); !strings.Contains(msg, "WEAK1") {
					t.Errorf("import with %s: message %q does not name the token", tt.name, msg)
				}
				a := signedIn(t, svc, "user"+strings.NewReplacer(" ", "", "-", "").Replace(tt.name))
				if _, err := svc.AddTOTPWithSecret(ctx, a, "app", tt.secret, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInvalid {
					t.Errorf("TOTP factor with %s: got %v, want invalid", tt.name, err)
				}
			}
			if ts, err := svc.HardwareTokens(ctx, false); err != nil || len(ts) != 0 {
				t.Errorf("tokens after refused imports: got %d, %v; want none", len(ts), err)
			}
			// Zero bytes at the end of a secret long enough without them
			// are no reason to refuse it.
			padded := append(bytes.Repeat([]byte{0xA5}, 16), 0, 0, 0, 0)
			if n, err := svc.ImportTokens(ctx, []otp.Seed{seed("PADDED1", padded)}, core.Meta{}); err != nil || n.Total() != 1 {
				t.Errorf("import of 16 bytes and 4 zeros: got %d, %v; want 1", n.Total(), err)
			}
		})
	}
}

// claimedMeanwhile is a store whose claims of a token all find it claimed
// by someone else meanwhile.
type claimedMeanwhile struct{ testDB }

func (claimedMeanwhile) ClaimToken(context.Context, twofold.TokenClaim) (bool, bool, error) {
	return false, false, nil
}

// TestClaimRefusedKeepsFailedClaims: a right code for a token whose claim
// is then refused (here it was claimed meanwhile) clears none of the
// account's failed claims counted before: only a claim that goes through
// does (README "Importing hardware tokens").
func TestClaimRefusedKeepsFailedClaims(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st := openStore(t, dsn(t))
			clock := testenv.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
			svc := newService(t, claimedMeanwhile{st}, st, clock.Now, nil)
			secret := bytes.Repeat([]byte{0xA5}, 20)
			if _, err := svc.ImportTokens(ctx, []otp.Seed{{Serial: "YK-1", Type: otp.TypeHOTP, Secret: secret, Params: otp.Params{Algorithm: otp.SHA1, Digits: 6}}}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			a := signedIn(t, svc, "tina")
			right := testenv.HOTP(t, otp.EncodeSecret(secret), 1)
			wrong := "000000"
			if right == wrong {
				wrong = "111111"
			}
			if _, err := svc.ClaimToken(ctx, a, "YK-1", wrong, "fob", core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInvalidCode {
				t.Fatalf("a wrong code: got %v, want invalid-code", err)
			}
			clock.Add(time.Hour) // past the code counter's wait
			if _, err := svc.ClaimToken(ctx, a, "YK-1", right, "fob", core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInvalidCode {
				t.Fatalf("the right code, the token claimed meanwhile: got %v, want invalid-code", err)
			}
			cs, err := st.Counters(ctx, "2fa:"+a.Account.ID+":claims")
			if err != nil {
				t.Fatal(err)
			}
			if len(cs) != 1 || cs[0].Failures != 2 {
				t.Errorf("claims counted after a right code whose claim was refused: %+v, want both, none having gone through", cs)
			}
		})
	}
}
