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
		"the username":         "alice1990!",
		"short digits":         "19900101",
		"date around a word":   "password19900101",
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
	// Strong passwords the rules must not catch: long digits and symbols,
	// a short word in much else, a name inside a longer word.
	for _, tc := range []struct{ pw, username, email string }{
		{"90210473829104738291", "alice", ""},
		{"#8&1(4)0=2%7@3*5$", "alice", ""},
		{"4829 1736 5502 9184 3307", "alice", ""},
		{"48291736550291843307abc", "alice", ""},
		{"7391-2847-5510 love 2938-4471", "alice", ""},
		{"remarkable orange tractor", "mark", ""},
		{"understand the constant hum", "stan", ""},
		{"information overload tuesday", "bob", "info@example.com"},
	} {
		if err := s.screenPassword(tc.pw, tc.username, tc.email); err != nil {
			t.Errorf("screenPassword(%q) for %s <%s> = %v, want nil", tc.pw, tc.username, tc.email, err)
		}
	}
	// A short name is no rule: "al" would refuse half the dictionary.
	if err := s.screenPassword("always a long passphrase", "al", "al@example.com"); err != nil {
		t.Errorf("a two-letter name refuses %v", err)
	}
}
