package web

import (
	"net/http"
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
}

func (s *Server) adminWebhooks(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderAdminWebhooks(w, r, a, http.StatusOK, adminWebhooksBody{}, notice(r), "")
}

func (s *Server) renderAdminWebhooks(w http.ResponseWriter, r *http.Request, a core.Auth, status int, b adminWebhooksBody, notice, errMsg string) {
	ws, err := s.svc.Webhooks(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b.Webhooks = ws
	s.render(w, r, status, "admin_webhooks", Page{Title: "Webhooks", Account: &a.Account, Notice: notice, Error: errMsg, Body: b})
}

// adminCreateWebhook adds a webhook from the form and shows its secret once.
func (s *Server) adminCreateWebhook(w http.ResponseWriter, r *http.Request, a core.Auth) {
	f := r.PostForm
	b := adminWebhooksBody{URL: f.Get("url"), Events: f.Get("events"), Description: f.Get("description")}
	events := strings.FieldsFunc(b.Events, func(c rune) bool { return c == ',' || unicode.IsSpace(c) })
	wh, secret, err := s.svc.CreateWebhook(r.Context(), a, core.NewWebhook{URL: b.URL, Events: events, Description: b.Description}, httpapi.Meta(r))
	if err != nil {
		s.renderAdminWebhooks(w, r, a, s.status(w, r, err), b, "", message(err))
		return
	}
	s.renderAdminWebhooks(w, r, a, http.StatusOK, adminWebhooksBody{Secret: secret, SecretFor: wh.ID},
		"Webhook added. Copy its signing secret now: it is not shown again.", "")
}

// adminRotateWebhook gives a webhook a new secret and shows it once.
func (s *Server) adminRotateWebhook(w http.ResponseWriter, r *http.Request, a core.Auth) {
	wh, secret, err := s.svc.RotateWebhookSecret(r.Context(), a, r.PathValue("id"), httpapi.Meta(r))
	if err != nil {
		s.webhookRefused(w, r, a, err)
		return
	}
	s.renderAdminWebhooks(w, r, a, http.StatusOK, adminWebhooksBody{Secret: secret, SecretFor: wh.ID},
		"New signing secret made; deliveries are signed with it from now on. Copy it now: it is not shown again.", "")
}

func (s *Server) adminDeleteWebhook(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.svc.DeleteWebhook(r.Context(), a, r.PathValue("id"), httpapi.Meta(r)); err != nil {
		s.webhookRefused(w, r, a, err)
		return
	}
	http.Redirect(w, r, "/admin/webhooks?m=webhook_deleted", http.StatusSeeOther)
}

func (s *Server) adminEnableWebhook(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if _, err := s.svc.EnableWebhook(r.Context(), a, r.PathValue("id"), httpapi.Meta(r)); err != nil {
		s.webhookRefused(w, r, a, err)
		return
	}
	http.Redirect(w, r, "/admin/webhooks?m=webhook_enabled", http.StatusSeeOther)
}

// webhookRefused shows the page again with why a change of a webhook was
// refused; an unknown webhook is a 404 page.
func (s *Server) webhookRefused(w http.ResponseWriter, r *http.Request, a core.Auth, err error) {
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		s.fail(w, r, &a, err)
		return
	}
	s.renderAdminWebhooks(w, r, a, s.status(w, r, err), adminWebhooksBody{}, "", message(err))
}
