package core

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/credhash"
	"github.com/twofold/twofold/internal/factor/email"
	"github.com/twofold/twofold/internal/factor/sms"
)

// Codes sent by text message or email (SPEC §2 "SMS code", "email code").
//
// A code is 6 digits from the service's random source, stored only as a
// keyed hash, one per factor and scope (a resend replaces the old one; a
// code for a login leaves the session's elevation code), good for its
// scope (a login, a session's elevation, a password reset, or confirming
// the factor) for SentCodeTTL and SentCodeChecks checks. Each check takes
// a slot of the same per-account and per-factor code counters as TOTP codes
// (checkSecondFactor), then one of the code's checks; the right code is
// used by one conditional DELETE, so of two checks of one code exactly one
// passes. Sending is limited by token buckets per phone number or address,
// per account and per client address, against SMS pumping; so are the
// regions texted, at every send (--sms-countries).

// TextSender delivers a text message to a phone number in E.164 form;
// notify.Twilio and notify.TextLog implement it.
type TextSender interface {
	SendText(ctx context.Context, to, body string) error
}

// CodeMailer queues a mail that carries a one-time code or link, code, stored
// sealed (body and recipient) and dropped unsent once code no longer works
// (used, replaced or voided) or discardAt has passed; notify.Outbox
// implements it.
type CodeMailer interface {
	EnqueueCode(ctx context.Context, to, subject, body string, code twofold.MailedCode, discardAt time.Time) error
}

// SentCodeTTL is how long a sent code is good for (SPEC §2: at most 10 minutes).
const SentCodeTTL = 10 * time.Minute

// SentCodeChecks is how many times a sent code may be checked (SPEC §2: at most 5).
const SentCodeChecks = 5

// SendLimit is a token bucket on sending codes: Burst at once, then one
// every Every.
type SendLimit struct {
	Burst int
	Every time.Duration
}

// SendLimits bound how many codes are sent (SPEC §2).
type SendLimits struct {
	// PerDestination bounds the codes of one account to one phone number
	// or address: its sign-in and elevation codes, and apart from those,
	// the codes that confirm the number or address as a new factor.
	PerDestination SendLimit
	// Enrolments bounds the codes that confirm one number or address as a
	// new factor, whichever accounts add it: against SMS pumping through
	// many accounts. It must stay well above what one account's
	// PerDestination lets through, so that no one account can use it up
	// and keep the number's owner from adding it.
	Enrolments SendLimit
	PerAccount SendLimit
	PerSource  SendLimit // one client address (an IPv6 /64)
}

// DefaultSendLimits: 5 codes from one account to one number or address,
// then one each 12 minutes (5 an hour), for sign-ins and elevations and
// apart from those for adding it as a factor; 20 codes adding one number
// or address as a factor, whichever accounts ask, then one each 3 minutes
// (20 an hour); 10 per account, then one each 6 minutes; 20 per client
// address, then one each 3 minutes.
//
// One account adding a number gets at most 5 + t/12 min codes to it by
// time t, while the number's enrolment bucket holds 20 + t/3 min: four
// times the burst and four times the rate, so that one account alone (or
// three) can never empty it, and someone who keeps removing and adding a
// stranger's number spends only his own allowance for it. The enrolment
// bucket still bounds a pumped number to 20 texts an hour however many
// accounts ask, and each account's own bucket (10 an hour over every
// number) and each client address's bound how many numbers one of them
// can pump.
func DefaultSendLimits() SendLimits {
	return SendLimits{
		PerDestination: SendLimit{Burst: 5, Every: 12 * time.Minute},
		Enrolments:     SendLimit{Burst: 20, Every: 3 * time.Minute},
		PerAccount:     SendLimit{Burst: 10, Every: 6 * time.Minute},
		PerSource:      SendLimit{Burst: 20, Every: 3 * time.Minute},
	}
}

// Challenge is a code sent: where to (masked) and until when it works.
type Challenge struct {
	FactorID  string
	Method    twofold.Method
	SentTo    string // the factor's hint: "+44 •••• ••3456"
	ExpiresAt time.Time
	// Options are, for webauthn, the options for navigator.credentials.get
	// (or create, to confirm a key): {"publicKey":{…}}.
	Options json.RawMessage
	// Secret is, for a code of a login or an elevation, the requester's
	// secret (code_secret): sending the factor another code for the same
	// login or elevation while this one lives needs it (deliverCode). It is
	// also set beside an error when the text may still arrive.
	Secret string
}

// Scopes of a sent code.
func loginScope(k loginKey) string         { return "login:" + string(k) }
func elevateScope(sessionID string) string { return "elevate:" + sessionID }
func confirmScope() string                 { return "confirm" }
func (s *Service) codeHash(factorID, code string) []byte {
	return s.hasher.Sum("sent-code", factorID+":"+code)
}

// newSentCode returns 6 decimal digits drawn uniformly from the service's
// random source.
func (s *Service) newSentCode() (string, error) {
	const limit = math.MaxUint32 - math.MaxUint32%1000000 // below it, every code is equally likely
	var b [4]byte
	for {
		if _, err := io.ReadFull(s.rand, b[:]); err != nil {
			return "", err
		}
		if v := binary.BigEndian.Uint32(b[:]); v < limit {
			return fmt.Sprintf("%06d", v%1000000), nil
		}
	}
}

