package core

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/permit"
)

// Webhooks push the audit log to an operator's control panel instead of
// its polling GET /v1/admin/events (README "Webhooks"): each endpoint
// receives batches of events in commit order, none skipped and, but for a
// crash between a delivery and its record, none twice. Of several
// instances on one database, the one that leases an endpoint delivers to
// it; its cursor moves by a compare-and-set.

// WebhookStore is the storage of webhooks; *store.Store implements it.
type WebhookStore interface {
	// CreateWebhook stores a webhook that starts with the events committed
	// from now on.
	CreateWebhook(ctx context.Context, w twofold.Webhook) error
	Webhooks(ctx context.Context) ([]twofold.Webhook, error)
	// LockWebhooks serialises, inside InTx, the transactions that count
	// the webhooks and add one, until the transaction ends.
	LockWebhooks(ctx context.Context) error
	// Webhook returns a webhook; an unknown id is not-found.
	Webhook(ctx context.Context, id string) (twofold.Webhook, error)
	DeleteWebhook(ctx context.Context, id string) (bool, error)
	// SetWebhookSecret replaces a webhook's secret if it is still sealed
	// as fromKeyID/fromSealed, keeping the one it replaces, sealed as
	// prevKeyID/prevSealed, until prevUntil (zero: keeping none).
	SetWebhookSecret(ctx context.Context, id, fromKeyID string, fromSealed []byte, keyID string, sealed []byte,
		prevKeyID string, prevSealed []byte, prevUntil time.Time) (bool, error)
	// ClearWebhookPreviousSecrets forgets the previous secrets that no
	// longer sign at now.
	ClearWebhookPreviousSecrets(ctx context.Context, now time.Time) (int64, error)
	// EnableWebhook turns a disabled webhook on, reporting false when it
	// is unknown or was on; by and byKey (the API key, "" for a session)
	// answer for it from then on.
	EnableWebhook(ctx context.Context, id, by, byKey string) (bool, error)
	// DueWebhooks returns the webhooks on and due at now that no other
	// instance than owner leases.
	DueWebhooks(ctx context.Context, owner string, now time.Time) ([]string, error)
	// ClaimWebhook leases a webhook on and due to owner until until, or
	// extends owner's lease; false: another instance holds it.
	ClaimWebhook(ctx context.Context, id, owner string, now, until time.Time) (bool, error)
	// ReleaseWebhook ends owner's lease of a webhook.
	ReleaseWebhook(ctx context.Context, id, owner string) error
	// WebhookFeed returns up to limit events after c that a webhook of
	// types receives, in delivery order, and the cursor after them.
	WebhookFeed(ctx context.Context, c twofold.WebhookCursor, types []string, limit int) ([]twofold.AuditEvent, twofold.WebhookCursor, error)
	// AdvanceWebhook moves the cursor from from to to while owner leases
	// the webhook and the cursor is at from.
	AdvanceWebhook(ctx context.Context, id, owner string, from, to twofold.WebhookCursor, now time.Time, delivered bool) (bool, error)
	// FailWebhook records a failure and the next try, and disables the
	// webhook (reason failing) when disable is set, while owner leases it.
	FailWebhook(ctx context.Context, id, owner string, now, next time.Time, errClass string, disable bool) (bool, error)
	// DisableWebhook disables a webhook for reason without a delivery,
	// its status kept, while owner leases it.
	DisableWebhook(ctx context.Context, id, owner string, now time.Time, reason string) (bool, error)
	// DisableWebhooksBy turns off every webhook that is on and that the
	// account answers for (CreatedBy), for reason, returning them.
	DisableWebhooksBy(ctx context.Context, accountID string, now time.Time, reason string) ([]twofold.Webhook, error)
	// DisableWebhooksOfEndedKeys turns off every webhook that is on and
	// that an API key answers for (CreatedByKey) which is revoked or has
	// expired at now, for reason key-revoked or key-expired, returning
	// them.
	DisableWebhooksOfEndedKeys(ctx context.Context, now time.Time) ([]twofold.Webhook, error)
	// ClearWebhookURLs returns the webhooks whose URL is stored in the
	// clear (from before migration 0089), with their id and URL alone.
	ClearWebhookURLs(ctx context.Context) ([]twofold.Webhook, error)
	// SealWebhookURL stores a webhook's URL sealed as keyID/sealed in
	// place of clearURL, if it still holds that in the clear.
	SealWebhookURL(ctx context.Context, id, clearURL, keyID string, sealed []byte) (bool, error)
}

// Webhook delivery tunables.
const (
	// WebhookBatch bounds the events of one delivery.
	WebhookBatch = 100
	// WebhookTimeout bounds one delivery, answer included.
	WebhookTimeout = 10 * time.Second
	// webhookLease is how long an instance holds an endpoint from its last
	// claim: well over WebhookTimeout, so that a lease taken before a
	// delivery outlives it.
	webhookLease = 60 * time.Second
	// webhookRetryFirst and webhookRetryMax are the first wait after a
	// failure and the most it grows to, doubling with each failure.
	webhookRetryFirst = 5 * time.Second
	webhookRetryMax   = 10 * time.Minute
	// DefaultWebhookDisableAfter is how long an endpoint may fail before it
	// is disabled.
	DefaultWebhookDisableAfter = 72 * time.Hour
	// maxWebhookURL bounds a webhook's URL.
	maxWebhookURL = 2048
	// WebhookSecretGrace is how long, after a rotation, the secret it
	// replaced still signs deliveries beside the new one, so that a
	// receiver that has either accepts them.
	WebhookSecretGrace = 24 * time.Hour
)

