package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// Resetting two-factor (SPEC §1 story 4): an operator asks for it on a
// confirmation page of its own, with their own second factor; the holder
// sees the waiting reset on their security page and can cancel it there.

func (s *Server) adminResetPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderAdminReset(w, r, a, http.StatusOK, "")
}

func (s *Server) renderAdminReset(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg string) {
	id := r.PathValue("id")
	sum, me, ok := s.adminTarget(w, r, a, id)
	if !ok {
		return
	}
	self := "/admin/users/" + id + "/reset-two-factor"
	b := confirmBody{Heading: "Reset two-factor of “" + sum.Account.Username + "”?", Action: self, Cancel: "/admin/users/" + id,
		Button: "Reset two-factor", Danger: true, Fields: map[string]string{onceField: s.onceToken(r, a, bound(onceReset, id))}}
	b.Text = []string{"Their authenticators, recovery codes, paper key and SSH keys will be removed and they will be signed out everywhere. They can then sign in with their password alone and set up two-factor again."}
	told, why, err := s.svc.ResetNotice(r.Context(), id)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	if d := s.svc.ResetDelay(); d > 0 {
		b.Text = append(b.Text, fmt.Sprintf("The reset waits %s, until %s. Should they sign in with an authenticator, a recovery code, the paper key or an SSH key meanwhile, it is withdrawn.",
			durationText(d), core.TimeText(s.svc.Now().Add(d))))
		if told {
			b.Text = append(b.Text, "They are emailed now and can cancel it until then, should someone else have asked for it in their name.")
		}
	} else {
		b.Text = append(b.Text, "This server carries resets out at once.")
	}
	b.Warning = "Do this only once you have made sure, another way than this request, that you are dealing with the account holder."
	replaced, err := s.svc.EmailReplacedAt(r.Context(), id)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	if !replaced.IsZero() {
		// A new address, then a reset: how someone who talked operators
		// into both would take the account over.
		b.Warning += fmt.Sprintf(" An operator changed this account's email address on %s. Someone who is not the holder would ask for exactly that, then a reset: be sure the holder asked for both. The address it replaced is emailed about the reset too.",
			core.TimeText(replaced))
	}
	if !told {
		b.Warning += " They cannot be told of it: " + why + ". Nothing then stops a reset asked for in their name by someone else."
	}
	if !me.Enabled {
		errMsg = "Resetting two-factor needs two-factor on your own account, so that nobody with only your password or session can strip another account of it. Add an authenticator first."
		b.Button = ""
	}
	b.Elevation = s.elevationFor(r, a, me, self)
	s.render(w, r, status, "confirm", Page{Title: namedTitle("Reset two-factor", sum.Account.Username), Account: &a.Account, Error: errMsg, Body: b})
}

func (s *Server) adminReset(w http.ResponseWriter, r *http.Request, a core.Auth) {
	id := r.PathValue("id")
	refused := func(err error) { s.renderAdminReset(w, r, a, s.status(w, r, err), message(err)) }
	use, ok := s.once(r, a, bound(onceReset, id), refused, func(made string) { s.resetAgain(w, r, a, id, made) })
	if !ok {
		return
	}
	defer use.Done(r.Context(), "")
	err := s.elevateFromForm(w, r, &a)
	var reset core.RequestedReset
	if err == nil {
		reset, err = s.svc.RequestTwoFactorReset(r.Context(), a, id, httpapi.Meta(r))
	}
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		s.fail(w, r, &a, err)
		return
	}
	if err != nil {
		s.renderAdminReset(w, r, a, s.status(w, r, err), s.resetRefused(r, a, id, err))
		return
	}
	use.Done(r.Context(), id)
	m := "reset_requested"
	if !reset.Due.After(reset.RequestedAt) {
		m = "reset_done"
	}
	http.Redirect(w, r, "/admin/users/"+id+"?m="+m, http.StatusSeeOther)
}

// resetAgain answers a reset form sent again (once.go), such as by a
// double click: what its first sending asked for, and when that is due,
// rather than the conflict a reset already waiting is to any other request.
func (s *Server) resetAgain(w http.ResponseWriter, r *http.Request, a core.Auth, id, made string) {
	if made != id {
		s.renderAdminReset(w, r, a, http.StatusConflict, "This form was sent twice, and the first sending had not finished when the second arrived. Look at the account's page: once it shows the reset, it was asked for.")
		return
	}
	sum, _, ok := s.adminTarget(w, r, a, id)
	if !ok {
		return
	}
	b := confirmBody{Heading: "Reset of two-factor of “" + sum.Account.Username + "” asked for", Cancel: "/admin/users/" + id, CancelLabel: "Back"}
	if sum.Reset != nil {
		b.Text = []string{"This form was sent twice: its first sending asked for the reset, and nothing was asked for again. It is due on " + core.TimeText(sum.Reset.Due) + "."}
	} else {
		b.Text = []string{"This form was sent twice: its first sending asked for the reset, and nothing was asked for again. It waits no more: it was carried out or cancelled since."}
	}
	s.render(w, r, http.StatusOK, "confirm", Page{Title: namedTitle("Reset two-factor", sum.Account.Username), Account: &a.Account, Body: b})
}