// parseDestination checks the phone number or address of a new sms or
// email factor and returns it in its stored form.
func (s *Service) parseDestination(a twofold.Account, n NewFactor) (string, error) {
	switch n.Type {
	case twofold.FactorSMS:
		if n.Email != "" {
			return "", twofold.Errorf(twofold.CodeInvalid, "an sms factor takes a phone, not an email").On("email")
		}
		p, err := sms.Parse(n.Phone, s.cfg.SMSCountries)
		if err != nil {
			return "", twofold.Errorf(twofold.CodeInvalid, "%s", err.Error()).On("phone")
		}
		return p, nil
	default:
		if n.Phone != "" {
			return "", twofold.Errorf(twofold.CodeInvalid, "an email factor takes an email, not a phone").On("phone")
		}
		addr := n.Email
		if strings.TrimSpace(addr) == "" {
			addr = a.Email
		}
		e, err := email.Parse(addr)
		if err != nil {
			return "", twofold.Errorf(twofold.CodeInvalid, "%s", err.Error()).On("email")
		}
		// The account's address rule (validEmail): an address with a
		// hidden character (a text-direction override, a zero-width space,
		// a soft hyphen) would show, masked or not, as another address
		// than the one mailed.
		if strings.IndexFunc(e, hiddenRune) >= 0 {
			return "", twofold.Errorf(twofold.CodeInvalid, "this address holds hidden characters (text-direction marks, zero-width spaces, soft hyphens, controls)").On("email")
		}
		if !mailableDomain(e) {
			return "", twofold.Errorf(twofold.CodeInvalid, "the domain of this address is not a domain name mail can go to (letters, digits and hyphens, or an internationalised domain name)").On("email")
		}
		return e, nil
	}
}

// hintOf masks an sms or email factor's phone number or address.
func hintOf(t twofold.FactorType, destination string) string {
	if t == twofold.FactorSMS {
		return sms.Mask(destination)
	}
	return email.Mask(destination)
}

// withHints sets the hint of each sms and email factor of fs (opening its
// destination), and marks a phone whose region --sms-countries no longer
// admits Unavailable, and returns fs. A factor whose destination cannot be
// read (unreadableSecret) is listed without a hint, marked Unavailable, as
// the second step lists it (methods), rather than failing the whole list:
// its owner still sees it, and can remove it.
func (s *Service) withHints(ctx context.Context, fs []twofold.Factor) ([]twofold.Factor, error) {
	for i := range fs {
		if why, err := s.keyMissing(ctx, fs[i]); err != nil {
			return nil, err
		} else if why != "" {
			fs[i].Unavailable = why
			continue
		}
		if !fs[i].Type.SendsCodes() {
			continue
		}
		f := fs[i]
		if err := s.open(ctx, &f); err != nil {
			if !unreadableSecret(err) {
				return nil, err
			}
			s.log.Warn("a factor's secret could not be opened; it is listed as unavailable", "factor", f.ID, "err", err)
			fs[i].Unavailable = unreadableReason(err)
			continue
		}
		fs[i].Hint = hintOf(f.Type, string(f.Secret))
		if f.Type == twofold.FactorSMS && !s.cfg.SMSCountries.Allows(string(f.Secret)) {
			fs[i].Unavailable = phoneNotAllowed
		}
		clear(f.Secret)
	}
	return fs, nil
}

// keyMissing returns, for a TOTP or HOTP factor whose secret is sealed
// under a data key this instance cannot read (deleted by a rotation, or
// wrapped by a master key the key file does not hold), the reason it is
// Unavailable (keyNotReadable), and for one whose secret was found damaged
// (DamagedAt: it did not decrypt under a key that is held when a code was
// checked against it, passOver) and still does not, keyDamaged; "" for any
// other factor. Whether the key is held is one look at the keyring, and
// damage is remembered on the factor's row: a healthy app's secret is not
// opened, as opening every app's secret on every list would hold them all
// in memory for nothing. A secret damaged since the last check of a code
// against it is found by the next one. An sms or email factor is opened
// for its hint anyway, which tells both.
//
// The secret of a factor marked damaged is opened, to see whether it still
// is (the only factors a list opens, and rare): when the operator has put
// back its ciphertext or the key file, it opens, is listed available, and
// its mark is cleared (forgetDamage), so that it is offered again at
// sign-in and for confirming it's you. A code of it is then checked as any
// other's, under the same replay and throttle rules.
func (s *Service) keyMissing(ctx context.Context, f twofold.Factor) (string, error) {
	if f.Type != twofold.FactorTOTP && f.Type != twofold.FactorHOTP {
		return "", nil
	}
	ok, err := s.keys.Has(ctx, f.SecretKeyID)
	if err != nil {
		return "", fmt.Errorf("factor %s: %w", f.ID, err)
	}
	if !ok {
		s.log.Warn("a factor's secret is sealed under a data key this instance cannot read; it is listed as unavailable", "factor", f.ID, "key", f.SecretKeyID)
		return keyNotReadable, nil
	}
	if f.DamagedAt == nil {
		return "", nil
	}
	switch err := s.open(ctx, &f); {
	case err == nil:
		clear(f.Secret)
		s.forgetDamage(f)
		return "", nil
	case unreadableSecret(err):
		return unreadableReason(err), nil
	default:
		return "", err
	}
}

// SendsCodes reports whether this server can send codes of a factor of
// type t: text messages need a gateway, mails an SMTP server.
func (s *Service) SendsCodes(t twofold.FactorType) bool {
	switch t {
	case twofold.FactorSMS:
		return s.texts != nil
	case twofold.FactorEmail:
		return s.sendsMail()
	}
	return false
}

// sentKind names what carries codes of factor type t.
func sentKind(t twofold.FactorType) string {
	if t == twofold.FactorSMS {
		return "text messages"
	}
	return "mail"
}

