// Package server assembles a running Twofold server from its configuration:
// store, keys, service and HTTP handlers on a listener. `twofold serve` and the
// end-to-end tests start servers through it, so both run the same code.
package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/blocklist"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/connlimit"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/credhash"
	"github.com/twofold/twofold/internal/dnsapi"
	"github.com/twofold/twofold/internal/factor/sms"
	"github.com/twofold/twofold/internal/httpapi"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/keystone"
	"github.com/twofold/twofold/internal/nameserver"
	"github.com/twofold/twofold/internal/notify"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/web"
	"github.com/twofold/twofold/internal/webhook"
)

// Server is a running Twofold server.
type Server struct {
	Config config.Config
	Logger *slog.Logger
	Now    func() time.Time // nil: the real clock
	Rand   io.Reader        // nil: crypto/rand

	Store   *store.Store
	Service *core.Service
	// Keys is the keyring the server seals and opens secrets with, set by
	// Open.
	Keys *keyring.Keyring
	// SweepEvery is how often expired sessions and logins and stale counters
	// are removed (0: every minute).
	SweepEvery time.Duration
	// WebhookEvery is how often this instance looks for audit events to
	// push to webhooks (0: every second; below 0: never, for tests that
	// deliver themselves).
	WebhookEvery time.Duration
	// IdleTimeout is how long an idle keep-alive HTTP connection is kept
	// open (0: DefaultIdleTimeout); tests set it short to see one closed.
	IdleTimeout time.Duration
	// SetupURL is the one-time link to create the first operator account,
	// set by Open when the database has no account yet (SPEC §4) and this
	// server made it.
	SetupURL string
	// SetupPendingUntil is, when the database has no account yet but
	// another start (another instance, or an earlier run) offered the
	// setup link, until when that link works; SetupURL is empty then.
	SetupPendingUntil time.Time

	ln   net.Listener
	http *http.Server
	dns  *nameserver.Server // nil without Config.DNSAddr
	done chan error         // Done's: the serve loop's error, for one reader
	// served is closed when the serve loop has returned, with its error
	// in serveErr: Close waits on it, whether or not Done was read.
	served   chan struct{}
	serveErr error
	worker   *notify.Worker
	sweep    *janitor
	hooks    *janitor
	beat     *janitor       // this instance's heartbeat (store.Instance)
	checks   sync.WaitGroup // start-up checks run beside serving

	// metrics serves /metrics alone on Config.MetricsAddr (nil without
	// it), metricsLn its listener, metricsDone its serve loop's end.
	metrics     *http.Server
	metricsLn   net.Listener
	metricsDone chan error
	// passwords is the open --password-blocklist, closed with the server.
	passwords *blocklist.List

	closeOnce sync.Once
	closeErr  error

	// running counts the requests being handled, so that a shutdown that
	// cut them off can let them return before closing what they use.
	running inFlight
	// wrap, when set (by tests), goes in front of the server's handler.
	wrap func(http.Handler) http.Handler
}

// Deps are the parts of a server that do not listen: store, keyring, service,
// and the outbox the service queues notifications in.
type Deps struct {
	Store   *store.Store
	Keys    *keyring.Keyring
	Service *core.Service
	Outbox  *notify.Outbox
	Hasher  *credhash.Hasher // keyed hashes, also of the pages' CSRF tokens
	// Passwords is the open --password-blocklist, nil without one.
	Passwords *blocklist.List
}

