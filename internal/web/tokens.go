package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// claimBody is the data of the page that adds a hardware token an operator
// imported (SPEC §2 HOTP). It never holds the token's secret.
type claimBody struct {
	Label, Serial string
	Elevation     *elevationBody // a code from another authenticator, when the session needs one
	Once          string         // the form's one-time token (once.go)
}

const claimPath = "/settings/security/token"

func (s *Server) claimPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderClaim(w, r, a, http.StatusOK, "", r.URL.Query().Get("label"), r.URL.Query().Get("serial"))
}

func (s *Server) renderClaim(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg, label, serial string) {
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b := claimBody{Label: label, Serial: serial, Elevation: s.elevationFor(r, a, p, claimPath), Once: s.onceToken(r, a, onceClaim)}
	if b.Elevation != nil {
		b.Elevation.Keep = url.Values{"label": {label}, "serial": {serial}}
	}
	s.render(w, r, status, "claim", Page{Title: "Add a hardware token", Account: &a.Account, Error: errMsg, Body: b})
}

// claim adds the hardware token named by the form's serial to the account,
// with the code it shows: at once active, and on the first factor with
// recovery codes and the paper key, shown once. With two-factor on, the
// form carries a code from another authenticator too. Sent twice, the
// form adds the token once, and the second answer tells of it
// (confirmedAgain).
func (s *Server) claim(w http.ResponseWriter, r *http.Request, a core.Auth) {
	label, serial := r.PostForm.Get("label"), r.PostForm.Get("serial")
	refused := func(err error) { s.renderClaim(w, r, a, s.status(w, r, err), message(err), label, serial) }
	// The form's token before all: a second sending checks no code.
	use, ok := s.onceUse(r, a, onceClaim, refused, func(u *core.FormUse) { s.confirmedAgain(w, r, a, u) })
	if !ok {
		return
	}
	defer use.Done(r.Context(), "")
	// The name first: a code given for elevation is spent once accepted.
	if err := s.svc.CheckFactorLabel(r.Context(), a, label); err != nil {
		if nameRefused(err) {
			markInvalid(r, "label")
		}
		refused(err)
		return
	}
	if err := s.elevateFromForm(w, r, &a); err != nil {
		s.renderClaim(w, r, a, s.status(w, r, err), message(err), label, serial)
		return
	}
	c, err := s.svc.ClaimToken(r.Context(), a, serial, r.PostForm.Get("code"), label, httpapi.Meta(r))
	switch {
	case twofold.ErrorCode(err) == twofold.CodeInvalidCode: // the serial or the code: one answer for both
		markInvalid(r, "code")
	case twofold.ErrorCode(err) == twofold.CodeInvalid && strings.TrimSpace(serial) == "":
		markInvalid(r, "serial")
	case twofold.ErrorCode(err) == twofold.CodeInvalid && strings.TrimSpace(r.PostForm.Get("code")) == "":
		markInvalid(r, "code")
	case nameRefused(err):
		markInvalid(r, "label")
	}
	if err != nil {
		refused(err)
		return
	}
	use.DoneConfirm(r.Context(), c)
	if len(c.RecoveryCodes) == 0 {
		http.Redirect(w, r, "/settings/security?m=factor_added", http.StatusSeeOther)
		return
	}
	s.renderCodes(w, r, a, codesBody{Codes: c.RecoveryCodes, PaperKey: c.PaperKey, First: true, Label: c.Factor.Label})
}
