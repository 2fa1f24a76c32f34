package web

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// notices are the fixed messages a redirect can ask a page to show (?m=…);
// a query parameter never carries free text into a page.
var notices = map[string]string{
	"team_created":             "Team created. Invite its members below.",
	"webhook_deleted":          "Webhook deleted: nothing more is sent to it.",
	"webhook_enabled":          "Webhook enabled: delivery goes on with the first event not delivered.",
	"elevated":                 "Confirmed. You can make changes for the next few minutes.",
	"record_added":             "Record added.",
	"record_kept":              "That record is in the zone already: nothing was added. The records of its name and type have the TTL you gave.",
	"record_removed":           "Record removed.",
	"team_updated":             "Team settings saved.",
	"team_deleted":             "Team deleted.",
	"team_left":                "You left the team.",
	"invited":                  "Invitation sent. They join once they accept it.",
	"invitation_revoked":       "Invitation withdrawn.",
	"invitation_accepted":      "You joined the team.",
	"invitation_declined":      "Invitation declined.",
	"member_removed":           "Member removed.",
	"role_changed":             "Role changed.",
	"zone_shared":              "Zone shared with the team.",
	"zone_unshared":            "The zone is no longer shared with the team.",
	"zone_shared_already":      "That zone is shared with the team already (this form was sent again, or another manager was first): nothing was changed.",
	"role_same":                "That member has that role already (this form was sent again, or another manager was first): nothing was changed.",
	"team_same":                "The team's settings are as you gave them already: nothing was changed.",
	"signin":                   "Sign in to continue.",
	"expired_session":          "Your session has ended. Sign in again.",
	"expired":                  "That sign-in took too long and has expired. Start again.",
	"logged_out":               "You have signed out.",
	"logout_stale":             "That page's session had already ended, so nothing was signed out. If this browser is still signed in, sign out from a page you open now.",
	"welcome":                  "Your operator account is ready. Now protect it: add an authenticator app below.",
	"factor_added":             "Authenticator added.",
	"factor_removed":           "Authenticator removed.",
	"factor_gone":              "That authenticator is no longer on your account: this form was sent again (a reload or a double click), and its first sending removed it. Your authenticators are listed below.",
	"already_member":           "You are already a member of this team: this invitation was sent again (a reload or a double click), and its first sending joined you to it.",
	"setup_cancelled":          "Authenticator setup cancelled.",
	"renamed":                  "Authenticator renamed.",
	"name_same":                "That authenticator has that name already: nothing was changed.",
	"resynchronised":           "Authenticator resynchronised: both codes are used, and sign-in takes its codes from the next one on.",
	"required_on":              "Every sign-in now asks for a second factor.",
	"required_off":             "Sign-in no longer asks for a second factor. Sensitive changes still do.",
	"required_on_already":      "Every sign-in asks for a second factor already (this form was sent again, or another session was first): nothing was changed.",
	"required_off_already":     "Sign-in does not ask for a second factor (this form was sent again, or another session was first): nothing was changed.",
	"recovery_used":            "You signed in with a recovery code. Each code works once. Every other session of your account was signed out, in case a lost or stolen device still held one. If you lost your authenticator, remove it and add a new one below.",
	"paper_key_used":           "You signed in with your paper key, and every other session of your account was signed out. If you lost your authenticator, remove it and add a new one below.",
	"sms_recovery_used":        "You signed in with a code texted to your phone in place of your authenticator, and every other session of your account was signed out. If you lost your authenticator, remove it and add a new one below.",
	"email_recovery_used":      "You signed in with a code sent by email in place of your authenticator, and every other session of your account was signed out. If you lost your authenticator, remove it and add a new one below.",
	"enrol_gone":               "That authenticator setup is finished or was cancelled.",
	"enrol_ended":              "That authenticator's setup can no longer be finished: the session that started it has ended (it expired, or was signed out). Cancel it below, and add the authenticator again.",
	"enrol_elsewhere":          "That authenticator's setup was started in another session, and only that session can see its key or finish it. If you did not start it, cancel it here: with an authenticator already active, after confirming it's you; without one, once that session has signed out.",
	"unlocked":                 "The account is unlocked.",
	"nothing_locked":           "Nothing to unlock: no failed attempts are counted against this account.",
	"email_same":               "That is the account's address already (this form was sent again, or another operator was first): nothing was changed, and no one was emailed.",
	"nothing_signed_in":        "Nothing to sign out: the account had no session and no sign-in waiting for its second step, so nothing was changed and the holder was not emailed.",
	"reset_requested":          "The reset of two-factor is scheduled. The holder has been emailed and can cancel it until it is due.",
	"reset_done":               "Two-factor was reset. The holder can sign in with their password and set up two-factor again.",
	"reset_cancelled":          "The reset of two-factor was cancelled.",
	"suspended":                "The account is suspended: its holder was signed out everywhere, and its API keys stopped working.",
	"unsuspended":              "The suspension is lifted: its holder can sign in again.",
	"already_suspended":        "The account was suspended already (this form was sent again, or another operator was first): nothing was changed.",
	"already_unsuspended":      "The account was not suspended (this form was sent again, or another operator lifted the suspension first): nothing was changed.",
	"account_created":          "Account created. Its holder signs in with the password you chose: ask them to change it and to add two-factor.",
	"password_changed":         "Your password was changed. Every other session was signed out.",
	"api_key_revoked_for_user": "The API key is revoked, with the keys made with it. The holder has been emailed.",
	"signed_out_everywhere":    "The account is signed out everywhere. The holder has been emailed.",
	"email_changed_for_user":   "The email address is changed. Both the old and the new address have been told.",
	"session_ended":            "That session is signed out.",
	"team_gone":                "That team is no longer among yours: it was deleted, or you left it, already (this form may have been sent twice). Your teams are listed below.",
	"ssh_key_gone":             "That SSH key is no longer on your account: it was removed already (this form may have been sent twice). Your SSH keys are listed below.",
	"webhook_gone":             "That webhook is not there: it was deleted already (this form may have been sent twice, or another operator deleted it).",
	"session_gone":             "That session was no longer signed in: it had been signed out already (this form may have been sent twice) or it had ended. The sessions signed in now are listed below.",
	"email_changed":            "Your email address was changed. Security notices now go to the new address.",
	"password_reset":           "Your password was changed, and every session was signed out. Sign in with the new password.",
	"logged_out_everywhere":    "You are signed out everywhere: on every browser and app.",
	"api_key_revoked":          "The API key was revoked, and with it the keys it made.",
	"code_sent":                "A new code is on its way. The one sent before no longer works.",
	"ssh_key_used":             "You signed in with your SSH key, and every other session of your account was signed out. If you lost your authenticator, remove it and add a new one below.",
	"ssh_key_added":            "SSH key added: a challenge signed with it can now sign you in.",
	"ssh_key_removed":          "SSH key removed.",
	"ssh_key_cancelled":        "SSH key setup cancelled.",
	"ssh_key_confirmed":        "That SSH key is confirmed already: it can sign you in. Nothing was changed.",
	"ssh_key_unknown":          "That SSH key is not among yours: it was removed, or the link is wrong. Nothing was changed.",
	"account_closed":           "Your account is closed, and you are signed out.",
	"account_closed_mailed":    "Your account is closed, and you are signed out. A notice is on its way to its email address.",
	"account_deleted":          "The account is deleted. Its holder has been emailed, if it had an address.",
}

