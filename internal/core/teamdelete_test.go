package core_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// joinWhileRead is a store that runs join, once armed, as the next
// transaction is about to begin: as if another request committed between
// what the caller read first and its transaction.
type joinWhileRead struct {
	testDB
	armed atomic.Bool
	join  func()
}

func (j *joinWhileRead) InTx(ctx context.Context, fn func(context.Context) error) error {
	if j.armed.CompareAndSwap(true, false) {
		j.join()
	}
	return j.testDB.InTx(ctx, fn)
}

// TestTeamDeletedTellsWhoJoinedMeanwhile: a member who accepted an
// invitation while the team's owner was deleting it (after the deletion
// read what it reads first, before its transaction) is removed with the team
// and told, as every member is, and so is a lift of the team's two-factor
// rule for them.
func TestTeamDeletedTellsWhoJoinedMeanwhile(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			db, clock, _, _ := mailingService(t, dsn(t), nil)
			mb := &mailbox{}
			j := &joinWhileRead{testDB: db}
			cfg := cheapConfig()
			svc := newServiceOpts(t, j, db, core.Options{Config: cfg, Now: clock.Now, Notifier: mb, CodeMail: mb})
			ann, bob := signedIn(t, svc, "ann"), signedIn(t, svc, "bob")
			tm, err := svc.CreateTeam(ctx, ann, "Acme", core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			inv, err := svc.InviteTeamMember(ctx, ann, tm.ID, "bob", "ops", core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			svc.Wait()
			mb.take("")
			j.join = func() {
				if _, err := svc.AcceptTeamInvitation(ctx, bob, inv.ID, core.Meta{}); err != nil {
					t.Errorf("bob accepts: %v", err)
				}
			}
			j.armed.Store(true)
			if err := svc.DeleteTeam(ctx, ann, tm.ID, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			svc.Wait()
			if j.armed.Load() {
				t.Fatal("the deletion ran no transaction")
			}
			if ms, err := db.Memberships(ctx, bob.Account.ID); err != nil || len(ms) != 0 {
				t.Fatalf("bob's teams after the deletion: %v, %v; want none", ms, err)
			}
			if got := mb.take("a team was deleted"); len(got) != 1 {
				t.Errorf("mails that the team was deleted: %d, want 1 (to bob, who joined meanwhile)", len(got))
			}
		})
	}
}