// OpenDeps opens the database (applying migrations), the key file (creating
// it when missing and the database holds no sealed secret yet) and the
// service.
func OpenDeps(ctx context.Context, c config.Config, log *slog.Logger, now func() time.Time, rnd io.Reader) (deps Deps, err error) {
	// Settings that can be refused are checked before the database and the
	// key file are opened, which a first start creates: a refused start
	// leaves nothing behind.
	smsCountries, err := sms.ParseCountries(c.SMSCountries)
	if err != nil {
		return Deps{}, fmt.Errorf("sms-countries: %w", err)
	}
	var passwords *blocklist.List
	if c.PasswordBlocklist != "" {
		if passwords, err = blocklist.Open(c.PasswordBlocklist); err != nil {
			return Deps{}, err
		}
		defer func() {
			if err != nil {
				passwords.Close()
			}
		}()
	}
	// So is a key file that is there but cannot be used: refused before
	// the database is made or migrated.
	if err := keyring.CheckExisting(c.KeyFile); err != nil {
		return Deps{}, err
	}
	st, err := store.Open(ctx, c.DB)
	if err != nil {
		return Deps{}, err
	}
	kf, keys, created, err := keyring.OpenFile(ctx, c.KeyFile, st)
	if err != nil {
		st.Close()
		return Deps{}, err
	}
	keys.UseLogger(log)
	if now != nil {
		keys.UseClock(now) // how long the keys last read are trusted (keyring.RecheckEvery)
	}
	if created {
		log.Info("created master key file", "path", c.KeyFile)
	}
	keyring.WarnExposed(log, c.KeyFile)
	if ids := keys.Unreadable(); len(ids) > 0 {
		log.Warn("the key file cannot unwrap some of the database's data keys: secrets sealed under them cannot be read until it holds their master key (is this instance's key file older than the others'?)",
			"key_file", c.KeyFile, "data_keys", strings.Join(ids, ","))
	}
	hasher, err := credhash.NewHasher(kf.HashKey)
	if err != nil {
		st.Close()
		return Deps{}, err
	}
	cfg := core.DefaultConfig()
	cfg.Issuer = c.Issuer
	cfg.BaseURL = c.BaseURL
	cfg.SessionTTL = c.SessionTTL
	cfg.PasswordParams = credhash.Params{Memory: uint32(c.Argon2Memory), Iterations: uint32(c.Argon2Time), Parallelism: uint8(c.Argon2Threads)}
	cfg.LoginBurst, cfg.LoginRate = c.LoginBurst, c.LoginRate
	cfg.ResetDelay = c.ResetDelay
	cfg.MailSent = c.SMTPAddr != ""
	cfg.WebhookAllowHTTP, cfg.WebhookAllowPrivate = c.WebhookAllowHTTP, c.WebhookAllowPrivate
	cfg.SMSCountries = smsCountries
	// Notifications go to the database's outbox; a serving instance's worker
	// sends them, also those queued by CLI commands. Code mails wait there
	// sealed.
	outbox := notify.NewOutbox(st, now)
	outbox.Keys, outbox.Rand = keys, rnd
	o := core.Options{Store: st, Keys: keys, Hasher: hasher, Config: cfg, Logger: log, Now: now, Rand: rnd,
		Notifier: outbox, CodeMail: outbox, Texts: textSender(c, log)}
	if passwords != nil {
		if n := passwords.Len(); n >= 0 {
			log.Info("new passwords are screened against a list", "path", c.PasswordBlocklist, "passwords", n)
		} else {
			log.Info("new passwords are screened against a SHA-1 list ordered by hash", "path", c.PasswordBlocklist)
		}
		o.Passwords = passwords
	}
	svc, err := core.New(o)
	if err != nil {
		st.Close()
		return Deps{}, err
	}
	return Deps{Store: st, Keys: keys, Service: svc, Outbox: outbox, Hasher: hasher, Passwords: passwords}, nil
}

// outboxAge is how long the mail longest in the outbox has waited, for
// /metrics.
func (s *Server) outboxAge() (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t, ok, err := s.Store.OldestMail(ctx, notify.Unobserved...)
	if err != nil || !ok {
		return 0, err
	}
	now := s.Now
	if now == nil {
		now = time.Now
	}
	return max(now().Sub(t), 0), nil
}

// webhooks reads the webhook endpoints for /metrics (WebhookObserver).
func (s *Server) webhooks() ([]twofold.Webhook, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Store.Webhooks(ctx)
}

