package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// confirmBody is the data of a confirmation page: a sensitive change, asked
// once more, with a code field when the session needs elevation first.
type confirmBody struct {
	Heading string
	Text    []string
	Warning string
	Action  string            // the form's POST URL
	Fields  map[string]string // hidden fields
	// AskLabel shows a field for a factor's name, holding Label.
	AskLabel bool
	Label    string
	// AskEmail shows a field for a new email address, holding Email.
	AskEmail bool
	Email    string
	// AskPassword shows a field for the account's current password.
	AskPassword bool
	Button      string
	Danger      bool
	Cancel      string
	// CancelLabel names the way back when "Cancel" would be ambiguous.
	CancelLabel string
	Elevation   *elevationBody // nil when the session is elevated
	// Keep is what the links of the "confirm it's you" fields to the other
	// methods, and the return of their buttons, carry along (see
	// elevationBody.Keep): the page's fields, so that its own GET, which
	// those lead to, shows them again. Never a password or an elevate_
	// field.
	Keep url.Values
	// Unasked is, for a page that asks only to confirm it's you before a
	// change made from another page, where its GET sends a session that
	// has nothing to confirm; "" shows the page anyway.
	Unasked string
}

// elevationBody is the "confirm it's you" part of a form (SPEC §3.1 elevation).
type elevationBody struct {
	Method       twofold.Method
	Alternatives []twofold.Method
	// Of an sms or email method: the factor the code is sent to, its name,
	// and whether a code was sent for this page.
	FactorID, FactorLabel string
	Sent                  bool
	// Number is, after a push was sent for this page, the number to type
	// on the device (push.go).
	Number string
	// SSH is, for ssh_key, the challenge waiting to be signed for this
	// session's elevation; nil until one is asked for ("Get a challenge",
	// a POST: making one replaces the one before, so a GET never does).
	SSH  *core.SSHKeyChallenge
	Self string // this page, for links to the other methods
	// Keep is what the user typed on this page that the links to the other
	// methods carry along, so that switching methods loses none of it:
	// sealed for the session (seal, sealKeep), never in clear.
	Keep url.Values
	seal func(url.Values) string
	// Invalid reports whether the code or signature of this form was just
	// refused: the field is marked aria-invalid and described by the error.
	Invalid bool
}

// elevationRefusedKey marks a request whose "confirm it's you" answer
// elevateFromForm refused as a wrong code or signature.
type elevationRefusedKey struct{}

// Href returns the link to this page asking for method m, with Keep
// sealed.
func (e *elevationBody) Href(m twofold.Method) string {
	href := e.Self + "?method=" + url.QueryEscape(string(m))
	if len(e.Keep) > 0 && e.seal != nil {
		href += "&" + keptParam + "=" + e.seal(e.Keep)
	}
	return href
}

// askToConfirm shows the confirmation page b, whose form posts to
// b.Action, with the "confirm it's you" fields when the session needs them
// and errMsg when the last try failed. Their links to the other methods
// lead to GET b.Action, which must show the same page.
func (s *Server) askToConfirm(w http.ResponseWriter, r *http.Request, a core.Auth, status int, title, errMsg string, b confirmBody) {
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b.Elevation = s.elevationFor(r, a, p, b.Action)
	if b.Elevation == nil && b.Unasked != "" && r.Method == http.MethodGet {
		http.Redirect(w, r, b.Unasked, http.StatusSeeOther)
		return
	}
	if b.Elevation != nil {
		b.Elevation.Keep = b.Keep
	}
	s.render(w, r, status, "confirm", Page{Title: title, Account: &a.Account, Error: errMsg, Body: b})
}

