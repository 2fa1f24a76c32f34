package core

import (
	"strconv"
	"strings"

	"github.com/twofold/twofold"
)

// EventSubject is the one thing, of several the account may have, that an
// audit event is about, as its holder knows it: which API key was used or
// refused, which authenticator was removed. It is read from the event's
// detail, where core writes it (keyEventDetail, factorDetail), so that
// the pages and the JSON API name it alike; it holds nothing secret (an API
// key's name and id, which its list shows; an authenticator's label and
// kind; an SSH key's fingerprint).
type EventSubject struct {
	// Kind is what the thing is: "api_key", "ssh_key", or a factor's type
	// ("totp", "sms", "webauthn"…).
	Kind string
	// Name is its name or label as it was when the event was recorded (an
	// SSH key's fingerprint); "" when the event did not record one (events
	// of factors from before their label was recorded).
	Name string
	// ID is its id.
	ID string
	// Cause is, for a refusal (api_key.refused), why: "wrong secret", "not
	// permitted to GET /v1/me/events (…)".
	Cause string
}

// SubjectOf returns the subject of event e, and false when e's type names
// none, or its detail is not as core writes it.
func SubjectOf(e twofold.AuditEvent) (EventSubject, bool) {
	typ, d := e.Type, e.Detail
	switch {
	case strings.HasPrefix(typ, "api_key."):
		// keyEventDetail: key ID "name"[: cause]
		rest, ok := strings.CutPrefix(d, "key ")
		id, rest, ok2 := strings.Cut(rest, " ")
		if !ok || !ok2 || id == "" {
			return EventSubject{}, false
		}
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return EventSubject{}, false
		}
		name, _ := strconv.Unquote(q)
		sub := EventSubject{Kind: "api_key", Name: name, ID: id}
		if typ == "api_key.refused" {
			sub.Cause, _ = strings.CutPrefix(rest[len(q):], ": ")
		}
		return sub, true
	case typ == "factor.removed" || typ == "factor.created" || typ == "factor.confirmed":
		// factorDetail: TYPE ID "label"[; more]; before labels were
		// recorded, and at factor.created and factor.confirmed: TYPE ID
		// (factor.confirmed: TYPE passkey ID).
		f := strings.Fields(d)
		if len(f) < 2 || !factorTypeWord(f[0]) {
			return EventSubject{}, false
		}
		sub := EventSubject{Kind: f[0], ID: strings.TrimSuffix(f[1], ";")}
		if f[1] == "passkey" && len(f) > 2 {
			sub.ID = strings.TrimSuffix(f[2], ";")
		}
		if i := strings.Index(d, ` "`); i >= 0 {
			if q, err := strconv.QuotedPrefix(d[i+1:]); err == nil {
				sub.Name, _ = strconv.Unquote(q)
			}
		}
		return sub, true
	case typ == "ssh_key.added" || typ == "ssh_key.removed" || typ == "ssh_key.used" || typ == "ssh_key.created":
		// TYPE SHA256:… ID, or (ssh_key.used) SHA256:… ID for …
		for _, w := range strings.Fields(d) {
			if strings.HasPrefix(w, "SHA256:") {
				return EventSubject{Kind: "ssh_key", Name: w}, true
			}
		}
	}
	return EventSubject{}, false
}

// keyEventDetail is the detail of an event about API key k (SubjectOf).
func keyEventDetail(k twofold.APIKey) string { return "key " + k.ID + " " + quote(k.Name) }

// factorDetail is the detail of factor.removed about factor f: its type,
// id and label (SubjectOf); the label is the holder's own name for it,
// no secret, and names the factor after it is gone.
func factorDetail(f twofold.Factor) string {
	return string(f.Type) + " " + f.ID + " " + quote(f.Label)
}

// factorTypeWord reports whether w is a factor's type.
func factorTypeWord(w string) bool {
	switch twofold.FactorType(w) {
	case twofold.FactorTOTP, twofold.FactorHOTP, twofold.FactorSMS, twofold.FactorEmail, twofold.FactorPush, twofold.FactorWebAuthn:
		return true
	}
	return false
}
