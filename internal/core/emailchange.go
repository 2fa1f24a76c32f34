package core

import (
	"context"
	"crypto/hmac"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"golang.org/x/net/idna"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/permit"
)

// EmailChangeStore keeps changes of address waiting for the code mailed to
// the new address.
type EmailChangeStore interface {
	// PutEmailChange stores a change, replacing the account's change before.
	PutEmailChange(ctx context.Context, c twofold.EmailChange) error
	// EmailChange returns the account's unexpired change; none is not-found.
	EmailChange(ctx context.Context, accountID string, now time.Time) (twofold.EmailChange, error)
	// TakeEmailChangeCheck takes one check from the account's unexpired
	// change that has checks left, and returns it; none is not-found.
	TakeEmailChangeCheck(ctx context.Context, accountID string, now time.Time) (twofold.EmailChange, error)
	// ApplyEmailChange deletes the account's change of code hash hash and
	// gives the account its address, all or nothing; ok is false, and
	// nothing written, when that change is gone.
	ApplyEmailChange(ctx context.Context, accountID string, hash []byte) (email string, ok bool, err error)
	// SetEmail sets the account's address, for an operator, recording at
	// as when an operator last changed it.
	SetEmail(ctx context.Context, accountID, email string, at time.Time) error
	// EmailChangedByOperatorAt returns when an operator last changed the
	// account's address, or zero when none has.
	EmailChangedByOperatorAt(ctx context.Context, accountID string) (time.Time, error)
	// DeleteEmailChange deletes the account's waiting change, if any.
	DeleteEmailChange(ctx context.Context, accountID string) error
}

// EmailChangeTTL is how long the code mailed to a new address works, and
// EmailChangeChecks how many codes may be typed for it.
const (
	EmailChangeTTL    = 30 * time.Minute
	EmailChangeChecks = 5
)

// How often one account may ask for a change of address: a burst, then one
// every so many seconds, so that a session cannot be used to mail codes to
// any number of addresses.
const emailChangeBurst, emailChangeRate = 3, 1.0 / 600

// validEmail reports why address cannot be an account's address: it must be
// a bare address (no name, no angle brackets), at most 254 bytes, without
// hidden characters, with a domain mail can go to (mailableDomain).
// Characters beyond ASCII are accepted on both sides of the @ (RFC 6532); a
// local part beyond ASCII is delivered only by a mail server that offers
// SMTPUTF8 (README "Notifications").
func validEmail(address string) error {
	if a, err := mail.ParseAddress(address); err != nil || a.Address != address || len(address) > 254 || strings.IndexFunc(address, hiddenRune) >= 0 ||
		!mailableDomain(address) {
		return twofold.Errorf(twofold.CodeInvalid, "email is not a valid address").On("email")
	}
	return nil
}

// mailableDomain reports whether the domain of address is one mail can go
// to: a host name (labels of letters, digits and inner hyphens, RFC 5321
// §4.1.2, which net/mail alone does not ask: "a@ex!ample.com" parses) or
// an internationalised domain name, which mail goes to as its A-labels
// (punycode, RFC 5891), as internal/notify sends it. IDNA's lookup rules
// check both.
func mailableDomain(address string) bool {
	_, err := idna.Lookup.ToASCII(address[strings.LastIndexByte(address, '@')+1:])
	return err == nil
}

// ValidEmail reports why address cannot be an account's address (see
// validEmail), for pages that tell which field of a form was refused.
func ValidEmail(address string) error { return validEmail(address) }

// EmailChangeSent says where the code confirming a change of address went
// (masked) and until when it works.
type EmailChangeSent struct {
	SentTo    string
	ExpiresAt time.Time
}

