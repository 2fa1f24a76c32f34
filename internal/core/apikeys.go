package core

import (
	"context"
	"crypto/hmac"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/permit"
)

// API keys (SPEC §1 story 6). A key is an id and a 256-bit secret; scripts
// send them as HTTP Basic (id as user, secret as password), as a Bearer
// "id:secret", or exchange them for a short-lived Bearer token
// (IssueAPIToken). Only keyed hashes of secrets and tokens are stored.

const (
	// MaxAPIKeys bounds the live (unexpired) keys of one account; an
	// expired key is kept ExpiredKeyKeep and counts for nothing.
	MaxAPIKeys = 100
	// APITokenTTL is how long a token from IssueAPIToken lasts.
	APITokenTTL = time.Hour
	// apiKeyTouchEvery is how often at most a key's last use is written,
	// with an api_key.used event: a busy script must not cost a write per
	// request.
	apiKeyTouchEvery = time.Minute
	// APIKeyCreateBurst and APIKeyCreateEvery bound the keys made for one
	// account, by its people and its keys alike, on every instance (a
	// token bucket in the database): as many at once as an account may
	// have live (MaxAPIKeys), then one every APIKeyCreateEvery (60 an
	// hour). Making and revoking keys in a loop keeps the live ones under
	// MaxAPIKeys, and each key made and revoked is two audit events that
	// are never held back (unboundedEvents) and a notice: without this
	// bound, only the rate of requests would bound what a stolen session or
	// key writes. A person making a few keys a day, or a script making a
	// short-lived key per run, never meets it.
	APIKeyCreateBurst = MaxAPIKeys
	APIKeyCreateEvery = time.Minute
	// apiTokenPrefix starts every token from IssueAPIToken, so that it is
	// told from a session token before any lookup.
	apiTokenPrefix = "tok_"
	// A key may take apiTokenBurst tokens at once, then one each apiTokenEvery.
	apiTokenBurst = 30
	apiTokenEvery = 10 * time.Second
)

// NewAPIKey is what a caller asks of a new key.
type NewAPIKey struct {
	Name      string
	Permits   []twofold.Permit
	ExpiresAt *time.Time // nil: no expiry (for a key made by a key: its maker's); else a time to come
	// UniqueName refuses the key (conflict) while a live key of the
	// account has its name: an application credential's name is one per
	// user in the Identity API, where clients find one by it.
	UniqueName bool
}

// person refuses a caller that is an API key: only a person's session may
// manage two-factor settings, passwords and sessions (SPEC §1 story 6).
func person(a Auth) error {
	if a.Key != nil {
		return twofold.Errorf(twofold.CodeForbidden, "an API key cannot do this: sign in as a person")
	}
	return nil
}

