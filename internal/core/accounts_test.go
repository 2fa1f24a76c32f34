package core

import (
	"strings"
	"testing"

	"github.com/twofold/twofold"
)

// TestValidatePassword: lengths in characters, valid UTF-8, and no NUL,
// which the HTTP edge refuses, so that such a password could never be
// typed in again.
func TestValidatePassword(t *testing.T) {
	for _, tc := range []struct {
		name, password string
		ok             bool
	}{
		{"long enough", "correct horse", true},
		{"eight characters, more bytes", "ééééééé1", true},
		{"too short", "short", false},
		{"too long", strings.Repeat("a", maxPasswordLen+1), false},
		{"the most characters, more bytes", strings.Repeat("é", maxPasswordLen), true},
		{"too many characters of more bytes", strings.Repeat("é", maxPasswordLen+1), false},
		{"not UTF-8", "correct \xff horse", false},
		{"a NUL", "correct \x00 horse", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidatePassword(tc.password)
			if (err == nil) != tc.ok {
				t.Fatalf("got %v, want ok %v", err, tc.ok)
			}
			if err != nil && twofold.ErrorCode(err) != twofold.CodeInvalid {
				t.Errorf("got code %q, want invalid", twofold.ErrorCode(err))
			}
		})
	}
}
