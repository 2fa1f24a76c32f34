package httpapi_test

import (
	"context"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// actor is a person's client that sends every request from an address of
// its own (X-Forwarded-For, from behind a trusted proxy) with a user
// agent of its own.
type actor struct {
	*testenv.Client
	addr, agent string
}

// loginAs signs name in and has every later request of theirs come from
// addr with the user agent agent.
func loginAs(t *testing.T, s *testenv.Server, name, addr, agent string) actor {
	t.Helper()
	c := login(t, s, name)
	c.Header.Set("X-Forwarded-For", addr)
	c.Header.Set("User-Agent", agent)
	return actor{c, addr, agent}
}

// ownEvents returns every event in c's own audit log.
func ownEvents(t *testing.T, c *testenv.Client) []map[string]any {
	t.Helper()
	r := c.Do(t, "GET", "/v1/me/events?limit=200", nil)
	if r.Status != 200 {
		t.Fatalf("events: got %d %s", r.Status, r.Body)
	}
	var out []map[string]any
	for _, e := range r.JSON["events"].([]any) {
		out = append(out, e.(map[string]any))
	}
	return out
}

// TestCounterpartEventsHideActor: an action on a team or a shared zone is
// recorded in the other party's log too (the inviter, the invitee, the
// member, the zone's owner), naming who acted but with neither their
// address nor their user agent, which stay in the actor's own log. A
// stranger who invites someone must not learn where they answer from, nor
// keep their user agent after their account is closed.
func TestCounterpartEventsHideActor(t *testing.T) {
	eachStoreWith(t, []testenv.ServerOption{behindProxy}, func(t *testing.T, s *testenv.Server) {
		ctx := context.Background()
		for _, n := range []string{"bob", "carol", "dave"} {
			addUser(t, s, n)
		}
		for z, owner := range map[string]string{"example.com": "bob", "example.org": "dave"} {
			if _, err := s.Service.AddZone(ctx, z, owner, core.Meta{}); err != nil {
				t.Fatal(err)
			}
		}
		bob := loginAs(t, s, "bob", "203.0.113.10", "Bob-Browser/1.0")
		carol := loginAs(t, s, "carol", "198.51.100.200", "Carol-Browser/9.9")
		dave := loginAs(t, s, "dave", "192.0.2.77", "Dave-Browser/2.0")
		team := makeTeam(t, bob.Client, "Bob's")

		// Carol, a stranger to bob, declines; dave accepts.
		declined := invite(t, bob.Client, team, "carol", "ops")
		s.Service.Wait() // the invitee's side is written after the answer
		if r := carol.Do(t, "DELETE", "/v1/me/invitations/"+declined, nil); r.Status != 204 {
			t.Fatalf("carol declines: got %d %s", r.Status, r.Body)
		}
		addMember(t, bob.Client, dave.Client, team, "dave", "ops")
		s.Service.Wait()

		// Dave, made admin, writes to bob's zone, shares his own and
		// unshares bob's; bob then removes him, which unshares dave's.
		if r := bob.Do(t, "PATCH", "/v1/teams/"+team+"/members/dave", map[string]string{"role": "admin"}); r.Status != 200 {
			t.Fatalf("make dave admin: got %d %s", r.Status, r.Body)
		}
		if r := bob.Do(t, "PUT", "/v1/teams/"+team+"/zones/example.com", nil); r.Status != 200 {
			t.Fatalf("bob shares: got %d %s", r.Status, r.Body)
		}
		rec := map[string]any{"records": []map[string]any{{"host": "www", "ttl": 300, "type": "A", "data": "192.0.2.1"}}}
		if r := dave.Do(t, "POST", "/dns/v2/zones/example.com/records", rec); r.Status != 200 {
			t.Fatalf("dave writes bob's zone: got %d %s", r.Status, r.Body)
		}
		if r := dave.Do(t, "PUT", "/v1/teams/"+team+"/zones/example.org", nil); r.Status != 200 {
			t.Fatalf("dave shares: got %d %s", r.Status, r.Body)
		}
		if r := dave.Do(t, "DELETE", "/v1/teams/"+team+"/zones/example.com", nil); r.Status != 204 {
			t.Fatalf("dave unshares bob's zone: got %d %s", r.Status, r.Body)
		}
		if r := bob.Do(t, "DELETE", "/v1/teams/"+team+"/members/dave", nil); r.Status != 204 {
			t.Fatalf("bob removes dave: got %d %s", r.Status, r.Body)
		}

		for _, tt := range []struct {
			name   string
			reader actor
			others []actor
			want   map[string]string // counterpart event type → part of its detail
		}{
			{"bob", bob, []actor{carol, dave}, map[string]string{
				"team.invitation_declined": "carol declined",
				"team.invitation_accepted": "dave as ops",
				"dns.records_changed":      "by dave's session",
				"dns.zone_unshared":        "by dave",
			}},
			{"carol", carol, []actor{bob}, map[string]string{
				"team.invitation_received": "from bob",
			}},
			{"dave", dave, []actor{bob}, map[string]string{
				"team.invitation_received": "from bob",
				"team.role_changed":        "by bob",
				"team.removed":             "by bob",
				"dns.zone_unshared":        "by bob",
			}},
		} {
			evs := ownEvents(t, tt.reader.Client)
			for _, e := range evs {
				for _, o := range tt.others {
					if e["source"] == o.addr || e["user_agent"] == o.agent {
						t.Errorf("%s's %s event (%v) carries the source %q and user agent %q of another account", tt.name, e["type"], e["detail"], e["source"], e["user_agent"])
					}
				}
			}
			for typ, part := range tt.want {
				found := false
				for _, e := range evs {
					if e["type"] == typ && strings.Contains(e["detail"].(string), part) {
						found = true
						if e["source"] != "" || e["user_agent"] != "" {
							t.Errorf("%s's %s %q: got source %q, user agent %q, want both empty", tt.name, typ, e["detail"], e["source"], e["user_agent"])
						}
					}
				}
				if !found {
					t.Errorf("%s's log has no %s event saying %q", tt.name, typ, part)
				}
			}
		}
		// The actor's own event of the same action keeps their address.
		found := false
		for _, e := range ownEvents(t, carol.Client) {
			found = found || e["type"] == "team.invitation_declined" && e["source"] == carol.addr && e["user_agent"] == carol.agent
		}
		if !found {
			t.Errorf("carol's own team.invitation_declined lacks her address and user agent")
		}
	})
}
