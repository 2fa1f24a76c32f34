package core

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/otp"
)

// Hardware tokens (SPEC §2 HOTP): an operator buys OATH tokens, HOTP key
// fobs or TOTP ones, and imports the seed file their vendor ships (PSKC,
// RFC 6030, or OATH CSV; internal/otp reads both). Each token waits,
// unclaimed, until its holder signs in and claims it by its serial and the
// code it shows: that makes an active factor of the holder's account with
// the token's secret, under the rules of adding any factor.

// MaxTokensPerImport bounds one import, which is one transaction.
const MaxTokensPerImport = 10000

// TokenImport says what an import stored.
type TokenImport struct {
	HOTP, TOTP int
}

// Total returns how many tokens were imported.
func (t TokenImport) Total() int { return t.HOTP + t.TOTP }

func tokenAAD(serial string) []byte { return keyring.AAD("hardware_tokens", "secret", serial) }

// ImportTokens stores the seeds of a vendor's file as unclaimed hardware
// tokens, each secret sealed like a factor's and bound to its serial, for
// whoever holds the database and the master key (`twofold tokens import`).
// It is all or nothing: a serial imported before is a conflict that names
// it, and nothing is stored.
func (s *Service) ImportTokens(ctx context.Context, seeds []otp.Seed, m Meta) (TokenImport, error) {
	return s.importTokens(ctx, seeds, "the command line", m)
}

// ImportTokensFor is ImportTokens for an operator, who needs two-factor on
// their own account and an elevated session, as for every other operator
// write (requireOperatorElevation): the tokens imported are the ones
// holders claim and then sign in with, so a stolen or password-only session
// must not choose them. The command line's ImportTokens runs with the
// database and the master key in hand, and needs neither.
func (s *Service) ImportTokensFor(ctx context.Context, op Auth, seeds []otp.Seed, m Meta) (TokenImport, error) {
	m = m.by(op)
	if err := s.requireOperatorElevation(ctx, op, "importing hardware tokens"); err != nil {
		return TokenImport{}, err
	}
	return s.importTokens(ctx, seeds, "operator "+op.Account.Username, m)
}

func (s *Service) importTokens(ctx context.Context, seeds []otp.Seed, by string, m Meta) (TokenImport, error) {
	var sum TokenImport
	if len(seeds) == 0 {
		return sum, twofold.Errorf(twofold.CodeInvalid, "the file holds no token")
	}
	if len(seeds) > MaxTokensPerImport {
		return sum, twofold.Errorf(twofold.CodeInvalid, "at most %d tokens can be imported at once; split the file", MaxTokensPerImport)
	}
	now := s.Now()
	ts := make([]twofold.HardwareToken, len(seeds))
	seen := map[string]bool{}
	for i, sd := range seeds {
		serial, err := otp.CheckSerial(sd.Serial)
		if err != nil {
			return sum, twofold.Errorf(twofold.CodeInvalid, "token %d: a serial number must be 1 to 64 characters, without control or invisible ones", i+1)
		}
		if seen[serial] {
			return sum, twofold.Errorf(twofold.CodeConflict, "the serial %q is in the file twice: nothing was imported", serial)
		}
		seen[serial] = true
		t := twofold.HardwareToken{Serial: serial, Manufacturer: CleanText(sd.Manufacturer, 64), Algorithm: sd.Params.Algorithm.String(),
			Digits: sd.Params.Digits, Period: sd.Params.Period, ImportedAt: now, Secret: sd.Secret}
		switch sd.Type {
		case otp.TypeHOTP:
			t.Type, t.Counter, t.Period = twofold.FactorHOTP, int64(sd.Counter), 0
			sum.HOTP++
		case otp.TypeTOTP:
			t.Type = twofold.FactorTOTP
			sum.TOTP++
		default:
			return TokenImport{}, twofold.Errorf(twofold.CodeInvalid, "token %q: type must be hotp or totp", serial)
		}
		// The seed parsers check the secret as well; a seed made some
		// other way is checked here, by the same rule.
		if err := otp.CheckSecret(sd.Secret); err != nil {
			return TokenImport{}, errWeakSecret(fmt.Sprintf("token %q", serial))
		}
		if sd.Counter > 1<<62 || (t.Digits != 6 && t.Digits != 8) {
			return TokenImport{}, twofold.Errorf(twofold.CodeInvalid, "token %q cannot be used: check its secret, digits and counter", serial)
		}
		ts[i] = t
	}
	if err := s.checkTokenSecrets(ctx, ts); err != nil {
		return TokenImport{}, err
	}
	err := sealAndStore(func() (err error) {
		for i := range ts {
			if ts[i].SecretKeyID, ts[i].SealedSecret, err = s.keys.SealContext(ctx, ts[i].Secret, tokenAAD(ts[i].Serial)); err != nil {
				return fmt.Errorf("seal token secret: %w", err)
			}
		}
		return nil
	}, func() error {
		// The tokens and their event in one transaction, which checks
		// first that an operator's session still stands (WithCaller).
		return s.inTx(ctx, func(ctx context.Context) error {
			if err := s.store.ImportTokens(ctx, ts); err != nil {
				return err
			}
			s.audit(ctx, "", "tokens.imported", m, fmt.Sprintf("%d hotp and %d totp hardware tokens imported by %s", sum.HOTP, sum.TOTP, by))
			return nil
		})
	})
	if err != nil {
		return TokenImport{}, err
	}
	return sum, nil
}

