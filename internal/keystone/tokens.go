package keystone

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// userRef names a user in a request: by id, or by name in the default domain.
type userRef struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Password string `json:"password"`
	Passcode string `json:"passcode"`
	Domain   *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"domain"`
}

// userMethod is the object of the password and totp methods: the user,
// the password or passcode in it.
type userMethod struct {
	User *userRef `json:"user"`
}

type authRequest struct {
	Auth struct {
		Identity struct {
			Methods               []string    `json:"methods"`
			Password              *userMethod `json:"password"`
			TOTP                  *userMethod `json:"totp"`
			ApplicationCredential *struct {
				ID     string   `json:"id"`
				Name   string   `json:"name"`
				Secret string   `json:"secret"`
				User   *userRef `json:"user"`
			} `json:"application_credential"`
		} `json:"identity"`
		Scope json.RawMessage `json:"scope"`
	} `json:"auth"`
}

// noSuchUser starts a username no account can have: a user named by an
// unknown id or in another domain signs in as noSuchUser and what named it
// (noUser), so that the answer costs the same password hash as a wrong
// password and is the same, and counts on a password counter of its own,
// as a known user's does. Were every such user one name, their shared
// counter would lock after a few of them, and a locked answer (429) to an
// unknown id beside a wrong-password answer (401) to a known one would
// tell which ids exist.
const noSuchUser = "\x00"

// noUser returns the username to sign in as for a user named by ref that
// is not Twofold's: never an account's, one per ref (up to the length of
// an id, beyond which none exists either).
func noUser(ref string) string {
	if len(ref) > 64 {
		ref = ref[:64]
	}
	return noSuchUser + ref
}

// username resolves a user reference to the username to sign in as.
func (s *Server) username(r *http.Request, u userRef) (string, error) {
	if u.ID != "" {
		name, found, err := s.svc.AccountName(r.Context(), u.ID)
		if err != nil || !found {
			return noUser("id:" + u.ID), err
		}
		return name, nil
	}
	if d := u.Domain; d == nil || d.ID != "" && d.ID != DomainID || d.Name != "" && !strings.EqualFold(d.Name, DomainName) || d.ID == "" && d.Name == "" {
		return noUser("name:" + u.Name), nil
	}
	return u.Name, nil
}

// checkUserRef refuses, as Keystone does (400), a user reference of the
// method named target (password, totp, application_credential) that
// cannot name a user: missing, with neither id nor name, or by name without
// a domain that has an id or a name. What it passes, username resolves: an
// unknown user or domain is then the one 401.
func checkUserRef(target string, u *userRef) error {
	switch {
	case u == nil:
		return twofold.Errorf(twofold.CodeInvalid, "Expecting to find user in %s: name the user by id, or by name and domain", target)
	case u.ID == "" && u.Name == "":
		return twofold.Errorf(twofold.CodeInvalid, "Expecting to find id or name in user")
	case u.ID == "" && u.Domain == nil:
		return twofold.Errorf(twofold.CodeInvalid, "Expecting to find domain in user: a user named by name needs its domain (id %q or name %q)", DomainID, DomainName)
	case u.ID == "" && u.Domain.ID == "" && u.Domain.Name == "":
		return twofold.Errorf(twofold.CodeInvalid, "Expecting to find id or name in domain")
	}
	return nil
}

// appCredToken signs an application credential in: by its id (a name or
// user sent beside it is not read, as Keystone finds the credential by its
// id alone), or by its name and its user, by id or by name and domain
// (username, as the password method names one). An unknown user, domain
// or name and a wrong secret are the one 401 of the id form (core's
// errBadKey), so that none can be probed; a request that cannot name a
// credential or user is 400, as Keystone answers it.
func (s *Server) appCredToken(r *http.Request, id, name, secret string, u *userRef) (string, error) {
	ctx, meta := r.Context(), httpapi.Meta(r)
	if id != "" {
		tok, _, err := s.svc.IssueAPIToken(ctx, id, secret, meta)
		return tok, err
	}
	if name == "" {
		return "", twofold.Errorf(twofold.CodeInvalid, "Expecting to find id or name in application_credential")
	}
	if err := checkUserRef("application_credential", u); err != nil {
		return "", err
	}
	username, err := s.username(r, *u)
	if err != nil {
		return "", err
	}
	tok, _, err := s.svc.IssueAPITokenByName(ctx, username, name, secret, meta)
	return tok, err
}

// unauthorized is the one answer to a sign-in that fails at the password or
// the code, as in /v1: it never says which.
func unauthorized() error {
	return twofold.Errorf(twofold.CodeUnauthorized, "The request you have made requires authentication.")
}

// unauthorizedUnlessFault is unauthorized for a refusal, but err itself
// for the server's own failure (twofold.Fault): a client told 401 when the
// database was down would give up a sign-in it should try again.
func unauthorizedUnlessFault(err error) error {
	if twofold.Fault(err) {
		return err
	}
	return unauthorized()
}

// createToken signs in (POST /v3/auth/tokens). A user whose account
// requires two-factor needs the password and totp methods: both at once,
// or the password first, which answers 401 with an auth receipt (the login
// waiting for its second step), then totp with the receipt.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	if err := checkFlags(r, false); err != nil { // before anything is signed in
		s.fail(w, r, err)
		return
	}
	var req authRequest
	if err := decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	id := req.Auth.Identity
	if sc := bytes.TrimSpace(req.Auth.Scope); len(sc) > 0 && !bytes.Equal(sc, []byte("null")) && !bytes.Equal(sc, []byte(`"unscoped"`)) && !bytes.Equal(sc, []byte("{}")) {
		s.writeError(w, r, http.StatusUnauthorized, "Twofold has no projects or domains to scope a token to: ask for an unscoped token")
		return
	}
	methods := id.Methods
	has := func(m string) bool { return slices.Contains(methods, m) }
	ctx, meta := r.Context(), httpapi.Meta(r)
	passcode := ""
	if id.TOTP != nil && id.TOTP.User != nil {
		passcode = id.TOTP.User.Passcode
	}

	switch receipt := r.Header.Get(headerReceipt); {
	case len(r.Header.Values(headerReceipt)) > 1:
		// Which sign-in the code is for would be a guess.
		s.writeError(w, r, http.StatusBadRequest, "send one Openstack-Auth-Receipt header: the receipt of the sign-in this code completes")
		return

	case has("application_credential"):
		ac := id.ApplicationCredential
		switch {
		case len(methods) != 1:
			s.writeError(w, r, http.StatusUnauthorized, "an application credential signs in alone, by its id and secret, or its name, its user and secret")
			return
		case ac == nil: // as Keystone answers a method without its object
			s.fail(w, r, twofold.Errorf(twofold.CodeInvalid, "Expecting to find application_credential in identity"))
			return
		}
		tok, err := s.appCredToken(r, ac.ID, ac.Name, ac.Secret, ac.User)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.answerToken(w, r, http.StatusCreated, tok)

	case receipt != "":
		if !has("totp") {
			s.writeError(w, r, http.StatusUnauthorized, "with an auth receipt, send the totp method")
			return
		}
		if id.TOTP == nil {
			s.writeError(w, r, http.StatusBadRequest, "the totp method needs auth.identity.totp")
			return
		}
		if has("password") && id.Password == nil {
			s.writeError(w, r, http.StatusBadRequest, "the password method needs auth.identity.password")
			return
		}
		password := id.Password
		if !has("password") {
			password = nil // not a method of this request: unread
		}
		if err := checkUsers(password, id.TOTP); err != nil { // before the receipt is looked at
			s.fail(w, r, err)
			return
		}
		l, err := s.svc.PendingLogin(ctx, receipt)
		if err != nil {
			s.fail(w, r, unauthorizedUnlessFault(err))
			return
		}
		if name, err := s.username(r, *id.TOTP.User); err != nil || !s.sameAccount(r, l.AccountID, name) {
			s.fail(w, r, unauthorized())
			return
		}
		if has("password") {
			// Every supplied method must hold, the password beside a
			// receipt too (it is checked, and counted, as at sign-in).
			if name, err := s.username(r, *id.Password.User); err != nil || !s.sameAccount(r, l.AccountID, name) {
				s.fail(w, r, unauthorized())
				return
			}
			if err := s.svc.CheckLoginPassword(ctx, receipt, id.Password.User.Password, meta); err != nil {
				if twofold.ErrorCode(err) == twofold.CodeLoginExpired {
					err = unauthorized()
				}
				s.fail(w, r, signInError(err))
				return
			}
		}
		opts, err := s.svc.LoginMethods(ctx, receipt)
		if err != nil {
			s.fail(w, r, unauthorizedUnlessFault(err))
			return
		}
		if !hasTOTP(opts) {
			s.fail(w, r, errNoTOTP())
			return
		}
		s.secondStep(w, r, receipt, passcode)

	case has("password"):
		if id.Password == nil {
			s.writeError(w, r, http.StatusBadRequest, "the password method needs auth.identity.password")
			return
		}
		if has("totp") && id.TOTP == nil {
			// Not a wrong code, to be counted as one: no code at all.
			s.writeError(w, r, http.StatusBadRequest, "the totp method needs auth.identity.totp")
			return
		}
		totp := id.TOTP
		if !has("totp") {
			totp = nil // not a method of this request: unread
		}
		if err := checkUsers(id.Password, totp); err != nil { // before any password is checked
			s.fail(w, r, err)
			return
		}
		name, err := s.username(r, *id.Password.User)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if totp != nil {
			// Both methods must name one user, as beside a receipt. Two
			// that differ sign in as no one, at the cost and with the 401
			// of an unknown user: a quicker answer would tell which ids
			// name which users, and the password's user neither has its
			// password checked nor its code spent.
			other, err := s.username(r, *totp.User)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			if !strings.EqualFold(other, name) {
				name = noUser("two users")
			}
		}
		var res core.LoginResult
		if has("totp") {
			// Where two-factor is not required at sign-in, the code
			// supplied must hold too (Keystone answers a token only if
			// every supplied method is valid): it is checked before any
			// session is opened, and a right one is spent and elevates the
			// session, whose token has the methods password and totp, as
			// a second step's; a wrong one (or none) is the one 401 of a
			// wrong code, counted as one. Where it is required, the code
			// passes the login's second step below.
			res, err = s.svc.LoginWithCode(ctx, name, id.Password.User.Password, core.SecondFactor{Method: twofold.MethodTOTP, Code: passcode}, meta)
		} else {
			res, err = s.svc.Login(ctx, name, id.Password.User.Password, meta)
		}
		if err != nil {
			s.fail(w, r, signInError(err))
			return
		}
		switch {
		case res.Authenticated:
			s.answerToken(w, r, http.StatusCreated, res.Token)
		case !hasTOTP(res.Methods):
			// The password is right (a receipt would say so too), but no
			// totp can complete this login, nor hold beside the password
			// where two-factor is not required.
			s.fail(w, r, errNoTOTP())
		case has("totp") && passcode != "":
			s.secondStep(w, r, res.LoginID, passcode)
		default:
			s.receipt(w, r, res)
		}

	default:
		s.writeError(w, r, http.StatusUnauthorized, "Twofold signs in with the password method, then totp when the account requires it, or with an application credential")
	}
}

// checkUsers refuses with checkUserRef's 400 a user of the password or
// the totp method that cannot name a user, of each given (non-nil), as
// Keystone validates each method's user before it signs anyone in.
func checkUsers(password, totp *userMethod) error {
	if password != nil {
		if err := checkUserRef("password", password.User); err != nil {
			return err
		}
	}
	if totp != nil {
		if err := checkUserRef("totp", totp.User); err != nil {
			return err
		}
	}
	return nil
}

// signInError is the answer to a password, or a code sent beside it,
// refused at sign-in: the one 401 of a wrong password and a wrong (or
// missing) code.
func signInError(err error) error {
	switch twofold.ErrorCode(err) {
	case twofold.CodeInvalidCredentials, twofold.CodeInvalidCode, twofold.CodeInvalid:
		return unauthorized()
	}
	return err
}

// hasTOTP reports whether methods offer a TOTP code: the one second factor
// the Identity API takes.
func hasTOTP(methods []core.MethodOption) bool {
	return slices.ContainsFunc(methods, func(o core.MethodOption) bool { return o.Method == twofold.MethodTOTP })
}

// errNoTOTP is the answer, once the password is known to be right, for an
// account that has no authenticator app (TOTP) to give the totp method:
// its second factors (push, security keys, HOTP tokens, SMS or email
// codes) are for /v1 and the sign-in pages only. It is not a wrong code,
// and counts as none.
func errNoTOTP() error {
	return twofold.Errorf(twofold.CodeUnauthorized, "This account has no authenticator app (TOTP) to sign in with here: sign in on /v1 or the web pages with its other second factors.")
}

// sameAccount reports whether username names the account with id.
func (s *Server) sameAccount(r *http.Request, id, username string) bool {
	name, found, err := s.svc.AccountName(r.Context(), id)
	return err == nil && found && strings.EqualFold(name, username)
}

// secondStep passes the login's second step with a TOTP code and answers
// the token.
func (s *Server) secondStep(w http.ResponseWriter, r *http.Request, loginID, passcode string) {
	v, err := s.svc.VerifyLogin(r.Context(), loginID, core.SecondFactor{Method: twofold.MethodTOTP, Code: passcode}, httpapi.Meta(r))
	if err != nil {
		switch twofold.ErrorCode(err) {
		case twofold.CodeInvalidCode, twofold.CodeLoginExpired, twofold.CodeInvalid:
			err = unauthorized()
		}
		s.fail(w, r, err)
		return
	}
	s.answerToken(w, r, http.StatusCreated, v.Token)
}

// receipt answers a password accepted for an account that requires a
// second factor: 401 with the receipt that the totp method completes.
func (s *Server) receipt(w http.ResponseWriter, r *http.Request, res core.LoginResult) {
	l, err := s.svc.PendingLogin(r.Context(), res.LoginID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	name, _, err := s.svc.AccountName(r.Context(), l.AccountID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set(headerReceipt, res.LoginID)
	w.Header().Set("WWW-Authenticate", challenge(s.baseURL(r)+"/v3"))
	var b struct {
		errorBody
		Receipt  map[string]any `json:"receipt"`
		Required [][]string     `json:"required_auth_methods"`
	}
	b.Error.Code, b.Error.Title = http.StatusUnauthorized, http.StatusText(http.StatusUnauthorized)
	b.Error.Message = "Additional authentications steps required."
	b.Receipt = map[string]any{"methods": []string{"password"}, "user": userOf(twofold.Account{ID: l.AccountID, Username: name}),
		"expires_at": keystoneTime(l.ExpiresAt), "issued_at": keystoneTime(l.CreatedAt)}
	b.Required = [][]string{{"password", "totp"}}
	writeJSON(w, http.StatusUnauthorized, b)
}

// keystoneTime formats t as the Identity API does.
func keystoneTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// answerToken answers a token with its body, the token in X-Subject-Token.
func (s *Server) answerToken(w http.ResponseWriter, r *http.Request, status int, v string) {
	a, tok, err := s.tokenAuth(r, v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set(headerSubjectToken, v)
	writeJSON(w, status, map[string]any{"token": s.tokenBody(r, a, tok)})
}

// auditID names a token in logs without giving it away: the same for
// every answer about one token (Keystone's audit id), another for each
// token; 16 bytes of a hash of the token's value, which is random and long
// enough that the hash reveals nothing of it.
func auditID(token string) string {
	sum := sha256.Sum256([]byte("twofold keystone audit id\x00" + token))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

func (s *Server) tokenBody(r *http.Request, a core.Auth, tok token) map[string]any {
	issued := a.Session.CreatedAt
	if a.Key != nil {
		issued, _ = core.APITokenIssuedAt(tok.value)
	}
	body := map[string]any{
		"methods": tok.methods, "user": userOf(a.Account), "expires_at": keystoneTime(tok.expires), "issued_at": keystoneTime(issued),
		"audit_ids": []string{auditID(tok.value)}, "roles": []any{},
	}
	if !r.URL.Query().Has("nocatalog") { // Identity API: "excludes the service catalog"
		body["catalog"] = s.catalog(r)
	}
	if a.Key != nil {
		body["application_credential"] = map[string]any{"id": a.Key.ID, "name": a.Key.Name, "restricted": true}
	}
	return body
}

// catalog lists Twofold's services: identity (this API) and dns.
func (s *Server) catalog(r *http.Request) []map[string]any {
	base := s.baseURL(r)
	entry := func(id, typ, name, url string) map[string]any {
		eps := []map[string]string{}
		for _, iface := range []string{"public", "internal"} {
			eps = append(eps, map[string]string{"id": id + "-" + iface, "interface": iface, "region": "RegionOne", "region_id": "RegionOne", "url": url})
		}
		return map[string]any{"id": id, "type": typ, "name": name, "endpoints": eps}
	}
	return []map[string]any{
		entry("identity", "identity", "twofold", base+"/v3/"),
		entry("dns", "dns", "twofold-dns", base+"/dns/v2"),
	}
}

// subject authenticates the X-Subject-Token of a, which must be a's own.
func (s *Server) subject(r *http.Request, a core.Auth) (core.Auth, token, error) {
	switch n := len(r.Header.Values(headerSubjectToken)); {
	case n > 1:
		return core.Auth{}, token{}, twofold.Errorf(twofold.CodeInvalid, "send one X-Subject-Token header: it names the one token to validate or revoke")
	case r.Header.Get(headerSubjectToken) == "":
		return core.Auth{}, token{}, twofold.Errorf(twofold.CodeInvalid, "the X-Subject-Token header is required: it names the token to validate or revoke")
	}
	sa, tok, err := s.tokenAuth(r, r.Header.Get(headerSubjectToken))
	if twofold.Fault(err) {
		// Not an answer about the token: told as not found, a client
		// would drop a token that stands.
		return core.Auth{}, token{}, err
	}
	if err != nil || sa.Account.ID != a.Account.ID {
		return core.Auth{}, token{}, twofold.Errorf(twofold.CodeNotFound, "Could not find token.")
	}
	return sa, tok, nil
}

// checkToken validates X-Subject-Token (GET and HEAD /v3/auth/tokens).
func (s *Server) checkToken(w http.ResponseWriter, r *http.Request, a core.Auth, _ token) {
	if err := checkFlags(r, true); err != nil {
		s.fail(w, r, err)
		return
	}
	sa, tok, err := s.subject(r, a)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set(headerSubjectToken, tok.value)
	if r.Method == http.MethodHead {
		// The token in X-Subject-Token, as in every answer that carries
		// one (writeJSON), is kept by no cache.
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": s.tokenBody(r, sa, tok)})
}

// revokeToken ends X-Subject-Token (DELETE /v3/auth/tokens).
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, a core.Auth, _ token) {
	sa, tok, err := s.subject(r, a)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if sa.Key == nil && a.Key != nil {
		s.fail(w, r, twofold.Errorf(twofold.CodeForbidden, "an application credential cannot end a person's session"))
		return
	}
	if sa.Key != nil {
		err = s.svc.RevokeAPIToken(r.Context(), a, tok.value, httpapi.Meta(r))
	} else {
		err = s.svc.Logout(r.Context(), sa, httpapi.Meta(r))
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
