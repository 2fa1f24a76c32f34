package keystone

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
	"github.com/twofold/twofold/internal/permit"
)

// accessRule is an application credential's access rule: a method and a
// path of a service's API, relative to its endpoint in the catalog.
type accessRule struct {
	ID      string `json:"id,omitempty"`
	Service string `json:"service"`
	Method  string `json:"method"`
	Path    string `json:"path"`
}

// ruleToPermit turns an access rule of the dns service into a permit.
// Paths are those of the DNS API under its endpoint:
// /zones/ZONE/records/NAME/TYPE, where a part may be * (any one) and the
// path may end in /** (anything below). GET and HEAD read (a HEAD is a GET
// without its body); POST adds, PUT replaces and DELETE deletes, each only
// that (permit.Add, permit.Replace, permit.Delete), never all of write.
// The DNS API has no PATCH, so a rule for it is refused rather than
// turned into something else.
func ruleToPermit(ru accessRule) (twofold.Permit, error) {
	bad := func(why string) (twofold.Permit, error) {
		return twofold.Permit{}, twofold.Errorf(twofold.CodeInvalid, "access rule %s %s %s: %s", ru.Service, ru.Method, ru.Path, why)
	}
	if ru.Service != permit.DNS {
		return bad("Twofold guards the dns service only")
	}
	action := ""
	switch strings.ToUpper(ru.Method) {
	case http.MethodGet, http.MethodHead:
		action = permit.Read
	case http.MethodPost:
		action = permit.Add
	case http.MethodPut:
		action = permit.Replace
	case http.MethodDelete:
		action = permit.Delete
	case http.MethodPatch:
		return bad("the DNS API has no PATCH: POST adds records, PUT replaces them, DELETE removes them")
	default:
		return bad("the method must be GET, HEAD, POST, PUT or DELETE")
	}
	parts := strings.Split(strings.Trim(ru.Path, "/"), "/")
	rest := false
	if n := len(parts); parts[n-1] == "**" {
		parts, rest = parts[:n-1], true
	}
	// zones, ZONE, records, NAME, TYPE
	if len(parts) == 0 || parts[0] != "zones" || len(parts) > 5 || len(parts) >= 3 && parts[2] != "records" {
		return bad("the path must be /zones/ZONE/records/NAME/TYPE, a part may be *, and it may end in /**")
	}
	if !rest && len(parts) < 5 {
		// /zones/ZONE/records/NAME lists or changes every type of the name;
		// shorter paths name no records at all.
		if len(parts) < 4 {
			return bad("the path names no records: end it in /** for all of them")
		}
	}
	segs := []string{"*", "*", "*"}
	for i, p := range parts[1:] {
		switch i {
		case 0:
			segs[0] = p
		case 2:
			segs[1] = p
		case 3:
			segs[2] = p
		}
	}
	if slices.ContainsFunc(segs, func(p string) bool { return strings.Contains(p, "**") }) {
		return bad("** may only end the path")
	}
	return permit.Normalize(twofold.Permit{Service: permit.DNS, Resource: strings.Join(segs, "/"), Actions: []string{action}})
}

// ruleMethods are the methods of the DNS API each action allows.
var ruleMethods = map[string][]string{
	permit.Read:    {http.MethodGet, http.MethodHead},
	permit.Write:   {http.MethodPost, http.MethodPut, http.MethodDelete},
	permit.Add:     {http.MethodPost},
	permit.Replace: {http.MethodPut},
	permit.Delete:  {http.MethodDelete},
}

// permitRules shows a key's dns permits as access rules: a rule for every
// method a permit allows, and no other.
func permitRules(ps []twofold.Permit) []accessRule {
	out := []accessRule{}
	for _, p := range ps {
		if p.Service != permit.DNS {
			continue
		}
		var path string
		switch segs := strings.Split(p.Resource, "/"); len(segs) {
		case 3:
			path = "/zones/" + segs[0] + "/records/" + segs[1] + "/" + segs[2]
		case 2:
			path = "/zones/" + segs[0] + "/records/" + segs[1] + "/**"
		default:
			path = "/zones/" + segs[0] + "/**"
		}
		for _, a := range p.Actions {
			for _, m := range ruleMethods[a] {
				out = append(out, accessRule{Service: permit.DNS, Method: m, Path: path})
			}
		}
	}
	return out
}

func appCredBody(base string, k twofold.APIKey, secret string) map[string]any {
	var expires any
	if !k.ExpiresAt.IsZero() {
		expires = k.ExpiresAt.UTC().Format("2006-01-02T15:04:05.000000")
	}
	b := map[string]any{"id": k.ID, "name": k.Name, "user_id": k.AccountID, "project_id": nil, "roles": []any{},
		"unrestricted": false, "expires_at": expires, "access_rules": permitRules(k.Permits), "description": "",
		"links": map[string]string{"self": base + "/v3/users/" + k.AccountID + "/application_credentials/" + k.ID}}
	if secret != "" {
		b["secret"] = secret
	}
	return b
}