// CreateAPIKey makes a key for the caller's account and returns it with its
// secret, which is shown this once. A person needs an elevated session when
// the account has two-factor (SPEC §1 story 5). A key needs a keys write
// permit, and makes only keys within its own permits that expire no later
// than itself; revoking it revokes them too. Admin permits (the operator
// API) are an operator's only, and a person makes a key with them only
// with two-factor and an elevated session, as operators' changes need.
func (s *Service) CreateAPIKey(ctx context.Context, a Auth, n NewAPIKey, m Meta) (twofold.APIKey, string, error) {
	name, err := validateKeyName(n.Name)
	if err != nil {
		return twofold.APIKey{}, "", err
	}
	permits, err := permit.NormalizeAll(n.Permits)
	if err != nil {
		return twofold.APIKey{}, "", err
	}
	now := s.Now()
	// Only an absent expiry means none: a time given, even the zero time
	// (year 1), must be one to come.
	var expires time.Time
	if n.ExpiresAt != nil {
		if !n.ExpiresAt.After(now) {
			return twofold.APIKey{}, "", twofold.Errorf(twofold.CodeInvalid, "the expiry must be in the future").On("expires_at")
		}
		if n.ExpiresAt.After(now.AddDate(10, 0, 0)) {
			return twofold.APIKey{}, "", twofold.Errorf(twofold.CodeInvalid, "the expiry must be within ten years").On("expires_at")
		}
		expires = n.ExpiresAt.UTC().Truncate(time.Microsecond)
	}
	// A key made with a second factor may reach what a team requiring
	// two-factor shares; a key made by a key inherits its maker's answer.
	k := twofold.APIKey{AccountID: a.Account.ID, Name: name, Permits: permits, CreatedAt: now, ExpiresAt: expires,
		SecondFactor: a.PassedSecondFactor()}
	// A person has every permit but admin ones, which only an operator
	// has; a key, only its own, and admin ones only while its owner is an
	// operator (adminAllowed).
	admin := permit.Grants(permits, permit.Admin)
	if admin && !a.Account.Operator {
		return twofold.APIKey{}, "", twofold.Errorf(twofold.CodeForbidden, "only an operator may make a key with admin permits")
	}
	if a.Key != nil {
		if !a.Allows(permit.Keys, "*", permit.Write) {
			return twofold.APIKey{}, "", twofold.Errorf(twofold.CodeForbidden, "this API key may not make keys: it needs the permit %q", "keys * write")
		}
		if i := permit.Beyond(permits, a.Key.Permits); i >= 0 {
			return twofold.APIKey{}, "", twofold.Errorf(twofold.CodeForbidden, "a key can only make keys within its own permits: permit %d (%s) is not within them", i+1, permit.Format(permits[i]))
		}
		if !a.Key.ExpiresAt.IsZero() && (k.ExpiresAt.IsZero() || k.ExpiresAt.After(a.Key.ExpiresAt)) {
			k.ExpiresAt = a.Key.ExpiresAt
		}
		k.ParentID = a.Key.ID
	} else if admin {
		// The key will do what the operator's pages do only with a fresh
		// second factor: making it takes one, and two-factor on the
		// operator's own account.
		if err := s.requireOperatorElevation(ctx, a, "making a key with admin permits"); err != nil {
			return twofold.APIKey{}, "", err
		}
	} else if err := s.requireElevationIfEnabled(ctx, a); err != nil {
		return twofold.APIKey{}, "", err
	}
	if k.ID, err = s.newID(); err != nil {
		return twofold.APIKey{}, "", err
	}
	secret, err := s.randomString(32)
	if err != nil {
		return twofold.APIKey{}, "", err
	}
	k.SecretHash = s.hasher.Sum("api-key", k.ID+":"+secret)
	err = s.inTx(locksAccount(ctx, a.Account.ID), func(ctx context.Context) error {
		// The account's row, held until the commit, before anything is
		// read: keys made at once, on any instance, are counted one after
		// the other and cannot pass MaxAPIKeys.
		if err := s.store.LockAccount(ctx, a.Account.ID); err != nil {
			return err
		}
		if admin {
			// Read again, and held: an operator made no more while this
			// request ran would otherwise keep a key revokeAdminKeys
			// never saw.
			op, err := s.store.IsOperator(ctx, a.Account.ID)
			if err != nil {
				return err
			}
			if !op {
				return twofold.Errorf(twofold.CodeForbidden, "only an operator may make a key with admin permits")
			}
		}
		keys, err := s.store.APIKeys(ctx, a.Account.ID)
		if err != nil {
			return err
		}
		// Live keys alone count: an expired key is kept a while for the
		// list (ExpiredKeyKeep) but can do nothing, and a script making a
		// short-lived key per run must not be refused after its 100th.
		live := 0
		for _, other := range keys {
			if other.Expired(now) {
				continue
			}
			live++
			if n.UniqueName && other.Name == k.Name {
				return twofold.Errorf(twofold.CodeConflict, "an application credential named %s exists: delete it or pick another name", quote(k.Name))
			}
		}
		if live >= MaxAPIKeys {
			return twofold.Errorf(twofold.CodeConflict, "an account has at most %d API keys: revoke one first", MaxAPIKeys)
		}
		// Taken last, in the transaction: a key refused for another
		// reason, or not stored, costs none.
		if err := s.takeKeyCreation(ctx, a.Account.ID, now); err != nil {
			return err
		}
		if err := s.store.CreateAPIKey(ctx, k); err != nil {
			return err
		}
		s.audit(ctx, a.Account.ID, "api_key.created", m, keyDetail(k)+madeBy(a))
		s.notify(ctx, a.Account.ID, keyCreatedSubject,
			"An API key called "+quote(k.Name)+" was created for your account"+madeBy(a)+". It may:", permitLines(k.Permits), origin(m))
		return nil
	})
	if twofold.ErrorCode(err) == twofold.CodeNotFound && a.Key != nil {
		// The calling key (or its account) was deleted after it was
		// checked, and the new key has no maker left to belong to:
		// answered as a revoked key is.
		return twofold.APIKey{}, "", errBadKey()
	}
	if twofold.ErrorCode(err) == twofold.CodeThrottled {
		// Past the bound on keys made: the record says so, once a
		// minute per account however fast the refusals come (a loop of
		// a stolen session or key), the rest counted on /metrics only.
		s.auditRefused(ctx, "api-key-create", a.Account.ID, a.Account.ID, "api_key.create_throttled", m, keyCreateThrottledDetail(a))
	}
	if err != nil {
		return twofold.APIKey{}, "", err
	}
	return k, secret, nil
}

