package web

import (
	"net/http"
	"strings"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// An operator's change of another account (a reset, a suspension, a
// sign-out, a key revoked) is asked for on a confirmation page of its own
// and made with the operator's own fresh second factor; these two serve
// every such page.

// renderOperatorConfirm shows b, the confirmation of a change an operator
// makes to another account, with the "confirm it's you" box; an operator
// without two-factor is told to add it first (needs names the change) and
// offered no button.
func (s *Server) renderOperatorConfirm(w http.ResponseWriter, r *http.Request, a core.Auth, me core.Profile, status int, title, errMsg, needs string, b confirmBody) {
	if !me.Enabled {
		errMsg, b.Button = needs+" needs two-factor on your own account. Add an authenticator first.", ""
	}
	b.Elevation = s.elevationFor(r, a, me, b.Action)
	if b.Elevation != nil {
		b.Elevation.Keep = b.Keep
	}
	s.render(w, r, status, "confirm", Page{Title: title, Account: &a.Account, Error: errMsg, Body: b})
}

// namedTitle is the <title> of a page that acts on one thing (an account,
// an authenticator, a key, a team, a webhook): the action, then what it
// acts on ("Suspend account — alice"), so that tabs and the browser's
// history tell the same action on two things apart. The page's heading
// names it too; render escapes both.
func namedTitle(action, name string) string {
	return action + " — " + name
}

// operatorAct makes a change an operator confirmed: it elevates the session
// with the form's code, runs act, and goes back to the account's page with
// the notice done, or the one act returns in its place (a change that was
// not needed), or, when done is a path, to that path; a refusal shows the
// confirmation again (again), an unknown account or key is a 404.
func (s *Server) operatorAct(w http.ResponseWriter, r *http.Request, a core.Auth, act func(core.Auth, core.Meta) (string, error), again func(status int, errMsg string), done string) {
	err := s.elevateFromForm(w, r, &a)
	if err == nil {
		var instead string
		if instead, err = act(a, httpapi.Meta(r)); instead != "" {
			done = instead
		}
	}
	switch {
	case twofold.ErrorCode(err) == twofold.CodeNotFound:
		s.fail(w, r, &a, err)
	case err != nil:
		again(s.status(w, r, err), message(err))
	case strings.HasPrefix(done, "/"):
		http.Redirect(w, r, done, http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/admin/users/"+r.PathValue("id")+"?m="+done, http.StatusSeeOther)
	}
}