// checkTokenSecrets refuses an import in which two tokens share a secret,
// or a token has the secret of an unclaimed token imported before: each
// token counts on its own (an HOTP counter, a TOTP last step), so codes
// spent on one would pass again on the other, and whoever holds one would
// hold both (SPEC §1 story 8). Secrets are told apart by a keyed hash, so
// that no secret is compared byte by byte.
func (s *Service) checkTokenSecrets(ctx context.Context, ts []twofold.HardwareToken) error {
	seen := make(map[string]string, len(ts))
	sum := func(secret []byte) string { return string(s.tokenDigest(secret)) }
	for i, t := range ts {
		k := sum(t.Secret)
		if other, ok := seen[k]; ok {
			return twofold.Errorf(twofold.CodeConflict, "the tokens %q and %q have the same secret: nothing was imported", other, t.Serial)
		}
		seen[k] = t.Serial
		ts[i].SecretDigest = []byte(k)
	}
	// A claimed token's secret lives on in its factor: while that exists, a
	// token of the same seed would be a second way to its codes. Tokens
	// claimed before their digests were kept get theirs first.
	if _, err := s.BackfillTokenDigests(ctx); err != nil {
		return err
	}
	claimed, err := s.store.ClaimedTokenDigests(ctx)
	if err != nil {
		return err
	}
	for old, digest := range claimed {
		if serial, ok := seen[string(digest)]; ok && serial != old {
			return twofold.Errorf(twofold.CodeConflict, "the token %q has the same secret as the token %q, claimed and in use: nothing was imported", serial, old)
		}
	}
	stored, err := s.store.HardwareTokens(ctx, true)
	if err != nil {
		return err
	}
	for _, old := range stored {
		secret, err := s.keys.Open(ctx, old.SecretKeyID, old.SealedSecret, tokenAAD(old.Serial))
		if err != nil {
			return fmt.Errorf("open token %s: %w", old.Serial, err)
		}
		k := sum(secret)
		clear(secret)
		if serial, ok := seen[k]; ok && serial != old.Serial {
			return twofold.Errorf(twofold.CodeConflict, "the token %q has the same secret as the token %q imported before: nothing was imported", serial, old.Serial)
		}
	}
	return nil
}

// tokenDigest returns the keyed hash that tells a token's secret from
// others' without comparing secrets (checkTokenSecrets). Trailing zero bytes
// are dropped: HMAC pads a key shorter than its block (64 bytes at least,
// the longest token secret) with zeros, so S and S followed by zeros make
// the same codes (otp.SameKey).
func (s *Service) tokenDigest(secret []byte) []byte {
	return s.hasher.Sum("token-secret", string(bytes.TrimRight(secret, "\x00")))
}

