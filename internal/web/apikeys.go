package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
	"github.com/twofold/twofold/internal/permit"
)

// apiKeysBody is the data of the API keys page (SPEC §3 "API keys with
// permits").
type apiKeysBody struct {
	Keys      []twofold.APIKey
	Name      string // what was typed, kept when the form comes back
	Permits   string
	Expiry    string
	Elevation *elevationBody // nil when making a key needs no code
	// Made is the key just made, with its secret: shown on this answer only.
	Made   *twofold.APIKey
	Secret string
	Host   string // the server's host name (httpapi.PublicURL), for the .netrc example
	// Once is the form's one-time token (once.go).
	Once string
	// Again is the key the first sending of a form sent twice made: its
	// secret was in the answer to that sending, which the browser
	// dropped. Name, Permits and Expiry are the form's, to make it anew.
	Again *twofold.APIKey
}

// expiries are the lifetimes the form offers, by value.
var expiries = map[string]time.Duration{"": 0, "1d": 24 * time.Hour, "30d": 30 * 24 * time.Hour, "90d": 90 * 24 * time.Hour, "365d": 365 * 24 * time.Hour}

func (s *Server) apiKeysPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	// The form's fields, when its "confirm it's you" method was switched.
	q, b := r.URL.Query(), apiKeysBody{Expiry: "90d"}
	b.Name, b.Permits = q.Get("name"), q.Get("permits")
	if _, ok := q["expiry"]; ok {
		b.Expiry = q.Get("expiry")
	}
	s.renderAPIKeys(w, r, a, http.StatusOK, b, notice(r), "")
}

func (s *Server) renderAPIKeys(w http.ResponseWriter, r *http.Request, a core.Auth, status int, b apiKeysBody, notice, errMsg string) {
	keys, err := s.svc.APIKeys(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b.Keys = keys
	if b.Made == nil && b.Again == nil {
		b.Elevation = s.elevationFor(r, a, p, "/settings/security/api-keys")
		b.Once = s.onceToken(r, a, onceAPIKey)
	}
	if b.Elevation != nil {
		b.Elevation.Keep = url.Values{"name": {b.Name}, "permits": {b.Permits}, "expiry": {b.Expiry}}
	}
	if u, err := url.Parse(s.baseURL(r)); err == nil {
		b.Host = u.Hostname() // a .netrc's machine: the name curl is given
	}
	s.render(w, r, status, "apikeys", Page{Title: "API keys", Account: &p.Account, Notice: notice, Error: errMsg, Body: b, Nav: "security"})
}

// createAPIKey makes a key from the form and shows its secret once.
func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request, a core.Auth) {
	f := r.PostForm
	b := apiKeysBody{Name: f.Get("name"), Permits: f.Get("permits"), Expiry: f.Get("expiry")}
	again := func(err error) { s.renderAPIKeys(w, r, a, s.status(w, r, err), b, "", message(err)) }
	// The form's token before all: a second sending must not spend the
	// code, nor make a second key.
	use, ok := s.once(r, a, onceAPIKey, again, func(made string) { s.apiKeyMadeBefore(w, r, a, b, made) })
	if !ok {
		return
	}
	defer use.Done(r.Context(), "")
	// The code first: once it is accepted, a mistake in the rest of the
	// form does not ask for another.
	if err := s.elevateFromForm(w, r, &a); err != nil {
		again(err)
		return
	}
	n := core.NewAPIKey{Name: b.Name}
	for i, line := range strings.Split(b.Permits, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		p, err := permit.Parse(line)
		if err != nil {
			markInvalid(r, "key-permits")
			again(twofold.Errorf(twofold.CodeInvalid, "line %d of the permits: %s", i+1, twofold.ErrorMessage(err)))
			return
		}
		n.Permits = append(n.Permits, p)
	}
	if _, err := permit.NormalizeAll(n.Permits); err != nil { // none, or too many
		markInvalid(r, "key-permits")
		again(err)
		return
	}
	life, ok := expiries[b.Expiry]
	if !ok {
		markInvalid(r, "key-expiry")
		again(twofold.Errorf(twofold.CodeInvalid, "choose an expiry from the list"))
		return
	}
	if life > 0 {
		t := s.svc.Now().Add(life)
		n.ExpiresAt = &t
	}
	k, secret, err := s.svc.CreateAPIKey(r.Context(), a, n, httpapi.Meta(r))
	switch twofold.ErrorCode(err) {
	case twofold.CodeInvalid: // the permits and the expiry were checked above
		markInvalid(r, "key-name")
	case twofold.CodeForbidden: // permits beyond what the caller may give
		markInvalid(r, "key-permits")
	}
	if err != nil {
		again(err)
		return
	}
	use.Done(r.Context(), k.ID)
	s.renderAPIKeys(w, r, a, http.StatusOK, apiKeysBody{Made: &k, Secret: secret}, "", "")
}

// apiKeyMadeBefore answers the second sending of a form whose first made
// the key made (or had not finished, made ""): no second key, and the page
// says what happened to the first one, whose secret was shown only in the
// answer the browser dropped, and offers to revoke it and make it anew
// with the form's fields.
func (s *Server) apiKeyMadeBefore(w http.ResponseWriter, r *http.Request, a core.Auth, b apiKeysBody, made string) {
	if made != "" {
		keys, err := s.svc.APIKeys(r.Context(), a)
		if err != nil {
			s.fail(w, r, &a, err)
			return
		}
		for _, k := range keys {
			if k.ID == made {
				b.Again = &k
				s.renderAPIKeys(w, r, a, http.StatusOK, b, "", "")
				return
			}
		}
		// Made, and revoked since (its page's "Revoke and create again",
		// then the browser's Back and the form sent once more).
		s.renderAPIKeys(w, r, a, http.StatusOK, b, "The key this form made has been revoked since. The form is filled in as it was: create the key again if you still want it.", "")
		return
	}
	s.renderAPIKeys(w, r, a, http.StatusConflict, b, "", "This form was sent twice. The first sending had not finished making its key when the second arrived: look for the key in the list below before you create another. A key whose secret you did not copy can be revoked.")
}

// revokeAPIKey revokes a key and the keys it made: no code needed, taking
// power away must be quick. Sent from the page of a form sent twice
// (apiKeyMadeBefore, with "again"), it goes back to the form filled in as
// it was, to make the key anew.
func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.svc.RevokeAPIKey(r.Context(), a, r.PathValue("id"), httpapi.Meta(r)); err != nil {
		s.renderAPIKeys(w, r, a, s.status(w, r, err), apiKeysBody{Expiry: "90d"}, "", message(err))
		return
	}
	next := url.Values{"m": {"api_key_revoked"}}
	if f := r.PostForm; f.Get("again") == "1" {
		next.Set("name", f.Get("name"))
		next.Set("permits", f.Get("permits"))
		next.Set("expiry", f.Get("expiry"))
	}
	http.Redirect(w, r, "/settings/security/api-keys?"+next.Encode(), http.StatusSeeOther)
}
