package core

import (
	"context"
	"crypto/hmac"
	"fmt"
	"strings"
	"time"

	"github.com/twofold/twofold"
)

// PasswordResetStore keeps the mailed links that let a holder who forgot
// their password choose a new one.
type PasswordResetStore interface {
	// PutPasswordReset stores a link beside the account's links before,
	// then drops the account's lapsed links and all but its newest keep.
	PutPasswordReset(ctx context.Context, r twofold.PasswordReset, keep int) error
	// PasswordReset returns the unexpired link with id; another is not-found.
	PasswordReset(ctx context.Context, id string, now time.Time) (twofold.PasswordReset, error)
	// UsePasswordReset deletes the unexpired link with id and hash,
	// reporting whether it did: of any number of callers, one does.
	UsePasswordReset(ctx context.Context, id string, hash []byte, now time.Time) (bool, error)
	// DeletePasswordResets deletes every link of the account.
	DeletePasswordResets(ctx context.Context, accountID string) error
}

// PasswordResetTTL is how long a mailed password-reset link works.
const PasswordResetTTL = 30 * time.Minute

// passwordResetLinks is how many unexpired links an account keeps: a new
// request leaves the links already mailed working (else a stranger who
// knows the username could void the holder's link every time the mail
// ration refills), and drops the oldest beyond these. It is as many as the
// account's ration of mails (resetMailBurst, then one every
// 1/resetMailRate seconds) lets be made while one link lives
// (PasswordResetTTL): the link itself, the burst's others, and those that
// refill in its 30 minutes but the one that comes as it lapses; so no
// request prunes a link before it lapses. Using any one voids them all.
const passwordResetLinks = resetMailBurst + int(float64(PasswordResetTTL/time.Second)*resetMailRate) - 1

// How often one address may ask for links (whatever the names it types),
// and how often one account is mailed one: a burst, then one every so many
// seconds. The first keeps a stranger from mailing every account; the second
// keeps one holder's mailbox from being flooded.
const (
	resetAskBurst, resetAskRate   = 5, 1.0 / 60
	resetMailBurst, resetMailRate = 3, 1.0 / 900
)

// resetMethods are the second factors that confirm a password reset: those
// a holder can answer without a session or a login, by typing a code. Not
// an email code: the link itself came by mail, and an email factor's
// address may be the account's own, an alias of it (a "+tag", a dot) or a
// mailbox that forwards there, so that whoever reads the account's mail
// could get both; a mailbox alone must change nothing.
var resetMethods = map[twofold.Method]bool{
	twofold.MethodTOTP: true, twofold.MethodHOTP: true, twofold.MethodSMS: true,
	twofold.MethodRecoveryCode: true, twofold.MethodPaperKey: true,
}

func resetScope(id string) string { return "reset:" + id }

// SetLinkBase sets the server's public URL, which starts the links the
// service mails: the configured base URL, or a loopback listener's address;
// never a request's Host header, which anyone can set: a mailed link must
// lead to this server. "" (a server on a public address without a base URL,
// which may sit behind a TLS proxy) mails no links. Call it before the
// service handles requests.
func (s *Service) SetLinkBase(u string) { s.linkBase = strings.TrimRight(u, "/") }

// PasswordResetByMail reports whether this server can mail password-reset
// links: it sends mail, and knows its public address.
func (s *Service) PasswordResetByMail() bool {
	return s.EmailChangeByMail() && s.linkBase != ""
}

