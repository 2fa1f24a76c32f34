package httpapi_test

import (
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// invitationIDs returns the ids of the invitations in r, an answer with a
// list of them.
func invitationIDs(t *testing.T, r testenv.Response) []string {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("invitations: got %d %s", r.Status, r.Body)
	}
	ids := []string{}
	for _, v := range r.JSON["invitations"].([]any) {
		ids = append(ids, v.(map[string]any)["id"].(string))
	}
	return ids
}

// TestTeamInvitations: nobody joins a team without accepting. The invitee
// is told by mail and sees the invitation; until accepting, they are no
// member; they may decline; managers see and withdraw waiting invitations;
// only the invitee may answer; and inviting a name nobody has answers as
// for one somebody has.
func TestTeamInvitations(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		for _, n := range []string{"alice", "bob", "carol", "mallory"} {
			addUser(t, s, n)
		}
		alice, bob, carol, mallory := login(t, s, "alice"), login(t, s, "bob"), login(t, s, "carol"), login(t, s, "mallory")
		team := makeTeam(t, alice, "Acme hosting")
		before := len(mb.Messages())

		id := invite(t, alice, team, "bob", "ops")
		msgs := mb.Wait(t, before+1, time.Minute)
		subject, body := mailText(t, msgs[before])
		if msgs[before].To[0] != "bob@example.com" || !strings.HasSuffix(subject, "you were invited to a team") ||
			!strings.Contains(body, "alice invited you to a team as ops.") ||
			!strings.Contains(body, `The team's name was chosen by alice, not by this server or its operators; it is: "Acme hosting"`) || !strings.Contains(body, "not a member until you accept") ||
			strings.Contains(body, "change your password") {
			t.Fatalf("mail to bob: to %v, %q\n%s", msgs[before].To, subject, body)
		}
		// Invited, bob is no member yet: the team is hidden from him.
		wantProblem(t, bob.Do(t, "GET", "/v1/teams/"+team, nil), 404, "not-found")
		if got := roles(t, alice, team); !reflect.DeepEqual(got, map[string]string{"alice": "owner"}) {
			t.Fatalf("members before bob accepts: got %v", got)
		}
		r := bob.Do(t, "GET", "/v1/me/invitations", nil)
		if ids := invitationIDs(t, r); len(ids) != 1 || ids[0] != id {
			t.Fatalf("bob's invitations: got %v, want [%s]", ids, id)
		}
		v := r.JSON["invitations"].([]any)[0].(map[string]any)
		if v["team_name"] != "Acme hosting" || v["role"] != "ops" || v["invited_by"] != "alice" || v["team_id"] != team {
			t.Fatalf("bob's invitation: got %v", v)
		}

		// A name nobody has gets the same answer, and the managers see
		// it waiting like any other; nobody is mailed.
		ghost := alice.Do(t, "POST", "/v1/teams/"+team+"/invitations", map[string]string{"username": "nobody", "role": "ops"})
		if ghost.Status != 201 {
			t.Fatalf("inviting a name nobody has: got %d %s, want 201 as for anyone", ghost.Status, ghost.Body)
		}
		gv := ghost.JSON["invitation"].(map[string]any)
		if keys(gv) != keys(v) {
			t.Fatalf("invitation of nobody has fields %s, of bob %s", keys(gv), keys(v))
		}
		carolID := invite(t, alice, team, "carol", "read-only")
		got := invitationIDs(t, alice.Do(t, "GET", "/v1/teams/"+team+"/invitations", nil))
		want := []string{id, carolID, gv["id"].(string)}
		sort.Strings(got)
		sort.Strings(want)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("team's invitations: got %v, want %v", got, want)
		}
		if r := alice.Do(t, "GET", "/v1/teams/"+team, nil); len(r.JSON["invitations"].([]any)) != 3 {
			t.Fatalf("the team's page for its owner lists %v, want 3 invitations", r.JSON["invitations"])
		}
		wantProblem(t, alice.Do(t, "POST", "/v1/teams/"+team+"/invitations", map[string]string{"username": "BOB", "role": "admin"}), 409, "conflict")

		// Only the invitee answers; to anyone else it does not exist.
		for _, r := range []testenv.Response{
			mallory.Do(t, "POST", "/v1/me/invitations/"+id+"/accept", nil),
			mallory.Do(t, "DELETE", "/v1/me/invitations/"+id, nil),
			alice.Do(t, "POST", "/v1/me/invitations/"+id+"/accept", nil),
			mallory.Do(t, "DELETE", "/v1/teams/"+team+"/invitations/"+id, nil),
		} {
			wantProblem(t, r, 404, "not-found")
		}
		// An API key answers nothing: joining is a person's consent.
		key := makeKey(t, bob, "script", nil, "dns example.com read")
		k := keyClient(s, key.id, key.secret)
		wantProblem(t, k.Do(t, "POST", "/v1/me/invitations/"+id+"/accept", nil), 403, "forbidden")

		// Carol declines: she is not a member, and the invitation is gone.
		if r := carol.Do(t, "DELETE", "/v1/me/invitations/"+carolID, nil); r.Status != 204 {
			t.Fatalf("carol declines: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, carol.Do(t, "POST", "/v1/me/invitations/"+carolID+"/accept", nil), 404, "not-found")
		// Alice withdraws the invitation of nobody.
		if r := alice.Do(t, "DELETE", "/v1/teams/"+team+"/invitations/"+gv["id"].(string), nil); r.Status != 204 {
			t.Fatalf("withdraw: got %d %s", r.Status, r.Body)
		}

		// Bob accepts, once, and is a member with the role offered.
		if r := bob.Do(t, "POST", "/v1/me/invitations/"+id+"/accept", nil); r.Status != 200 || r.JSON["team"].(map[string]any)["role"] != "ops" {
			t.Fatalf("bob accepts: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, bob.Do(t, "POST", "/v1/me/invitations/"+id+"/accept", nil), 404, "not-found")
		if got := roles(t, bob, team); !reflect.DeepEqual(got, map[string]string{"alice": "owner", "bob": "ops"}) {
			t.Fatalf("members after: got %v", got)
		}
		if ids := invitationIDs(t, alice.Do(t, "GET", "/v1/teams/"+team+"/invitations", nil)); len(ids) != 0 {
			t.Fatalf("invitations left: %v, want none", ids)
		}
		// Bob's record shows where he came from; alice's what she did.
		wantEvent(t, bob, "team.joined")
		wantEvent(t, alice, "team.invitation_accepted")
		wantEvent(t, alice, "team.invitation_declined")

		// An invitation lapses after 7 days.
		late := invite(t, alice, team, "carol", "ops")
		s.Clock.Add(7*24*time.Hour + time.Minute)
		carol = login(t, s, "carol")
		if ids := invitationIDs(t, carol.Do(t, "GET", "/v1/me/invitations", nil)); len(ids) != 0 {
			t.Fatalf("carol's invitations after 7 days: %v, want none", ids)
		}
		wantProblem(t, carol.Do(t, "POST", "/v1/me/invitations/"+late+"/accept", nil), 404, "not-found")

		// A change of bob's membership is a security notice, with its
		// footer; the invitation above was not.
		alice = login(t, s, "alice")
		if r := alice.Do(t, "PATCH", "/v1/teams/"+team+"/members/bob", map[string]string{"role": "read-only"}); r.Status != 200 {
			t.Fatalf("change bob's role: %d %s", r.Status, r.Body)
		}
		if body := mailWith(t, mb, "your role in a team changed"); !strings.Contains(body, "change your password") {
			t.Fatalf("the notice of a changed role has no security footer:\n%s", body)
		}
	})
}

// keys returns the sorted keys of m, joined.
func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

// TestTeamInvitationVoid: an invitation stands only while whoever made it
// may still give its role; an admin's invitation to a removed admin is void.
func TestTeamInvitationVoid(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		for _, n := range []string{"alice", "bob", "carol"} {
			addUser(t, s, n)
		}
		alice, bob, carol := login(t, s, "alice"), login(t, s, "bob"), login(t, s, "carol")
		team := makeTeam(t, alice, "Acme")
		addMember(t, alice, bob, team, "bob", "admin")
		id := invite(t, bob, team, "carol", "ops")
		// An admin may not withdraw an owner's invitation to be owner, but
		// may withdraw the others.
		own := invite(t, alice, team, "dave", "owner")
		wantProblem(t, bob.Do(t, "DELETE", "/v1/teams/"+team+"/invitations/"+own, nil), 403, "forbidden")
		if r := alice.Do(t, "PATCH", "/v1/teams/"+team+"/members/bob", map[string]string{"role": "ops"}); r.Status != 200 {
			t.Fatalf("demote bob: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, carol.Do(t, "POST", "/v1/me/invitations/"+id+"/accept", nil), 409, "conflict")
		wantProblem(t, carol.Do(t, "GET", "/v1/teams/"+team, nil), 404, "not-found")
		// Void, it is gone.
		wantProblem(t, carol.Do(t, "POST", "/v1/me/invitations/"+id+"/accept", nil), 404, "not-found")
	})
}

// TestTeamInvitationPolicy: accepting a team that requires two-factor is
// agreeing to it: the invitation says so, and from then on the member's
// login asks for the second step.
func TestTeamInvitationPolicy(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "alice")
		addUser(t, s, "bob")
		alice, bob := login(t, s, "alice"), login(t, s, "bob")
		team := makeTeam(t, alice, "Acme")
		af := enrol(t, s, alice, map[string]any{"type": "totp", "label": "phone"})
		elevateWith(t, alice, af.codes[0])
		if r := alice.Do(t, "PATCH", "/v1/teams/"+team, map[string]any{"require_two_factor": true}); r.Status != 200 {
			t.Fatalf("policy on: got %d %s", r.Status, r.Body)
		}
		bf := enrol(t, s, bob, map[string]any{"type": "totp", "label": "phone"})
		elevateWith(t, bob, bf.codes[0])
		if r := bob.Do(t, "PUT", "/v1/me/two-factor", map[string]bool{"required": false}); r.Status != 200 {
			t.Fatalf("bob turns login 2FA off: got %d %s", r.Status, r.Body)
		}
		if r := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "bob", "password": password}); r.String("status") != "authenticated" {
			t.Fatalf("bob's login before joining: got %s, want password-only", r.Body)
		}
		id := invite(t, alice, team, "bob", "ops")
		r := bob.Do(t, "GET", "/v1/me/invitations", nil)
		if v := r.JSON["invitations"].([]any)[0].(map[string]any); v["require_two_factor"] != true {
			t.Fatalf("the invitation does not say the team requires two-factor: %v", v)
		}
		// Inviting is not joining: bob's login is unchanged until he accepts.
		if r := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "bob", "password": password}); r.String("status") != "authenticated" {
			t.Fatalf("bob's login while invited: got %s, want password-only still", r.Body)
		}
		if r := bob.Do(t, "POST", "/v1/me/invitations/"+id+"/accept", nil); r.Status != 200 {
			t.Fatalf("accept: got %d %s", r.Status, r.Body)
		}
		if r := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "bob", "password": password}); r.String("status") != "second_factor_required" {
			t.Fatalf("bob's login after joining: got %s, want the second step", r.Body)
		}
	})
}