// StartEmailChange mails a code to a new address for the caller's account
// (SPEC §1 story 5: a change of address needs a fresh second factor when
// two-factor is on), given the account's current password. The address changes only once the code comes back
// (ConfirmEmailChange), so that nobody can move the account's notices to an
// address they cannot read, nor to one that is not theirs. The current
// address is told at once.
func (s *Service) StartEmailChange(ctx context.Context, a Auth, email, password string, m Meta) (EmailChangeSent, error) {
	if err := person(a); err != nil {
		return EmailChangeSent{}, err
	}
	if err := s.requireElevationIfEnabled(ctx, a); err != nil {
		return EmailChangeSent{}, err
	}
	if email == "" {
		return EmailChangeSent{}, twofold.Errorf(twofold.CodeInvalid, "email is required").On("email")
	}
	if err := validEmail(email); err != nil {
		return EmailChangeSent{}, err
	}
	if strings.EqualFold(email, a.Account.Email) {
		return EmailChangeSent{}, twofold.Errorf(twofold.CodeInvalid, "that is the account's address already").On("email")
	}
	if !s.EmailChangeByMail() {
		return EmailChangeSent{}, twofold.Errorf(twofold.CodeUnavailable, "this server sends no mail, so it cannot confirm a new address: an operator can change it")
	}
	// The address receives the password-reset links: with it and a stolen
	// session alone, whoever holds the session would own the account.
	if err := s.checkCurrentPassword(ctx, a, password, "account.email_change_failed", m); err != nil {
		return EmailChangeSent{}, err
	}
	now := s.Now()
	if ok, err := s.store.TakeToken(ctx, "email-change:"+a.Account.ID, emailChangeBurst, emailChangeRate, now); err != nil {
		return EmailChangeSent{}, err
	} else if !ok {
		return EmailChangeSent{}, throttled(time.Duration(float64(time.Second)/emailChangeRate), "")
	}
	code, err := s.newSentCode()
	if err != nil {
		return EmailChangeSent{}, err
	}
	c := twofold.EmailChange{AccountID: a.Account.ID, Email: email, CodeHash: s.emailCodeHash(a.Account.ID, code),
		ChecksLeft: EmailChangeChecks, CreatedAt: now, ExpiresAt: now.Add(EmailChangeTTL)}
	hint := hintOf(twofold.FactorEmail, email)
	err = s.inTx(ctx, func(ctx context.Context) error {
		if err := s.store.PutEmailChange(ctx, c); err != nil {
			return err
		}
		// The address is not proven yet: it is not told whose account
		// asked for it.
		body := fmt.Sprintf("Hello,\n\nTo make this the email address of your %s account, type this code where you asked for the change:\n\n    %s\n\n"+
			"It works for %d minutes. Never share it.\nIf you did not ask for this, ignore this mail: nothing changes without the code.\n\n-- %s\n",
			s.cfg.Issuer, code, int(EmailChangeTTL/time.Minute), s.cfg.Issuer)
		if err := s.codeMail.EnqueueCode(ctx, email, s.cfg.Issuer+": confirm your new email address", body, c.Mailed(), c.ExpiresAt); err != nil {
			return fmt.Errorf("queue email-change code: %w", err)
		}
		s.audit(ctx, a.Account.ID, "account.email_change_requested", m, "to "+hint)
		s.warn(ctx, a.Account.ID, "a change of your email address was asked for", footerSignIn,
			fmt.Sprintf("Someone signed in to your account asked to change its email address to %s. It changes once the code we sent there is typed in.", hint))
		return nil
	})
	if err != nil {
		return EmailChangeSent{}, err
	}
	return EmailChangeSent{SentTo: hint, ExpiresAt: c.ExpiresAt}, nil
}

// EmailChangeByMail reports whether this server can confirm a new address:
// it sends mail.
func (s *Service) EmailChangeByMail() bool { return s.sendsMail() }

// sendsMail reports whether mail leaves this server: an SMTP server is
// set, so codes and links mailed reach someone instead of only the log.
func (s *Service) sendsMail() bool { return s.cfg.MailSent && s.codeMail != nil }

func (s *Service) emailCodeHash(accountID, code string) []byte {
	return s.hasher.Sum("email-change", accountID+":"+code)
}

// PendingEmailChange returns where the caller's waiting change of address
// goes (masked) and until when; found is false when none waits.
func (s *Service) PendingEmailChange(ctx context.Context, a Auth) (sent EmailChangeSent, found bool, err error) {
	c, err := s.store.EmailChange(ctx, a.Account.ID, s.Now())
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return sent, false, nil
	}
	if err != nil {
		return sent, false, err
	}
	return EmailChangeSent{SentTo: hintOf(twofold.FactorEmail, c.Email), ExpiresAt: c.ExpiresAt}, true, nil
}

