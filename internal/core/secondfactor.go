package core

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/credhash"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/otp"
)

// checkSecondFactor verifies p for the account. Every failure gives the same
// error; the audit event records the real cause.
//
// A code takes a slot of the account's code counter (and of the factor's,
// when named); a proof nobody can guess (unguessable) takes one of a counter
// of the account and the client's address only, so that whoever has the
// password cannot lock the owner out of it, and a locked code counter does
// not stop it. Its success clears the code counters too: the hard cap is
// lifted by the way back in it points to.
func (s *Service) checkSecondFactor(ctx context.Context, accountID string, p SecondFactor, m Meta, purpose string) error {
	keys, delays := []string{accountKey(accountID)}, []func(int) time.Duration{codeDelay}
	switch {
	case p.Method == twofold.MethodWebAuthn:
		keys, delays = []string{securityKeyKey(accountID, m.Source)}, []func(int) time.Duration{recoveryDelay}
	case unguessable(p.Method):
		keys, delays = []string{recoveryKey(accountID, m.Source)}, []func(int) time.Duration{recoveryDelay}
	case p.FactorID != "":
		// A factor's own counter slows guesses at it, but only the
		// account's counter holds the hard cap: a factor named by a
		// guesser across the owner's sign-ins with another one must not
		// end up refused for good.
		keys, delays = append(keys, factorKey(accountID, p.FactorID)), append(delays, recoveryDelay)
	}
	throttledAt := func(n int, err error) error {
		if twofold.ErrorCode(err) == twofold.CodeThrottled {
			s.audit(ctx, accountID, "login.throttled", m, string(p.Method)+" for "+purpose+": locked after "+fmt.Sprint(n)+" failures")
		}
		return err
	}
	// Every counter is seen open before any slot is taken: a slot is an
	// attempt counted, and one refused by a later counter (the factor's,
	// locked while the account's is not, after the owner passed with
	// another factor) checks no code, so it must not count on the
	// account's counter towards the owner's warning and the hard cap.
	// In the order of the takes, so that the account's lock answers
	// first as before. Only reads: concurrent attempts still get exactly
	// the budget that takeSlot gives (a lock set meanwhile refuses a take
	// below as it would have refused this look; only then, in that moment,
	// can a slot taken before go unused).
	for i := 0; len(keys) > 1 && i < len(keys); i++ {
		if n, err := s.slotOpen(ctx, keys[i]); err != nil {
			return throttledAt(n, err)
		}
	}
	failures, delay := 0, delays[0]
	for i, k := range keys {
		n, err := s.takeSlot(ctx, k, delays[i])
		if err != nil {
			return throttledAt(n, err)
		}
		if i == 0 {
			failures = n // the count the owner is warned of
		}
	}
	cause, err := s.verify(ctx, accountID, p, m)
	if err != nil {
		return err
	}
	if cause != "" {
		return s.refuseCode(ctx, accountID, p, m, purpose, cause, failures, delay)
	}
	s.resetSlots(ctx, keys...)
	if p.Method == twofold.MethodWebAuthn || unguessable(p.Method) {
		s.clearCodeCounters(ctx, accountID)
	}
	return nil
}

// unguessable reports whether m is a proof of the recovery path that nobody
// can guess online (a recovery code, the paper key, an SSH key's signature),
// whose failures are counted per account and client address.
func unguessable(m twofold.Method) bool {
	return m == twofold.MethodRecoveryCode || m == twofold.MethodPaperKey || m == twofold.MethodSSHKey
}

// clearCodeCounters clears the account's code counter and its factors'
// counters, the hard cap's lock with them, after the owner passed the
// second step with a proof nobody can guess; and the counters of such
// proofs from every address, which have done their work.
//
// Inside a transaction (inTx) it runs once that has committed, before the
// answer, in statements of its own: the counters of other addresses are
// held by their concurrent attempts from the moment they take their slot
// until they end, and those attempts may be waiting for what this
// transaction holds (the recovery code's row, the counters it cleared):
// cleared in it, each would wait for the other, and PostgreSQL would end
// one of them as a deadlock, again on every run. After the commit, the
// clearing waits for those attempts to end, as they no longer wait for it,
// and clears what they counted too.
func (s *Service) clearCodeCounters(ctx context.Context, accountID string) {
	clear := func(ctx context.Context) {
		s.resetSlots(ctx, accountKey(accountID))
		for _, prefix := range []string{factorKeysPrefix(accountID), recoveryKeysPrefix(accountID), securityKeyKeysPrefix(accountID)} {
			if _, err := s.store.ResetThrottlePrefix(ctx, prefix); err != nil {
				s.log.Error("throttle not reset", "err", err)
			}
		}
	}
	if q, ok := ctx.Value(notesKey{}).(*[]func(context.Context)); ok {
		*q = append(*q, clear) // once committed
		return
	}
	clear(ctx)
}