// keyCreateThrottledDetail is the detail of an api_key.create_throttled
// event: when a key asked, it is named first, as the subject of the event
// (keyEventDetail), as it is of the keys it made.
func keyCreateThrottledDetail(a Auth) string {
	const why = "too many API keys were made for this account in a short time"
	if a.Key != nil {
		return keyEventDetail(*a.Key) + ": " + why
	}
	return why
}

// takeKeyCreation takes one of the account's key creations
// (APIKeyCreateBurst), or answers throttled with the wait for the next.
func (s *Service) takeKeyCreation(ctx context.Context, accountID string, now time.Time) error {
	key, limit := "api-key:create:"+accountID, SendLimit{Burst: APIKeyCreateBurst, Every: APIKeyCreateEvery}
	ok, err := s.store.TakeToken(ctx, key, APIKeyCreateBurst, 1/APIKeyCreateEvery.Seconds(), now)
	if err != nil || ok {
		return err
	}
	wait, err := s.nextToken(ctx, key, limit, now)
	if err != nil {
		return err
	}
	n := int(math.Ceil(wait.Seconds()))
	return throttled(wait, fmt.Sprintf("too many API keys were made for this account in a short time (%d at once, then one a minute); try again in %d %s",
		APIKeyCreateBurst, n, plural(n, "second", "seconds")))
}

// validateKeyName checks a key's name as a factor's label is checked.
func validateKeyName(name string) (string, error) {
	if strings.TrimSpace(name) == "" {
		return "", twofold.Errorf(twofold.CodeInvalid, "the API key needs a name").On("name")
	}
	return validateLabel(name)
}

// quote quotes a name the account chose for an audit detail or a mail, with
// Go's escapes, so that no name can close its quotes and read as more of
// the detail (a key named `ci": dns * * read,write` is not a permit list).
func quote(s string) string { return strconv.Quote(s) }

func keyDetail(k twofold.APIKey) string {
	return "key " + k.ID + " " + quote(k.Name) + ": " + strings.ReplaceAll(permitLines(k.Permits), "\n", "; ")
}

func madeBy(a Auth) string {
	if a.Key != nil {
		return " by API key " + quote(a.Key.Name)
	}
	return ""
}

func permitLines(ps []twofold.Permit) string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = "  " + permit.Format(p)
	}
	return strings.Join(lines, "\n")
}

// APIKeys lists the keys the caller may see: a person, every key of the
// account; a key with a keys read permit, itself and the keys it made
// (theirs too).
func (s *Service) APIKeys(ctx context.Context, a Auth) ([]twofold.APIKey, error) {
	if a.Key != nil && !a.Allows(permit.Keys, "*", permit.Read) {
		return nil, twofold.Errorf(twofold.CodeForbidden, "this API key may not list keys: it needs the permit %q", "keys * read")
	}
	keys, err := s.store.APIKeys(ctx, a.Account.ID)
	if err != nil || a.Key == nil {
		return keys, err
	}
	return lineOf(keys, a.Key.ID), nil
}

// lineOf returns the key root and the keys made from it, at any remove.
func lineOf(keys []twofold.APIKey, root string) []twofold.APIKey {
	in := map[string]bool{root: true}
	for grew := true; grew; {
		grew = false
		for _, k := range keys {
			if !in[k.ID] && in[k.ParentID] {
				in[k.ID], grew = true, true
			}
		}
	}
	var out []twofold.APIKey
	for _, k := range keys {
		if in[k.ID] {
			out = append(out, k)
		}
	}
	return out
}

