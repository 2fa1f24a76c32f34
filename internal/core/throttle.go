package core

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/twofold/twofold"
)

// Throttling (SPEC §1 story 9, RFC 4226 §7.3, NIST SP 800-63B §5.2.2).
//
// Every guess first takes a slot from a counter in the database: one
// conditional statement that fails when the counter is locked or another
// attempt moved it meanwhile, so that the limit holds across login
// transactions, concurrent requests and server instances. Taking a slot sets
// the lock that the next attempt will meet if this one fails; a success
// clears the counter. An attempt that another took the slot before reads
// the counter again and tries for the next (takeSlot), and a password
// attempt that meets a lock set by an attempt still under way, on any
// instance, waits for its outcome (takePasswordSlot): concurrent attempts
// get exactly the budget of attempts made one after another. Second-factor
// codes, the proofs nobody can guess and passwords are counted apart, so
// that a stranger typing wrong passwords never locks the owner's second
// factor, and a locked code factor still leaves the recovery codes, the
// paper key, SSH keys and security keys usable.
//
// Only codes (TOTP, HOTP, SMS, email: a million values) are counted per
// account, since only there does a lock shared by every address stop
// guessing. The proofs nobody can guess (a recovery code, 80 bits; the paper
// key, 160; an SSH key's or a security key's signature) are counted per
// account and client address (IPv6: /64), as wrong passwords are: a lock of
// the account would buy nothing against guessing and would let whoever has
// the password shut the owner out of every way in (README "Guessing,
// throttling and lock-outs").

// HardCap is the number of consecutive failed second-factor codes after which
// codes are refused, with no end, until a recovery code, the paper key, an
// SSH key or a security key passes the second step, or an operator unlocks
// the account (SPEC §1.9: well under NIST's 100). Twenty keeps an online
// guesser who has the password to a chance of 20 × 3×10⁻⁶ = 6×10⁻⁵ (three
// codes valid in the ±1 step window) before the owner must take the recovery
// path, and is mailed; and it is far enough above a typing owner's worst
// morning (the lock of 15 minutes from the tenth already stops a fumbling
// hand) that the owner meets it only when someone else is guessing.
const HardCap = 20

// hardCapLock is the lock set at the hard cap. No wait lifts it: it stands
// for "until cleared", and a locked counter answers with at most
// maxRetryAfter.
const hardCapLock = 100 * 365 * 24 * time.Hour

// maxRetryAfter bounds the Retry-After of a throttled answer: any lock
// longer than it is the hard cap's, which no wait lifts.
const maxRetryAfter = 24 * time.Hour

// hardCapMessage is the answer to a code of account accountID at the hard
// cap: it names the ways past it that the account has (waysPastCap).
func (s *Service) hardCapMessage(ctx context.Context, accountID string) string {
	if ways := s.waysPastCap(ctx, accountID, false); ways != "" {
		return "too many wrong codes: use " + ways + ", or ask an operator to unlock the account"
	}
	return "too many wrong codes: ask an operator to unlock the account"
}

// resetCapMessage is hardCapMessage for a code that confirms a password
// reset, which takes a recovery code or the paper key but neither an SSH
// key nor a security key (resetMethods): it names only the ways past the
// cap that a reset takes, so that the holder is not sent to one it refuses.
func (s *Service) resetCapMessage(ctx context.Context, accountID string) string {
	if ways := s.waysPastCap(ctx, accountID, true); ways != "" {
		return "too many wrong codes: confirm the new password with " + ways + ", or ask an operator to unlock the account"
	}
	return "too many wrong codes: ask an operator to unlock the account"
}

// codesCapped reports whether the code counter of account accountID is at
// the hard cap (HardCap), so that no code (CodeMethod) passes whatever is
// typed, until a recovery code, the paper key, an SSH key or a security key
// passes a second step or an operator unlocks the account.
func (s *Service) codesCapped(ctx context.Context, accountID string) (bool, error) {
	f, until, err := s.store.Throttle(ctx, accountKey(accountID))
	if err != nil {
		return false, err
	}
	return f >= HardCap && until.Sub(s.Now()) > maxRetryAfter, nil
}