// elevationFor returns the code field for a confirmation page, or nil when
// the session is still elevated. The method comes from ?method=.
func (s *Server) elevationFor(r *http.Request, a core.Auth, p core.Profile, self string) *elevationBody {
	if a.Elevated(s.svc.Now()) || !p.Enabled {
		return nil
	}
	var have []twofold.Method
	sends := map[twofold.Method]twofold.Factor{} // the factor each code-sending method uses
	for _, t := range []twofold.FactorType{twofold.FactorTOTP, twofold.FactorHOTP, twofold.FactorWebAuthn, twofold.FactorSMS, twofold.FactorEmail, twofold.FactorPush} {
		for _, f := range p.Factors {
			if f.Status == twofold.FactorActive && f.Type == t && f.Unavailable == "" {
				have = append(have, twofold.Method(t))
				if t.SendsCodes() || t == twofold.FactorPush {
					sends[twofold.Method(t)] = f
				}
				break
			}
		}
	}
	if p.RecoveryCodesRemaining > 0 {
		have = append(have, twofold.MethodRecoveryCode)
	}
	if p.PaperKey || len(have) == 0 {
		have = append(have, twofold.MethodPaperKey)
	}
	if s.hasSSHKey(r, a) {
		have = append(have, twofold.MethodSSHKey)
	}
	want := twofold.Method(r.FormValue("method"))
	if want == "" {
		want = twofold.Method(r.FormValue("elevate_method"))
	}
	e := &elevationBody{Method: have[0], Self: self, seal: func(v url.Values) string { return s.sealKeep(a, v) }}
	for _, m := range have {
		if m == want {
			e.Method = m
		}
	}
	for _, m := range have {
		if m != e.Method {
			e.Alternatives = append(e.Alternatives, m)
		}
	}
	if f, ok := sends[e.Method]; ok {
		e.FactorID, e.FactorLabel, e.Sent = f.ID, f.Label, r.FormValue("sent") == "1"
	}
	if e.Method == twofold.MethodPush && e.Sent {
		e.Number, _ = s.pushSent(r)
	}
	if e.Method == twofold.MethodSSHKey {
		e.SSH = s.elevationSSHChallenge(r, a)
	}
	e.Invalid, _ = r.Context().Value(elevationRefusedKey{}).(bool)
	return e
}

// hasSSHKey reports whether the account has an active SSH key to confirm
// it's the holder with; when that cannot be told, the page offers the
// other ways.
func (s *Server) hasSSHKey(r *http.Request, a core.Auth) bool {
	ok, err := s.svc.HasSSHKey(r.Context(), a)
	if err != nil {
		s.log.ErrorContext(r.Context(), "ssh keys for elevation", "request_id", httpapi.RequestID(r.Context()), "err", err)
	}
	return ok
}

// elevationSSHChallenge returns the challenge waiting for the session's
// elevation, or nil.
func (s *Server) elevationSSHChallenge(r *http.Request, a core.Auth) *core.SSHKeyChallenge {
	c, found, err := s.svc.PendingElevationSSHChallenge(r.Context(), a)
	if err != nil {
		s.log.ErrorContext(r.Context(), "ssh challenge for elevation", "request_id", httpapi.RequestID(r.Context()), "err", err)
	}
	if !found {
		return nil
	}
	return &c
}

