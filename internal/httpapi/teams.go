package httpapi

import (
	"net/http"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
)

type teamJSON struct {
	ID               string    `json:"id"`
	Name             string    `json:"name"`
	RequireTwoFactor bool      `json:"require_two_factor"`
	CreatedAt        time.Time `json:"created_at"`
	Role             string    `json:"role,omitempty"` // the caller's
}

type memberJSON struct {
	Username  string    `json:"username"`
	Role      string    `json:"role"`
	TwoFactor bool      `json:"two_factor"`
	JoinedAt  time.Time `json:"joined_at"`
}

func toTeamJSON(t twofold.Team, role twofold.Role) teamJSON {
	return teamJSON{ID: t.ID, Name: t.Name, RequireTwoFactor: t.RequireTwoFactor, CreatedAt: t.CreatedAt, Role: string(role)}
}

func toMemberJSON(m twofold.TeamMember) memberJSON {
	return memberJSON{Username: m.Username, Role: string(m.Role), TwoFactor: m.TwoFactor, JoinedAt: m.CreatedAt}
}

func (s *Server) listTeams(w http.ResponseWriter, r *http.Request, a core.Auth) {
	ms, err := s.svc.Teams(r.Context(), a)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := make([]teamJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, toTeamJSON(m.Team, m.Role))
	}
	writeJSON(w, http.StatusOK, map[string]any{"teams": out})
}

func (s *Server) createTeam(w http.ResponseWriter, r *http.Request, a core.Auth) {
	var req struct {
		Name string `json:"name"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	t, err := s.svc.CreateTeam(r.Context(), a, req.Name, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.Header().Set("Location", "/v1/teams/"+t.ID)
	writeJSON(w, http.StatusCreated, map[string]any{"team": toTeamJSON(t, twofold.RoleOwner)})
}

func (s *Server) writeTeam(w http.ResponseWriter, r *http.Request, a core.Auth, status int) {
	v, err := s.svc.Team(r.Context(), a, r.PathValue("team_id"))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	members := make([]memberJSON, 0, len(v.Members))
	for _, m := range v.Members {
		members = append(members, toMemberJSON(m))
	}
	out := map[string]any{"team": toTeamJSON(v.Team, v.Role), "members": members, "zones": v.Zones}
	if v.Role.ManagesMembers() {
		invitations := make([]invitationJSON, 0, len(v.Invitations))
		for _, inv := range v.Invitations {
			invitations = append(invitations, toInvitationJSON(inv))
		}
		out["invitations"] = invitations
	}
	writeJSON(w, status, out)
}

func (s *Server) getTeam(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.writeTeam(w, r, a, http.StatusOK)
}

func (s *Server) updateTeam(w http.ResponseWriter, r *http.Request, a core.Auth) {
	var req struct {
		Name             *string `json:"name"`
		RequireTwoFactor *bool   `json:"require_two_factor"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if req.Name == nil && req.RequireTwoFactor == nil {
		writeError(w, r, s.log, twofold.Errorf(twofold.CodeInvalid, "send name or require_two_factor"))
		return
	}
	t, _, err := s.svc.UpdateTeam(r.Context(), a, r.PathValue("team_id"), core.TeamChange{Name: req.Name, RequireTwoFactor: req.RequireTwoFactor}, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"team": toTeamJSON(t, twofold.RoleOwner)})
}

func (s *Server) deleteTeam(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.svc.DeleteTeam(r.Context(), a, r.PathValue("team_id"), Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) setTeamRole(w http.ResponseWriter, r *http.Request, a core.Auth) {
	var req struct {
		Role string `json:"role"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	m, _, err := s.svc.SetTeamRole(r.Context(), a, r.PathValue("team_id"), r.PathValue("username"), req.Role, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"member": toMemberJSON(m)})
}

func (s *Server) removeTeamMember(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.svc.RemoveTeamMember(r.Context(), a, r.PathValue("team_id"), r.PathValue("username"), Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// shareZone shares one of the caller's DNS zones with the team.
func (s *Server) shareZone(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if _, err := s.svc.ShareZone(r.Context(), a, r.PathValue("zone"), r.PathValue("team_id"), Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	s.writeTeam(w, r, a, http.StatusOK)
}

// unshareZone stops sharing the caller's zone with the team.
func (s *Server) unshareZone(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.svc.UnshareZone(r.Context(), a, r.PathValue("zone"), r.PathValue("team_id"), Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type invitationJSON struct {
	ID               string    `json:"id"`
	TeamID           string    `json:"team_id"`
	TeamName         string    `json:"team_name"`
	RequireTwoFactor bool      `json:"require_two_factor"`
	Username         string    `json:"username"`
	Role             string    `json:"role"`
	InvitedBy        string    `json:"invited_by"`
	CreatedAt        time.Time `json:"created_at"`
	ExpiresAt        time.Time `json:"expires_at"`
}

func toInvitationJSON(v twofold.TeamInvitation) invitationJSON {
	return invitationJSON{ID: v.ID, TeamID: v.TeamID, TeamName: v.TeamName, RequireTwoFactor: v.RequireTwoFactor,
		Username: v.Username, Role: string(v.Role), InvitedBy: v.InvitedByName, CreatedAt: v.CreatedAt, ExpiresAt: v.ExpiresAt}
}

func writeInvitations(w http.ResponseWriter, vs []twofold.TeamInvitation) {
	out := make([]invitationJSON, 0, len(vs))
	for _, v := range vs {
		out = append(out, toInvitationJSON(v))
	}
	writeJSON(w, http.StatusOK, map[string]any{"invitations": out})
}

// inviteTeamMember invites an account to the team; it becomes a member
// when its holder accepts.
func (s *Server) inviteTeamMember(w http.ResponseWriter, r *http.Request, a core.Auth) {
	var req struct {
		Username string `json:"username"`
		Role     string `json:"role"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	v, err := s.svc.InviteTeamMember(r.Context(), a, r.PathValue("team_id"), req.Username, req.Role, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"invitation": toInvitationJSON(v)})
}

func (s *Server) listTeamInvitations(w http.ResponseWriter, r *http.Request, a core.Auth) {
	vs, err := s.svc.TeamInvitations(r.Context(), a, r.PathValue("team_id"))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeInvitations(w, vs)
}

func (s *Server) revokeTeamInvitation(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.svc.RevokeTeamInvitation(r.Context(), a, r.PathValue("team_id"), r.PathValue("invitation_id"), Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) myInvitations(w http.ResponseWriter, r *http.Request, a core.Auth) {
	vs, err := s.svc.MyInvitations(r.Context(), a)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeInvitations(w, vs)
}

// acceptInvitation makes the caller a member of the invitation's team.
func (s *Server) acceptInvitation(w http.ResponseWriter, r *http.Request, a core.Auth) {
	mb, err := s.svc.AcceptTeamInvitation(r.Context(), a, r.PathValue("invitation_id"), Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"team": toTeamJSON(mb.Team, mb.Role)})
}

func (s *Server) declineInvitation(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.svc.DeclineTeamInvitation(r.Context(), a, r.PathValue("invitation_id"), Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
