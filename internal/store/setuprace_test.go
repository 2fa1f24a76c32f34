package store_test

import (
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// TestFirstAccountAgainstCreateAccount: on PostgreSQL, a first-run setup
// that runs while another account is inserted but not yet committed (the
// operator's `user add`) does not make a second account, an operator, beside
// it. The order is forced: a third session holds one of two setup tokens, so
// the creation stops in the middle, at deleting them; the setup with the
// other token starts then; the holder lets go.
func TestFirstAccountAgainstCreateAccount(t *testing.T) {
	ctx := t.Context()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	dsn := testenv.PostgresDSN(t)
	s := open(t, dsn)
	db := testenv.OpenDB(t, dsn)
	// The held token first, so that the creation's scan of the table meets
	// it before the setup's.
	for i, hash := range []string{"held-token", "setup-token"} {
		now := t0.Add(time.Duration(2*i) * time.Microsecond)
		if ok, err := s.AddSetupToken(ctx, []byte(hash), now, now.Add(time.Microsecond)); err != nil || !ok {
			t.Fatalf("AddSetupToken(%q) = %v, %v", hash, ok, err)
		}
	}
	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.ExecContext(ctx, `SELECT 1 FROM setup_tokens WHERE token_hash = $1 FOR UPDATE`, []byte("held-token")); err != nil {
		t.Fatal(err)
	}

	created := make(chan error, 1)
	go func() {
		created <- s.CreateAccount(ctx, twofold.Account{ID: "acct-bob", Username: "bob", Email: "bob@example.com",
			PasswordHash: "$argon2id$v=19$bob", CreatedAt: t0})
	}()
	testenv.AwaitLockWaiters(t, db, 1, created)
	type setupResult struct {
		ok  bool
		err error
	}
	setup := make(chan setupResult, 1)
	go func() {
		ok, err := s.CreateFirstAccount(ctx, []byte("setup-token"), t0, twofold.Account{ID: "acct-root", Username: "root",
			Email: "root@example.com", PasswordHash: "$argon2id$v=19$root", Operator: true, CreatedAt: t0})
		setup <- setupResult{ok, err}
	}()
	testenv.AwaitLockWaiters(t, db, 2, setup)
	if err := holder.Rollback(); err != nil {
		t.Fatal(err)
	}

	if err := <-created; err != nil {
		t.Errorf("CreateAccount: %v", err)
	}
	if r := <-setup; r.err != nil || r.ok {
		t.Errorf("first-run setup while bob was being created: got %v, %v; want false, nil", r.ok, r.err)
	}
	if _, err := s.AccountByUsername(ctx, "root"); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Errorf("the setup's operator: got %v; want not found", err)
	}
}