// waysPastCap lists the ways past the hard cap of wrong codes that account
// accountID has ("a recovery code, the paper key or a security key"): the
// ones of a recovery code, the paper key, an SSH key and a security key it
// holds, or "" when it holds none; with onReset, only those that confirm a
// password reset (a recovery code, the paper key). A way that cannot be
// read is listed: naming one too many is better than hiding one.
func (s *Service) waysPastCap(ctx context.Context, accountID string, onReset bool) string {
	var ways []string
	if n, err := s.store.RecoveryCodesRemaining(ctx, accountID); err != nil || n > 0 {
		ways = append(ways, "a recovery code")
	}
	if h, err := s.store.PaperKeyHash(ctx, accountID); err != nil || h != nil {
		ways = append(ways, "the paper key")
	}
	if !onReset {
		if keys, err := s.activeSSHKeys(ctx, accountID); err != nil || len(keys) > 0 {
			ways = append(ways, "an SSH key")
		}
		if keys, err := s.store.SecurityKeys(ctx, accountID); err != nil || len(keys) > 0 {
			ways = append(ways, "a security key")
		}
	}
	switch len(ways) {
	case 0:
		return ""
	case 1:
		return ways[0]
	}
	return strings.Join(ways[:len(ways)-1], ", ") + " or " + ways[len(ways)-1]
}

// capAccount returns the account whose counter of codes key is (its own
// or one of its factors'), or "" for a counter of another kind.
func capAccount(key string) string {
	rest, ok := strings.CutPrefix(key, accountKeyPrefix)
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, ":")
	return id
}

// codeDelay is the lock after f consecutive failed codes: none for two, then
// 1 s doubling to 64 s, then 15 minutes from the tenth, then no end from the
// hard cap.
func codeDelay(f int) time.Duration {
	switch {
	case f < 3:
		return 0
	case f < 10:
		return time.Duration(1<<(f-3)) * time.Second
	case f < HardCap:
		return 15 * time.Minute
	default:
		return hardCapLock
	}
}

// recoveryDelay is the lock after f failed proofs nobody can guess, from one
// address: like codeDelay without the hard cap.
func recoveryDelay(f int) time.Duration {
	if d := codeDelay(f); d < 15*time.Minute {
		return d
	}
	return 15 * time.Minute
}

// passwordDelay is the lock after f wrong passwords for one username from one
// address: none for four, then 1 s doubling to 16 s, then 15 minutes.
func passwordDelay(f int) time.Duration {
	switch {
	case f < 5:
		return 0
	case f < 10:
		return time.Duration(1<<(f-5)) * time.Second
	default:
		return 15 * time.Minute
	}
}

// The account's code counter is accountKeyPrefix + account id + accountKeySuffix.
const accountKeyPrefix, accountKeySuffix = "2fa:", ":codes"

// factorKeyInfix comes between the account id and the factor id in the key
// of a factor's own counter (factorKey).
const factorKeyInfix = ":factor:"

// stepKeys names, for the store's read of a second step, the account's code
// counter and the factors' own (accountKey, factorKey).
var stepKeys = twofold.StepKeys{Prefix: accountKeyPrefix, Suffix: accountKeySuffix, FactorInfix: factorKeyInfix}

func accountKey(accountID string) string { return accountKeyPrefix + accountID + accountKeySuffix }

// recoveryKey names the counter of failed recovery codes, paper keys and
// SSH-key signatures for the account from the client behind source.
func recoveryKey(accountID, source string) string {
	return recoveryKeysPrefix(accountID) + sourceKey(truncate(source, 64))
}

// recoveryKeysPrefix is the prefix of the account's recoveryKey counters.
func recoveryKeysPrefix(accountID string) string { return "2fa:" + accountID + ":recovery:" }

