package httpapi

import (
	"net/http"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
)

// Webhooks (/v1/admin/webhooks): the operator's endpoints the audit log is
// pushed to (README "Webhooks"). A secret is shown only in the answer that
// made it.

// webhookJSON is a webhook as the operator API shows it: never its secret.
type webhookJSON struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	// URLShortened: url is the endpoint's scheme and host only, for a
	// caller who may read webhooks but not change them.
	URLShortened bool `json:"url_shortened,omitempty"`
	// URLUnavailable is, when set, why the server cannot open the
	// webhook's stored URL (url is then ""): nothing is delivered to it.
	URLUnavailable string    `json:"url_unavailable,omitempty"`
	Events         []string  `json:"events"`
	Description    string    `json:"description"`
	CreatedAt      time.Time `json:"created_at"`
	// CreatedByKey is the id of the API key that made the webhook or
	// last turned it on, whose revocation or expiry stops it; null when an
	// operator's session did.
	CreatedByKey *string    `json:"created_by_key"`
	Enabled      bool       `json:"enabled"`
	DisabledAt   *time.Time `json:"disabled_at,omitempty"`
	// DisabledReason is why it was disabled (failing, owner-not-operator,
	// key-revoked, key-expired); absent while it is on. The status's
	// last_error stays the class of its deliveries' last failure.
	DisabledReason string `json:"disabled_reason,omitempty"`
	// PreviousSecretUntil is until when the secret a rotation replaced
	// still signs deliveries beside the new one; absent when none does.
	PreviousSecretUntil *time.Time        `json:"previous_secret_until,omitempty"`
	Status              webhookStatusJSON `json:"status"`
}

type webhookStatusJSON struct {
	LastDeliveredAt *time.Time `json:"last_delivered_at,omitempty"`
	LastAttemptAt   *time.Time `json:"last_attempt_at,omitempty"`
	LastError       string     `json:"last_error,omitempty"`
	Failures        int        `json:"failures"`
	FailingSince    *time.Time `json:"failing_since,omitempty"`
	NextAttemptAt   *time.Time `json:"next_attempt_at,omitempty"`
	Cursor          cursorJSON `json:"cursor"`
}

// cursorJSON is where delivery stands: every event up to the event id of
// the transaction txid (PostgreSQL; 0 on SQLite) is delivered.
type cursorJSON struct {
	TxID    int64 `json:"txid"`
	EventID int64 `json:"event_id"`
}

func toWebhookJSON(w twofold.Webhook) webhookJSON {
	events := w.Events
	if events == nil {
		events = []string{}
	}
	st := w.Status
	var key *string
	if w.CreatedByKey != "" {
		key = &w.CreatedByKey
	}
	return webhookJSON{ID: w.ID, URL: w.URL, URLShortened: w.URLShortened, URLUnavailable: w.URLUnavailable, Events: events, Description: w.Description, CreatedAt: w.CreatedAt,
		CreatedByKey: key,
		Enabled:      w.DisabledAt.IsZero(), DisabledAt: timeOrNil(w.DisabledAt), DisabledReason: w.DisabledReason, PreviousSecretUntil: timeOrNil(w.PreviousSecretUntil),
		Status: webhookStatusJSON{LastDeliveredAt: timeOrNil(st.LastDeliveredAt), LastAttemptAt: timeOrNil(st.LastAttemptAt),
			LastError: st.LastError, Failures: st.Failures, FailingSince: timeOrNil(st.FailingSince), NextAttemptAt: timeOrNil(st.NextAttemptAt),
			Cursor: cursorJSON{TxID: w.Cursor.TxID, EventID: w.Cursor.ID}}}
}

func (s *Server) adminWebhooks(w http.ResponseWriter, r *http.Request, a core.Auth) {
	ws, err := s.svc.Webhooks(r.Context(), a)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := make([]webhookJSON, 0, len(ws))
	for _, wh := range ws {
		out = append(out, toWebhookJSON(wh))
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": out})
}

func (s *Server) adminWebhook(w http.ResponseWriter, r *http.Request, a core.Auth) {
	wh, err := s.svc.Webhook(r.Context(), a, r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhook": toWebhookJSON(wh)})
}

func (s *Server) adminCreateWebhook(w http.ResponseWriter, r *http.Request, a core.Auth) {
	var req struct {
		URL         string   `json:"url"`
		Events      []string `json:"events"`
		Description string   `json:"description"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	wh, secret, err := s.svc.CreateWebhook(r.Context(), a, core.NewWebhook{URL: req.URL, Events: req.Events, Description: req.Description}, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.Header().Set("Location", "/v1/admin/webhooks/"+wh.ID)
	writeJSON(w, http.StatusCreated, map[string]any{"webhook": toWebhookJSON(wh), "secret": secret})
}

func (s *Server) adminDeleteWebhook(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.svc.DeleteWebhook(r.Context(), a, r.PathValue("id"), Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminRotateWebhookSecret(w http.ResponseWriter, r *http.Request, a core.Auth) {
	wh, secret, err := s.svc.RotateWebhookSecret(r.Context(), a, r.PathValue("id"), Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhook": toWebhookJSON(wh), "secret": secret})
}

func (s *Server) adminEnableWebhook(w http.ResponseWriter, r *http.Request, a core.Auth) {
	wh, err := s.svc.EnableWebhook(r.Context(), a, r.PathValue("id"), Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhook": toWebhookJSON(wh)})
}