// sender returns the SMTP sender c configures, or without --smtp-addr the
// log sender for development.
func sender(c config.Config, log *slog.Logger) notify.Sender {
	if c.SMTPAddr == "" {
		log.Info("no --smtp-addr: notifications are logged, not sent")
		return notify.Log{Logger: log}
	}
	// A relay on this machine is spoken to without STARTTLS: the message
	// does not leave the machine, and such relays (a distribution's
	// default mail server) commonly offer it with a certificate no
	// authority signed, which would refuse every message. Any other must
	// offer it, so that nobody who strips the offer on the way reads it.
	upgrade := c.SMTPStartTLS && !config.SMTPOnThisMachine(c.SMTPAddr)
	return &notify.SMTP{Addr: c.SMTPAddr, From: c.SMTPFrom, Username: c.SMTPUsername, Password: string(c.SMTPPassword),
		StartTLS: upgrade, RequireTLS: upgrade, TLS: c.SMTPTLS, Helo: c.SMTPHelo}
}

// textSender returns the SMS gateway c configures; without --sms-url, the
// log sender for development with --sms-log-codes, else none: a phone
// cannot then be added, nor a code texted (503 unavailable), rather than
// have people wait for a code that never comes.
func textSender(c config.Config, log *slog.Logger) notify.TextSender {
	if c.SMSURL == "" {
		if !c.SMSLogCodes {
			return nil
		}
		log.Warn("--sms-log-codes: every text message is logged WITH ITS ONE-TIME CODE AND PHONE NUMBER; for development only, never in production")
		return notify.TextLog{Logger: log, LogBodies: true}
	}
	return &notify.Twilio{BaseURL: c.SMSURL, AccountSID: c.SMSAccount, Token: string(c.SMSToken), From: c.SMSFrom}
}

// logTextMessages says at start where text messages go and warns of an
// allow-list that admits more than it seems to.
func (s *Server) logTextMessages() {
	switch {
	case s.Config.SMSURL != "":
	case s.Config.SMSLogCodes:
		s.Logger.Info("no --sms-url: text messages are not sent but logged (--sms-log-codes); phones can be added and codes asked for")
	default:
		s.Logger.Info("no --sms-url: no text messages are sent, and no phone can be added for codes")
	}
	if c, err := sms.ParseCountries(s.Config.SMSCountries); err == nil { // Validate refused it otherwise
		for _, w := range c.Warnings() {
			s.Logger.Warn("--sms-countries: "+w, "sms_countries", s.Config.SMSCountries)
		}
	}
}

// checkStoredPhones warns, once, of how many stored phone numbers are of
// regions --sms-countries does not admit (narrowed since they were added):
// their owners are sent no code and their sign-in does not offer them. The
// log holds the count, never a number.
func (s *Server) checkStoredPhones(ctx context.Context) {
	outside, unreadable, err := s.Service.PhonesOutsideAllowList(ctx)
	if err != nil {
		s.Logger.Warn("cannot count the stored phone numbers outside --sms-countries", "err", err)
		return
	}
	if outside > 0 {
		s.Logger.Warn("stored phone numbers are of regions --sms-countries does not admit: they are sent no code, and sign-in does not offer them; their owners need another factor, a recovery code or an operator's reset",
			"phones", outside, "sms_countries", s.Config.SMSCountries)
	}
	if unreadable > 0 {
		s.Logger.Warn("stored phone numbers could not be opened to check them against --sms-countries", "phones", unreadable)
	}
}

// checkDatabaseSettings warns, once, of PostgreSQL settings under which
// second steps slow down as the data grows: autovacuum off, and shared
// buffers smaller than the accounts and factors a second step reads a page
// of (README "Running more than one instance").
func (s *Server) checkDatabaseSettings(ctx context.Context) {
	settings, ok, err := s.Store.ServerSettings(ctx)
	if err != nil {
		s.Logger.Warn("cannot read PostgreSQL's settings to check them", "err", err)
		return
	}
	if !ok {
		return
	}
	if !settings.Autovacuum {
		s.Logger.Warn("PostgreSQL's autovacuum is off: the rows every login leaves dead pile up and the planner has no statistics, so second steps slow down as the tables grow; turn it on (README \"Running more than one instance\")",
			"autovacuum", "off")
	}
	if settings.Hot > settings.SharedBuffers {
		s.Logger.Warn("PostgreSQL's shared_buffers is smaller than the accounts and factors tables: second steps read their pages from outside PostgreSQL's buffers, and slow down; raise shared_buffers above their size (README \"Running more than one instance\")",
			"shared_buffers_mb", mebibytes(settings.SharedBuffers), "accounts_and_factors_mb", mebibytes(settings.Hot))
	}
}

