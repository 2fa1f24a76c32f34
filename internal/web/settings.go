package web

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/skip2/go-qrcode"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// lowRecoveryCodes is the count at which the page warns (SPEC §1 story 4).
const lowRecoveryCodes = 3

// securityBody is the data of /settings/security.
type securityBody struct {
	Profile core.Profile
	Active  []twofold.Factor
	Pending []twofold.Factor
	// Elsewhere holds the ids of the pending setups another session,
	// still signed in, started: only it can finish them.
	Elsewhere map[string]bool
	// Ended holds the ids of the pending setups whose session has ended:
	// no session can finish them any more, any can cancel them.
	Ended map[string]bool
	// Expired holds the ids of the stale pending setups
	// (core.PendingSetupTTL): they hold no name and no place among the
	// unfinished setups, and the next setup removes them.
	Expired  map[string]bool
	Events   []twofold.AuditEvent
	LowCodes bool
	Label    string // the label field of the enrol form
	// Invitations counts the invitations to teams waiting for the
	// account's answer, shown on the page people land on after sign-in.
	Invitations int
	// Once holds the one-time tokens of the forms that add an
	// authenticator, by purpose (once.go).
	Once map[string]string
	// Typed is, when the page answers one of its forms refused, what that
	// form sent, by the id of the field on this page, for the fields to
	// show again (securityTyped); nil otherwise.
	Typed map[string]string
}

// securityTyped returns what the form of r, one of the security page's
// forms (adding an authenticator, a phone or address, a security key, a
// push device; renaming one), sent, by the id of its field on that page,
// so that the page shown again after a refusal keeps it. Nothing for a
// GET, or for another form (the add form's name goes in Label). None of
// these fields is a secret.
func securityTyped(r *http.Request) map[string]string {
	if r.Method != http.MethodPost {
		return nil
	}
	f := r.PostForm
	switch path := r.URL.Path; {
	case path == "/settings/security/totp":
		return map[string]string{"type": f.Get("type")}
	case path == "/settings/security/sent":
		return map[string]string{"destination": f.Get("destination"), "sent-type": f.Get("type")}
	case path == "/settings/security/webauthn":
		return map[string]string{"key-label": f.Get("label")}
	case path == pushPath:
		return map[string]string{"push-label": f.Get("label")}
	case strings.HasSuffix(path, "/rename") && r.PathValue("id") != "":
		return map[string]string{"rename-" + r.PathValue("id"): f.Get("label")}
	}
	return nil
}

func (s *Server) security(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderSecurity(w, r, a, http.StatusOK, notice(r), "", "")
}

