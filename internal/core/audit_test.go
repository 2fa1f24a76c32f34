package core_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/credhash"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// refusingStore is a real store whose audit table refuses events while
// refuse is set, as PostgreSQL refused an event with a user agent that was
// not UTF-8.
type refusingStore struct {
	*store.Store
	refuse atomic.Bool
}

func (s *refusingStore) AddEvent(ctx context.Context, e twofold.AuditEvent) error {
	if s.refuse.Load() {
		return errors.New("audit table refused the event")
	}
	return s.Store.AddEvent(ctx, e)
}

// TestAuditFailureFailsTheCheck: a second-factor check whose audit event
// cannot be stored fails as a whole. A wrong code is not answered as wrong
// while the slot it took is rolled back (which let guesses run unthrottled),
// and a right code is not spent.
func TestAuditFailureFailsTheCheck(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st := openStore(t, dsn(t))
			rs := &refusingStore{Store: st.Store}
			now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
			svc := newService(t, rs, st, func() time.Time { return now }, nil)
			auth := signedIn(t, svc, "ada")
			acct := auth.Account
			factorID, code := confirmedTOTP(t, svc, auth, &now)
			res, err := svc.Login(ctx, "ada", testPassword, core.Meta{})
			if err != nil || res.LoginID == "" {
				t.Fatalf("login: %+v, %v", res, err)
			}

			rs.refuse.Store(true)
			wrong := core.SecondFactor{Method: twofold.MethodTOTP, FactorID: factorID, Code: "000000"}
			if code() == wrong.Code {
				wrong.Code = "111111"
			}
			for i := range 5 {
				if _, err := svc.VerifyLogin(ctx, res.LoginID, wrong, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInternal {
					t.Fatalf("wrong code %d with the audit table refusing: got %v, want an internal error", i+1, err)
				}
			}
			right := core.SecondFactor{Method: twofold.MethodTOTP, FactorID: factorID, Code: code()}
			if _, err := svc.VerifyLogin(ctx, res.LoginID, right, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInternal {
				t.Fatalf("right code with the audit table refusing: got %v, want an internal error", err)
			}
			if _, err := svc.Elevate(ctx, auth, wrong, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInternal {
				t.Fatalf("elevation with a wrong code and the audit table refusing: got %v, want an internal error", err)
			}
			rs.refuse.Store(false)
			// Nothing was counted and nothing spent: the right code still works.
			if failures, _, err := st.Throttle(ctx, "2fa:"+acct.ID+":codes"); err != nil || failures != 0 {
				t.Errorf("code counter after the refused events: %d, %v; want 0", failures, err)
			}
			if _, err := svc.VerifyLogin(ctx, res.LoginID, right, core.Meta{}); err != nil {
				t.Fatalf("right code once events are stored again: %v", err)
			}
		})
	}
}