// refuseCode audits a refused proof that took the failures-th slot, tells the
// owner when that locks the second step for long, and answers.
func (s *Service) refuseCode(ctx context.Context, accountID string, p SecondFactor, m Meta, purpose, cause string, failures int, delay func(int) time.Duration) error {
	typ := "login.second_factor_failed"
	switch purpose {
	case "elevation":
		typ = "session.elevation_failed"
	case "password reset":
		typ = "password.reset_failed"
	}
	s.audit(ctx, accountID, typ, m, fmt.Sprintf("%s: %s (%s)", p.Method, cause, failuresText(failures)))
	if p.Method != twofold.MethodWebAuthn && !unguessable(p.Method) {
		// Only the code counters lock the account's second step; the
		// others count one address's failures and lock nothing of the
		// owner's (a mail per address would be false, and a flood).
		s.warnOwner(ctx, accountID, purpose, failures, delay)
	}
	if p.Method == twofold.MethodRecoveryCode || p.Method == twofold.MethodPaperKey {
		// Counted per account too, locking nothing: the holder hears
		// of repeated failures from anywhere (countRecoveryFailure).
		s.countRecoveryFailure(ctx, accountID, purpose, m)
	}
	return errBadSecondFactor()
}

// warnOwner tells the account holder when failures wrong codes in a row lock
// the second step for long: at the tenth (15 minutes) and at the hard cap
// (until the recovery path is used or an operator unlocks the account).
// purpose is what the codes were typed for, which says what whoever typed
// them had: "login", the password; "password reset", a link mailed to the
// owner, and maybe no password; anything else (an elevation, a resync, a
// token claim), a session of the account, which may be stolen.
func (s *Service) warnOwner(ctx context.Context, accountID, purpose string, failures int, delay func(int) time.Duration) {
	who, advice := "Someone signed in to your account", "If this was not you, change your password now, which signs out every other session."
	switch purpose {
	case "login":
		who, advice = "Someone who knew your password", "If this was not you, change your password now."
	case "password reset":
		who, advice = "Someone with a password-reset link mailed to you", "If this was not you, someone may be reading your mail: secure your email account."
	}
	switch {
	case failures == 10:
		s.notify(ctx, accountID, "second step locked after failed attempts",
			fmt.Sprintf("%s typed %d wrong codes in a row, so the second step of your account is locked for %s.", who, failures, durationText(delay(failures))),
			advice)
	case failures == HardCap && delay(failures) > maxRetryAfter:
		until := "an operator unlocks your account"
		if ways := s.waysPastCap(ctx, accountID, false); ways != "" {
			until = "you pass the second step with " + strings.Replace(ways, "the paper key", "your paper key", 1) + ", or " + until
		}
		s.notify(ctx, accountID, "codes refused after failed attempts",
			fmt.Sprintf("%s typed %d wrong codes in a row, so codes from your authenticators are refused until %s.", who, failures, until),
			advice)
	}
}

// durationText writes d in words for people: "15 minutes", "1 hour",
// "30 seconds" (in whole hours or minutes when it is, else seconds, rounded
// up).
func durationText(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		n := int(d / time.Hour)
		return fmt.Sprintf("%d %s", n, plural(n, "hour", "hours"))
	case d >= time.Minute && d%time.Minute == 0:
		n := int(d / time.Minute)
		return fmt.Sprintf("%d %s", n, plural(n, "minute", "minutes"))
	default:
		n := int(math.Ceil(d.Seconds()))
		return fmt.Sprintf("%d %s", n, plural(n, "second", "seconds"))
	}
}

