package core

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/twofold/twofold"
)

type listOf map[string]bool

func (l listOf) Contains(pw string) (bool, error) {
	if pw == "unreadable list" {
		return false, errors.New("read error")
	}
	return l[pw], nil
}

// TestScreenPassword: common words and patterns with digits and symbols
// around them, the account's own name and address, and listed passwords
// are refused; long passphrases and odd strings pass.
func TestScreenPassword(t *testing.T) {
	s := &Service{cfg: Config{Issuer: "Acme Cloud"}, log: slog.New(slog.DiscardHandler),
		passwords: listOf{"Tr0ub4dor&3x": true}}
	refused := map[string]string{
		"short":                "abc12",
		"word":                 "password",
		"word and digits":      "Password123",
		"leet and symbols":     "P@ssw0rd1!",
		"symbols around":       "!!welcome2024!!",
		"digits only":          "12345678",
		"symbols only":         "!!!!!!!!!!",
		"descending digits":    "87654321",
		"keyboard row":         "qwertyuiop",
		"keyboard backwards":   "lkjhgfdsa",
		"keyboard and digits":  "Qwerty123456",
		"alphabet":             "abcdefgh",
		"one character":        "aaaaaaaaaa",
		"two repeated":         "abababab",
		"four repeated":        "abcdabcdabcd",
		"the issuer":           "acme cloud2024",
		"the username":         "xalice1990x",
		"the username in caps": "ALICE-is-here",
		"the username in leet": "al1ce in wonderland",
		"the email's local":    "mybob.smith!",
		"listed":               "Tr0ub4dor&3x",
	}
	for name, pw := range refused {
		t.Run("refuses "+name, func(t *testing.T) {
			if err := s.screenPassword(pw, "alice", "Bob.Smith@example.com"); twofold.ErrorCode(err) != twofold.CodeInvalid {
				t.Errorf("screenPassword(%q) = %v, want invalid", pw, err)
			}
		})
	}
	for _, pw := range []string{
		"correct horse battery staple", "Tr0ub4dor&3", "zebra lantern 42", "mxyzptlk-8", "twofold bench password",
		"passwords are hard to pick", "qwerty-tulip-owl", "alpine meadow 77", "unreadable list",
	} {
		if err := s.screenPassword(pw, "alice", "Bob.Smith@example.com"); err != nil {
			t.Errorf("screenPassword(%q) = %v, want nil", pw, err)
		}
	}
	// A short name is no rule: "al" would refuse half the dictionary.
	if err := s.screenPassword("always a long passphrase", "al", "al@example.com"); err != nil {
		t.Errorf("a two-letter name refuses %v", err)
	}
}
