package keystone

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
	"github.com/twofold/twofold/internal/otp"
)

// userBody is a user as the Identity API shows it, with links.self under
// base, the server's public URL (the openstack CLI's user show fails
// without it), and its multi-factor options: Twofold's "two-factor at
// sign-in" is multi_factor_auth_enabled with the one rule password + totp,
// which is shown only when the account has an authenticator app (TOTP) to
// follow it with: the Identity API takes no other second factor.
func userBody(base string, p core.Profile) map[string]any {
	rules := [][]string{}
	if p.Required && slices.ContainsFunc(p.Factors, func(f twofold.Factor) bool {
		return f.Type == twofold.FactorTOTP && f.Status == twofold.FactorActive
	}) {
		rules = [][]string{{"password", "totp"}}
	}
	return map[string]any{"user": map[string]any{
		"id": p.Account.ID, "name": p.Account.Username, "domain_id": DomainID, "enabled": true, "email": p.Account.Email,
		"password_expires_at": nil, "links": map[string]string{"self": base + "/v3/users/" + p.Account.ID},
		"options": map[string]any{"multi_factor_auth_enabled": p.Required, "multi_factor_auth_rules": rules},
	}}
}

// ownUser refuses a path naming another user than the caller, whether
// that user exists or not, as Keystone refuses a token that is not an
// administrator's (its policy is checked before the user is looked up, and
// fails alike for both): 403, which tells nothing of the accounts there
// are. Keystone names the action refused; so does the message.
func ownUser(a core.Auth, id string) error {
	if id != a.Account.ID {
		return twofold.Errorf(twofold.CodeForbidden, "You are not authorized to perform the requested action: a token reads and changes its own user only.")
	}
	return nil
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, a core.Auth, _ token) {
	if err := ownUser(a, r.PathValue("user_id")); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userBody(s.baseURL(r), p))
}

// listUsers lists the users the caller may see, which is the caller alone,
// when it passes the filters: ?name= (as usernames are matched at sign-in),
// ?domain_id= and ?enabled=. The openstack CLI finds a user given by name
// (credential create USER, credential list --user USER) by this list;
// without it, the name of the very user signed in was "no user".
// Parameters Twofold does not read are passed over.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, a core.Auth, _ token) {
	q := r.URL.Query()
	users := []any{}
	if (!q.Has("name") || strings.EqualFold(q.Get("name"), a.Account.Username)) &&
		(!q.Has("domain_id") || q.Get("domain_id") == DomainID) &&
		(!q.Has("enabled") || slices.Contains(trueWords, strings.ToLower(q.Get("enabled")))) {
		p, err := s.svc.Me(r.Context(), a)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		users = append(users, userBody(s.baseURL(r), p)["user"])
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": users, "links": map[string]any{"self": s.baseURL(r) + "/v3/users", "next": nil, "previous": nil}})
}

// domainBody is the one domain, default, as Keystone answers a domain.
func domainBody(base string) map[string]any {
	return map[string]any{"id": DomainID, "name": DomainName, "description": "The domain of every Twofold account.",
		"enabled": true, "tags": []string{}, "options": map[string]any{}, "links": map[string]any{"self": base + "/v3/domains/" + DomainID}}
}

// getDomain answers the one domain, default, which every user is in: the
// openstack CLI reads it for a --domain (user list --domain default, user
// show --domain Default alice) before what it was asked for. Another is
// not found, as in Keystone.
func (s *Server) getDomain(w http.ResponseWriter, r *http.Request, _ core.Auth, _ token) {
	if r.PathValue("domain_id") != DomainID {
		s.fail(w, r, twofold.Errorf(twofold.CodeNotFound, "Could not find domain: %s.", core.CleanText(r.PathValue("domain_id"), 80)))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"domain": domainBody(s.baseURL(r))})
}