// verify returns "" when p is accepted, else the cause of refusal.
func (s *Service) verify(ctx context.Context, accountID string, p SecondFactor, m Meta) (cause string, err error) {
	switch p.Method {
	case twofold.MethodTOTP:
		return s.verifyTOTP(ctx, accountID, p)
	case twofold.MethodHOTP:
		return s.verifyHOTP(ctx, accountID, p)
	case twofold.MethodSMS, twofold.MethodEmail:
		return s.verifySentCode(ctx, accountID, p, p.scope)
	case twofold.MethodWebAuthn:
		return s.verifySecurityKey(ctx, accountID, p, m)
	case twofold.MethodRecoveryCode:
		key := normaliseKey(p.Code)
		if key == "" {
			return "malformed recovery code", nil
		}
		ok, err := s.store.UseRecoveryCode(ctx, accountID, s.hasher.Sum("recovery", key), s.Now())
		if err != nil || !ok {
			return "wrong or used recovery code", err
		}
		left, err := s.store.RecoveryCodesRemaining(ctx, accountID)
		if err != nil {
			return "", err
		}
		s.audit(ctx, accountID, "recovery_code.used", m, fmt.Sprintf("%d left", left))
		msg := fmt.Sprintf("A recovery code was used %s. ", usedFor(p, "to log in to your account"))
		switch {
		case left == 0:
			msg += "You have no recovery codes left: generate a new set in your security settings."
		case left <= LowRecoveryCodes:
			msg += fmt.Sprintf("Only %d %s left: generate a new set in your security settings.", left, plural(left, "recovery code is", "recovery codes are"))
		default:
			msg += fmt.Sprintf("You have %d recovery codes left.", left)
		}
		s.recoveryNotice(ctx, accountID, p, "a recovery code was used", msg, origin(m))
		return "", nil
	case twofold.MethodPaperKey:
		key := normaliseKey(p.Code)
		want, err := s.store.PaperKeyHash(ctx, accountID)
		if err != nil {
			return "", err
		}
		if key == "" || want == nil || !credhash.Equal(s.hasher.Sum("paper", key), want) {
			return "wrong paper key", nil
		}
		// Nothing of the paper key's own is written: the use is noted on a
		// waiting reset of two-factor here, in the check's transaction.
		if err := s.store.NoteFactorUse(ctx, accountID, s.Now()); err != nil {
			return "", err
		}
		s.audit(ctx, accountID, "paper_key.used", m, "")
		s.recoveryNotice(ctx, accountID, p, "your paper key was used", "Your paper key was used "+usedFor(p, "to pass the second step of a login")+".", origin(m))
		return "", nil
	case twofold.MethodSSHKey:
		return s.verifySSHKey(ctx, accountID, p, m)
	default:
		return "unsupported method " + truncate(string(p.Method), 32), nil
	}
}

func (s *Service) verifyTOTP(ctx context.Context, accountID string, p SecondFactor) (string, error) {
	now := s.Now()
	return s.verifyCode(ctx, accountID, p, twofold.FactorTOTP, func(f twofold.Factor, params otp.Params, code string) (match, used bool, step, drift int64) {
		st, ok := verifyAfter(f.Secret, code, now, params, f.Drift, s.cfg.TOTPWindow, f.LastStep)
		if !ok {
			return false, usedBefore(f.Secret, code, now, params, f.Drift, s.cfg.TOTPWindow, f.LastStep), 0, 0
		}
		return true, false, int64(st), clampDrift(int64(st)-int64(otp.Step(now, params.Period)), int64(s.cfg.ResyncWindow))
	})
}

// verifyHOTP checks an HOTP code against the account's active HOTP tokens:
// a counter from the next expected one to HOTPLookAhead past it, stored by
// compare-and-set, so the counter moves only on success and a code is
// accepted once (SPEC §2, RFC 4226 §7.2).
func (s *Service) verifyHOTP(ctx context.Context, accountID string, p SecondFactor) (string, error) {
	return s.verifyCode(ctx, accountID, p, twofold.FactorHOTP, func(f twofold.Factor, params otp.Params, code string) (match, used bool, step, drift int64) {
		next := uint64(f.LastStep + 1)
		counter, ok := otp.VerifyHOTP(f.Secret, code, next, HOTPLookAhead, params.Algorithm, params.Digits)
		if !ok {
			if next == 0 {
				return false, false, 0, 0
			}
			_, used := otp.VerifyRange(f.Secret, code, next-min(next, HOTPLookAhead), next-1, params.Algorithm, params.Digits)
			return false, used, 0, 0
		}
		return true, false, int64(counter), 0
	})
}

