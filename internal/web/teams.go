package web

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// teamsBody is the data of the teams page.
type teamsBody struct {
	Teams []twofold.Membership
	// Invitations are those to the caller waiting for an answer; NoFactor
	// reports whether the caller has no active factor, for the warning on
	// invitations of teams that require one.
	Invitations []twofold.TeamInvitation
	NoFactor    bool
	Name        string // what was typed, kept when the form comes back
	Once        string // the create form's one-time token (once.go)
	// JoinOnce holds the one-time token of each invitation's join form,
	// by the invitation's id, bound to it (acceptInvitation).
	JoinOnce map[string]string
}

// teamBody is the data of one team's page.
type teamBody struct {
	View core.TeamView
	// Manager reports whether the caller may manage members; Owner whether
	// the caller may change the team itself.
	Manager, Owner bool
	Self           string // the caller's username
	Roles          []twofold.Role
	// Grantable lists the roles the caller may give.
	Grantable []twofold.Role
	// Shareable lists the caller's own zones not shared with this team;
	// OwnShared those shared with it, which the caller may stop sharing
	// whatever their role.
	Shareable []string
	OwnShared map[string]bool
	Username  string // what was typed in the add form
	Role      string
	// Rename is what was typed in the rename form, shown again after a
	// refusal in place of the team's name.
	Rename    string
	Elevation *elevationBody // nil when the session is elevated
	// NeedsFactor reports whether the caller's role would manage the team
	// but its two-factor policy keeps the caller out until their account
	// has an authenticator; the forms to manage it are then not offered.
	NeedsFactor bool
}

func (s *Server) teamsPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderTeams(w, r, a, http.StatusOK, teamsBody{}, notice(r), "")
}

func (s *Server) renderTeams(w http.ResponseWriter, r *http.Request, a core.Auth, status int, b teamsBody, notice, errMsg string) {
	ms, err := s.svc.Teams(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b.Teams = ms
	b.Once = s.onceToken(r, a, onceTeam)
	if b.Invitations, err = s.svc.MyInvitations(r.Context(), a); err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b.JoinOnce = map[string]string{}
	for _, v := range b.Invitations {
		b.JoinOnce[v.ID] = s.sameToken(r, a, bound(onceJoin, v.ID))
	}
	if len(b.Invitations) > 0 {
		p, err := s.svc.Me(r.Context(), a)
		if err != nil {
			s.fail(w, r, &a, err)
			return
		}
		b.NoFactor = !p.Enabled
	}
	s.render(w, r, status, "teams", Page{Title: "Teams", Account: &a.Account, Notice: notice, Error: errMsg, Body: b, Nav: "teams"})
}

// createTeam makes a team from the form. Sent twice (its one-time token),
// it makes one: the second sending leads to the team the first made.
func (s *Server) createTeam(w http.ResponseWriter, r *http.Request, a core.Auth) {
	name := r.PostForm.Get("name")
	refused := func(err error) { s.renderTeams(w, r, a, s.status(w, r, err), teamsBody{Name: name}, "", message(err)) }
	use, ok := s.once(r, a, onceTeam, refused, func(made string) {
		if made == "" {
			s.renderTeams(w, r, a, http.StatusConflict, teamsBody{}, "",
				"This form was sent twice, and the first sending had not finished when the second arrived. Look for the team below before making another.")
			return
		}
		http.Redirect(w, r, "/settings/teams/"+url.PathEscape(made)+"?m=team_created", http.StatusSeeOther)
	})
	if !ok {
		return
	}
	defer use.Done(r.Context(), "")
	t, err := s.svc.CreateTeam(r.Context(), a, name, httpapi.Meta(r))
	markInvalidOn(r, err, "team-name", twofold.CodeInvalid, twofold.CodeConflict)
	if err != nil {
		s.renderTeams(w, r, a, s.status(w, r, err), teamsBody{Name: name}, "", message(err))
		return
	}
	use.Done(r.Context(), t.ID)
	http.Redirect(w, r, "/settings/teams/"+url.PathEscape(t.ID)+"?m=team_created", http.StatusSeeOther)
}

func (s *Server) teamPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderTeam(w, r, a, http.StatusOK, teamBody{Role: string(twofold.RoleReadOnly)}, notice(r), "")
}

