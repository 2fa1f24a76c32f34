package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// Pages of the factors that are sent codes (SPEC §2 "SMS code", "email
// code"): adding a phone or an address from the security page, confirming
// it with the code sent, and asking for a code at the second step.

// sentBody is the data of the page that confirms a phone or an address.
type sentBody struct {
	Factor twofold.Factor
	// Elevation is the "confirm it's you" fields, nil while the session is
	// elevated: confirming the factor and sending it a new code both need
	// a fresh check once two-factor is on, and the 10 minutes of the check
	// that added it may well run out before the code arrives and is typed.
	Elevation *elevationBody
	Once      string // the confirmation form's one-time token (once.go)
}

// addSent adds a phone number (sms) or an address (email) and sends it a
// code; with two-factor on, a fresh check first.
func (s *Server) addSent(w http.ResponseWriter, r *http.Request, a core.Auth) {
	kind := sentKindOf(r.PostForm.Get("type"))
	dest, label := r.PostForm.Get("destination"), r.PostForm.Get("label")
	n := newSent(kind, dest, label)
	refused := func(err error) { s.renderSecurity(w, r, a, s.status(w, r, err), "", message(err), "") }
	// The form's token before all (enrol).
	use, ok := s.once(r, a, onceSent, refused, func(made string) { s.setupMadeBefore(w, r, a, made) })
	if !ok {
		return
	}
	defer use.Done(r.Context(), "")
	// The phone or address and the name first: a code given for
	// elevation is spent once accepted.
	if err := s.svc.CheckNewFactor(r.Context(), a, n); err != nil {
		if nameRefused(err) { // the phone or address, or the name made of it
			markInvalid(r, "destination")
		}
		refused(err)
		return
	}
	if err := s.elevateFromForm(w, r, &a); err != nil {
		s.askSent(w, r, a, kind, dest, label, s.status(w, r, err), message(err))
		return
	}
	e, err := s.svc.EnrolFactor(r.Context(), a, n, httpapi.Meta(r))
	if twofold.ErrorCode(err) == twofold.CodeElevationRequired {
		s.askSent(w, r, a, kind, dest, label, http.StatusOK, "")
		return
	}
	if err != nil {
		refused(err)
		return
	}
	use.Done(r.Context(), e.Factor.ID)
	http.Redirect(w, r, "/settings/security/sent/"+e.Factor.ID, http.StatusSeeOther)
}

// newSent is the phone (sms) or address (email) dest to add, called label.
func newSent(kind twofold.FactorType, dest, label string) core.NewFactor {
	n := core.NewFactor{Type: kind, Label: label}
	if kind == twofold.FactorSMS {
		n.Phone = dest
	} else {
		n.Email = dest
	}
	return n
}

// sentKindOf is the kind of factor the add form asks for: an address
// (email) when it says so, else a phone (sms).
func sentKindOf(v string) twofold.FactorType {
	if twofold.FactorType(v) == twofold.FactorEmail {
		return twofold.FactorEmail
	}
	return twofold.FactorSMS
}

// addSentPage is the page askSent shows, reached by the links of its
// "confirm it's you" fields to the other methods and by the return of
// their buttons ("Text me a code", "Send a push"), which carry the kind,
// the phone or address and the name. With nothing to confirm it goes to
// the security page, where the phone or address is added.
func (s *Server) addSentPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	q := r.URL.Query()
	kind, dest, label := sentKindOf(q.Get("type")), q.Get("destination"), q.Get("label")
	if dest != "" || label != "" { // told on the page, before a code is spent on them
		if err := s.svc.CheckNewFactor(r.Context(), a, newSent(kind, dest, label)); err != nil {
			s.askSent(w, r, a, kind, dest, label, s.status(w, r, err), message(err))
			return
		}
	}
	s.askSent(w, r, a, kind, dest, label, http.StatusOK, "")
}