// verifyCode checks a one-time code against the account's active factors of
// type typ (only p.FactorID's when set): check says whether code matches a
// factor at a step (a TOTP time step, an HOTP counter) after the last one
// accepted, or is the code of one already accepted. The first match is
// stored by compare-and-set, so of concurrent checks of one code exactly one
// passes. It returns "" when the code is accepted, else the cause.
func (s *Service) verifyCode(ctx context.Context, accountID string, p SecondFactor, typ twofold.FactorType,
	check func(f twofold.Factor, params otp.Params, code string) (match, used bool, step, drift int64)) (string, error) {
	code := normaliseCode(p.Code)
	if code == "" {
		return "malformed code", nil
	}
	factors, err := s.store.Factors(ctx, accountID)
	if err != nil {
		return "", err
	}
	tried, checked, replayed := 0, 0, ""
	var unreadable error
	for _, f := range factors {
		if f.Type != typ || f.Status != twofold.FactorActive || (p.FactorID != "" && f.ID != p.FactorID) {
			continue
		}
		tried++
		if err := s.open(ctx, &f); err != nil {
			if !unreadableSecret(err) {
				return "", err
			}
			unreadable = s.passOver(f, err)
			continue
		}
		if f.DamagedAt != nil {
			s.forgetDamage(f) // it opens again: put back since it was marked
		}
		checked++
		params, err := factorParams(f)
		if err != nil {
			return "", err
		}
		match, used, step, drift := check(f, params, code)
		if !match {
			if used && replayed == "" {
				replayed = spentCause(f)
			}
			continue
		}
		accepted, err := s.store.AcceptStep(ctx, f.ID, step, drift, s.Now())
		if err != nil {
			return "", err
		}
		if !accepted {
			return "replayed code for factor " + f.ID, nil
		}
		return "", nil
	}
	if tried == 0 {
		return "no such active " + string(typ) + " factor", nil
	}
	if checked == 0 {
		return "", unreadable // nothing was compared: the server's failure, no attempt spent
	}
	if replayed != "" {
		return replayed, nil
	}
	return "wrong code", nil
}

// unreadableSecret reports whether err, from opening a factor's secret, says
// that this one factor's secret cannot be read: its key is not available
// (a key file behind a rotation, a data key a rotation retired), or the
// stored value does not decrypt (bit rot, a bad restore, tampering). Such a
// factor is passed over (passOver); any other error fails the request.
func unreadableSecret(err error) bool {
	return errors.Is(err, keyring.ErrKeyUnavailable) || errors.Is(err, keyring.ErrUndecryptable)
}

// unreadableReason is the Unavailable reason of a factor whose secret could
// not be opened with err (unreadableSecret).
func unreadableReason(err error) string {
	if errors.Is(err, keyring.ErrUndecryptable) {
		return keyDamaged
	}
	return keyNotReadable
}

// passOver logs that factor f's secret could not be opened (err: a key
// this instance cannot read, such as a key file behind a rotation, or a
// value that does not decrypt; the error names the factor and data key,
// never the secret) and returns err. A check of a code passes such a factor
// over, so that it neither hides the account's other factors (the owner's
// newer app still signs in) nor turns a wrong code for them into an
// uncounted 503 or 500: that would be an answer oracle outside the throttle.
// Only when no factor could be compared is the answer an error (503 for a
// key not available, and for a value that does not decrypt), with no
// attempt spent.
//
// The error returned for a value that does not decrypt is not an internal
// one: that answer would say nothing to its holder, who can mend it only by
// removing the factor and adding it again. It is unavailable, as the
// factor's listing says (keyDamaged), with the cause kept for the log.
// A TOTP or HOTP factor found damaged is remembered as such (markDamaged),
// so that its listing says so from then on without opening its secret.
func (s *Service) passOver(f twofold.Factor, err error) error {
	s.log.Warn("a factor's secret could not be opened; the account's other factors are checked", "factor", f.ID, "err", err)
	if errors.Is(err, keyring.ErrUndecryptable) {
		s.markDamaged(f)
		return &twofold.Error{Code: twofold.CodeUnavailable, Message: fmt.Sprintf("%q cannot be used: %s", f.Label, keyDamaged), Err: err}
	}
	return err
}

