package core

import (
	"context"
	"fmt"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/permit"
)

// SessionInfo is one of an account's live sessions as its holder sees it:
// where and how it was made. Never its token.
type SessionInfo struct {
	ID        string
	CreatedAt time.Time
	ExpiresAt time.Time
	Source    string
	UserAgent string
	// How says how it was made: "password only", "second factor: totp",
	// "passkey …", or "password change" (the session a password change
	// goes on with).
	How string
	// Current reports whether it is the caller's own session.
	Current       bool
	ElevatedUntil time.Time
}

// maxListedSessions bounds the sessions Sessions lists, newest first.
const maxListedSessions = 50

// Sessions returns the caller's live sessions, newest first: every
// browser, app and script signed in as the account by a session token. They
// are found through the events that made them, by the account's index of
// events, from the least event floor of the account's live sessions (read
// by the index of sessions by account); ended ones are left out in the
// query, so that however many sessions were made and ended since, none that
// still works is missed; nor is one made under a longer --session-ttl than
// today's, which keeps the expiry it was given; nor one whose events were
// recorded by clocks that disagree (the store reads from the least event
// floor of the sessions that still work, which comes from the database, not
// from a clock).
func (s *Service) Sessions(ctx context.Context, a Auth) ([]SessionInfo, error) {
	if err := person(a); err != nil {
		return nil, err
	}
	live, err := s.store.LiveSessions(ctx, a.Account.ID, a.Account.SessionEpoch, s.Now(), maxListedSessions)
	if err != nil {
		return nil, err
	}
	out := make([]SessionInfo, 0, len(live))
	for _, l := range live {
		how := l.Made.Detail
		if l.Made.Type == "password.changed" {
			how = "password change"
		}
		// The user agent is cleaned again for events recorded before
		// CleanText replaced hidden characters.
		out = append(out, SessionInfo{ID: l.Session.ID, CreatedAt: l.Session.CreatedAt, ExpiresAt: l.Session.ExpiresAt,
			Source: l.Made.Source, UserAgent: CleanText(l.Made.UserAgent, 256), How: how, Current: l.Session.ID == a.Session.ID,
			ElevatedUntil: l.Session.ElevatedUntil})
	}
	return out, nil
}

// EndSession signs one of the caller's sessions out, the caller's own
// included: a browser left signed in elsewhere, a lost phone's app. Another
// account's session, or one that has ended, is not found.
func (s *Service) EndSession(ctx context.Context, a Auth, sessionID string, m Meta) error {
	if err := person(a); err != nil {
		return err
	}
	gone := twofold.Errorf(twofold.CodeNotFound, "no such session: it has ended, or is not yours")
	if !isOrderedID(sessionID) {
		return gone
	}
	sess, err := s.store.Session(ctx, sessionID, s.Now())
	if twofold.ErrorCode(err) == twofold.CodeNotFound || err == nil && (sess.AccountID != a.Account.ID || sess.Epoch != a.Account.SessionEpoch) {
		return gone
	}
	if err != nil {
		return err
	}
	// In one transaction, which checks first that the caller's session
	// still stands (WithCaller): a session signed out meanwhile ends no
	// other.
	return s.inTx(ctx, func(ctx context.Context) error {
		ended, err := s.store.DeleteSession(ctx, sessionID)
		if err != nil {
			return err
		}
		if !ended {
			return gone // ended meanwhile (the form sent twice): told of once
		}
		detail := "session " + sessionID
		if sessionID == a.Session.ID {
			s.audit(ctx, a.Account.ID, "session.revoked", m, detail+" (this one)")
			return nil
		}
		s.audit(ctx, a.Account.ID, "session.revoked", m, detail)
		// Told, as one session can now end another while keeping itself: a
		// holder who did not do it should change the password.
		s.notify(ctx, a.Account.ID, "a session of your account was signed out",
			fmt.Sprintf("A browser or app signed in to your account (from %s) signed out another of its sessions.", CleanText(m.Source, 64)))
		return nil
	})
}

// SessionsOf returns the live sessions of account accountID, newest first,
// for an operator (a session, or an API key with admin users read).
func (s *Service) SessionsOf(ctx context.Context, op Auth, accountID string) ([]SessionInfo, error) {
	if err := adminAllowed(op, "users", permit.Read); err != nil {
		return nil, err
	}
	a, err := s.store.AccountByID(ctx, accountID)
	if err != nil {
		return nil, err
	}
	return s.Sessions(ctx, Auth{Account: a})
}

// SignOutEverywhereFor ends every session of account accountID and voids
// its logins waiting for their second step, for an operator who fears its
// password or a device is in other hands. Its API keys keep working
// (suspending the account stops them too). Audited with who did it; the
// holder is told. It says whether anything was signed out: an account with
// no session and no login waiting (the form sent again, or another
// operator was first) is left as it is, and nothing is recorded or told.
func (s *Service) SignOutEverywhereFor(ctx context.Context, op Auth, accountID string, m Meta) (bool, error) {
	m = m.by(op)
	if err := s.requireAdminWrite(ctx, op, "users", "signing an account out everywhere"); err != nil {
		return false, err
	}
	a, err := s.store.AccountByID(ctx, accountID)
	if err != nil {
		return false, err
	}
	if err := s.keyMayActOn(ctx, op, a, "signing the account out", m); err != nil {
		return false, err
	}
	ended := false
	err = s.inTx(locksAccount(ctx, a.ID), func(ctx context.Context) error {
		ended = false
		// Closed meanwhile: not found, as before.
		if err := s.store.LockAccount(ctx, a.ID); err != nil {
			return err
		}
		n, err := s.store.SignedIn(ctx, a.ID, s.Now())
		if err != nil || n == 0 {
			return err
		}
		if _, err := s.store.EndSessions(ctx, a.ID); err != nil {
			return err
		}
		ended = true
		s.auditOperator(ctx, a.ID, "session.ended_everywhere", m, true, "by "+actor(op), "by an operator")
		s.notifyEnd(ctx, a.ID, "you were signed out everywhere", footerOperator,
			"An operator signed your account out on every browser and app. Sign in again; if you did not expect this, change your password.")
		return nil
	})
	return ended && err == nil, err
}
