package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// adminWebhooksBody is the data of the operators' page of webhooks
// (README "Webhooks").
type adminWebhooksBody struct {
	Webhooks []twofold.Webhook
	// The form's fields, kept when it comes back with an error.
	URL, Events, Description string
	// Secret is the signing secret just made for the webhook SecretFor,
	// shown this once.
	Secret, SecretFor string
	// Once is the add form's one-time token (once.go), made afresh for
	// every page: a page that answered the form, loaded again, sends it
	// again with the token it was sent with.
	Once string
	// Again is the webhook that the first sending of a form sent twice
	// added (a reload of the page showing its secret, a double click):
	// its secret was shown only in the answer to that sending.
	Again *twofold.Webhook
	// RotateOnce holds the one-time token of each webhook's "New secret"
	// form on the page, by webhook id.
	RotateOnce map[string]string
	// SecretAgain is the webhook whose new secret the first sending of a
	// "New secret" form sent twice made: shown only in the answer to that
	// sending, while the secret before it signs on beside it.
	SecretAgain *twofold.Webhook
	// Elevation is the form's "confirm it's you" fields, nil while the
	// session is elevated (or the operator has no two-factor, which core
	// refuses with why): then each webhook's buttons act at once, else
	// they lead to a confirmation page asking for a code.
	Elevation *elevationBody
}

// webhookErrorText says in words what the class of a webhook's last
// failed delivery (README "Webhooks") points the operator to.
func webhookErrorText(class string) string {
	if code, ok := strings.CutPrefix(class, "status-"); ok {
		return "the receiver answered HTTP " + code
	}
	switch class {
	case "timeout":
		return "no complete answer in time"
	case "dns":
		return "the host name does not resolve"
	case "refused":
		return "connection refused: nothing listens at that address and port"
	case "reset":
		return "the receiver reset the connection"
	case "closed":
		return "the receiver closed the connection before a complete answer"
	case "connect":
		return "could not connect (no route to the address)"
	case "tls":
		return "the TLS handshake failed (certificate, or no TLS at that port)"
	case "refused-address":
		return "the address is one webhooks may not reach"
	case "secret-unreadable":
		return "this instance's key file lacks the secret's key"
	case "url-unreadable":
		return "the stored URL cannot be opened"
	}
	return "another failure"
}

// webhookDisabledText says in words why a webhook was disabled (its
// DisabledReason, README "Webhooks").
func webhookDisabledText(reason string) string {
	switch reason {
	case twofold.WebhookDisabledFailing:
		return "its deliveries failed for too long"
	case twofold.WebhookDisabledNotOperator:
		return "the operator who answers for it is no operator any more"
	case twofold.WebhookDisabledKeyRevoked:
		return "the API key that answers for it, or a key it was made from, was revoked"
	case twofold.WebhookDisabledKeyExpired:
		return "the API key that answers for it, or a key it was made from, has expired"
	}
	return "for a reason this version does not know"
}

func (s *Server) adminWebhooks(w http.ResponseWriter, r *http.Request, a core.Auth) {
	q := r.URL.Query() // the form's fields, when its "confirm it's you" method was switched
	b := adminWebhooksBody{URL: q.Get("url"), Events: q.Get("events"), Description: q.Get("description")}
	s.renderAdminWebhooks(w, r, a, http.StatusOK, b, notice(r), "")
}