// NewWebhook is what an operator gives to add a webhook.
type NewWebhook struct {
	URL         string
	Events      []string // event types, and prefixes such as "login.*"; none: every event
	Description string
}

// webhookAAD binds a webhook's sealed secret to its row.
func webhookAAD(id string) []byte { return keyring.AAD("webhooks", "secret", id) }

// webhookPrevAAD binds a webhook's previous secret to its row, apart
// from the current one.
func webhookPrevAAD(id string) []byte { return keyring.AAD("webhooks", "previous_secret", id) }

// webhookURLAAD binds a webhook's sealed URL to its row.
func webhookURLAAD(id string) []byte { return keyring.AAD("webhooks", "url", id) }

// openWebhookURL sets w.URL from its sealed copy (a row stored before
// migration 0089 and not sealed yet has it in the clear). A URL that cannot
// be opened (unreadableSecret: its key cannot be read, or the stored copy
// does not decrypt) leaves w.URL empty and w.URLUnavailable saying why, and
// is logged with the webhook's id, never a URL; any other error is
// returned.
func (s *Service) openWebhookURL(ctx context.Context, w *twofold.Webhook) error {
	if w.URLKeyID == "" {
		return nil
	}
	u, err := s.keys.Open(ctx, w.URLKeyID, w.SealedURL, webhookURLAAD(w.ID))
	if err != nil {
		w.URL = ""
		if !unreadableSecret(err) {
			return err
		}
		s.log.Warn("a webhook's URL could not be opened; it is listed as unavailable and not delivered to", "webhook", w.ID, "err", err)
		w.URLUnavailable = webhookURLUnreadable
		if errors.Is(err, keyring.ErrUndecryptable) {
			w.URLUnavailable = webhookURLDamaged
		}
		return nil
	}
	w.URL = string(u)
	return nil
}

// The reasons a webhook's URL is unavailable (Webhook.URLUnavailable).
const (
	webhookURLUnreadable = "the server cannot read this webhook's URL at the moment (its key is not available); nothing is delivered to it meanwhile"
	webhookURLDamaged    = "the server's stored copy of this webhook's URL is damaged; delete the webhook and add it again"
)

// openWebhookURLs is openWebhookURL for each of ws.
func (s *Service) openWebhookURLs(ctx context.Context, ws []twofold.Webhook) error {
	for i := range ws {
		if err := s.openWebhookURL(ctx, &ws[i]); err != nil {
			return err
		}
	}
	return nil
}