func TestCleanText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"curl/8.5", 256, "curl/8.5"},
		{"x\xffy", 256, "x\uFFFDy"},
		{strings.Repeat("é", 200), 255, strings.Repeat("é", 127)},
		{"abc", 2, "ab"},
		// Hidden characters a client could use to make the text around
		// it read otherwise are replaced, not dropped: NUL, a line break,
		// a text-direction override, a zero-width space, a C1 control, a
		// Hangul filler, a blank braille pattern.
		{"a\x00b\nc\u202ed\u200be\u009bf\u3164g\u2800h", 256, "a\uFFFDb\uFFFDc\uFFFDd\uFFFDe\uFFFDf\uFFFDg\uFFFDh"},
		{"Firefox\u202e", 9, "Firefox"},
	} {
		got := core.CleanText(tc.in, tc.max)
		if got != tc.want || !utf8.ValidString(got) || len(got) > tc.max {
			t.Errorf("CleanText(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

// testDB is a real store opened for one test, with the key file that all
// services on it share.
type testDB struct {
	*store.Store
	keyFile string
}

// openStore opens a store on dsn for the length of the test.
func openStore(t *testing.T, dsn string) testDB {
	t.Helper()
	st, err := store.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return testDB{Store: st, keyFile: filepath.Join(t.TempDir(), "twofold.key")}
}

// cheapConfig is the default configuration with cheap password hashing, so
// that tests which make accounts and sign in do not spend Argon2's default
// cost on each.
func cheapConfig() core.Config {
	cfg := core.DefaultConfig()
	cfg.PasswordParams = credhash.Params{Memory: 8192, Iterations: 1, Parallelism: 1}
	return cfg
}

// newService builds a service on cs (db, or a wrapper of it) with cheap
// password hashing.
func newService(t *testing.T, cs core.Store, db testDB, now func() time.Time, n core.Notifier) *core.Service {
	t.Helper()
	cfg := cheapConfig()
	return newServiceOpts(t, cs, db, core.Options{Config: cfg, Now: now, Notifier: n})
}

// newServiceWith builds a service with cfg on cs (db, or a wrapper of it).
func newServiceWith(t *testing.T, cs core.Store, db testDB, cfg core.Config) *core.Service {
	t.Helper()
	return newServiceOpts(t, cs, db, core.Options{Config: cfg})
}

func newServiceOpts(t *testing.T, cs core.Store, db testDB, o core.Options) *core.Service {
	t.Helper()
	kf, _, err := keyring.LoadOrCreateFile(db.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyring.Open(t.Context(), kf, db.Store)
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := credhash.NewHasher(kf.HashKey)
	if err != nil {
		t.Fatal(err)
	}
	o.Store, o.Keys, o.Hasher = cs, keys, hasher
	svc, err := core.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// conflictingStore is a real store whose first transaction loses a
// conflict with a concurrent one once everything in it has run, as a
// PostgreSQL deadlock victim at its last statement does: nothing of it is
// written.
type conflictingStore struct {
	*store.Store
	armed  atomic.Bool // the next transaction loses
	always atomic.Bool // every transaction loses
}

func (s *conflictingStore) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.Store.InTx(ctx, func(ctx context.Context) error {
		if err := fn(ctx); err != nil {
			return err
		}
		if s.armed.CompareAndSwap(true, false) || s.always.Load() {
			return fmt.Errorf("%w: deadlock detected (SQLSTATE 40P01)", twofold.ErrTxConflict)
		}
		return nil
	})
}

type countingNotifier struct{ subjects []string }

func (n *countingNotifier) Enqueue(_ context.Context, _, subject, _ string) error {
	n.subjects = append(n.subjects, subject)
	return nil
}

// TestConflictRunsAgain: a transaction that loses a conflict is run again
// from the start, and what the lost run queued (a notification) is not sent
// twice, nor is its audit event recorded twice.
func TestConflictRunsAgain(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st := openStore(t, dsn(t))
			notes := &countingNotifier{}
			cs := &conflictingStore{Store: st.Store}
			var observed atomic.Int32
			cfg := cheapConfig()
			svc := newServiceOpts(t, cs, st, core.Options{Config: cfg, Notifier: notes, OnEvent: func(e twofold.AuditEvent) {
				if e.Type == "password.changed" {
					observed.Add(1)
				}
			}})
			auth := signedIn(t, svc, "ada")
			cs.armed.Store(true)
			if _, _, err := svc.ChangePassword(ctx, auth, testPassword, "a different passphrase", core.Meta{}); err != nil {
				t.Fatalf("ChangePassword that lost a conflict once: %v", err)
			}
			if len(notes.subjects) != 1 {
				t.Errorf("notifications: %q, want one", notes.subjects)
			}
			events, err := st.Events(ctx, auth.Account.ID, 0, 50)
			if err != nil {
				t.Fatal(err)
			}
			changed := 0
			for _, e := range events {
				if e.Type == "password.changed" {
					changed++
				}
			}
			if changed != 1 {
				t.Errorf("password.changed events: %d, want 1", changed)
			}
			if n := observed.Load(); n != 1 {
				t.Errorf("password.changed observed (metrics) %d times, want 1", n)
			}
			if cs.armed.Load() {
				t.Error("fixture: no transaction lost a conflict")
			}
		})
	}
}

// TestConflictEveryTimeIsUnavailable: a transaction that loses its
// conflict on every run is answered as unavailable for a moment, to be sent
// again, and not as a failure of the server; nothing of it is written.
func TestConflictEveryTimeIsUnavailable(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st := openStore(t, dsn(t))
			cs := &conflictingStore{Store: st.Store}
			cfg := cheapConfig()
			svc := newServiceOpts(t, cs, st, core.Options{Config: cfg})
			auth := signedIn(t, svc, "ada")
			cs.always.Store(true)
			_, _, err := svc.ChangePassword(ctx, auth, testPassword, "a different passphrase", core.Meta{})
			var e *twofold.Error
			if !errors.As(err, &e) || e.Code != twofold.CodeUnavailable || e.RetryAfter <= 0 || !errors.Is(err, twofold.ErrTxConflict) {
				t.Fatalf("ChangePassword that always loses a conflict: got %v, want unavailable with a Retry-After, caused by the conflict", err)
			}
			cs.always.Store(false)
			if _, _, err := svc.ChangePassword(ctx, auth, testPassword, "another passphrase", core.Meta{}); err != nil {
				t.Fatalf("the old password no longer works, so the change that never committed was written: %v", err)
			}
		})
	}
}