// createAppCred makes an application credential: a Twofold API key whose
// permits come from the access rules. Without rules it may read and write
// every zone of the account and read the account. Twofold makes the secret
// itself (256 bits) and refuses unrestricted credentials, which could make
// more credentials. It refuses roles and a description, which it has no
// place for, rather than drop them unsaid: a credential asked for with a
// reader's role would otherwise get every right.
func (s *Server) createAppCred(w http.ResponseWriter, r *http.Request, a core.Auth, _ token) {
	if err := sameUser(a, r.PathValue("user_id")); err != nil {
		s.fail(w, r, err)
		return
	}
	var req struct {
		AppCred struct {
			Name         string       `json:"name"`
			Secret       string       `json:"secret"`
			ExpiresAt    string       `json:"expires_at"`
			Unrestricted bool         `json:"unrestricted"`
			AccessRules  []accessRule `json:"access_rules"`
			Roles        []any        `json:"roles"`
			Description  *string      `json:"description"`
		} `json:"application_credential"`
	}
	if err := decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	c := req.AppCred
	switch {
	case c.Secret != "":
		s.fail(w, r, twofold.Errorf(twofold.CodeInvalid, "Twofold makes the secret itself: leave secret out"))
		return
	case c.Unrestricted:
		s.fail(w, r, twofold.Errorf(twofold.CodeInvalid, "Twofold makes no unrestricted application credentials"))
		return
	case len(c.Roles) > 0:
		// Keystone's roles narrow a credential; ignored, they would
		// leave it every right of a credential without them.
		s.fail(w, r, twofold.Errorf(twofold.CodeInvalid, "Twofold has no roles: leave roles out and restrict the credential with access_rules"))
		return
	case c.Description != nil && *c.Description != "":
		s.fail(w, r, twofold.Errorf(twofold.CodeInvalid, "Twofold keeps no description of an application credential: leave description out, and say what it is for in its name"))
		return
	}
	n := core.NewAPIKey{Name: c.Name, UniqueName: true}
	if c.ExpiresAt != "" {
		t, err := parseTime(c.ExpiresAt)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		n.ExpiresAt = &t
	}
	for _, ru := range c.AccessRules {
		p, err := ruleToPermit(ru)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		// The rules of one path make one permit with their actions.
		i := slices.IndexFunc(n.Permits, func(q twofold.Permit) bool { return q.Resource == p.Resource })
		if i < 0 {
			n.Permits = append(n.Permits, p)
			continue
		}
		if n.Permits[i], err = permit.Normalize(twofold.Permit{Service: p.Service, Resource: p.Resource,
			Actions: append(slices.Clone(n.Permits[i].Actions), p.Actions...)}); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if len(c.AccessRules) == 0 {
		n.Permits = []twofold.Permit{
			{Service: permit.DNS, Resource: "*", Actions: []string{permit.Read, permit.Write}},
			{Service: permit.Account, Resource: "*", Actions: []string{permit.Read}},
		}
	}
	k, secret, err := s.svc.CreateAPIKey(r.Context(), a, n, httpapi.Meta(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"application_credential": appCredBody(s.baseURL(r), k, secret)})
}

// parseTime reads an expiry as the Identity API writes it, with or without
// a zone (then UTC).
func parseTime(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, twofold.Errorf(twofold.CodeInvalid, "expires_at must be a time such as 2027-03-01T00:00:00Z")
}

func (s *Server) listAppCreds(w http.ResponseWriter, r *http.Request, a core.Auth, _ token) {
	if err := sameUser(a, r.PathValue("user_id")); err != nil {
		s.fail(w, r, err)
		return
	}
	keys, err := s.svc.APIKeys(r.Context(), a)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []map[string]any{}
	for _, k := range keys {
		if name := r.URL.Query().Get("name"); name == "" || name == k.Name {
			out = append(out, appCredBody(s.baseURL(r), k, ""))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"application_credentials": out, "links": map[string]any{"self": s.baseURL(r) + r.URL.Path, "next": nil, "previous": nil}})
}

func (s *Server) appCred(r *http.Request, a core.Auth) (twofold.APIKey, error) {
	if err := sameUser(a, r.PathValue("user_id")); err != nil {
		return twofold.APIKey{}, err
	}
	keys, err := s.svc.APIKeys(r.Context(), a)
	if err != nil {
		return twofold.APIKey{}, err
	}
	for _, k := range keys {
		if k.ID == r.PathValue("id") {
			return k, nil
		}
	}
	return twofold.APIKey{}, errNoAppCred()
}

// errNoAppCred is the answer, as Keystone words it, to a credential id the
// user has no live key under: on GET and DELETE alike.
func errNoAppCred() error {
	return twofold.Errorf(twofold.CodeNotFound, "Could not find application credential.")
}

func (s *Server) getAppCred(w http.ResponseWriter, r *http.Request, a core.Auth, _ token) {
	k, err := s.appCred(r, a)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"application_credential": appCredBody(s.baseURL(r), k, "")})
}

func (s *Server) deleteAppCred(w http.ResponseWriter, r *http.Request, a core.Auth, _ token) {
	if err := sameUser(a, r.PathValue("user_id")); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.svc.RevokeAPIKey(r.Context(), a, r.PathValue("id"), httpapi.Meta(r)); err != nil {
		if twofold.ErrorCode(err) == twofold.CodeNotFound {
			err = errNoAppCred()
		}
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
