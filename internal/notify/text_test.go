package notify_test

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twofold/twofold/internal/notify"
	"github.com/twofold/twofold/internal/testenv"
)

// TestTwilioAgainstFakeGateway: the Twilio sender's requests are exactly
// what the gateway knows (path, Basic auth, form), and its failures name
// neither the number nor the message.
func TestTwilioAgainstFakeGateway(t *testing.T) {
	g := testenv.NewSMSGateway(t)
	const to, body = "+447400123456", "Twofold code to sign in: 123456."
	tests := []struct {
		name    string
		sender  notify.Twilio
		fail    bool
		wantErr bool
	}{
		{"sent", notify.Twilio{BaseURL: g.URL, AccountSID: g.AccountSID, Token: g.Token, From: g.From}, false, false},
		{"base URL with a slash", notify.Twilio{BaseURL: g.URL + "/", AccountSID: g.AccountSID, Token: g.Token, From: g.From}, false, false},
		{"wrong token", notify.Twilio{BaseURL: g.URL, AccountSID: g.AccountSID, Token: "wrong", From: g.From}, false, true},
		{"wrong sender", notify.Twilio{BaseURL: g.URL, AccountSID: g.AccountSID, Token: g.Token, From: "+15005550001"}, false, true},
		{"gateway down", notify.Twilio{BaseURL: g.URL, AccountSID: g.AccountSID, Token: g.Token, From: g.From}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(g.Messages())
			if tt.fail {
				g.FailNext(1)
			}
			err := tt.sender.SendText(t.Context(), to, body)
			if (err != nil) != tt.wantErr {
				t.Fatalf("SendText: got %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				for _, secret := range []string{to, "123456", g.Token} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %q names %q", err, secret)
					}
				}
				return
			}
			msgs := g.Messages()
			if len(msgs) != before+1 || msgs[before].To != to || msgs[before].Body != body || msgs[before].From != g.From {
				t.Errorf("gateway holds %+v, want one more message to %s", msgs, to)
			}
		})
	}
	if got := len(g.Refused()); got != 2 {
		t.Errorf("gateway refused %d requests (%q), want 2 (the wrong token and sender)", got, g.Refused())
	}
}

// TestTwilioNotSent: a failure says whether the message was certainly not
// sent (refused with a 4xx, or the request never written: the gateway not
// reached, or no TLS connection with it), so that the
// caller can keep the code sent before; after a 5xx the outcome is unknown.
func TestTwilioNotSent(t *testing.T) {
	g := testenv.NewSMSGateway(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()           // nothing listens there any more
	var reached atomic.Int32 // requests that reached the gateway with a certificate no one trusts
	untrusted := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	untrusted.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	untrusted.StartTLS()
	defer untrusted.Close()
	ok := notify.Twilio{BaseURL: g.URL, AccountSID: g.AccountSID, Token: g.Token, From: g.From}
	// A gateway (or what stands before it) that redirects, to the gateway
	// itself over http: the form and the credentials must not follow.
	var redirected atomic.Int32
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirected.Add(1)
		http.Redirect(w, r, g.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirecting.Close()
	tests := []struct {
		name        string
		sender      notify.Twilio
		prepare     func()
		wantNotSent bool
	}{
		{"refused (400)", ok, func() { g.RefuseNext(1) }, true},
		{"wrong token (401)", notify.Twilio{BaseURL: g.URL, AccountSID: g.AccountSID, Token: "wrong", From: g.From}, func() {}, true},
		{"gateway not reached", notify.Twilio{BaseURL: closed.URL, AccountSID: g.AccountSID, Token: g.Token, From: g.From}, func() {}, true},
		{"plain HTTP on an https URL", notify.Twilio{BaseURL: strings.Replace(g.URL, "http://", "https://", 1), AccountSID: g.AccountSID, Token: g.Token, From: g.From}, func() {}, true},
		{"untrusted certificate", notify.Twilio{BaseURL: untrusted.URL, AccountSID: g.AccountSID, Token: g.Token, From: g.From}, func() {}, true},
		{"redirect (307), not followed", notify.Twilio{BaseURL: redirecting.URL, AccountSID: g.AccountSID, Token: g.Token, From: g.From}, func() {}, true},
		{"redirect with the sender's own client", notify.Twilio{BaseURL: redirecting.URL, AccountSID: g.AccountSID, Token: g.Token, From: g.From, Client: &http.Client{}}, func() {}, true},
		{"gateway in trouble (500)", ok, func() { g.FailNext(1) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.prepare()
			err := tt.sender.SendText(t.Context(), "+447400123456", "Twofold code to sign in: 123456.")
			if err == nil {
				t.Fatal("SendText: got nil, want an error")
			}
			if got := notify.NotSent(err); got != tt.wantNotSent {
				t.Errorf("NotSent(%v) = %v, want %v", err, got, tt.wantNotSent)
			}
		})
	}
	if n := len(g.Messages()); n != 0 {
		t.Errorf("gateway kept %d messages, want none", n)
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("%d requests reached the gateway whose certificate is not trusted, want none", n)
	}
	if n := redirected.Load(); n != 2 {
		t.Errorf("the redirecting gateway got %d requests, want 2", n)
	}
}