// markDamaged records, after the request, that the secret of TOTP or HOTP
// factor f did not decrypt under a key that is held (DamagedAt), unless
// its row already says so. It is a write of its own, outside the check's
// transaction, whose answer (a refusal, or another factor's success) it
// neither holds up nor depends on; a failure to write it is logged, and the
// next check finds the damage again. A secret that opens is never checked
// against its mark: the healthy path reads and writes nothing more.
func (s *Service) markDamaged(f twofold.Factor) {
	if f.DamagedAt != nil || (f.Type != twofold.FactorTOTP && f.Type != twofold.FactorHOTP) {
		return
	}
	now := s.Now()
	s.later(func(ctx context.Context) {
		if err := s.store.MarkFactorDamaged(ctx, f.ID, now); err != nil {
			s.log.Error("a damaged factor was not marked unavailable", "factor", f.ID, "err", err)
		}
	})
}

// forgetDamage clears, after the request, the mark of factor f (read with
// its DamagedAt set) whose secret has just opened (keyMissing, verifyCode):
// its ciphertext or key file was put back. A failure to write it is logged:
// the factor is still listed available, and the next list tries again.
func (s *Service) forgetDamage(f twofold.Factor) {
	f.Secret = nil // the write needs the sealed secret only
	s.log.Info("a factor marked damaged opens again; its mark is cleared", "factor", f.ID, "key", f.SecretKeyID)
	s.later(func(ctx context.Context) {
		if err := s.store.ClearFactorDamaged(ctx, f); err != nil {
			s.log.Error("the damage mark of a factor that opens again was not cleared", "factor", f.ID, "err", err)
		}
	})
}

// blankKey is blankCode for a recovery code or the paper key, read by
// normaliseKey.
func blankKey(k string) bool {
	k = strings.TrimSpace(k)
	return k == "" || len(k) <= maxKeyLen && normaliseKey(k) == ""
}

// maxKeyLen is the longest input normaliseKey reads as a key.
const maxKeyLen = 256

// normaliseKey folds a recovery code or paper key to its canonical form, the
// one its hash is of: lower-case base32 (a-z, 2-7) without separators. People
// copy these keys by hand and paste them from documents, so it also
//   - drops every separator: white space of any kind (U+00A0 no-break space,
//     U+2009 thin space… — unicode.IsSpace), dashes of any kind (U+2010 to
//     U+2015, U+2212 minus… — unicode.Dash) and the invisible characters that
//     pastes carry (soft hyphen, zero-width space and joiners, BOM);
//   - reads the digits that base32 lacks as the letters they look like, where
//     only one letter does: 0 as o and 8 as b. 1 stays (l or i?), as does 9;
//   - drops the number of a line of the recovery codes' .txt file (" 3. ",
//     "10. "), or of a list numbered "3)", when the whole line is pasted;
//   - reads full-width letters and digits, and digits of other scripts, as
//     the ASCII ones (foldTyped).
//
// A key typed so is the same key: nothing that could be a real key changes
// meaning, since 0, 8, separators, "." and ")" never occur in one.
func normaliseKey(k string) string {
	if len(k) > maxKeyLen {
		return ""
	}
	k = dropLineNumber(foldTyped(k))
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r) || unicode.Is(unicode.Dash, r) || invisibleSeparator(r):
			return -1
		case 'A' <= r && r <= 'Z':
			return r - 'A' + 'a'
		case r == '0':
			return 'o'
		case r == '8':
			return 'b'
		}
		return r
	}, k)
}

