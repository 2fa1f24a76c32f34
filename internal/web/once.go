package web

import (
	"net/http"

	"github.com/twofold/twofold/internal/core"
)

// Forms that make something carry a one-time form token (core.TakeForm) in
// the field onceField, one per form and purpose, made as the page is
// rendered: sent twice, such as by a double click whose first answer the
// browser drops, the form makes one thing, and the second answer tells of
// it. This holds without JavaScript: the server alone keeps it.

// onceField is the name of the form field that holds the one-time token.
const onceField = "once"

// The purposes of one-time form tokens: one per form that makes
// something.
const (
	onceAPIKey  = "api-key"        // an API key (createAPIKey)
	onceEnrol   = "enrol"          // an app or hardware token's setup (enrol)
	onceSent    = "sent"           // a phone or an address (addSent)
	oncePush    = "push"           // a push device (addPush)
	onceKey     = "webauthn"       // a security key or passkey (addKey)
	onceCodes   = "recovery-codes" // new recovery codes (regenerate)
	onceTeam    = "team"           // a team (createTeam)
	onceWebhook = "webhook"        // an operator's webhook (adminCreateWebhook)
	// The forms bound to one thing, named by its id (bound): a second
	// sending is told apart from a form for something else, and a token
	// works only at the address of the thing it was made for.
	onceRemove = "remove-factor" // removing an authenticator (remove)
	onceJoin   = "join"          // joining a team by an invitation (acceptInvitation)
	onceReset  = "reset"         // an operator's reset of an account's two-factor (adminReset)
	// A new secret of one webhook (adminRotateWebhook), bound to it but
	// made afresh for every page: each page's form makes one secret.
	onceWebhookSecret = "webhook-secret"
	// The forms that confirm an authenticator, whose first sending may
	// answer with the recovery codes and the paper key (confirmedAgain).
	onceConfirm = core.FormConfirm // an app, a hardware token, a phone or an address (confirm, confirmSent)
	onceClaim   = core.FormClaim   // a hardware token an operator imported (claim)
)

// bound returns the purpose of a form of purpose about the thing id: its
// one-time token works for that id only.
func bound(purpose, id string) string { return purpose + " " + id }

// onceToken returns a one-time token for a form of purpose on the page
// answering a's session, or "" when none can be made (the form then works
// as before, without the guard).
func (s *Server) onceToken(r *http.Request, a core.Auth, purpose string) string {
	t, err := s.svc.NewFormToken(a, purpose)
	if err != nil {
		s.log.ErrorContext(r.Context(), "no form token", "purpose", purpose, "err", err)
		return ""
	}
	return t
}

// sameToken is onceToken for a form about one thing (bound): every page
// of the session shows the form with the same random part
// (core.NewSameFormToken), so that the form sent from a second tab, or a
// page loaded again, counts as the same form sent again.
func (s *Server) sameToken(r *http.Request, a core.Auth, purpose string) string {
	t, err := s.svc.NewSameFormToken(a, purpose)
	if err != nil {
		s.log.ErrorContext(r.Context(), "no form token", "purpose", purpose, "err", err)
		return ""
	}
	return t
}

// once takes the one-time token of the form r sends for purpose. On the
// form's first sending it returns the core.FormUse, which the handler
// tells what it made (Done with the id, or "" when it made nothing: a
// deferred Done(ctx, "") covers every failure). When the form was sent
// before it calls again with the id of what the first sending made (""
// when that one had not finished) and returns false; a token that is out
// of date or not this session's goes to refused, the form's error path,
// and returns false. A form sent without a token is sent as before: nil,
// true.
func (s *Server) once(r *http.Request, a core.Auth, purpose string, refused func(error), again func(made string)) (*core.FormUse, bool) {
	return s.onceUse(r, a, purpose, refused, func(u *core.FormUse) { again(u.Made) })
}

// onceUse is once, handing again the whole core.FormUse of a later
// sending, for core to answer it (core.ConfirmSentAgain).
func (s *Server) onceUse(r *http.Request, a core.Auth, purpose string, refused func(error), again func(*core.FormUse)) (*core.FormUse, bool) {
	token := r.PostForm.Get(onceField)
	if token == "" {
		return nil, true
	}
	u, err := s.svc.TakeForm(r.Context(), a, purpose, token)
	if err != nil {
		refused(err)
		return nil, false
	}
	if u.Again {
		again(u)
		return nil, false
	}
	return u, true
}