func notice(r *http.Request) string { return notices[r.URL.Query().Get("m")] }

type loginBody struct {
	Username string
	Next     string
	// UnknownPasskey is the credential id (base64url) of the passkey just
	// refused as not registered here (core.ErrPasskeyNotRegistered), as the
	// browser sent it, and RPID the relying party's id: the page's script
	// tells the browser that this credential is unknown
	// (PublicKeyCredential.signalUnknownCredential), so that the device can
	// forget it.
	UnknownPasskey, RPID string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if _, ok, _ := s.session(r); ok {
		http.Redirect(w, r, orDefault(next), http.StatusSeeOther)
		return
	}
	msg := notice(r)
	if has, err := s.svc.HasAccounts(r.Context()); err == nil && !has {
		none := "No account exists yet. To create the operator account, open the setup link that twofold serve printed when it started."
		if open, err := s.svc.SetupOpen(r.Context()); err == nil && !open {
			// Every account made ends the setup links for good (the last
			// one closed included), or the link is over a day old: the
			// link the start printed no longer works.
			none = "No account exists on this server, and no setup link works now. To make the operator account, restart twofold serve, " +
				"which then prints a new setup link, or run twofold user add NAME --operator where the server runs."
		}
		if m := r.URL.Query().Get("m"); m == "account_closed" || m == "account_closed_mailed" {
			// The server's last account was just closed: its holder reads
			// that first.
			msg += " " + none
		} else {
			msg = none
		}
	}
	body := loginBody{Next: next}
	switch r.URL.Query().Get("m") {
	case "expired":
		body.Username = s.expiredLoginName(w, r)
	case "expired_session":
		body.Username = s.expiredSessionName(w, r)
	}
	s.render(w, r, http.StatusOK, "login", Page{Title: "Sign in", Notice: msg, Body: body})
}

