package core

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/credhash"
)

// MethodOption is one way the second step of a login can be passed.
type MethodOption struct {
	Method   twofold.Method
	FactorID string
	Label    string
	Hint     string // sms, email: the masked phone number or address the code goes to
	// Unavailable is, when set, why this factor cannot pass the second
	// step now, in words fit for its owner: a phone whose region was taken
	// off --sms-countries after it was added is sent no code. Such an
	// option is listed so that its owner sees why it is not offered, and is
	// never offered (README "Text messages").
	Unavailable string
}

// Usable reports whether the option can be offered: it is not Unavailable.
func (o MethodOption) Usable() bool { return o.Unavailable == "" }

// LoginResult is the answer to a password check: either a session, or a login
// transaction waiting for its second step.
type LoginResult struct {
	Authenticated bool
	Token         string // session token, when Authenticated
	LoginID       string // login transaction, when not
	ExpiresAt     time.Time
	// Methods are the ways to pass the second step; those not Usable are
	// for showing, not for offering.
	Methods []MethodOption
}

// errBadCredentials is the one answer for an unknown user and a wrong password.
func errBadCredentials() error {
	return twofold.Errorf(twofold.CodeInvalidCredentials, "wrong username or password")
}

// errBadSecondFactor is the one answer for every failed second step (STYLE.md "Errors").
func errBadSecondFactor() error {
	return twofold.Errorf(twofold.CodeInvalidCode, "the code was not accepted")
}

// LoginFieldsGiven refuses, as invalid, a sign-in that leaves out its
// username or its password: a mistake of the client's (a script whose
// secret was never set), told as such, which costs no password hash and no
// attempt of the username's. No account has an empty password or name, so
// the answer says nothing of any. The Identity API (/v3) does not use it:
// there an empty password is one more credential that does not match.
func LoginFieldsGiven(username, password string) error {
	if username == "" {
		return twofold.Errorf(twofold.CodeInvalid, "username is required").On("username")
	}
	if password == "" {
		return twofold.Errorf(twofold.CodeInvalid, "password is required").On("password")
	}
	return nil
}

// Login checks username and password (SPEC §3.1). An unknown user costs the
// same password hash as a known one and gets the same answer.
func (s *Service) Login(ctx context.Context, username, password string, m Meta) (LoginResult, error) {
	return s.login(ctx, username, password, nil, m)
}

// LoginWithCode is Login for a client that sends the password and a code
// of an authenticator (p: totp or hotp) at once, as the Identity API's
// password and totp methods are (README "OpenStack clients"), where every
// method supplied must hold. When the account requires the second step at
// sign-in, p is not read: the result is a login waiting for it, as Login's,
// which VerifyLogin completes with p. Otherwise the code is checked before
// any session is opened, on the same counters as a second step (a wrong
// one is a login.second_factor_failed event and the one answer of a wrong
// code, and no session is ever made), and a right one is spent and opens a
// session elevated from that moment, as a second step's is. When the
// account has no active factor of p's method, nothing is checked and no
// session is opened: the result is neither Authenticated nor a login, and
// its Methods say what the account has (none of p's method).
func (s *Service) LoginWithCode(ctx context.Context, username, password string, p SecondFactor, m Meta) (LoginResult, error) {
	if !codeMethod(p.Method) {
		return LoginResult{}, twofold.Errorf(twofold.CodeInvalid, "method must be totp or hotp").On("method")
	}
	return s.login(ctx, username, password, &p, m)
}

// login is Login, and with p LoginWithCode.
func (s *Service) login(ctx context.Context, username, password string, p *SecondFactor, m Meta) (LoginResult, error) {
	if passwordTooLong(password) || len(username) > 256 {
		return LoginResult{}, errBadCredentials()
	}
	if err := s.allowSource(ctx, m); err != nil {
		return LoginResult{}, err
	}
	// Wrong passwords are counted per username and address, apart from the
	// second factor, so a stranger elsewhere cannot lock the owner out.
	pwKey := s.passwordKey(username, m.Source)
	slot, err := s.takePasswordSlot(ctx, pwKey)
	if err != nil {
		if twofold.ErrorCode(err) == twofold.CodeThrottled {
			s.auditRefused(ctx, "password-attempts", sourceKey(m.Source), "", "login.throttled", m, "password attempts for one username")
		}
		return LoginResult{}, err
	}
	defer slot.end()
	a, found, cause, err := s.accountForLogin(ctx, username)
	if err != nil {
		return LoginResult{}, err
	}
	if !found {
		s.checkPassword(password, s.dummyHash())
		s.boundUnknownName(ctx, username)
		s.audit(ctx, "", "login.password_failed", m, cause)
		return LoginResult{}, errBadCredentials()
	}
	ok, err := s.checkPassword(password, a.PasswordHash)
	if err != nil {
		return LoginResult{}, fmt.Errorf("check password: %w", err)
	}
	if !ok {
		s.audit(ctx, a.ID, "login.password_failed", m, "wrong password")
		return LoginResult{}, errBadCredentials()
	}
	slot.pass(ctx)
	s.rehash(ctx, a, password)
	s.warnIfListed(a, password, m)
	// A reset of two-factor that has fallen due is carried out now rather
	// than at the next sweep; the account is read again after it, so that
	// the session this login may make carries the account's newest epoch.
	checked := a
	if a, err = s.resetIfDue(ctx, a, m); err != nil {
		return LoginResult{}, err
	}
	if a.SessionEpoch != checked.SessionEpoch {
		// The account's sessions were ended after the password was read
		// (a change of password, a sign-out everywhere, the reset above):
		// the newest epoch goes only to whoever knows the password as it
		// is now, or a sign-in with the old password, under way as the
		// owner changed it, would outlive the change.
		ok, err := s.checkPassword(password, a.PasswordHash)
		if err != nil {
			return LoginResult{}, fmt.Errorf("check password: %w", err)
		}
		if !ok {
			s.audit(ctx, a.ID, "login.password_failed", m, "password changed while it was checked")
			return LoginResult{}, errBadCredentials()
		}
	}
	if a.Suspended {
		// Told only to whoever knows the password. A suspension made
		// after this read moves the epoch on, so that the session or
		// second step made here never works.
		s.audit(ctx, a.ID, "login.refused", m, "account suspended")
		return LoginResult{}, errSuspended()
	}
	methods, err := s.methods(ctx, a.ID)
	if err != nil {
		return LoginResult{}, err
	}
	required := a.TwoFactorRequired
	if !required && len(methods) > 0 {
		// A team's policy asks for the second step whatever the member chose.
		teams, err := s.teamsRequiring(ctx, a.ID)
		if err != nil {
			return LoginResult{}, err
		}
		required = len(teams) > 0
	}
	now := s.Now()
	if p != nil && (!required || len(methods) == 0) {
		return s.loginWithCode(ctx, a, methods, *p, m)
	}
	if !required || len(methods) == 0 {
		token, sess, err := s.newSession(a.ID, a.SessionEpoch, now, time.Time{})
		if err != nil {
			return LoginResult{}, err
		}
		if err := s.store.CreateSession(ctx, sess); err != nil {
			return LoginResult{}, goneIsBadCredentials(err)
		}
		s.auditSession(ctx, a.ID, "login.succeeded", m, "password only", sess.ID)
		return LoginResult{Authenticated: true, Token: token, ExpiresAt: sess.ExpiresAt}, nil
	}
	id, err := s.newID()
	if err != nil {
		return LoginResult{}, err
	}
	l := twofold.Login{ID: string(s.loginKeyOf(id)), AccountID: a.ID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.LoginTTL), Epoch: a.SessionEpoch}
	if err := s.store.CreateLogin(ctx, l); err != nil {
		return LoginResult{}, goneIsBadCredentials(err)
	}
	s.audit(ctx, a.ID, "login.password_succeeded", m, "second factor required")
	return LoginResult{LoginID: id, ExpiresAt: l.ExpiresAt, Methods: methods}, nil
}

