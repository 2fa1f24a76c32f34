package store_test

import (
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// TestClaimMailVoid: a claimed code mail says whether the code or link it
// carries still works, as the database holds it at the claim: a sent code
// replaced, used, out of checks or lapsed, a password-reset link used or
// pruned, a change of address replaced, out of checks or gone with its
// account, all make the mail void; a mail naming no code (queued by an
// older version) is not; a mail of a kind this version does not know is
// claimed only once it has waited ForeignMailKeep, and is Foreign.
func TestClaimMailVoid(t *testing.T) {
	t.Parallel()
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, ctx := open(t, dsn(t)), t.Context()
			now := outboxT0
			if err := s.AddDataKey(ctx, keyring.WrappedKey{ID: "k", MasterID: "m", Wrapped: []byte("w"), Created: now}); err != nil {
				t.Fatal(err)
			}
			var as []twofold.Account
			var fs []twofold.Factor
			for _, id := range []string{"a1", "a2", "a3"} {
				as = append(as, twofold.Account{ID: id, Username: "user-" + id, Email: id + "@example.com", PasswordHash: "x", CreatedAt: now})
				fs = append(fs, twofold.Factor{ID: "f-" + id, AccountID: id, Type: twofold.FactorEmail, Label: "mail", Status: twofold.FactorActive,
					SecretKeyID: "k", SealedSecret: []byte("sealed"), CreatedAt: now})
			}
			if err := s.InsertFixtures(ctx, as, fs); err != nil {
				t.Fatal(err)
			}
			sent := func(factor, scope, hash string, checks int) twofold.SentCode {
				c := twofold.SentCode{FactorID: factor, AccountID: factor[2:], Method: twofold.MethodEmail, Scope: scope, Hash: []byte(hash),
					ChecksLeft: checks, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
				if err := s.PutSentCode(ctx, c); err != nil {
					t.Fatal(err)
				}
				return c
			}
			reset := func(id, account string) twofold.PasswordReset {
				r := twofold.PasswordReset{ID: id, AccountID: account, TokenHash: []byte("hash-" + id), CreatedAt: now, ExpiresAt: now.Add(30 * time.Minute)}
				if err := s.PutPasswordReset(ctx, r, 2); err != nil {
					t.Fatal(err)
				}
				now = now.Add(time.Second) // the next link is newer
				return r
			}
			change := func(account, hash string, checks int) twofold.EmailChange {
				c := twofold.EmailChange{AccountID: account, Email: "new-" + account + "@example.com", CodeHash: []byte(hash),
					ChecksLeft: checks, CreatedAt: outboxT0, ExpiresAt: outboxT0.Add(30 * time.Minute)}
				if err := s.PutEmailChange(ctx, c); err != nil {
					t.Fatal(err)
				}
				return c
			}
			want := map[int64]bool{} // mail id: void
			subject := map[int64]string{}
			enqueue := func(what string, code twofold.MailedCode, void bool) {
				t.Helper()
				id, err := s.EnqueueMail(ctx, store.Mail{To: "x@example.com", Subject: what, CreatedAt: outboxT0, Code: code})
				if err != nil {
					t.Fatal(err)
				}
				want[id], subject[id] = void, what
			}

			// Sent codes.
			enqueue("a live code", sent("f-a1", "confirm", "live", 5).Mailed(), false)
			replaced := sent("f-a1", "login:L1", "old", 5)
			sent("f-a1", "login:L1", "new", 5)
			enqueue("a replaced code", replaced.Mailed(), true)
			used := sent("f-a2", "confirm", "used", 5)
			if ok, err := s.UseSentCode(ctx, used.FactorID, used.Scope, used.Hash, outboxT0); err != nil || !ok {
				t.Fatalf("UseSentCode: %v, %v", ok, err)
			}
			enqueue("a used code", used.Mailed(), true)
			enqueue("a code out of checks", sent("f-a2", "login:L2", "spent", 0).Mailed(), true)
			enqueue("a code of another scope", twofold.MailedCode{Kind: twofold.MailedSentCode, Key: "f-a1", Scope: "login:L9", Hash: []byte("live")}, true)

			// Password-reset links: an account keeps its 2 newest here.
			enqueue("a live link", reset("r1", "a1").Mailed(), true) // pruned below
			enqueue("a newer link", reset("r2", "a1").Mailed(), false)
			enqueue("the newest link", reset("r3", "a1").Mailed(), false)
			usedLink := reset("r4", "a2")
			if ok, err := s.UsePasswordReset(ctx, usedLink.ID, usedLink.TokenHash, outboxT0); err != nil || !ok {
				t.Fatalf("UsePasswordReset: %v, %v", ok, err)
			}
			enqueue("a used link", usedLink.Mailed(), true)

			// Changes of address.
			enqueue("a live change", change("a1", "c1", 5).Mailed(), false)
			enqueue("a replaced change", change("a2", "c2", 5).Mailed(), true)
			change("a2", "c3", 5)
			enqueue("a change out of checks", change("a3", "c4", 0).Mailed(), true)

			enqueue("a mail queued before mails named their code", twofold.MailedCode{}, false)
			// Of a kind a newer release knows: left for it (TestForeignMailKind).
			foreign, err := s.EnqueueMail(ctx, store.Mail{To: "x@example.com", Subject: "a code of an unknown kind", CreatedAt: outboxT0,
				Code: twofold.MailedCode{Kind: "from-the-future", Key: "x"}})
			if err != nil {
				t.Fatal(err)
			}

			got := map[int64]bool{}
			for {
				m, ok, err := s.ClaimMail(ctx, outboxT0, outboxT0.Add(time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				got[m.ID] = m.Void
			}
			for id, void := range want {
				if g, ok := got[id]; !ok || g != void {
					t.Errorf("%s: claimed %v, void %v; want void %v", subject[id], ok, g, void)
				}
			}

			// Voided (DeletePasswordResets, as a suspension does) or lapsed,
			// every code is void an hour later.
			if err := s.DeletePasswordResets(ctx, "a1"); err != nil {
				t.Fatal(err)
			}
			later := outboxT0.Add(time.Hour)
			for {
				m, ok, err := s.ClaimMail(ctx, later, later.Add(time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				if m.Code.Kind != "" && !m.Void {
					t.Errorf("%s, an hour later: not void", subject[m.ID])
				}
			}
			if len(got) != len(want) {
				t.Errorf("claimed %d mails, want %d", len(got), len(want))
			}
			// The mail of an unknown kind, claimed once it waited long
			// enough, to be dropped.
			kept := outboxT0.Add(store.ForeignMailKeep)
			if m, ok, err := s.ClaimMail(ctx, kept, kept.Add(time.Minute)); err != nil || !ok || m.ID != foreign || !m.Foreign {
				t.Errorf("ClaimMail after ForeignMailKeep: got %+v, %v, %v; want the mail of an unknown kind, Foreign", m, ok, err)
			}
		})
	}
}
