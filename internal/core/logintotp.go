package core

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/otp"
)

// verifyLoginTOTP is the second step with a TOTP code from any of the
// account's factors, the path nearly every login takes, done in one read and
// one write (issue 6: on PostgreSQL each statement is a round trip; on SQLite
// both run on the writer, many logins to a transaction).
//
// It keeps the rule of checkSecondFactor that every answer about a code was
// paid for with a throttle slot, in a different order: the code is checked
// first, and the answer is given only if the write that records it, a
// completion or a failure, still finds the throttle as it was read. Of several
// concurrent guesses that read the same throttle, one writes and is answered;
// the others, right or wrong, are told to wait and learn nothing.
//
// It takes the source address's token (allowSource) as it reads, in the
// same statement on PostgreSQL: no other round trip before the code.
func (s *Service) verifyLoginTOTP(ctx context.Context, k loginKey, p SecondFactor, m Meta) (string, time.Time, error) {
	if k == "" {
		return "", time.Time{}, errLoginExpired()
	}
	code := normaliseCode(p.Code)
	keys := stepKeys
	if b, ok := s.sourceBucket(m); ok {
		keys.Bucket = &b
	}
	// The session a right code opens is named before the second step queues
	// for the store: on SQLite decide runs on the writer, which runs every
	// second step's in turn, and a token's randomness and keyed hash are
	// better spent by this request's goroutine. A refused code leaves them
	// unused. When the store calls decide again, it is because nothing of
	// the first call was written, so the second uses the same ones.
	sk, err := s.newSessionKey(s.Now())
	if err != nil {
		return "", time.Time{}, err
	}
	// What decide saw and chose. The store may call it more than once (when
	// it has to redo a shared transaction): every call starts afresh.
	var d struct {
		accountID, token, factorID string
		failures                   int
		now, lockedUntil           time.Time
		expired, locked, counted   bool
		err                        error
		event                      twofold.AuditEvent
		expires                    time.Time
	}
	out, err := s.store.DecideSecondStep(ctx, string(k), keys, func(st twofold.SecondStep, found bool) twofold.Verdict {
		d.accountID, d.token, d.factorID, d.err, d.counted = st.Login.AccountID, "", "", nil, false
		d.now, d.failures, d.lockedUntil = s.Now(), st.Failures, st.LockedUntil
		now := d.now
		d.expired = !found || st.Login.Used || !now.Before(st.Login.ExpiresAt)
		d.locked = !d.expired && now.Before(st.LockedUntil)
		if d.expired || d.locked {
			return twofold.Verdict{}
		}
		f, step, cause, err := s.matchTOTP(ctx, st.Factors, code, now)
		if err != nil {
			d.err = err
			return twofold.Verdict{}
		}
		if cause != "" {
			d.failures = st.Failures + 1
			lock := time.Time{}
			if wait := codeDelay(d.failures); wait > 0 {
				lock = now.Add(wait)
			}
			d.event = twofold.AuditEvent{AccountID: d.accountID, Type: "login.second_factor_failed", At: now, Source: m.Source, UserAgent: m.UserAgent,
				Detail: fmt.Sprintf("%s: %s (%s)", p.Method, cause, failuresText(d.failures))}
			return twofold.Verdict{Fail: &twofold.Failure{Seen: st.Failures, LockUntil: lock, Event: d.event, Now: now}}
		}
		sess := sk.session(d.accountID, st.Login.Epoch, now, now.Add(s.cfg.SessionTTL), now.Add(s.cfg.ElevationTTL))
		d.token, d.factorID, d.expires = sk.token, f.ID, sess.ExpiresAt
		d.counted = slices.Contains(st.Counted, f.ID)
		d.event = twofold.AuditEvent{AccountID: d.accountID, Type: "login.succeeded", At: now, Source: m.Source, UserAgent: m.UserAgent,
			Detail: "second factor: " + string(p.Method), SessionID: sess.ID}
		return twofold.Verdict{Complete: &twofold.Completion{
			LoginID: string(k), FactorID: f.ID, Step: int64(step),
			Drift: clampDrift(int64(step)-int64(otp.Step(now, f.Period)), int64(s.cfg.ResyncWindow)),
			Seen:  st.Failures, Session: sess, Event: d.event, Now: now,
		}}
	})
	if err != nil {
		return "", time.Time{}, conflictAnswer(err)
	}
	key := accountKey(d.accountID)
	switch out {
	case twofold.Completed:
		s.observe(d.event)
		s.clearFactorCounter(ctx, d.accountID, d.factorID, d.counted)
		s.signedIn(ctx, d.accountID, d.event.SessionID, m)
		return d.token, d.expires, nil
	case twofold.Counted:
		s.observe(d.event)
		s.warnOwner(ctx, d.accountID, "login", d.failures, codeDelay)
		return "", time.Time{}, errBadSecondFactor()
	case twofold.StepUsed:
		return "", time.Time{}, s.failCode(ctx, d.accountID, key, d.failures, p, m, "login", "replayed code for factor "+d.factorID)
	case twofold.LoginGone:
		return "", time.Time{}, errLoginExpired()
	case twofold.ThrottleMoved: // another attempt took this slot
		return "", time.Time{}, s.lostSlot(ctx, d.accountID, key, p, m, "login")
	case twofold.RateLimited:
		return "", time.Time{}, s.refuseSource(ctx, m)
	}
	switch {
	case d.err != nil:
		return "", time.Time{}, d.err
	case d.expired:
		return "", time.Time{}, errLoginExpired()
	default:
		return "", time.Time{}, s.refuseLocked(ctx, d.accountID, p, m, "login", d.failures, d.lockedUntil.Sub(d.now))
	}
}

