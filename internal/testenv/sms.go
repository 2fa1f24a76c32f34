package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
)

// SMSGateway is a fake SMS gateway on 127.0.0.1:0 that speaks the part of
// Twilio's Programmable Messaging API (2010-04-01) Twofold uses: POST
// /2010-04-01/Accounts/{AccountSid}/Messages.json with HTTP Basic
// authentication (account SID and auth token) and the form fields To, From
// and Body. It answers 201 with the message resource as JSON, as Twilio
// does, and records it; anything else (another path or method, a wrong
// account or token, another content type, an unknown or missing field, a
// number not in E.164 form, another sender) gets Twilio's error answer and
// is recorded as refused, so a test can insist there was none.
type SMSGateway struct {
	URL        string
	AccountSID string
	Token      string
	From       string

	srv     *httptest.Server
	mu      sync.Mutex
	msgs    []SMSMessage
	refused []string
	fail    int
	refuse  int
	stall   int
	stop    chan struct{} // closed when the test ends: stalled answers end
}

// SMSMessage is a message the gateway accepted.
type SMSMessage struct {
	SID  string
	To   string
	From string
	Body string
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// NewSMSGateway starts a fake gateway and stops it when the test ends.
func NewSMSGateway(tb testing.TB) *SMSGateway {
	tb.Helper()
	g := &SMSGateway{AccountSID: "AC" + randomHex(16), Token: randomHex(16), From: "+15005550006", stop: make(chan struct{})}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	g.URL = g.srv.URL
	tb.Cleanup(g.srv.Close)
	tb.Cleanup(func() { close(g.stop) }) // first, so that Close finds no stalled answer
	return g
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Option returns a ServerOption that sends a test server's text messages
// through this gateway.
func (g *SMSGateway) Option() ServerOption {
	return func(c *config.Config) {
		c.SMSURL, c.SMSAccount, c.SMSToken, c.SMSFrom = g.URL, g.AccountSID, config.Secret(g.Token), g.From
	}
}

// Messages returns the messages accepted so far.
func (g *SMSGateway) Messages() []SMSMessage {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]SMSMessage(nil), g.msgs...)
}

// Refused returns a line for each request the gateway refused.
func (g *SMSGateway) Refused() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.refused...)
}

// FailNext makes the gateway answer the next n well-formed messages with
// 500, as a gateway in trouble does, and keep nothing.
func (g *SMSGateway) FailNext(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fail = n
}

// RefuseNext makes the gateway refuse the next n well-formed messages as
// Twilio refuses one it will not send (400, error 21610: the recipient
// unsubscribed), and keep nothing: a definite refusal, unlike FailNext's
// 500. Such answers are not counted in Refused, which is for requests the
// gateway did not understand.
func (g *SMSGateway) RefuseNext(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refuse = n
}

// StallNext makes the gateway take the next n well-formed messages and
// never answer, as a stuck gateway does, until the client gives up; it keeps
// nothing.
func (g *SMSGateway) StallNext(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stall = n
}

var sixDigits = regexp.MustCompile(`\b[0-9]{6}\b`)

// LastCode returns the 6-digit code in the newest message to the number
// to (E.164), failing the test when there is none.
func (g *SMSGateway) LastCode(tb testing.TB, to string) string {
	tb.Helper()
	msgs := g.Messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].To == to {
			if c := sixDigits.FindString(msgs[i].Body); c != "" {
				return c
			}
			tb.Fatalf("sms gateway: the newest message to %s holds no code: %q", to, msgs[i].Body)
		}
	}
	tb.Fatalf("sms gateway: no message to %s (got %d messages)", to, len(msgs))
	return ""
}

// twilioProblem writes Twilio's error answer.
func (g *SMSGateway) twilioProblem(w http.ResponseWriter, r *http.Request, status, code int, msg string) {
	g.mu.Lock()
	g.refused = append(g.refused, fmt.Sprintf("%s %s: %d %d %s", r.Method, r.URL.Path, status, code, msg))
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg, "more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), "status": status})
}

func (g *SMSGateway) serve(w http.ResponseWriter, r *http.Request) {
	path := "/2010-04-01/Accounts/" + g.AccountSID + "/Messages.json"
	if r.URL.Path != path || r.URL.RawQuery != "" {
		g.twilioProblem(w, r, http.StatusNotFound, 20404, "The requested resource was not found")
		return
	}
	if r.Method != http.MethodPost {
		g.twilioProblem(w, r, http.StatusMethodNotAllowed, 20004, "Method not allowed")
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != g.AccountSID || pass != g.Token {
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		g.twilioProblem(w, r, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		g.twilioProblem(w, r, http.StatusBadRequest, 20001, "Content-Type must be application/x-www-form-urlencoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		g.twilioProblem(w, r, http.StatusBadRequest, 20001, "Malformed form")
		return
	}
	form := r.PostForm
	for k, v := range form {
		if (k != "To" && k != "From" && k != "Body") || len(v) != 1 {
			g.twilioProblem(w, r, http.StatusBadRequest, 20001, "Unknown or repeated parameter "+url.QueryEscape(k))
			return
		}
	}
	to, from, body := form.Get("To"), form.Get("From"), form.Get("Body")
	switch {
	case !e164.MatchString(to):
		g.twilioProblem(w, r, http.StatusBadRequest, 21211, "The 'To' number is not a valid phone number.")
		return
	case from != g.From:
		g.twilioProblem(w, r, http.StatusBadRequest, 21606, "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination/account")
		return
	case body == "" || len([]rune(body)) > 1600:
		g.twilioProblem(w, r, http.StatusBadRequest, 21617, "The concatenated message body exceeds the 1600 character limit or is empty")
		return
	}
	g.mu.Lock()
	if g.refuse > 0 { // asked for: not recorded as refused
		g.refuse--
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]any{"code": 21610, "message": "Attempt to send to unsubscribed recipient",
			"more_info": "https://www.twilio.com/docs/errors/21610", "status": 400})
		return
	}
	if g.stall > 0 {
		g.stall--
		g.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-g.stop:
		}
		return
	}
	if g.fail > 0 { // asked for: not recorded as refused
		g.fail--
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		json.NewEncoder(w).Encode(map[string]any{"code": 20500, "message": "Internal Server Error", "status": 500})
		return
	}
	m := SMSMessage{SID: "SM" + randomHex(16), To: to, From: from, Body: body}
	g.msgs = append(g.msgs, m)
	g.mu.Unlock()
	now := time.Now().UTC().Format(time.RFC1123Z)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{
		"sid": m.SID, "account_sid": g.AccountSID, "to": to, "from": from, "body": body,
		"status": "queued", "direction": "outbound-api", "api_version": "2010-04-01", "num_segments": "1", "num_media": "0",
		"date_created": now, "date_updated": now, "date_sent": nil, "price": nil, "price_unit": "USD",
		"error_code": nil, "error_message": nil, "messaging_service_sid": nil, "subresource_uris": map[string]string{"media": "/2010-04-01/Accounts/" + g.AccountSID + "/Messages/" + m.SID + "/Media.json"},
		"uri": "/2010-04-01/Accounts/" + g.AccountSID + "/Messages/" + m.SID + ".json",
	})
}
