package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/lograte"
)

// ClientAddr rewrites r.RemoteAddr to the client's address from
// X-Forwarded-For, but only when the connection comes from a trusted proxy;
// it takes the rightmost address that is not itself a trusted proxy, so a
// client cannot choose its address by sending the header itself. A hop may
// carry a port ("203.0.113.5:4444", "[2001:db8::1]:4444"), as some
// balancers write it. A request with no X-Forwarded-For (a balancer's own
// health check) keeps the proxy's address, silently. A hop that is no
// address also keeps it, and is logged (at most once a minute, so that a
// misconfigured proxy is seen however long the server has run, without a
// line per request), since every such client then shares the proxy's
// counters. What else a proxy says of the request (X-Forwarded-Proto,
// X-Forwarded-Host, any other X-Forwarded-*, Forwarded) is likewise
// believed only from a trusted proxy: from any other peer it is removed,
// so that what a client writes there never reaches a handler (PublicURL).
// A trusted proxy's Forwarded header (RFC 7239) is read as the
// X-Forwarded-For, -Proto and -Host it stands for, when the request has no
// X-Forwarded-* header (readForwarded); a malformed one is ignored, and
// logged as a bad hop is.
func ClientAddr(trusted []netip.Prefix, log *slog.Logger, next http.Handler) http.Handler {
	return clientAddr(trusted, log, time.Now, next)
}

// badHopEvery is how often at most a hop that is no address is logged.
const badHopEvery = time.Minute