// enrolSent creates a pending sms or email factor and sends it a code to
// confirm it with (ConfirmFactor). Nothing is stored when the code cannot
// be sent.
func (s *Service) enrolSent(ctx context.Context, a Auth, n NewFactor, m Meta) (Enrolment, error) {
	if err := s.requireElevationIfEnabled(ctx, a); err != nil {
		return Enrolment{}, err
	}
	if err := RefuseOnly(twofold.Errorf(twofold.CodeInvalid, "algorithm, digits, period and secret_size apply to totp and hotp only"),
		map[string]bool{"algorithm": n.Algorithm != "", "digits": n.Digits != 0, "period": n.Period != 0, "secret_size": n.SecretSize != 0}); err != nil {
		return Enrolment{}, err
	}
	dest, hint, label, err := s.checkSent(ctx, a, n)
	if err != nil {
		return Enrolment{}, err
	}
	taken, err := s.allowSend(ctx, a.Account.ID, n.Type, dest, true, m)
	if err != nil {
		return Enrolment{}, err
	}
	id, err := s.newID()
	if err != nil {
		return Enrolment{}, err
	}
	f := twofold.Factor{ID: id, AccountID: a.Account.ID, Type: n.Type, Label: label, Status: twofold.FactorPending,
		Digits: 6, LastStep: -1, CreatedAt: s.Now(), PendingSessionID: a.Session.ID}
	err = sealAndStore(func() (err error) {
		if f.SecretKeyID, f.SealedSecret, err = s.keys.SealContext(ctx, []byte(dest), factorAAD(id)); err != nil {
			return fmt.Errorf("seal destination: %w", err)
		}
		return nil
	}, func() error {
		return s.createPending(ctx, a, m, f, nil, func(ctx context.Context, fs []twofold.Factor) error {
			return s.checkNewDestination(ctx, fs, f.Type, dest, f.ID)
		})
	})
	if err != nil {
		return Enrolment{}, err
	}
	f.Secret, f.Hint = twofold.Secret(dest), hint
	expires, _, err := s.deliverCode(ctx, a.Account, f, confirmScope(), "", time.Time{}, taken, m)
	if err != nil {
		// Nothing half-stored: the factor goes with the code it never got.
		if _, derr := s.store.DeleteFactor(ctx, a.Account.ID, id, twofold.FactorPending); derr != nil {
			s.log.Error("pending factor not removed after its code was not sent", "err", derr)
		}
		return Enrolment{}, err
	}
	s.audit(ctx, a.Account.ID, "factor.created", m, string(f.Type)+" "+id)
	f.Secret = nil
	return Enrolment{Factor: f, CodeExpiresAt: expires}, nil
}

// CheckNewFactor reports why n cannot be added to the caller's account,
// as far as can be known before it is: for an sms or email factor its
// phone or address and the name it would get, for a push device its name,
// and that the account has fewer than maxPendingFactors setups unfinished.
// Pages call it before anything is spent on the way to EnrolFactor or
// EnrolPush, such as a one-time code for elevation. The same checks run
// again as the factor is stored.
func (s *Service) CheckNewFactor(ctx context.Context, a Auth, n NewFactor) error {
	if err := person(a); err != nil {
		return err
	}
	if n.Type.SendsCodes() {
		_, _, _, err := s.checkSent(ctx, a, n)
		return err
	}
	if n.Type != twofold.FactorPush {
		return twofold.Errorf(twofold.CodeInvalid, "type must be sms, email or push").On("type")
	}
	_, err := s.newFactorLabel(ctx, a, n.Label)
	return err
}

// checkSent checks a new sms or email factor n against the rules and the
// account's factors: its phone or address, its name (the masked
// destination, numbered, when none is given), the setups unfinished, and
// that the destination is not already a factor of the account. It returns
// the destination in its stored form, its mask and the name.
func (s *Service) checkSent(ctx context.Context, a Auth, n NewFactor) (dest, hint, label string, err error) {
	if dest, err = s.parseDestination(a.Account, n); err != nil {
		return "", "", "", err
	}
	if !s.SendsCodes(n.Type) {
		return "", "", "", twofold.Errorf(twofold.CodeUnavailable, "this server sends no %s, so it cannot confirm an %s factor", sentKind(n.Type), n.Type)
	}
	hint = hintOf(n.Type, dest)
	fs, err := s.accountLiveFactors(ctx, a)
	if err != nil {
		return "", "", "", err
	}
	if strings.TrimSpace(n.Label) == "" {
		// The masked destination, numbered when another factor has that
		// name already (two addresses can mask alike).
		n.Label = unusedLabel(fs, hint)
	}
	if label, err = validateLabel(n.Label); err != nil {
		return "", "", "", err
	}
	if err := checkNewLabel(fs, label, ""); err != nil {
		return "", "", "", err
	}
	if err := checkPending(fs); err != nil {
		return "", "", "", err
	}
	if err := s.checkNewDestination(ctx, fs, n.Type, dest, ""); err != nil {
		return "", "", "", err
	}
	return dest, hint, label, nil
}

// checkNewDestination refuses dest as the destination of a new factor of
// type t when one of fs other than except has it already.
func (s *Service) checkNewDestination(ctx context.Context, fs []twofold.Factor, t twofold.FactorType, dest, except string) error {
	for _, f := range fs {
		if f.Type != t || f.ID == except {
			continue
		}
		if err := s.open(ctx, &f); err != nil {
			return err
		}
		if string(f.Secret) == dest {
			return twofold.Errorf(twofold.CodeConflict, "you have %s as an authenticator already (%q)", hintOf(t, dest), f.Label)
		}
	}
	return nil
}

