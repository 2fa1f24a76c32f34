package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
)

// factorJSON is a factor as the API shows it. The fields of one kind of
// factor are left out of the others: no "algorithm":"" or "digits":0 on a
// push device or a security key.
type factorJSON struct {
	ID     string               `json:"id"`
	Type   twofold.FactorType   `json:"type"`
	Label  string               `json:"label"`
	Status twofold.FactorStatus `json:"status"`
	// Algorithm and Digits are a TOTP or HOTP factor's; Period, in
	// seconds, a TOTP factor's.
	Algorithm   string     `json:"algorithm,omitempty"`
	Digits      int        `json:"digits,omitempty"`
	Period      int        `json:"period,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty"`
	LastUsedAt  *time.Time `json:"last_used_at,omitempty"`
	// Destination is an sms or email factor's masked number or address.
	Destination string `json:"destination,omitempty"`
	// Passkey is true for a security key enrolled as a passkey.
	Passkey bool `json:"passkey,omitempty"`
	// Unavailable is why the factor cannot be used now (a phone whose
	// region this server no longer texts, a destination the server cannot
	// read, an app or token whose key the server cannot read).
	Unavailable string `json:"unavailable,omitempty"`
	// SetupSession is, on a pending factor, whose session started its
	// setup, seen from the caller: "this", "other" (another session still
	// signed in: only it finishes the setup, and an elevated session may
	// cancel it) or "ended" (any session may cancel it); left out when not
	// known (set up before it was recorded) and on active factors.
	SetupSession string `json:"setup_session,omitempty"`
	// Expired is true on a pending factor whose setup is stale
	// (core.PendingSetupTTL): it holds neither its name nor a place among
	// the unfinished setups, and the next setup removes it.
	Expired bool `json:"expired,omitempty"`
}

func toFactorJSON(f twofold.Factor) factorJSON {
	j := factorJSON{ID: f.ID, Type: f.Type, Label: f.Label, Status: f.Status, CreatedAt: f.CreatedAt, ConfirmedAt: f.ConfirmedAt, LastUsedAt: f.LastUsedAt,
		Unavailable: f.Unavailable}
	switch f.Type {
	case twofold.FactorTOTP:
		j.Algorithm, j.Digits, j.Period = f.Algorithm, f.Digits, int(f.Period/time.Second)
	case twofold.FactorHOTP:
		j.Algorithm, j.Digits = f.Algorithm, f.Digits
	case twofold.FactorSMS, twofold.FactorEmail:
		j.Destination = f.Hint
	case twofold.FactorWebAuthn:
		j.Passkey = f.Passkey
	}
	return j
}

func factorsJSON(fs []twofold.Factor) []factorJSON {
	out := make([]factorJSON, 0, len(fs))
	for _, f := range fs {
		out = append(out, toFactorJSON(f))
	}
	return out
}

// setupSessionNames are the setup_session values of factorJSON.
var setupSessionNames = map[core.SetupOwner]string{core.SetupMine: "this", core.SetupOther: "other", core.SetupEnded: "ended"}

// myFactorsJSON is factorsJSON for the caller's own factors, each pending
// one marked with whose session started its setup (core.SetupOwners) and
// whether it has expired (core.StaleSetups).
func (s *Server) myFactorsJSON(r *http.Request, a core.Auth, fs []twofold.Factor) ([]factorJSON, error) {
	owners, err := s.svc.SetupOwners(r.Context(), a, fs)
	if err != nil {
		return nil, err
	}
	stale, err := s.svc.StaleSetups(r.Context(), a, fs)
	if err != nil {
		return nil, err
	}
	out := factorsJSON(fs)
	for i := range out {
		if o, ok := owners[out[i].ID]; ok {
			out[i].SetupSession = setupSessionNames[o]
		}
		out[i].Expired = stale[out[i].ID]
	}
	return out, nil
}

type twoFactorJSON struct {
	Enabled                bool       `json:"enabled"`
	Required               bool       `json:"required"`
	RecoveryCodesRemaining int        `json:"recovery_codes_remaining"`
	PaperKey               bool       `json:"paper_key"`
	Reset                  *resetJSON `json:"reset,omitempty"`
	// RequiredBy names the teams whose policy requires two-factor.
	RequiredBy []string `json:"required_by_teams,omitempty"`
	// RequiredByUser is the account's own setting (PUT
	// /v1/me/two-factor); Required is what login does.
	RequiredByUser bool `json:"required_by_user"`
}

