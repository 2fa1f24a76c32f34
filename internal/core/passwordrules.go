package core

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/twofold/twofold"
)

// Screening a new password (NIST SP 800-63B §3.1.1.2): besides its length,
// a password is refused when it is a common word or a pattern with a few
// digits or symbols around it, or short and of digits and symbols alone,
// when it holds the account's name or the local part of its address as a
// word, and when the operator's list of passwords known to
// attackers (Config via Options.Passwords, internal/blocklist) holds it. No
// rule asks for a mix of character classes: length and the list do more.

// PasswordList is a list of passwords known to attackers.
type PasswordList interface {
	// Contains reports whether password is in the list.
	Contains(password string) (bool, error)
}

// commonWords are the words that stand at the core of the most common
// passwords, once the digits and symbols around them are taken away and
// digits standing for letters read as letters ("P@ssw0rd1!" is "password").
var commonWords = []string{
	"password", "passwort", "passwd", "pass", "letmein", "welcome", "admin", "administrator", "login",
	"iloveyou", "monkey", "dragon", "master", "sunshine", "princess", "football", "baseball", "soccer",
	"shadow", "superman", "batman", "trustno", "changeme", "secret", "default", "guest", "root", "test",
	"hello", "freedom", "whatever", "qwerty", "qwertz", "azerty", "abc", "user", "love", "god", "summer",
	"winter", "spring", "autumn", "january", "december", "starwars", "pokemon", "computer", "internet",
}

// keyboardRuns are the rows and runs of keys that walked along make easy
// passwords; a password that is part of one, either way, is refused.
var keyboardRuns = []string{
	"1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "qwertzuiop", "yxcvbnm", "azertyuiop", "wxcvbn",
	"abcdefghijklmnopqrstuvwxyz", "1qaz2wsx3edc4rfv5tgb", "qazwsxedcrfvtgbyhn",
}

// leet reads digits and symbols standing for letters as those letters.
var leet = strings.NewReplacer("0", "o", "1", "i", "3", "e", "4", "a", "5", "s", "7", "t", "@", "a", "$", "s", "!", "i", "|", "l")

// screenPassword reports why password cannot be the password of the
// account named username with address email, or nil.
func (s *Service) screenPassword(password, username, email string) error {
	if err := ValidatePassword(password); err != nil {
		return err
	}
	folded := strings.ToLower(password)
	if easyPattern(folded) {
		return twofold.Errorf(twofold.CodeInvalid, "password is too easy to guess: a run of keys, letters or digits, or a few characters repeated").On("password")
	}
	bare := strings.TrimFunc(folded, func(r rune) bool { return !unicode.IsLetter(r) })
	if bare == "" && utf8.RuneCountInString(folded) < minBareSymbols {
		return twofold.Errorf(twofold.CodeInvalid, "password is too easy to guess: of digits and symbols alone, it needs at least %d of them", minBareSymbols).On("password")
	}
	// A common word with a few digits or symbols around it; many around
	// it make a password as strong as they are.
	core := leet.Replace(bare)
	if bare != "" && utf8.RuneCountInString(folded)-utf8.RuneCountInString(bare) <= maxAround &&
		(slices.Contains(commonWords, core) || core == strings.ToLower(s.cfg.Issuer) || easyPattern(core)) {
		return twofold.Errorf(twofold.CodeInvalid, "password is too easy to guess: a common word or pattern with digits or symbols around it").On("password")
	}
	words := append(letterRuns(folded), letterRuns(leet.Replace(folded))...)
	local, _, _ := strings.Cut(strings.ToLower(email), "@")
	for _, own := range append(letterRuns(strings.ToLower(username)), letterRuns(local)...) {
		if utf8.RuneCountInString(own) >= 4 && slices.Contains(words, own) {
			return twofold.Errorf(twofold.CodeInvalid, "password must not contain the account's name or email address").On("password")
		}
	}
	if s.passwords != nil {
		listed, err := s.passwords.Contains(password)
		if err != nil {
			s.log.Error("password blocklist unreadable: a password was screened without it", "err", err)
		} else if listed {
			return twofold.Errorf(twofold.CodeInvalid, "password is in a list of passwords known to attackers from breaches: choose another").On("password")
		}
	}
	return nil
}

// minBareSymbols is how long a password of digits and symbols alone must
// be; maxAround is how many digits and symbols around a common word still
// make an easy password of it ("Password2024!" has five).
const (
	minBareSymbols = 12
	maxAround      = 8
)

// letterRuns splits s into its runs of letters: the words a name in it
// would stand as ("alice" in "alice1990!", not "mark" in "remarkable").
func letterRuns(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) })
}

// easyPattern reports whether p (lower case) is a few characters repeated,
// or part of a keyboard run or of the alphabet or digits in either
// direction.
func easyPattern(p string) bool {
	r := []rune(p)
	for unit := 1; unit <= 4 && unit < len(r); unit++ {
		if len(r)%unit == 0 && strings.Repeat(string(r[:unit]), len(r)/unit) == p {
			return true
		}
	}
	if len(r) < 4 {
		return false
	}
	back := []rune(p)
	slices.Reverse(back)
	for _, run := range keyboardRuns {
		if strings.Contains(run, p) || strings.Contains(run, string(back)) {
			return true
		}
	}
	return false
}

// listedWarnEvery is how often a holder signing in with a password in the
// list hears of it.
const listedWarnEvery = 7 * 24 * time.Hour

// warnIfListed tells the holder of account a, after the sign-in is
// answered, that the password just used is in the list of passwords known
// to attackers: set before the list was given, or listed since. At most
// once every listedWarnEvery, on the record as password.listed.
func (s *Service) warnIfListed(a twofold.Account, password string, m Meta) {
	if s.passwords == nil {
		return
	}
	s.later(func(ctx context.Context) {
		listed, err := s.passwords.Contains(password)
		if err != nil {
			s.log.Error("password blocklist unreadable", "err", err)
			return
		}
		if !listed {
			return
		}
		// The last warning is on the record (a counter would be swept
		// after a day); only sign-ins with a listed password look.
		last, err := s.store.QueryEvents(ctx, twofold.EventQuery{AccountID: a.ID, Types: []string{"password.listed"}, Limit: 1})
		if err != nil || len(last) > 0 && s.Now().Sub(last[0].At) < listedWarnEvery {
			return
		}
		s.audit(ctx, a.ID, "password.listed", m, "the password used to sign in is in the list of passwords known to attackers")
		s.notify(ctx, a.ID, "change your password: it is known to attackers",
			"You signed in with a password that is in a list of passwords known to attackers from breaches of other sites. Anyone may try it.",
			"Change it now, on your security page, to one you use nowhere else.")
	})
}
