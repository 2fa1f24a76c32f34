package web

import (
	"net/http"

	"github.com/twofold/twofold/internal/core"
)

// Suspending an account, and lifting a suspension: an operator asks for
// either on a confirmation page of its own, with their own second factor,
// as for a reset of two-factor (reset.go); core.SetSuspended says what
// each does.

func (s *Server) adminSuspendPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderAdminSuspend(w, r, a, true, http.StatusOK, "")
}

func (s *Server) adminUnsuspendPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderAdminSuspend(w, r, a, false, http.StatusOK, "")
}

// renderAdminSuspend shows the page that confirms suspending the account
// of the path, or with on false lifting its suspension.
func (s *Server) renderAdminSuspend(w http.ResponseWriter, r *http.Request, a core.Auth, on bool, status int, errMsg string) {
	id := r.PathValue("id")
	sum, me, ok := s.adminTarget(w, r, a, id)
	if !ok {
		return
	}
	name := "“" + sum.Account.Username + "”"
	title := "Suspend account"
	b := confirmBody{Action: "/admin/users/" + id + "/suspend", Cancel: "/admin/users/" + id,
		Heading: "Suspend " + name + "?", Button: "Suspend the account", Danger: true}
	b.Text = []string{
		"They are signed out everywhere at once, and cannot sign in until the suspension is lifted.",
		"Their API keys, and the tokens made with them, stop working.",
		"A reset of their two-factor that is waiting is cancelled, and a password-reset link sent to them stops working.",
	}
	if sum.Reset != nil {
		b.Text[2] = resetText(sum.Reset) + " It is cancelled, and a password-reset link sent to them stops working."
	}
	if !on {
		title, b.Action, b.Heading, b.Button, b.Danger = "Lift suspension", "/admin/users/"+id+"/unsuspend", "Lift the suspension of "+name+"?", "Lift the suspension", false
		b.Text = []string{"They can sign in again, and their API keys work again. No session comes back: they sign in afresh."}
	}
	told, why, err := s.svc.ResetNotice(r.Context(), id)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	if told {
		b.Text = append(b.Text, "They are emailed.")
	} else {
		b.Text = append(b.Text, "They cannot be told of it: "+why+".")
	}
	switch {
	case on && sum.Account.Suspended:
		errMsg, b.Button = "This account is suspended already.", ""
	case !on && !sum.Account.Suspended:
		errMsg, b.Button = "This account is not suspended.", ""
	case on && (sum.Account.Operator || id == a.Account.ID):
		errMsg, b.Button = "An operator's account is not suspended: make it no longer an operator first (twofold user operator USERNAME --remove).", ""
		if id == a.Account.ID {
			errMsg = "You cannot suspend your own account."
		}
	}
	s.renderOperatorConfirm(w, r, a, me, status, namedTitle(title, sum.Account.Username), errMsg, "Suspending an account, or lifting a suspension,", b)
}

func (s *Server) adminSuspend(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.setSuspended(w, r, a, true)
}

func (s *Server) adminUnsuspend(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.setSuspended(w, r, a, false)
}

// setSuspended suspends the account of the path, or with on false lifts
// its suspension, with the operator's own fresh second factor.
func (s *Server) setSuspended(w http.ResponseWriter, r *http.Request, a core.Auth, on bool) {
	done := "suspended"
	if !on {
		done = "unsuspended"
	}
	s.operatorAct(w, r, a, func(a core.Auth, m core.Meta) (string, error) {
		_, changed, err := s.svc.SetSuspended(r.Context(), a, r.PathValue("id"), on, m)
		if err == nil && !changed {
			// A form sent again (a reload, a double click, another
			// operator first): nothing to do, and the page says so.
			return "already_" + done, nil
		}
		return "", err
	}, func(status int, errMsg string) { s.renderAdminSuspend(w, r, a, on, status, errMsg) }, done)
}