// mebibytes is n bytes in MiB, rounded up.
func mebibytes(n int64) int64 { return (n + 1<<20 - 1) >> 20 }

// backfillTokenDigests stores the secret digests that hardware tokens
// claimed before migration 0048 lack (core.Service.BackfillTokenDigests);
// an import does the same first, so a failure here only waits for it.
func (s *Server) backfillTokenDigests(ctx context.Context) {
	n, err := s.Service.BackfillTokenDigests(ctx)
	if err != nil {
		s.Logger.Warn("cannot store the secret digests of hardware tokens claimed before migration 0048; an import will try again", "err", err)
		return
	}
	if n > 0 {
		s.Logger.Info("stored the secret digests of hardware tokens claimed before migration 0048", "tokens", n)
	}
}

// sealWebhookURLs seals the webhook URLs stored in the clear before
// migration 0089 (core.Service.SealWebhookURLs), before delivery starts; a
// failure is logged (never a URL) and tried again at the next start, the
// clear URLs working meanwhile.
func (s *Server) sealWebhookURLs(ctx context.Context) {
	n, err := s.Service.SealWebhookURLs(ctx)
	if err != nil {
		s.Logger.Warn("cannot seal the webhook URLs stored in the clear before migration 0089; the next start tries again", "sealed", n, "err", err)
		return
	}
	if n > 0 {
		s.Logger.Info("sealed the webhook URLs stored in the clear before migration 0089", "webhooks", n)
	}
}

