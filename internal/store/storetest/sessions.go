package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

// newLogin stores a login transaction id of accountID expiring at t0+5m.
func newLogin(tb testing.TB, s *store.Store, accountID, id string) twofold.Login {
	tb.Helper()
	l := twofold.Login{ID: id, AccountID: accountID, CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute)}
	if err := s.CreateLogin(tb.Context(), l); err != nil {
		tb.Fatalf("CreateLogin(%q): %v", id, err)
	}
	return l
}

// session returns a session id of accountID (token hash "token-"+id) lasting
// until t0+12h.
func session(accountID, id string) twofold.Session {
	return twofold.Session{
		ID:        id,
		AccountID: accountID,
		TokenHash: []byte("token-" + id),
		CreatedAt: t0,
		ExpiresAt: t0.Add(12 * time.Hour),
	}
}

func newSession(tb testing.TB, s *store.Store, sess twofold.Session) {
	tb.Helper()
	if err := s.CreateSession(tb.Context(), sess); err != nil {
		tb.Fatalf("CreateSession(%q): %v", sess.ID, err)
	}
}

func getLogin(tb testing.TB, s *store.Store, id string) twofold.Login {
	tb.Helper()
	l, err := s.Login(tb.Context(), id)
	if err != nil {
		tb.Fatalf("Login(%q): %v", id, err)
	}
	return l
}

// sessionAt looks session id up at now; ok is false when it is not found.
func sessionAt(tb testing.TB, s *store.Store, id string, now time.Time) (twofold.Session, bool) {
	tb.Helper()
	sess, err := s.Session(tb.Context(), id, now)
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return sess, false
	}
	if err != nil {
		tb.Fatalf("Session(%q): %v", id, err)
	}
	return sess, true
}

func testLoginRoundTrip(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	want := newLogin(t, s, a.ID, "login-1")
	if diff := cmp.Diff(want, getLogin(t, s, want.ID)); diff != "" {
		t.Errorf("Login (-want +got):\n%s", diff)
	}
	_, err := s.Login(t.Context(), "login-nothing")
	wantCode(t, "Login of an unknown id", err, twofold.CodeNotFound)
}

func testFinishLoginOnce(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	l := newLogin(t, s, a.ID, "login-1")
	now := t0.Add(time.Minute)
	first, second := session(a.ID, "sess-1"), session(a.ID, "sess-2")

	ok, err := s.FinishLogin(t.Context(), l.ID, now, first)
	if err != nil || !ok {
		t.Fatalf("FinishLogin: got %v, %v, want true, nil", ok, err)
	}
	got, found := sessionAt(t, s, first.ID, now)
	if !found {
		t.Fatalf("session of the finished login: not found")
	}
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("session of the finished login (-want +got):\n%s", diff)
	}
	if got := getLogin(t, s, l.ID); !got.Used {
		t.Errorf("Login.Used after FinishLogin: got false, want true")
	}

	ok, err = s.FinishLogin(t.Context(), l.ID, now.Add(time.Second), second)
	if err != nil {
		t.Fatalf("second FinishLogin: %v", err)
	}
	if ok {
		t.Errorf("second FinishLogin: got true, want false")
	}
	if _, found := sessionAt(t, s, second.ID, now); found {
		t.Errorf("second FinishLogin created a session")
	}
}

func testFinishLoginExpired(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	tests := []struct {
		name string
		now  time.Time
		want bool
	}{
		{"JustBefore", t0.Add(5*time.Minute - time.Microsecond), true},
		{"AtExpiry", t0.Add(5 * time.Minute), false},
		{"After", t0.Add(time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLogin(t, s, a.ID, "login-"+tt.name)
			sess := session(a.ID, "sess-"+tt.name)
			ok, err := s.FinishLogin(t.Context(), l.ID, tt.now, sess)
			if err != nil {
				t.Fatalf("FinishLogin: %v", err)
			}
			if ok != tt.want {
				t.Errorf("FinishLogin: got %v, want %v", ok, tt.want)
			}
			if _, found := sessionAt(t, s, sess.ID, t0); found != tt.want {
				t.Errorf("session exists: got %v, want %v", found, tt.want)
			}
			if got := getLogin(t, s, l.ID).Used; got != tt.want {
				t.Errorf("Login.Used: got %v, want %v", got, tt.want)
			}
		})
	}
}