// loginWithCode opens a session for a, whose password was right and which
// does not require the second step at sign-in, once p is accepted: the
// code is checked and spent, the session made elevated and the event
// recorded in one transaction, so that a wrong code makes no session.
func (s *Service) loginWithCode(ctx context.Context, a twofold.Account, methods []MethodOption, p SecondFactor, m Meta) (LoginResult, error) {
	if !slices.ContainsFunc(methods, func(o MethodOption) bool {
		return o.Method == p.Method && o.Usable() && (p.FactorID == "" || o.FactorID == p.FactorID)
	}) {
		return LoginResult{Methods: methods}, nil
	}
	if err := checkProof(p); err != nil {
		return LoginResult{}, err
	}
	// The source's budget is taken for the code, as a second step or an
	// elevation takes it, besides what the password took.
	if err := s.allowSource(ctx, m); err != nil {
		return LoginResult{}, err
	}
	var answer error
	var res LoginResult
	err := s.inTx(ctx, func(ctx context.Context) error {
		answer, res = nil, LoginResult{}
		if err := s.store.LockSecondStep(ctx, a.ID, p.FactorID, "", true); err != nil {
			return err
		}
		if err := s.checkSecondFactor(ctx, a.ID, p, m, "login"); err != nil {
			if isInternal(err) {
				return err
			}
			answer = err
			return nil
		}
		now := s.Now()
		token, sess, err := s.newSession(a.ID, a.SessionEpoch, now, now.Add(s.cfg.ElevationTTL))
		if err != nil {
			return err
		}
		if err := s.store.CreateSession(ctx, sess); err != nil {
			return goneIsBadCredentials(err)
		}
		s.auditSession(ctx, a.ID, "login.succeeded", m, "second factor: "+string(p.Method), sess.ID)
		res = LoginResult{Authenticated: true, Token: token, ExpiresAt: sess.ExpiresAt}
		return nil
	})
	if err != nil { // a refusal is answered only once its throttle slot is committed
		return LoginResult{}, err
	}
	if answer != nil {
		return LoginResult{}, answer
	}
	return res, nil
}

// accountForLogin returns the account that a username typed at login names:
// the account of exactly that name, else the one whose name differs from it
// only in case, as account creation compares names (which refuses a name
// that differs from another only in case). Names differing only in case
// remain from before migration 0012; a name that matches none of such a
// pair exactly names no account, so that a password is never tried against
// the wrong one. cause says, for the audit log, why no account was found.
func (s *Service) accountForLogin(ctx context.Context, username string) (a twofold.Account, found bool, cause string, err error) {
	if ValidateUsername(username) != nil { // then no account has that name, in any case
		return a, false, "unknown username", nil
	}
	as, err := s.store.AccountsByUsernameFold(ctx, username)
	if err != nil {
		return a, false, "", err
	}
	for _, x := range as {
		if x.Username == username {
			return x, true, "", nil
		}
	}
	switch len(as) {
	case 0:
		return a, false, "unknown username", nil
	case 1:
		return as[0], true, "", nil
	}
	return a, false, fmt.Sprintf("username matches %d accounts only ignoring case", len(as)), nil
}

// boundUnknownName takes a token of an event bound kept for username, an
// unknown name, as a known name's wrong password takes one of its
// account's bound for its login.password_failed event (eventAdmitted):
// without it a refusal of a name that exists would do one more write,
// which its time could tell. The outcome is not used: events without an
// account are always recorded. The bucket is the name's (hashed), as its
// password counter is, and goes in the sweep like every other.
func (s *Service) boundUnknownName(ctx context.Context, username string) {
	if _, err := s.store.TakeToken(ctx, "events:"+s.passwordPrefix(username)+"login.password_failed", EventBurst, 1/EventEvery.Seconds(), s.Now()); err != nil {
		s.log.Error("audit event bound unreadable", "type", "login.password_failed", "err", err)
	}
}

// rehash stores a new hash of the account's password when its hash was made
// with other Argon2id parameters than the configured ones (an account made by
// a CLI with other flags, or before the parameters changed), so that every
// account's login costs what an unknown username's does. Until then, every
// refusal is padded to the cost of the costliest hash in store
// (checkPassword), which a stronger hash keeps above the configured one
// until it is made again here and the store read again
// (refreshRefusalCost). A failure is logged: the login goes on.
func (s *Service) rehash(ctx context.Context, a twofold.Account, password string) {
	if !credhash.NeedsRehash(a.PasswordHash, s.cfg.PasswordParams) {
		return
	}
	hash, err := s.hashPassword(password)
	if err == nil {
		// Only over the hash just checked: a password changed meanwhile
		// must not be put back.
		_, err = s.store.ReplacePasswordHash(ctx, a.ID, a.PasswordHash, hash)
	}
	if err != nil {
		s.log.Error("password hash not upgraded", "err", err)
	}
}