// askSent asks to confirm it's the holder before the phone or address
// dest is added.
func (s *Server) askSent(w http.ResponseWriter, r *http.Request, a core.Auth, kind twofold.FactorType, dest, label string, status int, errMsg string) {
	// The phone or address is a hidden field: the heading shows it, since
	// a link may have filled it in.
	heading := map[twofold.FactorType]string{twofold.FactorSMS: "Add a phone?", twofold.FactorEmail: "Add an email address?"}[kind]
	if dest != "" {
		heading = map[twofold.FactorType]string{twofold.FactorSMS: "Add the phone “", twofold.FactorEmail: "Add the email address “"}[kind] + dest + "”?"
	}
	fields := map[string]string{"type": string(kind), "destination": dest, "label": label}
	keep := url.Values{"type": {fields["type"]}, "destination": {dest}, "label": {label}}
	fields[onceField] = s.onceToken(r, a, onceSent)
	// The title names it by its name, not the number or address, which
	// the browser's history would keep.
	title := "Add a phone or address"
	if label != "" {
		title = namedTitle(title, label)
	}
	s.askToConfirm(w, r, a, status, title, errMsg, confirmBody{
		Heading: heading,
		Action:  "/settings/security/sent", Cancel: "/settings/security", Button: "Send a code",
		Text:    []string{"A phone or an address that is sent codes can sign in to your account and approve its sensitive changes, so adding one needs a code from an authenticator you already have."},
		Fields:  fields,
		Keep:    keep,
		Unasked: "/settings/security",
	})
}

// sentPage asks for the code sent to a pending phone or address.
func (s *Server) sentPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderSent(w, r, a, http.StatusOK, notice(r), "")
}

func (s *Server) renderSent(w http.ResponseWriter, r *http.Request, a core.Auth, status int, note, errMsg string) {
	p, f, err := s.findFactor(r, a, r.PathValue("id"))
	if twofold.ErrorCode(err) == twofold.CodeNotFound || err == nil && (f.Status != twofold.FactorPending || !f.Type.SendsCodes()) {
		http.Redirect(w, r, "/settings/security?m=enrol_gone", http.StatusSeeOther)
		return
	}
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	// A setup whose session has ended, or that another session still
	// signed in started, cannot be confirmed here, nor be sent a new code:
	// the security page says which (as an app's setup page does) and
	// offers to cancel it.
	owners, err := s.svc.SetupOwners(r.Context(), a, []twofold.Factor{f})
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	switch owners[f.ID] {
	case core.SetupEnded:
		http.Redirect(w, r, "/settings/security?m=enrol_ended", http.StatusSeeOther)
		return
	case core.SetupOther:
		http.Redirect(w, r, "/settings/security?m=enrol_elsewhere", http.StatusSeeOther)
		return
	}
	title := "Confirm your phone"
	if f.Type == twofold.FactorEmail {
		title = "Confirm your email address"
	}
	b := sentBody{Factor: f, Elevation: s.elevationFor(r, a, p, "/settings/security/sent/"+f.ID), Once: s.onceToken(r, a, onceConfirm)}
	s.render(w, r, status, "sent", Page{Title: title, Account: &a.Account, Notice: note, Error: errMsg, Body: b})
}

// confirmSent activates a pending phone or address with the code sent to
// it, after a fresh check when the session needs one.
func (s *Server) confirmSent(w http.ResponseWriter, r *http.Request, a core.Auth) {
	refused := func(err error) { s.renderSent(w, r, a, s.status(w, r, err), "", message(err)) }
	// The form's token before all: a second sending checks no code
	// (confirmedAgain).
	use, ok := s.onceUse(r, a, onceConfirm, refused, func(u *core.FormUse) { s.confirmedAgain(w, r, a, u) })
	if !ok {
		return
	}
	defer use.Done(r.Context(), "")
	if err := s.elevateFromForm(w, r, &a); err != nil {
		s.renderSent(w, r, a, s.status(w, r, err), "", message(err))
		return
	}
	c, err := s.svc.ConfirmFactor(r.Context(), a, r.PathValue("id"), r.PostForm.Get("code"), httpapi.Meta(r))
	markInvalidOn(r, err, "code", twofold.CodeInvalidCode, twofold.CodeInvalid)
	switch {
	case twofold.ErrorCode(err) == twofold.CodeConflict:
		http.Redirect(w, r, "/settings/security?m=enrol_gone", http.StatusSeeOther)
	case err != nil:
		refused(err)
	case len(c.RecoveryCodes) == 0:
		use.DoneConfirm(r.Context(), c)
		http.Redirect(w, r, "/settings/security?m=factor_added", http.StatusSeeOther)
	default:
		use.DoneConfirm(r.Context(), c)
		s.renderCodes(w, r, a, codesBody{Codes: c.RecoveryCodes, PaperKey: c.PaperKey, First: true, Label: c.Factor.Label})
	}
}

