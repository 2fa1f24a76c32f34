package core

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/twofold/twofold"
)

// Password length limits: NIST SP 800-63B §5.1.1 (at least 8, allow at least 64).
const (
	minPasswordLen = 8
	maxPasswordLen = 256
)

// ValidateUsername reports why username cannot be used, or nil.
func ValidateUsername(username string) error {
	if l := len(username); l < 1 || l > 64 {
		return twofold.Errorf(twofold.CodeInvalid, "username must be 1 to 64 characters").On("username")
	}
	for _, r := range username {
		if !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._-@+", r))) {
			return twofold.Errorf(twofold.CodeInvalid, "username may contain only the letters a-z and A-Z (no accents or other scripts), digits 0-9 and . _ - @ +").On("username")
		}
	}
	return nil
}

// passwordTooLong reports whether password has more than maxPasswordLen
// characters (not bytes: a password in another script is as long as one in
// ASCII). One that is can never have been set, so at sign-in it is wrong
// without being hashed.
func passwordTooLong(password string) bool {
	return len(password) > maxPasswordLen && utf8.RuneCountInString(password) > maxPasswordLen
}

// ValidatePassword reports why password cannot be used, or nil.
func ValidatePassword(password string) error {
	if !utf8.ValidString(password) || utf8.RuneCountInString(password) < minPasswordLen || passwordTooLong(password) {
		return twofold.Errorf(twofold.CodeInvalid, "password must be %d to %d characters", minPasswordLen, maxPasswordLen).On("password")
	}
	// Requests holding a NUL byte are refused at the edge (httpapi), so a
	// password with one could be set here and never typed in again.
	if strings.ContainsRune(password, 0) {
		return twofold.Errorf(twofold.CodeInvalid, "password must not contain a NUL character").On("password")
	}
	return nil
}

// NewAccount describes an account to create.
type NewAccount struct {
	Username string
	Email    string
	Password string
	Operator bool
}

// CreateAccount validates and stores a new account with an Argon2id password hash.
func (s *Service) CreateAccount(ctx context.Context, n NewAccount, m Meta) (twofold.Account, error) {
	a, err := s.newAccount(n)
	if err != nil {
		return twofold.Account{}, err
	}
	if err := s.store.CreateAccount(ctx, a); err != nil {
		return twofold.Account{}, err
	}
	s.audit(ctx, a.ID, "account.created", m, "")
	return a, nil
}

// newAccount validates n and returns the account to store, its password hashed.
func (s *Service) newAccount(n NewAccount) (twofold.Account, error) {
	if err := ValidateUsername(n.Username); err != nil {
		return twofold.Account{}, err
	}
	if n.Email != "" {
		if err := validEmail(n.Email); err != nil {
			return twofold.Account{}, err
		}
	}
	if err := s.screenPassword(n.Password, n.Username, n.Email); err != nil {
		return twofold.Account{}, err
	}
	hash, err := s.hashPassword(n.Password)
	if err != nil {
		return twofold.Account{}, fmt.Errorf("hash password: %w", err)
	}
	id, err := s.newID()
	if err != nil {
		return twofold.Account{}, err
	}
	return twofold.Account{ID: id, Username: n.Username, Email: n.Email, PasswordHash: hash, Operator: n.Operator, CreatedAt: s.Now()}, nil
}

// HasAccounts reports whether any account exists (none means first run).
func (s *Service) HasAccounts(ctx context.Context) (bool, error) { return s.store.HasAccounts(ctx) }