// resetRefused says why a reset of account id was refused: a reset
// already waiting is told with its due time as the pages show times
// (core.TimeText), where core's message, also the API's and the command
// line's, says it in RFC 3339.
func (s *Server) resetRefused(r *http.Request, a core.Auth, id string, err error) string {
	if twofold.ErrorCode(err) == twofold.CodeConflict {
		sum, serr := s.svc.InspectAccount(r.Context(), a, id, 1)
		if serr == nil && sum.Reset != nil && !sum.Account.Suspended {
			return "A reset of this account's two-factor is already waiting, due " + core.TimeText(sum.Reset.Due) + ": cancel it first to ask for another."
		}
	}
	return message(err)
}

func (s *Server) adminCancelResetPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderAdminCancelReset(w, r, a, http.StatusOK, "")
}

func (s *Server) renderAdminCancelReset(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg string) {
	id := r.PathValue("id")
	sum, me, ok := s.adminTarget(w, r, a, id)
	if !ok {
		return
	}
	if sum.Reset == nil {
		http.Redirect(w, r, "/admin/users/"+id, http.StatusSeeOther)
		return
	}
	self := "/admin/users/" + id + "/reset-two-factor/cancel"
	b := confirmBody{Heading: "Cancel the reset of “" + sum.Account.Username + "”’s two-factor?", Action: self, Cancel: "/admin/users/" + id,
		Button: "Cancel the reset", CancelLabel: "Back"}
	b.Text = []string{resetText(sum.Reset), "Their authenticators, recovery codes, paper key and SSH keys will stay as they are. They are emailed."}
	b.Elevation = s.elevationFor(r, a, me, self)
	s.render(w, r, status, "confirm", Page{Title: namedTitle("Cancel reset", sum.Account.Username), Account: &a.Account, Error: errMsg, Body: b})
}

func (s *Server) adminCancelReset(w http.ResponseWriter, r *http.Request, a core.Auth) {
	id := r.PathValue("id")
	err := s.elevateFromForm(w, r, &a)
	if err == nil {
		err = s.svc.CancelTwoFactorResetFor(r.Context(), a, id, httpapi.Meta(r))
	}
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		http.Redirect(w, r, "/admin/users/"+id, http.StatusSeeOther) // no such account, or nothing waits any more
		return
	}
	if err != nil {
		s.renderAdminCancelReset(w, r, a, s.status(w, r, err), message(err))
		return
	}
	http.Redirect(w, r, "/admin/users/"+id+"?m=reset_cancelled", http.StatusSeeOther)
}

// adminTarget reads the account an operator acts on, and the operator's own
// profile, or answers the request itself and reports false.
func (s *Server) adminTarget(w http.ResponseWriter, r *http.Request, a core.Auth, id string) (core.AccountSummary, core.Profile, bool) {
	sum, err := s.svc.InspectAccount(r.Context(), a, id, 1)
	if err == nil {
		var me core.Profile
		if me, err = s.svc.Me(r.Context(), a); err == nil {
			return sum, me, true
		}
	}
	s.fail(w, r, &a, err)
	return core.AccountSummary{}, core.Profile{}, false
}

func (s *Server) cancelResetPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderCancelReset(w, r, a, http.StatusOK, "")
}

func (s *Server) renderCancelReset(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg string) {
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	if p.Reset == nil {
		http.Redirect(w, r, "/settings/security", http.StatusSeeOther)
		return
	}
	self := "/settings/security/reset/cancel"
	b := confirmBody{Heading: "Cancel the reset of your two-factor?", Action: self, Cancel: "/settings/security", Button: "Cancel the reset", CancelLabel: "Back"}
	b.Text = []string{resetText(p.Reset), "Cancelled, it leaves your authenticators, recovery codes, paper key and SSH keys as they are."}
	b.Warning = "If you did not ask for this reset, someone else may have: once it is cancelled, change your password."
	b.Elevation = s.elevationFor(r, a, p, self)
	s.render(w, r, status, "confirm", Page{Title: "Cancel reset", Account: &a.Account, Error: errMsg, Body: b})
}

func (s *Server) cancelReset(w http.ResponseWriter, r *http.Request, a core.Auth) {
	err := s.elevateFromForm(w, r, &a)
	if err == nil {
		err = s.svc.CancelTwoFactorReset(r.Context(), a, httpapi.Meta(r))
	}
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		http.Redirect(w, r, "/settings/security", http.StatusSeeOther) // carried out or cancelled meanwhile
		return
	}
	if err != nil {
		s.renderCancelReset(w, r, a, s.status(w, r, err), message(err))
		return
	}
	http.Redirect(w, r, "/settings/security?m=reset_cancelled", http.StatusSeeOther)
}

// resetText says who asked for a reset and when it falls due.
func resetText(r *twofold.TwoFactorReset) string {
	return fmt.Sprintf("A reset of two-factor was requested by %s on %s. It is due on %s.",
		r.RequestedBy, core.TimeText(r.RequestedAt), core.TimeText(r.Due))
}

// durationText says d in the largest whole unit that fits: "3 days", "12 hours", "90 minutes".
func durationText(d time.Duration) string {
	n, one, many := int(d/time.Minute), "minute", "minutes"
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		n, one, many = int(d/(24*time.Hour)), "day", "days"
	case d >= 2*time.Hour && d%time.Hour == 0:
		n, one, many = int(d/time.Hour), "hour", "hours"
	case d < time.Minute:
		n, one, many = int(d/time.Second), "second", "seconds"
	}
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