// elevateFromForm elevates a's session with the form's code, when the form
// has one and the session needs it, and updates a to match. The session
// gets a new token as it is elevated, set as its cookie on w (and in r,
// for the rest of this request): the old cookie stops working, so that a
// copy of it never becomes elevated. Forms open in other tabs carry the
// same CSRF token as before (it is bound to the browser, not the session).
func (s *Server) elevateFromForm(w http.ResponseWriter, r *http.Request, a *core.Auth) error {
	code, credential := r.PostForm.Get("elevate_code"), r.PostForm.Get("elevate_credential")
	signature := r.PostForm.Get("elevate_signature")
	method := twofold.Method(r.PostForm.Get("elevate_method"))
	push := method == twofold.MethodPush && r.PostForm.Get("elevate_push") != "" // "I approved it"
	if !elevationAnswered(r) || a.Elevated(s.svc.Now()) {
		return nil
	}
	var pushSecret string
	if push {
		code = ""
		_, pushSecret = s.pushSent(r)
	}
	p := core.SecondFactor{Method: method, FactorID: r.PostForm.Get("elevate_factor"), Code: code, Credential: []byte(credential),
		Signature: signature, PushSecret: pushSecret}
	e, token, err := s.svc.ElevateRenewing(r.Context(), *a, p, httpapi.Meta(r))
	if err != nil {
		if twofold.ErrorCode(err) == twofold.CodeInvalidCode {
			// The page shown next marks the field (elevationFor).
			*r = *r.WithContext(context.WithValue(r.Context(), elevationRefusedKey{}, true))
		}
		return refusedKey(err, method)
	}
	s.setCookie(w, r, sessionCookie, token, "/")
	s.replaceRequestCookie(r, sessionCookie, token)
	a.Session.ElevatedUntil = e.Until
	if e.RecoveryCodeUsed { // the next page says how many are left (SPEC §1 story 4)
		left := strconv.Itoa(e.RecoveryCodesLeft)
		s.setCookie(w, r, recoveryCookie, left, "/")
		s.replaceRequestCookie(r, recoveryCookie, left)
	}
	return nil
}

// elevationAnswered reports whether the form carries an answer of its
// "confirm it's you" fields: a code, a security key's credential, an SSH
// signature, or "I approved it" of a push.
func elevationAnswered(r *http.Request) bool {
	f := r.PostForm
	push := twofold.Method(f.Get("elevate_method")) == twofold.MethodPush && f.Get("elevate_push") != ""
	return f.Get("elevate_code") != "" || f.Get("elevate_credential") != "" || f.Get("elevate_signature") != "" || push
}

// sendElevationCode texts or emails a code to confirm it's the holder, from
// the "Text me a code" button of a page's "confirm it's you" fields, and
// goes back to that page, which then asks for the code. Its secret is kept
// in a cookie bound to the session.
func (s *Server) sendElevationCode(w http.ResponseWriter, r *http.Request, a core.Auth) {
	// The secret of this session's codes, if it asked for one, makes this a
	// resend: a live code another requester asked for is not replaced.
	method := twofold.Method(r.PostForm.Get("elevate_method"))
	c, err := s.svc.ChallengeElevation(r.Context(), a, method, r.PostForm.Get("elevate_factor"), s.codeSent(r), httpapi.Meta(r))
	if c.Secret != "" { // also beside an error, when the text may still arrive
		s.setCookie(w, r, codeCookie, s.codeCookieValue(r, c.Secret), "/")
	}
	if twofold.ErrorCode(err) == twofold.CodeConflict && (method == twofold.MethodSMS || method == twofold.MethodEmail) {
		s.buttonFailed(w, r, a, s.status(w, r, err), codeBusyMessage(err, method, "confirm it's you another way"))
		return
	}
	if err != nil {
		s.buttonFailed(w, r, a, s.status(w, r, err), message(err))
		return
	}
	http.Redirect(w, r, s.elevationReturn(r, a, "sent"), http.StatusSeeOther)
}

// sshElevationChallenge makes a challenge to sign with an SSH key for the
// session's elevation, from the "Get a challenge" button of a page's
// "confirm it's you" fields (the live one, when the session has one), and goes back to
// that page, which then shows it.
func (s *Server) sshElevationChallenge(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if _, err := s.svc.ChallengeElevationSSH(r.Context(), a); err != nil {
		s.buttonFailed(w, r, a, s.status(w, r, err), message(err))
		return
	}
	http.Redirect(w, r, s.elevationReturn(r, a, ""), http.StatusSeeOther)
}

