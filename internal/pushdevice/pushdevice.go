// Package pushdevice is a push-approval device (SPEC §2 "push approval"): it
// enrols with the URI a Twofold server shows, keeps its Ed25519 private key
// in a state file only its owner can read, long-polls the server for
// sign-in requests and answers them, signing every request. `twofold device`
// is its command line; tests drive it as a package or as that process.
package pushdevice

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twofold/twofold/internal/atomicfile"
	"github.com/twofold/twofold/internal/factor/push"
)

// State is what a device keeps between runs. Key is the Ed25519 private
// key's seed: the file holding it is created with mode 0600.
type State struct {
	Server   string `json:"server"`
	DeviceID string `json:"device_id"`
	Issuer   string `json:"issuer,omitempty"`
	Account  string `json:"account,omitempty"`
	Label    string `json:"label,omitempty"`
	Key      string `json:"private_key_seed"` // base64url, 32 bytes
}

// String implements fmt.Stringer without the key.
func (s State) String() string {
	return fmt.Sprintf("device %s (%q) of %s at %s", s.DeviceID, s.Label, s.Account, s.Server)
}

func (s State) private() (ed25519.PrivateKey, error) {
	seed, err := push.Decode(s.Key)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("the state file holds no valid private key")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// Save writes st to path, creating it with mode 0600, and syncs it to
// disk; an existing file is not overwritten (a device's key is not
// replaced by accident), and errors.Is(err, os.ErrExist) tells that case.
func Save(path string, st State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create device state: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write device state: %w", err)
	}
	// The file's name too, before the key is sent: after a crash the
	// directory would otherwise not list the file whose key the server
	// holds.
	if err := atomicfile.SyncDir(filepath.Dir(path)); err != nil {
		os.Remove(path)
		return fmt.Errorf("write device state: sync its directory: %w", err)
	}
	return nil
}

// Load reads the state file at path. A file that others may read is
// refused: it holds the device's private key.
func Load(path string) (State, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return State{}, fmt.Errorf("device state: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return State{}, fmt.Errorf("device state %s is readable by others (mode %v): chmod 600 it", filepath.Base(path), fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return State{}, fmt.Errorf("device state: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("device state %s is not valid JSON", filepath.Base(path))
	}
	if _, err := st.private(); err != nil {
		return State{}, err
	}
	// Refused here, not polled: a request to no server, or as no device,
	// could only fail, and be tried again for ever.
	if u, err := url.Parse(st.Server); err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return State{}, fmt.Errorf("device state %s is not valid: its server is not an http:// or https:// URL", filepath.Base(path))
	}
	if st.DeviceID == "" {
		return State{}, fmt.Errorf("device state %s is not valid: it names no device", filepath.Base(path))
	}
	return st, nil
}

// ErrLocked is Lock's error when another process watches with the state
// file.
var ErrLocked = errors.New("another process holds the device state")

// Error is a problem the server answered (RFC 9457).
type Error struct {
	Status     int
	Type       string
	Detail     string
	RetryAfter string
}

// Error implements error. An answer that is no problem document (a
// proxy's error page) is named by its status.
func (e *Error) Error() string {
	detail := e.Detail
	if detail == "" {
		detail = http.StatusText(e.Status)
	}
	return fmt.Sprintf("server answered %d: %s", e.Status, detail)
}