// BackfillTokenDigests stores the secret digest of each claimed token that
// has none, as tokens claimed before migration 0048 have not, from the
// secret of the factor claiming made of it (the token's own sealed secret
// was cleared then), and returns how many it stored. Without a digest such
// a token's seed is not known again when imported under a new serial
// (checkTokenSecrets). It is idempotent, and safe on any number of
// instances at once: each digest is written only while the token has none,
// and all instances compute the same one. A token whose factor is gone
// needs none: its seed may be issued again.
func (s *Service) BackfillTokenDigests(ctx context.Context) (int, error) {
	fs, err := s.store.ClaimedTokenFactorsWithoutDigest(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for serial, f := range fs {
		if err := s.open(ctx, &f); err != nil {
			return n, fmt.Errorf("token %s: %w", serial, err)
		}
		digest := s.tokenDigest(f.Secret)
		clear(f.Secret)
		wrote, err := s.store.SetTokenDigest(ctx, serial, digest)
		if err != nil {
			return n, err
		}
		if wrote {
			n++
		}
	}
	return n, nil
}

// HardwareTokens returns the imported hardware tokens, without secrets, only
// the unclaimed ones when unclaimed is set, for whoever holds the database
// (`twofold tokens list`).
func (s *Service) HardwareTokens(ctx context.Context, unclaimed bool) ([]twofold.HardwareToken, error) {
	ts, err := s.store.HardwareTokens(ctx, unclaimed)
	for i := range ts {
		ts[i].SealedSecret, ts[i].SecretKeyID = nil, ""
	}
	return ts, err
}

// HardwareTokensFor is HardwareTokens for an operator.
func (s *Service) HardwareTokensFor(ctx context.Context, op Auth, unclaimed bool) ([]twofold.HardwareToken, error) {
	if err := requireOperator(op); err != nil {
		return nil, err
	}
	return s.HardwareTokens(ctx, unclaimed)
}

// Claims of hardware tokens from one address, and of one serial, may come
// claimBurst at once, then one each claimEvery.
const (
	claimBurst = 10
	claimEvery = time.Minute
)

// ClaimCap is how many claims of hardware tokens in a row an account may
// fail: from then on its claims are refused, taking nothing from any
// serial's ration, until one of its claims succeeds (the right code of a
// token it holds), or an operator unlocks the account. Neither waiting nor
// any other success lifts it: an account whose code counter its own
// authenticator clears could otherwise spend a serial's ration, one
// attempt a minute, for ever, and keep the token's holder from claiming
// it. Ten are plenty for a holder who mistypes; an attacker needs a fresh
// account for each ten of a serial's attempts.
const ClaimCap = 10

// claimKeySuffix ends the name of the account's counter of failed claims,
// under "2fa:" + account id, so that an operator's unlock and a reset of
// two-factor clear it; neither a second step nor an elevation does.
const claimKeySuffix = ":claims"

func claimKey(accountID string) string { return "2fa:" + accountID + claimKeySuffix }

// claimCapMessage is the answer to a claim from an account at ClaimCap.
const claimCapMessage = "too many failed attempts to add a hardware token: check the serial number and ask an operator to unlock the account"

// errClaimRefused ends the transaction of rationClaim when a ration
// refuses or a concurrent claim took the account's slot first.
var errClaimRefused = errors.New("claim refused")

// rationClaim counts a claim of serial by the account on its counter of
// failed claims (cleared when the claim succeeds), and takes a claim from
// the rations of the client address and of the serial: all or nothing, in
// one transaction, so that an account at ClaimCap, or one that a ration
// refuses, takes nothing, and concurrent claims of one account never take
// more than ClaimCap slots (each takes its slot by TakeSlot, conditional on
// the count it read; the one that lost tries again on the new count).
func (s *Service) rationClaim(ctx context.Context, accountID, serial string, m Meta) error {
	ckey := claimKey(accountID)
	rations := []string{"claim:ip:" + sourceKey(m.Source), "claim:serial:" + hex.EncodeToString(s.hasher.Sum("token-serial", serial)[:16])}
	for range maxSlotTries {
		var failures int
		var capped, rationed, lost bool
		now := s.Now()
		err := s.inTx(ctx, func(ctx context.Context) error {
			capped, rationed, lost = false, false, false
			var until time.Time
			var err error
			if failures, until, err = s.store.Throttle(ctx, ckey); err != nil {
				return err
			}
			if failures >= ClaimCap || now.Before(until) {
				capped = true
				return errClaimRefused
			}
			for _, b := range rations {
				ok, err := s.store.TakeToken(ctx, b, claimBurst, 1/claimEvery.Seconds(), now)
				if err != nil {
					return err
				}
				if !ok {
					rationed = true
					return errClaimRefused
				}
			}
			lock := time.Time{}
			if failures+1 >= ClaimCap {
				lock = now.Add(hardCapLock) // the lock a failure of this one leaves
			}
			ok, err := s.store.TakeSlot(ctx, ckey, failures, lock, now)
			if err != nil {
				return err
			}
			if !ok {
				lost = true
				return errClaimRefused
			}
			return nil
		})
		switch {
		case capped:
			s.audit(ctx, accountID, "token.claim_throttled", m, fmt.Sprintf("claims refused after %d failed in a row", failures))
			return throttled(maxRetryAfter, claimCapMessage)
		case rationed:
			s.audit(ctx, accountID, "token.claim_throttled", m, "too many claims from this address or of this serial")
			return throttled(claimEvery, "too many attempts to add a hardware token; try again later")
		case lost:
			continue
		}
		return err
	}
	// Concurrent claims kept taking the slots first: read the counter once
	// more, so that a lock they set is answered with its wait, not a second.
	failures, until, err := s.store.Throttle(ctx, ckey)
	if err != nil {
		return err
	}
	if failures >= ClaimCap || s.Now().Before(until) {
		return throttled(maxRetryAfter, claimCapMessage)
	}
	return throttled(time.Second, "")
}

// dummyTokenSecret is what a code is checked against when the serial names
// no claimable token, so that the answer costs about what a wrong code does.
var dummyTokenSecret = []byte("twofold: no such token, no such code")

// ClaimToken adds an imported hardware token to the caller's account: the
// token named by serial, with code, the code it shows now (HOTP: one of the
// 11 from its imported counter on, RFC 4226 §7.4; TOTP: ±1 time step). It
// becomes an active factor called label, with a copy of the token's secret
// sealed for the factor, and the token is claimed: once, whoever else
// claims it at the same time. As with adding any factor, an account with
// two-factor on needs an elevated session, and the first factor brings
// recovery codes and a paper key (ConfirmFactor).
//
// A serial that names no token, or a claimed one, and a wrong code get the
// same answer, invalid-code, and each attempt counts on the account's code
// throttle, as a code typed at login does: serials cannot be enumerated,
// nor codes guessed, faster than codes at login; and on the account's count
// of failed claims, which only a successful claim clears (ClaimCap). The
// audit event records the real cause.
func (s *Service) ClaimToken(ctx context.Context, a Auth, serial, code, label string, m Meta) (Confirmation, error) {
	if err := person(a); err != nil {
		return Confirmation{}, err
	}
	if err := s.requireElevationIfEnabled(ctx, a); err != nil {
		return Confirmation{}, err
	}
	label, err := validateLabel(label)
	if err != nil {
		return Confirmation{}, err
	}
	serial, code = strings.TrimSpace(serial), normaliseCode(code)
	if serial == "" || len(serial) > 256 {
		return Confirmation{}, twofold.Errorf(twofold.CodeInvalid, "give the serial number printed on the token").On("serial")
	}
	if code == "" {
		return Confirmation{}, twofold.Errorf(twofold.CodeInvalid, "give the code the token shows now").On("code")
	}
	fs, err := s.store.Factors(ctx, a.Account.ID)
	if err != nil {
		return Confirmation{}, err
	}
	if err := checkNewLabel(fs, label, ""); err != nil {
		return Confirmation{}, err
	}
	if err := checkFactorRoom(fs, twofold.FactorHOTP, ""); err != nil {
		return Confirmation{}, err // a first answer, before a code is spent: the claim checks again
	}
	// Besides the account's code counter, claims are rationed per source
	// address and per serial: many accounts must not multiply the guesses
	// at one unclaimed token (SPEC §1 story 9). An account that may not try
	// a code now takes nothing from those rations: else, one request a
	// minute from a throttled account would keep a serial drained, and its
	// holder refused. Nor may an account take more than ClaimCap of them
	// (rationClaim): the code counter is cleared by any success, elevating
	// with one's own authenticator included, so it alone would let one
	// account drain a serial for ever.
	key := accountKey(a.Account.ID)
	if failures, err := s.slotOpen(ctx, key); err != nil {
		if twofold.ErrorCode(err) == twofold.CodeThrottled {
			s.audit(ctx, a.Account.ID, "token.claim_throttled", m, "locked after "+failuresText(failures))
		}
		return Confirmation{}, err
	}
	if err := s.rationClaim(ctx, a.Account.ID, serial, m); err != nil {
		return Confirmation{}, err
	}
	failures, err := s.takeSlot(ctx, key, codeDelay)
	if err != nil {
		if twofold.ErrorCode(err) == twofold.CodeThrottled {
			s.audit(ctx, a.Account.ID, "token.claim_throttled", m, "locked after "+failuresText(failures))
		}
		return Confirmation{}, err
	}
	// The holder's own events say only that the claim failed: were the
	// cause there, they would tell which serials exist. The operators'
	// record (an event of no account, opsMeta) has it.
	opsMeta := claimRecordMeta(m)
	refuse := func(cause string) error {
		s.audit(ctx, a.Account.ID, "token.claim_failed", m, fmt.Sprintf("serial %s: unknown, claimed already or wrong code (%s)", truncate(serial, 64), failuresText(failures)))
		s.audit(ctx, "", "token.claim_failed", opsMeta, fmt.Sprintf("account %s: %s", a.Account.ID, cause))
		s.warnOwner(ctx, a.Account.ID, "token claim", failures, codeDelay)
		return errBadSecondFactor()
	}
	now := s.Now()
	t, err := s.store.HardwareToken(ctx, serial)
	if twofold.ErrorCode(err) == twofold.CodeNotFound || err == nil && t.Claimed() {
		otp.VerifyHOTP(dummyTokenSecret, code, 0, HOTPLookAhead, otp.SHA1, 6)
		if err != nil {
			return Confirmation{}, refuse("no token has serial " + truncate(serial, 64))
		}
		return Confirmation{}, refuse("token " + serial + " is claimed already")
	}
	if err != nil {
		return Confirmation{}, err
	}
	secret, err := s.keys.Open(ctx, t.SecretKeyID, t.SealedSecret, tokenAAD(t.Serial))
	if err != nil {
		return Confirmation{}, fmt.Errorf("open token %s: %w", t.Serial, err)
	}
	alg, err := otp.ParseAlgorithm(t.Algorithm)
	if err != nil {
		return Confirmation{}, err
	}
	p := otp.Params{Algorithm: alg, Digits: t.Digits, Period: t.Period}
	var step uint64
	var drift int64
	var ok bool
	if t.Type == twofold.FactorHOTP {
		step, ok = otp.VerifyHOTP(secret, code, uint64(t.Counter), HOTPLookAhead, alg, t.Digits)
	} else {
		step, ok = otp.VerifyTOTP(secret, code, now, p, 0, s.cfg.TOTPWindow)
		drift = int64(step) - int64(otp.Step(now, p.Period))
	}
	if !ok {
		return Confirmation{}, refuse("wrong code for token " + t.Serial)
	}
	// The code proved the token is at hand; a token whose seed is already
	// one of the account's factors would let each code pass twice.
	if err := s.checkNewSecret(ctx, a.Account.ID, secret, ""); err != nil {
		s.audit(ctx, a.Account.ID, "token.claim_failed", m, fmt.Sprintf("serial %s: its secret is already the secret of another factor", t.Serial))
		return Confirmation{}, err
	}

	codes, hashes, err := s.newRecoveryCodes()
	if err != nil {
		return Confirmation{}, err
	}
	paper, err := s.newPaperKey()
	if err != nil {
		return Confirmation{}, err
	}
	id, err := s.newID()
	if err != nil {
		return Confirmation{}, err
	}
	f := twofold.Factor{
		ID: id, AccountID: a.Account.ID, Type: t.Type, Label: label, Status: twofold.FactorPending,
		Algorithm: t.Algorithm, Digits: t.Digits, Period: t.Period, LastStep: -1, CreatedAt: now,
	}
	c := twofold.TokenClaim{Serial: t.Serial, Factor: f, Activation: twofold.Activation{
		AccountID: a.Account.ID, FactorID: id, Step: int64(step), Drift: drift, Now: now,
		RecoveryHashes: hashes, PaperKeyHash: s.hasher.Sum("paper", normaliseKey(paper)),
	}}
	var claimed, first, full bool
	err = sealAndStore(func() (err error) {
		if c.Factor.SecretKeyID, c.Factor.SealedSecret, err = s.keys.SealContext(ctx, secret, factorAAD(id)); err != nil {
			return fmt.Errorf("seal secret: %w", err)
		}
		return nil
	}, func() error {
		// As in activateUniqueSecret: the claim holds the account, and
		// is undone if another factor of the secret was added meanwhile.
		return s.inTx(ctx, func(ctx context.Context) error {
			claimed, first = false, false
			if err := s.holdFactorRoom(ctx, a.Account.ID, t.Type, ""); err != nil {
				full = twofold.ErrorCode(err) == twofold.CodeConflict
				return err
			}
			var err error
			if claimed, first, err = s.store.ClaimToken(ctx, c); err != nil || !claimed {
				return err
			}
			return s.checkNewSecret(ctx, a.Account.ID, secret, id)
		})
	})
	if full {
		s.audit(ctx, a.Account.ID, "token.claim_failed", m, fmt.Sprintf("serial %s: the account has as many authenticators as it may", t.Serial))
		return Confirmation{}, err
	}
	if twofold.ErrorCode(err) == twofold.CodeConflict {
		s.audit(ctx, a.Account.ID, "token.claim_failed", m, fmt.Sprintf("serial %s: its secret was added as another factor meanwhile", t.Serial))
		return Confirmation{}, err
	}
	if err != nil {
		return Confirmation{}, err
	}
	clear(secret)
	if !claimed {
		s.audit(ctx, a.Account.ID, "token.claim_failed", m, fmt.Sprintf("serial %s: unknown, claimed already or wrong code", t.Serial))
		s.audit(ctx, "", "token.claim_failed", opsMeta, fmt.Sprintf("account %s: token %s was claimed meanwhile", a.Account.ID, t.Serial))
		return Confirmation{}, errBadSecondFactor()
	}
	// Only a claim that went through clears the failures counted: a right
	// code for a token refused after it (its seed already a factor's, the
	// account full, claimed meanwhile) clears nothing.
	s.resetSlots(ctx, key, claimKey(a.Account.ID))
	s.audit(ctx, a.Account.ID, "token.claimed", m, fmt.Sprintf("%s token %s as factor %s", t.Type, t.Serial, id))
	s.notify(ctx, a.Account.ID, "a new authenticator was added",
		fmt.Sprintf("The hardware token %q (serial %s) was added and can now be used to log in to your account.", label, t.Serial), origin(m))
	f.Status, f.LastStep, f.Drift, f.ConfirmedAt, f.LastUsedAt = twofold.FactorActive, int64(step), drift, &now, &now
	f.SecretKeyID, f.SealedSecret = "", nil
	out := Confirmation{Factor: f}
	if first {
		out.RecoveryCodes, out.PaperKey = codes, paper
	}
	return out, nil
}

// claimRecordMeta is m as the operators' record of a failed token claim
// (an event of no account) carries it: the source address without the
// user agent, which closing the account scrubs from its own events but
// cannot find in an event of no account (README "Closing an account"). The
// holder's own event of the same claim keeps it.
func claimRecordMeta(m Meta) Meta {
	m.UserAgent = ""
	return m
}