// methods lists the account's ways to pass the second step, those of its
// factors that cannot be used now among them, marked Unavailable: an
// account whose only factor is unusable still needs the second step, and
// still has its recovery codes, paper key and SSH keys to pass it with.
func (s *Service) methods(ctx context.Context, accountID string) ([]MethodOption, error) {
	factors, err := s.store.Factors(ctx, accountID)
	if err != nil {
		return nil, err
	}
	var out []MethodOption
	for _, f := range factors {
		if f.Status == twofold.FactorActive {
			o := MethodOption{Method: twofold.Method(f.Type), FactorID: f.ID, Label: f.Label}
			if why, err := s.keyMissing(ctx, f); err != nil {
				return nil, err
			} else if why != "" {
				o.Unavailable = why
			}
			if f.Type.SendsCodes() {
				switch err := s.open(ctx, &f); {
				case unreadableSecret(err):
					// Offered as unavailable, so that the account's other
					// factors still sign in (passOver).
					s.passOver(f, err)
					o.Unavailable = unreadableReason(err)
				case err != nil:
					return nil, err
				default:
					o.Hint = hintOf(f.Type, string(f.Secret))
					if f.Type == twofold.FactorSMS && !s.cfg.SMSCountries.Allows(string(f.Secret)) {
						o.Unavailable = phoneNotAllowed
					}
				}
			}
			out = append(out, o)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	if n, err := s.store.RecoveryCodesRemaining(ctx, accountID); err != nil {
		return nil, err
	} else if n > 0 {
		out = append(out, MethodOption{Method: twofold.MethodRecoveryCode})
	}
	if h, err := s.store.PaperKeyHash(ctx, accountID); err != nil {
		return nil, err
	} else if h != nil {
		out = append(out, MethodOption{Method: twofold.MethodPaperKey})
	}
	ssh, err := s.sshKeyOption(ctx, accountID)
	return append(out, ssh...), err
}

// LoginMethods returns the second-step methods of a pending login.
func (s *Service) LoginMethods(ctx context.Context, loginID string) ([]MethodOption, error) {
	l, err := s.pendingLogin(ctx, s.loginKeyOf(loginID))
	if err != nil {
		return nil, err
	}
	return s.methods(ctx, l.AccountID)
}

// CodeMethod reports whether m is passed with a code the account's hard
// cap refuses (checkSecondFactor): a code from an app or a token, or one
// sent by text message or email.
func CodeMethod(m twofold.Method) bool {
	return codeMethod(m) || m == twofold.MethodSMS || m == twofold.MethodEmail
}

// LoginCodesRefused reports whether the account of the pending login
// loginID has reached the hard cap of failed codes (HardCap), so that no
// code (CodeMethod) passes its second step whatever is typed, until a
// recovery code, the paper key, an SSH key or a security key passes it or
// an operator unlocks the account: the second-step page then offers only
// the ways in that still work.
func (s *Service) LoginCodesRefused(ctx context.Context, loginID string) (bool, error) {
	l, err := s.pendingLogin(ctx, s.loginKeyOf(loginID))
	if err != nil {
		return false, err
	}
	return s.codesCapped(ctx, l.AccountID)
}

// PendingLogin returns a login waiting for its second step; one expired or
// completed is login-expired. Its ID is the key it is stored under
// (loginKey), not loginID.
func (s *Service) PendingLogin(ctx context.Context, loginID string) (twofold.Login, error) {
	return s.pendingLogin(ctx, s.loginKeyOf(loginID))
}

// ExpiredLoginUsername returns the username of the account whose login
// loginID expired before its second step, for the sign-in page that says
// so to fill in again; "" when the login is not known (swept, or never
// made), was completed, or has not expired. Only the client that holds
// loginID asks, and it had the password of that account: the login is
// made once the password is right. So the name says nothing it did not
// know.
func (s *Service) ExpiredLoginUsername(ctx context.Context, loginID string) (string, error) {
	k := s.loginKeyOf(loginID)
	if k == "" {
		return "", nil
	}
	l, err := s.store.Login(ctx, string(k))
	if twofold.ErrorCode(err) == twofold.CodeNotFound || err == nil && (l.Used || s.Now().Before(l.ExpiresAt)) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	a, err := s.store.AccountByID(ctx, l.AccountID)
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return a.Username, nil
}

// ExpiredSessionUsername returns the username of the account whose session
// token named, when that session has run out its lifetime and is still
// stored (not swept yet), for the login page that says a session has
// ended to fill it in for the browser that held the token, and only for it:
// the token is a secret only that browser had, and the name is one the
// pages it had open showed. It gives "" for a token that is not the
// session's current one, a session still valid, and one ended on purpose
// rather than by time: signed out (deleted), signed out everywhere or by
// a password change (the account's session epoch moved on), the account
// suspended or deleted. Then the holder of the cookie learns nothing.
func (s *Service) ExpiredSessionUsername(ctx context.Context, token string) (string, error) {
	id, _, ok := strings.Cut(token, ".")
	if token == "" || len(token) > 128 || !ok || !isOrderedID(id) {
		return "", nil
	}
	// The zero time: any session still stored, expired or not.
	sess, err := s.store.Session(ctx, id, time.Time{})
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if !hmac.Equal(sess.TokenHash, s.sessionTokenHash(token)) || s.Now().Before(sess.ExpiresAt) {
		return "", nil
	}
	a, err := s.store.AccountByID(ctx, sess.AccountID)
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if sess.Epoch != a.SessionEpoch || a.Suspended {
		return "", nil
	}
	return a.Username, nil
}

// CheckLoginPassword checks password against the account of the pending
// login loginID, on the same counter as password logins, and changes
// nothing else: for a client that sends the password again beside the
// login's second step, as Keystone clients may with an auth receipt, whose
// every supplied method must hold. A wrong password is the same answer as
// at Login.
func (s *Service) CheckLoginPassword(ctx context.Context, loginID, password string, m Meta) error {
	l, err := s.PendingLogin(ctx, loginID)
	if err != nil {
		return err
	}
	a, err := s.store.AccountByID(ctx, l.AccountID)
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return errLoginExpired()
	}
	if err != nil {
		return err
	}
	err = s.checkCurrentPassword(ctx, Auth{Account: a}, password, "login.password_failed", m)
	if c := twofold.ErrorCode(err); c == twofold.CodeForbidden || c == twofold.CodeInvalid {
		return errBadCredentials()
	}
	return err
}

// loginKey is the key a pending login is stored under: the keyed hash of
// the id its client holds (LoginResult.LoginID), never that id, so that
// whoever reads the database or a backup of it cannot carry the login to
// its second step, as a session is stored by its token's hash alone
// (README "Secrets at rest"). The login's sent codes, push requests and
// security-key and SSH challenges are scoped by it too (loginScope). The
// empty key names no login.
type loginKey string

// loginKeyOf returns the key of the login whose client holds loginID: a
// 128-bit keyed hash, as long as the id, which every instance sharing the
// key file computes alike. An id that is not well formed names nothing and
// gets the empty key. Whoever holds the key file and the database still
// cannot find the id from its key.
func (s *Service) loginKeyOf(loginID string) loginKey { return loginKey(LoginKey(s.hasher, loginID)) }

// LoginKey returns the key that a login whose client holds loginID is
// stored under, hashed with h, the key file's hasher (loginKey): for a tool
// that stores logins itself (twofold bench). It is empty for an id that is
// not well formed.
func LoginKey(h *credhash.Hasher, loginID string) string {
	if !wellFormedID(loginID) {
		return ""
	}
	return idEncoding.EncodeToString(h.Sum("login-id", loginID)[:16])
}

// pendingLogin returns the login stored under k, waiting for its second
// step; one expired or completed is login-expired.
func (s *Service) pendingLogin(ctx context.Context, k loginKey) (twofold.Login, error) {
	if k == "" {
		return twofold.Login{}, errLoginExpired()
	}
	l, err := s.store.Login(ctx, string(k))
	if twofold.ErrorCode(err) == twofold.CodeNotFound || (err == nil && (l.Used || !s.Now().Before(l.ExpiresAt))) {
		return l, errLoginExpired()
	}
	return l, err
}

func errLoginExpired() error {
	return twofold.Errorf(twofold.CodeLoginExpired, "this login has expired or was already completed; start again")
}

// SecondFactor is a proof offered at the second step or for elevation.
type SecondFactor struct {
	Method   twofold.Method
	FactorID string // optional: restrict a code to one factor
	Code     string
	// Credential is, for webauthn, the JSON of the PublicKeyCredential
	// that navigator.credentials.get made.
	Credential []byte
	// Signature is, for ssh_key, the armored signature of the challenge
	// (ssh-keygen -Y sign).
	Signature string
	// PushSecret is, for push, the secret of the push request
	// (PushSent.Secret): only its requester uses its approval.
	PushSecret string

	scope string // of a sent code: the login or session it was sent for
	// notice, when set (a login's second step), takes the notice that a
	// proof of the recovery path was used instead of its being queued, so
	// that the login adds how many other sessions it signed out.
	notice *notice
}

// notice is a notice to an account's holder, held back to be added to.
type notice struct {
	subject string
	lines   []string
}

// Verified is a passed second step: the session, and after a recovery
// code, how many the account has left (SPEC §1 story 4 shows the count and
// warns at LowRecoveryCodes or fewer).
type Verified struct {
	Token             string
	ExpiresAt         time.Time
	RecoveryCodeUsed  bool
	RecoveryCodesLeft int
	// Recovered reports whether the second step took the recovery path
	// (recovers), which signed every other session of the account out:
	// OtherSessionsEnded of them were working until then.
	Recovered          bool
	OtherSessionsEnded int
}

// LowRecoveryCodes is the count of recovery codes left at which the owner is
// warned to make a new set.
const LowRecoveryCodes = 3

// checkProof refuses, before any throttle slot is taken, a proof that is not
// an attempt at all: a method this server does not take, or no code. Such a
// request says nothing about the account, so it costs the owner nothing.
func checkProof(p SecondFactor) error {
	switch p.Method {
	case twofold.MethodTOTP, twofold.MethodHOTP, twofold.MethodSMS, twofold.MethodEmail, twofold.MethodRecoveryCode, twofold.MethodPaperKey:
	case twofold.MethodWebAuthn:
		return checkAssertion(p)
	case twofold.MethodSSHKey:
		if strings.TrimSpace(p.Signature) == "" {
			return twofold.Errorf(twofold.CodeInvalid, "signature is required").On("signature")
		}
		return nil
	default:
		return twofold.Errorf(twofold.CodeInvalid, "method must be totp, hotp, sms, email, push, webauthn, recovery_code, paper_key or ssh_key").On("method")
	}
	blank := blankCode(p.Code)
	if p.Method == twofold.MethodRecoveryCode || p.Method == twofold.MethodPaperKey {
		blank = blankKey(p.Code)
	}
	if blank {
		// Spaces and dashes alone: what is typed is read as the check
		// reads it (normaliseCode, normaliseKey), and that is nothing.
		return twofold.Errorf(twofold.CodeInvalid, "code is required").On("code")
	}
	return nil
}

// VerifyLogin completes a login's second step and returns a session that is
// elevated from that moment (SPEC §3.1).
func (s *Service) VerifyLogin(ctx context.Context, loginID string, p SecondFactor, m Meta) (Verified, error) {
	k := s.loginKeyOf(loginID)
	if p.Method == twofold.MethodPush {
		return s.verifyLoginPush(ctx, k, p, m)
	}
	if err := checkProof(p); err != nil {
		return Verified{}, err
	}
	p.scope = loginScope(k)
	if p.Method == twofold.MethodTOTP && p.FactorID == "" && k != "" {
		// The source address's token is taken by the second step's read
		// (on PostgreSQL in its statement), as allowSource would first.
		token, expires, err := s.verifyLoginTOTP(ctx, k, p, m)
		return Verified{Token: token, ExpiresAt: expires}, err
	}
	if err := s.allowSource(ctx, m); err != nil {
		return Verified{}, err
	}
	if p.Method == twofold.MethodTOTP && p.FactorID == "" {
		return Verified{}, errLoginExpired() // k is empty: no such login
	}
	// One transaction per verification: the throttle slot, the accepted step,
	// the finished login, the session and the audit event commit together.
	var answer error
	var v Verified
	var held notice
	p.notice = &held
	err := s.inTx(ctx, func(ctx context.Context) error {
		answer, v, held = nil, Verified{}, notice{}
		l, err := s.pendingLogin(ctx, k)
		if err == nil && (unguessable(p.Method) || sentCode(p.Method)) {
			// It may end the other sessions (recovers), which writes the
			// account's row: that is locked first, before the login, as a
			// sign-out everywhere (EndSessions) locks the account and then
			// the logins it voids, so that on PostgreSQL the two never wait
			// for each other, which would end one of them as a deadlock.
			err = s.store.LockAccount(ctx, l.AccountID)
			if twofold.ErrorCode(err) == twofold.CodeNotFound {
				err = errLoginExpired() // closed meanwhile, its logins with it
			}
		}
		if err == nil {
			err = s.store.LockSecondStep(ctx, l.AccountID, p.FactorID, string(k), codeMethod(p.Method))
		}
		if err == nil {
			err = s.checkSecondFactor(ctx, l.AccountID, p, m, "login")
		}
		if err != nil {
			if isInternal(err) {
				return err
			}
			answer = err
			return nil
		}
		now := s.Now()
		var sess twofold.Session
		v.Token, sess, err = s.newSession(l.AccountID, l.Epoch, now, now.Add(s.cfg.ElevationTTL))
		if err != nil {
			return err
		}
		ok, err := s.store.FinishLogin(ctx, string(k), now, sess)
		if err != nil {
			return err
		}
		if !ok {
			answer = errLoginExpired()
			return errRollback
		}
		v.ExpiresAt = sess.ExpiresAt
		if p.Method == twofold.MethodRecoveryCode {
			v.RecoveryCodeUsed = true
			if v.RecoveryCodesLeft, err = s.store.RecoveryCodesRemaining(ctx, l.AccountID); err != nil {
				return err
			}
		}
		if v.Recovered, err = s.recovers(ctx, l.AccountID, p.Method); err != nil {
			return err
		}
		if v.Recovered {
			// Every other session ends with this transaction, which
			// counts them too (endedOthers).
			ok, err := s.store.EndOtherSessions(ctx, l.AccountID, l.Epoch, sess.ID)
			if err != nil {
				return err
			}
			if !ok {
				answer = errLoginExpired()
				return errRollback
			}
		} else if held.subject != "" {
			s.notify(ctx, l.AccountID, held.subject, held.lines...)
		}
		s.auditSession(ctx, l.AccountID, "login.succeeded", m, "second factor: "+string(p.Method), sess.ID)
		if v.Recovered {
			return s.endedOthers(ctx, l.AccountID, l.Epoch, now, p.Method, m, held, &v)
		}
		return nil
	})
	// A refusal is answered only once what it took (a throttle slot) is
	// committed; errRollback is the one failure that carries an answer.
	if err != nil && !errors.Is(err, errRollback) {
		return Verified{}, err
	}
	if answer != nil {
		return Verified{}, answer
	}
	if err != nil {
		return Verified{}, err
	}
	return v, nil
}

// recovers reports whether a login's second step passed with method takes
// the recovery path of a lost or stolen phone (SPEC §1 story 4), which
// signs every other session of the account out (endOthers): a recovery
// code, the paper key, a challenge signed with an SSH key, and a code sent
// to a registered phone or email address when the account has an
// authenticator of another kind (an app, a token, a push device, a
// security key), which the sent code is then a way around: the "lost my
// phone" path whether the code comes by text or by mail. A sent code on an
// account whose second step is only codes sent to it is its everyday
// factor (SPEC §1 story 2), and ends nothing, as a code from an app does
// not: its holder signs in on several devices.
func (s *Service) recovers(ctx context.Context, accountID string, method twofold.Method) (bool, error) {
	if unguessable(method) {
		return true, nil
	}
	if !sentCode(method) {
		return false, nil
	}
	fs, err := s.store.Factors(ctx, accountID)
	if err != nil {
		return false, err
	}
	for _, f := range fs {
		if f.Status == twofold.FactorActive && !f.Type.SendsCodes() {
			return true, nil
		}
	}
	return false, nil
}

// sentCode reports whether m is a code sent to the account's phone or
// email address (SPEC §2), a way around its other authenticators
// (recovers).
func sentCode(m twofold.Method) bool {
	return m == twofold.MethodSMS || m == twofold.MethodEmail
}

// endedOthers, in the transaction of a sign-in on the recovery path that
// signed every other session of the account out (EndOtherSessions moved
// its epoch on from epoch: the sessions of a lost or stolen phone, or of
// whoever took the recovery path in the owner's place, stop working on
// every instance at once when it commits, as Authenticate compares the
// epoch), counts the sessions that ended, those of epoch unexpired at now,
// sets the count on v, records it in a session.ended_by_recovery event,
// and queues held, the notice of the recovery, with the count; a code by
// text message, which has no notice of its own, gets one when sessions
// ended, saying where the code was sent. Read in the transaction, by the index of sessions by account
// (the account's live sessions alone), the count is the number the commit
// ends, with the event and the notice committed or dropped with the
// sign-in: a read after the commit would also count a session of the old
// epoch written meanwhile (a sign-in on another instance whose password
// was checked before, which never works), and miss one that expired in
// between. API keys are not touched (README "Signing in after losing a
// phone").
func (s *Service) endedOthers(ctx context.Context, accountID string, epoch int64, now time.Time, method twofold.Method, m Meta, held notice, v *Verified) error {
	n, err := s.store.SessionsOfEpoch(ctx, accountID, epoch, now)
	if err != nil {
		return err
	}
	v.OtherSessionsEnded = n
	detail := fmt.Sprintf("%d other %s signed out: sign-in with %s", n, plural(n, "session", "sessions"), method)
	line := fmt.Sprintf("To shut out a lost or stolen device, the %d other %s of your account %s signed out. Your API keys were not revoked and still work.",
		n, plural(n, "session", "sessions"), plural(n, "was", "were"))
	if n == 0 {
		line = "No other session of your account was signed in, so none was signed out."
	}
	s.audit(ctx, accountID, "session.ended_by_recovery", m, detail)
	if held.subject == "" {
		if n == 0 {
			return nil
		}
		to := "to your phone"
		if method == twofold.MethodEmail {
			to = "by email"
		}
		held = notice{subject: "your other sessions were signed out",
			lines: []string{"You signed in to your account with a code sent " + to + " instead of your authenticator."}}
	}
	s.notify(ctx, accountID, held.subject, append(held.lines, line)...)
	return nil
}

// LoginSentTwice is what EndLoginSentTwice did.
type LoginSentTwice struct {
	// Ended reports whether the session the login made was ended.
	Ended bool
	// RecoveryCodesLeft is how many recovery codes the account has left
	// (for a second step with a recovery code, which the first sending
	// used).
	RecoveryCodesLeft int
}

// EndLoginSentTwice handles the second step of the login whose client
// holds loginID sent after that login succeeded (VerifyLogin answered
// login-expired): the same form sent twice, a double click without
// JavaScript, whose first sending signed in and whose answer, the only
// place the new session's token ever was, the browser dropped. When the
// login succeeded less than LostRenewalWindow ago, the session it made,
// which no one holds, is ended, with a session.ended_login_sent_twice
// event, so that no live session is left behind for a token sent once over
// the wire; the page says the code went through and to sign in again. As
// for a lost renewal (EndLostRenewal), whoever holds the login id could
// end that session in that time, and no more: the id never opens it.
func (s *Service) EndLoginSentTwice(ctx context.Context, loginID string, m Meta) (LoginSentTwice, error) {
	k := s.loginKeyOf(loginID)
	if k == "" {
		return LoginSentTwice{}, nil
	}
	accountID, ended, err := s.store.EndLoginSession(ctx, string(k), s.Now().Add(-LostRenewalWindow))
	if err != nil || !ended {
		return LoginSentTwice{}, err
	}
	s.audit(ctx, accountID, "session.ended_login_sent_twice", m, "")
	left, err := s.store.RecoveryCodesRemaining(ctx, accountID)
	if err != nil {
		return LoginSentTwice{Ended: true}, err
	}
	return LoginSentTwice{Ended: true, RecoveryCodesLeft: left}, nil
}

// errRollback rolls a transaction back when a concurrent request won the race
// for the same one-time thing; its answer is returned instead.
var errRollback = errors.New("rolled back: lost a race")

// newSession makes a session with a fresh 256-bit token; only its hash is kept.
func (s *Service) newSession(accountID string, epoch int64, now, elevatedUntil time.Time) (string, twofold.Session, error) {
	k, err := s.newSessionKey(now)
	if err != nil {
		return "", twofold.Session{}, err
	}
	return k.token, k.session(accountID, epoch, now, now.Add(s.cfg.SessionTTL), elevatedUntil), nil
}

// sessionKey is what identifies a session yet to be stored: its ID, its
// token and the token's hash.
type sessionKey struct {
	id, token string
	hash      []byte
}

// newSessionKey makes the ID (ordered by now), the token and its hash of a
// new session.
func (s *Service) newSessionKey(now time.Time) (sessionKey, error) {
	id, err := s.newOrderedID(now)
	if err != nil {
		return sessionKey{}, err
	}
	token, err := s.newSessionToken(id)
	if err != nil {
		return sessionKey{}, err
	}
	return sessionKey{id: id, token: token, hash: s.sessionTokenHash(token)}, nil
}

// session is the session k names, of accountID, made at now.
func (k sessionKey) session(accountID string, epoch int64, now, expires, elevatedUntil time.Time) twofold.Session {
	return twofold.Session{ID: k.id, AccountID: accountID, TokenHash: k.hash,
		CreatedAt: now, ExpiresAt: expires, ElevatedUntil: elevatedUntil, Epoch: epoch}
}

// newSessionToken returns a fresh token for session id: the session's ID,
// which finds the row, a dot, and a 256-bit secret; only the token's keyed
// hash (sessionTokenHash) is stored.
func (s *Service) newSessionToken(id string) (string, error) {
	secret, err := s.randomString(32)
	if err != nil {
		return "", err
	}
	return id + "." + secret, nil
}

// sessionTokenHash is the keyed hash of a session token that is stored.
func (s *Service) sessionTokenHash(token string) []byte { return s.hasher.Sum("session", token) }

// Authenticate returns the caller behind a session token.
func (s *Service) Authenticate(ctx context.Context, token string) (Auth, error) {
	if token == "" || len(token) > 128 {
		return Auth{}, twofold.Errorf(twofold.CodeUnauthorized, "authentication required")
	}
	invalid := errBadSession()
	id, _, ok := strings.Cut(token, ".")
	if !ok || !isOrderedID(id) {
		return Auth{}, invalid
	}
	sess, err := s.store.Session(ctx, id, s.Now())
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return Auth{}, invalid
	}
	if err != nil {
		return Auth{}, err
	}
	if !hmac.Equal(sess.TokenHash, s.sessionTokenHash(token)) {
		return Auth{}, invalid
	}
	a, err := s.store.AccountByID(ctx, sess.AccountID)
	if err != nil {
		return Auth{}, err
	}
	if sess.Epoch != a.SessionEpoch || a.Suspended {
		return Auth{}, invalid // signed out everywhere since (EndSessions), or suspended
	}
	return Auth{Account: a, Session: sess}, nil
}

