package web

import (
	"net/http"
	"net/url"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// Pages of security keys (SPEC §2 "security key", WebAuthn): adding one
// from the security page and confirming it with the browser's credential.
// The browser's part is /static/webauthn.js: it finds a hidden input with
// data-webauthn-create or data-webauthn-get (the options, or for the second
// step and "confirm it's you" the address to POST for them, see
// loginKeyOptions and elevationKeyOptions), calls
// navigator.credentials.create or get when its form is sent, puts the JSON
// of the credential in the input and sends the form, CSRF token and all.
// Without JavaScript the pages say so, and every other way still works.

// keyBody is the data of the page that registers a pending key.
type keyBody struct {
	Factor  twofold.Factor
	Options string // JSON for navigator.credentials.create
}

// addKey adds a security key: it creates the pending factor and shows the
// page that registers it; with two-factor on, a fresh check first.
func (s *Server) addKey(w http.ResponseWriter, r *http.Request, a core.Auth) {
	label, passkey := r.PostForm.Get("label"), r.PostForm.Get("passkey") == "1"
	password := r.PostForm.Get("current_password")
	kind := keyKind(passkey)
	ask := func(status int, errMsg string) { s.askAddKey(w, r, a, label, passkey, status, errMsg) }
	refused := func(err error) { s.renderSecurity(w, r, a, s.status(w, r, err), "", message(err), "") }
	// The form's token before all (enrol).
	use, ok := s.once(r, a, onceKey, refused, func(made string) { s.setupMadeBefore(w, r, a, made) })
	if !ok {
		return
	}
	defer use.Done(r.Context(), "")
	if err := s.svc.CheckFactorLabel(r.Context(), a, label); err != nil {
		if nameRefused(err) {
			markInvalid(r, "key-label")
		}
		refused(err)
		return
	}
	if passkey && password == "" {
		ask(http.StatusOK, "")
		return
	}
	if err := s.elevateFromForm(w, r, &a); err != nil {
		ask(s.status(w, r, err), message(err))
		return
	}
	e, err := s.svc.EnrolFactor(r.Context(), a, core.NewFactor{Type: twofold.FactorWebAuthn, Label: label, Passkey: passkey, Password: password}, httpapi.Meta(r))
	if twofold.ErrorCode(err) == twofold.CodeElevationRequired {
		ask(http.StatusOK, "")
		return
	}
	if passkey && twofold.ErrorCode(err) == twofold.CodeForbidden {
		markInvalid(r, "current_password")
		ask(http.StatusForbidden, "Your password is wrong.")
		return
	}
	if err != nil {
		refused(err)
		return
	}
	use.Done(r.Context(), e.Factor.ID)
	s.render(w, r, http.StatusOK, "securitykey", Page{Title: "Add a " + kind, Account: &a.Account,
		Body: keyBody{Factor: e.Factor, Options: string(e.Options)}})
}

// addKeyPage is the page askAddKey shows, reached by the links of its
// "confirm it's you" fields to the other methods and by the return of
// their buttons, which carry the key's name and whether it is a passkey
// (never the password). A bad name is told on the page, before a code is
// spent on it. With nothing to confirm it goes to the security page, where
// the key is added.
func (s *Server) addKeyPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	q := r.URL.Query()
	label, passkey := q.Get("label"), q.Get("passkey") == "1"
	if label != "" {
		if err := s.svc.CheckFactorLabel(r.Context(), a, label); err != nil {
			if nameRefused(err) {
				markInvalid(r, "label")
			}
			s.askAddKey(w, r, a, label, passkey, s.status(w, r, err), message(err))
			return
		}
	}
	s.askAddKey(w, r, a, label, passkey, http.StatusOK, "")
}

// askAddKey asks to confirm it's the holder (and, for a passkey, the
// password) before a security key called label is added.
func (s *Server) askAddKey(w http.ResponseWriter, r *http.Request, a core.Auth, label string, passkey bool, status int, errMsg string) {
	kind := keyKind(passkey)
	b := confirmBody{
		Heading: "Add a " + kind + "?", Action: "/settings/security/webauthn", Cancel: "/settings/security", Button: "Continue",
		Text:     []string{"A " + kind + " can sign in to your account and approve its sensitive changes, so adding one needs a check with an authenticator you already have."},
		AskLabel: true, Label: label,
		Fields:  map[string]string{onceField: s.onceToken(r, a, onceKey)},
		Keep:    url.Values{"label": {label}},
		Unasked: "/settings/security",
	}
	if passkey {
		b.Fields["passkey"] = "1"
		b.Keep.Set("passkey", "1")
		b.AskPassword = true
		b.Text = []string{"A passkey signs in to your account on its own, without your password, so adding one takes your password, and a check with an authenticator you already have."}
	}
	s.askToConfirm(w, r, a, status, "Add a "+kind, errMsg, b)
}