// RevokeAPIKey deletes a key of the caller's account, with the keys it
// made. A person may revoke any (no elevation: taking power away must be
// quick); a key with a keys write permit, itself and the keys it made.
func (s *Service) RevokeAPIKey(ctx context.Context, a Auth, id string, m Meta) error {
	notFound := twofold.Errorf(twofold.CodeNotFound, "no such API key")
	if a.Key != nil {
		if !a.Allows(permit.Keys, "*", permit.Write) {
			return twofold.Errorf(twofold.CodeForbidden, "this API key may not revoke keys: it needs the permit %q", "keys * write")
		}
		keys, err := s.store.APIKeys(ctx, a.Account.ID)
		if err != nil {
			return err
		}
		found := false
		for _, k := range lineOf(keys, a.Key.ID) {
			found = found || k.ID == id
		}
		if !found {
			return notFound
		}
	}
	return s.inTx(locksAccount(ctx, a.Account.ID), func(ctx context.Context) error {
		k, made, err := s.keyLine(ctx, a.Account.ID, id)
		if twofold.ErrorCode(err) == twofold.CodeNotFound {
			return notFound
		}
		if err != nil {
			return err
		}
		ok, err := s.store.DeleteAPIKey(ctx, a.Account.ID, id)
		if err != nil {
			return err
		}
		if !ok {
			return notFound
		}
		s.audit(ctx, a.Account.ID, "api_key.revoked", m, revokedDetail(k, made)+madeBy(a))
		return s.disableWebhooksOfEndedKeys(ctx, m)
	})
}

// keyLine returns, inside a transaction, key id of account accountID and
// how many keys it made (at any remove), which go with it when it is
// revoked. The account's row is held first, as CreateAPIKey holds it, so
// that no key made meanwhile escapes the count.
func (s *Service) keyLine(ctx context.Context, accountID, id string) (twofold.APIKey, int, error) {
	if err := s.store.LockAccount(ctx, accountID); err != nil {
		return twofold.APIKey{}, 0, err
	}
	keys, err := s.store.APIKeys(ctx, accountID)
	if err != nil {
		return twofold.APIKey{}, 0, err
	}
	for _, k := range keys {
		if k.ID == id {
			return k, len(lineOf(keys, id)) - 1, nil
		}
	}
	return twofold.APIKey{}, 0, twofold.Errorf(twofold.CodeNotFound, "no such API key")
}

// locksAccount returns ctx for a transaction that will hold account
// accountID's row by LockAccount (a key made, or revoked with keyLine) or
// by updating it (an operator's sign-out everywhere, suspension, change
// of address or reset of another's account). When its caller is an API
// key of that account, the key's check (keyStands) then holds the row as
// LockAccount does from the start, not shared as for the key's other
// writes: two such transactions that each held it shared would each wait
// for the other to let go before holding it for update, a deadlock that
// PostgreSQL breaks only after deadlock_timeout (a second), failing one
// to be run again (inTx). When the caller is of another account, the
// caller's check takes both accounts first, in the order of their ids
// (lockFirst).
func locksAccount(ctx context.Context, accountID string) context.Context {
	return context.WithValue(ctx, locksAccountKey{}, accountID)
}

// locksAccountKey holds, in a context, the account whose row its
// transaction will hold by LockAccount (locksAccount).
type locksAccountKey struct{}

// revokedDetail names revoked key k and says how many keys it made went
// with it (made), for the api_key.revoked event and the holder's notice.
func revokedDetail(k twofold.APIKey, made int) string {
	return "key " + k.ID + " " + quote(k.Name) + madeWent(made)
}

// madeWent says how many keys a revoked key made went with it.
func madeWent(made int) string {
	switch made {
	case 0:
		return ""
	case 1:
		return " and the 1 key it made"
	}
	return " and the " + strconv.Itoa(made) + " keys it made"
}

// APIKeysOf returns the API keys of account accountID, never a secret, for
// an operator (a session, or an API key with admin users read).
func (s *Service) APIKeysOf(ctx context.Context, op Auth, accountID string) ([]twofold.APIKey, error) {
	if err := adminAllowed(op, "users", permit.Read); err != nil {
		return nil, err
	}
	if _, err := s.store.AccountByID(ctx, accountID); err != nil {
		return nil, err
	}
	return s.store.APIKeys(ctx, accountID)
}

