package web

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// Pages of push approval (SPEC §2): adding a push device from the security
// page (its enrolment QR code and URI, shown once), and at the second step
// "Send a push", the number to type on the device, and "I approved it".

// pushEnrolBody is the page that shows a push device's enrolment, once.
type pushEnrolBody struct {
	Factor     twofold.Factor
	URI        string
	QR         template.HTML // inline SVG: the token is never stored, so no image URL could draw it again
	ExpiresAt  time.Time
	Command    string
	RenewURL   string
	CancelURL  string
	CancelOnce string // the cancel form's one-time token, the remove form's (remove)
}

// qrSVG draws the QR code of text as an inline SVG, black modules on white.
func qrSVG(text string) (template.HTML, error) {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return "", err
	}
	bm := q.Bitmap()
	var d strings.Builder
	for y, row := range bm {
		for x, dark := range row {
			if dark {
				fmt.Fprintf(&d, "M%d %dh1v1h-1z", x, y)
			}
		}
	}
	n := len(bm)
	return template.HTML(fmt.Sprintf(`<svg class="qr" id="qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="240" height="240" shape-rendering="crispEdges" role="img" aria-label="QR code that enrols a push device"><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="%s"/></svg>`,
		n, n, n, n, d.String())), nil
}

func (s *Server) renderPushEnrol(w http.ResponseWriter, r *http.Request, a core.Auth, e core.PushEnrolment) {
	qr, err := qrSVG(e.URI)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b := pushEnrolBody{Factor: e.Factor, URI: e.URI, QR: qr, ExpiresAt: e.ExpiresAt,
		Command:  "twofold device enrol --state " + stateFileName(e.Factor.Label) + " '" + e.URI + "'",
		RenewURL: "/settings/security/push/" + e.Factor.ID + "/renew", CancelURL: "/settings/security/factors/" + e.Factor.ID + "/remove",
		CancelOnce: s.sameToken(r, a, bound(onceRemove, e.Factor.ID))}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, "pushenrol", Page{Title: "Add a push device", Account: &a.Account, Body: b})
}

// stateFileName suggests a state file named after the device's label.
func stateFileName(label string) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9', r == '-':
			return r
		case 'A' <= r && r <= 'Z':
			return r - 'A' + 'a'
		}
		return '-'
	}, label)
	if strings.Trim(name, "-") == "" {
		name = "device"
	}
	return name + ".json"
}

// addPush adds a push device; with two-factor on, a fresh check first.
func (s *Server) addPush(w http.ResponseWriter, r *http.Request, a core.Auth) {
	label := r.PostForm.Get("label")
	refused := func(err error) { s.renderSecurity(w, r, a, s.status(w, r, err), "", message(err), "") }
	// The form's token before all (enrol).
	use, ok := s.once(r, a, oncePush, refused, func(made string) { s.setupMadeBefore(w, r, a, made) })
	if !ok {
		return
	}
	defer use.Done(r.Context(), "")
	// The name first: a code given for elevation is spent once accepted.
	if err := s.svc.CheckNewFactor(r.Context(), a, core.NewFactor{Type: twofold.FactorPush, Label: label}); err != nil {
		if nameRefused(err) {
			markInvalid(r, "push-label")
		}
		refused(err)
		return
	}
	if err := s.elevateFromForm(w, r, &a); err != nil {
		s.askPush(w, r, a, label, s.status(w, r, err), message(err))
		return
	}
	e, err := s.svc.EnrolPush(r.Context(), a, label, s.baseURL(r), httpapi.Meta(r))
	if twofold.ErrorCode(err) == twofold.CodeElevationRequired {
		s.askPush(w, r, a, label, http.StatusOK, "")
		return
	}
	if err != nil {
		refused(err)
		return
	}
	use.Done(r.Context(), e.Factor.ID)
	s.renderPushEnrol(w, r, a, e)
}

// addPushPage is the page askPush shows, reached by the links of its
// "confirm it's you" fields to the other methods and by the return of
// their buttons ("Send a push", "Text me a code"), which carry the
// device's name. With nothing to confirm it goes to the security page,
// where the device is added.
func (s *Server) addPushPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	label := r.URL.Query().Get("label")
	if label != "" { // told on the page, before a code is spent on it
		if err := s.svc.CheckNewFactor(r.Context(), a, core.NewFactor{Type: twofold.FactorPush, Label: label}); err != nil {
			s.askPush(w, r, a, label, s.status(w, r, err), message(err))
			return
		}
	}
	s.askPush(w, r, a, label, http.StatusOK, "")
}