func clientAddr(trusted []netip.Prefix, log *slog.Logger, now func() time.Time, next http.Handler) http.Handler {
	if len(trusted) == 0 {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			dropForwarded(r.Header)
			next.ServeHTTP(w, r)
		})
	}
	isTrusted := func(a netip.Addr) bool {
		a = a.Unmap()
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	badHops, badForwarded := &lograte.Limiter{Every: badHopEvery}, &lograte.Limiter{Every: badHopEvery}
	warn := func(peer netip.Addr, hop string) {
		if due, _ := badHops.Allow(now()); due {
			log.Warn("a trusted proxy sent an X-Forwarded-For hop (or a Forwarded for=) that is not an address: such requests keep the proxy's address, and share its counters (logged at most once a minute)",
				"proxy", peer.String(), "hop", strings.ToValidUTF8(truncateHop(hop), "?"))
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		peer, perr := netip.ParseAddr(host)
		fromProxy := err == nil && perr == nil && isTrusted(peer)
		if !fromProxy {
			dropForwarded(r.Header)
		} else if err := readForwarded(r.Header); err != nil {
			if due, _ := badForwarded.Allow(now()); due {
				log.Warn("a trusted proxy sent a Forwarded header that is malformed (RFC 7239): it is ignored, and such requests keep the proxy's address, and its own scheme and host (logged at most once a minute)",
					"proxy", peer.String(), "error", err.Error())
			}
		}
		if xff := strings.Join(r.Header.Values("X-Forwarded-For"), ","); fromProxy && strings.TrimSpace(xff) != "" {
			hops := strings.Split(xff, ",")
			for i := len(hops) - 1; i >= 0; i-- {
				a, ok := hopAddr(hops[i])
				if !ok {
					warn(peer, hops[i])
					break
				}
				if !isTrusted(a) || i == 0 {
					r.RemoteAddr = net.JoinHostPort(a.Unmap().String(), "0")
					break
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// dropForwarded removes from h every header in which a proxy tells of the
// request: X-Forwarded-* and Forwarded (RFC 7239), whatever their case.
func dropForwarded(h http.Header) {
	for k := range h {
		if k = http.CanonicalHeaderKey(k); strings.HasPrefix(k, "X-Forwarded-") || k == "Forwarded" {
			delete(h, k)
		}
	}
}

// PublicURL is the URL this server is reached at, for what it hands out
// (the server of a push enrolment URI, the Identity API's links): base
// (--base-url) when it is set; else the one r was sent to, https when it
// came over TLS. From a trusted proxy alone (ClientAddr removes the
// headers from any other peer), the scheme in X-Forwarded-Proto (http or
// https) and the host in X-Forwarded-Host are taken instead, each the last
// of a list (the one the nearest proxy wrote), and only when well formed;
// a proxy's Forwarded header reaches here as these two (ClientAddr). The
// API, the pages and the Identity API all build it here, and check a
// browser's Origin against it (CrossSite).
func PublicURL(base string, r *http.Request) string {
	if base != "" {
		return base
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	} else if p := strings.ToLower(lastForwarded(r.Header, "X-Forwarded-Proto")); p == "https" || p == "http" {
		scheme = p
	}
	host := r.Host
	if h := lastForwarded(r.Header, "X-Forwarded-Host"); hostOnly(h) {
		host = h
	}
	return scheme + "://" + host
}

// lastForwarded is the last value of the comma-separated list in the
// header name, trimmed: a proxy that appends writes its own last.
func lastForwarded(h http.Header, name string) string {
	vs := h.Values(name)
	if len(vs) == 0 {
		return ""
	}
	v := vs[len(vs)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

// hostOnly tells a host with an optional port and nothing else: no user,
// path, query or other character a URL would read otherwise.
func hostOnly(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, c := range []byte(h) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".-_:[]", c) >= 0) {
			return false
		}
	}
	u, err := url.Parse("http://" + h)
	return err == nil && u.Host == h && u.Hostname() != ""
}

// hopAddr parses one hop of X-Forwarded-For: an address, with or without a
// port, IPv6 with or without brackets. An IPv6 address with a zone
// ("fe80::1%eth0") is no hop: a zone names an interface of the machine
// that wrote it, and one client written with many zones would be many
// clients to the counters kept by address (Forwarded's for= refuses it
// too).
func hopAddr(hop string) (netip.Addr, bool) {
	hop = strings.TrimSpace(hop)
	a, err := netip.ParseAddr(hop)
	if err != nil {
		if ap, perr := netip.ParseAddrPort(hop); perr == nil {
			a, err = ap.Addr(), nil
		} else if strings.HasPrefix(hop, "[") && strings.HasSuffix(hop, "]") {
			a, err = netip.ParseAddr(hop[1 : len(hop)-1])
		}
	}
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a, true
}

// truncateHop shortens a hop for the log.
func truncateHop(h string) string {
	h = strings.TrimSpace(h)
	if len(h) > 64 {
		return h[:64]
	}
	return h
}

// Metrics are the server's Prometheus metrics, on a registry of their own.
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	events   *prometheus.CounterVec
}

// NewMetrics returns the metrics with Go runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twofold_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "twofold_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twofold_events_total", Help: "Audit events by type: logins, failures by cause, throttling, enrolments.",
		}, []string{"type", "cause"}),
	}
	m.Registry.MustRegister(m.requests, m.latency, m.events,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// CommitObserver registers the metrics of SQLite's group commit and returns
// the function that feeds them (see store.Store.ObserveCommits): how many
// second steps each commit carried, and how long each took. With one writer,
// a commit's duration bounds the store's second steps per second.
//
// queued, called at each scrape, is how many second steps wait for the
// writer now.
func (m *Metrics) CommitObserver(queued func() int) func(steps int, took time.Duration) {
	steps := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "twofold_store_commit_steps", Help: "Second steps carried by each group commit of SQLite's writer.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64},
	})
	took := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "twofold_store_commit_duration_seconds", Help: "Duration of each group commit of SQLite's writer, sync included.",
		Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .02, .05, .1, .25},
	})
	waiting := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "twofold_store_queued_steps", Help: "Second steps waiting for SQLite's writer to take them into a commit.",
	}, func() float64 { return float64(queued()) })
	m.Registry.MustRegister(steps, took, waiting)
	return func(n int, d time.Duration) {
		steps.Observe(float64(n))
		took.Observe(d.Seconds())
	}
}

// MailObserver registers the metrics of the notification outbox and returns
// the function that counts each attempt's outcome (notify.Worker.Observe):
// twofold_mail_total by outcome, and twofold_outbox_oldest_mail_seconds, how
// long the mail longest in the outbox has waited (0 when it is empty), which
// age, at each scrape, reports (an error: NaN, no value).
func (m *Metrics) MailObserver(age func() (time.Duration, error)) func(outcome string) {
	mails := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "twofold_mail_total", Help: "Attempts to send a notification email, by outcome: sent, failed (retried), given_up, expired or voided (a code mail dropped unsent), not_configured; password-reset links and team-invitation notices are not counted.",
	}, []string{"outcome"})
	oldest := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "twofold_outbox_oldest_mail_seconds", Help: "How long the mail longest in the outbox has waited to be sent, password-reset links and team-invitation notices left out; 0 when the outbox is empty.",
	}, func() float64 {
		d, err := age()
		if err != nil {
			return math.NaN()
		}
		return d.Seconds()
	})
	m.Registry.MustRegister(mails, oldest)
	return func(outcome string) { mails.WithLabelValues(outcome).Inc() }
}