// errBadSession answers a session token that opens no session: unknown,
// signed out, expired, or of a suspended account (Authenticate), and a
// session that stopped being one of those while its request ran
// (sessionStands).
func errBadSession() error {
	return twofold.Errorf(twofold.CodeUnauthorized, "session is invalid or has expired")
}

// Logout ends the caller's session. A session that ended meanwhile (a
// sign-out sent twice at once) is recorded ending once.
func (s *Service) Logout(ctx context.Context, a Auth, m Meta) error {
	if err := person(a); err != nil {
		return err
	}
	ended, err := s.store.DeleteSession(ctx, a.Session.ID)
	if err != nil {
		return err
	}
	if ended {
		s.audit(ctx, a.Account.ID, "session.ended", m, "")
	}
	return nil
}

// LogoutToken ends the session that token was issued for, and reports
// whether it did: token must be the session's token or the one it had
// before its last renewal (ElevateRenewing). A sign-out sent with the
// cookie the browser had while another of its requests renewed it thus
// still ends the session, whichever request the server saw first, and the
// browser is not left signed in with the session it asked to end. The old
// token opens nothing else: a copy of it can only end the session, which
// is what a sign-out is for. A token older than that, or of a session that
// has ended (expired, or signed out everywhere, as a password change does
// as it gives the browser a new session), ends nothing (ended false), and
// nothing else is told about it.
func (s *Service) LogoutToken(ctx context.Context, token string, m Meta) (ended bool, err error) {
	if token == "" || len(token) > 128 {
		return false, nil
	}
	id, _, ok := strings.Cut(token, ".")
	if !ok || !isOrderedID(id) {
		return false, nil
	}
	accountID, ended, err := s.store.EndSessionByToken(ctx, id, s.sessionTokenHash(token), s.Now())
	if err != nil || !ended {
		return false, err
	}
	s.audit(ctx, accountID, "session.ended", m, "")
	return true, nil
}