// keyKind names a security key enrolled as a passkey, or not, on the pages.
func keyKind(passkey bool) string {
	if passkey {
		return "passkey"
	}
	return "security key"
}

// A pending key's setup is finished in two requests. GET
// /settings/security/webauthn/{id} only shows what is left to do ("confirm
// it's you" first when the session's elevation has lapsed) and writes
// nothing; the POST to …/register begins the registration ceremony and
// shows the page that answers it. The ceremony is begun by a POST, behind
// the CSRF token, because beginning one replaces the one before (core keeps
// one per pending key): were a GET to begin it, any site could send the
// user's browser to that address (SameSite=Lax cookies go along with a
// top-level GET) and so spoil a registration the user is in the middle
// of. Keeping the old ceremony valid beside a new one would mean several
// live challenges per key for no gain; a page that only reads cannot be
// used against the user at all.

const keysPath = "/settings/security/webauthn/"

// keyPage shows the pending key's "Finish setup" page: a button that
// begins the registration, with "confirm it's you" when the session needs
// it. It begins nothing itself.
func (s *Server) keyPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.askKey(w, r, a, http.StatusOK, "")
}

// askKey renders the pending key's "Finish setup" page.
func (s *Server) askKey(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg string) {
	p, f, ok := s.pendingKey(w, r, a)
	if !ok {
		return
	}
	b := confirmBody{
		Heading: "Finish adding the " + keyKind(f.Passkey) + " “" + f.Label + "”?", Action: keysPath + f.ID + "/register",
		Cancel: "/settings/security", CancelLabel: "Back", Button: "Continue",
		Text:        []string{"Have the key at hand: the next page asks you to touch it."},
		Elevation:   s.elevationFor(r, a, p, keysPath+f.ID),
		AskPassword: f.Passkey, // a passkey signs in on its own: its setup takes the password
	}
	s.render(w, r, status, "confirm", Page{Title: namedTitle("Add a "+keyKind(f.Passkey), f.Label), Account: &a.Account, Error: errMsg, Body: b})
}

// pendingKey returns the caller's profile and the pending security key of
// the request's {id}; when there is none it has answered already.
func (s *Server) pendingKey(w http.ResponseWriter, r *http.Request, a core.Auth) (core.Profile, twofold.Factor, bool) {
	p, f, err := s.findFactor(r, a, r.PathValue("id"))
	if twofold.ErrorCode(err) == twofold.CodeNotFound || err == nil && (f.Status != twofold.FactorPending || f.Type != twofold.FactorWebAuthn) {
		http.Redirect(w, r, "/settings/security?m=enrol_gone", http.StatusSeeOther)
		return p, f, false
	}
	if err != nil {
		s.fail(w, r, &a, err)
		return p, f, false
	}
	return p, f, true
}

// registerKey begins the registration of a pending key again (for a setup
// left unfinished), after "confirm it's you" when the form has it, and
// shows the page that registers the key.
func (s *Server) registerKey(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.elevateFromForm(w, r, &a); err != nil {
		s.askKey(w, r, a, s.status(w, r, err), message(err))
		return
	}
	s.renderKey(w, r, a, http.StatusOK, "")
}

// renderKey begins the registration of the pending key and shows the page
// that answers it; it runs on POSTs only (see above). When the session
// needs elevation first, it asks for it instead.
func (s *Server) renderKey(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg string) {
	_, f, ok := s.pendingKey(w, r, a)
	if !ok {
		return
	}
	password := r.PostForm.Get("current_password")
	c, err := s.svc.ResendConfirmation(r.Context(), a, f.ID, password, httpapi.Meta(r))
	if twofold.ErrorCode(err) == twofold.CodeElevationRequired {
		s.askKey(w, r, a, status, errMsg)
		return
	}
	if f.Passkey && password == "" && twofold.ErrorCode(err) == twofold.CodeInvalid {
		s.askKey(w, r, a, status, errMsg) // the password, first or again
		return
	}
	if f.Passkey && twofold.ErrorCode(err) == twofold.CodeForbidden {
		markInvalid(r, "current_password")
		s.askKey(w, r, a, http.StatusForbidden, "Your password is wrong.")
		return
	}
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	s.render(w, r, status, "securitykey", Page{Title: namedTitle("Add a "+keyKind(f.Passkey), f.Label), Account: &a.Account, Error: errMsg,
		Body: keyBody{Factor: f, Options: string(c.Options)}})
}

