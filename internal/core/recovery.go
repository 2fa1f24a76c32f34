package core

import (
	"context"
	"strings"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/permit"
)

// RecoveryCodeCount is how many recovery codes a set holds (SPEC §2).
const RecoveryCodeCount = 10

// newRecoveryCodes returns 10 codes of 80 random bits each (SPEC §2: ≥ 64),
// grouped for reading, and their keyed hashes.
func (s *Service) newRecoveryCodes() (codes []string, hashes [][]byte, err error) {
	for range RecoveryCodeCount {
		raw, err := s.randomString(10) // 16 base32 characters
		if err != nil {
			return nil, nil, err
		}
		codes = append(codes, group(raw, 4))
		hashes = append(hashes, s.hasher.Sum("recovery", raw))
	}
	return codes, hashes, nil
}

// newPaperKey returns a paper key of 160 random bits, grouped for writing down.
func (s *Service) newPaperKey() (string, error) {
	raw, err := s.randomString(20) // 32 base32 characters
	if err != nil {
		return "", err
	}
	return group(raw, 4), nil
}

func group(s string, n int) string {
	var parts []string
	for len(s) > n {
		parts = append(parts, s[:n])
		s = s[n:]
	}
	return strings.Join(append(parts, s), "-")
}

// RegenerateRecoveryCodes voids the account's recovery codes and returns a new
// set; it needs an elevated session (SPEC §1 story 5).
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, a Auth, m Meta) ([]string, error) {
	if err := person(a); err != nil {
		return nil, err
	}
	// Without a factor there is nothing to elevate with: say what to do.
	enabled, err := s.twoFactorEnabled(ctx, a.Account.ID)
	if err != nil {
		return nil, err
	}
	if !enabled {
		return nil, twofold.Errorf(twofold.CodeInvalid, "enable two-factor before generating recovery codes")
	}
	if err := s.requireElevation(a); err != nil {
		return nil, err
	}
	codes, hashes, err := s.newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	// In one transaction, which checks first that the session still
	// stands (WithCaller): a session signed out meanwhile replaces nothing.
	err = s.inTx(ctx, func(ctx context.Context) error {
		if err := s.store.ReplaceRecoveryCodes(ctx, a.Account.ID, hashes, s.Now()); err != nil {
			return err
		}
		s.audit(ctx, a.Account.ID, "recovery_codes.regenerated", m, "")
		s.notify(ctx, a.Account.ID, "new recovery codes", "A new set of recovery codes was generated; the old codes no longer work.", origin(m))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

func (s *Service) twoFactorEnabled(ctx context.Context, accountID string) (bool, error) {
	fs, err := s.store.Factors(ctx, accountID)
	if err != nil {
		return false, err
	}
	for _, f := range fs {
		if f.Status == twofold.FactorActive {
			return true, nil
		}
	}
	return false, nil
}

// Profile is what GET /v1/me shows.
type Profile struct {
	Account                twofold.Account
	Enabled                bool
	Required               bool
	RecoveryCodesRemaining int
	// PaperKey reports whether the account has a paper key. The key itself
	// was shown once and is kept only as a hash.
	PaperKey bool
	Factors  []twofold.Factor
	Elevated bool
	Reset    *twofold.TwoFactorReset // an operator's reset waiting, if any
	// RequiredBy names the caller's teams that require two-factor: login
	// asks for the second step whatever Account.TwoFactorRequired says.
	RequiredBy []string
	// RequiredByUser is the account's own setting, whatever its teams
	// require (TwoFactorPolicy).
	RequiredByUser bool
}

// TwoFactorPolicy says whether login asks an account for the second step
// (SPEC §3.1 two_factor.required), and why.
type TwoFactorPolicy struct {
	// Enabled reports whether the account has an active factor.
	Enabled bool
	// Required reports whether login asks for the second step: the
	// account's own setting (RequiredByUser), or a team's policy
	// (RequiredBy) once it has an active factor.
	Required bool
	// RequiredByUser is the account's own setting (PUT /v1/me/two-factor),
	// whatever its teams require.
	RequiredByUser bool
	// RequiredBy names the account's teams that require two-factor.
	RequiredBy []string
}

// twoFactorPolicy returns account a's policy; fs are its factors.
func (s *Service) twoFactorPolicy(ctx context.Context, a twofold.Account, fs []twofold.Factor) (TwoFactorPolicy, error) {
	p := TwoFactorPolicy{RequiredByUser: a.TwoFactorRequired}
	for _, f := range fs {
		p.Enabled = p.Enabled || f.Status == twofold.FactorActive
	}
	var err error
	if p.RequiredBy, err = s.teamsRequiring(ctx, a.ID); err != nil {
		return TwoFactorPolicy{}, err
	}
	p.Required = p.RequiredByUser || len(p.RequiredBy) > 0 && p.Enabled
	return p, nil
}

// Me returns the caller's profile.
func (s *Service) Me(ctx context.Context, a Auth) (Profile, error) {
	if !a.Allows(permit.Account, "*", permit.Read) {
		return Profile{}, twofold.Errorf(twofold.CodeForbidden, "this API key may not read the account: it needs the permit %q", "account * read")
	}
	fs, err := s.Factors(ctx, a.Account.ID)
	if err != nil {
		return Profile{}, err
	}
	n, err := s.store.RecoveryCodesRemaining(ctx, a.Account.ID)
	if err != nil {
		return Profile{}, err
	}
	pk, err := s.store.PaperKeyHash(ctx, a.Account.ID)
	if err != nil {
		return Profile{}, err
	}
	tf, err := s.twoFactorPolicy(ctx, a.Account, fs)
	if err != nil {
		return Profile{}, err
	}
	p := Profile{Account: a.Account, Enabled: tf.Enabled, Required: tf.Required, RequiredBy: tf.RequiredBy, RequiredByUser: tf.RequiredByUser,
		RecoveryCodesRemaining: n, PaperKey: pk != nil, Factors: fs, Elevated: a.Elevated(s.Now())}
	r, found, err := s.store.TwoFactorReset(ctx, a.Account.ID)
	if err != nil {
		return Profile{}, err
	}
	if found {
		r.RequestedBy = publicName(r.RequestedBy)
		p.Reset = &r
	}
	return p, nil
}

// SetTwoFactorRequired turns the second step at login on or off. Turning it on
// needs an active factor; turning it off needs an elevated session (SPEC §3.1).
// It says whether anything changed: asking for what is so already writes,
// audits and tells nothing.
func (s *Service) SetTwoFactorRequired(ctx context.Context, a Auth, required bool, m Meta) (changed bool, err error) {
	if err := person(a); err != nil {
		return false, err
	}
	enabled, err := s.twoFactorEnabled(ctx, a.Account.ID)
	if err != nil {
		return false, err
	}
	if required && !enabled {
		return false, twofold.Errorf(twofold.CodeInvalid, "confirm an authenticator before requiring two-factor")
	}
	if !required {
		teams, err := s.teamsRequiring(ctx, a.Account.ID)
		if err != nil {
			return false, err
		}
		if len(teams) > 0 {
			return false, errTeamRequires(teams, "two-factor login stays on while you are a member")
		}
	}
	if !required && a.Account.TwoFactorRequired {
		if err := s.requireElevation(a); err != nil {
			return false, err
		}
	}
	typ := "two_factor.required"
	if !required {
		typ = "two_factor.not_required"
	}
	// In one transaction, which checks first that the session still
	// stands (WithCaller).
	err = s.inTx(ctx, func(ctx context.Context) error {
		var err error
		if changed, err = s.store.SetTwoFactorRequired(ctx, a.Account.ID, required); err != nil || !changed {
			return err
		}
		if !required && !a.Account.TwoFactorRequired {
			// Turned on since the caller's account was read: turning it
			// off needs the elevation checked above for that case.
			if err := s.requireElevation(a); err != nil {
				return err
			}
		}
		s.audit(ctx, a.Account.ID, typ, m, "")
		if !required {
			s.notify(ctx, a.Account.ID, "two-factor login was turned off", "Logging in to your account no longer asks for a second factor. Sensitive changes still do.", origin(m))
		}
		return nil
	})
	return changed && err == nil, err
}