// allowSend takes a token from each send limit that a code to dest for
// the account meets, or answers throttled with the wait until every bucket
// that refused has a token again.
//
// The destination's buckets are the account's own (PerDestination): one
// for its sign-ins and elevations, and one for its enrolments (confirming
// a factor not yet active), so that nobody who enrols someone else's
// number can use up its owner's codes (SPEC §1 story 9), for signing in
// or for adding it. An enrolment also takes from the number's bucket that
// every account shares (Enrolments), against SMS pumping through many
// accounts; it is loose enough that one account's own bucket stops it
// well before it empties (DefaultSendLimits).
//
// The tokens are taken all or none, in one transaction: a send that one
// limit refuses takes nothing from the others. Else a refused request would
// still spend the holder's codes (a shared address that others used up
// would cost the owner her number's and account's codes for nothing), and
// an account out of codes could keep any number from being enrolled, by
// asking for it now and then. Every transaction takes the buckets in the
// same order (destination, account's destination, account, address), so that concurrent ones on
// PostgreSQL wait for each other's row locks and never deadlock; and each
// take is the one conditional statement of TakeToken, so concurrent sends
// never exceed a limit.
func (s *Service) allowSend(ctx context.Context, accountID string, t twofold.FactorType, dest string, enrol bool, m Meta) (sendTokens, error) {
	l := s.cfg.SendLimits
	d := hex.EncodeToString(s.hasher.Sum("send-destination", string(t)+":"+dest)[:16])
	var buckets []sendBucket
	if enrol {
		buckets = append(buckets,
			sendBucket{"send:to:" + d, l.Enrolments, "codes to add this " + destinationNoun(t), true},
			sendBucket{"send:enrol:" + accountID + ":" + d, l.PerDestination, "codes to add this " + destinationNoun(t), true})
	} else {
		buckets = append(buckets, sendBucket{"send:to:" + accountID + ":" + d, l.PerDestination, "codes to this " + destinationNoun(t), true})
	}
	buckets = append(buckets, sendBucket{"send:account:" + accountID, l.PerAccount, "codes for this account", true})
	if m.Source != "" {
		buckets = append(buckets, sendBucket{"send:ip:" + sourceKey(m.Source), l.PerSource, "codes asked for from this address", false})
	}
	buckets = slices.DeleteFunc(buckets, func(b sendBucket) bool { return b.limit.Burst <= 0 || b.limit.Every <= 0 })
	now := s.Now()
	refused := false
	err := s.inTx(ctx, func(ctx context.Context) error {
		refused = false
		for _, b := range buckets {
			ok, err := s.store.TakeToken(ctx, b.key, float64(b.limit.Burst), 1/b.limit.Every.Seconds(), now)
			if err != nil {
				return err
			}
			if !ok {
				refused = true
				return errSendRefused // rolls back the tokens taken before
			}
		}
		return nil
	})
	if refused {
		return nil, s.refuseSend(ctx, accountID, buckets, now, m)
	}
	if err != nil {
		return nil, err
	}
	var taken sendTokens
	for _, b := range buckets {
		if b.givenBack {
			taken = append(taken, sendToken{b.key, float64(b.limit.Burst)})
		}
	}
	return taken, nil
}

// errSendRefused ends the transaction of allowSend when a limit refuses.
var errSendRefused = errors.New("send refused by a limit")

// sendBucket is one send limit that a code meets: its bucket's key, the
// limit, what it counts, for the answer, and whether its token is given
// back when the send certainly failed (sendTokens).
type sendBucket struct {
	key       string
	limit     SendLimit
	what      string
	givenBack bool
}

// refuseSend answers a send that a limit refused (allowSend, which took
// nothing): throttled, with the longest wait of the buckets that are empty,
// so that a client retrying after Retry-After is not refused again by
// another of them, and naming that bucket.
func (s *Service) refuseSend(ctx context.Context, accountID string, buckets []sendBucket, now time.Time, m Meta) error {
	var worst sendBucket
	var wait time.Duration
	for _, b := range buckets {
		w, err := s.nextToken(ctx, b.key, b.limit, now)
		if err != nil {
			return err
		}
		if w > wait {
			worst, wait = b, w
		}
	}
	if wait == 0 { // refilled since, or given back by a failed send
		worst, wait = buckets[0], time.Second
	}
	s.auditRefused(ctx, worst.key, sourceKey(m.Source), accountID, "code.send_throttled", m, worst.what)
	n := int(math.Ceil(wait.Seconds()))
	return throttled(wait, fmt.Sprintf("too many %s were sent; try again in %d %s", worst.what, n, plural(n, "second", "seconds")))
}

// sendTokens are the tokens allowSend took from the buckets of a code's
// destination and account, which a send that certainly did not go gives
// back (deliverCode): a gateway that refuses, or an outbox that cannot
// queue, must not use up the holder's codes for the hour. The client
// address's token is kept, so that one client cannot have the gateway
// refuse messages without end.
type sendTokens []sendToken

type sendToken struct {
	key   string
	burst float64
}

// nextToken returns how long from now the bucket key takes to hold a token
// again: zero when it holds one (or there is no such bucket, which is
// full), else never more than the limit's Every, never under a second.
func (s *Service) nextToken(ctx context.Context, key string, l SendLimit, now time.Time) (time.Duration, error) {
	tokens, at, found, err := s.store.Bucket(ctx, key)
	if err != nil || !found {
		return 0, err
	}
	refilled := tokens + max(now.Sub(at).Seconds(), 0)/l.Every.Seconds()
	if refilled >= 1 {
		return 0, nil
	}
	wait := time.Duration((1 - refilled) * float64(l.Every)).Round(time.Millisecond) // no float dust in whole seconds
	return max(min(wait, l.Every), time.Second), nil
}

func destinationNoun(t twofold.FactorType) string {
	if t == twofold.FactorSMS {
		return "phone number"
	}
	return "address"
}