func (s *Server) renderAdminWebhooks(w http.ResponseWriter, r *http.Request, a core.Auth, status int, b adminWebhooksBody, notice, errMsg string) {
	ws, err := s.svc.Webhooks(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	me, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b.Webhooks = ws
	b.Once = s.onceToken(r, a, onceWebhook)
	b.RotateOnce = map[string]string{}
	for _, wh := range ws {
		b.RotateOnce[wh.ID] = s.onceToken(r, a, bound(onceWebhookSecret, wh.ID))
	}
	if b.Elevation = s.elevationFor(r, a, me, "/admin/webhooks"); b.Elevation != nil {
		b.Elevation.Keep = url.Values{"url": {b.URL}, "events": {b.Events}, "description": {b.Description}}
	}
	s.render(w, r, status, "admin_webhooks", Page{Title: "Webhooks", Account: &a.Account, Notice: notice, Error: errMsg, Body: b})
}

// adminCreateWebhook adds a webhook from the form, with the operator's own
// fresh second factor, and shows its secret once.
func (s *Server) adminCreateWebhook(w http.ResponseWriter, r *http.Request, a core.Auth) {
	f := r.PostForm
	b := adminWebhooksBody{URL: f.Get("url"), Events: f.Get("events"), Description: f.Get("description")}
	events := strings.FieldsFunc(b.Events, func(c rune) bool { return c == ',' || unicode.IsSpace(c) })
	// The form's token before all: a second sending must not spend the
	// code, nor add a second endpoint whose secret nobody saw.
	refused := func(err error) { s.renderAdminWebhooks(w, r, a, s.status(w, r, err), b, "", message(err)) }
	use, ok := s.once(r, a, onceWebhook, refused, func(made string) { s.webhookAddedBefore(w, r, a, b, made) })
	if !ok {
		return
	}
	defer use.Done(r.Context(), "")
	var wh twofold.Webhook
	var secret string
	err := s.elevateFromForm(w, r, &a)
	if err == nil {
		wh, secret, err = s.svc.CreateWebhook(r.Context(), a, core.NewWebhook{URL: b.URL, Events: events, Description: b.Description}, httpapi.Meta(r))
	}
	if err != nil {
		if f := core.RefusedField(err); f != "" {
			markInvalid(r, f) // the form's fields have the ids of the names: url, events, description
		}
		s.renderAdminWebhooks(w, r, a, s.status(w, r, err), b, "", message(err))
		return
	}
	use.Done(r.Context(), wh.ID)
	s.renderAdminWebhooks(w, r, a, http.StatusOK, adminWebhooksBody{Secret: secret, SecretFor: wh.ID},
		"Webhook added. Copy its signing secret now: it is not shown again.", "")
}

// webhookAddedBefore answers a later sending of the add form whose first
// added the webhook made (or had not finished, made ""): no second
// endpoint, and the page names the first one, whose secret was shown only
// in the answer to the first sending, and leads to a new secret for it.
func (s *Server) webhookAddedBefore(w http.ResponseWriter, r *http.Request, a core.Auth, b adminWebhooksBody, made string) {
	if made == "" {
		s.renderAdminWebhooks(w, r, a, http.StatusConflict, b, "", "This form was sent twice, and the first sending had not finished adding its webhook when the second arrived. Look for it in the list below before you add another.")
		return
	}
	wh, err := s.svc.Webhook(r.Context(), a, made)
	switch {
	case twofold.ErrorCode(err) == twofold.CodeNotFound:
		// Added, and deleted since: the form as it was sent, to add anew.
		s.renderAdminWebhooks(w, r, a, http.StatusOK, b, "The webhook this form added has been deleted since. The form is filled in as it was: add it again if you still want it.", "")
	case err != nil:
		s.fail(w, r, &a, err)
	default:
		s.renderAdminWebhooks(w, r, a, http.StatusOK, adminWebhooksBody{Again: &wh}, "", "")
	}
}

// A change of one webhook (a new secret, enabling, deleting) is a button
// on the page while the session is elevated; otherwise, or when the
// elevation lapsed meanwhile, it is asked for on a confirmation page with
// the operator's own second factor, as other operator changes are.

// webhookChange is one of the changes of a webhook, for its confirmation
// page.
type webhookChange struct {
	action  string // the last path element
	title   string
	heading string
	text    []string
	button  string
	danger  bool
	needs   string // names the change for an operator without two-factor
}

var (
	rotateWebhookChange = webhookChange{action: "rotate-secret", title: "New webhook secret", heading: "Make a new signing secret for %s?",
		text:   []string{"Deliveries begun from now on are signed with the new secret, shown once on the next page. Give it to the receiver at once: it rejects them until it has it."},
		button: "Make a new secret", needs: "Changing a webhook's secret"}
	enableWebhookChange = webhookChange{action: "enable", title: "Enable webhook", heading: "Enable %s again?",
		text:   []string{"Delivery goes on with the first event not delivered: the receiver gets every event since it was disabled."},
		button: "Enable", needs: "Enabling a webhook"}
	deleteWebhookChange = webhookChange{action: "delete", title: "Delete webhook", heading: "Delete %s?",
		text:   []string{"Nothing more is sent to it, and the events not yet delivered never are. To receive the audit log there again, add it anew (with a new secret)."},
		button: "Delete the webhook", danger: true, needs: "Deleting a webhook"}
)

// adminWebhookPage is the confirmation page of change c of the webhook of
// the path.
func (s *Server) adminWebhookPage(c webhookChange) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, a core.Auth) {
		s.renderWebhookConfirm(w, r, a, c, http.StatusOK, "")
	}
}