// Wait returns how long the server asked the device to wait before trying
// again, by its Retry-After (delay seconds or an HTTP date, RFC 9110
// §10.2.3), now being the device's clock; 0 when it asked nothing, or
// something that cannot be read.
func (e *Error) Wait(now time.Time) time.Duration {
	v := strings.TrimSpace(e.RetryAfter)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Problem returns the last element of the problem type: "unauthorized".
func (e *Error) Problem() string { return e.Type[strings.LastIndex(e.Type, "/")+1:] }

// Replayed reports whether err is the server's refusal of a signed request
// whose nonce it saw before (401 replayed-request): the device's key is
// good, and the copy may be the device's own request sent twice on the way
// (a proxy that passed it to a second server instance after the first died
// holding it), so a request signed afresh may be sent.
func Replayed(err error) bool {
	var pe *Error
	return errors.As(err, &pe) && pe.Status == http.StatusUnauthorized && pe.Problem() == "replayed-request"
}

// sentOnce is the empty body of a signed request without one: the
// transport does not re-send a request whose body it cannot rewind.
type sentOnce struct{}

func (sentOnce) Read([]byte) (int, error) { return 0, io.EOF }
func (sentOnce) Close() error             { return nil }

// Enrolled is the server's answer to an enrolment: the factor, and on the
// account's first factor its recovery codes and paper key, shown once.
type Enrolled struct {
	FactorID      string
	Status        string
	RecoveryCodes []string
	PaperKey      string
}

// Enrol makes a new key and registers it with the enrolment URI, signing
// the server's challenge. It returns the state to keep; nothing is written.
func Enrol(ctx context.Context, hc *http.Client, uri string) (State, Enrolled, error) {
	st, e, err := Prepare(uri)
	if err != nil {
		return State{}, Enrolled{}, err
	}
	en, err := Register(ctx, hc, st, e)
	if err != nil {
		return State{}, Enrolled{}, err
	}
	return st, en, nil
}

// Prepare makes a new key for the enrolment URI, registering nothing: the
// state to keep (which holds no token), and the enrolment to register it
// with. A device saves the state before Register, so that the key the
// server accepts is never one it failed to keep.
func Prepare(uri string) (State, push.Enrolment, error) {
	e, err := push.ParseURI(uri)
	if err != nil {
		return State{}, push.Enrolment{}, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return State{}, push.Enrolment{}, err
	}
	st := State{Server: e.Server, DeviceID: e.DeviceID, Issuer: e.Issuer, Account: e.Account, Label: e.Label, Key: push.Encode(priv.Seed())}
	return st, e, nil
}

// Register registers the key of st with enrolment e (from Prepare),
// signing the server's challenge. An *Error with a Status below 500 is the
// server's refusal: nothing was registered. Any other error leaves it
// unknown whether the server registered the key.
func Register(ctx context.Context, hc *http.Client, st State, e push.Enrolment) (Enrolled, error) {
	priv, err := st.private()
	if err != nil {
		return Enrolled{}, err
	}
	pub := priv.Public().(ed25519.PublicKey)
	body, _ := json.Marshal(map[string]string{"device_id": e.DeviceID, "token": e.Token, "public_key": push.Encode(pub),
		"signature": push.Encode(ed25519.Sign(priv, push.EnrolMessage(e.DeviceID, e.Challenge, pub)))})
	var out struct {
		Factor struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"factor"`
		RecoveryCodes []string `json:"recovery_codes"`
		PaperKey      string   `json:"paper_key"`
	}
	if err := do(ctx, hc, http.MethodPost, strings.TrimRight(e.Server, "/")+"/v1/push/enrol", body, nil, &out); err != nil {
		return Enrolled{}, err
	}
	return Enrolled{FactorID: out.Factor.ID, Status: out.Factor.Status, RecoveryCodes: out.RecoveryCodes, PaperKey: out.PaperKey}, nil
}

// Refused reports whether err, from Register, is the server's refusal, so
// that nothing was registered.
func Refused(err error) bool {
	var pe *Error
	return errors.As(err, &pe) && pe.Status >= 400 && pe.Status < 500
}

// Client makes the signed requests of an enrolled device.
type Client struct {
	State State
	HTTP  *http.Client
	// Now is the device's clock; nil is the real one.
	Now func() time.Time
	// Server, when set, is used instead of State.Server (another instance
	// behind the same database).
	Server string
}

// Challenge is a sign-in request as the device shows it.
type Challenge struct {
	ID        string    `json:"id"`
	What      string    `json:"what"`
	Issuer    string    `json:"issuer"`
	Account   string    `json:"account"`
	Source    string    `json:"source"`
	UserAgent string    `json:"user_agent"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (c *Client) base() string {
	if c.Server != "" {
		return strings.TrimRight(c.Server, "/")
	}
	return strings.TrimRight(c.State.Server, "/")
}

// signed sends a request signed with the device's key.
func (c *Client) signed(ctx context.Context, method, pathQuery string, body []byte, out any) error {
	key, err := c.State.private()
	if err != nil {
		return err
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	n := make([]byte, 16)
	if _, err := rand.Read(n); err != nil {
		return err
	}
	u, err := url.Parse(c.base() + pathQuery)
	if err != nil {
		return err
	}
	auth := push.Sign(key, c.State.DeviceID, method, u.RequestURI(), now(), push.Encode(n), body)
	return do(ctx, c.HTTP, method, u.String(), body, http.Header{"Authorization": {auth}}, out)
}

// ServerTime returns the server's clock (GET /v1/time, not signed): to
// tell a device whose signed requests are refused whether its own clock is
// the cause.
func (c *Client) ServerTime(ctx context.Context) (time.Time, error) {
	var out struct {
		Unix *int64 `json:"unix"`
	}
	if err := do(ctx, c.HTTP, http.MethodGet, c.base()+"/v1/time", nil, nil, &out); err != nil {
		return time.Time{}, err
	}
	if out.Unix == nil {
		return time.Time{}, errors.New("the server's answer holds no time")
	}
	return time.Unix(*out.Unix, 0), nil
}

// Challenges returns the requests waiting for an answer, waiting up to wait
// for one when there is none.
func (c *Client) Challenges(ctx context.Context, wait time.Duration) ([]Challenge, error) {
	var out struct {
		Challenges []Challenge `json:"challenges"`
	}
	q := ""
	if wait > 0 {
		q = "?wait=" + url.QueryEscape(wait.String())
	}
	if err := c.signed(ctx, http.MethodGet, "/v1/push/challenges"+q, nil, &out); err != nil {
		return nil, err
	}
	return out.Challenges, nil
}

// Approve approves request id with the number the sign-in screen shows, and
// returns the status the server recorded ("approved", or "denied" when the
// number was wrong).
func (c *Client) Approve(ctx context.Context, id, number string) (string, error) {
	return c.answer(ctx, id, map[string]string{"decision": "approve", "number": number})
}

// Deny denies request id.
func (c *Client) Deny(ctx context.Context, id string) (string, error) {
	return c.answer(ctx, id, map[string]string{"decision": "deny"})
}

func (c *Client) answer(ctx context.Context, id string, req map[string]string) (string, error) {
	body, _ := json.Marshal(req)
	var out struct {
		Status string `json:"status"`
	}
	if err := c.signed(ctx, http.MethodPost, "/v1/push/challenges/"+url.PathEscape(id), body, &out); err != nil {
		return "", err
	}
	return out.Status, nil
}

func do(ctx context.Context, hc *http.Client, method, u string, body []byte, h http.Header, out any) error {
	if hc == nil {
		hc = http.DefaultClient
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if body == nil && h.Get("Authorization") != "" {
		// Go's transport sends a GET again by itself when a reused
		// connection breaks before the answer (a server instance that
		// died holding it), with the same nonce, which the server refuses
		// as a replay, and records in the owner's log as one. A body that
		// cannot be rewound (empty: nothing more goes on the wire) makes
		// the request one the transport never re-sends: the caller sees
		// the broken connection, and signs its next try afresh.
		req.Body = sentOnce{}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "twofold-device/1")
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	if res.StatusCode >= 300 {
		var p struct {
			Type   string `json:"type"`
			Detail string `json:"detail"`
		}
		json.Unmarshal(b, &p)
		return &Error{Status: res.StatusCode, Type: p.Type, Detail: p.Detail, RetryAfter: res.Header.Get("Retry-After")}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("the server's answer is not JSON: %w", err)
	}
	return nil
}