// PhonesOutsideAllowList counts the stored phone numbers (sms factors,
// active or waiting for confirmation) whose region is not on
// --sms-countries: they are sent no code (deliverCode), and a login does
// not offer them (methods). It opens each number and keeps none; those that
// cannot be opened (their data key is not in this instance's key file) are
// counted apart, as unreadable. The factors are read a page at a time.
func (s *Service) PhonesOutsideAllowList(ctx context.Context) (outside, unreadable int, err error) {
	const page = 500
	after := ""
	for {
		fs, err := s.store.FactorsOfType(ctx, twofold.FactorSMS, after, page)
		if err != nil {
			return outside, unreadable, err
		}
		for _, f := range fs {
			if err := s.open(ctx, &f); err != nil {
				unreadable++
				continue
			}
			if !s.cfg.SMSCountries.Allows(string(f.Secret)) {
				outside++
			}
			clear(f.Secret)
		}
		if len(fs) < page {
			return outside, unreadable, nil
		}
		after = fs[len(fs)-1].ID
	}
}

// phoneNotAllowed says why a phone whose region is not on --sms-countries
// is sent no code, without naming the region.
const phoneNotAllowed = "this server no longer sends text messages to this number's country"

// keyNotReadable says why a factor whose key this instance cannot read (a
// key file behind a rotation) is not offered, without naming the key.
const keyNotReadable = "the server cannot read this authenticator's key at the moment; try another way, or again later"

// keyDamaged says why a factor whose stored secret does not decrypt (bit
// rot, a bad restore, tampering) cannot be used: unlike a key not readable
// at the moment, it will not mend itself.
const keyDamaged = "the server's stored copy of this authenticator's key is damaged; remove it and add it again"

// deliverCode stores a fresh code for factor f (opened: f.Secret is its
// destination) in scope, replacing the one before, and sends it. A text
// message is handed to the gateway before the answer; a mail is queued
// sealed and sent at once by this instance's outbox worker.
//
// The code is stored before it is handed over, so that it works the moment
// it can arrive. When the send then certainly failed (the gateway refused
// it or was never reached, or the mail could not be queued), the code it
// replaced is put back as it was, so that a code the holder already has
// keeps working, and the tokens taken from the send limits are given back
// (taken). When the outcome is unknown (a timeout, a 5xx answer), the new
// code stands and the send counts: the message may still arrive, and only
// its code can then be typed.
//
// A phone number is checked against the allow-list at every send, not only
// when it is added: one added before --sms-countries was narrowed is sent
// nothing, and its code, if any, is left as it was. The answer does not
// name the region, which a login's masked number hides.
//
// A code of a login or an elevation stays with whoever asked for it, as a
// push does (sendPush): the send returns a secret for the requester alone
// (kept as a keyed hash), and while the factor's code for the scope lives
// (unexpired, with checks left), a new one is neither sent nor stored
// unless resend is that code's secret (a resend); the refusal is a
// conflict with Retry-After until that code expires, and gives back the
// send-limit tokens. Else whoever knew only the login id, which travels in
// URLs (or held a copy of a session's token), could void the code the
// owner is typing as often as the send limits allow. A requester who
// resends keeps their secret for every code of the scope (one secret per
// requester and login). The refusal lasts no longer than the live code
// (SentCodeTTL, or until its checks are spent); then anyone holding the
// login may send, as for push: a stranger who sent first thus holds the
// factor's code for 10 minutes at most, and that code went to the owner's
// phone or mailbox anyway, where the owner reads it and types it; the
// login's other factors and methods are untouched meanwhile. Codes of other
// scopes (confirming a factor, which only its session may resend, and a
// password reset, whose link is the secret) replace the one before as
// always.
func (s *Service) deliverCode(ctx context.Context, a twofold.Account, f twofold.Factor, scope, resend string, ends time.Time, taken sendTokens, m Meta) (_ time.Time, secret string, err error) {
	mayHaveGone := false
	defer func() {
		if err != nil && !mayHaveGone {
			s.returnTokens(ctx, taken)
		}
	}()
	if f.Type == twofold.FactorSMS && !s.cfg.SMSCountries.Allows(string(f.Secret)) {
		s.audit(ctx, a.ID, "code.send_refused", m, "sms to "+f.ID+" for "+scopeKind(scope)+": its region is not on --sms-countries")
		return time.Time{}, "", twofold.Errorf(twofold.CodeUnavailable, "%s: use another authenticator", phoneNotAllowed)
	}
	switch {
	case f.Type == twofold.FactorSMS && s.texts == nil:
		return time.Time{}, "", twofold.Errorf(twofold.CodeUnavailable, "this server sends no text messages")
	case f.Type == twofold.FactorEmail && !s.sendsMail():
		return time.Time{}, "", twofold.Errorf(twofold.CodeUnavailable, "this server sends no mail (no SMTP server is set), so it cannot send a code by email")
	case f.Type != twofold.FactorSMS && f.Type != twofold.FactorEmail:
		return time.Time{}, "", fmt.Errorf("deliver code: factor type %s sends no codes", f.Type)
	}
	code, err := s.newSentCode()
	if err != nil {
		return time.Time{}, "", err
	}
	now := s.Now()
	expires := now.Add(SentCodeTTL)
	method := twofold.Method(f.Type)
	c := twofold.SentCode{FactorID: f.ID, AccountID: a.ID, Method: method, Scope: scope, Hash: s.codeHash(f.ID, code),
		ChecksLeft: SentCodeChecks, CreatedAt: now, ExpiresAt: expires}
	var resender []byte // none: no code was sent to an empty secret
	if kind := scopeKind(scope); kind == "login" || kind == "elevation" {
		if secret, err = s.randomString(20); err != nil {
			return time.Time{}, "", err
		}
		c.RequesterHash = s.codeRequesterHash(secret)
		if resend != "" {
			resender = s.codeRequesterHash(resend)
		}
	}
	prev, had, kept, busyUntil, err := s.store.SwapSentCode(ctx, c, resender)
	if err != nil {
		return time.Time{}, "", err
	}
	if !busyUntil.IsZero() {
		s.auditCodeRefused(ctx, a.ID, m, fmt.Sprintf("%s to %s for %s: a code another requester asked for is live", f.Type, f.ID, scopeKind(scope)), now)
		return time.Time{}, "", errCodeBusy(f.Type, scope, now, busyUntil, ends)
	}
	if kept {
		secret = resend
	}
	detail := fmt.Sprintf("%s to %s for %s", f.Type, f.ID, scopeKind(scope))
	what := purposeText(scope)
	minutes := int(SentCodeTTL / time.Minute)
	if f.Type == twofold.FactorSMS {
		body := fmt.Sprintf("%s code %s: %s. It expires in %d minutes. Never share it.", s.cfg.Issuer, what, code, minutes)
		if err := s.texts.SendText(ctx, string(f.Secret), body); err != nil {
			s.log.Error("text message not sent", "factor", f.ID, "err", err)
			if notSent(err) {
				restored := s.unsend(ctx, c, prev, had)
				s.audit(ctx, a.ID, "code.send_failed", m, detail+": refused by the gateway; the code sent before, if any, still works")
				msg := "the text message could not be sent; try again in a minute"
				if restored && had && prev.ExpiresAt.After(now) && prev.ChecksLeft > 0 {
					// Only when there is one: a holder asking for a
					// first code must not wait for one never sent.
					msg = "the text message could not be sent (the code sent before still works); try again in a minute"
				}
				return time.Time{}, "", &twofold.Error{Code: twofold.CodeUnavailable, Message: msg, RetryAfter: time.Minute}
			}
			mayHaveGone = true
			s.audit(ctx, a.ID, "code.send_failed", m, detail+": no answer from the gateway; the new code stands in case it arrives")
			// The secret goes with the error: the requester of a code
			// that may arrive is the one who may send another.
			return time.Time{}, secret, &twofold.Error{Code: twofold.CodeUnavailable, Message: "the text message may not have been sent: if no code arrives, ask for another in a minute (a code sent before no longer works)", RetryAfter: time.Minute}
		}
	} else {
		// An address not proven yet (a factor being added) is not told
		// whose account it is being added to.
		hello := "Hello " + a.Username + ","
		if f.Status != twofold.FactorActive {
			hello = "Hello,"
		}
		body := fmt.Sprintf("%s\n\nYour %s code %s is:\n\n    %s\n\nIt expires in %d minutes. Never share it: %s will never ask you for it.\nIf you did not ask for it, someone may know your password: change it.\n\n-- %s\n",
			hello, s.cfg.Issuer, what, code, minutes, s.cfg.Issuer, s.cfg.Issuer)
		if err := s.codeMail.EnqueueCode(ctx, string(f.Secret), fmt.Sprintf("%s: your code %s", s.cfg.Issuer, what), body, c.Mailed(), expires); err != nil {
			s.unsend(ctx, c, prev, had)
			s.audit(ctx, a.ID, "code.send_failed", m, detail+": not queued; the code sent before, if any, still works")
			return time.Time{}, "", fmt.Errorf("queue code mail: %w", err)
		}
	}
	s.audit(ctx, a.ID, "code.sent", m, fmt.Sprintf("%s to %s for %s", f.Type, f.ID, scopeKind(scope)))
	return expires, secret, nil
}