func (s *Server) renderTeam(w http.ResponseWriter, r *http.Request, a core.Auth, status int, b teamBody, notice, errMsg string) {
	v, err := s.svc.Team(r.Context(), a, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b.View, b.Self, b.Roles = v, a.Account.Username, twofold.Roles
	b.Manager, b.Owner = v.Role.ManagesMembers(), v.Role == twofold.RoleOwner
	if b.Manager && v.Team.RequireTwoFactor && !p.Enabled {
		b.NeedsFactor, b.Manager, b.Owner = true, false, false
	}
	for _, role := range twofold.Roles {
		if role != twofold.RoleOwner || b.Owner {
			b.Grantable = append(b.Grantable, role)
		}
	}
	own, err := s.svc.OwnZones(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b.OwnShared = map[string]bool{}
	for _, z := range own {
		switch {
		case z.TeamID == v.Team.ID:
			b.OwnShared[z.Name] = true
		case b.Manager:
			b.Shareable = append(b.Shareable, z.Name)
		}
	}
	// Managing the team, and leaving it, need a fresh second factor when
	// the account has one (leaving may turn two-factor login off).
	b.Elevation = s.elevationFor(r, a, p, "/settings/teams/"+v.Team.ID)
	s.render(w, r, status, "team", Page{Title: v.Team.Name, Account: &p.Account, Notice: notice, Error: errMsg, Body: b, Nav: "teams"})
}

// elevateForTeam elevates the session with the code of the team page's
// "confirm it's you" form, for the changes of the team that need it.
func (s *Server) elevateForTeam(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.teamAction(w, r, a, teamBody{}, "elevated", func(core.Auth) (string, error) {
		if !elevationAnswered(r) {
			return "", twofold.Errorf(twofold.CodeInvalid, "confirm it's you first")
		}
		return "", s.elevateFromForm(w, r, &a)
	})
}

// teamAction runs do, then shows the team's page again: with the error, or
// with the notice done, or the one do returns in its place (one that says
// nothing was changed).
func (s *Server) teamAction(w http.ResponseWriter, r *http.Request, a core.Auth, b teamBody, done string, do func(a core.Auth) (string, error)) {
	notice, err := do(a)
	if err != nil {
		s.renderTeam(w, r, a, s.status(w, r, err), b, "", message(err))
		return
	}
	if notice == "" {
		notice = done
	}
	http.Redirect(w, r, "/settings/teams/"+url.PathEscape(r.PathValue("id"))+"?m="+notice, http.StatusSeeOther)
}

// unlessChanged is the notice same when nothing changed, else "" (the
// action's own).
func unlessChanged(changed bool, same string) string {
	if changed {
		return ""
	}
	return same
}

func (s *Server) inviteTeamMember(w http.ResponseWriter, r *http.Request, a core.Auth) {
	f := r.PostForm
	b := teamBody{Username: f.Get("username"), Role: f.Get("role")}
	s.teamAction(w, r, a, b, "invited", func(a core.Auth) (string, error) {
		_, err := s.svc.InviteTeamMember(r.Context(), a, r.PathValue("id"), b.Username, b.Role, httpapi.Meta(r))
		switch {
		case core.RefusedField(err) == "role":
			markInvalid(r, "member-role")
		case core.RefusedField(err) == "username", twofold.ErrorCode(err) == twofold.CodeNotFound && b.Username != "",
			twofold.ErrorCode(err) == twofold.CodeConflict: // nobody of that name, or a member or invited already
			markInvalid(r, "member-username")
		}
		return "", err
	})
}

func (s *Server) revokeTeamInvitation(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.teamAction(w, r, a, teamBody{}, "invitation_revoked", func(a core.Auth) (string, error) {
		return "", s.svc.RevokeTeamInvitation(r.Context(), a, r.PathValue("id"), r.PathValue("inv"), httpapi.Meta(r))
	})
}

// acceptInvitation joins the invitation's team and goes to its page. The
// join form's one-time token, bound to the session and the invitation and
// alike on every page of the session (sameToken), records the team joined:
// the form sent again (from a second tab, after going back, a double click
// without JavaScript), once the invitation is used up, leads to that
// team's page saying the caller is already a member, while the caller
// still is. Anyone else, and this session without the token, gets the
// invitation's plain 404: a token is only ever shown on the invited
// account's own invitations (renderTeams) and works only for the session
// it was made for.
func (s *Server) acceptInvitation(w http.ResponseWriter, r *http.Request, a core.Auth) {
	inv := r.PathValue("inv")
	var use *core.FormUse
	if token := r.PostForm.Get(onceField); token != "" {
		u, err := s.svc.TakeForm(r.Context(), a, bound(onceJoin, inv), token)
		switch {
		case err != nil && twofold.ErrorCode(err) != twofold.CodeInvalid:
			s.fail(w, r, &a, err)
			return
		case err != nil:
			// Out of date or not this session's: joined as without a
			// token, which the invitation itself still guards.
		case u.Again && u.Made != "":
			if _, terr := s.svc.Team(r.Context(), a, u.Made); terr == nil {
				http.Redirect(w, r, "/settings/teams/"+url.PathEscape(u.Made)+"?m=already_member", http.StatusSeeOther)
				return
			}
		case u.Again:
			s.renderTeams(w, r, a, http.StatusConflict, teamsBody{}, "",
				"This form was sent twice, and the first sending had not finished when the second arrived. Look for the team below before you answer the invitation again.")
			return
		default:
			use = u
		}
	}
	defer use.Done(r.Context(), "")
	mb, err := s.svc.AcceptTeamInvitation(r.Context(), a, inv, httpapi.Meta(r))
	if err != nil {
		s.renderTeams(w, r, a, s.status(w, r, err), teamsBody{}, "", message(err))
		return
	}
	use.Done(r.Context(), mb.Team.ID)
	http.Redirect(w, r, "/settings/teams/"+url.PathEscape(mb.Team.ID)+"?m=invitation_accepted", http.StatusSeeOther)
}

func (s *Server) declineInvitation(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.svc.DeclineTeamInvitation(r.Context(), a, r.PathValue("inv"), httpapi.Meta(r)); err != nil {
		s.renderTeams(w, r, a, s.status(w, r, err), teamsBody{}, "", message(err))
		return
	}
	http.Redirect(w, r, "/settings/teams?m=invitation_declined", http.StatusSeeOther)
}

func (s *Server) setTeamRole(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.teamAction(w, r, a, teamBody{}, "role_changed", func(a core.Auth) (string, error) {
		_, changed, err := s.svc.SetTeamRole(r.Context(), a, r.PathValue("id"), r.PathValue("username"), r.PostForm.Get("role"), httpapi.Meta(r))
		return unlessChanged(changed, "role_same"), err
	})
}

func (s *Server) removeTeamMember(w http.ResponseWriter, r *http.Request, a core.Auth) {
	id, who := r.PathValue("id"), r.PathValue("username")
	err := s.svc.RemoveTeamMember(r.Context(), a, id, who, httpapi.Meta(r))
	switch {
	case twofold.ErrorCode(err) == twofold.CodeNotFound && who == a.Account.Username:
		// Left already (the form sent twice), or never in it.
		http.Redirect(w, r, "/settings/teams?m=team_gone", http.StatusSeeOther)
	case err != nil:
		s.renderTeam(w, r, a, s.status(w, r, err), teamBody{}, "", message(err))
	case who == a.Account.Username:
		http.Redirect(w, r, "/settings/teams?m=team_left", http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/settings/teams/"+url.PathEscape(id)+"?m=member_removed", http.StatusSeeOther)
	}
}

func (s *Server) updateTeam(w http.ResponseWriter, r *http.Request, a core.Auth) {
	f := r.PostForm
	var c core.TeamChange
	if f.Has("name") {
		name := f.Get("name")
		c.Name = &name
	}
	// The page's form says which, as the API's body must: a form that says
	// neither (one cut short, or made elsewhere) stops requiring nothing.
	var unsaid bool
	if f.Has("require_two_factor") {
		v := f.Get("require_two_factor")
		on := v == "on"
		c.RequireTwoFactor, unsaid = &on, !on && v != "off"
	}
	var b teamBody
	if c.Name != nil {
		b.Rename = *c.Name
	}
	s.teamAction(w, r, a, b, "team_updated", func(a core.Auth) (string, error) {
		if unsaid {
			return "", twofold.Errorf(twofold.CodeInvalid, "the form did not say whether to require two-factor of the team's members, so nothing was changed: go back, reload the page and try again")
		}
		_, changed, err := s.svc.UpdateTeam(r.Context(), a, r.PathValue("id"), c, httpapi.Meta(r))
		if c.Name != nil && c.RequireTwoFactor == nil {
			markInvalidOn(r, err, "rename-team", twofold.CodeInvalid, twofold.CodeConflict)
		}
		return unlessChanged(changed, "team_same"), err
	})
}

// deleteTeamPage asks to confirm deleting a team, like the other
// destructive actions, with a code when the session needs one: its
// members lose it, and are told by mail.
func (s *Server) deleteTeamPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderDeleteTeam(w, r, a, http.StatusOK, "")
}

func (s *Server) renderDeleteTeam(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg string) {
	v, err := s.svc.Team(r.Context(), a, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	if v.Role != twofold.RoleOwner {
		s.renderError(w, r, &a, http.StatusForbidden, "Only the team's owners can delete it.")
		return
	}
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	team := "/settings/teams/" + url.PathEscape(v.Team.ID)
	text := []string{"The team and its invitations are deleted at once, and its zones no longer shared (they stay with their owners). This cannot be undone."}
	if others := len(v.Members) - 1; others > 0 {
		text = append(text, fmt.Sprintf("Its %d other %s lose the team's access and are told by mail.", others, pluralWord(others, "member", "members")))
	}
	b := confirmBody{Heading: "Delete the team “" + v.Team.Name + "”?", Text: text, Action: team + "/delete", Cancel: team,
		CancelLabel: "Back to the team", Button: "Delete the team", Danger: true, Elevation: s.elevationFor(r, a, p, team+"/delete")}
	s.render(w, r, status, "confirm", Page{Title: namedTitle("Delete team", v.Team.Name), Account: &a.Account, Error: errMsg, Body: b, Nav: "teams"})
}

// deleteTeam deletes the team once its owner confirmed it
// (deleteTeamPage), checking the code of that page when it asked for one.
func (s *Server) deleteTeam(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.elevateFromForm(w, r, &a); err != nil {
		s.renderDeleteTeam(w, r, a, s.status(w, r, err), message(err))
		return
	}
	if err := s.svc.DeleteTeam(r.Context(), a, r.PathValue("id"), httpapi.Meta(r)); err != nil {
		if twofold.ErrorCode(err) == twofold.CodeNotFound {
			// Deleted already (the form sent twice), or no team of the
			// caller's: the list of teams says so, the same for both.
			http.Redirect(w, r, "/settings/teams?m=team_gone", http.StatusSeeOther)
			return
		}
		s.renderDeleteTeam(w, r, a, s.status(w, r, err), message(err))
		return
	}
	http.Redirect(w, r, "/settings/teams?m=team_deleted", http.StatusSeeOther)
}

func (s *Server) shareZone(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.teamAction(w, r, a, teamBody{}, "zone_shared", func(a core.Auth) (string, error) {
		changed, err := s.svc.ShareZone(r.Context(), a, r.PostForm.Get("zone"), r.PathValue("id"), httpapi.Meta(r))
		return unlessChanged(changed, "zone_shared_already"), err
	})
}

func (s *Server) unshareZone(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.teamAction(w, r, a, teamBody{}, "zone_unshared", func(a core.Auth) (string, error) {
		return "", s.svc.UnshareZone(r.Context(), a, r.PathValue("zone"), r.PathValue("id"), httpapi.Meta(r))
	})
}
