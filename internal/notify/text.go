package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultTextTimeout bounds one request to the SMS gateway, reading its
// answer included. A code is texted within the request that asked for it,
// so this is well under the HTTP server's write timeout: a stuck gateway
// gets its caller a 503 (with the code_secret of the code that may still
// arrive), not a connection cut before any answer.
const DefaultTextTimeout = 10 * time.Second

// TextSender delivers a text message (SMS) to a phone number in E.164 form,
// or reports why it could not. It must return once ctx is done.
type TextSender interface {
	SendText(ctx context.Context, to, body string) error
}

// Twilio sends text messages through an HTTP gateway that speaks Twilio's
// Programmable Messaging API (2010-04-01): POST
// {BaseURL}/2010-04-01/Accounts/{AccountSID}/Messages.json with the form
// fields To, From and Body and HTTP Basic authentication (account SID and
// auth token); the gateway answers 201 with the message as JSON.
type Twilio struct {
	BaseURL    string // https://api.twilio.com, or a compatible gateway
	AccountSID string
	Token      string
	From       string        // a sender number in E.164 form, or a messaging service's sender
	Client     *http.Client  // nil: a client with Timeout
	Timeout    time.Duration // one request, its answer read; 0 is DefaultTextTimeout
}

// twilioError is the body of a gateway's error answer.
type twilioError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// notSent is a failure after which the message was certainly not sent.
type notSent struct{ err error }

func (e notSent) Error() string { return e.err.Error() }
func (e notSent) Unwrap() error { return e.err }

// NotSent reports true: the message was certainly not sent.
func (notSent) NotSent() bool { return true }

// NotSent reports whether err, from a TextSender, says that the message was
// certainly not sent (the gateway refused it, or was never reached), as
// opposed to a failure after which it may still arrive (a timeout, a 5xx
// answer, an answer that cannot be read).
func NotSent(err error) bool {
	var n interface{ NotSent() bool }
	return errors.As(err, &n) && n.NotSent()
}

// SendText posts one message. Errors name the HTTP status and the gateway's
// error code, never the number or the body. An error for which NotSent
// reports true says that the gateway certainly did not take the message: it
// answered 4xx (the request refused: credentials, sender, number, its own
// rate limit) or 3xx (a redirect, never followed), or took it with the
// status failed or undelivered, or could not be written to (not reached, a
// failed TLS handshake or proxy: the request never went out). Any other error leaves the outcome unknown: the
// request may have reached the gateway before a timeout, and a 5xx answer
// does not say whether the message was created.
func (t *Twilio) SendText(ctx context.Context, to, body string) error {
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = DefaultTextTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u := strings.TrimRight(t.BaseURL, "/") + "/2010-04-01/Accounts/" + url.PathEscape(t.AccountSID) + "/Messages.json"
	form := url.Values{"To": {to}, "From": {t.From}, "Body": {body}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return notSent{fmt.Errorf("sms gateway: %w", err)}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(t.AccountSID, t.Token)
	var wrote atomic.Bool // some of the request went out: the gateway may have it
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) },
	}))
	// A redirect is not followed: the form (number and code) and the
	// Basic credentials would go where the gateway points, over http even
	// (net/http keeps the credentials for the same host whatever the
	// scheme). A 3xx answer is a refusal, below.
	c := &http.Client{}
	if t.Client != nil {
		cc := *t.Client
		c = &cc
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.Do(req)
	if err != nil {
		// The error of a failed request names the URL, which holds the
		// account SID but no secret.
		err = fmt.Errorf("sms gateway: %w", err)
		if !wrote.Load() {
			return notSent{err} // the request never went out: nothing was sent
		}
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK {
		var e twilioError
		json.Unmarshal(raw, &e)
		err := fmt.Errorf("sms gateway: status %d, error code %d", res.StatusCode, e.Code)
		if res.StatusCode >= 300 && res.StatusCode < 500 {
			return notSent{err} // refused, or sent elsewhere (a redirect, not followed)
		}
		return err
	}
	var m struct {
		SID       string `json:"sid"`
		Status    string `json:"status"`
		ErrorCode *int   `json:"error_code"`
	}
	if err := json.Unmarshal(raw, &m); err != nil || m.SID == "" {
		return fmt.Errorf("sms gateway: status %d without a message in the answer", res.StatusCode)
	}
	if m.Status == "failed" || m.Status == "undelivered" {
		return notSent{fmt.Errorf("sms gateway: message %s %s", m.SID, m.Status)}
	}
	return nil
}

// TextLog is the TextSender for development, used when no gateway is
// configured: it logs that a message would have been sent, and sends
// nothing. Only with LogBodies, a development setting that must never be
// on in production, does it log the message itself, one-time code and
// phone number included.
type TextLog struct {
	Logger    *slog.Logger
	LogBodies bool
}

// SendText logs that a text message was not sent.
func (l TextLog) SendText(ctx context.Context, to, body string) error {
	if l.LogBodies {
		l.Logger.WarnContext(ctx, "text message not sent: no SMS gateway configured (--sms-url); logged with its code because of --sms-log-codes", "to", to, "body", body)
		return nil
	}
	l.Logger.InfoContext(ctx, "text message not sent: no SMS gateway configured (--sms-url)")
	return nil
}
