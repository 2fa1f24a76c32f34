package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
	"github.com/twofold/twofold/internal/permit"
)

// Page is what every template receives.
type Page struct {
	Title   string
	Account *twofold.Account // nil when nobody is logged in
	CSRF    string
	Notice  string // a success message
	Error   string
	// Invalid is the id of the field that Error is about, "" when it is
	// about none or the handler cannot tell: that field is marked
	// aria-invalid and described by the error (see aria).
	Invalid string
	Body    any    // the page's own data
	Nav     string // the menu entry of the page: "security", "teams", "dns", "admin", "admin-teams", "tokens" or "webhooks"
	// Recovery says, on the first page after a recovery code confirmed
	// it's the holder, how many are left (render fills it in).
	Recovery *recoveryNote
}

// recoveryNote is how many recovery codes are left after one was used to
// confirm it's the holder; Low from lowRecoveryCodes left, when the page
// warns to make a new set, as the login's second step does (SPEC §1 story 4).
type recoveryNote struct {
	Left int
	Low  bool
}

// takeRecoveryNote returns the recovery note waiting for the caller, and
// clears it: it is shown once.
func (s *Server) takeRecoveryNote(w http.ResponseWriter, r *http.Request) *recoveryNote {
	v := s.cookieValue(r, recoveryCookie)
	if v == "" {
		return nil
	}
	s.clearCookie(w, r, recoveryCookie, "/")
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 100 {
		return nil
	}
	return &recoveryNote{Left: n, Low: n <= lowRecoveryCodes}
}

// dropRecoveryNote clears the recovery note waiting for the caller,
// unshown, and reports whether there was one.
func (s *Server) dropRecoveryNote(w http.ResponseWriter, r *http.Request) bool {
	if s.cookieValue(r, recoveryCookie) == "" {
		return false
	}
	s.clearCookie(w, r, recoveryCookie, "/")
	s.replaceRequestCookie(r, recoveryCookie, "")
	return true
}

// parsePages parses each page in templates/ together with the layout.
func parsePages(funcs template.FuncMap) (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", n, err)
		}
		pages[strings.TrimSuffix(base, ".html")] = t
	}
	return pages, nil
}