// resetJSON is an operator's reset of two-factor waiting to be carried out.
type resetJSON struct {
	RequestedBy string    `json:"requested_by"`
	RequestedAt time.Time `json:"requested_at"`
	DueAt       time.Time `json:"due_at"`
	// Withdrawing: a way in was used since the request, so the reset is
	// withdrawn when due and nothing is removed.
	Withdrawing bool `json:"withdrawing"`
}

func twoFactorOf(p core.Profile) twoFactorJSON {
	tf := twoFactorJSON{Enabled: p.Enabled, Required: p.Required, RecoveryCodesRemaining: p.RecoveryCodesRemaining, PaperKey: p.PaperKey, RequiredBy: p.RequiredBy,
		RequiredByUser: p.RequiredByUser}
	if r := p.Reset; r != nil {
		tf.Reset = toResetJSON(*r)
	}
	return tf
}

// cancelReset cancels the operator's reset of the caller's two-factor that
// is waiting (SPEC §1 story 4).
func (s *Server) cancelReset(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.svc.CancelTwoFactorReset(r.Context(), a, Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, a core.Auth) {
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	fs, err := s.myFactorsJSON(r, a, p.Factors)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := map[string]any{
		"id": p.Account.ID, "username": p.Account.Username, "email": p.Account.Email, "operator": p.Account.Operator,
		"two_factor": twoFactorOf(p),
		"factors":    fs,
		"elevated":   p.Elevated,
	}
	if p.Elevated {
		out["elevated_until"] = a.Session.ElevatedUntil
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listFactors(w http.ResponseWriter, r *http.Request, a core.Auth) {
	fs, err := s.svc.Factors(r.Context(), a.Account.ID)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out, err := s.myFactorsJSON(r, a, fs)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"factors": out})
}

// getFactor answers one of the caller's factors, as GET /v1/me/factors
// lists it (a pending one with its setup_session, never a key or code): the
// address the Location of a factor's 201 names.
func (s *Server) getFactor(w http.ResponseWriter, r *http.Request, a core.Auth) {
	fs, err := s.svc.Factors(r.Context(), a.Account.ID)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	i := slices.IndexFunc(fs, func(f twofold.Factor) bool { return f.ID == r.PathValue("id") })
	if i < 0 {
		writeError(w, r, s.log, twofold.Errorf(twofold.CodeNotFound, "factor not found"))
		return
	}
	out, err := s.myFactorsJSON(r, a, fs[i:i+1])
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"factor": out[0]})
}