// listDomains lists the one domain when it passes the filters ?name= (in
// any case, as a user's domain is named at sign-in) and ?enabled=; the
// openstack CLI finds a domain given by name (--domain Default) by this
// list. Parameters Twofold does not read are passed over.
func (s *Server) listDomains(w http.ResponseWriter, r *http.Request, _ core.Auth, _ token) {
	q := r.URL.Query()
	domains := []any{}
	if (!q.Has("name") || strings.EqualFold(q.Get("name"), DomainName)) &&
		(!q.Has("enabled") || slices.Contains(trueWords, strings.ToLower(q.Get("enabled")))) {
		domains = append(domains, domainBody(s.baseURL(r)))
	}
	writeJSON(w, http.StatusOK, map[string]any{"domains": domains, "links": map[string]any{"self": s.baseURL(r) + "/v3/domains", "next": nil, "previous": nil}})
}

// patchUser turns multi-factor sign-in on or off
// (options.multi_factor_auth_enabled), under the rules of PUT
// /v1/me/two-factor: on needs a factor, off a fresh second factor. That is
// the one field it changes: any other (password, enabled, email, name…) is
// refused with a 400 naming it, so that no script believes a change it did
// not get.
func (s *Server) patchUser(w http.ResponseWriter, r *http.Request, a core.Auth, _ token) {
	if err := ownUser(a, r.PathValue("user_id")); err != nil {
		s.fail(w, r, err)
		return
	}
	var req map[string]json.RawMessage
	if err := decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	on, err := mfaEnabled(req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.svc.SetTwoFactorRequired(r.Context(), a, on, httpapi.Meta(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	a.Account.TwoFactorRequired = on
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userBody(s.baseURL(r), p))
}

// mfaEnabled returns user.options.multi_factor_auth_enabled of a PATCH
// /v3/users/{id} body, or an invalid error naming the first other field the
// body holds (Twofold changes nothing else of a user through the Identity
// API) save one that changes nothing (see unchanged), or saying the field
// is missing or not a boolean.
func mfaEnabled(body map[string]json.RawMessage) (bool, error) {
	const field = "user.options.multi_factor_auth_enabled"
	other := func(name string) error {
		return twofold.Errorf(twofold.CodeInvalid, "%s cannot be changed here: PATCH /v3/users/{id} changes only %s", core.CleanText(name, 80), field)
	}
	object := func(prefix string, raw json.RawMessage, only string) (json.RawMessage, error) {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil || m == nil {
			return nil, twofold.Errorf(twofold.CodeInvalid, "%s must be an object holding %s", prefix, field)
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if k != only && !unchanged(prefix+"."+k, m[k]) {
				return nil, other(prefix + "." + k)
			}
		}
		v, ok := m[only]
		if !ok {
			return nil, twofold.Errorf(twofold.CodeInvalid, "nothing to change: PATCH /v3/users/{id} takes %s", field)
		}
		return v, nil
	}
	for _, k := range slices.Sorted(maps.Keys(body)) {
		if k != "user" {
			return false, other(k)
		}
	}
	user, ok := body["user"]
	if !ok {
		return false, twofold.Errorf(twofold.CodeInvalid, "nothing to change: PATCH /v3/users/{id} takes %s", field)
	}
	options, err := object("user", user, "options")
	if err != nil {
		return false, err
	}
	v, err := object("user.options", options, "multi_factor_auth_enabled")
	if err != nil {
		return false, err
	}
	var on *bool
	if err := json.Unmarshal(v, &on); err != nil || on == nil {
		return false, twofold.Errorf(twofold.CodeInvalid, "%s must be true or false", field)
	}
	return *on, nil
}

// unchanged reports whether field (its path in the body) with value v
// asks for no change: user.enabled true, which the openstack CLI's user
// set sends with every change, copied from the user it has just read. A
// user the Identity API answers is enabled (a suspended account is not
// signed in), so true leaves it as it is; false would not, and is refused.
func unchanged(field string, v json.RawMessage) bool {
	return field == "user.enabled" && bytes.Equal(bytes.TrimSpace(v), []byte("true"))
}

// credentialBody is a TOTP credential: a TOTP factor of the account. The
// blob (the secret) is never shown again: Twofold keeps it encrypted and
// answers with an empty blob.
func credentialBody(base string, f twofold.Factor) map[string]any {
	return map[string]any{"id": f.ID, "type": "totp", "user_id": f.AccountID, "blob": "", "project_id": nil,
		"links": map[string]string{"self": base + "/v3/credentials/" + f.ID}}
}

// createCredential registers a TOTP secret (type totp, blob the base32
// secret) as an active authenticator of the caller's account, under the
// rules of adding one: a fresh second factor when the account has one. On
// the first, the answer also carries the recovery codes and paper key,
// shown this once.
func (s *Server) createCredential(w http.ResponseWriter, r *http.Request, a core.Auth, _ token) {
	var req struct {
		Credential struct {
			Type   string `json:"type"`
			Blob   string `json:"blob"`
			UserID string `json:"user_id"`
			Name   string `json:"name"`
		} `json:"credential"`
	}
	if err := decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	c := req.Credential
	if c.Type != "totp" {
		s.fail(w, r, twofold.Errorf(twofold.CodeInvalid, "Twofold keeps credentials of type totp only"))
		return
	}
	if err := sameUser(a, c.UserID); err != nil {
		s.fail(w, r, err)
		return
	}
	secret, err := otp.DecodeSecret(c.Blob)
	if err != nil {
		s.fail(w, r, twofold.Errorf(twofold.CodeInvalid, "the blob must be the TOTP secret in base32"))
		return
	}
	label := strings.TrimSpace(c.Name)
	if label == "" {
		// Keystone's credentials have no name: a second one gets the
		// default numbered, as its client could not choose another.
		if label, err = s.svc.UnusedLabel(r.Context(), a, "OpenStack TOTP"); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	conf, err := s.svc.AddTOTPWithSecret(r.Context(), a, label, secret, httpapi.Meta(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body := map[string]any{"credential": credentialBody(s.baseURL(r), conf.Factor)}
	if conf.RecoveryCodes != nil {
		body["recovery_codes"], body["paper_key"] = conf.RecoveryCodes, conf.PaperKey
	}
	writeJSON(w, http.StatusCreated, body)
}

// totpFactors returns the caller's active TOTP factors.
func (s *Server) totpFactors(r *http.Request, a core.Auth) ([]twofold.Factor, error) {
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		return nil, err
	}
	var out []twofold.Factor
	for _, f := range p.Factors {
		if f.Type == twofold.FactorTOTP && f.Status == twofold.FactorActive {
			out = append(out, f)
		}
	}
	return out, nil
}

func (s *Server) listCredentials(w http.ResponseWriter, r *http.Request, a core.Auth, _ token) {
	q := r.URL.Query()
	out := []map[string]any{}
	if t := q.Get("type"); (t == "" || t == "totp") && (q.Get("user_id") == "" || q.Get("user_id") == a.Account.ID) {
		fs, err := s.totpFactors(r, a)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, f := range fs {
			out = append(out, credentialBody(s.baseURL(r), f))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"credentials": out, "links": map[string]any{"self": s.baseURL(r) + "/v3/credentials", "next": nil, "previous": nil}})
}

func (s *Server) credential(r *http.Request, a core.Auth) (twofold.Factor, error) {
	fs, err := s.totpFactors(r, a)
	if err != nil {
		return twofold.Factor{}, err
	}
	for _, f := range fs {
		if f.ID == r.PathValue("id") {
			return f, nil
		}
	}
	return twofold.Factor{}, twofold.Errorf(twofold.CodeNotFound, "Could not find credential.")
}

func (s *Server) getCredential(w http.ResponseWriter, r *http.Request, a core.Auth, _ token) {
	f, err := s.credential(r, a)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"credential": credentialBody(s.baseURL(r), f)})
}

// deleteCredential removes a TOTP authenticator, under the rules of
// removing one: a fresh second factor.
func (s *Server) deleteCredential(w http.ResponseWriter, r *http.Request, a core.Auth, _ token) {
	f, err := s.credential(r, a)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.svc.DeleteFactor(r.Context(), a, f.ID, httpapi.Meta(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