func (s *Server) renderSecurity(w http.ResponseWriter, r *http.Request, a core.Auth, status int, notice, errMsg, label string) {
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	evs, err := s.svc.Events(r.Context(), a, twofold.EventQuery{Limit: 8})
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	invitations, err := s.svc.MyInvitations(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	owners, err := s.svc.SetupOwners(r.Context(), a, p.Factors)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	stale, err := s.svc.StaleSetups(r.Context(), a, p.Factors)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b := securityBody{Profile: p, Events: evs, Label: label, Invitations: len(invitations), Typed: securityTyped(r),
		Elsewhere: map[string]bool{}, Ended: map[string]bool{}, Expired: stale, Once: map[string]string{}}
	for _, purpose := range []string{onceEnrol, onceSent, onceKey, oncePush} {
		b.Once[purpose] = s.onceToken(r, a, purpose)
	}
	for _, f := range p.Factors {
		if f.Status == twofold.FactorActive {
			b.Active = append(b.Active, f)
			continue
		}
		b.Pending = append(b.Pending, f)
		switch owners[f.ID] {
		case core.SetupOther:
			b.Elsewhere[f.ID] = true
		case core.SetupEnded:
			b.Ended[f.ID] = true
		}
	}
	b.LowCodes = p.Enabled && p.RecoveryCodesRemaining <= lowRecoveryCodes
	if notice != "" && notice == notices["recovery_used"] {
		notice = recoveryUsedNotice(p.RecoveryCodesRemaining)
	}
	s.render(w, r, status, "security", Page{Title: "Security", Account: &p.Account, Notice: notice, Error: errMsg, Body: b})
}

// recoveryUsedNotice is the notice of a sign-in with a recovery code
// (?m=recovery_used), with how many codes are left, read as the page is
// shown, and from lowRecoveryCodes left the warning to make a new set
// (SPEC §1 story 4).
func recoveryUsedNotice(left int) string {
	var b strings.Builder
	b.WriteString("You signed in with a recovery code. Each code works once: ")
	if left == 0 {
		b.WriteString("you have none left.")
	} else {
		fmt.Fprintf(&b, "%d %s left.", left, pluralWord(left, "code is", "codes are"))
	}
	if left <= lowRecoveryCodes {
		b.WriteString(" Generate a new set below and keep it somewhere safe.")
	}
	b.WriteString(" Every other session of your account was signed out, in case a lost or stolen device still held one." +
		" If you lost your authenticator, remove it and add a new one below.")
	return b.String()
}

// enrol starts the setup of an authenticator: an app (TOTP, SPEC §1 story
// 1) or a hardware token (HOTP). With two-factor on, that needs a fresh
// check: without one it asks for a code first, on a page of its own.
func (s *Server) enrol(w http.ResponseWriter, r *http.Request, a core.Auth) {
	label, kind := r.PostForm.Get("label"), factorKindOf(r.PostForm.Get("type"))
	if r.PostForm.Get("type") == "token" { // a token an operator imported: asks its serial and code
		http.Redirect(w, r, claimPath+"?"+url.Values{"label": {label}}.Encode(), http.StatusSeeOther)
		return
	}
	refused := func(err error) { s.renderSecurity(w, r, a, s.status(w, r, err), "", message(err), label) }
	// The form's token before all: the setup a first sending started
	// holds the name, which a second sending would be refused.
	use, ok := s.once(r, a, onceEnrol, refused, func(made string) { s.setupMadeBefore(w, r, a, made) })
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
		s.renderAddAnother(w, r, a, label, kind, s.status(w, r, err), message(err))
		return
	}
	e, err := s.svc.EnrolFactor(r.Context(), a, core.NewFactor{Type: kind, Label: label}, httpapi.Meta(r))
	if twofold.ErrorCode(err) == twofold.CodeElevationRequired {
		s.renderAddAnother(w, r, a, label, kind, http.StatusOK, "")
		return
	}
	if err != nil {
		refused(err)
		return
	}
	use.Done(r.Context(), e.Factor.ID)
	http.Redirect(w, r, "/settings/security/totp/"+e.Factor.ID, http.StatusSeeOther)
}

// setupMadeBefore answers the second sending of a form that adds an
// authenticator, whose first sending started the setup made (or had not
// finished, made ""): the second starts none, and goes on with the
// first's, which this session started and so may finish
// (core.PendingEnrolment): the setup page of an app, a hardware token, a
// phone or an address, or of a security key (which begins its
// registration anew). A push device's enrolment code was shown once, in
// the answer the browser dropped: the page offers a new one.
func (s *Server) setupMadeBefore(w http.ResponseWriter, r *http.Request, a core.Auth, made string) {
	if made == "" {
		s.renderSecurity(w, r, a, http.StatusConflict, "", "This form was sent twice, and the first sending had not finished when the second arrived. If the authenticator is listed below as not finished, finish or cancel its setup there.", "")
		return
	}
	_, f, err := s.findFactor(r, a, made)
	if twofold.ErrorCode(err) == twofold.CodeNotFound || err == nil && f.Status != twofold.FactorPending {
		http.Redirect(w, r, "/settings/security?m=enrol_gone", http.StatusSeeOther)
		return
	}
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	switch {
	case f.Type == twofold.FactorPush:
		s.askToConfirm(w, r, a, http.StatusOK, namedTitle("Add a push device", f.Label), "", confirmBody{
			Heading: "The push device “" + f.Label + "” was already added",
			Action:  pushPath + "/" + f.ID + "/renew", Cancel: "/settings/security", Button: "Show a new enrolment code",
			Text: []string{"The form was sent twice (a second press of the button, say). The first sending added the push device “" + f.Label + "”; the second added nothing.",
				"Its enrolment code was shown only in the answer to the first sending, which your browser may not have shown. Show a new code to enrol the device: the first one stops working."},
		})
	case f.Type == twofold.FactorWebAuthn:
		http.Redirect(w, r, keysPath+f.ID, http.StatusSeeOther)
	case f.Type.SendsCodes():
		http.Redirect(w, r, "/settings/security/sent/"+f.ID, http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/settings/security/totp/"+f.ID, http.StatusSeeOther)
	}
}

// addAnotherPage is the page renderAddAnother shows, reached by its links to
// the other ways of confirming, which carry the name typed for the new
// authenticator. The name is checked as the form's would be, so that a bad
// one is told before a code is spent on it.
func (s *Server) addAnotherPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	label, kind := r.URL.Query().Get("label"), factorKindOf(r.URL.Query().Get("type"))
	if label != "" {
		if err := s.svc.CheckFactorLabel(r.Context(), a, label); err != nil {
			if nameRefused(err) {
				markInvalid(r, "label")
			}
			s.renderAddAnother(w, r, a, label, kind, s.status(w, r, err), message(err))
			return
		}
	}
	s.renderAddAnother(w, r, a, label, kind, http.StatusOK, "")
}