// maxCodeSecret bounds the code_secret a send may carry; the ones
// deliverCode makes are 32 characters.
const maxCodeSecret = 128

// codeRequesterHash is the keyed hash of the secret of whoever asked for
// a code, which is kept.
func (s *Service) codeRequesterHash(secret string) []byte {
	return s.hasher.Sum("code-requester", secret)
}

// checkCodeSecret refuses a code_secret longer than any deliverCode makes,
// before anything is counted.
func checkCodeSecret(secret string) error {
	if len(secret) > maxCodeSecret {
		return twofold.Errorf(twofold.CodeInvalid, "code_secret is at most %d characters: send the one the answer that sent your code gave", maxCodeSecret).On("code_secret")
	}
	return nil
}

// errCodeBusy refuses a code of factor type t for scope while the
// factor's code for it that another requester asked for lives, until
// busyUntil at most. When the scope ends (a login expires) before that
// code does, asking again then is no use: the answer says to start anew
// once the scope ended, and its Retry-After is that end.
func errCodeBusy(t twofold.FactorType, scope string, now, busyUntil, ends time.Time) error {
	what, where := "this sign-in", "text message"
	if scopeKind(scope) == "elevation" {
		what = "confirming it's you on this session"
	}
	if t == twofold.FactorEmail {
		where = "mail"
	}
	wait, then := busyUntil.Sub(now), "ask again in %d seconds, when it expires"
	if !ends.IsZero() && !busyUntil.Before(ends) {
		wait, then = ends.Sub(now), "start a new sign-in in %d seconds, when this one expires"
	}
	secs := max(int((wait+time.Second-1)/time.Second), 1)
	return &twofold.Error{Code: twofold.CodeConflict, RetryAfter: wait, Message: fmt.Sprintf(
		"a code for %s was already sent to this %s at another request's asking, and it still works: type the code from that %s; "+
			"to send your own again, give the code_secret your send's answer gave; else use another method, or "+then,
		what, destinationNoun(t), where, secs)}
}

// auditCodeRefused records a send refused because another requester's
// code lives: a few events a minute at most per account.
func (s *Service) auditCodeRefused(ctx context.Context, accountID string, m Meta, detail string, now time.Time) {
	if ok, err := s.store.TakeToken(ctx, "code:refused:"+accountID, 3, 1.0/60, now); err == nil && ok {
		s.audit(ctx, accountID, "code.refused", m, detail)
	}
}