// onLoopback reports whether the host of addr is this machine, where a mail
// relay without TLS is common and nothing crosses the network.
func onLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// Open starts the server: it listens on Config.Listen, opens its
// dependencies and serves in the background until Close.
func (s *Server) Open(ctx context.Context) error {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if err := s.Config.Validate(); err != nil {
		return err
	}
	// The address first: a server that cannot listen (the port is taken)
	// must not have created or migrated a database, or written a key file.
	ln, err := net.Listen("tcp", s.Config.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var metricsLn net.Listener // bound now, served once the rest is open
	if s.Config.MetricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", s.Config.MetricsAddr); err != nil {
			ln.Close()
			return fmt.Errorf("metrics-addr listen: %w", err)
		}
		defer func() {
			if s.metrics == nil { // not served: Open failed
				metricsLn.Close()
			}
		}()
	}
	var dnsSockets *nameserver.Sockets // bound now, served once the rest is open
	if s.Config.DNSAddr != "" {
		if dnsSockets, err = nameserver.Listen(s.Config.DNSAddr); err != nil {
			ln.Close()
			return err
		}
		defer func() {
			if s.dns == nil { // not served: Open failed
				dnsSockets.Close()
			}
		}()
	}
	d, err := OpenDeps(ctx, s.Config, s.Logger, s.Now, s.Rand)
	if err != nil {
		ln.Close()
		return err
	}
	s.Store, s.Service, s.Keys, s.passwords = d.Store, d.Service, d.Keys, d.Passwords
	secure := false
	if u, err := s.Config.PublicURL(); err == nil { // Validate refused a base URL that is not
		secure = u.Scheme == "https"
	}
	pages, err := web.New(web.Options{Service: s.Service, Hasher: d.Hasher, Logger: s.Logger, SecureCookies: secure})
	if err != nil {
		ln.Close()
		s.Store.Close()
		return err
	}
	s.ln = ln
	if s.Config.BaseURL != "" || onLoopback(s.Addr()) {
		// The name the operator is told to open, which cookies and
		// security keys are bound to: a mailed link under another would
		// sign nobody in.
		s.Service.SetLinkBase(s.BrowserURL())
	}
	s.openSecurityKeys()
	if err := s.openSetup(ctx); err != nil {
		ln.Close()
		s.Store.Close()
		return err
	}
	s.logTextMessages()
	// Counting the stored phones opens each number: beside serving, not in
	// the way of start-up; Close waits for it.
	s.checks.Go(func() { s.checkStoredPhones(context.WithoutCancel(ctx)) })
	s.checks.Go(func() { s.checkDatabaseSettings(context.WithoutCancel(ctx)) })
	s.backfillTokenDigests(ctx)
	s.sealWebhookURLs(ctx)
	metrics := httpapi.NewMetrics()
	s.worker = &notify.Worker{Queue: s.Store, Sender: sender(s.Config, s.Logger), Logger: s.Logger, Now: s.Now, Wake: d.Outbox.Wake(), Keys: d.Keys,
		Observe: metrics.MailObserver(s.outboxAge)}
	s.worker.Start()
	go s.Service.Warm() // not in the way of start-up; a login that comes first waits for it
	every := s.SweepEvery
	if every <= 0 {
		every = time.Minute
	}
	s.sweep = startJanitor(s.Service, s.Logger, every)
	if s.WebhookEvery >= 0 {
		s.hooks, err = startWebhooks(s.Service, s.Logger, s.WebhookEvery, webhook.NewSender(s.Config.WebhookAllowPrivate))
		if err != nil {
			s.sweep.close()
			s.worker.Close()
			ln.Close()
			s.checks.Wait()
			s.Store.Close()
			return err
		}
	}
	mux := http.NewServeMux()
	api := httpapi.New(s.Service, s.Store, s.Logger)
	api.Register(mux)
	dnsapi.New(s.Service, api, s.Logger).Register(mux)
	pages.Register(mux)
	keystone.New(s.Service, s.Logger, s.Config.BaseURL).Register(mux)
	s.Service.SetObserver(metrics.ObserveEvent)
	for name, db := range s.Store.Pools() {
		metrics.Registry.MustRegister(collectors.NewDBStatsCollector(db, name))
	}
	if s.Store.Dialect() == store.SQLite {
		s.Store.ObserveCommits(metrics.CommitObserver(s.Store.QueuedSteps))
	}
	metrics.WebhookObserver(s.webhooks, s.Now)
	if metricsLn == nil {
		mux.Handle("GET /metrics", metrics.Handler())
		mux.Handle("/metrics", httpapi.MethodNotAllowed("GET, HEAD"))
	} else {
		// Served on --metrics-addr alone: here it is a path like any
		// unknown one, which tells nothing of where it went.
		mux.Handle("/metrics", notFound(s.Logger))
	}
	// A path or query that is not text is refused before any handler, in
	// the form of the API it was sent to; a path of none is a page's.
	refusals := map[string]http.Handler{
		"/":           http.HandlerFunc(pages.Malformed),
		"/v1/":        http.HandlerFunc(httpapi.RefuseMalformed),
		dnsapi.Prefix: http.HandlerFunc(httpapi.RefuseMalformed),
		"/v3":         http.HandlerFunc(keystone.Malformed),
		"/healthz":    http.HandlerFunc(httpapi.RefuseMalformed),
		"/readyz":     http.HandlerFunc(httpapi.RefuseMalformed),
	}
	var trusted []netip.Prefix
	for _, p := range s.Config.TrustedProxies {
		pfx := netip.MustParsePrefix(p) // checked by Validate
		trusted = append(trusted, pfx)
		if pfx.Bits() == 0 {
			// Every client is then a "proxy": whatever it writes in
			// X-Forwarded-For is the address that throttling counts it
			// under, so it can spread its guesses over made-up addresses.
			s.Logger.Warn("--trusted-proxy "+p+" believes the X-Forwarded-For of every client: any client can choose the address its attempts are counted under; name the proxies' own addresses instead", "trusted_proxy", p)
		}
	}
	var handler http.Handler = httpapi.ClientAddr(trusted, s.Logger, httpapi.Observe(s.Logger, metrics, httpapi.WellFormed(mux, refusals)))
	if s.wrap != nil {
		handler = s.wrap(handler)
	}
	// One source may hold at most --max-conns-per-address connections
	// open, so that one machine cannot use up the file descriptors and
	// stop the server accepting anyone; the trusted proxies, through which
	// every client comes, are exempt.
	limited := s.limit(ln, "http", trusted, metrics)
	s.http = s.newHTTPServer(handler)
	s.http.RegisterOnShutdown(s.Service.EndPushWaits) // devices' long polls answer at once, not at the shutdown timeout
	if dnsSockets != nil {
		dnsSockets.WrapTCP(func(l net.Listener) net.Listener { return s.limit(l, "dns", trusted, metrics) })
		if err := s.openDNS(dnsSockets); err != nil {
			if s.hooks != nil {
				s.hooks.close()
			}
			s.sweep.close()
			s.worker.Close()
			ln.Close()
			s.checks.Wait()
			s.Store.Close()
			return err
		}
	}
	if metricsLn != nil {
		s.serveMetrics(metricsLn, metrics, trusted)
	}
	// Seen by `twofold restore` as running, whether or not it holds a
	// connection to the database at that moment.
	host, _ := os.Hostname()
	s.beat = startHeartbeat(ctx, s.Store, s.Logger, store.Instance{ID: rand.Text(), Host: host, PID: os.Getpid()})
	s.done, s.served = make(chan error, 1), make(chan struct{})
	go func() {
		s.serveErr = s.http.Serve(limited)
		close(s.served)
		s.done <- s.serveErr
	}()
	return nil
}