// wantEvent fails unless c's own audit log holds an event of type typ.
func wantEvent(t *testing.T, c *testenv.Client, typ string) {
	t.Helper()
	if len(eventsOf(t, c, typ)) == 0 {
		t.Errorf("no %s event in the account's log", typ)
	}
}

// TestInvitationMailsRationed: withdrawing and inviting again mails the
// invitee once a day per inviter; each invitation is still in their log
// (core's TestInvitationMailsPerInvitee has the limits across teams).
func TestInvitationMailsRationed(t *testing.T) {
	mb := testenv.NewSMTPServer(t)
	s := testenv.NewServer(t, testenv.SQLiteDSN(t), mb.Option("Twofold <twofold@example.com>"))
	addUser(t, s, "alice")
	addUser(t, s, "bob")
	alice := login(t, s, "alice")
	team := makeTeam(t, alice, "Acme")
	for range 3 {
		id := invite(t, alice, team, "bob", "ops")
		if r := alice.Do(t, "DELETE", "/v1/teams/"+team+"/invitations/"+id, nil); r.Status != 204 {
			t.Fatalf("withdraw: got %d %s", r.Status, r.Body)
		}
	}
	s.Service.Wait()
	bob, err := s.Store.AccountByUsername(t.Context(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if n := countEvents(t, s, bob.ID, "team.invitation_received"); n != 3 {
		t.Fatalf("bob's log holds %d invitations, want 3", n)
	}
	s.Clock.Add(25 * time.Hour)
	alice = login(t, s, "alice")
	invite(t, alice, team, "bob", "ops")
	s.Service.Wait()
	// Every mail queued has been delivered once the outbox is empty.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		left, err := s.Store.Outbox(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d mails still queued after a minute", len(left))
		}
	}
	n := 0
	for _, m := range mb.Messages() {
		if subject, _ := mailText(t, m); strings.HasSuffix(subject, "you were invited to a team") {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("got %d invitation mails to bob, want 2: one for the three invitations of the first day, one the next day", n)
	}
}
