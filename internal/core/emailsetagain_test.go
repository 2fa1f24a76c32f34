package core_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// TestSetEmailForSaysWhetherItChanged: an operator's change of an
// account's address writes, records and tells both addresses once. Asked
// again (the form sent twice, or two operators at once), or with the
// address in other capitals, it says nothing changed and writes, records
// and tells nothing: the old mailbox is not told its address went to
// itself, and the kept former address is not that of the account.
func TestSetEmailForSaysWhetherItChanged(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st := openStore(t, dsn(t))
			rs := &accountReadRace{Store: st.Store}
			mails := &mailLog{}
			svc := newService(t, rs, st, time.Now, mails)
			op := withFactor(t, svc, signedInAs(t, svc, core.NewAccount{Username: "root", Operator: true}))
			ann := signedIn(t, svc, "ann")
			set := func(step, email string, want bool) {
				t.Helper()
				a, changed, err := svc.SetEmailFor(ctx, op, ann.Account.ID, email, core.Meta{})
				if err != nil || changed != want || a.Email != "ann@new.example" || a.PasswordHash != "" {
					t.Fatalf("%s: %q, changed %v, %v; want changed %v and ann@new.example", step, a.Email, changed, err, want)
				}
			}
			// Two operators at once: the other's change is made between
			// this one's first read of the account and its write.
			rs.id = ann.Account.ID
			rs.hook = func() { set("the other operator's change", "ann@new.example", true) }
			rs.armed.Store(true)
			set("the change made meanwhile", "ann@new.example", false)
			if rs.armed.Load() {
				t.Fatal("fixture: the other operator's change was not made")
			}
			at, err := st.Store.EmailChangedByOperatorAt(ctx, ann.Account.ID)
			if err != nil || at.IsZero() {
				t.Fatalf("fixture: the change is not dated: %v, %v", at, err)
			}
			told := slices.Clone(mails.sent)
			set("sent again", "ann@new.example", false)
			set("in other capitals", "Ann@NEW.example", false)

			a, err := st.Store.AccountByID(ctx, ann.Account.ID)
			if err != nil || a.Email != "ann@new.example" {
				t.Fatalf("stored address %q, %v", a.Email, err)
			}
			if again, err := st.Store.EmailChangedByOperatorAt(ctx, ann.Account.ID); err != nil || !again.Equal(at) {
				t.Errorf("the change is dated %v after being sent again (%v), want %v", again, err, at)
			}
			if n := eventCount(t, st, ann.Account.ID, "account.email_changed"); n != 1 {
				t.Errorf("account.email_changed events: %d, want 1", n)
			}
			if len(told) != 2 || !slices.Equal(mails.sent, told) {
				t.Errorf("mails after the change: %q, want one to each address; after sending it again: %q, want no more", told, mails.sent)
			}
		})
	}
}

// accountReadRace runs hook, once armed, after it reads account id
// (AccountByID).
type accountReadRace struct {
	*store.Store
	armedHook
	id string
}

func (s *accountReadRace) AccountByID(ctx context.Context, id string) (twofold.Account, error) {
	a, err := s.Store.AccountByID(ctx, id)
	if id == s.id {
		s.trip()
	}
	return a, err
}