// securityKeyKey names the counter of failed security-key assertions for
// the account from the client behind source.
func securityKeyKey(accountID, source string) string {
	return securityKeyKeysPrefix(accountID) + sourceKey(truncate(source, 64))
}

// securityKeyKeysPrefix is the prefix of the account's securityKeyKey
// counters.
func securityKeyKeysPrefix(accountID string) string { return "2fa:" + accountID + ":webauthn:" }

// confirmKey names the counter of failed confirmations of the account's
// pending factor: apart from the factor counters (factorKeysPrefix), which
// the hard cap counts and the sweep keeps.
func confirmKey(accountID, factorID string) string {
	return "2fa:" + accountID + ":confirm:" + truncate(factorID, 64)
}

// hardCappedKeys are LIKE patterns of the counters a hard cap counts: the
// account's code counter, and its counter of failed claims of hardware
// tokens (ClaimCap). The sweep keeps them while they count failures, so
// that waiting never lifts the cap; the others go once stale and unlocked.
var hardCappedKeys = []string{"2fa:%" + accountKeySuffix, "2fa:%" + claimKeySuffix}

// factorKeysPrefix is the prefix of the account's per-factor counters.
func factorKeysPrefix(accountID string) string { return accountKeyPrefix + accountID + factorKeyInfix }

func factorKey(accountID, factorID string) string {
	return factorKeysPrefix(accountID) + truncate(factorID, 64)
}

// passwordKey names the password counter of a username typed from an
// address. The username is kept only as a keyed hash: people sometimes type
// their password into the username field, and nothing typed there is stored.
// It is keyed by usernameKey, so that one name typed in any case counts on
// one counter, as it names one account.
func (s *Service) passwordKey(username, source string) string {
	return s.passwordPrefix(username) + sourceKey(source)
}

// usernameKey is the one form of a username that keys what is counted per
// username: lower case, since a login takes the name in any case (see
// accountForLogin). Without it, typing "ALICE", "Alice", "aLICE" … would
// each get a fresh password counter for the same account.
func usernameKey(username string) string { return strings.ToLower(username) }

// sourceKey names the client behind source for the counters kept per
// address: an IPv4 address, or an IPv6 address's /64. A single IPv6 host
// is commonly given a whole /64, so counting each of its addresses apart
// would give it 2^64 fresh counters.
func sourceKey(source string) string {
	a, err := netip.ParseAddr(source)
	if err != nil || !a.Unmap().Is6() {
		return source
	}
	p, _ := a.Unmap().Prefix(64)
	return p.String()
}

func (s *Service) passwordPrefix(username string) string {
	return "pw:" + hex.EncodeToString(s.hasher.Sum("throttle-username", usernameKey(truncate(username, 256)))[:16]) + "|"
}

func throttled(wait time.Duration, msg string) error {
	if wait < time.Second {
		wait = time.Second
	}
	wait = min(wait, maxRetryAfter)
	if msg == "" {
		msg = waitMessage(wait)
	}
	return &twofold.Error{Code: twofold.CodeThrottled, Message: msg, RetryAfter: wait}
}

// waitMessage is the message of a throttled answer that has nothing to say
// but how long to wait.
func waitMessage(wait time.Duration) string {
	n := int(math.Ceil(wait.Seconds()))
	return fmt.Sprintf("too many attempts; try again in %d %s", n, plural(n, "second", "seconds"))
}

// OnlyWait reports whether err is a throttled answer that says nothing but
// how long to wait, which a page may put in its own words. Every other
// throttled answer says more, which the client must be told: that no wait
// lifts the lock and which ways in are left (the hard cap), that push is
// paused and to sign in another way, which send limit refused.
func OnlyWait(err error) bool {
	var te *twofold.Error
	return errors.As(err, &te) && te.Code == twofold.CodeThrottled && te.Message == waitMessage(te.RetryAfter)
}

// maxSlotTries bounds how many times takeSlot reads a counter again after
// concurrent attempts took the slot it tried for.
const maxSlotTries = 16