func testFinishLoginUnknown(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	sess := session(a.ID, "sess-1")
	ok, err := s.FinishLogin(t.Context(), "login-nothing", t0, sess)
	if err != nil || ok {
		t.Errorf("FinishLogin of an unknown login: got %v, %v, want false, nil", ok, err)
	}
	if _, found := sessionAt(t, s, sess.ID, t0); found {
		t.Errorf("FinishLogin of an unknown login created a session")
	}
}

func testSessionExpiry(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	want := session(a.ID, "sess-1")
	want.ElevatedUntil = t0.Add(10 * time.Minute)
	newSession(t, s, want)
	newSession(t, s, session(a.ID, "sess-2"))
	tests := []struct {
		name string
		id   string
		now  time.Time
		want bool
	}{
		{"AtCreation", want.ID, t0, true},
		{"JustBeforeExpiry", want.ID, want.ExpiresAt.Add(-time.Microsecond), true},
		{"AtExpiry", want.ID, want.ExpiresAt, false},
		{"AfterExpiry", want.ID, want.ExpiresAt.Add(time.Hour), false},
		{"UnknownID", "sess-nothing", t0, false},
		{"PrefixOfID", want.ID[:len(want.ID)-1], t0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, found := sessionAt(t, s, tt.id, tt.now)
			if found != tt.want {
				t.Fatalf("Session found: got %v, want %v", found, tt.want)
			}
			if found {
				// The token's hash comes back for the caller to compare.
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Session (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func testElevateSession(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	sess := session(a.ID, "sess-1")
	newSession(t, s, sess)
	other := session(a.ID, "sess-2")
	newSession(t, s, other)
	// The steps run in order against one session.
	tests := []struct {
		name  string
		until time.Time
		want  time.Time
	}{
		{"FromNone", t0.Add(10 * time.Minute), t0.Add(10 * time.Minute)},
		{"Earlier", t0.Add(5 * time.Minute), t0.Add(10 * time.Minute)},
		{"Same", t0.Add(10 * time.Minute), t0.Add(10 * time.Minute)},
		{"Later", t0.Add(20 * time.Minute), t0.Add(20 * time.Minute)},
		{"Zero", time.Time{}, t0.Add(20 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.ElevateSession(t.Context(), sess.ID, tt.until); err != nil {
				t.Fatalf("ElevateSession: %v", err)
			}
			got, _ := sessionAt(t, s, sess.ID, t0)
			if !got.ElevatedUntil.Equal(tt.want) {
				t.Errorf("ElevatedUntil: got %v, want %v", got.ElevatedUntil, tt.want)
			}
		})
	}
	if got, _ := sessionAt(t, s, other.ID, t0); !got.ElevatedUntil.IsZero() {
		t.Errorf("ElevatedUntil of another session: got %v, want zero", got.ElevatedUntil)
	}
	if err := s.ElevateSession(t.Context(), "sess-nothing", t0.Add(time.Hour)); err != nil {
		t.Errorf("ElevateSession of an unknown session: %v", err)
	}
}

// testRenewSession: a session's token hash is replaced only over the hash
// it has, and only while it lives, in the same statement that extends its
// elevation (never shortens it); its ID, account, expiry and epoch stay, and
// other sessions are untouched.
func testRenewSession(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	sess := session(a.ID, "sess-1")
	sess.Epoch = 3
	newSession(t, s, sess)
	other := session(a.ID, "sess-2")
	newSession(t, s, other)
	// The steps run in order against one session.
	tests := []struct {
		name           string
		id             string
		old, new       string
		until, now     time.Time
		want           bool
		wantHash       string
		wantElevatedTo time.Time
	}{
		{"Renewed", sess.ID, "token-sess-1", "token-2", t0.Add(10 * time.Minute), t0, true, "token-2", t0.Add(10 * time.Minute)},
		{"OldHashAgain", sess.ID, "token-sess-1", "token-3", t0.Add(20 * time.Minute), t0, false, "token-2", t0.Add(10 * time.Minute)},
		{"ElevationNeverShortened", sess.ID, "token-2", "token-4", t0.Add(5 * time.Minute), t0, true, "token-4", t0.Add(10 * time.Minute)},
		{"Expired", sess.ID, "token-4", "token-5", t0.Add(13 * time.Hour), t0.Add(12 * time.Hour), false, "token-4", t0.Add(10 * time.Minute)},
		{"Unknown", "sess-nothing", "token-4", "token-6", t0.Add(time.Hour), t0, false, "token-4", t0.Add(10 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := s.RenewSession(t.Context(), tt.id, []byte(tt.old), []byte(tt.new), tt.until, tt.now)
			if err != nil {
				t.Fatalf("RenewSession: %v", err)
			}
			if ok != tt.want {
				t.Errorf("RenewSession: got %v, want %v", ok, tt.want)
			}
			got, found := sessionAt(t, s, sess.ID, t0)
			if !found {
				t.Fatal("the session is gone")
			}
			if string(got.TokenHash) != tt.wantHash {
				t.Errorf("TokenHash: got %q, want %q", got.TokenHash, tt.wantHash)
			}
			if !got.ElevatedUntil.Equal(tt.wantElevatedTo) {
				t.Errorf("ElevatedUntil: got %v, want %v", got.ElevatedUntil, tt.wantElevatedTo)
			}
			if got.AccountID != a.ID || !got.ExpiresAt.Equal(sess.ExpiresAt) || !got.CreatedAt.Equal(sess.CreatedAt) || got.Epoch != sess.Epoch {
				t.Errorf("session after renewal: got %+v, want account, times and epoch of %+v", got, sess)
			}
		})
	}
	if got, _ := sessionAt(t, s, other.ID, t0); string(got.TokenHash) != "token-sess-2" || !got.ElevatedUntil.IsZero() {
		t.Errorf("another session: hash %q, elevated until %v; want untouched", got.TokenHash, got.ElevatedUntil)
	}
}

func testDeleteSession(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	sess, other := session(a.ID, "sess-1"), session(a.ID, "sess-2")
	newSession(t, s, sess)
	newSession(t, s, other)
	for i := range 2 { // deleting twice is not an error, and says it ended nothing
		if ended, err := s.DeleteSession(t.Context(), sess.ID); err != nil || ended != (i == 0) {
			t.Fatalf("DeleteSession %d: ended %v, %v; want %v", i+1, ended, err, i == 0)
		}
		if _, found := sessionAt(t, s, sess.ID, t0); found {
			t.Errorf("Session after DeleteSession: found, want not found")
		}
	}
	if _, found := sessionAt(t, s, other.ID, t0); !found {
		t.Errorf("another session after DeleteSession: not found")
	}
}

func testDeleteExpired(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	cut := t0.Add(2 * time.Hour)
	sessions := []struct {
		id      string
		expires time.Time
		keep    bool
	}{
		{"sess-old", t0.Add(time.Hour), false},
		{"sess-live", t0.Add(3 * time.Hour), true},
	}
	for _, c := range sessions {
		sess := session(a.ID, c.id)
		sess.ExpiresAt = c.expires
		newSession(t, s, sess)
	}
	logins := []struct {
		id      string
		expires time.Time
		keep    bool
	}{
		{"login-old", t0.Add(time.Hour), false},
		{"login-live", t0.Add(3 * time.Hour), true},
	}
	for _, c := range logins {
		if err := s.CreateLogin(t.Context(), twofold.Login{ID: c.id, AccountID: a.ID, CreatedAt: t0, ExpiresAt: c.expires}); err != nil {
			t.Fatalf("CreateLogin: %v", err)
		}
	}
	if err := s.DeleteExpired(t.Context(), cut, ""); err != nil {
		t.Fatalf("DeleteExpired: %v", err)
	}
	for _, c := range sessions {
		// Looked up at t0, when every session was live: only deletion hides it.
		if _, found := sessionAt(t, s, c.id, t0); found != c.keep {
			t.Errorf("session %s after DeleteExpired: got found=%v, want %v", c.id, found, c.keep)
		}
	}
	for _, c := range logins {
		_, err := s.Login(t.Context(), c.id)
		if c.keep && err != nil {
			t.Errorf("Login(%s) after DeleteExpired: %v", c.id, err)
		}
		if !c.keep {
			wantCode(t, "Login of a deleted login", err, twofold.CodeNotFound)
		}
	}
}

// testEndSessionByToken: a session is ended by its token's hash or by the
// hash it had before its last renewal, only while it lives, and a hash it
// never had ends nothing; Session tells the hash before the renewal.
func testEndSessionByToken(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	sess := session(a.ID, "sess-1")
	newSession(t, s, sess)
	other := session(a.ID, "sess-2")
	newSession(t, s, other)
	if ok, err := s.RenewSession(ctx, sess.ID, []byte("token-sess-1"), []byte("token-2"), t0.Add(10*time.Minute), t0); err != nil || !ok {
		t.Fatalf("RenewSession: %v %v", ok, err)
	}
	if got, _ := sessionAt(t, s, sess.ID, t0); string(got.PreviousTokenHash) != "token-sess-1" {
		t.Errorf("PreviousTokenHash after the renewal: got %q, want %q", got.PreviousTokenHash, "token-sess-1")
	}
	if _, ended, err := s.EndSessionByToken(ctx, sess.ID, []byte("token-never"), t0); err != nil || ended {
		t.Errorf("EndSessionByToken with a hash it never had: ended %v (%v)", ended, err)
	}
	if _, ended, err := s.EndSessionByToken(ctx, other.ID, []byte("token-sess-2"), t0.Add(13*time.Hour)); err != nil || ended {
		t.Errorf("EndSessionByToken of an expired session: ended %v (%v)", ended, err)
	}
	if _, found := sessionAt(t, s, sess.ID, t0); !found {
		t.Fatal("the session is gone after refused ends")
	}
	acct, ended, err := s.EndSessionByToken(ctx, sess.ID, []byte("token-sess-1"), t0)
	if err != nil || !ended || acct != a.ID {
		t.Fatalf("EndSessionByToken with the hash before the renewal: account %q, ended %v (%v); want %q, ended", acct, ended, err, a.ID)
	}
	if _, found := sessionAt(t, s, sess.ID, t0); found {
		t.Error("the session is still there")
	}
	if _, found := sessionAt(t, s, other.ID, t0); !found {
		t.Error("another session was ended")
	}
}

// testEndRenewedSession: a session tells when its token was last renewed
// (zero if never), and EndRenewedSession ends it only while it still has
// the token hash and renewal time read, so that a renewal or an end since
// is never undone by it; other sessions stay.
func testEndRenewedSession(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	sess, other := session(a.ID, "sess-1"), session(a.ID, "sess-2")
	newSession(t, s, sess)
	newSession(t, s, other)
	if got, _ := sessionAt(t, s, sess.ID, t0); !got.RenewedAt.IsZero() || got.PreviousTokenHash != nil {
		t.Fatalf("a session never renewed: renewed at %v, previous hash %q; want zero, none", got.RenewedAt, got.PreviousTokenHash)
	}
	if _, ended, err := s.EndRenewedSession(ctx, sess.ID, []byte("token-sess-1"), time.Time{}); err != nil || ended {
		t.Errorf("EndRenewedSession of a session never renewed: ended %v (%v)", ended, err)
	}
	t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
	if ok, err := s.RenewSession(ctx, sess.ID, []byte("token-sess-1"), []byte("token-2"), t1.Add(10*time.Minute), t1); err != nil || !ok {
		t.Fatalf("RenewSession: %v %v", ok, err)
	}
	got, _ := sessionAt(t, s, sess.ID, t1)
	if !got.RenewedAt.Equal(t1) || string(got.PreviousTokenHash) != "token-sess-1" || string(got.TokenHash) != "token-2" {
		t.Fatalf("after the renewal: renewed at %v, previous %q, token %q; want %v, token-sess-1, token-2", got.RenewedAt, got.PreviousTokenHash, got.TokenHash, t1)
	}
	if ok, err := s.RenewSession(ctx, sess.ID, []byte("token-2"), []byte("token-3"), t2.Add(10*time.Minute), t2); err != nil || !ok {
		t.Fatalf("RenewSession again: %v %v", ok, err)
	}
	tests := []struct {
		name    string
		id      string
		hash    string
		renewed time.Time
	}{
		{"RenewedSince", sess.ID, "token-2", t1},
		{"OtherHash", sess.ID, "token-2", t2},
		{"OtherTime", sess.ID, "token-3", t1},
		{"OtherSession", other.ID, "token-sess-2", t2},
		{"Unknown", "sess-nothing", "token-3", t2},
	}
	for _, tt := range tests {
		if _, ended, err := s.EndRenewedSession(ctx, tt.id, []byte(tt.hash), tt.renewed); err != nil || ended {
			t.Errorf("%s: ended %v (%v), want nothing ended", tt.name, ended, err)
		}
	}
	if _, found := sessionAt(t, s, sess.ID, t2); !found {
		t.Fatal("the session is gone after refused ends")
	}
	acct, ended, err := s.EndRenewedSession(ctx, sess.ID, []byte("token-3"), t2)
	if err != nil || !ended || acct != a.ID {
		t.Fatalf("EndRenewedSession as read: account %q, ended %v (%v); want %q, ended", acct, ended, err, a.ID)
	}
	if _, found := sessionAt(t, s, sess.ID, t2); found {
		t.Error("the session is still there")
	}
	if _, ended, err := s.EndRenewedSession(ctx, sess.ID, []byte("token-3"), t2); err != nil || ended {
		t.Errorf("EndRenewedSession twice: ended %v (%v)", ended, err)
	}
	if _, found := sessionAt(t, s, other.ID, t2); !found {
		t.Error("another session was ended")
	}
}

// testHoldSession: HoldSession returns the session as Session does and
// its account as AccountByID does (suspended, or of another epoch, too,
// for the caller to refuse); a session expired, ended, of another account
// or unknown, and one of an account deleted, is not-found.
func testHoldSession(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	b := newAccount(t, s, "bob")
	c := newAccount(t, s, "carol")
	sess := session(a.ID, "sess-1")
	sess.ElevatedUntil = t0.Add(10 * time.Minute)
	newSession(t, s, sess)
	if ok, err := s.RenewSession(ctx, sess.ID, sess.TokenHash, []byte("token-renewed"), t0.Add(20*time.Minute), t0.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("RenewSession: %v, %v", ok, err)
	}
	newSession(t, s, session(a.ID, "sess-ended"))
	newSession(t, s, session(b.ID, "sess-bob"))
	newSession(t, s, session(c.ID, "sess-carol"))
	if _, err := s.DeleteSession(ctx, "sess-ended"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EndSessions(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetSuspended(ctx, a.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx, c.ID, t0); err != nil {
		t.Fatal(err)
	}
	wantAccount, err := s.AccountByID(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantSession, err := s.Session(ctx, sess.ID, t0)
	if err != nil {
		t.Fatal(err)
	}
	hold := func(accountID, id string, now time.Time) (sess twofold.Session, acc twofold.Account, err error) {
		err = s.InTx(ctx, func(ctx context.Context) error {
			sess, acc, err = s.HoldSession(ctx, accountID, id, now)
			return err
		})
		return sess, acc, err
	}
	got, acc, err := hold(a.ID, sess.ID, t0)
	if err != nil {
		t.Fatalf("HoldSession: %v", err)
	}
	if diff := cmp.Diff(wantSession, got); diff != "" {
		t.Errorf("HoldSession session (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantAccount, acc); diff != "" {
		t.Errorf("HoldSession account (-want +got):\n%s", diff)
	}
	if !acc.Suspended || acc.SessionEpoch == got.Epoch || got.PreviousTokenHash == nil || got.RenewedAt.IsZero() || got.ElevatedUntil.IsZero() {
		t.Errorf("HoldSession: got %+v, %+v, want a renewed, elevated session of an older epoch, of a suspended account", got, acc)
	}
	for _, tt := range []struct {
		name, accountID, id string
		now                 time.Time
	}{
		{"expired", a.ID, sess.ID, sess.ExpiresAt},
		{"ended", a.ID, "sess-ended", t0},
		{"of another account", a.ID, "sess-bob", t0},
		{"for another account", b.ID, sess.ID, t0},
		{"unknown", a.ID, "sess-nothing", t0},
		{"of an unknown account", "acct-nobody", sess.ID, t0},
		{"of a deleted account", c.ID, "sess-carol", t0},
	} {
		_, _, err := hold(tt.accountID, tt.id, tt.now)
		wantCode(t, "HoldSession of a session "+tt.name, err, twofold.CodeNotFound)
	}
}
