package httpapi

import (
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/factor/push"
)

// Push approval (SPEC §2): a person adds a push device with POST
// /v1/me/factors {"type":"push"}; the device enrols its key with POST
// /v1/push/enrol, then long-polls GET /v1/push/challenges and answers with
// POST /v1/push/challenges/{id}, every request signed with its key.

// serverURL is the base URL a device reaches this server at (PublicURL).
func (s *Server) serverURL(r *http.Request) string { return PublicURL(s.svc.BaseURL(), r) }

// pushEnrolmentJSON is a push enrolment: the token and URI are shown this
// once, and the QR code of the URI is inline (PNG, base64), since the token
// is kept only as a hash and cannot be drawn again later.
func pushEnrolmentJSON(e core.PushEnrolment) (map[string]any, error) {
	png, err := qrcode.Encode(e.URI, qrcode.Medium, 320)
	if err != nil {
		return nil, err
	}
	return map[string]any{"factor": toFactorJSON(e.Factor), "enrolment_token": e.Token, "enrolment_uri": e.URI,
		"qr_png": base64.StdEncoding.EncodeToString(png), "expires_at": e.ExpiresAt}, nil
}

// enrolPush adds a pending push device; extra says which other members
// of the body were given, which it refuses.
func (s *Server) enrolPush(w http.ResponseWriter, r *http.Request, a core.Auth, label string, extra map[string]bool) {
	if err := core.RefuseOnly(twofold.Errorf(twofold.CodeInvalid, "a push device takes only type and label"), extra); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	e, err := s.svc.EnrolPush(r.Context(), a, label, s.serverURL(r), Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out, err := pushEnrolmentJSON(e)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.Header().Set("Location", "/v1/me/factors/"+e.Factor.ID)
	writeJSON(w, http.StatusCreated, out)
}

// renewPushEnrolment makes a new enrolment token for a push device that has
// not enrolled yet.
func (s *Server) renewPushEnrolment(w http.ResponseWriter, r *http.Request, a core.Auth) {
	e, err := s.svc.RenewPushEnrolment(r.Context(), a, r.PathValue("id"), s.serverURL(r), Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out, err := pushEnrolmentJSON(e)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// enrolPushDevice registers a device's key with its enrolment token.
func (s *Server) enrolPushDevice(w http.ResponseWriter, r *http.Request) {
	var req struct {
		DeviceID  string `json:"device_id"`
		Token     string `json:"token"`
		PublicKey string `json:"public_key"`
		Signature string `json:"signature"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	pub, err1 := push.Decode(req.PublicKey)
	sig, err2 := push.Decode(req.Signature)
	if err := core.RefuseOnly(twofold.Errorf(twofold.CodeInvalid, "public_key and signature must be base64url without padding"),
		map[string]bool{"public_key": err1 != nil, "signature": err2 != nil}); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	c, err := s.svc.EnrolPushDevice(r.Context(), req.DeviceID, req.Token, pub, sig, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, confirmationJSON(c))
}

type deviceHandler func(w http.ResponseWriter, r *http.Request, d core.Device, body []byte)

// device authenticates a request signed by a push device (see
// internal/factor/push): the signature covers the method, the path with its
// query, the time, a nonce and the body.
func (s *Server) device(h deviceHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := ReadBody(w, r, maxBody) // before the signature, which covers it: a 413 counts nothing
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		d, err := s.svc.AuthenticateDevice(r.Context(), r.Header.Get("Authorization"), r.Method, r.URL.RequestURI(), body, Meta(r))
		if err != nil {
			if code := twofold.ErrorCode(err); code == twofold.CodeUnauthorized || code == twofold.CodeReplayedRequest {
				w.Header().Set("WWW-Authenticate", push.AuthScheme+` realm="twofold"`)
			}
			writeError(w, r, s.log, err)
			return
		}
		h(w, r, d, body)
	}
}

// pushChallenges lists the device's requests waiting for an answer; with
// ?wait=25s it waits for one up to that long (at most a minute).
func (s *Server) pushChallenges(w http.ResponseWriter, r *http.Request, d core.Device, _ []byte) {
	if err := Query(r, "wait"); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		var err error
		if wait, err = time.ParseDuration(v); err != nil || wait < 0 || wait > core.MaxPushWait {
			writeError(w, r, s.log, twofold.Errorf(twofold.CodeInvalid, "wait must be a duration from 0s to %s, such as 25s", core.MaxPushWait).OnQuery("wait"))
			return
		}
	}
	if wait > 0 {
		// Past the server's write timeout, which is shorter than the
		// longest wait. Its read timeout ends nothing: net/http clears
		// the read deadline once the request is read
		// (TestPushWaitPastReadTimeout).
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + 15*time.Second))
	}
	reqs, err := s.svc.PushRequests(r.Context(), d, wait)
	if err != nil {
		if r.Context().Err() != nil {
			return // the device went away
		}
		writeError(w, r, s.log, err)
		return
	}
	out := make([]map[string]any, 0, len(reqs))
	for _, q := range reqs {
		out = append(out, map[string]any{"id": q.ID, "what": q.What, "issuer": q.Issuer, "account": q.Account,
			"source": q.Source, "user_agent": q.UserAgent, "created_at": q.CreatedAt, "expires_at": q.ExpiresAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"device_id": d.FactorID, "challenges": out})
}

// answerPush records the device's answer: {"decision":"approve","number":"42"}
// or {"decision":"deny"}.
func (s *Server) answerPush(w http.ResponseWriter, r *http.Request, d core.Device, body []byte) {
	var req struct {
		Decision string `json:"decision"`
		Number   string `json:"number"`
	}
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if req.Decision != "approve" && req.Decision != "deny" {
		writeError(w, r, s.log, twofold.Errorf(twofold.CodeInvalid, "decision must be approve or deny").On("decision"))
		return
	}
	st, err := s.svc.AnswerPush(r.Context(), d, r.PathValue("id"), req.Decision == "approve", req.Number, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": r.PathValue("id"), "status": st})
}

// writePushSent answers a push request made for a login or an elevation:
// the number to show, which the person types on the device, and the
// secret that the verify or elevate call must send back (push_secret).
func (s *Server) writePushSent(w http.ResponseWriter, r *http.Request, p core.PushSent, err error) {
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "sent", "method": twofold.MethodPush, "factor_id": p.FactorID,
		"label": p.Label, "challenge_id": p.ChallengeID, "number": p.Number, "push_secret": p.Secret, "expires_at": p.ExpiresAt})
}