// confirmedTOTP enrols and confirms a TOTP factor for a by the code for
// the time *now reads, then moves *now on a time step, past the code
// spent. It returns the factor's id and a function giving the code for the
// time *now reads.
func confirmedTOTP(t *testing.T, svc *core.Service, a core.Auth, now *time.Time) (string, func() string) {
	t.Helper()
	ctx := t.Context()
	enr, err := svc.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorTOTP, Label: "phone"}, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := otp.DecodeSecret(enr.Secret)
	if err != nil {
		t.Fatal(err)
	}
	p := otp.DefaultParams()
	code := func() string { return otp.HOTP(secret, otp.Step(*now, p.Period), p.Algorithm, p.Digits) }
	if _, err := svc.ConfirmFactor(ctx, a, enr.Factor.ID, code(), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	*now = now.Add(30 * time.Second)
	return enr.Factor.ID, code
}

const testPassword = "correct horse battery"

// signedIn creates an account username (with an email address) and returns
// a password-only session of it.
func signedIn(t *testing.T, svc *core.Service, username string) core.Auth {
	t.Helper()
	return signedInAs(t, svc, core.NewAccount{Username: username, Email: username + "@example.com"})
}

// signedInAs creates the account na with testPassword and returns a
// password-only session of it.
func signedInAs(t *testing.T, svc *core.Service, na core.NewAccount) core.Auth {
	t.Helper()
	ctx := t.Context()
	na.Password = testPassword
	if _, err := svc.CreateAccount(ctx, na, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	return signInAgain(t, svc, na.Username)
}

// eventCount counts the events of type typ on account accountID (of its
// latest 100).
func eventCount(t *testing.T, st testDB, accountID, typ string) int {
	t.Helper()
	evs, err := st.Store.Events(t.Context(), accountID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	return len(slices.DeleteFunc(evs, func(e twofold.AuditEvent) bool { return e.Type != typ }))
}

// signInAgain signs username's account (without a second factor) in with
// testPassword and returns that session.
func signInAgain(t *testing.T, svc *core.Service, username string) core.Auth {
	t.Helper()
	res, err := svc.Login(t.Context(), username, testPassword, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := svc.Authenticate(t.Context(), res.Token)
	if err != nil {
		t.Fatal(err)
	}
	return auth
}

// armedHook runs hook at the first trip after it is armed, and then not
// again until it is armed again.
type armedHook struct {
	armed atomic.Bool
	hook  func()
}

// trip runs hook if h is armed, disarming it.
func (h *armedHook) trip() {
	if h.armed.CompareAndSwap(true, false) {
		h.hook()
	}
}

// racingStore runs hook, once armed, before it stores the next session.
type racingStore struct {
	*store.Store
	armedHook
}

func (s *racingStore) CreateSession(ctx context.Context, sess twofold.Session) error {
	s.trip()
	return s.Store.CreateSession(ctx, sess)
}

// TestLoginRacingPasswordChange: a login that checked the old password just
// before the owner changed it, and stores its session just after, gets a
// session that does not work: it carries the epoch of the account it read.
func TestLoginRacingPasswordChange(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st := openStore(t, dsn(t))
			rs := &racingStore{Store: st.Store}
			svc := newService(t, rs, st, time.Now, nil)
			owner := signedIn(t, svc, "ada")
			var newToken string
			rs.hook = func() {
				var err error
				if newToken, _, err = svc.ChangePassword(ctx, owner, testPassword, "a different passphrase", core.Meta{}); err != nil {
					t.Errorf("ChangePassword: %v", err)
				}
			}
			rs.armed.Store(true)
			res, err := svc.Login(ctx, "ada", testPassword, core.Meta{}) // the old password, read before the change
			if err != nil {
				t.Fatalf("login that raced the change: %v", err)
			}
			if _, err := svc.Authenticate(ctx, res.Token); twofold.ErrorCode(err) != twofold.CodeUnauthorized {
				t.Errorf("the session of a login that read the old password: got %v, want it refused", err)
			}
			if _, err := svc.Authenticate(ctx, newToken); err != nil {
				t.Errorf("the session the change handed back: %v", err)
			}
		})
	}
}