// LostRenewalWindow is how long after a session's renewal (ElevateRenewing)
// a request with the token from before it is taken for a browser that
// dropped the renewal's answer: a form sent twice, whose first sending
// renewed the token while the browser had already moved on to the second
// (EndLostRenewal). A copy of the old token used later opens nothing and
// ends nothing but by signing out (LogoutToken).
const LostRenewalWindow = 2 * time.Minute

// LostRenewal is what EndLostRenewal found of a request whose session
// token opens no session.
type LostRenewal struct {
	// Renewed reports whether the token is the one a session still
	// signed in had before its last renewal; Ended, whether that session
	// was ended for it.
	Renewed, Ended bool
	// Form is, when the session was ended and the request carried the
	// one-time token of a form of that session sent before, the form's
	// purpose (NewFormToken), and Made what its first sending made ("",
	// when it had not finished): the answer that told of it is the one the
	// browser dropped. Form is "" otherwise.
	Form, Made string
}

// EndLostRenewal handles a request with token, which opens no session. It
// reports Renewed when token is the one a session still signed in had
// before its last renewal, and then, when that renewal is less than
// LostRenewalWindow old, ends the session and reports Ended, with a
// session.ended_renewal_lost event. Either the browser sent its form again
// before the renewal's answer came, and dropped that answer, the only
// place the new token ever was (so no one holds the session any more; a
// session left elevated with its token sent once over the wire is better
// gone), or another browser holds a copy of the old token (then the holder
// signs in again, and the copy gets nothing: it could end the session by
// signing out with it anyway). The old token is never accepted: taking it
// would give a copy made before the holder confirmed it's them the
// elevated session. Hashes are compared in constant time.
//
// formToken is the one-time token of the form the request carried, if
// any: when it is that session's and the form was sent before, what the
// first sending made is told (LostRenewal.Form), so that the page says
// what the dropped answer held (an API key's secret, new recovery codes)
// rather than only that the session ended. Only the browser that was
// shown the form holds its token, so a copy of the old session token
// learns nothing by it; the session ends all the same.
func (s *Service) EndLostRenewal(ctx context.Context, token, formToken string, m Meta) (LostRenewal, error) {
	sess, renewed, err := s.renewedFrom(ctx, token)
	if err != nil || !renewed || !s.Now().Before(sess.RenewedAt.Add(LostRenewalWindow)) {
		return LostRenewal{Renewed: renewed}, err
	}
	a, err := s.store.AccountByID(ctx, sess.AccountID)
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return LostRenewal{}, nil
	}
	if err != nil {
		return LostRenewal{Renewed: true}, err
	}
	if sess.Epoch != a.SessionEpoch || a.Suspended {
		return LostRenewal{}, nil // signed out everywhere since, or suspended: nothing to end
	}
	// What the form did, read before the session ends: its record goes
	// with the session. Not told when it cannot be read: the session ends
	// all the same.
	form, made, _, err := s.formSent(ctx, sess.ID, formToken)
	if err != nil {
		s.log.Error("form of a lost renewal not read", "err", err)
		form, made = "", ""
	}
	accountID, ended, err := s.store.EndRenewedSession(ctx, sess.ID, sess.TokenHash, sess.RenewedAt)
	if err != nil || !ended {
		return LostRenewal{Renewed: true}, err
	}
	s.audit(ctx, accountID, "session.ended_renewal_lost", m, "")
	return LostRenewal{Renewed: true, Ended: true, Form: form, Made: made}, nil
}