// matchTOTP finds the factor and step that code matches at now, or says why
// none does.
func (s *Service) matchTOTP(ctx context.Context, factors []twofold.Factor, code string, now time.Time) (twofold.Factor, uint64, string, error) {
	if code == "" {
		return twofold.Factor{}, 0, "malformed code", nil
	}
	if len(factors) == 0 {
		return twofold.Factor{}, 0, "no such active totp factor", nil
	}
	cause, checked := "wrong code", 0
	var unreadable error
	for _, f := range factors {
		if err := s.open(ctx, &f); err != nil {
			if !unreadableSecret(err) {
				return twofold.Factor{}, 0, "", err
			}
			unreadable = s.passOver(f, err)
			continue
		}
		checked++
		params, err := factorParams(f)
		if err != nil {
			return twofold.Factor{}, 0, "", err
		}
		if step, ok := verifyAfter(f.Secret, code, now, params, f.Drift, s.cfg.TOTPWindow, f.LastStep); ok {
			return f, step, "", nil
		}
		if cause == "wrong code" && usedBefore(f.Secret, code, now, params, f.Drift, s.cfg.TOTPWindow, f.LastStep) {
			cause = spentCause(f)
		}
	}
	if checked == 0 {
		return twofold.Factor{}, 0, "", unreadable // nothing compared: the server's failure, no attempt spent
	}
	return twofold.Factor{}, 0, cause, nil
}

// failCode records a refused code against key, which had seen failures when
// read: it takes the next slot, then audits and answers as checkSecondFactor
// does. When another attempt took the slot first, the answer is to wait.
func (s *Service) failCode(ctx context.Context, accountID, key string, seen int, p SecondFactor, m Meta, purpose, cause string) error {
	var answer error
	err := s.inTx(ctx, func(ctx context.Context) error {
		answer = nil
		now := s.Now()
		failures := seen + 1
		lock := time.Time{}
		if d := codeDelay(failures); d > 0 {
			lock = now.Add(d)
		}
		ok, err := s.store.TakeSlot(ctx, key, seen, lock, now)
		if err != nil {
			return err
		}
		if !ok {
			answer = s.lostSlot(ctx, accountID, key, p, m, purpose)
			return nil
		}
		answer = s.refuseCode(ctx, accountID, p, m, purpose, cause, failures, codeDelay)
		return nil
	})
	if err != nil {
		return err
	}
	return answer
}

// lostSlot answers an attempt whose slot on key a concurrent attempt took:
// wait as long as the lock that attempt set, or a second when it set none.
func (s *Service) lostSlot(ctx context.Context, accountID, key string, p SecondFactor, m Meta, purpose string) error {
	s.audit(ctx, accountID, "login.throttled", m, string(p.Method)+" for "+purpose+": a concurrent attempt took the slot")
	return s.slotLost(ctx, key)
}

// refuseLocked answers an attempt that meets a lock, and audits it.
func (s *Service) refuseLocked(ctx context.Context, accountID string, p SecondFactor, m Meta, purpose string, failures int, wait time.Duration) error {
	s.audit(ctx, accountID, "login.throttled", m, string(p.Method)+" for "+purpose+": locked after "+fmt.Sprint(failures)+" failures")
	msg := ""
	if failures >= HardCap {
		msg = s.hardCapMessage(ctx, accountID)
	}
	return throttled(wait, msg)
}

// clearFactorCounter clears the failures counted against one factor (by
// second steps that named it) once a code of that factor passed by the hot
// path, as a success naming it would: else they would pile up across
// successes and lock the owner out of naming the factor. Whether the counter
// holds anything came with the second step's read (counted), so that the
// usual login, with nothing to clear, neither reads nor writes more; only
// a factor id too long for its key as the read names it (none Twofold
// makes) is read apart.
func (s *Service) clearFactorCounter(ctx context.Context, accountID, factorID string, counted bool) {
	key := factorKey(accountID, factorID)
	if key != factorKeysPrefix(accountID)+factorID {
		failures, locked, err := s.store.Throttle(ctx, key)
		if err != nil {
			s.log.Error("throttle not read", "err", err)
			return
		}
		counted = failures > 0 || !locked.IsZero()
	}
	if counted {
		s.resetSlots(ctx, key)
	}
}