func (s *Server) enrolFactor(w http.ResponseWriter, r *http.Request, a core.Auth) {
	var req struct {
		Type       twofold.FactorType `json:"type"`
		Label      string             `json:"label"`
		Algorithm  string             `json:"algorithm"`
		Digits     int                `json:"digits"`
		Period     int                `json:"period"`
		SecretSize int                `json:"secret_size"`
		Phone      string             `json:"phone"`
		Email      string             `json:"email"`
		Serial     string             `json:"serial"` // claims an imported hardware token
		Code       string             `json:"code"`
		Passkey    bool               `json:"passkey"`  // webauthn: a passkey, which also signs in on its own
		Password   string             `json:"password"` // passkey: the account's current password
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	// The options of other factors, by whether the body gives them.
	options := map[string]bool{"algorithm": req.Algorithm != "", "digits": req.Digits != 0, "period": req.Period != 0, "secret_size": req.SecretSize != 0,
		"phone": req.Phone != "", "email": req.Email != "", "passkey": req.Passkey, "password": req.Password != ""}
	if req.Type == twofold.FactorPush {
		options["serial"], options["code"] = req.Serial != "", req.Code != ""
		s.enrolPush(w, r, a, req.Label, options)
		return
	}
	if req.Serial != "" || req.Code != "" {
		s.claimToken(w, r, a, req.Type, req.Serial, req.Code, req.Label, options)
		return
	}
	e, err := s.svc.EnrolFactor(r.Context(), a, core.NewFactor{Type: req.Type, Label: req.Label, Algorithm: req.Algorithm,
		Digits: req.Digits, Period: req.Period, SecretSize: req.SecretSize, Phone: req.Phone, Email: req.Email, Passkey: req.Passkey, Password: req.Password}, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.Header().Set("Location", "/v1/me/factors/"+e.Factor.ID)
	if e.Factor.Type.SendsCodes() {
		writeJSON(w, http.StatusCreated, map[string]any{"factor": toFactorJSON(e.Factor), "code_sent_to": e.Factor.Hint, "code_expires_at": e.CodeExpiresAt})
		return
	}
	if e.Options != nil {
		writeJSON(w, http.StatusCreated, map[string]any{"factor": toFactorJSON(e.Factor), "options": e.Options, "options_expire_at": e.CodeExpiresAt})
		return
	}
	qr := "/v1/me/factors/" + e.Factor.ID + "/qr.png"
	writeJSON(w, http.StatusCreated, map[string]any{"factor": toFactorJSON(e.Factor), "secret": e.Secret, "otpauth_uri": e.OTPAuthURI, "qr_png_url": qr})
}

// claimToken adds an imported hardware token to the caller's account by its
// serial and current code (SPEC §2 HOTP): the factor is active at once, and
// the first factor brings recovery codes and the paper key.
// other says which members of the body a claim does not take were given:
// it refuses them.
func (s *Server) claimToken(w http.ResponseWriter, r *http.Request, a core.Auth, typ twofold.FactorType, serial, code, label string, other map[string]bool) {
	if typ != twofold.FactorHOTP && typ != twofold.FactorTOTP {
		writeError(w, r, s.log, twofold.Errorf(twofold.CodeInvalid, "a hardware token is claimed with type hotp or totp").On("type"))
		return
	}
	if err := core.RefuseOnly(twofold.Errorf(twofold.CodeInvalid, "a hardware token's algorithm, digits and period come from its imported seed: send only type, serial, code and label"), other); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	c, err := s.svc.ClaimToken(r.Context(), a, serial, code, label, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.Header().Set("Location", "/v1/me/factors/"+c.Factor.ID)
	writeJSON(w, http.StatusCreated, confirmationJSON(c))
}

func (s *Server) factorQR(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := Query(r, "size"); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	e, err := s.svc.PendingEnrolment(r.Context(), a, r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	size := 256
	if v, err := strconv.Atoi(r.URL.Query().Get("size")); err == nil && v >= 128 && v <= 1024 {
		size = v
	}
	png, err := qrcode.Encode(e.OTPAuthURI, qrcode.Medium, size)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(png)
}

func (s *Server) confirmFactor(w http.ResponseWriter, r *http.Request, a core.Auth) {
	var req struct {
		Code       string          `json:"code"`
		Credential json.RawMessage `json:"credential"` // a security key's PublicKeyCredential
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	var c core.Confirmation
	var err error
	if req.Credential != nil {
		c, err = s.svc.ConfirmSecurityKey(r.Context(), a, r.PathValue("id"), req.Credential, Meta(r))
	} else {
		c, err = s.svc.ConfirmFactor(r.Context(), a, r.PathValue("id"), req.Code, Meta(r))
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, confirmationJSON(c))
}

// resendConfirmation sends a pending sms or email factor a new code to
// confirm it with.
func (s *Server) resendConfirmation(w http.ResponseWriter, r *http.Request, a core.Auth) {
	var req struct {
		Password string `json:"password"` // a pending passkey: the account's current password
	}
	if r.ContentLength != 0 {
		if err := decode(w, r, &req); err != nil {
			writeError(w, r, s.log, err)
			return
		}
	}
	c, err := s.svc.ResendConfirmation(r.Context(), a, r.PathValue("id"), req.Password, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, challengeStatus(c), challengeJSON(c))
}

func (s *Server) renameFactor(w http.ResponseWriter, r *http.Request, a core.Auth) {
	var req struct {
		Label string `json:"label"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if _, err := s.svc.RenameFactor(r.Context(), a, r.PathValue("id"), req.Label, Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	fs, err := s.svc.Factors(r.Context(), a.Account.ID)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	for _, f := range fs {
		if f.ID == r.PathValue("id") {
			writeJSON(w, http.StatusOK, map[string]any{"factor": toFactorJSON(f)})
			return
		}
	}
	writeError(w, r, s.log, twofold.Errorf(twofold.CodeNotFound, "factor not found"))
}

func (s *Server) deleteFactor(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.svc.DeleteFactor(r.Context(), a, r.PathValue("id"), Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) resyncFactor(w http.ResponseWriter, r *http.Request, a core.Auth) {
	var req struct {
		Code     string `json:"code"`
		NextCode string `json:"next_code"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if err := s.svc.ResyncFactor(r.Context(), a, r.PathValue("id"), req.Code, req.NextCode, Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "resynchronised"})
}

func (s *Server) regenerateRecoveryCodes(w http.ResponseWriter, r *http.Request, a core.Auth) {
	codes, err := s.svc.RegenerateRecoveryCodes(r.Context(), a, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"codes": codes})
}

func (s *Server) setTwoFactor(w http.ResponseWriter, r *http.Request, a core.Auth) {
	var req struct {
		Required *bool `json:"required"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if req.Required == nil {
		writeError(w, r, s.log, twofold.Errorf(twofold.CodeInvalid, "field \"required\" (true or false) is missing").On("required"))
		return
	}
	if _, err := s.svc.SetTwoFactorRequired(r.Context(), a, *req.Required, Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	a.Account.TwoFactorRequired = *req.Required
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"two_factor": twoFactorOf(p)})
}

type eventJSON struct {
	ID        int64     `json:"id"`
	Type      string    `json:"type"`
	At        time.Time `json:"at"`
	Source    string    `json:"source"`
	UserAgent string    `json:"user_agent"`
	Detail    string    `json:"detail,omitempty"`
	// Subject names the API key, authenticator or SSH key the event is
	// about, among the account's several (core.SubjectOf).
	Subject *subjectJSON `json:"subject,omitempty"`
}

// subjectJSON is a core.EventSubject.
type subjectJSON struct {
	Kind  string `json:"kind"`
	Name  string `json:"name,omitempty"`
	ID    string `json:"id,omitempty"`
	Cause string `json:"cause,omitempty"`
}

func toEventJSON(e twofold.AuditEvent) eventJSON {
	out := eventJSON{ID: e.ID, Type: e.Type, At: e.At, Source: e.Source, UserAgent: e.UserAgent, Detail: e.Detail}
	if sub, ok := core.SubjectOf(e); ok {
		out.Subject = &subjectJSON{Kind: sub.Kind, Name: sub.Name, ID: sub.ID, Cause: sub.Cause}
	}
	return out
}

func (s *Server) events(w http.ResponseWriter, r *http.Request, a core.Auth) {
	q, err := eventQuery(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	evs, err := s.svc.Events(r.Context(), a, q)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := make([]eventJSON, 0, len(evs))
	for _, e := range evs {
		out = append(out, toEventJSON(e))
	}
	writeJSON(w, http.StatusOK, eventsPage(q, evs, out))
}

// changePassword replaces the caller's password and answers with the
// session to go on with: every other session, this one included, has ended.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, a core.Auth) {
	var req struct {
		Current string `json:"current_password"`
		New     string `json:"new_password"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	token, expires, err := s.svc.ChangePassword(r.Context(), a, req.Current, req.New, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, loginResponse{Status: "authenticated", Token: token, ExpiresAt: expires})
}

// confirmationJSON is the answer to a factor made active: the factor, and
// with the account's first factor its recovery codes and paper key, shown
// this once (SPEC §3.1).
func confirmationJSON(c core.Confirmation) map[string]any {
	out := map[string]any{"factor": toFactorJSON(c.Factor)}
	if !c.ElevatedUntil.IsZero() {
		out["elevated_until"] = c.ElevatedUntil
	}
	if c.RecoveryCodes != nil {
		out["recovery_codes"] = c.RecoveryCodes
		out["paper_key"] = c.PaperKey
	}
	return out
}

// deleteMe closes the caller's account for good (README "Closing an
// account"): the current password, and an elevated session when the
// account has two-factor.
func (s *Server) deleteMe(w http.ResponseWriter, r *http.Request, a core.Auth) {
	var req struct {
		Password string `json:"password"` // the current one
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if err := s.svc.DeleteOwnAccount(r.Context(), a, req.Password, Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