// takeSlot counts an attempt against key, or returns a throttled error. It
// returns the number of consecutive failures this attempt would make. When
// a concurrent attempt took the slot first, it reads the counter again and
// tries for the next one, unless that one is locked: every slot taken is one
// attempt counted and sets the lock its failure would earn, so concurrent
// attempts get the budget that attempts one after another would, no more
// (the lock set by the last attempt the budget allows stops the rest) and
// no less (the owner's concurrent sign-ins do not refuse each other).
func (s *Service) takeSlot(ctx context.Context, key string, delay func(int) time.Duration) (int, error) {
	n, _, err := s.takeSlotBy(ctx, key, delay, s.store.TakeSlot)
	return n, err
}

// takeSlotBy is takeSlot with take, TakeSlot or one like it, taking the
// slot; it also returns the time the slot was taken at.
func (s *Service) takeSlotBy(ctx context.Context, key string, delay func(int) time.Duration,
	take func(ctx context.Context, key string, seen int, lockUntil, now time.Time) (bool, error)) (int, time.Time, error) {
	f := 0
	for range maxSlotTries {
		var err error
		if f, err = s.slotOpen(ctx, key); err != nil {
			return f, time.Time{}, err
		}
		now := s.Now()
		lock := time.Time{}
		if d := delay(f + 1); d > 0 {
			lock = now.Add(d)
		}
		ok, err := take(ctx, key, f, lock, now)
		if err != nil {
			return 0, time.Time{}, err
		}
		if ok {
			return f + 1, now, nil
		}
	}
	return f, time.Time{}, s.slotLost(ctx, key) // concurrent attempts kept taking the slots first
}

// maxPasswordWaits bounds how many times takePasswordSlot waits for another
// attempt on this instance to end.
const maxPasswordWaits = 16

// PasswordUnderWay is how long after it was taken a password slot counts
// as under way at most, for attempts on every instance: one whose outcome
// has not come by then (its instance stopped while checking the password)
// counts as failed, and whoever its lock stops waits for it no longer.
const PasswordUnderWay = 5 * time.Second

// takePasswordSlot polls the database for attempts under way on other
// instances while their time (PasswordUnderWay, by the clock) is not up,
// reading it again after passwordPoll, then twice as long each time up to
// maxPasswordPoll. maxPasswordPolling bounds that in real time too,
// whatever the clocks of the instances say (one far ahead of the others
// would give its slots a time that is long in coming).
const (
	maxPasswordPolling = 3 * PasswordUnderWay
	passwordPoll       = 20 * time.Millisecond
	maxPasswordPoll    = 250 * time.Millisecond
)