// dropLineNumber returns k without the number that leads a line of a
// numbered list: one or two digits and "." or ")", after any white space
// or invisible characters. Anything else is returned as it is.
func dropLineNumber(k string) string {
	rest := strings.TrimLeftFunc(k, func(r rune) bool { return unicode.IsSpace(r) || invisibleSeparator(r) })
	n := 0
	for n < len(rest) && n < 3 && '0' <= rest[n] && rest[n] <= '9' {
		n++
	}
	if n == 0 || n > 2 || n == len(rest) || rest[n] != '.' && rest[n] != ')' {
		return k
	}
	return rest[n+1:]
}

// invisibleSeparator reports whether r is a character that copying text can
// put inside a key without it showing: soft hyphen, zero-width space,
// non-joiner and joiner, word joiner, the byte-order mark, and the
// direction marks (left-to-right, right-to-left, Arabic letter mark) that
// text copied from a right-to-left message carries around its digits.
func invisibleSeparator(r rune) bool {
	switch r {
	case '\u00ad', '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u200e', '\u200f', '\u061c':
		return true
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// verifyAfter checks code against the steps of the window around now+drift
// that come after lastStep. An earlier step whose code happens to be the same
// (one chance in a million for 6 digits) must not make a fresh code look
// replayed; the compare-and-set in the store still refuses real replays.
// usedBefore reports whether code is the factor's code of a step in the
// window that was already accepted (at or before lastStep): the code is a
// replay, not a wrong guess. It is asked only after verifyAfter refused.
func usedBefore(secret []byte, code string, now time.Time, p otp.Params, drift int64, window int, lastStep int64) bool {
	center := int64(otp.Step(now, p.Period)) + drift
	lo, hi := max(center-int64(window), 0), min(center+int64(window), lastStep)
	if hi < lo {
		return false
	}
	_, ok := otp.VerifyRange(secret, code, uint64(lo), uint64(hi), p.Algorithm, p.Digits)
	return ok
}

// spentCause is the cause recorded when a code is refused as factor f's
// code of a step at or before its last accepted one (usedBefore). Mostly
// that is a replay. But a TOTP factor whose secret was given by value
// (AddTOTPWithSecret, Keystone's TOTP credentials) starts with the steps up
// to the current one plus the window closed, though no code of them was
// accepted: the secret may have been used before. While no code has been
// accepted since the factor was added, such a code is not newer than the
// factor, and the record says so (never the code) rather than a replay.
func spentCause(f twofold.Factor) string {
	if f.Type == twofold.FactorTOTP && f.ConfirmedAt != nil && f.LastUsedAt != nil && !f.LastUsedAt.After(*f.ConfirmedAt) {
		return "code not newer than factor " + f.ID + ", which takes codes of the time steps after it was added"
	}
	return "replayed code for factor " + f.ID
}

func verifyAfter(secret []byte, code string, now time.Time, p otp.Params, drift int64, window int, lastStep int64) (uint64, bool) {
	center := int64(otp.Step(now, p.Period)) + drift
	lo, hi := center-int64(window), center+int64(window)
	if lo <= lastStep {
		lo = lastStep + 1
	}
	if lo < 0 {
		lo = 0
	}
	if hi < lo {
		return 0, false
	}
	return otp.VerifyRange(secret, code, uint64(lo), uint64(hi), p.Algorithm, p.Digits)
}

// clampDrift bounds a learnt drift, so that a device cannot walk the window
// ever further from the clock one step per login.
func clampDrift(d, limit int64) int64 {
	return max(-limit, min(limit, d))
}

// recoveryNotice tells the owner that a proof of the recovery path was
// used: at once, or, for a login's second step (p.notice set), once the
// login knows how many other sessions it signed out (endOthers).
func (s *Service) recoveryNotice(ctx context.Context, accountID string, p SecondFactor, subject string, lines ...string) {
	if p.notice != nil {
		*p.notice = notice{subject: subject, lines: lines}
		return
	}
	s.notify(ctx, accountID, subject, lines...)
}

// usedFor says in a notice what a recovery code or the paper key was used
// for, by the scope p was checked for: login, the second step of a login;
// a password reset, to confirm the new password; anything else (an
// elevation), to confirm a change, as verifySSHKey says of an SSH key.
func usedFor(p SecondFactor, login string) string {
	switch scopeKind(p.scope) {
	case "login":
		return login
	case "password reset":
		return "to confirm a new password for your account"
	}
	return "to confirm a change to your account"
}