// resendSent sends a pending phone or address a new code, after a fresh
// check when the session needs one.
func (s *Server) resendSent(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.elevateFromForm(w, r, &a); err != nil {
		s.renderSent(w, r, a, s.status(w, r, err), "", message(err))
		return
	}
	if _, err := s.svc.ResendConfirmation(r.Context(), a, r.PathValue("id"), "", httpapi.Meta(r)); err != nil {
		s.renderSent(w, r, a, s.status(w, r, err), "", message(err))
		return
	}
	http.Redirect(w, r, "/settings/security/sent/"+r.PathValue("id")+"?m=code_sent", http.StatusSeeOther)
}

// sendLoginCode sends a code for the second step to the phone or address
// the form names, then asks for it. The code_secret of this browser's
// codes for the login, kept in a cookie, makes it a resend: a code another
// requester asked for, still live, is not replaced (core's deliverCode),
// and the page then asks for that code, which went to the owner's phone or
// address all the same.
func (s *Server) sendLoginCode(w http.ResponseWriter, r *http.Request) {
	loginID := s.cookieLogin(r, loginCookie)
	if loginID == "" {
		http.Redirect(w, r, "/login?m=expired", http.StatusSeeOther)
		return
	}
	method, next := twofold.Method(r.PostForm.Get("method")), safeNext(r.PostForm.Get("next"))
	c, err := s.svc.ChallengeLogin(r.Context(), loginID, method, r.PostForm.Get("factor_id"), s.cookieValue(r, loginCodeCookie), httpapi.Meta(r))
	if twofold.ErrorCode(err) == twofold.CodeLoginExpired {
		s.loginExpired(w, r)
		return
	}
	if c.Secret != "" { // also beside an error, when the text may still arrive
		s.setCookie(w, r, loginCodeCookie, c.Secret, "/login")
	}
	if twofold.ErrorCode(err) == twofold.CodeConflict && (method == twofold.MethodSMS || method == twofold.MethodEmail) {
		s.renderVerifySent(w, r, s.status(w, r, err), method, next, codeBusyMessage(err, method, "sign in another way below"), yourDestination(method))
		return
	}
	if err != nil {
		s.renderVerifySent(w, r, s.status(w, r, err), method, next, message(err), "")
		return
	}
	s.renderVerifySent(w, r, http.StatusOK, method, next, "", c.SentTo)
}

// yourDestination names where a code of method goes, unmasked by nothing.
func yourDestination(method twofold.Method) string {
	if method == twofold.MethodEmail {
		return "your address"
	}
	return "your phone"
}

// codeBusyMessage is the page's answer to a code that was not sent because
// a code for the same purpose, which this browser did not ask for, still
// works (core's deliverCode): type that one, or do other instead.
func codeBusyMessage(err error, method twofold.Method, other string) string {
	wait := "a few minutes"
	var te *twofold.Error
	if errors.As(err, &te) && te.RetryAfter > 0 {
		wait = waitText(te.RetryAfter)
	}
	what := "text message"
	if method == twofold.MethodEmail {
		what = "mail"
	}
	return fmt.Sprintf("A code was already sent to %s, though not at this browser's asking, and it still works: enter the code from that %s. Or %s, or wait %s and ask for a new one.", yourDestination(method), what, other, wait)
}