// WebhookObserver registers the metrics of webhook delivery, read at each
// scrape from the endpoints read returns (shared by every instance, so
// every instance shows the same): twofold_webhooks by state, delivering
// (enabled, its last try succeeded or none yet), failing (enabled, failing
// in a row) or disabled, and twofold_webhook_failing_seconds, how long the
// enabled endpoint failing longest has failed (0 when none is). A
// receiver that refuses, is down or too slow then reaches operators as
// more than log lines, and an endpoint disabled after failing for days
// stays seen rather than falling silent. now is the clock (nil:
// time.Now); a read that fails gives NaN.
func (m *Metrics) WebhookObserver(read func() ([]twofold.Webhook, error), now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	m.Registry.MustRegister(&webhookCollector{read: read, now: now,
		states: prometheus.NewDesc("twofold_webhooks",
			"Webhook endpoints by state: delivering (enabled, the last try succeeded or none was made yet), failing (enabled, its tries failing in a row) or disabled (after failing three days, or no longer answered for).",
			[]string{"state"}, nil),
		failing: prometheus.NewDesc("twofold_webhook_failing_seconds",
			"How long the enabled webhook endpoint failing longest has failed in a row; 0 when none is failing.", nil, nil),
	})
}

// webhookCollector is WebhookObserver's collector: one read of the
// endpoints (at most core.MaxWebhooks rows) for both metrics.
type webhookCollector struct {
	read            func() ([]twofold.Webhook, error)
	now             func() time.Time
	states, failing *prometheus.Desc
}

// webhookStates are the values of twofold_webhooks' state label.
var webhookStates = []string{"delivering", "failing", "disabled"}

func (c *webhookCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.states; ch <- c.failing }

