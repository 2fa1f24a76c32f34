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
		return s.keyStands(ctx, a)
	case a.Session.ID != "":
		return s.sessionStands(ctx, a)
	}
	return nil
}

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
