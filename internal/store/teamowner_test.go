package store_test

import (
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// TestOwnerMadeOfAccountBeingClosed: on PostgreSQL, an owner who makes a
// member an owner while that member's account is being closed (its row
// held, as LockAccountForDeletion holds it, once its closing found it owns
// no team alone) waits for the closing, and then finds no such member;
// the team keeps its one owner, who may not leave it. Without the wait the
// member would be made an owner, the owner could leave counting on it, and
// the closing would then take the new owner away: a team with none.
func TestOwnerMadeOfAccountBeingClosed(t *testing.T) {
	ctx := t.Context()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s, db, ann := postgresWithAlice(t, t0)
	bob := twofold.Account{ID: "acct-bob", Username: "bob", Email: "bob@example.com", PasswordHash: "$argon2id$v=19$bob", CreatedAt: t0}
	if err := s.CreateAccount(ctx, bob); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTeam(ctx, twofold.Team{ID: "t1", Name: "Acme", CreatedAt: t0}, ann.ID, 100); err != nil {
		t.Fatal(err)
	}
	if err := s.AddTeamMember(ctx, "t1", bob.ID, twofold.RoleAdmin, t0); err != nil {
		t.Fatal(err)
	}
	owner := twofold.TeamMember{AccountID: ann.ID, Role: twofold.RoleOwner}

	closing, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closing.Rollback()
	if _, err := closing.ExecContext(ctx, `SELECT id FROM accounts WHERE id = $1 FOR UPDATE`, bob.ID); err != nil {
		t.Fatal(err)
	}
	promoted := make(chan error, 1)
	go func() {
		_, err := s.SetTeamRole(ctx, "t1", twofold.TeamMember{AccountID: bob.ID, Role: twofold.RoleAdmin}, twofold.RoleOwner, owner)
		promoted <- err
	}()
	testenv.AwaitLockWaiters(t, db, 1, promoted)
	if _, err := closing.ExecContext(ctx, `DELETE FROM accounts WHERE id = $1`, bob.ID); err != nil {
		t.Fatal(err)
	}
	if err := closing.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-promoted; twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Errorf("making an owner of an account closed meanwhile: got %v, want not found", err)
	}
	if _, _, err := s.RemoveTeamMember(ctx, "t1", owner, owner); twofold.ErrorCode(err) != twofold.CodeConflict {
		t.Errorf("the one owner leaving: got %v, want a conflict", err)
	}
}