// RevokeAPIKeyFor revokes key keyID of account accountID, with the keys it
// made, for an operator: a key leaked from a customer's script, short of
// suspending the account. It takes what a change of another's account
// takes (requireAdminWrite); audited with who did it, and the holder is
// told.
func (s *Service) RevokeAPIKeyFor(ctx context.Context, op Auth, accountID, keyID string, m Meta) error {
	m = m.by(op)
	if err := s.requireAdminWrite(ctx, op, "users", "revoking a user's API key"); err != nil {
		return err
	}
	notFound := twofold.Errorf(twofold.CodeNotFound, "no such API key of this account")
	a, err := s.store.AccountByID(ctx, accountID)
	if err != nil {
		return err
	}
	if err := s.keyMayTouch(ctx, op, a, "revoking its API keys", m); err != nil {
		return err
	}
	k, err := s.store.APIKey(ctx, keyID)
	if twofold.ErrorCode(err) == twofold.CodeNotFound || err == nil && k.AccountID != accountID {
		return notFound
	}
	if err != nil {
		return err
	}
	if err := s.keyMayActOn(ctx, op, a, "revoking its API keys", m); err != nil {
		return err
	}
	return s.inTx(locksAccount(ctx, accountID), func(ctx context.Context) error {
		k, made, err := s.keyLine(ctx, accountID, keyID)
		if twofold.ErrorCode(err) == twofold.CodeNotFound {
			return notFound
		}
		if err != nil {
			return err
		}
		ok, err := s.store.DeleteAPIKey(ctx, accountID, keyID)
		if err != nil {
			return err
		}
		if !ok {
			return notFound
		}
		s.auditOperator(ctx, accountID, "api_key.revoked", m, true, revokedDetail(k, made)+" by "+actor(op), revokedDetail(k, made)+" by an operator")
		them := "it"
		if made > 0 {
			them = "them"
		}
		s.notifyEnd(ctx, accountID, "one of your API keys was revoked", footerOperator,
			"An operator revoked your API key "+quote(k.Name)+madeWent(made)+": scripts that use "+them+" stop working.")
		return s.disableWebhooksOfEndedKeys(ctx, m)
	})
}

// errBadKey is the one answer to a key or token that does not authenticate,
// whatever the cause: unknown, wrong secret, expired or revoked.
func errBadKey() error {
	return twofold.Errorf(twofold.CodeUnauthorized, "the API key or token is invalid, expired or revoked")
}

// AuthenticateAPIKey returns the caller behind an API key's id and secret.
func (s *Service) AuthenticateAPIKey(ctx context.Context, id, secret string, m Meta) (Auth, error) {
	if !wellFormedID(id) || len(secret) == 0 || len(secret) > 128 {
		return Auth{}, errBadKey()
	}
	k, err := s.store.APIKey(ctx, id)
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		s.hasher.Sum("api-key", id+":"+secret) // as long as a known id
		return Auth{}, errBadKey()
	}
	if err != nil {
		return Auth{}, err
	}
	if !keySecretIs(s, k, secret) {
		s.refuseKey(ctx, k, m, causeWrongSecret)
		return Auth{}, errBadKey()
	}
	return s.keyCaller(ctx, k, m)
}

// causeWrongSecret is the cause, in an api_key.refused event, of a key
// refused for a wrong secret: by its id or by its name alike.
const causeWrongSecret = "wrong secret"

// keySecretIs reports, in constant time, whether secret is key k's.
func keySecretIs(s *Service, k twofold.APIKey, secret string) bool {
	return hmac.Equal(k.SecretHash, s.hasher.Sum("api-key", k.ID+":"+secret))
}