// notSent reports whether err, from a TextSender, says that the message
// certainly did not go: an error with a method NotSent() bool that reports
// true (notify.Twilio's refusals). Any other leaves the outcome unknown.
func notSent(err error) bool {
	var n interface{ NotSent() bool }
	return errors.As(err, &n) && n.NotSent()
}

// unsend puts back the code that sent replaced (SwapSentCode), after a send
// that certainly failed, on a context that outlives the caller's: the
// holder's code must not stay void because the client hung up. It reports
// whether it did (not when a code sent meanwhile stands, or on an error).
func (s *Service) unsend(ctx context.Context, sent, prev twofold.SentCode, had bool) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), noticeTimeout)
	defer cancel()
	restored, err := s.store.RestoreSentCode(ctx, sent, prev, had)
	if err != nil {
		s.log.Error("code sent before not restored after a failed send", "factor", sent.FactorID, "err", err)
	}
	return restored && err == nil
}

// returnTokens gives back the send-limit tokens of a send that certainly
// did not go (sendTokens).
func (s *Service) returnTokens(ctx context.Context, taken sendTokens) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), noticeTimeout)
	defer cancel()
	for _, t := range taken {
		if err := s.store.ReturnToken(ctx, t.key, t.burst); err != nil {
			s.log.Error("send-limit token not given back", "err", err)
		}
	}
}

// purposeText says in a message what a code of scope is for.
func purposeText(scope string) string {
	switch scopeKind(scope) {
	case "login":
		return "to sign in"
	case "elevation":
		return "to confirm a change to your account"
	case "password reset":
		return "to confirm your new password"
	default:
		return "to add this authenticator to your account"
	}
}

// scopeKind names a scope for the audit log, without its ids.
func scopeKind(scope string) string {
	switch {
	case strings.HasPrefix(scope, "login:"):
		return "login"
	case strings.HasPrefix(scope, "elevate:"):
		return "elevation"
	case strings.HasPrefix(scope, "reset:"):
		return "password reset"
	}
	return "confirmation"
}

// checkChallengeMethod checks the method and factor of a login's or an
// elevation's challenge that is to send a code (push, webauthn and ssh_key
// without a factor_id go elsewhere), naming every method a challenge takes
// when it is none of them.
func checkChallengeMethod(method twofold.Method, factorID string) error {
	if method == twofold.MethodSSHKey && factorID != "" {
		return twofold.Errorf(twofold.CodeInvalid, "method ssh_key takes no factor_id: the challenge may be signed with any of the account's SSH keys").On("factor_id")
	}
	return checkSendMethod(method, factorID, "sms, email, push, webauthn or ssh_key (the other methods need no challenge)")
}

// checkSendMethod checks the method and factor of a request to send a code,
// before anything is counted or looked up; others names every method the
// request could have asked for, for the error.
func checkSendMethod(method twofold.Method, factorID, others string) error {
	switch {
	case method != twofold.MethodSMS && method != twofold.MethodEmail:
		return twofold.Errorf(twofold.CodeInvalid, "method must be %s", others).On("method")
	case factorID == "":
		return twofold.Errorf(twofold.CodeInvalid, "factor_id is required: the id of the %s factor to send the code to", method).On("factor_id")
	}
	if !wellFormedID(factorID) { // names no factor: refused before any rate is counted
		return twofold.Errorf(twofold.CodeNotFound, "no active %s factor %q", method, truncate(factorID, 64))
	}
	return nil
}

// sendTo sends a code for scope to the account's active factor factorID of
// method's type; resend is the requester's secret of a code sent before for
// scope (deliverCode); ends is when scope ends (a login's expiry), or zero.
func (s *Service) sendTo(ctx context.Context, a twofold.Account, method twofold.Method, factorID, scope, resend string, ends time.Time, m Meta) (Challenge, error) {
	f, err := s.factor(ctx, a.ID, factorID)
	if err != nil {
		return Challenge{}, err
	}
	if f.Status != twofold.FactorActive || twofold.Method(f.Type) != method {
		return Challenge{}, twofold.Errorf(twofold.CodeNotFound, "no active %s factor %q", method, truncate(factorID, 64))
	}
	taken, err := s.allowSend(ctx, a.ID, f.Type, string(f.Secret), false, m)
	if err != nil {
		return Challenge{}, err
	}
	expires, secret, err := s.deliverCode(ctx, a, f, scope, resend, ends, taken, m)
	if err != nil {
		// When the text may still arrive, its secret goes with the error.
		return Challenge{Secret: secret}, err
	}
	return Challenge{FactorID: f.ID, Method: method, SentTo: hintOf(f.Type, string(f.Secret)), ExpiresAt: expires, Secret: secret}, nil
}

// ChallengeLogin sends a code for the second step of a pending login to
// one of its account's sms or email factors (SPEC §3.1 POST
// /v1/login/{login_id}/challenge). Sending again replaces the code, but
// while the factor's code for the login lives only with resend, the secret
// (Challenge.Secret) of the send that asked for it (deliverCode).
func (s *Service) ChallengeLogin(ctx context.Context, loginID string, method twofold.Method, factorID, resend string, m Meta) (Challenge, error) {
	k := s.loginKeyOf(loginID)
	if method == twofold.MethodWebAuthn {
		return s.challengeLoginSecurityKey(ctx, k, m)
	}
	if err := checkChallengeMethod(method, factorID); err != nil {
		return Challenge{}, err
	}
	if err := checkCodeSecret(resend); err != nil {
		return Challenge{}, err
	}
	if err := s.allowSource(ctx, m); err != nil {
		return Challenge{}, err
	}
	l, err := s.pendingLogin(ctx, k)
	if err != nil {
		return Challenge{}, err
	}
	a, err := s.store.AccountByID(ctx, l.AccountID)
	if err != nil {
		return Challenge{}, err
	}
	if err := s.refuseSendAtCap(ctx, a.ID, method, "login", m); err != nil {
		return Challenge{}, err
	}
	return s.sendTo(ctx, a, method, factorID, loginScope(k), resend, l.ExpiresAt, m)
}