// ConfirmEmailChange gives the caller's account the new address that code
// was mailed to, and returns it. Each change takes at most
// EmailChangeChecks codes; the old address is told of the change.
func (s *Service) ConfirmEmailChange(ctx context.Context, a Auth, code string, m Meta) (string, error) {
	if err := person(a); err != nil {
		return "", err
	}
	// Elevated again if the account has a factor now: a change asked for
	// before the first factor was confirmed (or after an operator's reset)
	// must not be finished by a session that only knew the password.
	if err := s.requireElevationIfEnabled(ctx, a); err != nil {
		return "", err
	}
	// Read as every mailed code is (normaliseCode): "628 562" and
	// "628-562" are the code. Nothing but spaces and dashes, or more than
	// a code could be, is no attempt: it spends none of the checks.
	if blankCode(code) {
		return "", twofold.Errorf(twofold.CodeInvalid, "code is required").On("code")
	}
	if code = normaliseCode(strings.TrimSpace(code)); code == "" {
		return "", twofold.Errorf(twofold.CodeInvalid, "code is the 6 digits mailed to the new address").On("code")
	}
	c, err := s.store.TakeEmailChangeCheck(ctx, a.Account.ID, s.Now())
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return "", twofold.Errorf(twofold.CodeNotFound, "no change of address is waiting, or its code has lapsed or taken too many tries: ask again")
	}
	if err != nil {
		return "", err
	}
	if !hmac.Equal(c.CodeHash, s.emailCodeHash(a.Account.ID, code)) {
		s.audit(ctx, a.Account.ID, "account.email_change_failed", m, fmt.Sprintf("wrong code (%d tries left)", c.ChecksLeft))
		return "", errBadSecondFactor()
	}
	old := a.Account.Email
	var email string
	err = s.inTx(ctx, func(ctx context.Context) error {
		var ok bool
		if email, ok, err = s.store.ApplyEmailChange(ctx, a.Account.ID, c.CodeHash); err != nil {
			return err
		}
		if !ok {
			return twofold.Errorf(twofold.CodeNotFound, "no change of address is waiting: ask again")
		}
		// A password-reset link mailed to the old address stops working.
		if err := s.store.DeletePasswordResets(ctx, a.Account.ID); err != nil {
			return err
		}
		from := "none"
		if old != "" {
			from = hintOf(twofold.FactorEmail, old)
		}
		s.audit(ctx, a.Account.ID, "account.email_changed", m, "from "+from+" to "+hintOf(twofold.FactorEmail, email))
		s.notify(ctx, a.Account.ID, "this is now your account's email address",
			"Security notices of your account now come to this address.")
		if old != "" && s.notifier != nil {
			body := s.mailBody(a.Account, s.footerText(footerSignIn), []string{fmt.Sprintf(
				"The email address of your account was changed to %s. Security notices no longer come here.", hintOf(twofold.FactorEmail, email))})
			if err := s.notifier.Enqueue(ctx, old, s.cfg.Issuer+": your email address was changed", body); err != nil {
				return fmt.Errorf("queue notice to the old address: %w", err)
			}
		}
		return nil
	})
	return email, err
}

// errOperatorEmail refuses to move another operator's address: whoever
// holds it can have that operator's password reset, so one stolen operator
// session must not reach every other operator's account (as it cannot
// suspend or delete them).
func errOperatorEmail() error {
	return twofold.Errorf(twofold.CodeForbidden, "an operator's email address is changed only by that operator, on their security page (or make the account no longer an operator first: `twofold user operator USERNAME --remove`)")
}