// renewedFrom returns the live session whose token before its last
// renewal was token, and reports whether there is one.
func (s *Service) renewedFrom(ctx context.Context, token string) (twofold.Session, bool, error) {
	if token == "" || len(token) > 128 {
		return twofold.Session{}, false, nil
	}
	id, _, ok := strings.Cut(token, ".")
	if !ok || !isOrderedID(id) {
		return twofold.Session{}, false, nil
	}
	sess, err := s.store.Session(ctx, id, s.Now())
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return twofold.Session{}, false, nil
	}
	if err != nil {
		return twofold.Session{}, false, err
	}
	hash := s.sessionTokenHash(token)
	if sess.PreviousTokenHash == nil || hmac.Equal(sess.TokenHash, hash) || !hmac.Equal(sess.PreviousTokenHash, hash) {
		return twofold.Session{}, false, nil
	}
	return sess, true, nil
}

// LogoutEverywhere ends every session of the caller's account, the caller's
// own included, and voids its logins waiting for their second step: for a
// device lost or a session seen in the events that was not the owner's.
func (s *Service) LogoutEverywhere(ctx context.Context, a Auth, m Meta) error {
	if err := person(a); err != nil {
		return err
	}
	return s.inTx(ctx, func(ctx context.Context) error {
		if _, err := s.store.EndSessions(ctx, a.Account.ID); err != nil {
			return err
		}
		s.audit(ctx, a.Account.ID, "session.ended_everywhere", m, "")
		return nil
	})
}