func (s *Server) renderWebhookConfirm(w http.ResponseWriter, r *http.Request, a core.Auth, c webhookChange, status int, errMsg string) {
	id := r.PathValue("id")
	wh, err := s.svc.Webhook(r.Context(), a, id)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	me, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	name, short := "the webhook to "+wh.URL, webhookName(wh)
	if wh.URL == "" {
		name = "the webhook " + wh.ID // its URL cannot be opened
	}
	b := confirmBody{Action: "/admin/webhooks/" + id + "/" + c.action, Cancel: "/admin/webhooks", CancelLabel: "Back to webhooks",
		Heading: fmt.Sprintf(c.heading, name), Text: c.text, Button: c.button, Danger: c.danger}
	if c.action == rotateWebhookChange.action {
		if t := s.onceToken(r, a, bound(onceWebhookSecret, id)); t != "" {
			b.Fields = map[string]string{onceField: t}
		}
	}
	s.renderOperatorConfirm(w, r, a, me, status, namedTitle(c.title, short), errMsg, c.needs, b)
}

// webhookName names wh in a page's <title>: by its description and its
// URL's host, never the whole URL, whose path or query may hold a token of
// the receiver's that the browser's history would keep; by its id when the
// URL cannot be opened.
func webhookName(wh twofold.Webhook) string {
	host := wh.ID
	if u, err := url.Parse(wh.URL); wh.URL != "" && err == nil && u.Host != "" {
		host = u.Host
	}
	if wh.Description != "" {
		return wh.Description + " (" + host + ")"
	}
	return host
}

// adminRotateWebhook gives a webhook a new secret, with the operator's own
// fresh second factor, and shows it once.
func (s *Server) adminRotateWebhook(w http.ResponseWriter, r *http.Request, a core.Auth) {
	id := r.PathValue("id")
	// The form's token before all: sent twice, the form must not make a
	// second secret, which would void at once the secret the receiver
	// holds (only the one it replaces signs beside the new one).
	refused := func(err error) {
		s.renderWebhookConfirm(w, r, a, rotateWebhookChange, s.status(w, r, err), message(err))
	}
	use, ok := s.once(r, a, bound(onceWebhookSecret, id), refused, func(made string) { s.webhookSecretMadeBefore(w, r, a, id, made) })
	if !ok {
		return
	}
	defer use.Done(r.Context(), "")
	var wh twofold.Webhook
	var secret string
	err := s.elevateFromForm(w, r, &a)
	if err == nil {
		wh, secret, err = s.svc.RotateWebhookSecret(r.Context(), a, id, httpapi.Meta(r))
	}
	switch {
	case twofold.ErrorCode(err) == twofold.CodeNotFound:
		s.fail(w, r, &a, err)
	case err != nil:
		s.renderWebhookConfirm(w, r, a, rotateWebhookChange, s.status(w, r, err), message(err))
	default:
		use.Done(r.Context(), wh.ID)
		s.renderAdminWebhooks(w, r, a, http.StatusOK, adminWebhooksBody{Secret: secret, SecretFor: wh.ID},
			"New signing secret made; deliveries are signed with it from now on. Copy it now: it is not shown again.", "")
	}
}

// webhookSecretMadeBefore answers a later sending of a "New secret" form
// of webhook id whose first made a secret (made, the webhook's id; "" when
// it had not finished): no other secret, and the page says that the one
// made was shown only in the answer to the first sending.
func (s *Server) webhookSecretMadeBefore(w http.ResponseWriter, r *http.Request, a core.Auth, id, made string) {
	if made == "" {
		s.renderAdminWebhooks(w, r, a, http.StatusConflict, adminWebhooksBody{}, "", "This form was sent twice, and the first sending had not finished making the new secret when the second arrived: no other secret was made.")
		return
	}
	wh, err := s.svc.Webhook(r.Context(), a, id)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	s.renderAdminWebhooks(w, r, a, http.StatusOK, adminWebhooksBody{SecretAgain: &wh}, "", "")
}

func (s *Server) adminDeleteWebhook(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.operatorAct(w, r, a, func(a core.Auth, m core.Meta) (string, error) {
		err := s.svc.DeleteWebhook(r.Context(), a, r.PathValue("id"), m)
		if twofold.ErrorCode(err) == twofold.CodeNotFound {
			// Deleted already: the form sent twice, or by another operator.
			return "/admin/webhooks?m=webhook_gone", nil
		}
		return "", err
	}, func(status int, errMsg string) { s.renderWebhookConfirm(w, r, a, deleteWebhookChange, status, errMsg) }, "/admin/webhooks?m=webhook_deleted")
}

func (s *Server) adminEnableWebhook(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.operatorAct(w, r, a, func(a core.Auth, m core.Meta) (string, error) {
		_, err := s.svc.EnableWebhook(r.Context(), a, r.PathValue("id"), m)
		return "", err
	}, func(status int, errMsg string) { s.renderWebhookConfirm(w, r, a, enableWebhookChange, status, errMsg) }, "/admin/webhooks?m=webhook_enabled")
}