// loginExpired sends the browser of a login that expired before its
// second step to the login page, which says so. The login's cookie is left
// for that page (expiredLoginName), which clears it.
func (s *Server) loginExpired(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/login?m=expired", http.StatusSeeOther)
}

// expiredLoginName returns the username of the login this browser's login
// cookie names, when it expired before its second step, to fill in again on
// the login page that says so, and clears the cookie. The name comes from
// the login's own record, never from the request: the cookie is made, with
// a MAC, only once a password was right for that account, and only the
// browser that typed the name holds it, so nothing is shown that it did not
// send itself. A login swept or never made gives "".
func (s *Server) expiredLoginName(w http.ResponseWriter, r *http.Request) string {
	if s.cookieValue(r, loginCookie) == "" {
		return ""
	}
	loginID := s.cookieLogin(r, loginCookie)
	if _, err := s.svc.PendingLogin(r.Context(), loginID); loginID != "" && err == nil {
		return "" // not expired: a link cannot end a sign-in under way
	}
	s.clearCookie(w, r, loginCookie, "/login")
	if loginID == "" {
		return ""
	}
	name, err := s.svc.ExpiredLoginUsername(r.Context(), loginID)
	if err != nil {
		s.log.ErrorContext(r.Context(), "name of an expired login", "request_id", httpapi.RequestID(r.Context()), "err", err)
		return ""
	}
	return name
}

// expiredSessionName returns the username of the session this browser's
// session cookie names, when that session ran out its lifetime
// (core.ExpiredSessionUsername: not one signed out, nor signed out
// everywhere), to fill in again on the login page that says the session
// has ended, and clears the cookie. The name comes from the session's own
// record, found by the cookie's token, a secret only this browser held:
// nothing is shown that its pages did not show before. Anything else
// gives "".
func (s *Server) expiredSessionName(w http.ResponseWriter, r *http.Request) string {
	token := s.cookieValue(r, sessionCookie)
	if token == "" {
		return ""
	}
	name, err := s.svc.ExpiredSessionUsername(r.Context(), token)
	if err != nil {
		// Not a verdict on the session (the database did not answer):
		// its cookie is kept, as session does.
		s.log.ErrorContext(r.Context(), "name of an expired session", "request_id", httpapi.RequestID(r.Context()), "err", err)
		return ""
	}
	s.clearCookie(w, r, sessionCookie, "/")
	return name
}

func orDefault(next string) string {
	if next == "" {
		return "/settings/security"
	}
	return next
}