// RequestPasswordReset mails a link to choose a new password to the holder
// of the account named username, if there is one and it has an address. The
// answer is the same whether or not there is, and comes before the account
// is even looked up, so that neither it nor its timing tells the caller who
// has an account.
func (s *Service) RequestPasswordReset(ctx context.Context, username string, m Meta) error {
	if err := ValidateUsername(username); err != nil {
		return err
	}
	if !s.EmailChangeByMail() {
		return twofold.Errorf(twofold.CodeUnavailable, "this server sends no mail, so it cannot send a link: ask an operator to help you back in")
	}
	if s.linkBase == "" {
		return twofold.Errorf(twofold.CodeUnavailable, "this server does not know its public address (--base-url), so it cannot send a link: ask an operator to help you back in")
	}
	ok, err := s.store.TakeToken(ctx, "password-reset:"+sourceKey(m.Source), resetAskBurst, resetAskRate, s.Now())
	if err != nil {
		return err
	}
	if !ok {
		s.auditRefused(ctx, "password-reset", sourceKey(m.Source), "", "password.reset_throttled", m, "address over its rate of password-reset requests")
		return throttled(time.Duration(float64(time.Second)/resetAskRate), "")
	}
	s.later(func(ctx context.Context) {
		if err := s.mailPasswordReset(ctx, username, m); err != nil {
			s.log.Error("password-reset link not sent", "err", err)
		}
	})
	return nil
}

// mailPasswordReset makes a new link for the account named username, beside
// the links mailed before (up to passwordResetLinks), and mails it.
func (s *Service) mailPasswordReset(ctx context.Context, username string, m Meta) error {
	a, found, _, err := s.accountForLogin(ctx, username)
	if err != nil {
		return err
	}
	if !found {
		// Recorded all the same, under no account: /metrics counts events
		// by type, and readers of it must not learn which names exist.
		s.audit(ctx, "", "password.reset_requested", m, "not sent: no account has that name")
		return nil
	}
	if a.Email == "" || a.Suspended {
		why := "not sent: the account has no email address"
		if a.Suspended {
			why = "not sent: the account is suspended"
		}
		s.audit(ctx, a.ID, "password.reset_requested", m, why)
		return nil
	}
	now := s.Now()
	if ok, err := s.store.TakeToken(ctx, "password-reset-mail:"+a.ID, resetMailBurst, resetMailRate, now); err != nil || !ok {
		if err == nil {
			s.audit(ctx, a.ID, "password.reset_requested", m, "not sent: links were mailed moments ago")
		}
		return err
	}
	id, err := s.newID()
	if err != nil {
		return err
	}
	secret, err := s.randomString(32)
	if err != nil {
		return err
	}
	token := id + "." + secret
	r := twofold.PasswordReset{ID: id, AccountID: a.ID, TokenHash: s.hasher.Sum("password-reset", token),
		CreatedAt: now, ExpiresAt: now.Add(PasswordResetTTL)}
	if err := s.store.PutPasswordReset(ctx, r, passwordResetLinks); err != nil {
		return err
	}
	enabled, err := s.twoFactorEnabled(ctx, a.ID)
	if err != nil {
		return err
	}
	also := ""
	if enabled {
		also = "\nYou will also need a code from one of your authenticators, a recovery code or your paper key.\n"
	}
	body := fmt.Sprintf("Hello %s,\n\nSomeone asked to reset the password of your %s account from %s.\n"+
		"To choose a new password, open this link within %d minutes:\n\n    %s/password-reset/%s\n%s\n"+
		"If you did not ask for this, ignore this mail: your password stays as it is, and the link lapses.\n"+
		"Never forward this mail: the link is a way into your account.\n\n-- %s\n",
		a.Username, s.cfg.Issuer, CleanText(m.Source, 64), int(PasswordResetTTL/time.Minute), s.linkBase, token, also, s.cfg.Issuer)
	if err := s.codeMail.EnqueueCode(ctx, a.Email, s.cfg.Issuer+": reset your password", body, r.Mailed(), r.ExpiresAt); err != nil {
		return fmt.Errorf("queue password-reset mail: %w", err)
	}
	s.audit(ctx, a.ID, "password.reset_requested", m, "link mailed")
	return nil
}

// errResetLinkGone answers a password-reset link that is unknown, lapsed or
// used.
func errResetLinkGone() error {
	return twofold.Errorf(twofold.CodeLoginExpired, "this password-reset link has lapsed or was used: ask for a new one")
}