// Elevation is a passed elevation: until when the session is elevated,
// and after a recovery code, how many the account has left, as a login's
// second step tells them (Verified; SPEC §1 story 4 shows the count and
// warns at LowRecoveryCodes or fewer).
type Elevation struct {
	Until             time.Time
	RecoveryCodeUsed  bool
	RecoveryCodesLeft int
}

// Elevate checks a second factor for a logged-in caller and elevates its
// session for the elevation period (SPEC §3.1). The session keeps its
// token (the JSON API's bearer token).
func (s *Service) Elevate(ctx context.Context, a Auth, p SecondFactor, m Meta) (Elevation, error) {
	if err := person(a); err != nil {
		return Elevation{}, err
	}
	return s.elevate(ctx, a, p, m, nil)
}

// ElevateRenewing elevates the caller's session as Elevate does and, in
// the same transaction, gives it a new token, returned, in place of the one
// it was presented with, which stops working at once: a copy of the old
// token (a cookie read off a shared machine, a log, a proxy) never becomes
// elevated when the holder confirms it's them. The session keeps its ID,
// expiry and everything scoped by its ID. For the pages, whose cookie is
// set anew; when the session was renewed or ended meanwhile (another tab
// elevated it first), the answer is a conflict and nothing is written.
func (s *Service) ElevateRenewing(ctx context.Context, a Auth, p SecondFactor, m Meta) (e Elevation, token string, err error) {
	if err := person(a); err != nil {
		return Elevation{}, "", err
	}
	if token, err = s.newSessionToken(a.Session.ID); err != nil {
		return Elevation{}, "", err
	}
	renew := &renewal{oldHash: a.Session.TokenHash, newHash: s.sessionTokenHash(token)}
	if e, err = s.elevate(ctx, a, p, m, renew); err != nil {
		return Elevation{}, "", err
	}
	return e, token, nil
}