// factorKindOf is the kind of authenticator the add form asks for: a
// hardware token (HOTP) when it says so, else an app (TOTP).
func factorKindOf(v string) twofold.FactorType {
	if twofold.FactorType(v) == twofold.FactorHOTP {
		return twofold.FactorHOTP
	}
	return twofold.FactorTOTP
}

// renderAddAnother asks for a code before another authenticator is added.
func (s *Server) renderAddAnother(w http.ResponseWriter, r *http.Request, a core.Auth, label string, kind twofold.FactorType, status int, errMsg string) {
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	self := "/settings/security/totp"
	b := confirmBody{
		Heading: "Add another authenticator?", Action: self, Cancel: "/settings/security", Button: "Continue",
		Text:     []string{"An authenticator can sign in to your account and approve its sensitive changes, so adding one needs a code from one you already have."},
		AskLabel: true, Label: label, Elevation: s.elevationFor(r, a, p, self),
		Fields: map[string]string{"type": string(kind), onceField: s.onceToken(r, a, onceEnrol)},
	}
	if b.Elevation == nil && r.Method == http.MethodGet { // nothing to confirm: add it from the settings
		http.Redirect(w, r, "/settings/security", http.StatusSeeOther)
		return
	}
	if b.Elevation != nil && label != "" {
		b.Elevation.Keep = url.Values{"label": {label}}
	}
	if b.Elevation != nil && kind == twofold.FactorHOTP {
		if b.Elevation.Keep == nil {
			b.Elevation.Keep = url.Values{}
		}
		b.Elevation.Keep.Set("type", string(kind))
	}
	s.render(w, r, status, "confirm", Page{Title: "Add an authenticator app", Account: &a.Account, Error: errMsg, Body: b})
}

// enrolBody is the data of the enrolment page. It holds the secret: the page
// is never cached and nothing of it is logged. The core shows the secret
// only to a session that may add the factor (elevated, on an account with
// two-factor on), so the confirmation form needs no "confirm it's you"
// fields: when the elevation lapses meanwhile, confirming it fails and the
// page asks for them instead of showing the secret.
type enrolBody struct {
	Factor     twofold.Factor
	Secret     []string     // in groups of four
	OTPAuthURI template.URL // otpauth://…, built by the core, not from input
	Period     int
	QRURL      string
	ConfirmURL string
	CancelURL  string
	CancelOnce string // the cancel form's one-time token, the remove form's (remove)
	Once       string // the confirmation form's one-time token (once.go)
}

func (s *Server) enrolPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderEnrol(w, r, a, http.StatusOK, "")
}

// otherSetupNotice returns the notice for a setup page this session may
// not use, the pending setup id being another session's: enrol_ended when
// that session has ended (this browser's own, expired or signed out
// mid-way, most often), which the security page offers to cancel, else
// enrol_elsewhere. When that cannot be told, enrol_elsewhere.
func (s *Server) otherSetupNotice(r *http.Request, a core.Auth, id string) string {
	fs, err := s.svc.Factors(r.Context(), a.Account.ID)
	var owners map[string]core.SetupOwner
	if err == nil {
		fs = slices.DeleteFunc(fs, func(f twofold.Factor) bool { return f.ID != id })
		owners, err = s.svc.SetupOwners(r.Context(), a, fs)
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "whose setup", "request_id", httpapi.RequestID(r.Context()), "err", err)
		return "enrol_elsewhere"
	}
	if owners[id] == core.SetupEnded {
		return "enrol_ended"
	}
	return "enrol_elsewhere"
}