// login checks username and password (SPEC §1 story 2): the answer is a
// session, or the second step.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	username, next := r.PostForm.Get("username"), safeNext(r.PostForm.Get("next"))
	password := r.PostForm.Get("password")
	err := core.LoginFieldsGiven(username, password)
	var res core.LoginResult
	if err == nil {
		res, err = s.svc.Login(r.Context(), username, password, httpapi.Meta(r))
	}
	if err != nil {
		var invalid string
		switch {
		case twofold.ErrorCode(err) == twofold.CodeInvalidCredentials, username != "" && password == "":
			invalid = "password"
		case username == "":
			invalid = "username"
		}
		s.render(w, r, s.status(w, r, err), "login", Page{Title: "Sign in", Error: message(err), Invalid: invalid, Body: loginBody{Username: username, Next: next}})
		return
	}
	if res.Authenticated {
		s.signedIn(w, r, res.Token)
		http.Redirect(w, r, orDefault(next), http.StatusSeeOther)
		return
	}
	s.setLoginCookie(w, r, loginCookie, res.LoginID)
	target := "/login/verify"
	if next != "" {
		target += "?next=" + urlQueryEscape(next)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// verifyBody is the data of the second step.
type verifyBody struct {
	Method       twofold.Method   // the method the form asks for
	Labels       []string         // labels of the TOTP factors
	Alternatives []twofold.Method // other methods the account can use
	Next         string
	// Senders are the account's phones (sms) or addresses (email) when
	// Method is sms or email: each has a button that sends it a code.
	Senders []core.MethodOption
	SentTo  string // where a code was just sent: then the page asks for it
	// PushNumber is the number to type on the push device PushLabel, when
	// a push was just sent (push.go).
	PushNumber, PushLabel string
	// SSH is, when Method is ssh_key, the login's challenge waiting for a
	// signature; nil until one is asked for.
	SSH *core.SSHKeyChallenge
	// Unavailable are the account's factors that cannot be used now (a
	// phone outside --sms-countries): the page says so, and offers them
	// nowhere.
	Unavailable []core.MethodOption
	// CodesRefused reports whether the account reached the hard cap of
	// wrong codes (core.LoginCodesRefused): no code method is offered,
	// only the ways in that still work.
	CodesRefused bool
	// ExpiresAt is when the login ends, Lasts how long it lasts from the
	// password: the page says both, as a time, which a reload keeps.
	ExpiresAt time.Time
	Lasts     time.Duration
	// PushExpiresAt is when the push PushNumber is of expires, when known.
	PushExpiresAt time.Time
}

// secondStep describes the methods of a login for the second-step page.
func secondStep(methods []core.MethodOption, want twofold.Method, next string) verifyBody {
	b := verifyBody{Next: next}
	have := map[twofold.Method]bool{}
	labels := map[twofold.Method][]string{}
	var order []twofold.Method
	var usable []core.MethodOption
	for _, m := range methods {
		if !m.Usable() {
			b.Unavailable = append(b.Unavailable, m)
			continue
		}
		usable = append(usable, m)
		if !have[m.Method] {
			order = append(order, m.Method)
		}
		have[m.Method] = true
		if m.Label != "" {
			labels[m.Method] = append(labels[m.Method], m.Label)
		}
	}
	b.Method = want
	if !have[want] {
		b.Method = ""
		if len(order) > 0 {
			b.Method = order[0]
		}
	}
	b.Labels = labels[b.Method]
	for _, m := range order {
		if m != b.Method {
			b.Alternatives = append(b.Alternatives, m)
		}
	}
	for _, m := range usable {
		if m.Method == b.Method && (m.Method == twofold.MethodSMS || m.Method == twofold.MethodEmail || m.Method == twofold.MethodPush) {
			b.Senders = append(b.Senders, m)
		}
	}
	return b
}

// verifyPage shows the second step: a field for the chosen method and links
// to the account's other methods.
func (s *Server) verifyPage(w http.ResponseWriter, r *http.Request) {
	s.renderVerify(w, r, http.StatusOK, twofold.Method(r.URL.Query().Get("method")), safeNext(r.URL.Query().Get("next")), "")
}

func (s *Server) renderVerify(w http.ResponseWriter, r *http.Request, status int, method twofold.Method, next, errMsg string) {
	s.renderVerifySent(w, r, status, method, next, errMsg, "")
}

// renderVerifySent is renderVerify after a code was sent to sentTo (a
// masked number or address), or was meant to be.
func (s *Server) renderVerifySent(w http.ResponseWriter, r *http.Request, status int, method twofold.Method, next, errMsg, sentTo string) {
	s.renderVerifyWith(w, r, status, method, next, errMsg, "", func(b *verifyBody) {
		b.SentTo = sentTo
		if sentTo == "" && errMsg != "" && (b.Method == twofold.MethodSMS || b.Method == twofold.MethodEmail) && r.PostForm.Get("code") != "" {
			b.SentTo = "your " + map[twofold.Method]string{twofold.MethodSMS: "phone", twofold.MethodEmail: "address"}[b.Method]
		}
	})
}

// renderVerifyWith renders the second step, with set adjusting its data.
func (s *Server) renderVerifyWith(w http.ResponseWriter, r *http.Request, status int, method twofold.Method, next, errMsg, notice string, set func(*verifyBody)) {
	loginID := s.cookieLogin(r, loginCookie)
	if loginID == "" {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	l, err := s.svc.PendingLogin(r.Context(), loginID)
	var methods []core.MethodOption
	if err == nil {
		methods, err = s.svc.LoginMethods(r.Context(), loginID)
	}
	if twofold.ErrorCode(err) == twofold.CodeLoginExpired {
		s.loginExpired(w, r)
		return
	}
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	if method == "" {
		method = twofold.MethodTOTP
	}
	capped, err := s.svc.LoginCodesRefused(r.Context(), loginID)
	if err != nil && twofold.ErrorCode(err) != twofold.CodeLoginExpired {
		s.fail(w, r, nil, err)
		return
	}
	if capped {
		methods = slices.DeleteFunc(methods, func(m core.MethodOption) bool { return core.CodeMethod(m.Method) })
	}
	b := secondStep(methods, method, next)
	b.CodesRefused = capped
	b.ExpiresAt, b.Lasts = l.ExpiresAt, l.ExpiresAt.Sub(l.CreatedAt)
	set(&b)
	if b.SSH, err = s.loginSSHChallenge(r, loginID, b.Method); err != nil {
		s.fail(w, r, nil, err)
		return
	}
	s.render(w, r, status, "verify", Page{Title: "Second step", Error: errMsg, Notice: notice, Invalid: typedField(r, status, errMsg, "code", "signature"), Body: b})
}

// verify completes the second step. Every failure reads the same; a
// throttled attempt says how long to wait.
func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	loginID := s.cookieLogin(r, loginCookie)
	if loginID == "" {
		http.Redirect(w, r, "/login?m=expired", http.StatusSeeOther)
		return
	}
	method, next := twofold.Method(r.PostForm.Get("method")), safeNext(r.PostForm.Get("next"))
	p := core.SecondFactor{Method: method, Code: r.PostForm.Get("code"), Credential: []byte(r.PostForm.Get("credential")),
		Signature: r.PostForm.Get("signature")}
	if method == twofold.MethodPush {
		p.PushSecret = s.cookieValue(r, loginPushCookie)
	}
	v, err := s.svc.VerifyLogin(r.Context(), loginID, p, httpapi.Meta(r))
	if twofold.ErrorCode(err) == twofold.CodeLoginExpired {
		s.verifyExpired(w, r, loginID, method, next)
		return
	}
	if err != nil && method == twofold.MethodPush {
		s.verifyPushFailed(w, r, next, err)
		return
	}
	if err != nil && method == twofold.MethodWebAuthn && len(p.Credential) == 0 && twofold.ErrorCode(err) == twofold.CodeInvalid {
		// The page's script did not run: say so, not the API's words.
		s.renderVerify(w, r, s.status(w, r, err), method, next, noKeySent)
		return
	}
	if err != nil {
		s.renderVerify(w, r, s.status(w, r, err), method, next, message(refusedKey(err, method)))
		return
	}
	s.clearCookie(w, r, loginCookie, "/login")
	if method == twofold.MethodPush {
		s.clearCookie(w, r, loginPushCookie, "/login")
	}
	if s.cookieValue(r, loginCodeCookie) != "" {
		s.clearCookie(w, r, loginCodeCookie, "/login")
	}
	s.signedIn(w, r, v.Token)
	if method == twofold.MethodRecoveryCode && next == "" {
		next = "/settings/security?m=recovery_used"
	}
	if method == twofold.MethodSSHKey && next == "" {
		next = "/settings/security?m=ssh_key_used"
	}
	if method == twofold.MethodPaperKey && next == "" {
		next = "/settings/security?m=paper_key_used"
	}
	if (method == twofold.MethodSMS || method == twofold.MethodEmail) && v.Recovered && next == "" {
		// A texted or emailed code in place of the account's app, token,
		// push device or security key: the recovery path
		// (core.Verified.Recovered).
		next = "/settings/security?m=" + string(method) + "_recovery_used"
	}
	http.Redirect(w, r, orDefault(next), http.StatusSeeOther)
}

// verifyExpired answers a second step whose login is over. The answer
// that signed in clears the login's cookie as it sets the session's: a
// browser that sends the cookie again dropped that answer, having sent
// the form twice (a double click without JavaScript). The session the
// first sending made, which no one holds then, is ended
// (core.EndLoginSentTwice), and the page says the code went through, and
// that a recovery code is spent. Otherwise the login took too long.
func (s *Server) verifyExpired(w http.ResponseWriter, r *http.Request, loginID string, method twofold.Method, next string) {
	twice, err := s.svc.EndLoginSentTwice(r.Context(), loginID, httpapi.Meta(r))
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	if !twice.Ended {
		s.loginExpired(w, r)
		return
	}
	s.clearCookie(w, r, loginCookie, "/login")
	msg := "Your code went through, but this browser sent the form twice and dropped the answer that signed you in. " +
		"For your safety that sign-in is ended: sign in again."
	if method == twofold.MethodRecoveryCode {
		msg += fmt.Sprintf(" That recovery code was used: %d left.", twice.RecoveryCodesLeft)
	}
	s.render(w, r, http.StatusOK, "login", Page{Title: "Sign in", Notice: msg, Body: loginBody{Next: next}})
}

// Signing in with a passkey (README "Signing in with a passkey"). The
// login page's "Sign in with a passkey" form holds a hidden input with
// data-webauthn-from: when it is sent, webauthn.js POSTs its CSRF token to
// /login/passkey/options, which begins the sign-in and keeps its id in a
// cookie (the ceremony starts on a POST behind the CSRF token, never on a
// GET), asks the authenticator with the options answered, and sends the
// form with the credential to /login/passkey, which finishes it.

// passkeyOptions begins a sign-in with a passkey and answers its options
// as JSON; a failure is {"error": "…"} with the error's status.
func (s *Server) passkeyOptions(w http.ResponseWriter, r *http.Request) {
	c, err := s.svc.BeginPasskeyLogin(r.Context(), httpapi.Meta(r))
	if err != nil {
		httpapi.WriteJSON(w, s.status(w, r, err), keyOptionsError{Error: message(err)})
		return
	}
	s.setLoginCookie(w, r, passkeyCookie, c.LoginID)
	httpapi.WriteJSON(w, http.StatusOK, c.Options)
}

// passkeyLogin finishes a sign-in with a passkey with the credential the
// browser made, and signs in; every refusal reads the same.
func (s *Server) passkeyLogin(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostForm.Get("next"))
	loginID, credential := s.cookieLogin(r, passkeyCookie), r.PostForm.Get("credential")
	if credential == "" {
		s.render(w, r, http.StatusBadRequest, "login", Page{Title: "Sign in", Body: loginBody{Next: next},
			Error: "Signing in with a passkey needs JavaScript in this browser. Sign in with your username and password instead."})
		return
	}
	if loginID == "" {
		// The key answered, but the sign-in it answered is over: used (the
		// form sent again, as a reload of this answer's page does) or its
		// cookie expired. The script ran; the user only has to start again.
		err := twofold.Errorf(twofold.CodeLoginExpired, "the sign-in with a passkey is over: start again")
		s.render(w, r, s.status(w, r, err), "login", Page{Title: "Sign in", Error: notices["expired"], Body: loginBody{Next: next}})
		return
	}
	s.clearCookie(w, r, passkeyCookie, "/login")
	v, err := s.svc.FinishPasskeyLogin(r.Context(), loginID, []byte(credential), httpapi.Meta(r))
	if err != nil {
		msg, body := message(err), loginBody{Next: next}
		switch {
		case errors.Is(err, core.ErrPasskeyNotRegistered):
			msg = "This passkey is not registered here: it may have been removed from your account. Trying it again cannot work. " +
				"Remove it from this device or password manager, and sign in with your username and password."
			body.UnknownPasskey, body.RPID = s.unknownPasskey(credential)
		case twofold.ErrorCode(err) == twofold.CodeInvalidCredentials:
			msg = "Your passkey was not accepted. Try again, or sign in with your username and password."
		case twofold.ErrorCode(err) == twofold.CodeLoginExpired:
			msg = notices["expired"]
		}
		s.render(w, r, s.status(w, r, err), "login", Page{Title: "Sign in", Error: msg, Body: body})
		return
	}
	s.signedIn(w, r, v.Token)
	http.Redirect(w, r, orDefault(next), http.StatusSeeOther)
}

