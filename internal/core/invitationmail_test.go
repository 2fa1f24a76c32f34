package core_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestInvitationMailsPerInvitee: making a team, inviting and deleting the
// team again and again mails the invitee once a day per inviter, whatever
// the team, and all inviters together mail one invitee at most three
// times a day; every invitation is still made and in the invitee's log. An
// inviter refused by the invitee's limit keeps its own mail for later. The
// team's name is quoted in the mail as a name the inviter chose.
func TestInvitationMailsPerInvitee(t *testing.T) {
	const subject = "you were invited to a team"
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st, clock, svc, mb := mailingService(t, dsn(t), nil)
			users := map[string]core.Auth{}
			for _, n := range []string{"bob", "mallory", "ann", "cid", "dee"} {
				users[n] = signedIn(t, svc, n)
			}
			mb.take(subject)
			// inviteFrom has inviter make a team, invite bob and delete the team.
			inviteFrom := func(inviter, teamName string) {
				t.Helper()
				a := users[inviter]
				tm, err := svc.CreateTeam(ctx, a, teamName, core.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := svc.InviteTeamMember(ctx, a, tm.ID, "bob", "ops", core.Meta{}); err != nil {
					t.Fatal(err)
				}
				svc.Wait()
				if err := svc.DeleteTeam(ctx, a, tm.ID, core.Meta{}); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 5 {
				inviteFrom("mallory", fmt.Sprintf("Account suspended: verify at evil.example %d", i))
			}
			mails := mb.take(subject)
			if len(mails) != 1 {
				t.Fatalf("mallory's 5 teams mailed bob %d times, want once", len(mails))
			}
			if want := `The team's name was chosen by mallory, not by this server or its operators; it is: "Account suspended: verify at evil.example 0"`; !strings.Contains(mails[0], want) {
				t.Errorf("the mail does not quote the team's name as mallory's:\n%s", mails[0])
			}
			if n := countTypes(t, st, users["bob"].Account.ID, "team.invitation_received"); n != 5 {
				t.Errorf("bob's log holds %d invitations, want 5", n)
			}
			for _, n := range []string{"ann", "cid", "dee"} {
				inviteFrom(n, n+"'s team")
			}
			if got := mb.take(subject); len(got) != 2 {
				t.Fatalf("ann, cid and dee mailed bob %d times after mallory's mail, want 2 (3 a day in all)", len(got))
			}
			// A third of a day gives bob one mail more: dee's, whose own
			// limit the refusal did not use up; mallory's stays refused.
			clock.Add(8 * time.Hour)
			inviteFrom("dee", "dee's second team")
			if got := mb.take(subject); len(got) != 1 {
				t.Errorf("dee's invitation 8 hours later mailed bob %d times, want once", len(got))
			}
			clock.Add(8 * time.Hour)
			inviteFrom("mallory", "mallory again")
			if got := mb.take(subject); len(got) != 0 {
				t.Errorf("mallory's invitation 16 hours after the first mailed bob %d times, want none", len(got))
			}
			clock.Add(8 * time.Hour)
			inviteFrom("mallory", "mallory the next day")
			if got := mb.take(subject); len(got) != 1 {
				t.Errorf("mallory's invitation the next day mailed bob %d times, want once", len(got))
			}
		})
	}
}

// TestTeamCreationRationed: an account creates ten teams at once, then one
// every ten minutes, so that creating and deleting teams in a loop cannot
// write without end.
func TestTeamCreationRationed(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st := openStore(t, dsn(t))
			clock := testenv.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
			svc := newService(t, st, st, clock.Now, nil)
			ann := signedIn(t, svc, "ann")
			create := func(i int) error {
				tm, err := svc.CreateTeam(ctx, ann, fmt.Sprintf("team %d", i), core.Meta{})
				if err == nil {
					err = svc.DeleteTeam(ctx, ann, tm.ID, core.Meta{})
				}
				return err
			}
			for i := range 10 {
				if err := create(i); err != nil {
					t.Fatalf("team %d: %v", i, err)
				}
			}
			err := create(10)
			if twofold.ErrorCode(err) != twofold.CodeThrottled {
				t.Fatalf("an eleventh team at once: got %v, want throttled", err)
			}
			var te *twofold.Error
			if !errors.As(err, &te) || te.RetryAfter <= 0 || te.RetryAfter > 10*time.Minute {
				t.Errorf("an eleventh team at once: Retry-After %v, want at most 10 minutes", err)
			}
			clock.Add(10 * time.Minute)
			if err := create(11); err != nil {
				t.Fatalf("a team 10 minutes later: %v", err)
			}
			if err := create(12); twofold.ErrorCode(err) != twofold.CodeThrottled {
				t.Fatalf("another at once: got %v, want throttled", err)
			}
		})
	}
}

// countTypes returns how many of the account's last 500 audit events are of
// type typ.
func countTypes(t *testing.T, st testDB, accountID, typ string) int {
	t.Helper()
	events, err := st.Events(t.Context(), accountID, 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.Type == typ {
			n++
		}
	}
	return n
}