// renderEnrol shows the setup page of a pending authenticator: its secret
// and the form that confirms it, or, when the session must confirm it's
// the holder first (core.PendingEnrolment), the "confirm it's you" fields
// in the secret's place. A setup another session started goes back to the
// security page, which says so and offers to cancel it and start again.
func (s *Server) renderEnrol(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg string) {
	e, err := s.svc.PendingEnrolment(r.Context(), a, r.PathValue("id"))
	if errors.Is(err, core.ErrOtherSession) {
		http.Redirect(w, r, "/settings/security?m="+s.otherSetupNotice(r, a, r.PathValue("id")), http.StatusSeeOther)
		return
	}
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		http.Redirect(w, r, "/settings/security?m=enrol_gone", http.StatusSeeOther)
		return
	}
	if twofold.ErrorCode(err) == twofold.CodeElevationRequired {
		s.renderEnrolElevation(w, r, a, status, errMsg)
		return
	}
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	base := "/settings/security/totp/" + e.Factor.ID
	b := enrolBody{
		Factor: e.Factor, Secret: groupsOf4(e.Secret), OTPAuthURI: template.URL(e.OTPAuthURI), Period: int(e.Factor.Period.Seconds()),
		QRURL: base + "/qr.png", ConfirmURL: base + "/confirm", CancelURL: "/settings/security/factors/" + e.Factor.ID + "/remove",
		CancelOnce: s.sameToken(r, a, bound(onceRemove, e.Factor.ID)), Once: s.onceToken(r, a, onceConfirm),
	}
	title := "Add an authenticator app"
	if e.Factor.Type == twofold.FactorHOTP {
		title = "Add a hardware token"
	}
	s.render(w, r, status, "enrol", Page{Title: title, Account: &a.Account, Error: errMsg, Invalid: typedField(r, status, errMsg, "code"), Body: b})
}

// renderEnrolElevation asks a session that is not elevated to confirm it's
// the holder before the setup page of a pending authenticator shows its
// secret; the form posts to enrolElevate.
func (s *Server) renderEnrolElevation(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg string) {
	p, f, err := s.findFactor(r, a, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	self := "/settings/security/totp/" + f.ID
	b := confirmBody{
		Heading: "Continue adding “" + f.Label + "”?", Action: self, Button: "Continue", Cancel: "/settings/security",
		Text:      []string{"The key of an authenticator being set up can make codes for your account once it is confirmed, so it is shown only after a code from an authenticator you already have."},
		Elevation: s.elevationFor(r, a, p, self),
	}
	s.render(w, r, status, "confirm", Page{Title: namedTitle("Add an authenticator", f.Label), Account: &a.Account, Error: errMsg, Body: b})
}

// enrolElevate takes the "confirm it's you" fields of renderEnrolElevation
// and goes back to the setup page, which then shows the secret (or, when
// nothing was answered, asks again).
func (s *Server) enrolElevate(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.elevateFromForm(w, r, &a); err != nil {
		s.renderEnrol(w, r, a, s.status(w, r, err), message(err))
		return
	}
	http.Redirect(w, r, "/settings/security/totp/"+url.PathEscape(r.PathValue("id")), http.StatusSeeOther)
}

// enrolQR serves the QR code of a pending factor's otpauth:// URI as PNG.
func (s *Server) enrolQR(w http.ResponseWriter, r *http.Request, a core.Auth) {
	e, err := s.svc.PendingEnrolment(r.Context(), a, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	png, err := qrcode.Encode(e.OTPAuthURI, qrcode.Medium, 320)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(png)))
	w.Write(png)
}