// askPush asks to confirm it's the holder before a push device called
// label is added.
func (s *Server) askPush(w http.ResponseWriter, r *http.Request, a core.Auth, label string, status int, errMsg string) {
	heading := "Add a push device?"
	if label != "" { // a hidden field, which a link may have filled in
		heading = "Add the push device “" + label + "”?"
	}
	title := "Add a push device"
	if label != "" {
		title = namedTitle(title, label)
	}
	s.askToConfirm(w, r, a, status, title, errMsg, confirmBody{
		Heading: heading, Action: pushPath, Cancel: "/settings/security", Button: "Add the device",
		Text:    []string{"A push device approves sign-ins to your account and its sensitive changes, so adding one needs a code from an authenticator you already have."},
		Fields:  map[string]string{"label": label, onceField: s.onceToken(r, a, oncePush)},
		Keep:    url.Values{"label": {label}},
		Unasked: "/settings/security",
	})
}

// pushPath is the address of adding a push device.
const pushPath = "/settings/security/push"

// renewPush shows a new enrolment code for a push device not enrolled yet;
// with two-factor on, a fresh check first, as for adding one: the code
// makes whichever device uses it first the account's push device.
func (s *Server) renewPush(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.elevateFromForm(w, r, &a); err != nil {
		s.askRenewPush(w, r, a, s.status(w, r, err), message(err))
		return
	}
	e, err := s.svc.RenewPushEnrolment(r.Context(), a, r.PathValue("id"), s.baseURL(r), httpapi.Meta(r))
	switch twofold.ErrorCode(err) {
	case twofold.CodeNotFound, twofold.CodeConflict:
		http.Redirect(w, r, "/settings/security?m=enrol_gone", http.StatusSeeOther)
		return
	case twofold.CodeElevationRequired:
		s.askRenewPush(w, r, a, http.StatusOK, "")
		return
	}
	if err != nil {
		s.renderSecurity(w, r, a, s.status(w, r, err), "", message(err), "")
		return
	}
	s.renderPushEnrol(w, r, a, e)
}

// renewPushPage is the page askRenewPush shows, reached by the links of
// its "confirm it's you" fields to the other methods and by the return of
// their buttons. With nothing to confirm it goes to the security page,
// where the new code is asked for.
func (s *Server) renewPushPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.askRenewPush(w, r, a, http.StatusOK, "")
}

// askRenewPush asks to confirm it's the holder before a new enrolment code
// of the pending push device {id} is shown; a device that is gone, or
// enrolled meanwhile, goes back to the security page, which says so.
func (s *Server) askRenewPush(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg string) {
	_, f, err := s.findFactor(r, a, r.PathValue("id"))
	if twofold.ErrorCode(err) == twofold.CodeNotFound || err == nil && (f.Status != twofold.FactorPending || f.Type != twofold.FactorPush) {
		http.Redirect(w, r, "/settings/security?m=enrol_gone", http.StatusSeeOther)
		return
	}
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	s.askToConfirm(w, r, a, status, namedTitle("New enrolment code", f.Label), errMsg, confirmBody{
		Heading: "Show a new enrolment code for “" + f.Label + "”?", Action: pushPath + "/" + f.ID + "/renew",
		Cancel: "/settings/security", Button: "Show a new code",
		Text:    []string{"The enrolment code makes the device that uses it your push device, which approves sign-ins to your account and its sensitive changes, so a new one needs a code from an authenticator you already have."},
		Unasked: "/settings/security",
	})
}

// baseURL is the URL a device reaches this server at, as the API builds
// it (httpapi.PublicURL).
func (s *Server) baseURL(r *http.Request) string { return httpapi.PublicURL(s.svc.BaseURL(), r) }