// takePasswordSlot takes a slot on the password counter key as takeSlot
// does, and returns it, to be ended once the password is checked (and,
// when right, passed, which clears the counter). An attempt holding a slot
// has set the lock that its failure would earn: once the attempts that the
// budget lets run at once are under way, the next meets that lock although
// none of them may fail. So an attempt refused while others are under way
// for key, on this instance or any other, waits for one to end and tries
// again: the owner's concurrent sign-ins with the right password
// (automation signing in from several workers, through any instances) wait
// for a slot instead of being refused, each success clearing the counter,
// while concurrent wrong guesses still meet the lock once those before
// them have failed, and no more passwords are checked than one attempt
// after another could have. Attempts on this instance wake the waiting
// ones as they end; those on other instances are seen by polling the
// database, where a slot counts as under way until its attempt ends, and
// for PasswordUnderWay at most: waiting never holds a request long, and an
// attempt that never ends (its instance stopped) then counts as failed,
// and whoever meets the lock it set is refused as after a failure.
func (s *Service) takePasswordSlot(ctx context.Context, key string) (*passwordSlot, error) {
	var err error
	var polling *time.Timer // real time: the wait is for other requests, not for the clock
	defer func() {
		if polling != nil {
			polling.Stop()
		}
	}()
	poll := passwordPoll
	for waits := 0; waits < maxPasswordWaits; {
		before := s.passwordChecks.begin(key)
		var taken time.Time
		if _, taken, err = s.takeSlotBy(ctx, key, passwordDelay, s.takeSlotUnderWay); err == nil {
			return &passwordSlot{s: s, ctx: context.WithoutCancel(ctx), key: key, taken: taken}, nil
		}
		ended, others, missed := s.passwordChecks.end(key, false, before)
		if twofold.ErrorCode(err) != twofold.CodeThrottled {
			return nil, err
		}
		if missed {
			// One that held a slot ended while this one tried: its
			// outcome may have cleared the lock this one met.
			waits++
			continue
		}
		if others {
			waits++
			select {
			case <-ended:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			continue
		}
		// None under way here: perhaps on another instance. The lock
		// this attempt met was read before: an attempt on another
		// instance may have passed since, clearing the counter and its
		// count under way with it, and no count then must not read as
		// "nobody under way, and the lock stands". So the count and the
		// lock are judged from one read: a lock gone by then means the
		// counter moved (cleared, or its lock ran out), and this attempt
		// tries again; a lock still standing with nobody under way is
		// the lock of a failure, and it is refused.
		n, until, locked, uerr := s.store.SlotsUnderWay(ctx, key)
		if uerr != nil {
			return nil, uerr
		}
		now := s.Now()
		if !now.Before(locked) {
			waits++
			continue
		}
		if n <= 0 || !now.Before(until) {
			return nil, err
		}
		if polling == nil {
			polling = time.NewTimer(maxPasswordPolling)
		}
		t := time.NewTimer(poll)
		poll = min(2*poll, maxPasswordPoll)
		select {
		case <-t.C:
		case <-polling.C:
			t.Stop()
			return nil, err
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	return nil, err
}

// takeSlotUnderWay takes a password slot that counts as under way for
// PasswordUnderWay at most.
func (s *Service) takeSlotUnderWay(ctx context.Context, key string, seen int, lockUntil, now time.Time) (bool, error) {
	return s.store.TakeSlotUnderWay(ctx, key, seen, lockUntil, now, now.Add(PasswordUnderWay))
}

// passwordSlot is a slot taken on a password counter, from its taking to
// the outcome of the check it pays for.
type passwordSlot struct {
	s      *Service
	ctx    context.Context // the request's, without its cancellation
	key    string
	taken  time.Time
	passed bool
	once   sync.Once
}

// pass clears the counter after a right password; end then has nothing
// left to do in the database.
func (p *passwordSlot) pass(ctx context.Context) {
	if err := p.s.store.ResetThrottle(ctx, p.key); err != nil {
		p.s.log.Error("throttle not reset", "err", err)
		return
	}
	p.passed = true
}

// end ends the attempt, whatever its outcome, and wakes those that wait for
// one: first on every instance (unless pass cleared the counter, and the
// count with it), then on this one. It runs once, on when the caller has
// gone: waiting attempts must not wait for nothing.
func (p *passwordSlot) end() {
	p.once.Do(func() {
		if !p.passed {
			ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
			if err := p.s.store.EndSlot(ctx, p.key, p.taken); err != nil {
				p.s.log.Error("throttle slot not ended", "err", err)
			}
			cancel()
		}
		p.s.passwordChecks.end(p.key, true, nil)
	})
}

// underWay counts, per counter key, the attempts on this instance from
// trying for a slot to their outcome, so that an attempt refused by a lock
// one of them may have set can wait for it to end (takePasswordSlot).
type underWay struct {
	mu sync.Mutex
	m  map[string]*attempts
}

type attempts struct {
	n     int           // attempts under way
	ended chan struct{} // closed when one that took a slot ends, or the last one
}

// begin counts an attempt on key as under way, before it tries for a slot:
// whoever meets the lock that its slot sets finds it counted. It returns
// what is closed when an attempt that took a slot ends from now on.
func (u *underWay) begin(key string) <-chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[string]*attempts{}
	}
	a := u.m[key]
	if a == nil {
		a = &attempts{ended: make(chan struct{})}
		u.m[key] = a
	}
	a.n++
	return a.ended
}

// end ends an attempt on key, which took a slot or was refused one, and
// returns what is closed when the next attempt that took a slot ends (or
// the last one under way), and whether others are still under way. Those
// waiting are woken by an attempt that took a slot, whose outcome may have
// cleared or lifted the lock, and by the last one, after which none will
// be; not by every refusal, which would have them try again in a loop
// while the passwords are being checked. missed reports whether before
// (what begin returned) was closed by then: an attempt that took a slot
// ended while this one tried, so the lock this one met may be gone.
func (u *underWay) end(key string, took bool, before <-chan struct{}) (ended <-chan struct{}, others, missed bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if before != nil {
		select {
		case <-before:
			missed = true
		default:
		}
	}
	a := u.m[key]
	a.n--
	if a.n == 0 {
		close(a.ended)
		delete(u.m, key)
		return nil, false, missed
	}
	if took {
		close(a.ended)
		a.ended = make(chan struct{})
	}
	return a.ended, true, missed
}

// slotOpen returns the failures counted against key, or a throttled error
// while key is locked, taking nothing.
func (s *Service) slotOpen(ctx context.Context, key string) (int, error) {
	f, until, err := s.store.Throttle(ctx, key)
	if err != nil {
		return 0, err
	}
	if now := s.Now(); now.Before(until) {
		msg := ""
		if id := capAccount(key); until.Sub(now) > maxRetryAfter && f >= HardCap && id != "" {
			msg = s.hardCapMessage(ctx, id) // no wait lifts this lock
		}
		return f, throttled(until.Sub(now), msg)
	}
	return f, nil
}

// slotLost answers an attempt whose slot on key concurrent attempts took:
// it reads the counter once more, so that the wait is what remains of the
// lock they set (else a retry after the second answered meets that lock
// and is refused again), and a second only when nothing is locked.
func (s *Service) slotLost(ctx context.Context, key string) error {
	if _, err := s.slotOpen(ctx, key); err != nil {
		return err
	}
	return throttled(time.Second, "")
}

func (s *Service) resetSlots(ctx context.Context, keys ...string) {
	for _, k := range keys {
		if err := s.store.ResetThrottle(ctx, k); err != nil {
			s.log.Error("throttle not reset", "err", err)
		}
	}
}

// allowSource takes a token from the source address's bucket on the login
// endpoints, refusing a flood from one address.
func (s *Service) allowSource(ctx context.Context, m Meta) error {
	b, ok := s.sourceBucket(m)
	if !ok {
		return nil
	}
	ok, err := s.store.TakeToken(ctx, b.Key, b.Burst, b.Rate, b.Now)
	if err != nil {
		return err
	}
	if !ok {
		return s.refuseSource(ctx, m)
	}
	return nil
}

// sourceBucket is the bucket allowSource takes a token from; ok is false
// when there is none (no rate set, or no source address).
func (s *Service) sourceBucket(m Meta) (b twofold.Bucket, ok bool) {
	if s.cfg.LoginRate <= 0 || m.Source == "" {
		return twofold.Bucket{}, false
	}
	return twofold.Bucket{Key: "ip:" + sourceKey(m.Source), Burst: float64(s.cfg.LoginBurst), Rate: s.cfg.LoginRate, Now: s.Now()}, true
}

// refuseSource answers a request whose source address's bucket had no
// token, and audits it (rationed).
func (s *Service) refuseSource(ctx context.Context, m Meta) error {
	s.auditRefused(ctx, "login-rate", sourceKey(m.Source), "", "login.throttled", m, "address over its request rate")
	return throttled(time.Duration(float64(time.Second)/s.cfg.LoginRate), "")
}

// UnlockAccount clears every failed-attempt counter of an account, its
// second factor's and its password's, and forgives the push denials counted
// against push bombing, so that pushes do not pause again at the next
// denial: an operator's action, audited, and the owner is told. It reports
// false, and records nothing, when there was nothing to clear.
func (s *Service) UnlockAccount(ctx context.Context, op Auth, accountID string, m Meta) (bool, error) {
	m = m.by(op)
	// Unlocking lifts the limit on guesses at another account's second
	// factor: a stolen operator session must not be able to, so it takes
	// the operator's own fresh second factor; an API key, with no second
	// factor behind it, unlocks one account only keyUnlocks times in
	// keyUnlockEvery.
	if err := s.requireAdminWrite(ctx, op, "users", "unlocking an account"); err != nil {
		return false, err
	}
	a, err := s.store.AccountByID(ctx, accountID)
	if err != nil {
		return false, err
	}
	if err := s.keyMayTouch(ctx, op, a, "unlocking the account", m); err != nil {
		return false, err
	}
	var cleared bool
	err = s.inTx(ctx, func(ctx context.Context) error {
		codes, err := s.store.ResetThrottlePrefix(ctx, "2fa:"+a.ID+":")
		if err != nil {
			return err
		}
		passwords, err := s.store.ResetThrottlePrefix(ctx, s.passwordPrefix(a.Username))
		if err != nil {
			return err
		}
		denials, err := s.store.ForgivePushDenials(ctx, a.ID, s.Now().Add(-PushDenialWindow))
		if err != nil {
			return err
		}
		if cleared = codes+passwords+denials > 0; !cleared {
			return nil
		}
		if op.Key != nil {
			ok, err := s.store.TakeToken(ctx, "key-unlock:"+a.ID, keyUnlocks, keyUnlocks/keyUnlockEvery.Seconds(), s.Now())
			if err != nil {
				return err
			}
			if !ok {
				return throttled(keyUnlockEvery/keyUnlocks, fmt.Sprintf("API keys may unlock an account at most %d times in %d hours: an operator signed in with a fresh second factor can unlock it", keyUnlocks, int(keyUnlockEvery.Hours())))
			}
		}
		s.auditOperator(ctx, a.ID, "account.unlocked", m, true, "by "+actor(op), "by an operator")
		s.notifyEnd(ctx, a.ID, "your account was unlocked", footerOperator, "An operator cleared the failed-attempt locks on your account.")
		return nil
	})
	return cleared, err
}

// StaleAfter is how long an unlocked counter or a rate bucket is kept
// untouched before Sweep removes it.
const StaleAfter = 24 * time.Hour

// SweepMargin is how long after it runs out by the sweeping instance's clock
// a row is kept. Some rows remember a use, so that what was used is refused
// when it comes again: a push device's nonce, a form's token. Another
// instance judges whether what comes is still in date by its own clock; were
// the rows swept the moment they run out by a clock ahead of it, that
// instance would take what comes again for a first use. Instances whose
// clocks differ by less than this (README "Running more than one instance")
// never do. The other rows swept only stay a little longer.
const SweepMargin = 5 * time.Minute

// ExpiredKeyKeep is how long the sweep keeps an API key after it expired:
// its account's list shows it, marked expired, for that long (so the
// person sees which script's key ran out), then it is deleted with its
// tokens. Only live keys count towards MaxAPIKeys, so an expired key never
// stands in the way of a new one meanwhile (README "API keys for scripts").
const ExpiredKeyKeep = 30 * 24 * time.Hour

// Sweep removes what has run out: expired sessions and logins (and the
// heartbeats of instances long stopped), webhooks'
// previous secrets past their grace (and disables the webhooks whose API
// key has expired), API keys expired for ExpiredKeyKeep, rate buckets and password counters
// untouched for StaleAfter, and second-factor counters at zero. Second-factor counters that still count failures stay until a
// success, the recovery path or an operator clears them: were they dropped
// after a quiet day, an attacker could wait for that instead of for the hard
// cap's lock. It also reads, every RefusalCostEvery, the parameters of the
// password hashes in store that refusals are padded to
// (refreshRefusalCost). Every instance runs it now and then; running it
// twice is harmless.
func (s *Service) Sweep(ctx context.Context) error {
	now := s.Now()
	before := now.Add(-SweepMargin)
	if err := s.store.DeleteExpired(ctx, before, sessionsBelow(before, s.cfg.SessionTTL)); err != nil {
		return err
	}
	if err := s.carryOutDueResets(ctx); err != nil {
		return err
	}
	// After the resets: one carried out just now has told its addresses.
	if _, err := s.store.PurgeReplacedEmails(ctx, now.Add(-s.ReplacedEmailKeep())); err != nil {
		return err
	}
	// Before the push requests go: those that expired unanswered count
	// towards the notice of unapproved pushes.
	if err := s.sweepPushFatigue(ctx, now); err != nil {
		return err
	}
	if err := s.sweepPush(ctx, now); err != nil {
		return err
	}
	if _, err := s.store.ClearWebhookPreviousSecrets(ctx, now); err != nil {
		// Not worth the rest of the sweep: deliveries clear them too.
		s.log.Error("clear webhooks' previous secrets", "err", err)
	}
	if err := s.inTx(ctx, func(ctx context.Context) error { return s.disableWebhooksOfEndedKeys(ctx, Meta{}) }); err != nil {
		// Deliveries check the key before each batch anyway.
		s.log.Error("disable webhooks of ended API keys", "err", err)
	}
	// After the webhooks: one an expired key answered for is turned off as
	// key-expired before the key goes.
	if _, err := s.store.DeleteExpiredAPIKeys(ctx, now.Add(-ExpiredKeyKeep)); err != nil {
		return err
	}
	if s.refusalCostStale(now) {
		// Not worth the rest of the sweep: the last read stands meanwhile.
		if err := s.refreshRefusalCost(ctx); err != nil {
			s.log.Error("read the parameters of the password hashes in store", "err", err)
		}
	}
	return s.store.DeleteStaleThrottles(ctx, now.Add(-StaleAfter), hardCappedKeys)
}

// plural returns one when n is 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// failuresText says how many consecutive failures there were, for audit details.
func failuresText(n int) string {
	return fmt.Sprintf("%d consecutive %s", n, plural(n, "failure", "failures"))
}

// siteShare is how many clients' worth of requests one IPv6 /48 (a site)
// may make to an endpoint that stores something for anyone who asks: a
// holder of a /48 has 65,536 /64s, each counted as a client by allowSource.
const siteShare = 16

// allowSite takes a token from the bucket of source's IPv6 /48, siteShare
// times a client's, refusing a flood spread over a site's /64s. IPv4
// addresses pass (allowSource counts them one by one). Only where a request
// stores something for anyone (a passkey sign-in begun): on the second
// step it would be one more write per login.
func (s *Service) allowSite(ctx context.Context, m Meta) error {
	site, ok := siteKey(m.Source)
	if s.cfg.LoginRate <= 0 || !ok {
		return nil
	}
	allowed, err := s.store.TakeToken(ctx, "site:"+site, siteShare*float64(s.cfg.LoginBurst), siteShare*s.cfg.LoginRate, s.Now())
	if err != nil {
		return err
	}
	if !allowed {
		s.auditRefused(ctx, "login-site-rate", site, "", "login.throttled", m, "IPv6 /48 over its request rate")
		return throttled(time.Duration(float64(time.Second)/(siteShare*s.cfg.LoginRate)), "")
	}
	return nil
}

// siteKey names the IPv6 /48 of source; ok is false for anything else.
func siteKey(source string) (string, bool) {
	a, err := netip.ParseAddr(source)
	if err != nil || !a.Unmap().Is6() {
		return "", false
	}
	p, _ := a.Unmap().Prefix(48)
	return p.String(), true
}