// resetLink returns the unexpired link of token.
func (s *Service) resetLink(ctx context.Context, token string) (twofold.PasswordReset, error) {
	id, _, ok := strings.Cut(token, ".")
	if !ok || len(token) > 128 || !wellFormedID(id) {
		return twofold.PasswordReset{}, errResetLinkGone()
	}
	r, err := s.store.PasswordReset(ctx, id, s.Now())
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return r, errResetLinkGone()
	}
	if err != nil {
		return r, err
	}
	if !hmac.Equal(r.TokenHash, s.hasher.Sum("password-reset", token)) {
		return twofold.PasswordReset{}, errResetLinkGone()
	}
	return r, nil
}

// resetAccount returns the unexpired link of token and its account, which
// must not be suspended.
func (s *Service) resetAccount(ctx context.Context, token string) (twofold.PasswordReset, twofold.Account, error) {
	r, err := s.resetLink(ctx, token)
	if err != nil {
		return r, twofold.Account{}, err
	}
	a, err := s.store.AccountByID(ctx, r.AccountID)
	if err != nil {
		return r, a, err
	}
	if a.Suspended {
		return r, a, errSuspended()
	}
	return r, a, nil
}

// PasswordResetForm is what the holder of a password-reset link is asked
// for besides the new password.
type PasswordResetForm struct {
	Username string
	// SecondFactor reports whether the account has two-factor on, so that
	// a second factor must confirm the new password; Methods are those
	// that can.
	SecondFactor bool
	Methods      []MethodOption
	// CodesRefused reports whether the account reached the hard cap of
	// wrong codes (HardCap): no code can confirm the reset, so Methods
	// holds none, only a recovery code and the paper key, until one of
	// those (or an SSH key or a security key at a sign-in) passes, or an
	// operator unlocks the account.
	CodesRefused bool
	ExpiresAt    time.Time
}

// CheckPasswordReset returns what completing the reset of token needs,
// without using the link.
func (s *Service) CheckPasswordReset(ctx context.Context, token string, m Meta) (PasswordResetForm, error) {
	if err := s.allowSource(ctx, m); err != nil {
		return PasswordResetForm{}, err
	}
	r, a, err := s.resetAccount(ctx, token)
	if err != nil {
		return PasswordResetForm{}, err
	}
	all, err := s.methods(ctx, a.ID)
	if err != nil {
		return PasswordResetForm{}, err
	}
	f := PasswordResetForm{Username: a.Username, ExpiresAt: r.ExpiresAt}
	if f.SecondFactor, err = s.twoFactorEnabled(ctx, a.ID); err != nil {
		return f, err
	}
	// At the hard cap no code passes, whatever is typed: offering one
	// would send the holder, whose codes a stranger with the password
	// locked, to a way that cannot work, and a text that cannot be used.
	if f.CodesRefused, err = s.codesCapped(ctx, a.ID); err != nil {
		return f, err
	}
	for _, o := range all {
		if resetMethods[o.Method] && o.Usable() && !(f.CodesRefused && CodeMethod(o.Method)) {
			f.Methods = append(f.Methods, o)
		}
	}
	return f, nil
}

// ChallengePasswordReset sends a code that confirms the reset of token to
// one of the account's sms or email factors.
func (s *Service) ChallengePasswordReset(ctx context.Context, token string, method twofold.Method, factorID string, m Meta) (Challenge, error) {
	if err := checkSendMethod(method, factorID, "sms or email"); err != nil {
		return Challenge{}, err
	}
	if !resetMethods[method] {
		return Challenge{}, errResetByEmail()
	}
	if err := s.allowSource(ctx, m); err != nil {
		return Challenge{}, err
	}
	r, a, err := s.resetAccount(ctx, token)
	if err != nil {
		return Challenge{}, err
	}
	if err := s.refuseSendAtCap(ctx, a.ID, method, "password reset", m); err != nil {
		return Challenge{}, err
	}
	return s.sendTo(ctx, a, method, factorID, resetScope(r.ID), "", time.Time{}, m)
}