// render writes page name with status. Templates render into a buffer first,
// so that a failing template never leaves half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p Page) {
	if status == httpapi.StatusClientClosedRequest {
		w.WriteHeader(status) // the client went away (see Server.status): nobody reads a page
		return
	}
	t, ok := s.pages[name]
	if !ok {
		s.log.ErrorContext(r.Context(), "no such page template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if be, ok := r.Context().Value(buttonErrorKey{}).(buttonError); ok && name != "error" && status == http.StatusOK && p.Error == "" {
		status, p.Error = be.status, be.msg // a failed button's page (buttonFailed)
	}
	if p.CSRF == "" {
		p.CSRF = s.formToken(r)
	}
	if p.Error == confirmFirst && keyNotSent(r) {
		p.Error = noKeySent
	}
	if p.Account != nil {
		p.Recovery = s.takeRecoveryNote(w, r)
	}
	switch {
	case strings.HasPrefix(r.URL.Path, "/settings/teams"):
		p.Nav = "teams"
	case strings.HasPrefix(r.URL.Path, "/settings/dns"):
		p.Nav = "dns"
	case strings.HasPrefix(r.URL.Path, "/settings/"):
		p.Nav = "security"
	case strings.HasPrefix(r.URL.Path, "/admin/tokens"):
		p.Nav = "tokens"
	case strings.HasPrefix(r.URL.Path, "/admin/webhooks"):
		p.Nav = "webhooks"
	case strings.HasPrefix(r.URL.Path, "/admin/events"):
		p.Nav = "admin-events"
	case strings.HasPrefix(r.URL.Path, "/admin/teams"):
		p.Nav = "admin-teams"
	case strings.HasPrefix(r.URL.Path, "/admin/"):
		p.Nav = "admin"
	}
	if p.Error != "" && p.Invalid == "" {
		p.Invalid = markedInvalid(r)
	}
	if p.Error != "" && name != "error" {
		// A form shown again with an error says so first in its title,
		// which is what a screen reader reads as the page opens.
		p.Title = "Error: " + p.Title
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		s.log.ErrorContext(r.Context(), "render page", "name", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// errorBody is the data of the error page.
type errorBody struct {
	Status  int
	Heading string
	Message string // said in the page's card, not again above it as Page.Error
	Sent    string // what the first sending of a form sent twice did (sentBefore), or ""
}

// renderError writes the error page with a message.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, a *core.Auth, status int, msg string) {
	s.renderErrorHeaded(w, r, a, status, errorHeading(status), msg)
}

// renderErrorHeaded is renderError with the page's heading and title,
// for a handler that can say better than the status what happened.
func (s *Server) renderErrorHeaded(w http.ResponseWriter, r *http.Request, a *core.Auth, status int, heading, msg string) {
	p := Page{Title: heading, Body: errorBody{Status: status, Heading: heading, Message: msg}}
	if a != nil {
		p.Account = &a.Account
	}
	s.render(w, r, status, "error", p)
}

// errorHeading is the heading and title of the error page with status:
// what happened in words, never the bare HTTP phrase ("Gone").
func errorHeading(status int) string {
	switch status {
	case http.StatusForbidden:
		return "Not allowed"
	case http.StatusNotFound:
		return "Page not found"
	case http.StatusGone:
		return "Expired"
	case http.StatusUnauthorized:
		return "Not accepted"
	case http.StatusTooManyRequests:
		return "Too many attempts"
	case http.StatusBadRequest:
		return "Something is wrong with the request"
	case http.StatusConflict:
		return "Not possible now"
	case http.StatusServiceUnavailable:
		return "Not available right now"
	case http.StatusMethodNotAllowed:
		return "Not available here"
	case http.StatusRequestEntityTooLarge:
		return "Too much sent"
	}
	if status >= 500 {
		return "Something went wrong"
	}
	return "Not possible"
}

// funcs are the template helpers.
func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		"date": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return core.TimeText(t)
		},
		"datetime": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"static":   s.staticURL,
		"ago":      func(t time.Time) string { return ago(s.svc.Now(), t) },
		// resetByMail reports whether "Forgot your password?" can work here.
		"resetByMail": s.svc.PasswordResetByMail,
		// emailByMail reports whether the account's address can be changed.
		"emailByMail": s.svc.EmailChangeByMail,
		// sendsCodes reports whether codes of a factor type ("sms",
		// "email") can be sent.
		"sendsCodes": func(t string) bool { return s.svc.SendsCodes(twofold.FactorType(t)) },
		"deref":      func(t *time.Time) time.Time { return *t },
		"future":     func(t time.Time) bool { return t.After(s.svc.Now()) },
		"duration":   durationText,
		"groups":     groupsOf4,
		"event":      eventText,
		"aria":       ariaAttrs,
		"factorKind": factorKind,
		"plural": func(n int, one, many string) string {
			if n == 1 {
				return one
			}
			return many
		},
		"shortUA":         core.ShortUserAgent,
		"permit":          permit.Format,
		"join":            strings.Join,
		"evlist":          newEventList,
		"webhookError":    webhookErrorText,
		"webhookDisabled": webhookDisabledText,
		"detail":          detailHTML,
		"failure": func(typ string) bool {
			return strings.Contains(typ, "failed") || strings.HasSuffix(typ, "throttled")
		},
	}
}

// ago says how long before now t was, roughly.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < 2*time.Minute:
		return "a minute ago"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d/time.Minute))
	case d < 2*time.Hour:
		return "an hour ago"
	case d < 24*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d/time.Hour))
	case d < 48*time.Hour:
		return "yesterday"
	case d < 60*24*time.Hour:
		return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
	}
	return t.UTC().Format("2 Jan 2006")
}