// confirmKey activates a pending key with the credential its browser made.
func (s *Server) confirmKey(w http.ResponseWriter, r *http.Request, a core.Auth) {
	credential := r.PostForm.Get("credential")
	c, err := s.svc.ConfirmSecurityKey(r.Context(), a, r.PathValue("id"), []byte(credential), httpapi.Meta(r))
	switch {
	case twofold.ErrorCode(err) == twofold.CodeInvalid && credential == "": // the page's script did not run
		s.renderKey(w, r, a, s.status(w, r, err), "Your browser sent no key: turn JavaScript on, or add an authenticator app instead.")
	case twofold.ErrorCode(err) == twofold.CodeInvalidCode:
		s.renderKey(w, r, a, s.status(w, r, err), "Your security key was not accepted. Try again, or try another key.")
	case twofold.ErrorCode(err) == twofold.CodeElevationRequired: // lapsed while the page was open
		s.askKey(w, r, a, http.StatusOK, message(err))
	case err != nil:
		s.renderKey(w, r, a, s.status(w, r, err), message(err))
	case len(c.RecoveryCodes) == 0:
		http.Redirect(w, r, "/settings/security?m=factor_added", http.StatusSeeOther)
	default:
		s.renderCodes(w, r, a, codesBody{Codes: c.RecoveryCodes, PaperKey: c.PaperKey, First: true, Label: c.Factor.Label})
	}
}

// Neither the second step of a sign-in nor the "confirm it's you" fields
// begin an assertion when a page is shown: a login, like a session's
// elevation, has one ceremony at a time, and beginning one replaces the one
// before, so a GET that began one would let any site (sending the user's
// browser to such a page: a top-level link carries the SameSite=Lax login
// and session cookies) spoil a key touch in progress in the user's open tab.
// Instead webauthn.js, when the form is sent, POSTs its CSRF token to
// loginKeyOptions or elevationKeyOptions (same origin, checked by guard as
// any form) and asks the key with the options answered.

// keyOptionsError is the JSON answer of elevationKeyOptions when it has no
// options: what webauthn.js shows in the page's error spot.
type keyOptionsError struct {
	Error string `json:"error"`
}

// loginKeyOptions begins an assertion for the second step of the login in
// the browser's login cookie and answers its options ({"publicKey":{…}})
// as JSON, replacing the ceremony before; webauthn.js calls it when the
// second step's "Use my security key" form is sent. A failure is
// {"error": "…"} with the error's status; with no login, 410.
func (s *Server) loginKeyOptions(w http.ResponseWriter, r *http.Request) {
	loginID := s.cookieLogin(r, loginCookie)
	var c core.Challenge
	var err error = twofold.Errorf(twofold.CodeLoginExpired, "the sign-in has expired: start again")
	if loginID != "" {
		c, err = s.svc.ChallengeLogin(r.Context(), loginID, twofold.MethodWebAuthn, "", "", httpapi.Meta(r))
	}
	if err != nil {
		httpapi.WriteJSON(w, s.status(w, r, err), keyOptionsError{Error: message(err)})
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, c.Options)
}

// elevationKeyOptions begins an assertion for the session's elevation and
// answers its options ({"publicKey":{…}}) as JSON, replacing the ceremony
// before; webauthn.js calls it when a "confirm it's you" form is sent with
// a security key. A failure is {"error": "…"} with the error's status; with
// no session, 401 (a script cannot follow the login page's redirect).
func (s *Server) elevationKeyOptions(w http.ResponseWriter, r *http.Request) {
	a, ok, err := s.session(r)
	if err == nil && !ok {
		err = twofold.Errorf(twofold.CodeUnauthorized, "your session has ended: sign in again")
	}
	var c core.Challenge
	if err == nil {
		c, err = s.svc.ChallengeElevation(core.WithCaller(r.Context(), a), a, twofold.MethodWebAuthn, "", "", httpapi.Meta(r))
	}
	if err != nil {
		httpapi.WriteJSON(w, s.status(w, r, err), keyOptionsError{Error: message(err)})
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, c.Options)
}