// confirm activates a pending factor with a code from it; on the first
// factor it shows the recovery codes and the paper key, once. Sent twice,
// the form confirms once, and the second answer tells of it
// (confirmedAgain).
func (s *Server) confirm(w http.ResponseWriter, r *http.Request, a core.Auth) {
	refused := func(err error) { s.renderEnrol(w, r, a, s.status(w, r, err), message(err)) }
	// The form's token before all: a second sending checks no code.
	use, ok := s.onceUse(r, a, onceConfirm, refused, func(u *core.FormUse) { s.confirmedAgain(w, r, a, u) })
	if !ok {
		return
	}
	defer use.Done(r.Context(), "")
	if err := s.elevateFromForm(w, r, &a); err != nil {
		s.renderEnrol(w, r, a, s.status(w, r, err), message(err))
		return
	}
	c, err := s.svc.ConfirmFactor(r.Context(), a, r.PathValue("id"), r.PostForm.Get("code"), httpapi.Meta(r))
	if twofold.ErrorCode(err) == twofold.CodeConflict {
		http.Redirect(w, r, "/settings/security?m=enrol_gone", http.StatusSeeOther)
		return
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

func (s *Server) rename(w http.ResponseWriter, r *http.Request, a core.Auth) {
	changed, err := s.svc.RenameFactor(r.Context(), a, r.PathValue("id"), r.PostForm.Get("label"), httpapi.Meta(r))
	if err != nil {
		if twofold.ErrorCode(err) == twofold.CodeNotFound {
			err = errNoAuthenticator() // the store's word is "factor"
		}
		if nameRefused(err) {
			markInvalid(r, "rename-"+r.PathValue("id"))
		}
		s.renderSecurity(w, r, a, s.status(w, r, err), "", "Renaming failed: "+message(err), "")
		return
	}
	if !changed {
		http.Redirect(w, r, "/settings/security?m=name_same", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/settings/security?m=renamed", http.StatusSeeOther)
}

// findFactor returns one of the caller's factors and the profile it is part of.
func (s *Server) findFactor(r *http.Request, a core.Auth, id string) (core.Profile, twofold.Factor, error) {
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		return p, twofold.Factor{}, err
	}
	for _, f := range p.Factors {
		if f.ID == id {
			return p, f, nil
		}
	}
	return p, twofold.Factor{}, errNoAuthenticator()
}

// errNoAuthenticator is the pages' answer for an authenticator that is not
// the caller's, or no longer is.
func errNoAuthenticator() error {
	return twofold.Errorf(twofold.CodeNotFound, "no such authenticator: it may have been removed already")
}

// removePage asks to confirm removing a factor, with a fresh code when the
// session is not elevated (SPEC §1 story 5).
func (s *Server) removePage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderRemove(w, r, a, http.StatusOK, "")
}

func (s *Server) renderRemove(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg string) {
	id := r.PathValue("id")
	p, f, err := s.findFactor(r, a, id)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	self := "/settings/security/factors/" + id + "/remove"
	// The one-time token, bound to the session and this factor, tells a
	// second sending of the form from any other request (remove); the
	// label names the factor on the page of a lost renewal (sentBefore).
	b := confirmBody{Action: self, Cancel: "/settings/security", Danger: true,
		Fields: map[string]string{onceField: s.sameToken(r, a, bound(onceRemove, id)), "label": f.Label}}
	if f.Status == twofold.FactorPending {
		elsewhere, err := s.svc.SetupElsewhere(r.Context(), a, f)
		if err != nil {
			s.fail(w, r, &a, err)
			return
		}
		if elsewhere {
			// Another session's setup, perhaps a thief's: cancelled
			// from here once this session has confirmed it's the
			// holder (core.DeleteFactor), which an account without an
			// active factor cannot.
			if !p.Enabled {
				http.Redirect(w, r, "/settings/security?m=enrol_elsewhere", http.StatusSeeOther)
				return
			}
			b.Heading, b.Button = "Cancel the setup of “"+f.Label+"”, started in another session?", "Cancel setup"
			b.Text = []string{"This authenticator is being set up in another browser or app that is signed in to your account. It was never confirmed, so it does not protect your account, and cancelling it cannot be undone.",
				"If you did not start it, someone else may be signed in as you: after cancelling it, review your sessions and change your password."}
			b.Elevation = s.elevationFor(r, a, p, self)
			s.render(w, r, status, "confirm", Page{Title: namedTitle("Cancel setup", f.Label), Account: &a.Account, Error: errMsg, Body: b})
			return
		}
		b.Heading, b.Button = "Cancel the setup of “"+f.Label+"”?", "Cancel setup"
		b.Text = []string{"This authenticator was never confirmed, so it does not protect your account yet."}
		b.Cancel = setupPage(f)
		s.render(w, r, status, "confirm", Page{Title: namedTitle("Cancel setup", f.Label), Account: &a.Account, Error: errMsg, Body: b})
		return
	}
	b.Heading, b.Button = "Remove “"+f.Label+"”?", "Remove"
	active := 0
	for _, g := range p.Factors {
		if g.Status == twofold.FactorActive {
			active++
		}
	}
	if active == 1 && f.Status == twofold.FactorActive && len(p.RequiredBy) > 0 {
		// core refuses it (keepTeamFactor): say why, with no button, nor a
		// code asked for, that could only lead to that refusal.
		b.Button, b.CancelLabel = "", "Back"
		b.Text = []string{"This is your only authenticator, and the team “" + p.RequiredBy[0] + "” requires two-factor of its members: add another authenticator before removing this one, or leave the team."}
		s.render(w, r, status, "confirm", Page{Title: namedTitle("Remove authenticator", f.Label), Account: &a.Account, Error: errMsg, Body: b})
		return
	}
	gone := "Codes from this authenticator will stop working at once."
	if f.Type == twofold.FactorPush {
		// Nor has a push device: what stops is its sign-in requests.
		gone = "This device will stop getting sign-in requests at once, and approving one there will no longer sign you in."
	}
	if f.Type == twofold.FactorWebAuthn {
		// A key has no codes: what stops is its touch, and a passkey's
		// sign-in on its own (README "Security keys (WebAuthn)").
		gone = "This security key will stop working here at once."
		if f.Passkey {
			gone = "This passkey will stop working here at once: it will no longer sign you in. Your device may still list it; you can delete it there."
		}
	}
	if active == 1 {
		b.Text = []string{gone}
		b.Warning = "This is your only authenticator. Removing it turns two-factor off: your password alone will open your account."
	} else {
		b.Text = []string{gone + " Your other authenticators keep working."}
	}
	b.Elevation = s.elevationFor(r, a, p, self)
	s.render(w, r, status, "confirm", Page{Title: namedTitle("Remove authenticator", f.Label), Account: &a.Account, Error: errMsg, Body: b})
}

// setupPage is where the setup of the pending factor f goes on: the
// "Cancel" of the page asking to cancel it leads there. A push device's
// setup goes on from the security page (its "Show a new enrolment code").
func setupPage(f twofold.Factor) string {
	switch {
	case f.Type == twofold.FactorWebAuthn:
		return keysPath + f.ID
	case f.Type.SendsCodes():
		return "/settings/security/sent/" + f.ID
	case f.Type == twofold.FactorPush:
		return "/settings/security"
	}
	return "/settings/security/totp/" + f.ID
}

// remove removes a factor, or cancels its setup, once the page asking to
// confirm it (renderRemove) was sent, checking its "confirm it's you"
// fields. The form's one-time token is bound to the session and the
// factor, and alike on every page of the session (sameToken): sent again
// (a double click without JavaScript, the browser's back and resend, the
// page of a second tab), the form removes nothing more and leads to the
// security page saying the factor is gone (removedAgain). A factor
// not on the account is 404 to anyone else, also with a token of theirs:
// another account's id is never told apart from an unknown one.
func (s *Server) remove(w http.ResponseWriter, r *http.Request, a core.Auth) {
	id := r.PathValue("id")
	purpose := bound(onceRemove, id)
	_, f, err := s.findFactor(r, a, id)
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		s.removeGone(w, r, a, purpose, id, err)
		return
	}
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	if r.PostForm.Get("pending") == "1" && f.Status != twofold.FactorPending {
		// A setup's "Cancel setup", from a page whose setup was confirmed
		// meanwhile (another tab, or the push device enrolled): the
		// authenticator is active, and removing one is asked for on its
		// own page, not done by a button that said "cancel". Its
		// one-time token stays unused, for that page's form.
		s.renderRemove(w, r, a, http.StatusConflict, "“"+f.Label+"” was confirmed meanwhile (in another tab or window, or by the device itself), so its setup cannot be cancelled: it is active now. To remove it, confirm below; to keep it, go back.")
		return
	}
	refused := func(err error) { s.renderRemove(w, r, a, s.status(w, r, err), message(err)) }
	use, ok := s.once(r, a, purpose, refused, func(made string) { s.removedAgain(w, r, a, made, id) })
	if !ok {
		return
	}
	defer use.Done(r.Context(), "")
	if err := s.elevateFromForm(w, r, &a); err != nil {
		s.renderRemove(w, r, a, s.status(w, r, err), message(err))
		return
	}
	if err := s.svc.DeleteFactor(r.Context(), a, id, httpapi.Meta(r)); err != nil {
		if errors.Is(err, core.ErrOtherSession) {
			// Another session's setup, and this one not elevated: the
			// page asks to confirm it's you, where the account can.
			p, perr := s.svc.Me(r.Context(), a)
			if perr != nil {
				s.fail(w, r, &a, perr)
				return
			}
			if p.Enabled && !a.Elevated(s.svc.Now()) {
				s.renderRemove(w, r, a, http.StatusForbidden, "Confirm it's you to cancel a setup started in another session.")
				return
			}
			http.Redirect(w, r, "/settings/security?m=enrol_elsewhere", http.StatusSeeOther)
			return
		}
		s.renderRemove(w, r, a, s.status(w, r, err), message(err))
		return
	}
	use.Done(r.Context(), id)
	if f.Status == twofold.FactorPending {
		http.Redirect(w, r, "/settings/security?m=setup_cancelled", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/settings/security?m=factor_removed", http.StatusSeeOther)
}

// removeGone answers the remove form of a factor the account does not hold
// (err, not-found). Only when the form carries a one-time token this
// session was given for that factor, and the form's first sending removed
// it, is the answer that it is gone (removedAgain); a token of another
// session or factor, or none, gets the plain 404, which says nothing of
// whose the id is.
func (s *Server) removeGone(w http.ResponseWriter, r *http.Request, a core.Auth, purpose, id string, err error) {
	if token := r.PostForm.Get(onceField); token != "" {
		u, terr := s.svc.TakeForm(r.Context(), a, purpose, token)
		if terr != nil && twofold.ErrorCode(terr) != twofold.CodeInvalid {
			s.fail(w, r, &a, terr)
			return
		}
		if terr == nil && u.Again {
			s.removedAgain(w, r, a, u.Made, id)
			return
		}
		if terr == nil {
			u.Done(r.Context(), "") // a first sending, which removes nothing
		}
	}
	s.fail(w, r, &a, err)
}

// removedAgain answers a later sending of the remove form of factor id,
// made being what the first sending removed: the security page says it is
// gone; were the first sending not finished, the page says so (409).
func (s *Server) removedAgain(w http.ResponseWriter, r *http.Request, a core.Auth, made, id string) {
	if made != id {
		s.renderSecurity(w, r, a, http.StatusConflict, "", "This form was sent twice, and the first sending had not finished when the second arrived. Look for the authenticator below: once it is no longer listed, it is removed.", "")
		return
	}
	http.Redirect(w, r, "/settings/security?m=factor_gone", http.StatusSeeOther)
}

// setTwoFactor: the "require two-factor on every login" switch.
func (s *Server) twoFactorPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderTwoFactor(w, r, a, http.StatusOK, "")
}

func (s *Server) renderTwoFactor(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg string) {
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	self := "/settings/security/two-factor"
	b := confirmBody{Action: self, Cancel: "/settings/security"}
	if p.Required && len(p.RequiredBy) > 0 {
		// A team's policy keeps it on, and core refuses turning it off: no
		// button, nor a code asked for, that could only lead to that refusal.
		b.Heading, b.CancelLabel = "Two-factor stays on at sign-in", "Back"
		b.Text = []string{"The team “" + p.RequiredBy[0] + "” requires two-factor of its members: every sign-in asks for a code while you are a member."}
	} else if p.Required {
		b.Fields = map[string]string{"required": "false"}
		b.Heading, b.Button, b.Danger = "Stop asking for a second factor at sign-in?", "Stop asking at sign-in", true
		b.Text = []string{"Your password alone will then sign you in. Removing authenticators, new recovery codes and other sensitive changes will still ask for a code."}
		b.Elevation = s.elevationFor(r, a, p, self)
	} else {
		b.Fields = map[string]string{"required": "true"}
		b.Heading, b.Button = "Ask for a second factor at every sign-in?", "Ask at every sign-in"
		b.Text = []string{"After your password, every sign-in will ask for a code from one of your authenticators."}
	}
	s.render(w, r, status, "confirm", Page{Title: "Two-factor at sign-in", Account: &a.Account, Error: errMsg, Body: b})
}

func (s *Server) twoFactor(w http.ResponseWriter, r *http.Request, a core.Auth) {
	// The page's forms say which, as the API's body must: a form that
	// does not (one cut short, or made elsewhere) turns nothing off.
	var required bool
	switch r.PostForm.Get("required") {
	case "true":
		required = true
	case "false":
	default:
		s.renderTwoFactor(w, r, a, http.StatusBadRequest, "The form did not say whether to turn two-factor login on or off, so nothing was changed. Go back, reload the page and try again.")
		return
	}
	if err := s.elevateFromForm(w, r, &a); err != nil {
		s.renderTwoFactor(w, r, a, s.status(w, r, err), message(err))
		return
	}
	changed, err := s.svc.SetTwoFactorRequired(r.Context(), a, required, httpapi.Meta(r))
	if err != nil {
		s.renderTwoFactor(w, r, a, s.status(w, r, err), message(err))
		return
	}
	m := "required_off"
	if required {
		m = "required_on"
	}
	if !changed {
		m += "_already" // sent again, or another session was first
	}
	http.Redirect(w, r, "/settings/security?m="+m, http.StatusSeeOther)
}

// eventsBody is the data of the full audit log page.
type eventsBody struct {
	Events  []twofold.AuditEvent
	Factors []twofold.Factor // the account's, whose labels the events show
	Next    int64            // "before" of the next page, 0 when there is none
	Before  int64            // "before" of this page, 0 on the first
}

const eventsPerPage = 50

func (s *Server) events(w http.ResponseWriter, r *http.Request, a core.Auth) {
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	// One event more than a page says whether an older page exists, so that
	// a log of exactly one page links to no empty one.
	evs, err := s.svc.Events(r.Context(), a, twofold.EventQuery{Before: max(before, 0), Limit: eventsPerPage + 1})
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	// One lookup of the account's factors names those the events mention.
	fs, err := s.svc.Factors(r.Context(), a.Account.ID)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b := eventsBody{Events: evs, Factors: fs, Before: max(before, 0)}
	if len(evs) > eventsPerPage {
		b.Events = evs[:eventsPerPage]
		b.Next = b.Events[eventsPerPage-1].ID
	}
	s.render(w, r, http.StatusOK, "events", Page{Title: "Security events", Account: &a.Account, Body: b})
}

func (s *Server) passwordPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderPassword(w, r, a, http.StatusOK, "", "")
}

// passwordBody is the data of the password page.
type passwordBody struct {
	Elevation *elevationBody // nil when the change needs no code
}

// invalid is the id of the field errMsg is about, if any (Page.Invalid).
func (s *Server) renderPassword(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg, invalid string) {
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b := passwordBody{Elevation: s.elevationFor(r, a, p, "/settings/security/password")}
	s.render(w, r, status, "password", Page{Title: "Change your password", Account: &a.Account, Error: errMsg, Invalid: invalid, Body: b})
}

// changePassword changes the password and swaps the session cookie for the
// new session: every other session, the old one included, has ended.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, a core.Auth) {
	f := r.PostForm
	if f.Get("new_password") != f.Get("new_password2") {
		s.renderPassword(w, r, a, http.StatusBadRequest, "The two new passwords differ. Type the same password twice.", "new_password2")
		return
	}
	if err := s.elevateFromForm(w, r, &a); err != nil {
		s.renderPassword(w, r, a, s.status(w, r, err), message(err), "")
		return
	}
	token, _, err := s.svc.ChangePassword(r.Context(), a, f.Get("current_password"), f.Get("new_password"), httpapi.Meta(r))
	if err != nil {
		msg, invalid := message(err), invalidField(err, "", "new_password")
		if twofold.ErrorCode(err) == twofold.CodeForbidden {
			msg, invalid = "Your current password is wrong.", "current_password"
		}
		s.renderPassword(w, r, a, s.status(w, r, err), msg, invalid)
		return
	}
	s.setCookie(w, r, sessionCookie, token, "/")
	http.Redirect(w, r, "/settings/security?m=password_changed", http.StatusSeeOther)
}
