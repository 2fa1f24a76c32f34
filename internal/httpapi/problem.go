package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
)

// ProblemTypeBase prefixes every problem type; the code slug follows it.
const ProblemTypeBase = "https://twofold.dev/problems/"

// statuses is the one code → HTTP status table.
var statuses = map[twofold.Code]int{
	twofold.CodeInvalid:            http.StatusBadRequest,
	twofold.CodeInvalidCredentials: http.StatusUnauthorized,
	twofold.CodeInvalidCode:        http.StatusUnauthorized,
	twofold.CodeUnauthorized:       http.StatusUnauthorized,
	twofold.CodeReplayedRequest:    http.StatusUnauthorized,
	twofold.CodeElevationRequired:  http.StatusForbidden,
	twofold.CodeForbidden:          http.StatusForbidden,
	twofold.CodeNotFound:           http.StatusNotFound,
	twofold.CodeConflict:           http.StatusConflict,
	twofold.CodeLoginExpired:       http.StatusGone,
	twofold.CodeTooLarge:           http.StatusRequestEntityTooLarge,
	twofold.CodeThrottled:          http.StatusTooManyRequests,
	twofold.CodeUnavailable:        http.StatusServiceUnavailable,
	twofold.CodePushPending:        http.StatusConflict,
	twofold.CodeInternal:           http.StatusInternalServerError,
}

// StatusClientClosedRequest is the status recorded (as nginx does) for a
// request whose client went away before its answer: the failure it caused
// is not the server's, so it is neither logged as an error nor counted as a
// 500.
const StatusClientClosedRequest = 499

// ClientGone reports whether err is a fault only because the request's own
// context ended (the client closed the connection, or the server is
// shutting down the request): a cancelled store call, not an internal error.
func ClientGone(r *http.Request, err error) bool {
	return err != nil && twofold.Fault(err) && r.Context().Err() != nil
}

// Status returns the HTTP status for a domain code.
func Status(c twofold.Code) int {
	if s, ok := statuses[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Problem is an RFC 9457 problem details object.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// CodeSecret is, when a text message for a login or an elevation may
	// not have been sent (503), the code_secret of the code that may still
	// arrive, which sends another (an extension member, RFC 9457 §3.2).
	CodeSecret string `json:"code_secret,omitempty"`
	// Pointer and Parameter name, on an invalid problem (400) about one
	// input of the request, that input (extension members, RFC 9457 §3.2):
	// Pointer a member of the JSON body as a JSON Pointer (RFC 6901,
	// "/code", "/permits/0"), Parameter a parameter by name, In saying
	// where it is ("query" or "path"). Never the input's value.
	Pointer   string `json:"pointer,omitempty"`
	Parameter string `json:"parameter,omitempty"`
	In        string `json:"in,omitempty"`
}

// writeError writes err as application/problem+json. Internal errors are
// logged with their cause and shown to the client only as "internal error";
// other faults (twofold.Fault) are logged with their cause too.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	writeErrorWith(w, r, log, err, Problem{})
}

