// Package webhook posts the deliveries of webhooks (README "Webhooks"):
// signed with HMAC-SHA256, over a client that follows no redirect, uses no
// proxy, and connects only to the addresses core.WebhookAddrAllowed
// allows, checked on the address it dials after resolving the name, so
// that a name that resolves to this machine is refused too.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twofold/twofold/internal/core"
)

// The headers of a delivery.
const (
	HeaderID        = "Twofold-Webhook-Id"
	HeaderDelivery  = "Twofold-Delivery-Id"
	HeaderTimestamp = "Twofold-Timestamp" // unix seconds
	HeaderSignature = "Twofold-Signature" // "v1=" and the hex HMAC-SHA256 of timestamp "." body; several entries split by ","
)

// maxSignatures bounds the entries of a signature header Verify reads.
const maxSignatures = 8

// Sign returns the signature header value of body sent at unix time ts
// with secret: "v1=" and the hex HMAC-SHA256 of ts + "." + body.
func Sign(secret []byte, ts int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig (a Twofold-Signature header: one or more
// "v1=" entries split by commas, as during a rotation's grace period)
// signs body at timestamp ts (a Twofold-Timestamp header) with secret, and
// ts is within tolerance of now: what a receiver checks. It succeeds if
// any entry matches, each compared in constant time; entries of other
// schemes are skipped, and a header with more than 8 entries fails.
func Verify(secret []byte, ts, sig string, body []byte, now time.Time, tolerance time.Duration) bool {
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(n, 0)); d > tolerance || d < -tolerance {
		return false
	}
	entries := strings.Split(sig, ",")
	if len(entries) > maxSignatures {
		return false
	}
	want := []byte(Sign(secret, n, body))
	ok := 0
	for _, e := range entries {
		ok |= subtle.ConstantTimeCompare([]byte(strings.TrimSpace(e)), want)
	}
	return ok == 1
}

// Sender posts deliveries over HTTP. Its zero value refuses loopback and
// private addresses.
type Sender struct {
	// AllowPrivate lets deliveries go to loopback and private addresses
	// (for tests, and receivers on the operator's own network).
	AllowPrivate bool
	client       *http.Client
}

// NewSender returns a sender; allowPrivate as Sender.AllowPrivate.
func NewSender(allowPrivate bool) *Sender {
	s := &Sender{AllowPrivate: allowPrivate}
	d := &net.Dialer{Timeout: core.WebhookTimeout, Control: s.control}
	s.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil, // never through a proxy, which would dial for us unchecked
			DialContext:           d.DialContext,
			TLSHandshakeTimeout:   core.WebhookTimeout,
			ResponseHeaderTimeout: core.WebhookTimeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s
}

// errRefusedAddress is a dial to an address webhooks may not reach.
var errRefusedAddress = errors.New("webhook address refused")

// control refuses, before connecting, an address webhooks may not reach.
func (s *Sender) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !core.WebhookAddrAllowed(ap.Addr(), s.AllowPrivate) {
		return errRefusedAddress
	}
	return nil
}

// Error is a failed delivery, with its class for the webhook's status.
type Error struct {
	Class string // "refused-address", "dns", "timeout", "tls", "refused", "reset", "closed", "connect", "status-NNN", "error" (see classOf)
	Err   error
}

func (e *Error) Error() string { return "webhook delivery: " + e.Class + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// WebhookErrorClass returns the class (see core.WebhookSender).
func (e *Error) WebhookErrorClass() string { return e.Class }

// SendWebhook posts d, signed; any answer but 2xx is an error.
func (s *Sender) SendWebhook(ctx context.Context, d core.WebhookDelivery) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, strings.NewReader(string(d.Body)))
	if err != nil {
		// Not the parser's error, which quotes the URL.
		return &Error{Class: "error", Err: errors.New("the webhook's URL cannot be used")}
	}
	ts := d.At.Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Twofold-Webhook/1")
	req.Header.Set(HeaderID, d.WebhookID)
	req.Header.Set(HeaderDelivery, d.DeliveryID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	sig := Sign(d.Secret, ts, d.Body)
	if d.PreviousSecret != nil {
		sig += "," + Sign(d.PreviousSecret, ts, d.Body) // the new secret's first
	}
	req.Header.Set(HeaderSignature, sig)
	resp, err := s.client.Do(req)
	if err != nil {
		// The client's *url.Error quotes the whole URL, whose path or
		// query may hold the receiver's token: only what it wraps is kept.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &Error{Class: classOf(err), Err: err}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so that the connection is reused
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &Error{Class: "status-" + strconv.Itoa(resp.StatusCode), Err: fmt.Errorf("answered %d", resp.StatusCode)}
	}
	return nil
}

// errHTTPToHTTPS is the text of net/http's error for a TLS handshake
// answered in plain HTTP, which replaces the tls.RecordHeaderError and has
// no type of its own.
const errHTTPToHTTPS = "http: server gave HTTP response to HTTPS client"

// classOf names the kind of a transport failure, never its text (which
// may quote the receiver's answer): what the operator looks into.
//
//   - refused-address: an address webhooks may not reach (README "Webhooks")
//   - dns: the name does not resolve, or its resolver does not answer
//   - timeout: no complete answer within the time allowed
//   - tls: the TLS handshake failed (certificate, alert, or no TLS there)
//   - refused: nothing listens there (the connection was refused)
//   - reset: the receiver reset the connection (TCP RST)
//   - closed: the receiver closed the connection before a complete answer
//   - connect: any other failure to connect (no route, network down)
//   - error: anything else (an answer that is not HTTP, say)
func classOf(err error) string {
	var dns *net.DNSError
	var op *net.OpError
	var ne net.Error
	var cert *tls.CertificateVerificationError
	var header tls.RecordHeaderError
	var alert tls.AlertError
	switch {
	case errors.Is(err, errRefusedAddress):
		return "refused-address"
	case errors.As(err, &dns):
		return "dns"
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &cert), errors.As(err, &header), errors.As(err, &alert), err.Error() == errHTTPToHTTPS:
		return "tls"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed"
	case errors.As(err, &op) && op.Op == "dial":
		return "connect"
	}
	return "error"
}
