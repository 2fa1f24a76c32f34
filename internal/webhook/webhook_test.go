package webhook_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
	"github.com/twofold/twofold/internal/webhook"
)

// TestVerify checks what a receiver accepts: a header of one or more
// "v1=" entries (as during a rotation's grace period) that any matches,
// and nothing malformed, unmatched or out of time.
func TestVerify(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	ts := now.Unix()
	body := []byte(`{"webhook_id":"wh_1","events":[]}`)
	newSecret, oldSecret, other := []byte("whsec_new"), []byte("whsec_old"), []byte("whsec_other")
	sigNew, sigOld, sigOther := webhook.Sign(newSecret, ts, body), webhook.Sign(oldSecret, ts, body), webhook.Sign(other, ts, body)
	tests := []struct {
		name string
		sig  string
		ts   int64
		want bool
	}{
		{"one entry", sigNew, ts, true},
		{"new then old", sigNew + "," + sigOld, ts, true},
		{"old then new", sigOld + "," + sigNew, ts, true},
		{"spaces after commas", sigOther + ", " + sigNew, ts, true},
		{"another scheme beside", "v0=abc," + sigNew, ts, true},
		{"no match", sigOld + "," + sigOther, ts, false},
		{"empty", "", ts, false},
		{"no scheme", strings.TrimPrefix(sigNew, "v1="), ts, false},
		{"other scheme", "v2=" + strings.TrimPrefix(sigNew, "v1="), ts, false},
		{"semicolons", sigOld + ";" + sigNew, ts, false},
		{"upper-case hex", "v1=" + strings.ToUpper(strings.TrimPrefix(sigNew, "v1=")), ts, false},
		{"truncated", sigNew[:len(sigNew)-2], ts, false},
		{"only commas", ",,,", ts, false},
		{"too many entries", strings.Repeat(sigOther+",", 8) + sigNew, ts, false},
		{"too old", sigNew, ts - 301, false},
		{"from the future", sigNew, ts + 301, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig := tt.sig
			if tt.ts != ts {
				sig = webhook.Sign(newSecret, tt.ts, body)
			}
			if got := webhook.Verify(newSecret, strconv.FormatInt(tt.ts, 10), sig, body, now, 5*time.Minute); got != tt.want {
				t.Errorf("Verify(%q): got %v, want %v", sig, got, tt.want)
			}
		})
	}
	if webhook.Verify(newSecret, "12x", sigNew, body, now, 5*time.Minute) {
		t.Error("Verify with a malformed timestamp: got true")
	}
	if webhook.Verify(newSecret, strconv.FormatInt(ts, 10), sigNew+","+sigOld, append(body, ' '), now, 5*time.Minute) {
		t.Error("Verify of a changed body: got true")
	}
	if !webhook.Verify(oldSecret, strconv.FormatInt(ts, 10), sigNew+","+sigOld, body, now, 5*time.Minute) {
		t.Error("Verify with the old secret of a header signed with both: got false")
	}
}

// TestSendErrorNamesNoURL: a failed delivery's error, which may be logged,
// does not quote the URL, whose path or query may hold the receiver's
// token; its class stays.
func TestSendErrorNamesNoURL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there: the connection is refused
	for name, u := range map[string]string{
		"refused":  "http://" + addr + "/hooks/T0KEN?token=s3cret",
		"unusable": "http://" + addr + "/hooks/T0KEN?token=s3cret\x7f ",
	} {
		t.Run(name, func(t *testing.T) {
			err := webhook.NewSender(true).SendWebhook(t.Context(), core.WebhookDelivery{WebhookID: "wh_1", URL: u, At: time.Now(), Body: []byte("{}"), Secret: []byte("whsec_x")})
			var we *webhook.Error
			if !errors.As(err, &we) || we.Class == "" {
				t.Fatalf("got %v, want a *webhook.Error with a class", err)
			}
			if msg := err.Error(); strings.Contains(msg, "T0KEN") || strings.Contains(msg, "s3cret") {
				t.Errorf("error %q quotes the URL", msg)
			}
		})
	}
}

// readRequest reads a delivery's request off c, so that what follows
// happens once it has been sent.
func readRequest(c net.Conn) {
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err == nil {
		io.Copy(io.Discard, req.Body)
	}
}

// secretAnswer is what a receiver answers: no class, nor an error's
// text, quotes it.
const secretAnswer = "s3cret-answer"

// TestSendErrorClass checks the class of each way a delivery fails, each
// against a real receiver on loopback that fails that way; a class never
// holds the URL's token or what the receiver answered.
func TestSendErrorClass(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().String()
	ln.Close() // nothing listens there: the connection is refused

	// reset closes c with a TCP RST.
	reset := func(c *net.TCPConn) { c.SetLinger(0); c.Close() }
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, secretAnswer)
	}))
	t.Cleanup(plain.Close)
	untrusted := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(untrusted.Close)
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	tests := []struct {
		name         string
		url          string
		allowPrivate bool
		timeout      bool // give up on the delivery early
		want         string
	}{
		{"refused", "http://" + closedPort, true, false, "refused"},
		{"reset before an answer", "http://" + testenv.Receiver(t, func(c *net.TCPConn) { readRequest(c); reset(c) }), true, false, "reset"},
		{"reset before reading", "http://" + testenv.Receiver(t, func(c *net.TCPConn) { c.Read(make([]byte, 1)); reset(c) }), true, false, "reset"},
		{"closed before an answer", "http://" + testenv.Receiver(t, func(c *net.TCPConn) { readRequest(c); c.Close() }), true, false, "closed"},
		{"closed mid-answer", "http://" + testenv.Receiver(t, func(c *net.TCPConn) {
			readRequest(c)
			io.WriteString(c, "HTTP/1.1 200 OK\r\n")
			c.Close()
		}), true, false, "closed"},
		{"no answer", "http://" + testenv.Receiver(t, func(c *net.TCPConn) { readRequest(c); <-hang; c.Close() }), true, true, "timeout"},
		{"TLS to a plain server", "https" + strings.TrimPrefix(plain.URL, "http"), true, false, "tls"},
		{"untrusted certificate", untrusted.URL, true, false, "tls"},
		{"TLS reset", "https://" + testenv.Receiver(t, func(c *net.TCPConn) { c.Read(make([]byte, 1)); reset(c) }), true, false, "reset"},
		{"no such name", "http://no-such-host.invalid", true, false, "dns"},
		{"loopback not allowed", plain.URL, false, false, "refused-address"},
		{"status", plain.URL, true, false, "status-503"},
		{"not HTTP", "http://" + testenv.Receiver(t, func(c *net.TCPConn) {
			readRequest(c)
			io.WriteString(c, secretAnswer+"\r\n\r\n")
			c.Close()
		}), true, false, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if tt.timeout {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 100*time.Millisecond)
				defer cancel()
			}
			err := webhook.NewSender(tt.allowPrivate).SendWebhook(ctx, core.WebhookDelivery{WebhookID: "wh_1",
				URL: tt.url + "/hooks/T0KEN?token=s3cret", At: time.Now(), Body: []byte("{}"), Secret: []byte("whsec_x")})
			var we *webhook.Error
			if !errors.As(err, &we) {
				t.Fatalf("got %v, want a *webhook.Error", err)
			}
			if we.Class != tt.want {
				t.Errorf("class: got %q, want %q (%v)", we.Class, tt.want, err)
			}
			for _, s := range []string{"T0KEN", "s3cret", secretAnswer} {
				if strings.Contains(we.Class, s) {
					t.Errorf("class %q quotes %q", we.Class, s)
				}
			}
		})
	}
}