// stillUnrenewed returns a conflict, before the second factor is judged,
// when renew is to replace a's token and the session no longer has it: the
// same form sent twice, whose first sending (which held the locks of
// LockSecondStep until it committed) confirmed it's the holder with the
// same code. That code is then neither called wrong nor counted as a
// failure; the page loaded again with the old cookie says what happened
// (EndLostRenewal). Inside InTx, after LockSecondStep.
func (s *Service) stillUnrenewed(ctx context.Context, a Auth, renew *renewal) error {
	if renew == nil {
		return nil
	}
	sess, err := s.store.Session(ctx, a.Session.ID, s.Now())
	if err != nil && twofold.ErrorCode(err) != twofold.CodeNotFound {
		return err
	}
	if err != nil || !hmac.Equal(sess.TokenHash, renew.oldHash) {
		return errRenewedMeanwhile()
	}
	return nil
}

func errRenewedMeanwhile() error {
	return twofold.Errorf(twofold.CodeConflict, "this session was renewed or ended meanwhile (in another tab, or by this form sent twice): load the page again")
}

// renewal is a session token replaced as the session is elevated.
type renewal struct{ oldHash, newHash []byte }

// elevateSession extends a's session's elevation to until, inside InTx;
// with renew, its token is replaced in the same statement.
func (s *Service) elevateSession(ctx context.Context, a Auth, until time.Time, renew *renewal) error {
	if renew == nil {
		return s.store.ElevateSession(ctx, a.Session.ID, until)
	}
	ok, err := s.store.RenewSession(ctx, a.Session.ID, renew.oldHash, renew.newHash, until, s.Now())
	if err != nil {
		return err
	}
	if !ok {
		return errRenewedMeanwhile()
	}
	return nil
}

// elevate checks p and elevates a's session, renewing its token with renew.
func (s *Service) elevate(ctx context.Context, a Auth, p SecondFactor, m Meta, renew *renewal) (Elevation, error) {
	if p.Method == twofold.MethodPush {
		until, err := s.elevatePush(ctx, a, p, m, renew)
		return Elevation{Until: until}, err
	}
	if err := checkProof(p); err != nil {
		return Elevation{}, err
	}
	if err := s.allowSource(ctx, m); err != nil {
		return Elevation{}, err
	}
	p.scope = elevateScope(a.Session.ID)
	var answer error
	e := Elevation{Until: s.Now().Add(s.cfg.ElevationTTL)}
	err := s.inTx(ctx, func(ctx context.Context) error {
		answer = nil
		e.RecoveryCodeUsed, e.RecoveryCodesLeft = false, 0
		if err := s.store.LockSecondStep(ctx, a.Account.ID, p.FactorID, "", codeMethod(p.Method)); err != nil {
			return err
		}
		if err := s.stillUnrenewed(ctx, a, renew); err != nil {
			return err
		}
		if err := s.checkSecondFactor(ctx, a.Account.ID, p, m, "elevation"); err != nil {
			if isInternal(err) {
				return err
			}
			answer = err
			return nil
		}
		if err := s.elevateSession(ctx, a, e.Until, renew); err != nil {
			return err
		}
		if p.Method == twofold.MethodRecoveryCode {
			e.RecoveryCodeUsed = true
			var err error
			if e.RecoveryCodesLeft, err = s.store.RecoveryCodesRemaining(ctx, a.Account.ID); err != nil {
				return err
			}
		}
		s.audit(ctx, a.Account.ID, "session.elevated", m, "second factor: "+string(p.Method))
		return nil
	})
	if err != nil { // a refusal is answered only once its throttle slot is committed
		return Elevation{}, err
	}
	if answer != nil {
		return Elevation{}, answer
	}
	return e, nil
}

// requireElevation returns an elevation-required error unless a is elevated.
// requireElevationIfEnabled asks for elevation when the account has an
// active factor; without one there is nothing to elevate with.
func (s *Service) requireElevationIfEnabled(ctx context.Context, a Auth) error {
	if a.Elevated(s.Now()) {
		return nil
	}
	enabled, err := s.twoFactorEnabled(ctx, a.Account.ID)
	if err != nil || !enabled {
		return err
	}
	return s.requireElevation(a)
}

func (s *Service) requireElevation(a Auth) error {
	if !a.Elevated(s.Now()) {
		return twofold.Errorf(twofold.CodeElevationRequired, "this change needs a fresh second-factor check: elevate the session first")
	}
	return nil
}

// codeMethod reports whether m is a code from a TOTP or HOTP factor, whose
// check locks the account's code factors first.
func codeMethod(m twofold.Method) bool { return m == twofold.MethodTOTP || m == twofold.MethodHOTP }

// goneIsBadCredentials answers a sign-in whose account was closed while it
// ran as an unknown name is answered: not found is no internal error.
func goneIsBadCredentials(err error) error {
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return errBadCredentials()
	}
	return err
}