// unknownPasskey returns the id of the credential of credential, the JSON
// the browser sent, and the relying party's id, for the page's script to
// tell the browser that the credential is unknown here; "" when the id is
// not base64url of at most 1023 bytes (WebAuthn §5.1: the browser made it,
// but the form is the client's to write). The id is the browser's own:
// nothing is shown that it did not send.
func (s *Server) unknownPasskey(credential string) (id, rpID string) {
	var c struct {
		ID string `json:"id"`
	}
	rp, ok := s.svc.RelyingParty()
	if json.Unmarshal([]byte(credential), &c) != nil || !ok {
		return "", ""
	}
	if b, err := base64.RawURLEncoding.DecodeString(c.ID); err != nil || len(b) == 0 || len(b) > 1023 {
		return "", ""
	}
	return c.ID, rp.RPID
}

// signedIn sets the session cookie to token, of a sign-in that has just
// succeeded, and first ends the session the browser's cookie named until
// now, if any (core.LogoutToken, as /logout does): signing in on a browser
// already signed in, as the same account or another, would otherwise leave
// that session alive for its whole lifetime with its cookie gone from the
// browser, out of reach of "Sign out". A failure to end it is logged and
// the sign-in goes on: the old session is then no worse off than before.
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request, token string) {
	if old := s.cookieValue(r, sessionCookie); old != "" && old != token {
		if _, err := s.svc.LogoutToken(r.Context(), old, httpapi.Meta(r)); err != nil {
			s.log.ErrorContext(r.Context(), "end the session signed in over", "request_id", httpapi.RequestID(r.Context()), "err", err)
		}
	}
	s.setCookie(w, r, sessionCookie, token, "/")
}