// writeErrorWith is writeError with the extension members of ext.
func writeErrorWith(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error, ext Problem) {
	code := twofold.ErrorCode(err)
	status := Status(code)
	if ClientGone(r, err) {
		// Nobody reads the answer; the status only labels the request in
		// the log and the metrics.
		log.DebugContext(r.Context(), "client closed request", "request_id", RequestID(r.Context()), "method", r.Method, "path", r.Pattern, "err", err)
		writeProblem(w, Problem{Type: ProblemTypeBase + string(code), Title: "Client Closed Request", Status: StatusClientClosedRequest})
		return
	}
	if twofold.Fault(err) {
		log.ErrorContext(r.Context(), "request failed", "request_id", RequestID(r.Context()), "method", r.Method, "path", r.Pattern, "err", err)
	}
	if status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="twofold"`) // RFC 9110 §15.5.2
	}
	var te *twofold.Error
	if errors.As(err, &te) && te.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(te.RetryAfter.Seconds()))))
	}
	ext.Type, ext.Title, ext.Status, ext.Detail = ProblemTypeBase+string(code), http.StatusText(status), status, twofold.ErrorMessage(err)
	if in, name := twofold.ErrorInput(err); code == twofold.CodeInvalid && name != "" {
		if in == twofold.InBody {
			ext.Pointer = name
		} else {
			ext.Parameter, ext.In = name, string(in)
		}
	}
	if f, ok := r.Context().Value(forbiddenKey{}).(*forbidden); ok && code == twofold.CodeForbidden {
		f.seen, f.why = true, ext.Detail
	}
	writeProblem(w, ext)
}

func writeProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// maxBody bounds request bodies.
const maxBody = 64 << 10

// decode reads a JSON object body into v; a body over maxBody is a
// too-large problem, malformed input an invalid one.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := ReadBody(w, r, maxBody)
	if err != nil {
		return err
	}
	return UnmarshalBody(body, v, KnownFields)
}

// ReadBody reads r's body, of at most limit bytes: a longer one is a
// too-large error naming the bound (413; SPEC §5: nothing is done with
// it), any other failure to read it an invalid one. Every JSON API reads
// its bodies through it, so that they all refuse one alike.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err == nil {
		return body, nil
	}
	var me *http.MaxBytesError // after the usual case: errors.As moves it to the heap
	if errors.As(err, &me) {
		return nil, TooLarge(limit)
	}
	return nil, twofold.Errorf(twofold.CodeInvalid, "request body could not be read")
}

// TooLarge is the too-large error of a request body over limit bytes, for
// a body read another way than ReadBody (a form, by ParseForm) whose
// http.MaxBytesReader reported *http.MaxBytesError.
func TooLarge(limit int64) error {
	return twofold.Errorf(twofold.CodeTooLarge, "request body is larger than %d bytes (%d KiB): nothing was done; send a smaller one", limit, limit>>10)
}

// JSONText refuses, as invalid, a JSON body that is not UTF-8 (RFC 8259
// §8.1; encoding/json would quietly turn the bytes into U+FFFD) or that has
// a string holding a NUL ("\u0000"), which no field of Twofold's takes and
// PostgreSQL refuses in text. A body that is not valid JSON passes, for
// the decoder to refuse.
func JSONText(body []byte) error {
	if !utf8.Valid(body) {
		return twofold.Errorf(twofold.CodeInvalid, "request body is not valid UTF-8")
	}
	if !bytes.Contains(body, []byte(`\u0000`)) {
		return nil // the only way to write a NUL in valid JSON
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		t, err := dec.Token()
		if err != nil {
			return nil // io.EOF: every string was checked
		}
		if s, ok := t.(string); ok && strings.IndexByte(s, 0) >= 0 {
			return twofold.Errorf(twofold.CodeInvalid, "request body holds a NUL character (\\u0000) in a string")
		}
	}
}

// WriteError writes err as a problem, as every /v1 handler does; the other
// HTTP packages (the DNS API) answer through it so that statuses stay in
// one table.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	writeError(w, r, log, err)
}

// WriteJSON writes v as JSON with status, never cached.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

// Decode reads a JSON object body into v as the /v1 handlers do (see
// UnmarshalBody): unknown fields, names in another case or named twice,
// trailing data are invalid problems, and a body over 64 KiB is a
// too-large one (413).
func Decode(w http.ResponseWriter, r *http.Request, v any) error { return decode(w, r, v) }

// Query refuses a request whose URL query has a parameter other than
// names, with an invalid problem naming it: as Decode refuses unknown
// fields, so that a misspelt parameter (?dat= for ?data=, ?account_id= for
// ?account=) cannot pass for its absence and widen what the request
// selects or removes. Handlers that read query parameters call it with
// the names they read; a cache-busting parameter is refused there too.
// A parameter given more than once is refused as well, naming it, as
// Decode refuses a field named twice: a proxy or log that reads the last
// (?account=A&account=B) must never see another request than Twofold,
// which would read the first. QueryRepeatable names those that may repeat.
func Query(r *http.Request, names ...string) error { return QueryRepeatable(r, nil, names...) }

// QueryRepeatable is Query where the parameters in repeatable (each also
// one of names) may be given more than once, as their route documents
// (?type=a&type=b on the lists of events).
func QueryRepeatable(r *http.Request, repeatable []string, names ...string) error {
	q, err := parseQuery(r)
	if err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(names, k) {
			if len(names) == 0 {
				return twofold.Errorf(twofold.CodeInvalid, "unknown query parameter %q: this request takes none", core.CleanText(k, 32)).OnQuery(core.CleanText(k, 32))
			}
			return twofold.Errorf(twofold.CodeInvalid, "unknown query parameter %q: this request takes %s", core.CleanText(k, 32), strings.Join(names, ", ")).OnQuery(core.CleanText(k, 32))
		}
		if err := once(q, k, repeatable); err != nil {
			return err
		}
	}
	return nil
}

// QueryOnce refuses, as Query does and naming it, a parameter given more
// than once, save those in repeatable, and also a query that is not
// application/x-www-form-urlencoded (a bad %-escape, a semicolon), whose
// pairs Go would skip where another reader might not; but it lets pass the
// parameters a route does not read: for the Identity API, whose clients
// send parameters Twofold has no use for, as its bodies' unknown fields are
// skipped (README "OpenStack clients").
func QueryOnce(r *http.Request, repeatable ...string) error {
	q, err := parseQuery(r)
	if err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if err := once(q, k, repeatable); err != nil {
			return err
		}
	}
	return nil
}

// parseQuery returns r's query parameters, or an invalid problem naming
// what is wrong when the query is not application/x-www-form-urlencoded:
// a bad %-escape or a semicolon, whose pairs Go's URL.Query skips without
// a word where another reader (a proxy, a log) might not. The message
// quotes no more of the query than the bad escape itself.
func parseQuery(r *http.Request) (url.Values, error) {
	if r.URL.RawQuery == "" {
		return url.Values{}, nil
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	var bad url.EscapeError
	switch {
	case err == nil:
		return q, nil
	case errors.As(err, &bad):
		return nil, twofold.Errorf(twofold.CodeInvalid, "the query is malformed: %q is not a %%-escape (a %% and two hex digits); encode it as application/x-www-form-urlencoded (a %% itself as %%25)",
			core.CleanText(string(bad), 8))
	case strings.Contains(r.URL.RawQuery, ";"):
		return nil, twofold.Errorf(twofold.CodeInvalid, "the query is malformed: it has a semicolon, which does not separate parameters; join them with & (a semicolon in a value as %%3B)")
	}
	return nil, twofold.Errorf(twofold.CodeInvalid, "the query is malformed: encode it as application/x-www-form-urlencoded")
}

// CrossSite reports whether r, a request other than GET, HEAD or OPTIONS,
// is one a browser sent from another site's page: its Sec-Fetch-Site is
// neither same-origin nor none, or, from a browser that sends none, its
// Origin ("null" included) is not the server's public origin, the scheme,
// host and port of PublicURL(base, r): --base-url when set, else what a
// trusted proxy forwards (ClientAddr removes it from anyone else), else
// the request's own. So the API and the pages keep one rule, and a
// same-site request through a proxy that rewrites Host passes. Only
// browsers send these headers; API clients (curl, lego, SDKs) send
// neither, and pass. An https Origin of the public host and port is taken
// where the public scheme is http, as a TLS proxy that says nothing of it
// makes it (no page of another site has that origin); an http Origin is
// never taken for https.
func CrossSite(base string, r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return false
	case "":
	default:
		return true
	}
	origins := r.Header.Values("Origin")
	if len(origins) == 0 {
		return false
	}
	if len(origins) > 1 {
		return true
	}
	scheme, host, ok := origin(origins[0])
	pubScheme, pubHost, pubOK := origin(PublicURL(base, r))
	return !ok || !pubOK || host != pubHost || scheme != pubScheme && (scheme != "https" || pubScheme != "http")
}

// origin splits a serialized origin (RFC 6454 §6.2), or a URL with no more
// than a "/" path, into its scheme and its host in lower case, the port
// left out when it is the scheme's default; ok is false when u is none.
func origin(u string) (scheme, host string, ok bool) {
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" || p.Host == "" || p.User != nil || p.Opaque != "" ||
		p.Path != "" && p.Path != "/" || p.RawQuery != "" || p.ForceQuery || p.Fragment != "" {
		return "", "", false
	}
	scheme, host = strings.ToLower(p.Scheme), strings.ToLower(p.Host)
	if port := p.Port(); scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		host = strings.TrimSuffix(host, ":"+port)
	}
	return scheme, host, true
}

// NotCrossSite refuses, with a 403 forbidden problem and before h (and its
// authentication) sees it, a request that a browser sent from another
// site's page (CrossSite; base is --base-url). An API key sent as HTTP
// Basic is a credential the browser keeps and sends by itself, as it does
// a cookie: once someone gave a key to their browser (in the address, or
// its dialog), any page they visit could post a form to the API with it,
// and the DNS API reads form bodies. The API serves no page that calls it
// and answers no CORS, so no request of another site's page is one of
// Twofold's users. Every route of /v1 and of the DNS API is wrapped in it.
func NotCrossSite(base string, log *slog.Logger, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if CrossSite(base, r) {
			writeError(w, r, log, twofold.Errorf(twofold.CodeForbidden, "a web page of another site sent this request (so its browser says, in Origin or Sec-Fetch-Site), and the API takes none: send it from a script or tool"))
			return
		}
		h(w, r)
	}
}

// ParsableQuery answers a request whose query is not
// application/x-www-form-urlencoded (a bad %-escape, a semicolon) with a 400
// invalid problem naming what is wrong, before h (and its authentication)
// sees it: Go would skip the bad pairs where another reader might not.
// Every route of /v1 and of the DNS API is wrapped in it, those that take
// no query parameters too (README "Using it").
func ParsableQuery(log *slog.Logger, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, err := parseQuery(r); err != nil {
			writeError(w, r, log, err)
			return
		}
		h(w, r)
	}
}

// once refuses parameter k of q when it is given more than once and is not
// one of repeatable.
func once(q url.Values, k string, repeatable []string) error {
	if len(q[k]) > 1 && !slices.Contains(repeatable, k) {
		return twofold.Errorf(twofold.CodeInvalid, "query parameter %q is given %d times: give it once", core.CleanText(k, 32), len(q[k])).OnQuery(core.CleanText(k, 32))
	}
	return nil
}