// newHTTPServer returns an HTTP server of h with the server's timeouts and
// limits, h counted in s.running so that a shutdown that cuts requests off
// waits for them.
func (s *Server) newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           s.running.track(h),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    MaxHeaderBytes,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		// An idle keep-alive connection holds a file descriptor and a
		// goroutine; 30 s keeps one open across a person's clicks and a
		// client's bursts (reconnecting costs a round trip) without
		// letting idle ones pile up for minutes.
		IdleTimeout: cmp.Or(s.IdleTimeout, DefaultIdleTimeout),
		ErrorLog:    slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
	}
}

// serveMetrics serves /metrics alone on ln (Config.MetricsAddr), with the
// main listener's timeouts, limits, request ids and log lines; any other
// path there is 404. Close shuts it down with the main listener: scrapes
// read the database (the outbox's age, the webhooks).
func (s *Server) serveMetrics(ln net.Listener, metrics *httpapi.Metrics, trusted []netip.Prefix) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler())
	mux.Handle("/metrics", httpapi.MethodNotAllowed("GET, HEAD"))
	mux.Handle("/", notFound(s.Logger))
	handler := httpapi.ClientAddr(trusted, s.Logger, httpapi.Observe(s.Logger, metrics, httpapi.WellFormed(mux, nil)))
	s.metrics, s.metricsLn = s.newHTTPServer(handler), ln
	s.metricsDone = make(chan error, 1)
	limited := s.limit(ln, "metrics", trusted, metrics)
	go func() { s.metricsDone <- s.metrics.Serve(limited) }()
	s.Logger.Info("serving /metrics", "addr", ln.Addr().String())
}

// notFound answers every request with a 404 not-found problem.
func notFound(log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteError(w, r, log, twofold.Errorf(twofold.CodeNotFound, "no such path"))
	})
}

// DefaultIdleTimeout is how long the server keeps an idle keep-alive
// connection unless Server.IdleTimeout says otherwise (README "Guessing,
// throttling and lock-outs").
const DefaultIdleTimeout = 30 * time.Second

// MaxHeaderBytes bounds a request's header (its request line too), 64 KiB
// rather than net/http's 1 MiB default: Twofold's own headers (a session
// cookie, a bearer token, a signature) take well under 8 KiB, and each
// connection may hold this much in memory while its header arrives. A
// bigger header is refused by net/http before any handler, 431 in plain
// text (README "Errors"). net/http reads up to 4096 bytes beyond it.
const MaxHeaderBytes = 64 << 10