// AuthenticateAPIKeyByName is AuthenticateAPIKey for a key named by its
// name among the keys of the account username names (as a login names it,
// accountForLogin), as the Identity API finds an application credential by
// its name and user. A credential's name is one per user among the live
// keys made as application credentials, but keys made on /v1 and the pages
// may share a name: the secret, 256 random bits and one per key, says
// which of the live keys of that name is meant, each compared in constant
// time. When none of that name is live, the expired ones are tried, so
// that a right secret is refused as expired, and recorded so, as by id. A
// wrong secret is refused as by id (refuseKey, under each key of the name);
// an unknown user or name costs the hash a known one does and answers the
// same errBadKey, so that neither can be probed.
func (s *Service) AuthenticateAPIKeyByName(ctx context.Context, username, name, secret string, m Meta) (Auth, error) {
	if name == "" || len(name) > 256 || len(secret) == 0 || len(secret) > 128 {
		return Auth{}, errBadKey()
	}
	acc, found, _, err := s.accountForLogin(ctx, username)
	if err != nil {
		return Auth{}, err
	}
	var keys []twofold.APIKey
	if found {
		if keys, err = s.store.APIKeys(ctx, acc.ID); err != nil {
			return Auth{}, err
		}
	}
	now := s.Now()
	var live, expired []twofold.APIKey
	for _, k := range keys {
		switch {
		case k.Name != name:
		case k.Expired(now):
			expired = append(expired, k)
		default:
			live = append(live, k)
		}
	}
	named := live
	if len(named) == 0 {
		named = expired
	}
	if len(named) == 0 {
		keySecretIs(s, twofold.APIKey{ID: name}, secret) // as long as a known name
		return Auth{}, errBadKey()
	}
	match := -1
	for i, k := range named {
		if keySecretIs(s, k, secret) {
			match = i
		}
	}
	if match < 0 {
		for _, k := range named {
			s.refuseKey(ctx, k, m, causeWrongSecret)
		}
		return Auth{}, errBadKey()
	}
	return s.keyCaller(ctx, named[match], m)
}

// keyCaller returns the caller for an authenticated key unless it has
// expired, and records its use at most once per apiKeyTouchEvery.
func (s *Service) keyCaller(ctx context.Context, k twofold.APIKey, m Meta) (Auth, error) {
	now := s.Now()
	if k.Expired(now) {
		s.refuseKey(ctx, k, m, "expired")
		return Auth{}, errBadKey()
	}
	acc, err := s.store.AccountByID(ctx, k.AccountID)
	if err != nil {
		return Auth{}, err
	}
	if acc.Suspended {
		s.refuseKey(ctx, k, m, "the account is suspended")
		return Auth{}, errBadKey()
	}
	// The row just read says whether a write is due: most requests of a
	// busy key then write nothing, and on SQLite do not wait for the one
	// writer. The conditional UPDATE settles a race between instances.
	wrote := false
	if now.Sub(k.LastUsedAt) >= apiKeyTouchEvery {
		wrote, err = s.store.TouchAPIKey(ctx, k.ID, now, apiKeyTouchEvery)
		if err != nil {
			s.log.Error("API key use not recorded", "key", k.ID, "err", err)
		}
	}
	if wrote {
		s.audit(ctx, k.AccountID, "api_key.used", m, keyEventDetail(k))
		k.LastUsedAt = now
	}
	return Auth{Account: acc, Key: &k}, nil
}

// keyStands refuses, inside a transaction, a caller whose API key no
// longer stands since the request checked it: the key revoked (with the
// key that made it, or by itself) or expired, or its account suspended or
// deleted, as errBadKey, as such a key is refused at the door
// (keyCaller); and a key with admin permits whose owner is no longer an
// operator (whose demotion revokes it, revokeAdminKeys), as adminAllowed
// refuses it. It holds the account and the key until the transaction ends
// (HoldAPIKey): what a key writes lands before its revocation, or its
// account's suspension or demotion, is answered, never after. A person
// passes.
//
// Every transaction of a key's request runs it first (WithCaller,
// callerStands, inTx).
func (s *Service) keyStands(ctx context.Context, a Auth) error {
	if a.Key == nil {
		return nil
	}
	// A write that will lock the key's account (locksAccount) holds it so
	// from the start.
	locked, _ := ctx.Value(locksAccountKey{}).(string)
	k, acc, err := s.store.HoldAPIKey(ctx, a.Key.AccountID, a.Key.ID, locked == a.Key.AccountID)
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return errBadKey()
	}
	if err != nil {
		return err
	}
	if k.Expired(s.Now()) || acc.Suspended {
		return errBadKey()
	}
	if a.Account.Operator && !acc.Operator && permit.Grants(k.Permits, permit.Admin) {
		return errNoLongerOperator()
	}
	return nil
}

// refuseKey records a refused use of a known key, at most a few a minute
// per key so that nobody can fill the owner's audit log. A request watched
// by WatchKeyRefusals is noted as recorded.
func (s *Service) refuseKey(ctx context.Context, k twofold.APIKey, m Meta, cause string) {
	noteKeyRefusal(ctx)
	s.recordRationed(ctx, "key-refused:"+k.ID, 3, time.Minute, s.event(k.AccountID, "api_key.refused", m, keyEventDetail(k)+": "+cause, ""), m)
}

