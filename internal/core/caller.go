package core

import (
	"context"

	"github.com/twofold/twofold"
)

// WithCaller returns ctx for the request of caller a, as one of the
// service's doors let it in (Authenticate for a person's session,
// AuthenticateAPIKey, AuthenticateAPIToken and their kin for an API key):
// every transaction run with it (inTx), and with the contexts made from
// it, first checks again that a's key or session still stands and holds it
// until it commits (callerStands). So no write of the request lands after
// the key's revocation or expiry, the session's sign-out (of it alone or
// of all the account's sessions, as a password change or an operator
// does) or expiry, or the account's suspension, deletion or demotion has
// been answered; the write is refused as the door would refuse the
// request, and writes nothing.
//
// The HTTP API, the pages and the Identity API call it once, where they
// authenticate a request, before any handler runs: so every method a
// request calls, and every method added later, is checked without asking
// for it. What follows a commit is no caller's write (afterCommit drops
// the caller), nor is the work done after a request (later).
func WithCaller(ctx context.Context, a Auth) context.Context {
	return context.WithValue(ctx, callerKey{}, a)
}

// callerKey holds, in a context, the caller every transaction checks
// again (WithCaller).
type callerKey struct{}

// callerStands refuses, inside a transaction, the caller of ctx
// (WithCaller) whose API key (keyStands) or session (sessionStands) no
// longer stands since the door let the request in, holding it until the
// transaction ends. A context without a caller passes: a sign-in, a
// sweep, the command line.
func (s *Service) callerStands(ctx context.Context) error {
	a, ok := ctx.Value(callerKey{}).(Auth)
	switch {
	case !ok:
		return nil
	case a.Key != nil:
		if err := s.lockFirst(ctx, a.Key.AccountID); err != nil {
			return err
		}
		return s.keyStands(ctx, a)
	case a.Session.ID != "":
		if err := s.lockFirst(ctx, a.Account.ID); err != nil {
			return err
		}
		return s.sessionStands(ctx, a)
	}
	return nil
}

// lockFirst takes, on PostgreSQL, before the caller's check holds the
// caller's own account (HoldSession, HoldAPIKey), the rows of the other
// accounts that the write of ctx will lock, together with the caller's,
// in the order of their ids: a deletion's (deletesAccount: the account
// and, for an operator's, every operator's, as LockAccountForDeletion
// takes them) or another account's that an operator's write changes
// (locksAccount). Held after the caller's own, they would be taken in an
// order of their own: two operators each acting on the other's account,
// or each closing their own while the write locks every operator, would
// each hold their own row and wait for the other's, a deadlock that
// PostgreSQL breaks only after deadlock_timeout (a second), failing one
// to be run again (inTx). An account already gone is left to the write
// to tell.
func (s *Service) lockFirst(ctx context.Context, callerID string) error {
	if id, ok := ctx.Value(deletesAccountKey{}).(string); ok {
		err := s.store.LockAccountForDeletion(ctx, id, callerID)
		if twofold.ErrorCode(err) == twofold.CodeNotFound {
			return nil
		}
		return err
	}
	if id, _ := ctx.Value(locksAccountKey{}).(string); id != "" && id != callerID {
		return s.store.LockAccounts(ctx, id, callerID)
	}
	return nil
}

// deletesAccount returns ctx for a transaction that closes account
// accountID (deleteAccount), whose rows, and every operator's when it is
// an operator's account, its caller's check takes first (lockFirst).
func deletesAccount(ctx context.Context, accountID string) context.Context {
	return context.WithValue(ctx, deletesAccountKey{}, accountID)
}

// deletesAccountKey holds, in a context, the account its transaction
// closes (deletesAccount).
type deletesAccountKey struct{}

// sessionStands refuses, inside a transaction, a person whose session no
// longer stands since the request checked it, as Authenticate refuses its
// token (errBadSession): signed out, signed out everywhere (the account's
// session epoch moved on: by the holder, a password change, an operator),
// expired, or its account suspended or deleted. It holds the account and
// the session until the transaction ends (HoldSession), so that what ends
// the session waits for the write, and is answered only after it landed:
// once "signed out everywhere" is answered, no write of a session it ended
// lands.
func (s *Service) sessionStands(ctx context.Context, a Auth) error {
	sess, acc, err := s.store.HoldSession(ctx, a.Account.ID, a.Session.ID, s.Now())
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return errBadSession()
	}
	if err != nil {
		return err
	}
	if sess.Epoch != acc.SessionEpoch || acc.Suspended {
		return errBadSession()
	}
	return nil
}