// cancellingStore is a real store whose transactions, once committed,
// cancel the caller's context, as a client that hangs up just then does.
type cancellingStore struct {
	*store.Store
	cancel context.CancelFunc
}

func (s *cancellingStore) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	err := s.Store.InTx(ctx, fn)
	if err == nil && s.cancel != nil {
		s.cancel()
	}
	return err
}

// TestNoticeOutlivesTheCaller: a committed change is told to the holder even
// when the caller's context ends right after the commit (a sweep's time ran
// out as it carried out a reset, and the holder never heard of it).
func TestNoticeOutlivesTheCaller(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			st := openStore(t, dsn(t))
			notes := &countingNotifier{}
			cs := &cancellingStore{Store: st.Store}
			svc := newService(t, cs, st, nil, notes)
			auth := signedIn(t, svc, "ada")
			ctx, cancel := context.WithCancel(t.Context())
			cs.cancel = cancel
			if _, _, err := svc.ChangePassword(ctx, auth, testPassword, "a different passphrase", core.Meta{}); err != nil {
				t.Fatal(err)
			}
			if ctx.Err() == nil {
				t.Fatal("fixture: the context was not cancelled after the commit")
			}
			if len(notes.subjects) != 1 {
				t.Errorf("notifications after the caller's context ended: %q, want the password change's", notes.subjects)
			}
		})
	}
}

// TestEventOutlivesTheCaller: the audit event of a change that was
// committed is recorded even when the caller's context ends right after
// the commit (a browser that cancelled the request of a double-clicked
// button: "insert audit event: context canceled", and the new factor had no
// factor.created event).
func TestEventOutlivesTheCaller(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			st := openStore(t, dsn(t))
			cs := &cancellingStore{Store: st.Store}
			svc := newService(t, cs, st, nil, nil)
			auth := signedIn(t, svc, "ada")
			ctx, cancel := context.WithCancel(t.Context())
			cs.cancel = cancel
			enr, err := svc.EnrolFactor(ctx, auth, core.NewFactor{Type: twofold.FactorTOTP, Label: "phone"}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if ctx.Err() == nil {
				t.Fatal("fixture: the context was not cancelled after the commit")
			}
			evs, err := svc.Events(t.Context(), auth, twofold.EventQuery{Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range evs {
				found = found || e.Type == "factor.created" && strings.Contains(e.Detail, enr.Factor.ID)
			}
			if !found {
				t.Errorf("events after the caller's context ended: %+v, want factor.created of %s", evs, enr.Factor.ID)
			}
		})
	}
}