// limit returns ln capped at Config.MaxConnsPerAddress connections a
// source, the trusted proxies exempt, its refusals counted on /metrics
// under listener name.
func (s *Server) limit(ln net.Listener, name string, trusted []netip.Prefix, metrics *httpapi.Metrics) net.Listener {
	l := &connlimit.Listener{Listener: ln, Max: s.Config.MaxConnsPerAddress, Exempt: trusted, Logger: s.Logger, Name: name}
	metrics.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name:        "twofold_connections_refused_total",
		Help:        "Connections closed on accept because their source address held --max-conns-per-address open already, by listener (http, dns).",
		ConstLabels: prometheus.Labels{"listener": name},
	}, func() float64 { return float64(l.Refused()) }))
	return l
}

// openSecurityKeys sets the WebAuthn relying party of security keys, which
// may take the listener's port; without one, security keys are off (an
// explicit but wrong setting was refused by Validate).
func (s *Server) openSecurityKeys() {
	rp, err := s.Config.WebAuthn(s.ln.Addr().String())
	if err == nil {
		err = s.Service.SetRelyingParty(rp)
	}
	if err != nil {
		s.Logger.Warn("security keys are off", "err", err)
		return
	}
	s.Logger.Info("security keys", "rp_id", rp.RPID, "origins", strings.Join(rp.Origins, ","))
}

// openDNS starts answering DNS for the zones on k, Config.DNSAddr's
// sockets.
func (s *Server) openDNS(k *nameserver.Sockets) error {
	var nss []string
	for _, ns := range s.Config.DNSNameservers {
		nss = append(nss, dns.Fqdn(strings.ToLower(ns)))
	}
	mbox := ""
	if local, domain, ok := strings.Cut(s.Config.DNSHostmaster, "@"); ok { // checked by Validate
		mbox = dns.Fqdn(strings.ToLower(local + "." + domain))
	}
	s.dns = &nameserver.Server{Service: s.Service, Nameservers: nss, Hostmaster: mbox, Logger: s.Logger}
	if err := s.dns.Serve(k); err != nil {
		s.dns = nil
		return err
	}
	s.Logger.Info("answering DNS", "addr", s.dns.Addr())
	return nil
}

// MetricsAddr returns the address the server serves /metrics on alone
// (Config.MetricsAddr); "" when /metrics is served on Addr.
func (s *Server) MetricsAddr() string {
	if s.metricsLn == nil {
		return ""
	}
	return s.metricsLn.Addr().String()
}

// DNSAddr returns the address the server answers DNS on, UDP and TCP
// alike; "" when it answers none.
func (s *Server) DNSAddr() string {
	if s.dns == nil {
		return ""
	}
	return s.dns.Addr()
}