// noteKeyRefusal notes, for a request watched by WatchKeyRefusals, that
// the refusal of its key is recorded.
func noteKeyRefusal(ctx context.Context) {
	if w, ok := ctx.Value(keyRefusalsKey{}).(*atomic.Bool); ok {
		w.Store(true)
	}
}

// keyRefusalsKey holds, in a request's context, whether refuseKey recorded
// a refusal of the request's API key (WatchKeyRefusals).
type keyRefusalsKey struct{}

// WatchKeyRefusals returns ctx, for a request made with an API key, and a
// function that reports whether a refused use of the key was recorded
// under it: the caller then records no second event for the refusal
// (RefuseKeyPermits).
func WatchKeyRefusals(ctx context.Context) (context.Context, func() bool) {
	w := new(atomic.Bool)
	return context.WithValue(ctx, keyRefusalsKey{}, w), w.Load
}

// RefuseKeyPermits records that a request made with the API key of a, to
// route (its method and path pattern: "GET /v1/me/events"), was refused
// because the key's permits do not allow it (a forbidden answer, whose
// message is why): an api_key.refused event that the key's owner reads
// ("API key "deploy" refused: not permitted to …"). A script that loops on
// a refused call must not fill the audit log, nor write at each request:
// at most one event a minute per key and route, and no more than the few a
// minute per key of every refused use (refuseKey); the rest are counted
// in the metrics only (recordRationed). The rate buckets refuse without a
// write. A request without a key records nothing.
func (s *Service) RefuseKeyPermits(ctx context.Context, a Auth, route, why string, m Meta) {
	if a.Key == nil {
		return
	}
	route = CleanText(route, 200)
	e := s.event(a.Key.AccountID, "api_key.refused", m, keyEventDetail(*a.Key)+": not permitted to "+route+" ("+truncate(why, 400)+")", "")
	ctx, cancel := afterCommit(ctx) // refused already: recorded even if the caller has gone
	defer cancel()
	ok, err := s.store.TakeToken(ctx, "key-refused:"+a.Key.ID+":"+route, 1, 1/time.Minute.Seconds(), s.Now())
	if err != nil {
		s.log.Error("audit event not recorded", "type", e.Type, "err", err)
	}
	if err != nil || !ok {
		s.counted(ctx, e)
		return
	}
	s.recordRationed(ctx, "key-refused:"+a.Key.ID, 3, time.Minute, e, m)
}

// IssueAPIToken exchanges an API key's id and secret for a Bearer token
// that lasts APITokenTTL, or until the key expires or is revoked (OAuth 2.0
// client credentials, RFC 6749 §4.4).
func (s *Service) IssueAPIToken(ctx context.Context, id, secret string, m Meta) (string, time.Time, error) {
	a, err := s.AuthenticateAPIKey(ctx, id, secret, m)
	if err != nil {
		return "", time.Time{}, err
	}
	return s.issueAPIToken(ctx, a)
}

// IssueAPITokenByName is IssueAPIToken for a key named by its name and its
// account's username (AuthenticateAPIKeyByName): the Identity API's
// application credential found by name and user.
func (s *Service) IssueAPITokenByName(ctx context.Context, username, name, secret string, m Meta) (string, time.Time, error) {
	a, err := s.AuthenticateAPIKeyByName(ctx, username, name, secret, m)
	if err != nil {
		return "", time.Time{}, err
	}
	return s.issueAPIToken(ctx, a)
}