// logout ends the session the cookie names (core.LogoutToken): with its
// token, or with the one it had before the last renewal, as when a tab
// signs out while another renews the cookie as it confirms it's the
// holder. Only then is the cookie cleared: a cookie that ends no session
// (one older than that, or of a session that had ended) is left alone,
// since the browser may hold a newer one by now, of a session that is
// still signed in, which clearing would hide from the browser without
// ending it. The login page then shows whether it is still signed in.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	token := s.cookieValue(r, sessionCookie)
	ended, err := s.svc.LogoutToken(r.Context(), token, httpapi.Meta(r))
	if err != nil {
		// The session may still be valid: keep the cookie, so that signing
		// out can be tried again.
		s.fail(w, r, nil, err)
		return
	}
	if ended || token == "" {
		s.clearCookie(w, r, sessionCookie, "/")
		http.Redirect(w, r, "/login?m=logged_out", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/login?m=logout_stale", http.StatusSeeOther)
}

// logoutEverywhere ends every session of the account, this one included.
func (s *Server) logoutEverywhere(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.svc.LogoutEverywhere(r.Context(), a, httpapi.Meta(r)); err != nil {
		s.fail(w, r, &a, err)
		return
	}
	s.clearCookie(w, r, sessionCookie, "/")
	http.Redirect(w, r, "/login?m=logged_out_everywhere", http.StatusSeeOther)
}