// openSetup makes the first-run setup link when no account exists yet and
// no other start offers one. The link holds a secret, so it is set in
// SetupURL for the caller to print, and never logged; when another start
// offers it, SetupPendingUntil says until when.
func (s *Server) openSetup(ctx context.Context) error {
	token, until, err := s.Service.NewSetupToken(ctx)
	if err != nil {
		return err
	}
	if token == "" {
		if !until.IsZero() {
			s.SetupPendingUntil = until
			s.Logger.Info("first run: no account exists yet; the setup link was printed by the start that made it", "works_until", until)
		}
		return nil
	}
	s.SetupURL = s.URL() + "/setup/" + token
	s.Logger.Info("first run: no account exists yet; open the setup link printed on standard output to create the operator account")
	return nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL returns the server's base URL.
func (s *Server) URL() string {
	if s.Config.BaseURL != "" {
		return s.Config.BaseURL
	}
	return "http://" + s.Addr()
}

// BrowserURL returns the address a browser on this machine should open,
// which `serve` prints and the setup link and mailed links start with:
// the base URL when set; else a server on 127.0.0.1, ::1 or every address
// is opened as http://localhost:PORT, the only origin of such a server
// where browsers allow security keys (config.WebAuthn), and the one its
// cookies then belong to (config.LocalhostAddr). A server on another
// loopback address (127.0.0.2), which localhost does not lead to, is
// opened under its address.
func (s *Server) BrowserURL() string {
	if s.Config.BaseURL != "" {
		return s.Config.BaseURL
	}
	host, port, err := net.SplitHostPort(s.Addr())
	if err != nil {
		return s.URL()
	}
	if !config.LocalhostAddr(host) {
		return s.URL()
	}
	return "http://localhost:" + port
}

// Done returns a channel that receives the serve loop's error, if it stops by itself.
func (s *Server) Done() <-chan error { return s.done }

// Close shuts down gracefully: it stops accepting, waits for requests in
// flight up to the shutdown timeout, stops the outbox worker, and closes the
// database. Calls after the first return the first's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Server) close() error {
	var errs []error
	if s.http != nil {
		timeout := s.Config.ShutdownTimeout
		if timeout <= 0 {
			timeout = 15 * time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		err := s.http.Shutdown(ctx)
		if s.metrics != nil {
			// In the same time: a scrape reads the database too.
			if merr := s.metrics.Shutdown(ctx); err == nil {
				err = merr
			}
		}
		if errors.Is(err, context.DeadlineExceeded) {
			// Say what ran out, not only "context deadline exceeded"; and
			// end those requests' connections now, before what they use
			// is closed under them.
			s.http.Close()
			if s.metrics != nil {
				s.metrics.Close()
			}
			errs = append(errs, fmt.Errorf("requests were still running when the shutdown timeout (--shutdown-timeout %s) ran out, and were cut off: %w", timeout, err))
			// Their contexts are cancelled now, but a handler finds out
			// only at its next call, and what follows a commit (its
			// audit event, its notices) runs on a context of its own:
			// a short while for them to return, before the store closes.
			if !s.running.wait(cutOffGrace) {
				errs = append(errs, fmt.Errorf("requests cut off at the shutdown timeout were still running %s later, and the database was closed under them", cutOffGrace))
			}
		} else if err != nil {
			errs = append(errs, err)
		}
		// Not from done: the caller may have taken its one value (a serve
		// loop that stopped by itself ends `twofold serve`, which then
		// closes the server).
		<-s.served
		if err := s.serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
		if s.metrics != nil {
			if err := <-s.metricsDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs = append(errs, fmt.Errorf("metrics-addr: %w", err))
			}
		}
	}
	if s.dns != nil {
		errs = append(errs, s.dns.Close())
	}
	if s.sweep != nil {
		s.sweep.close()
	}
	if s.hooks != nil {
		s.hooks.close()
	}
	s.checks.Wait()
	if s.Service != nil {
		s.Service.Wait()
	}
	if s.worker != nil {
		errs = append(errs, s.worker.Close())
	}
	if s.beat != nil {
		s.beat.close()
	}
	if s.Store != nil {
		errs = append(errs, s.Store.Close())
	}
	if s.passwords != nil {
		errs = append(errs, s.passwords.Close())
	}
	return errors.Join(errs...)
}

// cutOffGrace is how long Close waits, after the shutdown timeout cut
// requests off, for their handlers to return before it closes the store.
const cutOffGrace = 5 * time.Second

// inFlight counts the requests being handled. Unlike a sync.WaitGroup, it
// may count a request that starts while someone waits (a connection that
// had read its request as the server closed).
type inFlight struct {
	n       atomic.Int64
	mu      sync.Mutex
	waiters []chan struct{} // closed when n falls to 0
}

// track returns h counted while it runs.
func (f *inFlight) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.n.Add(1)
		defer f.done()
		h.ServeHTTP(w, r)
	})
}

func (f *inFlight) done() {
	if f.n.Add(-1) != 0 {
		return
	}
	f.mu.Lock()
	for _, c := range f.waiters {
		close(c)
	}
	f.waiters = nil
	f.mu.Unlock()
}

// wait waits until no request is being handled, or d has passed; it
// reports whether none is.
func (f *inFlight) wait(d time.Duration) bool {
	c := make(chan struct{})
	f.mu.Lock()
	f.waiters = append(f.waiters, c)
	f.mu.Unlock()
	if f.n.Load() == 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c:
		return true
	case <-t.C:
		return f.n.Load() == 0
	}
}