// issueAPIToken makes a token for the key of a, which has just
// authenticated, under the key's bound on tokens.
func (s *Service) issueAPIToken(ctx context.Context, a Auth) (string, time.Time, error) {
	now := s.Now()
	// Each token is a row for an hour: a key looping on this must not
	// write without end.
	if ok, err := s.store.TakeToken(ctx, "api-token:"+a.Key.ID, apiTokenBurst, 1/apiTokenEvery.Seconds(), now); err != nil {
		return "", time.Time{}, err
	} else if !ok {
		return "", time.Time{}, throttled(apiTokenEvery, "this key asked for too many tokens: reuse one, each lasts an hour")
	}
	tid, err := s.newOrderedID(now)
	if err != nil {
		return "", time.Time{}, err
	}
	sec, err := s.randomString(32)
	if err != nil {
		return "", time.Time{}, err
	}
	token := apiTokenPrefix + tid + "." + sec
	expires := now.Add(APITokenTTL)
	if !a.Key.ExpiresAt.IsZero() && a.Key.ExpiresAt.Before(expires) {
		expires = a.Key.ExpiresAt
	}
	t := twofold.APIToken{ID: tid, KeyID: a.Key.ID, TokenHash: s.hasher.Sum("api-token", token), ExpiresAt: expires}
	if err := s.store.CreateAPIToken(ctx, t); err != nil {
		if twofold.ErrorCode(err) == twofold.CodeNotFound {
			return "", time.Time{}, errBadKey() // revoked after it was checked
		}
		return "", time.Time{}, err
	}
	return token, expires, nil
}

// IsAPIToken reports whether a Bearer token is one IssueAPIToken gives.
func IsAPIToken(token string) bool { return strings.HasPrefix(token, apiTokenPrefix) }

// APITokenIssuedAt returns when an API token from IssueAPIToken was made,
// to the millisecond, as its id says (newOrderedID); false for a value
// that is no such token. Its expiry does not say it: a token of a key that
// expires within the hour ends with the key.
func APITokenIssuedAt(token string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(token, apiTokenPrefix)
	id, _, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || !isOrderedID(id) {
		return time.Time{}, false
	}
	b, err := orderedEncoding.DecodeString(id)
	if err != nil || len(b) < 8 {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(b[:8]) >> 16)).UTC(), true
}

// AuthenticateAPIToken returns the caller behind a token from IssueAPIToken.
func (s *Service) AuthenticateAPIToken(ctx context.Context, token string, m Meta) (Auth, error) {
	a, _, err := s.AuthenticateAPITokenUntil(ctx, token, m)
	return a, err
}

// AuthenticateAPITokenUntil is AuthenticateAPIToken that also says when the
// token expires.
func (s *Service) AuthenticateAPITokenUntil(ctx context.Context, token string, m Meta) (Auth, time.Time, error) {
	rest, ok := strings.CutPrefix(token, apiTokenPrefix)
	id, _, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || !isOrderedID(id) || len(token) > 128 {
		return Auth{}, time.Time{}, errBadKey()
	}
	t, err := s.store.APIToken(ctx, id, s.Now())
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return Auth{}, time.Time{}, errBadKey()
	}
	if err != nil {
		return Auth{}, time.Time{}, err
	}
	if !hmac.Equal(t.TokenHash, s.hasher.Sum("api-token", token)) {
		return Auth{}, time.Time{}, errBadKey()
	}
	k, err := s.store.APIKey(ctx, t.KeyID)
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return Auth{}, time.Time{}, errBadKey()
	}
	if err != nil {
		return Auth{}, time.Time{}, err
	}
	a, err := s.keyCaller(ctx, k, m)
	return a, t.ExpiresAt, err
}

// RevokeAPIToken ends a token from IssueAPIToken before its time; the
// caller must be its key's account.
func (s *Service) RevokeAPIToken(ctx context.Context, a Auth, token string, m Meta) error {
	t, _, err := s.AuthenticateAPITokenUntil(ctx, token, m)
	if err != nil || t.Account.ID != a.Account.ID || a.Key != nil && t.Key.ID != a.Key.ID {
		return twofold.Errorf(twofold.CodeNotFound, "no such token") // a key ends only its own tokens
	}
	id, _, _ := strings.Cut(strings.TrimPrefix(token, apiTokenPrefix), ".")
	ended, err := s.store.DeleteAPIToken(ctx, id)
	if err != nil {
		return err
	}
	if !ended {
		return twofold.Errorf(twofold.CodeNotFound, "no such token") // revoked meanwhile: recorded once
	}
	s.audit(ctx, a.Account.ID, "api_key.token_revoked", m, keyEventDetail(*t.Key))
	return nil
}

// AccountName returns the username of the account with id; found is false
// when there is none.
func (s *Service) AccountName(ctx context.Context, id string) (name string, found bool, err error) {
	a, err := s.store.AccountByID(ctx, id)
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return "", false, nil
	}
	return a.Username, err == nil, err
}