// CompletePasswordReset sets the password of the account of token's link
// to password, and uses the link up, with every other link of the
// account. On an account with two-factor on, p
// must pass the second step first: a mailbox alone does not open the
// account, nor change its password. It signs the account out everywhere,
// clears the password's failure counters (a stranger's wrong guesses no
// longer slow the holder down) and tells the holder. The holder then signs
// in as always, second step included.
func (s *Service) CompletePasswordReset(ctx context.Context, token, password string, p SecondFactor, m Meta) error {
	if err := s.allowSource(ctx, m); err != nil {
		return err
	}
	r, a, err := s.resetAccount(ctx, token)
	if err != nil {
		return err
	}
	if err := s.screenPassword(password, a.Username, a.Email); err != nil {
		return twofold.Errorf(twofold.CodeInvalid, "new %s", twofold.ErrorMessage(err)).On("password")
	}
	enabled, err := s.twoFactorEnabled(ctx, a.ID)
	if err != nil {
		return err
	}
	if enabled {
		if err := checkResetProof(&p, r.ID); err != nil {
			return err
		}
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	// One transaction: the second factor is spent only with the link and
	// the password change, and a refused one is committed with its
	// throttle slot and audit event, and nothing else.
	var answer error
	err = s.inTx(ctx, func(ctx context.Context) error {
		answer = nil
		if enabled {
			if err := s.store.LockSecondStep(ctx, a.ID, p.FactorID, "", codeMethod(p.Method)); err != nil {
				return err
			}
			// On the account's usual counters: a link adds no guesses to
			// what the second step allows.
			if err := s.checkSecondFactor(ctx, a.ID, p, m, "password reset"); err != nil {
				if isInternal(err) {
					return err
				}
				answer = err
				if twofold.ErrorCode(err) == twofold.CodeThrottled && CodeMethod(p.Method) {
					// The hard cap's answer names the ways past it that
					// a reset takes, not an SSH key or a security key.
					if capped, cerr := s.codesCapped(ctx, a.ID); cerr == nil && capped {
						answer = throttled(maxRetryAfter, s.resetCapMessage(ctx, a.ID))
					}
				}
				return nil
			}
		}
		used, err := s.store.UsePasswordReset(ctx, r.ID, r.TokenHash, s.Now())
		if err != nil {
			return err
		}
		if !used {
			return errResetLinkGone()
		}
		// The other links mailed to the account go with the one used.
		if err := s.store.DeletePasswordResets(ctx, a.ID); err != nil {
			return err
		}
		ok, err := s.store.ReplacePasswordHash(ctx, a.ID, a.PasswordHash, hash)
		if err != nil {
			return err
		}
		if !ok {
			return twofold.Errorf(twofold.CodeConflict, "the password was changed meanwhile: sign in with it, or ask for a new link")
		}
		if _, err := s.store.EndSessions(ctx, a.ID); err != nil {
			return err
		}
		if _, err := s.store.ResetThrottlePrefix(ctx, s.passwordPrefix(a.Username)); err != nil {
			return err
		}
		detail := "with a mailed link; every session signed out"
		if enabled {
			detail += "; confirmed by " + string(p.Method)
		}
		s.audit(ctx, a.ID, "password.reset", m, detail)
		s.warn(ctx, a.ID, "your password was reset", footerNewPassword,
			"The password of your account was reset with a link mailed to you, and every session was signed out.", origin(m), s.keysStillWork())
		return nil
	})
	if err != nil {
		return err
	}
	return answer
}

// errResetByEmail refuses an email code as the proof of a reset.
func errResetByEmail() error {
	return twofold.Errorf(twofold.CodeInvalid, "an email code cannot confirm a password reset, as the link came by mail: use an authenticator, a text message, a recovery code or the paper key").On("method")
}

// checkResetProof checks the form of the second factor p that confirms
// the password reset resetID, and scopes it to that reset.
func checkResetProof(p *SecondFactor, resetID string) error {
	if p.Method == "" {
		return twofold.Errorf(twofold.CodeInvalid, "this account has two-factor on: give a code from an authenticator, a recovery code or the paper key (method and code)").On("method")
	}
	if p.Method == twofold.MethodEmail {
		return errResetByEmail()
	}
	if !resetMethods[p.Method] {
		return twofold.Errorf(twofold.CodeInvalid, "method must be totp, hotp, sms, recovery_code or paper_key").On("method")
	}
	if err := checkProof(*p); err != nil {
		return err
	}
	p.scope = resetScope(resetID)
	return nil
}