// sendLoginPush sends a push for the second step to the device the form
// names, then shows the number to type on it.
func (s *Server) sendLoginPush(w http.ResponseWriter, r *http.Request) {
	loginID := s.cookieLogin(r, loginCookie)
	if loginID == "" {
		http.Redirect(w, r, "/login?m=expired", http.StatusSeeOther)
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	// The secret of this browser's push, if it sent one, makes this a
	// resend: a push another requester sent for the login is not replaced.
	p, err := s.svc.PushLogin(r.Context(), loginID, r.PostForm.Get("factor_id"), s.cookieValue(r, loginPushCookie), httpapi.Meta(r))
	if twofold.ErrorCode(err) == twofold.CodeLoginExpired {
		s.loginExpired(w, r)
		return
	}
	if err != nil {
		s.renderVerify(w, r, s.status(w, r, err), twofold.MethodPush, next, pushMessage(err, "for this sign-in", "start a new sign-in", "sign in another way below"))
		return
	}
	// Only this browser gets the push's secret, which "I approved it"
	// gives back: the login id alone does not take the approval.
	s.setCookie(w, r, loginPushCookie, p.Secret, "/login")
	s.renderPushSent(w, r, http.StatusOK, next, "", p.Number, p.Label, p.ExpiresAt)
}

// pushMessage is the page's answer to a push that was not sent: for a
// conflict, that a push for the same purpose (what), which this browser did
// not send, is still live on the device (core's sendPush), or that one was
// denied, which ends push for it; and what to do instead: begin again
// (anew), or another way (other).
func pushMessage(err error, what, anew, other string) string {
	if twofold.ErrorCode(err) != twofold.CodeConflict {
		return message(err)
	}
	if errors.Is(err, core.ErrPushEnded) {
		return fmt.Sprintf("A push %s was denied on your device, which ends push for it. %s, or %s.", what, upperFirst(anew), other)
	}
	wait := "a little"
	var te *twofold.Error
	if errors.As(err, &te) && te.RetryAfter > 0 {
		wait = waitText(te.RetryAfter)
	}
	return fmt.Sprintf("A push %s that this browser did not send is waiting on your device. If it isn't yours, deny it there, then %s; or %s, or wait %s, until it expires.", what, anew, other, wait)
}

// upperFirst returns s with its first letter in upper case (ASCII).
func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// renderPushSent is the second step while a push waits: the number, until
// when the push works, and "I approved it"; notice, when given, says what
// is awaited (not approved yet), which is no error: the page's title and
// its alert are kept for those.
func (s *Server) renderPushSent(w http.ResponseWriter, r *http.Request, status int, next, notice, number, label string, expires time.Time) {
	number = twoDigits(number)
	s.renderVerifyWith(w, r, status, twofold.MethodPush, next, "", notice, func(b *verifyBody) {
		b.PushNumber, b.PushLabel, b.PushExpiresAt = number, core.CleanText(label, 64), expires
	})
}

// pushExpiresField is the field of "I approved it" that holds when the
// push expires, in Unix seconds: the page's own deadline given back, as
// the number and label are. It only picks what the page says (the time
// shown, or that the push expired), which tells the browser nothing it
// did not send.
const pushExpiresField = "push_expires"

// formPushExpiry returns when the push that r's "I approved it" is about
// expires, from its form; zero when the field is missing or not a time a
// push could have now (later than a new push's).
func (s *Server) formPushExpiry(r *http.Request) time.Time {
	n, err := strconv.ParseInt(r.PostForm.Get(pushExpiresField), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	t := time.Unix(n, 0)
	if t.After(s.svc.Now().Add(core.PushTTL)) {
		return time.Time{}
	}
	return t
}

// verifyPushFailed answers "I approved it" that did not complete the login:
// not answered yet shows the number again; after the push expired, that
// it did, and to send a new one; anything else is the usual failure.
func (s *Server) verifyPushFailed(w http.ResponseWriter, r *http.Request, next string, err error) {
	expires := s.formPushExpiry(r)
	if twofold.ErrorCode(err) == twofold.CodePushPending {
		s.renderPushSent(w, r, http.StatusOK, next, "Not approved yet. Approve the request on your device, then press “I approved it” again.",
			r.PostForm.Get("number"), r.PostForm.Get("label"), expires)
		return
	}
	msg := message(err)
	if twofold.ErrorCode(err) == twofold.CodeInvalidCode && !expires.IsZero() && !s.svc.Now().Before(expires) {
		msg = fmt.Sprintf("That push request expired: a request works for %s. Send a new push below, and approve it on your device.", durationText(core.PushTTL))
	}
	s.renderVerify(w, r, s.status(w, r, err), twofold.MethodPush, next, msg)
}

// twoDigits returns n when it is two digits, else "": only that ever goes
// back into a page.
func twoDigits(n string) string {
	if len(n) != 2 || strings.Trim(n, "0123456789") != "" {
		return ""
	}
	return n
}

// sendElevationPush sends a push to confirm it's the holder, from the "Send
// a push" button of a page's "confirm it's you" fields, and goes back to that
// page, which then shows the number to type on the device.
func (s *Server) sendElevationPush(w http.ResponseWriter, r *http.Request, a core.Auth) {
	_, secret := s.pushSent(r) // a resend, when this session's page sent one
	p, err := s.svc.PushElevation(r.Context(), a, r.PostForm.Get("elevate_factor"), secret, httpapi.Meta(r))
	if err != nil {
		s.buttonFailed(w, r, a, s.status(w, r, err), pushMessage(err, "to confirm it's you", "sign in again", "confirm it another way"))
		return
	}
	s.setCookie(w, r, pushCookie, s.pushCookieValue(r, p.Number, p.Secret), "/")
	http.Redirect(w, r, s.elevationReturn(r, a, "sent"), http.StatusSeeOther)
}
