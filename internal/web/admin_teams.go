package web

import (
	"net/http"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
)

// adminTeamsBody is the data of the operator's list of every team.
type adminTeamsBody struct {
	Query string
	Teams []twofold.TeamSummary
	More  bool // the list was cut at the limit
}

const adminTeamsLimit = 100

// adminTeams lists every team on the server, or those whose name contains
// the query, for an operator: read-only.
func (s *Server) adminTeams(w http.ResponseWriter, r *http.Request, a core.Auth) {
	q := r.URL.Query().Get("q")
	ts, err := s.svc.SearchTeams(r.Context(), a, q, adminTeamsLimit+1)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b := adminTeamsBody{Query: q, Teams: ts}
	if len(ts) > adminTeamsLimit {
		b.Teams, b.More = ts[:adminTeamsLimit], true
	}
	s.render(w, r, http.StatusOK, "admin_teams", Page{Title: "All teams", Account: &a.Account, Body: b})
}

// adminTeam shows one team to an operator: its policy, members with their
// roles and two-factor, and shared zones; read-only.
func (s *Server) adminTeam(w http.ResponseWriter, r *http.Request, a core.Auth) {
	v, err := s.svc.InspectTeam(r.Context(), a, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	s.render(w, r, http.StatusOK, "admin_team", Page{Title: v.Team.Name, Account: &a.Account, Body: v})
}
