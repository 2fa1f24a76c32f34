package core_test

import (
	"context"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// Zone reads the zone and then, once armed with on "Zone", runs the hook:
// what the service decides on the zone it read is then stale.
func (s *teamRaceStore) Zone(ctx context.Context, name string) (twofold.Zone, error) {
	z, err := s.Store.Zone(ctx, name)
	s.fire("Zone")
	return z, err
}

// TestUnshareKeepsAnotherTeamsShare: a zone moved to another team between
// UnshareZone's read of it and its write stays shared with that team, and
// unsharing it from the first answers not found, whether its owner or a
// manager of the first team unshares it.
func TestUnshareKeepsAnotherTeamsShare(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			f := newTeamFixture(t, dsn(t), "bob:admin")
			ctx := t.Context()
			ada := f.users["ada"]
			other, err := f.svc.CreateTeam(ctx, ada, "dev", core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.AddZone(ctx, "example.com", "ada", core.Meta{}); err != nil {
				t.Fatal(err)
			}
			for _, by := range []string{"ada", "bob"} {
				if _, err := f.svc.ShareZone(ctx, ada, "example.com", f.teamID, core.Meta{}); err != nil {
					t.Fatal(err)
				}
				f.rs.on = "Zone"
				f.rs.hook = func() { // the owner moves the zone to dev meanwhile
					if _, err := f.svc.ShareZone(context.Background(), ada, "example.com", other.ID, core.Meta{}); err != nil {
						t.Errorf("move to dev: %v", err)
					}
				}
				f.rs.armed.Store(true)
				err := f.svc.UnshareZone(ctx, f.users[by], "example.com", f.teamID, core.Meta{})
				if twofold.ErrorCode(err) != twofold.CodeNotFound {
					t.Errorf("%s unshares from ops a zone moved to dev meanwhile: got %v, want not-found", by, err)
				}
				if f.rs.armed.Load() {
					t.Fatalf("%s: the move never ran", by)
				}
				z, err := f.st.Zone(ctx, "example.com")
				if err != nil {
					t.Fatal(err)
				}
				if z.TeamID != other.ID {
					t.Errorf("%s: the zone is shared with %q, want dev's %q", by, z.TeamID, other.ID)
				}
			}
		})
	}
}