// SealWebhookURLs seals the URLs of the webhooks stored in the clear
// before migration 0089, once, at a server's start, returning how many it
// sealed: afterwards no row holds a URL in the clear. Each is a
// compare-and-set on the clear URL, so instances starting together seal
// each once.
func (s *Service) SealWebhookURLs(ctx context.Context) (int, error) {
	ws, err := s.store.ClearWebhookURLs(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, w := range ws {
		var keyID string
		var sealed []byte
		var ok bool
		err := sealAndStore(func() (err error) {
			keyID, sealed, err = s.keys.SealContext(ctx, []byte(w.URL), webhookURLAAD(w.ID))
			return err
		}, func() (err error) {
			ok, err = s.store.SealWebhookURL(ctx, w.ID, w.URL, keyID, sealed)
			return err
		})
		if err != nil {
			return n, fmt.Errorf("webhook %s: %w", w.ID, err)
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// redactWebhook returns w as an operator sees it: no secret, and
// PreviousSecretUntil only while the previous secret still signs at now.
// A caller who may not change webhooks (a key with admin webhooks read
// alone) sees the URL's scheme and host only.
func redactWebhook(w twofold.Webhook, now time.Time, op Auth) twofold.Webhook {
	w.SealedSecret, w.SecretKeyID, w.Secret = nil, "", nil
	w.SealedURL, w.URLKeyID = nil, ""
	if w.URL != "" && (adminAllowed(op, "webhooks", permit.Write) != nil || adminAllowed(op, "events", permit.Read) != nil) {
		if u, err := url.Parse(w.URL); err == nil {
			w.URL, w.URLShortened = u.Scheme+"://"+u.Host, true
		}
	}
	w.PreviousSealedSecret, w.PreviousSecretKeyID = nil, ""
	if !now.Before(w.PreviousSecretUntil) {
		w.PreviousSecretUntil = time.Time{}
	}
	return w
}

// CreateWebhook adds a webhook for an operator and returns it with its
// signing secret, shown this once. A caller needs admin webhooks write
// and, since the endpoint receives the audit log, admin events read.
func (s *Service) CreateWebhook(ctx context.Context, op Auth, n NewWebhook, m Meta) (twofold.Webhook, string, error) {
	if err := s.requireWebhookWrite(ctx, op, "adding a webhook"); err != nil {
		return twofold.Webhook{}, "", err
	}
	u, err := s.checkWebhookURL(n.URL)
	if err != nil {
		return twofold.Webhook{}, "", inField("url", err)
	}
	events, err := checkWebhookEvents(n.Events)
	if err != nil {
		return twofold.Webhook{}, "", inField("events", err)
	}
	if err := checkWebhookDescription(n.Description); err != nil {
		return twofold.Webhook{}, "", inField("description", err)
	}
	id, err := s.newID()
	if err != nil {
		return twofold.Webhook{}, "", err
	}
	w := twofold.Webhook{ID: "wh_" + id, URL: u, Events: events, Description: CleanText(strings.TrimSpace(n.Description), utf8.UTFMax*MaxWebhookDescription),
		CreatedAt: s.Now(), CreatedBy: op.Account.ID, CreatedByKey: callerKeyID(op)}
	secret, err := s.webhookSecret()
	if err != nil {
		return twofold.Webhook{}, "", err
	}
	err = sealAndStore(func() (err error) {
		if w.SecretKeyID, w.SealedSecret, err = s.keys.SealContext(ctx, []byte(secret), webhookAAD(w.ID)); err != nil {
			return err
		}
		w.URLKeyID, w.SealedURL, err = s.keys.SealContext(ctx, []byte(w.URL), webhookURLAAD(w.ID))
		return err
	}, func() error {
		return s.inTx(ctx, func(ctx context.Context) error {
			// Held until the commit: two instances adding one each
			// would otherwise both count MaxWebhooks-1 and both add.
			if err := s.store.LockWebhooks(ctx); err != nil {
				return err
			}
			ws, err := s.store.Webhooks(ctx)
			if err != nil {
				return err
			}
			if len(ws) >= MaxWebhooks {
				return twofold.Errorf(twofold.CodeConflict, "a server has at most %d webhooks: delete one first", MaxWebhooks)
			}
			if err := s.store.CreateWebhook(ctx, w); err != nil {
				return err
			}
			s.audit(ctx, op.Account.ID, "webhook.created", m, webhookDetail(w)+" by "+actor(op))
			return nil
		})
	})
	if err != nil {
		return twofold.Webhook{}, "", err
	}
	return redactWebhook(w, s.Now(), op), secret, nil
}

// callerKeyID returns the id of the API key op authenticated with; "" for
// a session.
func callerKeyID(op Auth) string {
	if op.Key == nil {
		return ""
	}
	return op.Key.ID
}

// checkWebhookDescription refuses a description that holds a hidden
// character (hiddenRune: line breaks, escapes, text-direction overrides,
// zero-width ones): it is shown on the operators' pages and in the audit
// log, where such characters would make it read as something else. One
// longer than MaxWebhookDescription is refused too, rather than stored
// cut short.
func checkWebhookDescription(d string) error {
	if strings.IndexFunc(d, hiddenRune) >= 0 {
		return twofold.Errorf(twofold.CodeInvalid, "description must be one line without control, invisible, filler, private-use or text-direction characters").On("description")
	}
	if utf8.RuneCountInString(strings.TrimSpace(d)) > MaxWebhookDescription {
		return twofold.Errorf(twofold.CodeInvalid, "description must be at most %d characters", MaxWebhookDescription).On("description")
	}
	return nil
}

// MaxWebhookDescription is how many characters a webhook's description
// may have: the add form's field holds no more.
const MaxWebhookDescription = 200

// MaxWebhooks is how many webhooks a server delivers to: each is read and
// delivered every second by every instance that may lease it.
const MaxWebhooks = 20

// requireWebhookWrite refuses a caller who may not change webhooks: as
// requireAdminWrite, and a key also needs admin events read, as a webhook
// hands out the audit log.
func (s *Service) requireWebhookWrite(ctx context.Context, op Auth, what string) error {
	if err := s.requireAdminWrite(ctx, op, "webhooks", what); err != nil {
		return err
	}
	return adminAllowed(op, "events", permit.Read)
}

// webhookDetail names a webhook in an audit event: its id and where it
// delivers, without the URL's path and query, which may hold a token of
// the receiver's.
func webhookDetail(w twofold.Webhook) string {
	return "webhook " + w.ID + " to " + webhookHost(w)
}

// webhookHost returns the scheme and host of w's URL, without its path
// and query, which may hold a token; for a URL that could not be opened
// (openWebhookURL), or parsed, a placeholder, never the URL.
func webhookHost(w twofold.Webhook) string {
	if w.URL == "" {
		return "(URL unavailable)"
	}
	if u, err := url.Parse(w.URL); err == nil {
		return u.Scheme + "://" + u.Host
	}
	return "(URL not parsed)"
}

// webhookSecret returns a new signing secret: "whsec_" and 32 random bytes
// in base64url.
func (s *Service) webhookSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := s.rand.Read(b); err != nil {
		return "", err
	}
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// Webhooks returns every webhook, for an operator: never a secret.
func (s *Service) Webhooks(ctx context.Context, op Auth) ([]twofold.Webhook, error) {
	if err := adminAllowed(op, "webhooks", permit.Read); err != nil {
		return nil, err
	}
	ws, err := s.store.Webhooks(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.openWebhookURLs(ctx, ws); err != nil {
		return nil, err
	}
	for i := range ws {
		ws[i] = redactWebhook(ws[i], s.Now(), op)
	}
	return ws, nil
}

// Webhook returns one webhook with its status, for an operator: never its
// secret.
func (s *Service) Webhook(ctx context.Context, op Auth, id string) (twofold.Webhook, error) {
	if err := adminAllowed(op, "webhooks", permit.Read); err != nil {
		return twofold.Webhook{}, err
	}
	w, err := s.store.Webhook(ctx, id)
	if err == nil {
		err = s.openWebhookURL(ctx, &w)
	}
	return redactWebhook(w, s.Now(), op), err
}

// DeleteWebhook deletes a webhook: nothing more is delivered to it.
func (s *Service) DeleteWebhook(ctx context.Context, op Auth, id string, m Meta) error {
	if err := s.requireWebhookWrite(ctx, op, "deleting a webhook"); err != nil {
		return err
	}
	return s.inTx(ctx, func(ctx context.Context) error {
		w, err := s.store.Webhook(ctx, id)
		if err != nil {
			return err
		}
		if err := s.openWebhookURL(ctx, &w); err != nil {
			return err
		}
		if ok, err := s.store.DeleteWebhook(ctx, id); err != nil {
			return err
		} else if !ok {
			return twofold.Errorf(twofold.CodeNotFound, "no such webhook")
		}
		s.audit(ctx, op.Account.ID, "webhook.deleted", m, webhookDetail(w)+" by "+actor(op))
		return nil
	})
}

// RotateWebhookSecret gives a webhook a new signing secret, returned this
// once; deliveries from then on are signed with it and, for
// WebhookSecretGrace, with the secret it replaces too (a rotation within
// that time replaces the previous secret with the then-current one).
func (s *Service) RotateWebhookSecret(ctx context.Context, op Auth, id string, m Meta) (twofold.Webhook, string, error) {
	if err := s.requireWebhookWrite(ctx, op, "rotating a webhook's secret"); err != nil {
		return twofold.Webhook{}, "", err
	}
	secret, err := s.webhookSecret()
	if err != nil {
		return twofold.Webhook{}, "", err
	}
	keyID, sealed, err := s.keys.SealContext(ctx, []byte(secret), webhookAAD(id))
	if err != nil {
		return twofold.Webhook{}, "", err
	}
	// The secret being replaced is sealed afresh for its own column, and
	// the new one stored only if the current one has not changed since it
	// was read (another rotation, or a key rotation's reseal): else read
	// again. A key rotation that deleted the data key the new secret was
	// sealed under meanwhile (keyring.ErrKeyGone) has it sealed again.
	for range 5 {
		w, err := s.store.Webhook(ctx, id)
		if err != nil {
			return twofold.Webhook{}, "", err
		}
		now := s.Now()
		var prevKeyID string
		var prevSealed []byte
		var prevUntil time.Time
		if old, err := s.keys.Open(ctx, w.SecretKeyID, w.SealedSecret, webhookAAD(id)); err != nil {
			// This instance's key file lacks the current secret's key: no
			// grace, as before it; deliveries failed with it anyway.
			s.log.Warn("webhook secret unreadable: rotated without a grace period", "webhook", id, "err", err)
		} else {
			prevKeyID, prevSealed, err = s.keys.SealContext(ctx, old, webhookPrevAAD(id))
			clear(old)
			if err != nil {
				return twofold.Webhook{}, "", err
			}
			prevUntil = now.Add(WebhookSecretGrace)
		}
		var done bool
		err = s.inTx(ctx, func(ctx context.Context) error {
			ok, err := s.store.SetWebhookSecret(ctx, id, w.SecretKeyID, w.SealedSecret, keyID, sealed, prevKeyID, prevSealed, prevUntil)
			if err != nil || !ok {
				return err
			}
			done = true
			if w, err = s.store.Webhook(ctx, id); err != nil {
				return err
			}
			if err := s.openWebhookURL(ctx, &w); err != nil {
				return err
			}
			s.audit(ctx, op.Account.ID, "webhook.secret_rotated", m, webhookDetail(w)+" by "+actor(op))
			return nil
		})
		if errors.Is(err, keyring.ErrKeyGone) {
			if keyID, sealed, err = s.keys.SealContext(ctx, []byte(secret), webhookAAD(id)); err != nil {
				return twofold.Webhook{}, "", err
			}
			continue
		}
		if err != nil {
			return twofold.Webhook{}, "", err
		}
		if done {
			return redactWebhook(w, now, op), secret, nil
		}
	}
	return twofold.Webhook{}, "", twofold.Errorf(twofold.CodeConflict, "the webhook's secret changed meanwhile: try again")
}

// EnableWebhook turns a webhook that was disabled (after failing too long,
// or because who answered for it may no longer) back on: delivery goes on
// from the first event not delivered. The caller answers for it from then
// on: an operator's session alone, or the API key used, whose revocation
// or expiry stops it again (webhookOwned).
func (s *Service) EnableWebhook(ctx context.Context, op Auth, id string, m Meta) (twofold.Webhook, error) {
	if err := s.requireWebhookWrite(ctx, op, "enabling a webhook"); err != nil {
		return twofold.Webhook{}, err
	}
	var w twofold.Webhook
	err := s.inTx(ctx, func(ctx context.Context) error {
		var err error
		if w, err = s.store.Webhook(ctx, id); err != nil {
			return err
		}
		if err := s.openWebhookURL(ctx, &w); err != nil {
			return err
		}
		ok, err := s.store.EnableWebhook(ctx, id, op.Account.ID, callerKeyID(op))
		if err != nil {
			return err
		}
		if !ok {
			return twofold.Errorf(twofold.CodeConflict, "the webhook is not disabled")
		}
		s.audit(ctx, op.Account.ID, "webhook.enabled", m, webhookDetail(w)+" by "+actor(op))
		if w, err = s.store.Webhook(ctx, id); err != nil {
			return err
		}
		return s.openWebhookURL(ctx, &w)
	})
	return redactWebhook(w, s.Now(), op), err
}

// checkWebhookURL returns the URL a webhook may deliver to: absolute,
// https (http only with Config.WebhookAllowHTTP), without credentials or
// fragment, and not at an address of this machine or a private network
// written as an IP (names are resolved, and checked, at each delivery).
func (s *Service) checkWebhookURL(raw string) (string, error) {
	bad := func(msg string) error { return twofold.Errorf(twofold.CodeInvalid, "%s", msg).On("url") }
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > maxWebhookURL {
		return "", bad("give the URL events are posted to: https://… of at most 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return "", bad("the URL must be absolute, such as https://panel.example.com/twofold-events")
	}
	// A hidden character (hiddenRune: controls, text-direction overrides,
	// zero-width spaces), sent as such or percent-encoded, would show the
	// URL on pages and in the audit log as other than where events go.
	// A query's escapes are not checked as it is parsed: one that is no
	// escape (%zz) would hide what the others spell.
	query, err := url.QueryUnescape(u.RawQuery)
	if err != nil {
		return "", bad("the URL's query has a % that is not followed by two hexadecimal digits: write a % itself as %25")
	}
	for _, part := range []string{raw, u.Path, query} {
		if strings.IndexFunc(strings.ToValidUTF8(part, ""), hiddenRune) >= 0 || !utf8.ValidString(raw) {
			return "", bad("the URL must not hold hidden characters (controls, text-direction marks, zero-width spaces), even percent-encoded")
		}
	}
	// A host's percent-escapes are decoded as it is parsed: what is left
	// must be text a name can be looked up by.
	if h := u.Hostname(); !utf8.ValidString(h) || strings.IndexFunc(h, hiddenRune) >= 0 {
		return "", bad("the URL's host must be a name or an address, without hidden characters or bytes that are not text, even percent-encoded")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && s.cfg.WebhookAllowHTTP:
	case u.Scheme == "http":
		return "", bad("the URL must be https (this server does not allow http webhooks)")
	default:
		return "", bad("the URL must be https")
	}
	if u.User != nil {
		return "", bad("the URL must not hold a user name or password; the signature authenticates deliveries")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "", bad("the URL must not have a fragment (#…)")
	}
	// url.Parse checks that a port is digits, not that it is one: 0 and
	// anything above 65535 would only fail at each delivery.
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", bad("the URL's port must be a number from 1 to 65535")
		}
	}
	if a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && !WebhookAddrAllowed(a, s.cfg.WebhookAllowPrivate) {
		return "", bad("the URL must not point at this machine or a private, link-local or multicast address")
	}
	return u.String(), nil
}

// notPublic are the ranges of special-purpose addresses (IANA's registries)
// a webhook never reaches unless private targets are allowed: shared
// address space, benchmarking, protocol assignments, documentation,
// reserved, discard-only, IPv4-compatible, IPv4-translated (RFC 2765's
// ::ffff:0:0:0/96, not the mapped ::ffff:0:0/96 that is judged by its
// IPv4) and local-use NAT64, 6to4 and Teredo (whose IPv4 inside could be
// anything), 6to4's relays (192.88.99.0/24), IPv6's benchmarking
// (2001:2::/48) and second documentation range (3fff::/20, RFC 9637), and
// the deprecated site-local fec0::/10 (RFC 3879), which some networks
// still route privately.
var notPublic = prefixes("100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24",
	"203.0.113.0/24", "240.0.0.0/4", "0.0.0.0/8", "192.88.99.0/24", "::/96", "::ffff:0:0:0/96", "100::/64",
	"64:ff9b:1::/48", "2001::/32", "2001:2::/48", "2001:db8::/32", "3fff::/20", "2002::/16", "fec0::/10")

// metadata are the addresses of clouds' instance metadata and platform
// services, refused even when private targets are allowed: with link-local
// addresses, what a forged request would most want to reach.
var metadata = []netip.Addr{
	netip.MustParseAddr("168.63.129.16"),   // Azure's platform services
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud's metadata
	netip.MustParseAddr("fd00:ec2::254"),   // AWS's metadata over IPv6
	netip.MustParseAddr("fd20:ce::254"),    // Google Cloud's metadata over IPv6
}

// nat64 is the well-known NAT64 prefix (RFC 6052): its last 32 bits are
// an IPv4 address, which is what is reached.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

func prefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

// WebhookAddrAllowed reports whether a webhook may be delivered to a: a
// public unicast address, or with allowPrivate any unicast address but a
// link-local one or a cloud's metadata service (against server-side
// request forgery: a webhook must not reach the services of this machine
// or its network).
func WebhookAddrAllowed(a netip.Addr, allowPrivate bool) bool {
	a = a.Unmap()
	if nat64.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a.IsInterfaceLocalMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) ||
		a.IsLinkLocalUnicast() || slices.Contains(metadata, a) {
		return false
	}
	if allowPrivate {
		return true
	}
	return !a.IsLoopback() && !a.IsPrivate() && !slices.ContainsFunc(notPublic, func(p netip.Prefix) bool { return p.Contains(a) })
}

// checkWebhookEvents returns the event types a webhook receives: names as
// the audit log's (login.password_failed) or prefixes of them ending in
// ".*" (login.*), at most MaxEventTypes, repeats dropped; "*" alone, or
// none, is every event. An entry that no type in EventTypes answers to
// is refused, as it would select nothing.
func checkWebhookEvents(in []string) ([]string, error) {
	var out []string
	for _, t := range in {
		t = strings.TrimSpace(t)
		if t == "*" {
			return nil, nil
		}
		name, prefix := strings.CutSuffix(t, ".*")
		if !eventTypeName(name) || !prefix && strings.HasSuffix(name, ".") {
			return nil, twofold.Errorf(twofold.CodeInvalid, "each of the events is an event type such as login.password_failed, or a prefix such as login.*").On("events")
		}
		if !knownEventType(name, prefix) {
			return nil, twofold.Errorf(twofold.CodeInvalid, "the event %q is no event type Twofold writes, nor a prefix of one (such as login.*); see the audit event types in the API description", CleanText(t, 64)).On("events")
		}
		if prefix {
			t = name + ".*"
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	if len(out) > MaxEventTypes {
		return nil, twofold.Errorf(twofold.CodeInvalid, "at most %d event types or prefixes", MaxEventTypes).On("events")
	}
	return out, nil
}

// WebhookSender posts one delivery. An error may carry a class for the
// webhook's status (WebhookErrorClass), which never holds the secret.
type WebhookSender interface {
	SendWebhook(ctx context.Context, d WebhookDelivery) error
}

// WebhookDelivery is one POST of a batch of events to a webhook.
type WebhookDelivery struct {
	WebhookID  string
	DeliveryID string
	URL        string
	At         time.Time // the timestamp signed with the body
	Body       []byte
	Secret     []byte
	// PreviousSecret, while a rotation's grace lasts, signs the delivery
	// too (README "Webhooks"); nil otherwise.
	PreviousSecret []byte
}

// webhookEventJSON is an event as a webhook receives it: as GET
// /v1/admin/events shows it.
type webhookEventJSON struct {
	AccountID string    `json:"account_id"`
	ID        int64     `json:"id"`
	Type      string    `json:"type"`
	At        time.Time `json:"at"`
	Source    string    `json:"source"`
	UserAgent string    `json:"user_agent"`
	Detail    string    `json:"detail,omitempty"`
	// Subject is SubjectOf's, as GET /v1/admin/events shows it.
	Subject *webhookSubjectJSON `json:"subject,omitempty"`
}

// webhookSubjectJSON is an EventSubject in a delivery.
type webhookSubjectJSON struct {
	Kind  string `json:"kind"`
	Name  string `json:"name,omitempty"`
	ID    string `json:"id,omitempty"`
	Cause string `json:"cause,omitempty"`
}

// errorClass returns the class of a failed delivery for the status: the
// sender's, or "error".
func errorClass(err error) string {
	var c interface{ WebhookErrorClass() string }
	if errors.As(err, &c) {
		return c.WebhookErrorClass()
	}
	return "error"
}

// WebhookOwner returns a new name for an instance that delivers webhooks,
// by which it leases them.
func (s *Service) WebhookOwner() (string, error) { return s.newID() }

// DeliverWebhooks delivers, as instance owner, what is waiting for every
// webhook that is due and not leased to another instance, each in its own
// goroutine, and returns when all are done: one round, for tests and
// tools. A serving instance uses a WebhookDispatcher, which waits for no
// endpoint.
func (s *Service) DeliverWebhooks(ctx context.Context, sender WebhookSender, owner string) error {
	d := s.NewWebhookDispatcher(sender, owner)
	err := d.Start(ctx)
	d.Wait()
	return err
}

// WebhookDispatcher delivers to webhooks as one instance, each endpoint
// in a goroutine of its own that runs while the endpoint has events
// waiting (ten batches at most, then a later Start takes it up again): a
// slow receiver holds back its own deliveries only, never another
// endpoint's.
type WebhookDispatcher struct {
	s      *Service
	sender WebhookSender
	owner  string
	wg     sync.WaitGroup
	mu     sync.Mutex
	busy   map[string]bool // the webhooks with a delivery in flight
}

// NewWebhookDispatcher returns a dispatcher that delivers with sender as
// instance owner (WebhookOwner).
func (s *Service) NewWebhookDispatcher(sender WebhookSender, owner string) *WebhookDispatcher {
	return &WebhookDispatcher{s: s, sender: sender, owner: owner, busy: map[string]bool{}}
}

// Start starts a delivery to every webhook that is due, not leased to
// another instance and has no delivery of d's in flight, and returns
// without waiting for them. Once ctx ends, each delivery stops before its
// next batch; a batch being sent is finished and recorded (within
// WebhookTimeout). Start is not called at the same time as Wait.
func (d *WebhookDispatcher) Start(ctx context.Context) error {
	ids, err := d.s.store.DueWebhooks(ctx, d.owner, d.s.Now())
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		if d.busy[id] {
			continue
		}
		d.busy[id] = true
		d.wg.Go(func() {
			defer func() {
				d.mu.Lock()
				delete(d.busy, id)
				d.mu.Unlock()
			}()
			if err := d.s.deliverWebhook(ctx, d.sender, d.owner, id); err != nil && ctx.Err() == nil {
				d.s.log.Error("webhook delivery failed", "webhook", id, "err", err)
			}
		})
	}
	return nil
}

// Wait returns when no delivery started by d is in flight.
func (d *WebhookDispatcher) Wait() { d.wg.Wait() }

// deliverWebhook delivers batches to one webhook while it has events
// waiting, up to ten batches a round: each time it takes the lease (or
// extends it), reads the next batch, posts it and moves the cursor past
// it only if the cursor has not moved meanwhile. When ctx ends (the
// instance shuts down) it stops before the next batch; a batch being sent
// is finished and recorded, so that a shutdown does not deliver it twice.
func (s *Service) deliverWebhook(ctx context.Context, sender WebhookSender, owner, id string) (err error) {
	defer func() {
		if ctx.Err() != nil {
			// Shutting down: hand the webhook over at once rather than
			// when the lease runs out.
			if rerr := s.store.ReleaseWebhook(context.WithoutCancel(ctx), id, owner); err == nil {
				err = rerr
			}
		}
	}()
	for range 10 {
		if ctx.Err() != nil {
			return nil
		}
		done, err := s.deliverBatch(context.WithoutCancel(ctx), sender, owner, id)
		if err != nil || done {
			return err
		}
	}
	return nil
}

// webhookOwned reports whether webhook w may still deliver: the operator
// who made it (or last turned it on) still is one and, if it did so with an
// API key, that key and every key above it (the key that made it, and so
// on) still stand, unrevoked and unexpired. A webhook hands out the whole
// audit log, which only operators read: answered for by an account that
// is no operator any more (demoted, or closed), or by a key that no longer
// authenticates (revoked, expired: the answer to a leaked key), it is
// disabled, on the record, until an operator turns it on again and answers
// for it. What it reads is in the database, so every instance judges
// alike; expiry has no event, so it is checked here, before each batch.
func (s *Service) webhookOwned(ctx context.Context, w twofold.Webhook, owner string, now time.Time) (bool, error) {
	reason, err := s.webhookUnowned(ctx, w, now)
	if err != nil || reason == "" {
		return reason == "", err
	}
	return false, s.inTx(ctx, func(ctx context.Context) error {
		ok, err := s.store.DisableWebhook(ctx, w.ID, owner, now, reason)
		if err != nil || !ok {
			return err
		}
		s.webhookOrphaned(ctx, w, reason, Meta{})
		return nil
	})
}

// webhookUnowned returns why w may no longer deliver, as the reason it is
// disabled for: owner-not-operator, key-revoked, key-expired; "" when it
// may.
func (s *Service) webhookUnowned(ctx context.Context, w twofold.Webhook, now time.Time) (string, error) {
	a, err := s.store.AccountByID(ctx, w.CreatedBy)
	if err != nil && twofold.ErrorCode(err) != twofold.CodeNotFound {
		return "", err
	}
	if err != nil || !a.Operator {
		return twofold.WebhookDisabledNotOperator, nil
	}
	// Keys are made from keys at most a few deep; 32 bounds a loop
	// that a damaged table could make.
	for id, depth := w.CreatedByKey, 0; id != ""; depth++ {
		if depth == 32 {
			return twofold.WebhookDisabledKeyRevoked, nil
		}
		k, err := s.store.APIKey(ctx, id)
		if twofold.ErrorCode(err) == twofold.CodeNotFound || err == nil && k.AccountID != w.CreatedBy {
			return twofold.WebhookDisabledKeyRevoked, nil
		}
		if err != nil {
			return "", err
		}
		if k.Expired(now) {
			return twofold.WebhookDisabledKeyExpired, nil
		}
		id = k.ParentID
	}
	return "", nil
}

// disableWebhooksOfEndedKeys disables, on the record, the webhooks whose
// API key was revoked or has expired: at once in the transaction that
// revokes a key, and in the sweep for an expiry, so that a webhook waiting
// out a back-off shows it too. Delivery checks before each batch anyway
// (webhookOwned).
func (s *Service) disableWebhooksOfEndedKeys(ctx context.Context, m Meta) error {
	hooks, err := s.store.DisableWebhooksOfEndedKeys(ctx, s.Now())
	if err != nil {
		return err
	}
	if err := s.openWebhookURLs(ctx, hooks); err != nil {
		return err
	}
	for _, w := range hooks {
		s.webhookOrphaned(ctx, w, w.DisabledReason, m)
	}
	return nil
}

// webhookOrphaned records, and logs at WARN, that webhook w was disabled
// because who answers for it may no longer (reason: webhookUnowned's).
// The event names the class of its deliveries' last failure too, which
// the disabling keeps, while they were failing.
func (s *Service) webhookOrphaned(ctx context.Context, w twofold.Webhook, reason string, m Meta) {
	why := "the operator who made it or turned it on is no operator any more"
	switch reason {
	case twofold.WebhookDisabledKeyRevoked:
		why = "the API key " + w.CreatedByKey + " that made it or turned it on, or a key it was made from, was revoked"
	case twofold.WebhookDisabledKeyExpired:
		why = "the API key " + w.CreatedByKey + " that made it or turned it on, or a key it was made from, has expired"
	}
	detail := webhookDetail(w) + ": " + why + " (" + reason + ")"
	if w.Status.LastError != "" {
		detail += "; its deliveries were failing (last error " + w.Status.LastError + ")"
	}
	s.audit(ctx, w.CreatedBy, "webhook.disabled", m, detail)
	s.log.Warn("webhook disabled: "+why+"; an operator turns it on again (POST /v1/admin/webhooks/{id}/enable)",
		"webhook", w.ID, "to", webhookHost(w), "operator", w.CreatedBy, "key", w.CreatedByKey, "reason", reason, "error_class", w.Status.LastError)
}

// deliverBatch delivers one batch to a webhook, reporting whether nothing
// more waits (or it may not go on).
func (s *Service) deliverBatch(ctx context.Context, sender WebhookSender, owner, id string) (done bool, err error) {
	now := s.Now()
	ok, err := s.store.ClaimWebhook(ctx, id, owner, now, now.Add(webhookLease))
	if err != nil || !ok {
		return true, err
	}
	w, err := s.store.Webhook(ctx, id)
	if err != nil {
		return true, err
	}
	if err := s.openWebhookURL(ctx, &w); err != nil {
		return true, err
	}
	if ok, err := s.webhookOwned(ctx, w, owner, now); err != nil || !ok {
		return true, err
	}
	if w.URLUnavailable != "" {
		// Skipped, as a failure (logged by openWebhookURL, by id): retried
		// with the back-off, not every second, in case the key comes back.
		return true, s.webhookFailed(ctx, w, owner, "url-unreadable")
	}
	if !s.cfg.WebhookAllowHTTP && !strings.HasPrefix(w.URL, "https://") {
		// Added while http was allowed (on this instance or another), but
		// this one does not allow it: nothing goes out in clear text. A
		// failure like any other, so that its status and the back-off
		// show it, until the URL is https or the flag is on again.
		s.log.Warn("webhook delivery refused: its URL is http:// and this server does not allow http webhooks (--webhook-allow-http)", "webhook", w.ID, "to", webhookHost(w))
		return true, s.webhookFailed(ctx, w, owner, "refused-scheme")
	}
	evs, next, err := s.store.WebhookFeed(ctx, w.Cursor, w.Events, WebhookBatch)
	if err != nil {
		return true, err
	}
	if len(evs) == 0 {
		if next != w.Cursor {
			_, err = s.store.AdvanceWebhook(ctx, id, owner, w.Cursor, next, now, false)
		}
		return true, err
	}
	secret, err := s.keys.Open(ctx, w.SecretKeyID, w.SealedSecret, webhookAAD(w.ID))
	if err != nil {
		// An instance whose key file lacks the secret's key: a failure
		// like any other, retried with the back-off, not every second.
		s.log.Error("webhook secret unreadable", "webhook", w.ID, "err", err)
		return true, s.webhookFailed(ctx, w, owner, "secret-unreadable")
	}
	d, err := s.webhookDelivery(w, secret, evs)
	if err != nil {
		return true, err
	}
	if d.PreviousSecret, err = s.previousWebhookSecret(ctx, w, d.At); err != nil {
		return true, err
	}
	sctx, cancel := context.WithTimeout(ctx, WebhookTimeout)
	err = sender.SendWebhook(sctx, d)
	cancel()
	if err != nil {
		return true, s.webhookFailed(ctx, w, owner, errorClass(err))
	}
	ok, err = s.store.AdvanceWebhook(ctx, id, owner, w.Cursor, next, s.Now(), true)
	return err != nil || !ok || len(evs) < WebhookBatch, err
}

// previousWebhookSecret returns w's previous secret while it still signs
// at now, and nil otherwise; an expired one is cleared (of every webhook,
// by one conditional statement, which the sweeper runs too). One this
// instance cannot open only leaves the delivery with the new signature.
func (s *Service) previousWebhookSecret(ctx context.Context, w twofold.Webhook, now time.Time) ([]byte, error) {
	if w.PreviousSealedSecret == nil && w.PreviousSecretUntil.IsZero() {
		return nil, nil
	}
	if !now.Before(w.PreviousSecretUntil) {
		if _, err := s.store.ClearWebhookPreviousSecrets(ctx, now); err != nil {
			s.log.Error("clear webhooks' previous secrets", "err", err) // the sweep clears them too
		}
		return nil, nil
	}
	prev, err := s.keys.Open(ctx, w.PreviousSecretKeyID, w.PreviousSealedSecret, webhookPrevAAD(w.ID))
	if err != nil {
		s.log.Warn("webhook previous secret unreadable: signing with the new one only", "webhook", w.ID, "err", err)
		return nil, nil
	}
	return prev, nil
}

// webhookDelivery makes the POST of evs to w.
func (s *Service) webhookDelivery(w twofold.Webhook, secret []byte, evs []twofold.AuditEvent) (WebhookDelivery, error) {
	did, err := s.newID()
	if err != nil {
		return WebhookDelivery{}, err
	}
	out := make([]webhookEventJSON, 0, len(evs))
	for _, e := range evs {
		e = shownEvent(e)
		j := webhookEventJSON{AccountID: e.AccountID, ID: e.ID, Type: e.Type, At: e.At, Source: e.Source, UserAgent: e.UserAgent, Detail: e.Detail}
		if sub, ok := SubjectOf(e); ok {
			j.Subject = &webhookSubjectJSON{Kind: sub.Kind, Name: sub.Name, ID: sub.ID, Cause: sub.Cause}
		}
		out = append(out, j)
	}
	body, err := json.Marshal(map[string]any{"webhook_id": w.ID, "delivery_id": did, "events": out})
	if err != nil {
		return WebhookDelivery{}, err
	}
	return WebhookDelivery{WebhookID: w.ID, DeliveryID: did, URL: w.URL, At: s.Now(), Body: body, Secret: secret}, nil
}

// webhookFailed records a failed delivery: the next try waits 5 s,
// doubling with each failure in a row up to 10 minutes; once the webhook
// has failed for Config.WebhookDisableAfter it is disabled, audited.
func (s *Service) webhookFailed(ctx context.Context, w twofold.Webhook, owner, class string) error {
	now := s.Now()
	n := w.Status.Failures // failures before this one
	wait := webhookRetryMax
	if n < 20 {
		wait = min(webhookRetryFirst<<n, webhookRetryMax)
	}
	since := w.Status.FailingSince
	if since.IsZero() {
		since = now
	}
	after := s.cfg.WebhookDisableAfter
	if after <= 0 {
		after = DefaultWebhookDisableAfter
	}
	disable := now.Sub(since) >= after
	s.log.Warn("webhook delivery failed", "webhook", w.ID, "error_class", class, "failures", n+1, "disabled", disable)
	return s.inTx(ctx, func(ctx context.Context) error {
		ok, err := s.store.FailWebhook(ctx, w.ID, owner, now, now.Add(wait), class, disable)
		if err != nil || !ok || !disable {
			return err
		}
		s.audit(ctx, w.CreatedBy, "webhook.disabled", Meta{}, webhookDetail(w)+": failing since "+since.Format(time.RFC3339)+" ("+twofold.WebhookDisabledFailing+", last error "+class+")")
		return nil
	})
}