// refuseSendAtCap refuses to send a code (by text message or email) for
// purpose ("login", "elevation", "password reset") while the account's
// codes are at the hard cap (codesCapped): no code it carries could pass,
// so none is sent, and none of the send limits' codes is spent. Else
// whoever has the password and capped the codes could go on texting the
// owner's phone, and spend the codes the owner needs once the recovery
// path has lifted the cap. The answer is the hard cap's, naming the ways
// past it (for a reset, those a reset takes); the refusal is recorded at
// most once a minute per account.
func (s *Service) refuseSendAtCap(ctx context.Context, accountID string, method twofold.Method, purpose string, m Meta) error {
	capped, err := s.codesCapped(ctx, accountID)
	if err != nil || !capped {
		return err
	}
	s.auditRefused(ctx, "send-capped", accountID, accountID, "login.throttled", m,
		string(method)+" for "+purpose+": codes are refused at the hard cap, so no code was sent")
	if purpose == "password reset" {
		return throttled(maxRetryAfter, s.resetCapMessage(ctx, accountID))
	}
	return throttled(maxRetryAfter, s.hardCapMessage(ctx, accountID))
}

// ChallengeElevation sends a code to elevate the caller's session with
// (POST /v1/me/elevate then takes it); resend is as ChallengeLogin's.
func (s *Service) ChallengeElevation(ctx context.Context, a Auth, method twofold.Method, factorID, resend string, m Meta) (Challenge, error) {
	if err := person(a); err != nil {
		return Challenge{}, err
	}
	if method == twofold.MethodWebAuthn {
		return s.challengeSecurityKey(ctx, a.Account, elevateScope(a.Session.ID), s.Now().Add(s.cfg.LoginTTL), m)
	}
	if err := checkChallengeMethod(method, factorID); err != nil {
		return Challenge{}, err
	}
	if err := checkCodeSecret(resend); err != nil {
		return Challenge{}, err
	}
	if err := s.refuseSendAtCap(ctx, a.Account.ID, method, "elevation", m); err != nil {
		return Challenge{}, err
	}
	return s.sendTo(ctx, a.Account, method, factorID, elevateScope(a.Session.ID), resend, time.Time{}, m)
}

// ResendConfirmation sends a pending sms or email factor a new code to
// confirm it with, replacing the one before (a pending security key: begins
// its registration again). Only the session that started the setup may.
func (s *Service) ResendConfirmation(ctx context.Context, a Auth, factorID, password string, m Meta) (Challenge, error) {
	if err := person(a); err != nil {
		return Challenge{}, err
	}
	f, err := s.factor(ctx, a.Account.ID, factorID)
	if err != nil {
		return Challenge{}, err
	}
	if f.Status == twofold.FactorPending {
		// Only the session that started the setup replaces its code or
		// its key's registration (checkSetupSession).
		if err := s.checkSetupSession(ctx, a, f, setupFinish); err != nil {
			return Challenge{}, err
		}
	}
	if f.Status == twofold.FactorPending && f.Type == twofold.FactorWebAuthn {
		return s.restartRegistration(ctx, a, f, password, m)
	}
	if f.Status != twofold.FactorPending || !f.Type.SendsCodes() {
		return Challenge{}, twofold.Errorf(twofold.CodeConflict, "only an sms or email factor waiting for confirmation is sent a code to confirm it")
	}
	if err := s.requireElevationIfEnabled(ctx, a); err != nil {
		return Challenge{}, err
	}
	taken, err := s.allowSend(ctx, a.Account.ID, f.Type, string(f.Secret), true, m)
	if err != nil {
		return Challenge{}, err
	}
	expires, _, err := s.deliverCode(ctx, a.Account, f, confirmScope(), "", time.Time{}, taken, m)
	if err != nil {
		return Challenge{}, err
	}
	return Challenge{FactorID: f.ID, Method: twofold.Method(f.Type), SentTo: hintOf(f.Type, string(f.Secret)), ExpiresAt: expires}, nil
}

// verifySentCode checks a code sent to one of the account's factors of
// p.Method for scope (only p.FactorID's when set): it returns "" when the
// code is accepted, and it is then used; else the cause. Each stored code
// the check meets loses one of its checks.
func (s *Service) verifySentCode(ctx context.Context, accountID string, p SecondFactor, scope string) (string, error) {
	code := normaliseCode(p.Code)
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return "malformed code", nil
	}
	now := s.Now()
	codes, err := s.store.TakeCodeChecks(ctx, accountID, p.Method, scope, p.FactorID, now)
	if err != nil {
		return "", err
	}
	if len(codes) == 0 {
		return "no " + string(p.Method) + " code waiting (none sent, expired, or out of checks)", nil
	}
	for _, c := range codes {
		if !credhash.Equal(c.Hash, s.codeHash(c.FactorID, code)) {
			continue
		}
		ok, err := s.store.UseSentCode(ctx, c.FactorID, scope, c.Hash, now)
		if err != nil {
			return "", err
		}
		if !ok {
			return "code for factor " + c.FactorID + " used or replaced meanwhile", nil
		}
		return "", nil
	}
	return fmt.Sprintf("wrong code (%d checks left)", codes[0].ChecksLeft), nil
}