// sshElevationChallengeFile serves the challenge waiting for the session's
// elevation as challenge.txt, the exact bytes to sign.
func (s *Server) sshElevationChallengeFile(w http.ResponseWriter, r *http.Request, a core.Auth) {
	c, found, err := s.svc.PendingElevationSSHChallenge(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	if !found {
		s.renderError(w, r, &a, http.StatusNotFound, "No challenge is waiting: ask for one on the page you came from.")
		return
	}
	serveChallenge(w, c)
}

// elevationReturn is the page to go back to after a button of the "confirm
// it's you" fields (the form's "return": the page asking for its method,
// with what it keeps sealed), carrying what the user has typed since into
// the fields the form's "keep" names, sealed again (sealKeep), and flag=1
// when flag is set. When what was typed makes the address longer than
// maxReturn, the page comes back without it, with its method and flag: the
// flow goes on, and only the typing is lost.
func (s *Server) elevationReturn(r *http.Request, a core.Auth, flag string) string {
	back := safePath(r.PostForm.Get("return"), maxForm)
	if back == "" {
		return "/settings/security"
	}
	u, err := url.Parse(back)
	if err != nil {
		return "/settings/security"
	}
	q, bare := u.Query(), url.Values{}
	kept := s.openKeep(a, q.Get(keptParam))
	q.Del(keptParam)
	if kept == nil {
		kept = url.Values{}
	}
	for _, name := range r.PostForm["keep"] {
		if vs, ok := r.PostForm[name]; ok && len(vs) > 0 && !reservedField(name) {
			kept.Set(name, vs[0])
			q.Del(name)
		}
	}
	if m := q.Get("method"); m != "" {
		bare.Set("method", m)
	}
	if flag != "" {
		q.Set(flag, "1")
		bare.Set(flag, "1")
	}
	if len(kept) > 0 {
		q.Set(keptParam, s.sealKeep(a, kept))
	}
	// Parsing and printing again can change the path (an escaped slash
	// printed as one), so the result is checked as the input was.
	for _, v := range []url.Values{q, bare} {
		u.RawQuery = v.Encode()
		if out := safePath(u.String(), maxReturn); out != "" {
			return out
		}
	}
	return "/settings/security"
}

// buttonError is, in a request's context, the failure of a button of the
// "confirm it's you" fields that its page shows (buttonFailed).
type buttonError struct {
	status int
	msg    string
}

type buttonErrorKey struct{}

// buttonFailed answers a button of the "confirm it's you" fields whose
// action failed (too many sends, a code still live, the device gone) with
// the page the button came from, as its GET shows it with what was typed
// (the form's return, with the typing sealed), msg as its error and status
// as its status (with Retry-After, which s.status set): a bare error page
// would lose the typing, and offer no other way to confirm. A page whose
// GET does not show it (a session that ended meanwhile, nothing left to
// confirm) goes its own way, as it would have at the next click.
func (s *Server) buttonFailed(w http.ResponseWriter, r *http.Request, a core.Auth, status int, msg string) {
	back, err := url.Parse(s.elevationReturn(r, a, ""))
	if s.mux == nil || err != nil || status == httpapi.StatusClientClosedRequest {
		s.renderError(w, r, &a, status, msg)
		return
	}
	g := r.Clone(context.WithValue(r.Context(), buttonErrorKey{}, buttonError{status: status, msg: msg}))
	g.Method, g.URL, g.RequestURI = http.MethodGet, back, back.RequestURI()
	g.Body, g.ContentLength, g.Form, g.PostForm = http.NoBody, 0, nil, nil
	g.Header.Del("Content-Type")
	g.Header.Del("Content-Length")
	s.mux.ServeHTTP(w, g)
}

// maxReturn bounds the address a button of the "confirm it's you" fields
// goes back to: room for what a form keeps (a name, an address, a few
// permits), not for a pasted file.
const maxReturn = 4096

// reservedField reports whether a form field is one of the page's own
// machinery, never carried along as typed text.
func reservedField(name string) bool {
	switch name {
	case "csrf", "return", "keep", keptParam, "method", "sent", "next":
		return true
	}
	return strings.HasPrefix(name, "elevate_")
}