func (c *webhookCollector) Collect(ch chan<- prometheus.Metric) {
	ws, err := c.read()
	count := map[string]float64{}
	var longest time.Duration
	for _, w := range ws {
		switch {
		case !w.DisabledAt.IsZero():
			count["disabled"]++
		case w.Status.Failures > 0:
			count["failing"]++
			longest = max(longest, c.now().Sub(w.Status.FailingSince))
		default:
			count["delivering"]++
		}
	}
	for _, st := range webhookStates {
		v := count[st]
		if err != nil {
			v = math.NaN()
		}
		ch <- prometheus.MustNewConstMetric(c.states, prometheus.GaugeValue, v, st)
	}
	v := longest.Seconds()
	if err != nil {
		v = math.NaN()
	}
	ch <- prometheus.MustNewConstMetric(c.failing, prometheus.GaugeValue, v)
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// ObserveEvent counts an audit event; the cause label is the kind of
// failure (never anything the client chose).
func (m *Metrics) ObserveEvent(e twofold.AuditEvent) {
	if uncounted[e.Type] {
		return
	}
	cause := ""
	if c, ok := oneCause[e.Type]; ok {
		cause = c
	} else if strings.HasSuffix(e.Type, "_failed") || e.Type == "login.throttled" {
		cause = failureCause(e.Detail)
	}
	m.events.WithLabelValues(e.Type, cause).Inc()
}

// failureCauses map audit details to a small fixed set of labels. /metrics
// is readable by whoever reaches the server, so causes that the answers keep
// apart from nobody stay together here: a wrong password and an unknown
// username are both bad_credentials (else the counter would tell which
// usernames exist), and a wrong, replayed or unknown factor's code are all
// wrong_code. The audit log keeps the real cause.
var failureCauses = []struct{ detail, label string }{
	{"wrong password", "bad_credentials"}, {"unknown username", "bad_credentials"}, {"accounts only ignoring case", "bad_credentials"},
	{"replayed", "wrong_code"}, {"wrong code", "wrong_code"}, {"no such active", "wrong_code"},
	{"malformed", "malformed"}, {"wrong or used recovery code", "wrong_or_used_recovery_code"},
	{"wrong paper key", "wrong_paper_key"}, {"unsupported method", "unsupported_method"},
	{"locked", "locked"}, {"request rate", "request_rate"}, {"password attempts", "password_attempts"},
}

// oneCause gives the failures whose causes the answers never tell apart a
// single label: a hardware token's claim is refused alike for an unknown
// serial, a claimed token and a wrong code, and the operators' record of it
// (which names the cause) must not tell the serials apart on /metrics.
var oneCause = map[string]string{"token.claim_failed": "wrong_code"}

// uncounted are the events recorded only when a username names an account,
// after an answer that is the same whether or not it does: counted, they
// would tell readers of /metrics which names exist. An invitation to a
// team answers alike for a name nobody has (team.invited is counted for
// both); only a real invitee's log records team.invitation_received. The
// bound on an account's events of one type (core.EventBurst) holds only
// for an account's events: 30 wrong passwords for a name made an
// audit.suppressed note when the name was an account's, and none when it
// was nobody's.
var uncounted = map[string]bool{"team.invitation_received": true, "audit.suppressed": true}

// failureCause maps an audit detail to its label.
func failureCause(detail string) string {
	for _, c := range failureCauses {
		if strings.Contains(detail, c.detail) {
			return c.label
		}
	}
	return "other"
}

type ctxKey int

const requestIDKey ctxKey = 0

// RequestID returns the request id set by Observe.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Observe gives each request an id (X-Request-Id), logs it, and records its
// metrics. Logs name the route pattern, never the path or query: paths carry
// login ids, and nothing a client sends as a secret is logged.
func Observe(log *slog.Logger, m *Metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			b := make([]byte, 8)
			rand.Read(b)
			id = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		if m != nil {
			m.requests.WithLabelValues(route, itoa(sw.status)).Inc()
			m.latency.WithLabelValues(route).Observe(d.Seconds())
		}
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		log.LogAttrs(r.Context(), slog.LevelDebug, "request", slog.String("request_id", id), slog.String("route", route),
			slog.Int("status", sw.status), slog.Duration("duration", d), slog.String("remote", host))
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func itoa(n int) string {
	const digits = "0123456789"
	if n >= 100 && n < 1000 {
		return string([]byte{digits[n/100], digits[n/10%10], digits[n%10]})
	}
	return "other"
}

// Text reports whether s is text a request may carry into the service:
// valid UTF-8 without a NUL byte. PostgreSQL refuses anything else in a
// text value, and no identifier, token, name or query of Twofold's holds it.
func Text(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// TextValues reports whether every key and value of v is Text.
func TextValues(v url.Values) bool {
	for k, vs := range v {
		if !Text(k) {
			return false
		}
		for _, s := range vs {
			if !Text(s) {
				return false
			}
		}
	}
	return true
}

// WellFormed refuses a request whose decoded path or query values are not
// Text, before any handler sees it: ids, tokens and queries come from
// them. The refusal is the one of the longest prefix of refusals that
// begins the path, and otherwise a 400 invalid problem; each API answers
// in its own form. Every answer, of every API and page, tells browsers not
// to guess its type (a JSON answer echoing a client's text is never taken
// for HTML).
func WellFormed(next http.Handler, refusals map[string]http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Content-Type-Options"] = nosniff
		// Most requests (the second step among them) have no query: no
		// map is made for them.
		if Text(r.URL.Path) && (r.URL.RawQuery == "" || TextValues(r.URL.Query())) {
			next.ServeHTTP(w, r)
			return
		}
		var refuse http.Handler = http.HandlerFunc(RefuseMalformed)
		longest := -1
		for prefix, h := range refusals {
			if strings.HasPrefix(r.URL.Path, prefix) && len(prefix) > longest {
				refuse, longest = h, len(prefix)
			}
		}
		refuse.ServeHTTP(w, r)
	})
}

var nosniff = []string{"nosniff"}

// MalformedMessage says why a request that WellFormed refuses was refused.
const MalformedMessage = "the request's path or query is not valid UTF-8 text or holds a NUL byte"

// RefuseMalformed answers a request that is not well-formed text (see
// WellFormed) with a 400 invalid problem.
func RefuseMalformed(w http.ResponseWriter, r *http.Request) {
	writeProblem(w, Problem{Type: ProblemTypeBase + string(twofold.CodeInvalid), Title: http.StatusText(http.StatusBadRequest),
		Status: http.StatusBadRequest, Detail: MalformedMessage})
}
