package core

import (
	"context"
	"time"

	"github.com/twofold/twofold"
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

// maxListedSessions bounds the sessions Sessions lists, newest first, and
// sessionEventsRead the events it reads to find them.
const (
	maxListedSessions = 50
	sessionEventsRead = 200
)

// Sessions returns the caller's live sessions, newest first: every
// browser, app and script signed in as the account by a session token. They
// are found through the events that made them, by the account's index of
// events, so that no login writes an index of sessions by account.
func (s *Service) Sessions(ctx context.Context, a Auth) ([]SessionInfo, error) {
	if err := person(a); err != nil {
		return nil, err
	}
	now := s.Now()
	evs, err := s.store.SessionEvents(ctx, a.Account.ID, now.Add(-s.cfg.SessionTTL), sessionEventsRead)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []SessionInfo
	for _, e := range evs {
		if seen[e.SessionID] || len(out) == maxListedSessions {
			continue
		}
		seen[e.SessionID] = true
		sess, err := s.store.Session(ctx, e.SessionID, now)
		if twofold.ErrorCode(err) == twofold.CodeNotFound {
			continue // ended, or expired
		}
		if err != nil {
			return nil, err
		}
		if sess.AccountID != a.Account.ID || sess.Epoch != a.Account.SessionEpoch {
			continue // signed out everywhere since
		}
		how := e.Detail
		if e.Type == "password.changed" {
			how = "password change"
		}
		out = append(out, SessionInfo{ID: sess.ID, CreatedAt: sess.CreatedAt, ExpiresAt: sess.ExpiresAt, Source: e.Source,
			UserAgent: e.UserAgent, How: how, Current: sess.ID == a.Session.ID, ElevatedUntil: sess.ElevatedUntil})
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
	if err := s.store.DeleteSession(ctx, sessionID); err != nil {
		return err
	}
	detail := "session " + sessionID
	if sessionID == a.Session.ID {
		detail += " (this one)"
	}
	s.audit(ctx, a.Account.ID, "session.revoked", m, detail)
	return nil
}
