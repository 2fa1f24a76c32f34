package core_test

import (
	"context"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// readRace runs hook, once armed, after it reads a session or an API
// token: what a request checked is then ended by another request before
// it ends it itself.
type readRace struct {
	*store.Store
	armedHook
}

func (s *readRace) Session(ctx context.Context, id string, now time.Time) (twofold.Session, error) {
	sess, err := s.Store.Session(ctx, id, now)
	s.trip()
	return sess, err
}

func (s *readRace) APIToken(ctx context.Context, id string, now time.Time) (twofold.APIToken, error) {
	t, err := s.Store.APIToken(ctx, id, now)
	s.trip()
	return t, err
}

// TestEndedMeanwhileRecordedOnce: a session, a sign-out or an API token
// ended by another request between this one's check and its write (a form
// sent twice, two tabs) is recorded and told of once: the later request
// says there is no such session or token, or, signing itself out, that it
// is signed out, and writes no second event or mail.
func TestEndedMeanwhileRecordedOnce(t *testing.T) {
	const told = "ann@example.com: Twofold: a session of your account was signed out"
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st := openStore(t, dsn(t))
			rs := &readRace{Store: st.Store}
			mails := &mailLog{}
			svc := newService(t, rs, st, time.Now, mails)
			ann := signedIn(t, svc, "ann")
			phone := signInAgain(t, svc, "ann")

			// Another session ended from two tabs at once.
			rs.hook = func() {
				if err := svc.EndSession(ctx, ann, phone.Session.ID, core.Meta{}); err != nil {
					t.Errorf("the first tab: %v", err)
				}
			}
			rs.armed.Store(true)
			if err := svc.EndSession(ctx, ann, phone.Session.ID, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeNotFound {
				t.Errorf("the second tab: %v, want %s", err, twofold.CodeNotFound)
			}
			if rs.armed.Load() {
				t.Fatal("fixture: the first tab never ended the session")
			}
			if n := eventCount(t, st, ann.Account.ID, "session.revoked"); n != 1 {
				t.Errorf("session.revoked events: %d, want 1", n)
			}
			if n := mails.count(told); n != 1 {
				t.Errorf("ann was told %d times a session was signed out, want once: %q", n, mails.sent)
			}

			// A sign-out sent twice.
			for range 2 {
				if err := svc.Logout(ctx, ann, core.Meta{}); err != nil {
					t.Fatalf("sign-out: %v", err)
				}
			}
			if n := eventCount(t, st, ann.Account.ID, "session.ended"); n != 1 {
				t.Errorf("session.ended events: %d, want 1", n)
			}

			// An API token revoked twice at once.
			bob := signedIn(t, svc, "bob")
			k, secret, err := svc.CreateAPIKey(ctx, bob, core.NewAPIKey{Name: "ci", Permits: []twofold.Permit{{Service: "account", Resource: "*", Actions: []string{"read"}}}}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			token, _, err := svc.IssueAPIToken(ctx, k.ID, secret, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			rs.hook = func() {
				if err := svc.RevokeAPIToken(ctx, bob, token, core.Meta{}); err != nil {
					t.Errorf("the first revocation: %v", err)
				}
			}
			rs.armed.Store(true)
			if err := svc.RevokeAPIToken(ctx, bob, token, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeNotFound {
				t.Errorf("the second revocation: %v, want %s", err, twofold.CodeNotFound)
			}
			if rs.armed.Load() {
				t.Fatal("fixture: the first revocation never ran")
			}
			if n := eventCount(t, st, bob.Account.ID, "api_key.token_revoked"); n != 1 {
				t.Errorf("api_key.token_revoked events: %d, want 1", n)
			}
		})
	}
}

// TestInvitationVoidedAsRevoked: an invitation that no longer stands (the
// team came to require two-factor, and the inviter had none) and that an
// owner revokes as the invitee accepts is recorded as revoked, once: the
// acceptance refused does not also record it void, for the invitee or the
// inviter.
func TestInvitationVoidedAsRevoked(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			f := newTeamFixture(t, dsn(t), "cat:admin")
			f.users["dan"] = signedIn(t, f.svc, "dan")
			v, err := f.svc.InviteTeamMember(ctx, f.users["cat"], f.teamID, "dan", "ops", core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			policyOn(t, f)
			f.race(t, "InTx", func() {
				if err := f.svc.RevokeTeamInvitation(ctx, f.users["ada"], f.teamID, v.ID, core.Meta{}); err != nil {
					t.Errorf("ada revokes: %v", err)
				}
			})
			if _, err := f.svc.AcceptTeamInvitation(ctx, f.users["dan"], v.ID, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeConflict {
				t.Fatalf("accept: %v, want %s", err, twofold.CodeConflict)
			}
			for who, want := range map[string]map[string]int{
				"ada": {"team.invitation_revoked": 1},
				"dan": {"team.invitation_void": 0},
				"cat": {"team.invitation_void": 0},
			} {
				for typ, n := range want {
					if got := eventCount(t, f.st, f.users[who].Account.ID, typ); got != n {
						t.Errorf("%s's %s events: %d, want %d", who, typ, got, n)
					}
				}
			}
		})
	}
}