// SetEmailFor sets the email address of account accountID, for an operator
// (a customer who lost the old mailbox): without a mailed code, so it
// takes an operator's session with a fresh second factor. Never an API
// key: whoever holds the address can have the password reset, and the
// holder would hear of a reset of two-factor only at the new address, so a
// leaked key could take the account over. Both the old and the new address
// are told; a password-reset link or a change of address waiting is voided.
// The old address is kept for ReplacedEmailKeep and told of any reset of
// two-factor meanwhile (see replacedemail.go). It says whether the address
// changed: the account's own address, also in other capitals (as
// RequestEmailChange compares them), is left as it is, and nothing is
// written, recorded or told.
func (s *Service) SetEmailFor(ctx context.Context, op Auth, accountID, email string, m Meta) (twofold.Account, bool, error) {
	m = m.by(op)
	if op.Key != nil {
		if err := adminAllowed(op, "users", permit.Write); err != nil {
			return twofold.Account{}, false, err
		}
		// On the record of the account it aimed at, as other refusals of
		// keys are (README "Operator API"), so that operators see a leaked
		// key probing; an id that names no account is answered the same.
		if a, err := s.store.AccountByID(ctx, accountID); err == nil {
			s.keyRefused(ctx, op, a, "changing the email address: API keys never change addresses", m)
		}
		return twofold.Account{}, false, twofold.Errorf(twofold.CodeForbidden, "an API key cannot change an account's email address (whoever holds it can reset the password): an operator signed in with a fresh second factor can")
	}
	if err := s.requireAdminWrite(ctx, op, "users", "changing an account's email address"); err != nil {
		return twofold.Account{}, false, err
	}
	if email == "" {
		return twofold.Account{}, false, twofold.Errorf(twofold.CodeInvalid, "email is required").On("email")
	}
	if err := validEmail(email); err != nil {
		return twofold.Account{}, false, err
	}
	if accountID == op.Account.ID {
		// One's own address moves only with the password and a code sent
		// to the new one (RequestEmailChange), operators' included.
		return twofold.Account{}, false, twofold.Errorf(twofold.CodeForbidden, "change your own address on your security page: it takes your password and a code sent to the new address")
	}
	a, err := s.store.AccountByID(ctx, accountID)
	if err != nil {
		return twofold.Account{}, false, err
	}
	if a.Operator {
		return twofold.Account{}, false, errOperatorEmail()
	}
	if strings.EqualFold(email, a.Email) {
		a.PasswordHash = ""
		return a, false, nil
	}
	var old string
	changed := false
	err = s.inTx(locksAccount(ctx, a.ID), func(ctx context.Context) error {
		// The address as it is now, with the row held: the holder may
		// have just confirmed a change of their own, or another operator
		// (or this form, sent twice) made this change first.
		changed = false
		if err := s.store.LockAccount(ctx, a.ID); err != nil {
			return err
		}
		cur, err := s.store.AccountByID(ctx, a.ID)
		if err != nil {
			return err
		}
		if cur.Operator {
			return errOperatorEmail()
		}
		if strings.EqualFold(email, cur.Email) {
			a = cur
			return nil
		}
		changed = true
		old = cur.Email
		now := s.Now()
		if err := s.store.SetEmail(ctx, a.ID, email, now); err != nil {
			return err
		}
		// Whoever talked the operator into this address could next talk
		// one into a reset of two-factor: the old address hears of it too.
		if old != "" {
			if err := s.store.KeepReplacedEmail(ctx, a.ID, old, now); err != nil {
				return err
			}
		}
		if err := s.store.DeletePasswordResets(ctx, a.ID); err != nil {
			return err
		}
		if err := s.store.DeleteEmailChange(ctx, a.ID); err != nil {
			return err
		}
		from := "none"
		if old != "" {
			from = hintOf(twofold.FactorEmail, old)
		}
		change := "from " + from + " to " + hintOf(twofold.FactorEmail, email)
		s.auditOperator(ctx, a.ID, "account.email_changed", m, true, change+" by "+actor(op), change+" by an operator")
		s.notify(ctx, a.ID, "this is now your account's email address",
			"An operator made this the address of your account: security notices now come here.")
		if old != "" && s.notifier != nil {
			body := s.mailBody(a, s.footerText(footerSignIn), []string{fmt.Sprintf(
				"An operator changed the email address of your account to %s. Security notices no longer come here, but for a reset of two-factor on the account: notices of one asked for until %s still do.",
				hintOf(twofold.FactorEmail, email), s.Now().Add(s.ReplacedEmailKeep()).UTC().Format("2006-01-02")),
				"If you did not ask for this, someone may be taking your account over: sign in, change your password, and ask your operator to set your address back."})
			if err := s.notifier.Enqueue(ctx, old, s.cfg.Issuer+": your email address was changed", body); err != nil {
				return fmt.Errorf("queue notice to the old address: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return twofold.Account{}, false, err
	}
	if !changed {
		a.PasswordHash = ""
		return a, false, nil
	}
	a.Email, a.PasswordHash = email, ""
	return a, true, nil
}