// groupsOf4 splits a secret into groups of four characters for typing.
func groupsOf4(s string) []string {
	var out []string
	for len(s) > 4 {
		out = append(out, s[:4])
		s = s[4:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

// eventList is the data of the "eventlist" template: events, with their
// details (the real causes) for operators, and the labels of the account's
// factors, by id.
type eventList struct {
	Events  []twofold.AuditEvent
	Details bool
	Labels  map[string]string
}

// newEventList lists evs of an account whose factors are factors.
func newEventList(evs []twofold.AuditEvent, details bool, factors []twofold.Factor) eventList {
	l := eventList{Events: evs, Details: details, Labels: make(map[string]string, len(factors))}
	for _, f := range factors {
		l.Labels[f.ID] = f.Label
	}
	return l
}

// Factor returns the label of the factor that ev's detail names by its id,
// while the factor still exists, or "". The stored detail stays as it was:
// the label is the factor's now, looked up as the page is made.
func (l eventList) Factor(ev twofold.AuditEvent) string {
	for _, w := range strings.FieldsFunc(ev.Detail, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if label, ok := l.Labels[w]; ok {
			return label
		}
	}
	return ""
}

// Subject names the one thing, of several the account may have, that ev
// is about (core.SubjectOf), as its holder knows it: an API key by its name
// (“deploy”), with why a refused use was refused, or as the key that asked
// for one key too many (asked by “deploy”); a removed authenticator
// by its label and kind as recorded at its removal (“Phone”, Authenticator
// app (TOTP)), its kind alone for a removal recorded before labels were;
// an SSH key by its fingerprint; another event of an authenticator by its
// label while it exists (Factor). "" when ev names none. Never a secret:
// the names are the holder's own, fingerprints are public.
func (l eventList) Subject(ev twofold.AuditEvent) string {
	sub, ok := core.SubjectOf(ev)
	switch {
	case ok && sub.Kind == "api_key" && ev.Type == "api_key.create_throttled":
		return "asked by “" + sub.Name + "”" // the key that asked, not one made
	case ok && sub.Kind == "api_key":
		if sub.Cause != "" {
			return "“" + sub.Name + "”: " + sub.Cause
		}
		return "“" + sub.Name + "”"
	case ok && sub.Kind == "ssh_key":
		return sub.Name
	case ok && ev.Type == "factor.removed":
		kind := factorKind(twofold.FactorType(sub.Kind))
		if sub.Name == "" {
			return "(" + kind + ")"
		}
		return "“" + sub.Name + "” (" + kind + ")"
	}
	if label := l.Factor(ev); label != "" {
		return "“" + label + "”"
	}
	return ""
}

// factorKind names a factor's type for people.
func factorKind(t twofold.FactorType) string {
	switch t {
	case twofold.FactorTOTP:
		return "Authenticator app (TOTP)"
	case twofold.FactorHOTP:
		return "Hardware token (HOTP)"
	case twofold.FactorSMS:
		return "Text message"
	case twofold.FactorEmail:
		return "Email"
	case twofold.FactorPush:
		return "Push device"
	case twofold.FactorWebAuthn:
		return "Security key"
	}
	return string(t)
}

// eventTexts are the audit event types in words.
var eventTexts = map[string]string{
	"account.created":                "Account created",
	"login.succeeded":                "Signed in",
	"login.password_succeeded":       "Password accepted, second step asked",
	"login.password_failed":          "Sign-in failed: wrong username or password",
	"login.second_factor_failed":     "Sign-in failed at the second step",
	"session.revoked":                "A session signed out from the list of sessions",
	"session.ended":                  "Signed out",
	"session.elevated":               "Confirmed with a second factor",
	"session.elevation_failed":       "Second-factor confirmation failed",
	"factor.created":                 "Authenticator setup started",
	"factor.confirmed":               "Authenticator added",
	"factor.confirm_failed":          "Authenticator setup: code not accepted",
	"factor.renamed":                 "Authenticator renamed",
	"token.claimed":                  "Hardware token added",
	"token.claim_failed":             "Hardware token not added: serial or code not accepted",
	"token.claim_throttled":          "Hardware token not added: too many attempts",
	"factor.removed":                 "Authenticator removed",
	"factor.resynchronised":          "Authenticator resynchronised",
	"factor.resync_failed":           "Authenticator resynchronisation failed",
	"recovery_code.used":             "Recovery code used",
	"recovery.failures_reported":     "Emailed you: repeated failed recovery codes or paper key",
	"recovery_codes.regenerated":     "New recovery codes generated",
	"paper_key.used":                 "Paper key used",
	"paper_key.reissued":             "New paper key made in place of the one shown before",
	"two_factor.required":            "Two-factor required at every sign-in",
	"two_factor.not_required":        "Two-factor no longer required at sign-in",
	"account.unlocked":               "Failed-attempt locks cleared by an operator",
	"account.suspended":              "Account suspended by an operator: signed out everywhere",
	"account.unsuspended":            "Suspension lifted by an operator",
	"account.operator_granted":       "Made an operator",
	"account.operator_removed":       "No longer an operator",
	"two_factor.reset_requested":     "Reset of two-factor requested",
	"two_factor.reset_cancelled":     "Reset of two-factor cancelled",
	"two_factor.reset":               "Two-factor reset: authenticators, recovery codes, paper key and SSH keys removed",
	"login.throttled":                "Too many attempts: sign-in paused for a while",
	"password.changed":               "Password changed, other sessions signed out",
	"password.change_failed":         "Password change failed: wrong current password",
	"account.email_change_requested": "Change of email address asked for",
	"account.email_change_failed":    "Change of email address: wrong code",
	"account.email_changed":          "Email address changed",
	"password.reset_requested":       "Password reset asked for",
	"password.reset":                 "Password reset with a mailed link, every session signed out",
	"password.reset_failed":          "Password reset refused: wrong second factor",
	"session.ended_everywhere":       "Signed out everywhere",
	"session.ended_by_recovery":      "Every other session signed out by a sign-in on the recovery path",
	"session.ended_renewal_lost":     "Signed out for safety: a page came with the cookie from just before a confirmation (a form sent twice)",
	"session.ended_login_sent_twice": "Signed out for safety: a sign-in's second step was sent twice, and its first answer dropped",
	"api_key.create_throttled":       "API key not made: too many made in a short time",
	"api_key.created":                "API key created",
	"api_key.revoked":                "API key revoked",
	"api_key.used":                   "API key used",
	"api_key.refused":                "API key refused",
	"audit.suppressed":               "Events of one kind came too fast: the others held back (see the detail)",
	"ssh_key.created":                "SSH key setup started",
	"ssh_key.added":                  "SSH key added",
	"ssh_key.confirm_failed":         "SSH key setup: signature not accepted",
	"ssh_key.removed":                "SSH key removed",
	"ssh_key.used":                   "SSH key used",
	"login.passkey_failed":           "Sign-in with a passkey refused",
	"account.delete_failed":          "Closing the account refused: wrong password",
	"account.deleted":                "Account closed",
	"login.refused":                  "Sign-in refused: the account is suspended",
	"password.listed":                "The password used to sign in is on a list of passwords known to attackers",
	"password.reset_throttled":       "Password reset not sent: too many requests from one address",
	"admin.key_refused":              "An operator's API key was refused an action on this account",
	"api_key.token_revoked":          "API key token ended early",
	"code.sent":                      "Code sent by text message or email",
	"code.send_failed":               "Sending a code failed",
	"code.send_refused":              "Code not sent: the phone number's country is not allowed",
	"code.send_throttled":            "Code not sent: too many requests, paused for a while",
	"code.refused":                   "Code not sent: a code asked for elsewhere still works",
	"factor.create_refused":          "Authenticator not added: that secret is already in use",
	"factor.passkey_refused":         "Passkey not added: wrong password",
	"security_key.challenged":        "Security key asked for",
	"security_key.clone_warning":     "Warning: a security key's counter went backwards, so it may have been copied",
	"push.enrolled":                  "Phone app for sign-in approvals added",
	"push.enrolment_renewed":         "Phone app setup started again",
	"push.enrol_failed":              "Phone app setup refused",
	"push.sent":                      "Sign-in approval request sent to the phone app",
	"push.approved":                  "Approval request accepted on the phone app",
	"push.denied":                    "Approval request denied on the phone app",
	"push.refused":                   "Approval request not sent: another one is waiting, or one was just denied",
	"push.throttled":                 "Approval requests paused: too many requests or denials",
	"push.locked":                    "Approval requests paused after repeated denials",
	"push.unapproved_reported":       "Emailed you: many approval requests not approved",
	"push.device_auth_failed":        "The phone app's request was refused: bad signature or sent twice",
	"push.device_refused":            "The phone app asked while your account was suspended",
	"dns.zone_added":                 "DNS zone added",
	"dns.zone_removed":               "DNS zone removed",
	"dns.zone_shared":                "DNS zone shared with a team",
	"dns.zone_unshared":              "DNS zone no longer shared with a team",
	"dns.records_changed":            "DNS records changed",
	"team.created":                   "Team created",
	"team.renamed":                   "Team renamed",
	"team.deleted":                   "Team deleted",
	"team.two_factor_required":       "Team now requires two-factor for its members",
	"team.two_factor_not_required":   "Team no longer requires two-factor for its members",
	"team.invited":                   "Someone invited to a team",
	"team.invitation_received":       "Invitation to a team received",
	"team.invitation_accepted":       "Team invitation accepted",
	"team.invitation_declined":       "Team invitation declined",
	"team.invitation_revoked":        "Team invitation withdrawn",
	"team.invitation_void":           "Team invitation could not be used",
	"team.joined":                    "Joined a team",
	"team.left":                      "Left a team",
	"team.member_removed":            "Member removed from a team",
	"team.removed":                   "Removed from a team",
	"team.role_changed":              "Role in a team changed",
	"tokens.imported":                "Hardware tokens imported",
	"webhook.created":                "Webhook created",
	"webhook.deleted":                "Webhook deleted",
	"webhook.enabled":                "Webhook turned on",
	"webhook.disabled":               "Webhook turned off",
	"webhook.secret_rotated":         "Webhook signing secret replaced",
	"keys.rotated":                   "Encryption keys rotated",
	"database.restored":              "Database restored from a backup",
}

func eventText(typ string) string {
	if t, ok := eventTexts[typ]; ok {
		return t
	}
	return typ
}

// ariaAttrs returns the attributes that tie a field to its hints (the ids
// of their elements) and, when invalid, to the page's error (id "error"),
// marking it aria-invalid and giving it the focus (autofocus): {{aria (eq
// $.Invalid "code") "code-hint"}}. A field the page would focus otherwise
// has autofocus only while no field is invalid ({{if not $.Invalid}}), so
// that after a refusal the one it is about has it.
func ariaAttrs(invalid bool, hints ...string) template.HTMLAttr {
	ids := slices.DeleteFunc(slices.Clone(hints), func(h string) bool { return h == "" })
	if invalid {
		ids = append(ids, "error")
	}
	var b strings.Builder
	if len(ids) > 0 {
		b.WriteString(` aria-describedby="` + template.HTMLEscapeString(strings.Join(ids, " ")) + `"`)
	}
	if invalid {
		b.WriteString(` aria-invalid="true" autofocus`)
	}
	return template.HTMLAttr(b.String())
}

// invalidFieldKey holds, in a request's context, the id of the field that
// the error of the page shown next is about (markInvalid).
type invalidFieldKey struct{}

// markInvalid records that the error the page shown next for r says is
// about the field with id field, for render to fill in Page.Invalid where
// the handler that shows it does not: the handler that finds the error
// knows the field, the one that shows the page often does not.
func markInvalid(r *http.Request, field string) {
	*r = *r.WithContext(context.WithValue(r.Context(), invalidFieldKey{}, field))
}

// markedInvalid returns the field markInvalid marked for r, else, when
// the "confirm it's you" answer of r's form was refused as wrong
// (elevateFromForm), its field, else "".
func markedInvalid(r *http.Request) string {
	if f, ok := r.Context().Value(invalidFieldKey{}).(string); ok {
		return f
	}
	if refused, _ := r.Context().Value(elevationRefusedKey{}).(bool); refused {
		if r.PostForm.Get("elevate_signature") != "" {
			return "elevate_signature"
		}
		return "elevate_code"
	}
	return ""
}

// newAccountField returns which field of a form that makes an account
// (username, email, password and its repetition, with the ids given) err,
// refusing it, is about: a username taken or not one, an email that is not
// an address, else (the password rules) the password; "" for other errors.
func newAccountField(err error, username, email string, ids [3]string) string {
	switch twofold.ErrorCode(err) {
	case twofold.CodeConflict:
		return ids[0]
	case twofold.CodeInvalid:
		switch {
		case core.ValidateUsername(username) != nil:
			return ids[0]
		case email != "" && core.ValidEmail(email) != nil:
			return ids[1]
		}
		return ids[2]
	}
	return ""
}

// nameRefused reports whether err refuses a new authenticator's name:
// not a name (invalid), or another factor's (core.ErrNameTaken).
func nameRefused(err error) bool {
	return twofold.ErrorCode(err) == twofold.CodeInvalid || errors.Is(err, core.ErrNameTaken)
}

// markInvalidOn marks field (markInvalid) when err is one of codes, and
// returns err.
func markInvalidOn(r *http.Request, err error, field string, codes ...twofold.Code) error {
	if slices.Contains(codes, twofold.ErrorCode(err)) {
		markInvalid(r, field)
	}
	return err
}

// typedField returns, when the page shows the error errMsg after a form,
// with status 400 or 401 (what was typed is refused), the first of fields
// that the form filled in: the field the error is about, on a page whose
// form asks for one thing (a code, a signature). Another status (too many
// attempts, a form sent twice, a login ended) is about no field, and marks
// none.
func typedField(r *http.Request, status int, errMsg string, fields ...string) string {
	if errMsg == "" || r.Method != http.MethodPost || status != http.StatusBadRequest && status != http.StatusUnauthorized {
		return ""
	}
	for _, f := range fields {
		if r.PostForm.Get(f) != "" {
			return f
		}
	}
	return ""
}

// invalidField returns the field that err, from a form with a second
// factor's code (codeField) and a new password (passwordField), is about:
// a code not accepted is the code's; an invalid input is the password's,
// the form's only free text (the password rules refuse it so). Other
// errors name no field.
func invalidField(err error, codeField, passwordField string) string {
	switch twofold.ErrorCode(err) {
	case twofold.CodeInvalidCode:
		return codeField
	case twofold.CodeInvalid:
		return passwordField
	}
	return ""
}
