// Package nameserver answers DNS queries, over UDP and TCP, for the zones of
// the DNS API (SPEC §3 "DNS API"), authoritatively: the records of the
// database, and at each zone's apex an SOA and NS records of the server's
// configuration. Every query reads its zone's serial from the database, so
// that every instance on one database answers the same; a zone's records are
// read again, once for all the queries that wait, when the serial moves on.
package nameserver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/lograte"
)

// SOA timers of every zone (RFC 1035 §3.3.13, values of RFC 1912 §2.2's
// range), and the TTL of the records the server makes itself.
const (
	refresh  = 3600
	retry    = 900
	expire   = 1209600
	minimum  = 300 // the TTL of negative answers (RFC 2308 §4)
	ownTTL   = 3600
	udpSize  = 1232 // the EDNS payload size DNS Flag Day 2020 advises
	maxChase = 8    // CNAMEs followed inside a zone
	// staleAfter is how long a query waits for its zone's records to be read
	// again after a change before it is answered from the records read
	// before: long enough for most zones to answer the change at once,
	// short of a resolver's retry.
	staleAfter = 500 * time.Millisecond
	// logEvery is how often at most a line that every query could write
	// (a failed lookup, an answer too large) is logged.
	logEvery = time.Minute
)

// Server is an authoritative DNS server.
type Server struct {
	Service *core.Service
	// Nameservers are the zones' NS records, fully qualified; the first is
	// the SOA's primary.
	Nameservers []string
	// Hostmaster is the SOA's mailbox as a domain name
	// (hostmaster.example.net.); empty: hostmaster.ZONE.
	Hostmaster string
	Logger     *slog.Logger
	// Timeout bounds the database reads of one query, and one reading of a
	// zone's records.
	Timeout time.Duration
	// MaxInFlight bounds the queries answered at once (0:
	// DefaultMaxInFlight); past it a query is dropped.
	MaxInFlight int

	udp, tcp *dns.Server
	wg       sync.WaitGroup
	base     context.Context // of the zones' loads; cancelled by Close
	stop     context.CancelFunc
	loading  sync.WaitGroup // the loads running

	mu     sync.Mutex
	cache  map[string]*zoneData // by zone name
	loads  map[string]*load     // the load running, by zone name
	closed bool                 // no more loads start
	second int64                // the second counts are for
	counts map[string]int       // queries by source in that second

	maxZones int           // maxCachedZones, unless a test set it
	busy     chan struct{} // a slot per query being answered (MaxInFlight)
	reads    chan struct{} // a slot per database read of the queries (maxReads)

	failed, tooLarge, loadFailed, dropped lograte.Limiter // log lines, at most once a logEvery each

	// loaded, when set (by tests), is called as each load of a zone's
	// records starts, in the load's goroutine.
	loaded func(zone string)
}

// load is one reading of a zone's records, which every query for the zone
// that finds its records out of date waits for, rather than reading them
// itself.
type load struct {
	done chan struct{} // closed when the load ends; zd and err are set then
	zd   *zoneData
	err  error
}

// Start listens on addr (host:port; port 0 picks one) over UDP and TCP on
// the same port, and serves in the background until Close.
func (s *Server) Start(addr string) error {
	k, err := Listen(addr)
	if err != nil {
		return err
	}
	if err := s.Serve(k); err != nil {
		k.Close()
		return err
	}
	return nil
}

// Sockets are the UDP and TCP sockets of one port that Listen bound, for
// Serve: a caller binds them before it opens anything else, so that a
// taken port is found first.
type Sockets struct {
	udp net.PacketConn
	tcp net.Listener
}

// Listen binds addr (host:port; port 0 picks one) over UDP and TCP on the
// same port.
func Listen(addr string) (*Sockets, error) {
	var err error
	for range 10 { // with port 0, the port UDP got may be taken for TCP
		var pc net.PacketConn
		if pc, err = net.ListenPacket("udp", addr); err != nil {
			return nil, fmt.Errorf("dns listen udp: %w", err)
		}
		var ln net.Listener
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err != nil {
			pc.Close()
			if _, port, _ := net.SplitHostPort(addr); port == "0" {
				continue
			}
			return nil, fmt.Errorf("dns listen tcp: %w", err)
		}
		return &Sockets{udp: pc, tcp: ln}, nil
	}
	return nil, fmt.Errorf("dns listen tcp: %w", err)
}

// WrapTCP puts wrap around the TCP listener (to cap each source's
// connections), before Serve.
func (k *Sockets) WrapTCP(wrap func(net.Listener) net.Listener) { k.tcp = wrap(k.tcp) }

// Close closes sockets that Serve did not take.
func (k *Sockets) Close() error { return errors.Join(k.udp.Close(), k.tcp.Close()) }

// Serve answers on k, which Listen bound, in the background until Close;
// on an error k is left to the caller to close.
func (s *Server) Serve(k *Sockets) error {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if len(s.Nameservers) == 0 {
		return errors.New("nameserver: no name servers configured")
	}
	if s.Timeout <= 0 {
		s.Timeout = 5 * time.Second
	}
	for _, l := range []*lograte.Limiter{&s.failed, &s.tooLarge, &s.loadFailed, &s.dropped} {
		l.Every = logEvery
	}
	if s.MaxInFlight <= 0 {
		s.MaxInFlight = DefaultMaxInFlight
	}
	s.busy, s.reads = make(chan struct{}, s.MaxInFlight), make(chan struct{}, maxReads)
	s.base, s.stop = context.WithCancel(context.Background())
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	s.udp = &dns.Server{PacketConn: k.udp, Handler: s, UDPSize: udpSize, NotifyStartedFunc: notify}
	s.tcp = &dns.Server{Listener: k.tcp, Handler: s, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, NotifyStartedFunc: notify}
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		s.wg.Go(func() {
			if err := srv.ActivateAndServe(); err != nil {
				s.Logger.Error("dns server stopped", "err", err)
			}
		})
	}
	<-started // Close must not come before both serve
	<-started
	return nil
}

func (s *Server) Addr() string { return s.udp.PacketConn.LocalAddr().String() }

// Close stops serving.
func (s *Server) Close() error {
	var errs []error
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		if srv != nil {
			errs = append(errs, srv.Shutdown())
		}
	}
	s.wg.Wait()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if s.stop != nil {
		s.stop()
	}
	s.loading.Wait()
	return errors.Join(errs...)
}

// ServeDNS answers one query.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if !s.allow(w.RemoteAddr(), time.Now()) {
		return // over the rate: dropped, as a flood's replies would be
	}
	select {
	case s.busy <- struct{}{}:
		defer func() { <-s.busy }()
	default:
		// As many queries as may be are being answered: dropped, as one
		// over its source's rate is; the client asks again.
		if ok, held := s.dropped.Allow(time.Now()); ok {
			s.Logger.Warn("dns queries dropped: as many as may be are being answered at once (a flood from many sources, or a slow database); logged at most once a minute",
				"in_flight", s.MaxInFlight, "not_logged", held)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
	defer cancel()
	_, udp := w.RemoteAddr().(*net.UDPAddr)
	m := s.answer(ctx, req, udp)
	buf, err := pack(req, m, udp)
	if err != nil {
		// An answer no DNS message can carry (a name whose records the
		// DNS API's limits did not bound when they were written): a
		// client told nothing would wait and retry, so it is told the
		// server failed. The log names the question, never the records.
		var q dns.Question
		if len(req.Question) > 0 {
			q = req.Question[0]
		}
		if ok, held := s.tooLarge.Allow(time.Now()); ok {
			s.Logger.Warn("dns answer too large to send: answered SERVFAIL (logged at most once a minute)",
				"name", q.Name, "type", dns.TypeToString[q.Qtype], "err", err, "not_logged", held)
		}
		fail := new(dns.Msg)
		fail.SetRcode(req, dns.RcodeServerFailure)
		if buf, err = pack(req, fail, udp); err != nil {
			s.Logger.Warn("dns answer not sent", "err", err)
			return
		}
	}
	if _, err := w.Write(buf); err != nil {
		s.Logger.Debug("dns answer not sent", "err", err)
	}
}

// pack returns m, the answer to req, in wire form: with EDNS0 when req has
// it, truncated to what the client takes over UDP, over TCP with glue left
// out as needed (fitGlue), and an error when it is still longer than any DNS
// message may be (RFC 1035 §4.2.2: TCP's 2-byte length).
func pack(req, m *dns.Msg, udp bool) ([]byte, error) {
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(udpSize, opt.Do()) // the DO bit copied back (RFC 3225 §3); no zone here is signed
	}
	if udp {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = int(min(max(opt.UDPSize(), dns.MinMsgSize), udpSize))
		}
		m.Truncate(size)
	}
	buf, err := m.Pack()
	if err == nil && len(buf) > dns.MaxMsgSize && !udp {
		buf, err = fitGlue(m)
	}
	if err == nil && len(buf) > dns.MaxMsgSize {
		err = fmt.Errorf("answer of %d bytes, more than a DNS message's %d", len(buf), dns.MaxMsgSize)
	}
	return buf, err
}

// fitGlue packs m, a referral too long for a DNS message because of its
// glue, with as much of the glue as fits: glue is optional (a resolver
// looks the name servers up without it), so the referral goes out rather
// than SERVFAIL. The glue is taken in turns, each name server's first
// address before any one's second, so that every server keeps one address
// when they can. m's OPT record stays. Nothing is marked truncated: over
// TCP there is no larger message to retry with. When even no glue is short
// enough, m is packed without any and the caller sees the size.
func fitGlue(m *dns.Msg) ([]byte, error) {
	var opt, glue []dns.RR
	for _, rr := range m.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			opt = append(opt, rr)
		} else {
			glue = append(glue, rr)
		}
	}
	glue = inTurns(glue)
	with := func(k int) ([]byte, error) {
		m.Extra = append(slices.Clip(glue[:k]), opt...)
		return m.Pack()
	}
	// The first count of glue records too many for one message; the full
	// set is known to be.
	tooMany := sort.Search(len(glue), func(k int) bool {
		buf, err := with(k)
		return err != nil || len(buf) > dns.MaxMsgSize
	})
	return with(max(tooMany-1, 0))
}

// inTurns orders rrs by turns over their owner names, in the order the
// names first appear: each name's first record, then each one's second,
// and so on.
func inTurns(rrs []dns.RR) []dns.RR {
	var names []string
	by := map[string][]dns.RR{}
	for _, rr := range rrs {
		n := strings.ToLower(rr.Header().Name)
		if _, ok := by[n]; !ok {
			names = append(names, n)
		}
		by[n] = append(by[n], rr)
	}
	out := make([]dns.RR, 0, len(rrs))
	for i := 0; len(out) < len(rrs); i++ {
		for _, n := range names {
			if i < len(by[n]) {
				out = append(out, by[n][i])
			}
		}
	}
	return out
}

// answer makes the answer to req, which came over UDP when udp is set.
func (s *Server) answer(ctx context.Context, req *dns.Msg, udp bool) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Compress = true
	switch {
	case req.Opcode != dns.OpcodeQuery:
		m.SetRcode(req, dns.RcodeNotImplemented)
		return m
	case len(req.Question) != 1 || len(rrsOf(req.Extra, dns.TypeOPT)) > 1: // one OPT at most: RFC 6891 §6.1.1
		m.SetRcode(req, dns.RcodeFormatError)
		return m
	}
	if opt := req.IsEdns0(); opt != nil && opt.Version() != 0 {
		// RFC 6891 §6.1.3: only version 0 is known; the answer's OPT
		// (pack's) says version 0.
		m.SetRcode(req, dns.RcodeBadVers)
		return m
	}
	q := req.Question[0]
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		m.SetRcode(req, dns.RcodeRefused)
		return m
	}
	if rcode, ok := metaRcode(q.Qtype); ok {
		m.SetRcode(req, rcode)
		return m
	}
	z, found, err := s.zoneFor(ctx, q.Name)
	if err != nil {
		s.lookupFailed(err)
		m.SetRcode(req, dns.RcodeServerFailure)
		return m
	}
	if !found {
		m.SetRcode(req, dns.RcodeRefused) // not ours: no recursion either
		return m
	}
	zd, err := s.current(ctx, z)
	if err != nil {
		s.lookupFailed(err)
		m.SetRcode(req, dns.RcodeServerFailure)
		return m
	}
	m.Authoritative = true
	// A chain leaves this zone's data at a name that a zone below it, hosted
	// here too, answers for: that zone may be another account's, and its own
	// answer is the only one this server gives for the name.
	ours := func(name string) bool {
		at, found, err := s.zoneFor(ctx, name)
		return err == nil && found && at.Name == z.Name
	}
	zd.resolve(m, dns.Fqdn(q.Name), q.Qtype, ours)
	if q.Qtype == dns.TypeANY && udp {
		m.Answer = oneRRset(m.Answer)
	}
	return m
}

// zoneFor is Service.ZoneFor, one of the reads that maxReads bounds.
func (s *Server) zoneFor(ctx context.Context, name string) (z twofold.Zone, found bool, err error) {
	err = s.reading(ctx, func() (err error) {
		z, found, err = s.Service.ZoneFor(ctx, name)
		return err
	})
	return z, found, err
}

// reading runs read, a database read, once fewer than maxReads of them run,
// or fails when ctx ends first.
func (s *Server) reading(ctx context.Context, read func() error) error {
	select {
	case s.reads <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.reads }()
	return read()
}

// metaRcode returns the RCODE of a question for type t that no zone holds
// (RFC 6895 §3.1: 128 to 255 are QTYPEs and meta-types, OPT too), and
// whether t is one: zone transfers are refused (RFC 5936 §2.2.1), MAILA and
// MAILB (RFC 1035 §3.2.3, obsolete) are answered NOTIMP, and a meta-type, which lives
// only in a message, makes a malformed question (as RFC 9824 §3.5 says of
// NXNAME). ANY is answered.
func metaRcode(t uint16) (int, bool) {
	switch {
	case t == dns.TypeANY:
		return 0, false
	case t == dns.TypeAXFR || t == dns.TypeIXFR:
		return dns.RcodeRefused, true
	case t == dns.TypeMAILA || t == dns.TypeMAILB:
		return dns.RcodeNotImplemented, true
	case t == dns.TypeOPT || t >= 128 && t <= 255:
		return dns.RcodeFormatError, true
	}
	return 0, false
}

// oneRRset returns the records of rrs of the lowest type among them: a
// minimal answer to ANY over UDP (RFC 8482 §4.1), which neither amplifies a
// forged query nor costs a client that wants more than a retry over TCP,
// where ANY answers every record of the name.
func oneRRset(rrs []dns.RR) []dns.RR {
	if len(rrs) == 0 {
		return rrs
	}
	t := rrs[0].Header().Rrtype
	for _, rr := range rrs {
		t = min(t, rr.Header().Rrtype)
	}
	return rrsOf(rrs, t)
}

// lookupFailed logs err, the failure of a query's database read or zone
// load, answered SERVFAIL: at most once a logEvery, so that a flood of
// queries at a slow database neither fills the log nor hides the failure.
func (s *Server) lookupFailed(err error) {
	if ok, held := s.failed.Allow(time.Now()); ok {
		s.Logger.Error("dns lookup failed: answered SERVFAIL (logged at most once a minute)", "err", err, "not_logged", held)
	}
}

// QueriesPerSecond is how many queries one source (an IPv4 address, an IPv6
// /56) gets answered each second; more are dropped, so that a flood neither
// loads the database that sign-ins use nor is reflected at a forged source.
const QueriesPerSecond = 200

// allow counts a query from addr in the current second and reports whether
// it is within the source's rate. The counts live in this process only: a
// limit of load, not a shared security state.
func (s *Server) allow(addr net.Addr, now time.Time) bool {
	var ip net.IP
	switch a := addr.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip = a.IP
	}
	key := ip.String()
	if ip.To4() == nil && len(ip) == net.IPv6len {
		key = ip.Mask(net.CIDRMask(56, 128)).String()
	}
	sec := now.Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec != s.second {
		s.second, s.counts = sec, map[string]int{}
	}
	s.counts[key]++
	return s.counts[key] <= QueriesPerSecond
}

// The rate of each source does not bound a flood from many (forged, over
// UDP) addresses, each under its rate. Two bounds hold whatever the
// sources:
//   - DefaultMaxInFlight queries answered at once, each a goroutine with
//     its buffers; past it a query is dropped, as one over its source's
//     rate is. Queries may wait, up to half a second, for their zone's
//     records to be read again after a change, so a busy zone holds many
//     at once: the bound is one of memory, not of a normal load.
//   - maxReads database reads of queries at once (looking up a query's
//     zone, reading a zone's records), so that however many queries wait,
//     the database's connections, which sign-ins share, stay free for
//     them (SQLite has 8 for reading, PostgreSQL 32).
const (
	DefaultMaxInFlight = 4096
	maxReads           = 4
)

// maxCachedZones bounds the zones whose records the server keeps parsed;
// past it, each zone read makes room by dropping another.
const maxCachedZones = 1000

// current returns z's records as the server answers from them: kept parsed
// while z's serial, which every change moves on in the change's own
// transaction, stays the same, so that a query costs one indexed read and
// not the whole zone's, and every instance still answers from the database.
//
// When the serial has moved on, one load reads the zone again, and every
// query for the zone waits for it rather than reading the zone itself. A
// query that has waited staleAfter, or its whole time, is answered from
// the records read before, when there are any of the same zone (its serial
// tells the older answer): a moment's stale answer rather than none.
func (s *Server) current(ctx context.Context, z twofold.Zone) (*zoneData, error) {
	var (
		stale *zoneData // z's records read before, to answer from meanwhile
		late  <-chan time.Time
	)
	for {
		s.mu.Lock()
		zd := s.cache[z.Name]
		if zd.holds(z) {
			s.mu.Unlock()
			return zd, nil
		}
		l, err := s.startLoad(z)
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if zd.sameZone(z) {
			stale = zd
		}
		if stale != nil && late == nil {
			t := time.NewTimer(staleAfter)
			defer t.Stop()
			late = t.C
		}
		select {
		case <-l.done:
			switch {
			case l.err == nil && l.zd.holds(z):
				return l.zd, nil
			case l.err != nil && stale != nil:
				return stale, nil
			case l.err != nil:
				return nil, l.err
			}
			// A load of another serial ended: look again.
		case <-late:
			return stale, nil
		case <-ctx.Done():
			if stale != nil {
				return stale, nil
			}
			return nil, fmt.Errorf("dns zone %s: %w", z.Name, ctx.Err())
		}
	}
}

// startLoad returns the load of z's records running, started now when none
// is. s.mu is held.
func (s *Server) startLoad(z twofold.Zone) (*load, error) {
	if l := s.loads[z.Name]; l != nil {
		return l, nil
	}
	if s.closed {
		return nil, errors.New("dns server closed")
	}
	if s.loads == nil {
		s.loads = map[string]*load{}
	}
	l := &load{done: make(chan struct{})}
	s.loads[z.Name] = l
	s.loading.Add(1)
	go func() {
		defer s.loading.Done()
		s.load(z, l)
	}()
	return l, nil
}

// load reads z's records, of z's serial or later, parses them, keeps them
// for the queries to come, and ends l for those waiting.
func (s *Server) load(z twofold.Zone, l *load) {
	ctx, cancel := context.WithTimeout(s.base, s.Timeout)
	defer cancel()
	if s.loaded != nil {
		s.loaded(z.Name)
	}
	var recs []twofold.Record
	err := s.reading(ctx, func() (err error) {
		recs, err = s.Service.ZoneRecords(ctx, z.Name)
		return err
	})
	var zd *zoneData
	if err == nil {
		zd, err = s.zoneData(ctx, z, recs)
	}
	if err != nil {
		err = fmt.Errorf("load dns zone %s: %w", z.Name, err)
		if ok, held := s.loadFailed.Allow(time.Now()); ok {
			s.Logger.Error("dns zone not read: its queries are answered from its records read before, or SERVFAIL (logged at most once a minute)",
				"zone", z.Name, "err", err, "not_logged", held)
		}
	}
	s.mu.Lock()
	if err == nil {
		if s.cache == nil {
			s.cache = map[string]*zoneData{}
		}
		if _, ok := s.cache[z.Name]; !ok && len(s.cache) >= cmp.Or(s.maxZones, maxCachedZones) {
			// One zone makes room, at random (a map's order): emptying
			// the cache would have every zone's next query read all its
			// records again, and lose the copies a slow load falls back
			// on.
			for name := range s.cache {
				delete(s.cache, name)
				break
			}
		}
		s.cache[z.Name] = zd
	}
	delete(s.loads, z.Name)
	s.mu.Unlock()
	l.zd, l.err = zd, err
	close(l.done)
}

// zoneData is a zone's records by owner (relative, "@" for the apex), with
// the server's own SOA and NS records at the apex.
type zoneData struct {
	zone string
	// The account and time of creation of the zone read: a zone removed and
	// added again starts its serial afresh.
	owner   string
	created time.Time
	soa     *dns.SOA
	names   map[string][]dns.RR // owner → records
	exist   map[string]bool     // owners and the names between them and the apex
}

// sameZone reports whether zd was read from z, at z's serial or another:
// the same account's zone, created at the same time (a zone removed and
// added again, perhaps by another account, is another zone).
func (zd *zoneData) sameZone(z twofold.Zone) bool {
	return zd != nil && zd.owner == z.AccountID && zd.created.Equal(z.CreatedAt)
}

// holds reports whether zd answers for z as it stands: read from z at its
// serial. Any other serial, later or earlier (a database restored from a
// backup), is read again.
func (zd *zoneData) holds(z twofold.Zone) bool {
	return zd.sameZone(z) && zd.soa.Serial == z.Serial
}

// zoneData parses z's records recs, as far as ctx lets it.
func (s *Server) zoneData(ctx context.Context, z twofold.Zone, recs []twofold.Record) (*zoneData, error) {
	apex := z.Name + "."
	mbox := s.Hostmaster
	if mbox == "" {
		mbox = "hostmaster." + apex
	}
	zd := &zoneData{zone: z.Name, owner: z.AccountID, created: z.CreatedAt, names: map[string][]dns.RR{}, exist: map[string]bool{"@": true}}
	zd.soa = &dns.SOA{Hdr: dns.RR_Header{Name: apex, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ownTTL},
		Ns: s.Nameservers[0], Mbox: mbox, Serial: z.Serial, Refresh: refresh, Retry: retry, Expire: expire, Minttl: minimum}
	zd.names["@"] = append(zd.names["@"], zd.soa)
	for _, ns := range s.Nameservers {
		zd.names["@"] = append(zd.names["@"], &dns.NS{Hdr: dns.RR_Header{Name: apex, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: ownTTL}, Ns: ns})
	}
	for i, r := range recs {
		if i%256 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		owner := apex
		if r.Host != "@" {
			owner = r.Host + "." + apex
		}
		rr, err := dns.NewRR(owner + " " + strconv.FormatUint(uint64(r.TTL), 10) + " IN " + r.Type + " " + r.Data)
		if err != nil || rr == nil {
			continue // stored by an older version in a form no longer read: leave it out
		}
		if core.Unservable(rr) != "" {
			continue // stored before the API refused its bytes (NUL, escapes) or target: leave it out
		}
		zd.names[r.Host] = append(zd.names[r.Host], rr)
		for h := r.Host; h != "@"; h = parent(h) {
			zd.exist[h] = true
		}
	}
	return zd, nil
}

// parent returns the name above host, "@" above a single label. Names are
// in presentation form: an escaped dot ("\.") is inside a label, not
// between two.
func parent(host string) string {
	if i, end := dns.NextLabel(host, 0); !end {
		return host[i:]
	}
	return "@"
}

// host returns qname, a name in the zone (inZone), relative to the zone,
// cut at the label boundary above the zone's labels.
func (zd *zoneData) host(qname string) string {
	n := dns.Fqdn(strings.ToLower(qname))
	i, _ := dns.PrevLabel(n, dns.CountLabel(zd.zone+"."))
	if i == 0 {
		return "@"
	}
	return n[:i-1]
}

// resolve fills m with the answer for qname and qtype, following CNAMEs
// inside the zone: no more than maxChase, none to a name already answered
// for, so that a loop ends with each record once, and none to a name that
// ours says another zone answers for (a zone hosted here below this one).
// The RCODE is that of the chain's last name (RFC 6604 §3): NXDOMAIN when
// the chain ends at a name the zone does not have.
func (zd *zoneData) resolve(m *dns.Msg, qname string, qtype uint16, ours func(name string) bool) {
	seen := map[string]bool{}
	for depth := 0; ; depth++ {
		target, ok := zd.resolveName(m, qname, qtype)
		if !ok || depth >= maxChase || !zd.inZone(target) || !ours(target) {
			return
		}
		seen[zd.host(qname)] = true
		if seen[zd.host(target)] {
			return
		}
		qname = target
	}
}

// resolveName adds to m the answer for qname and qtype from this name
// alone; when that answer is a CNAME, it returns its target and true.
func (zd *zoneData) resolveName(m *dns.Msg, qname string, qtype uint16) (target string, cname bool) {
	h := zd.host(qname)
	// A delegation at the name or above it, below the apex: a referral.
	for d := h; d != "@"; d = parent(d) {
		if ns := rrsOf(zd.names[d], dns.TypeNS); len(ns) > 0 && !(d == h && qtype == dns.TypeDS) {
			// Not authoritative for the name asked about; for a chain's
			// CNAME before it, which is the zone's own, it is (RFC 1035
			// §4.1.1: AA is of the first owner in the answer).
			m.Authoritative = len(m.Answer) > 0
			m.Ns = append(m.Ns, ns...)
			m.Extra = append(m.Extra, zd.glue(ns)...)
			return "", false
		}
	}
	rrs, ok := zd.names[h]
	if !ok && !zd.exist[h] {
		// No such name: a wildcard at the closest encloser may stand for it (RFC 4592 §3.3.1).
		enc := parent(h)
		for !zd.exist[enc] {
			enc = parent(enc)
		}
		wild := "*"
		if enc != "@" {
			wild = "*." + enc
		}
		if rrs, ok = zd.names[wild]; !ok {
			m.Rcode = dns.RcodeNameError
			zd.negative(m)
			return "", false
		}
	}
	rrs = named(rrs, qname)
	if qtype == dns.TypeANY {
		m.Answer = append(m.Answer, rrs...)
		if len(rrs) == 0 {
			zd.negative(m)
		}
		return "", false
	}
	if ans := rrsOf(rrs, qtype); len(ans) > 0 {
		m.Answer = append(m.Answer, ans...)
		return "", false
	}
	if c := rrsOf(rrs, dns.TypeCNAME); len(c) > 0 {
		m.Answer = append(m.Answer, c...)
		return c[0].(*dns.CNAME).Target, true
	}
	zd.negative(m) // the name is there, the type is not: NODATA (RFC 2308 §2.2)
	return "", false
}

// named returns copies of rrs owned by name: a wildcard's records stand for
// the name asked, and answers spell names as the question did.
func named(rrs []dns.RR, name string) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
		out[i].Header().Name = name
	}
	return out
}

// negative puts the SOA in the authority section, its TTL no more than its
// minimum (RFC 2308 §3).
func (zd *zoneData) negative(m *dns.Msg) {
	soa := dns.Copy(zd.soa).(*dns.SOA)
	soa.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
	m.Ns = append(m.Ns, soa)
}

// inZone reports whether name falls in the zone, label by label (an
// escaped dot is inside a label).
func (zd *zoneData) inZone(name string) bool {
	return dns.IsSubDomain(zd.zone+".", dns.Fqdn(name))
}

// glue returns the addresses the zone holds of the name servers of ns.
func (zd *zoneData) glue(ns []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range ns {
		target := rr.(*dns.NS).Ns
		if !zd.inZone(target) {
			continue
		}
		rrs := zd.names[zd.host(target)]
		out = append(out, rrsOf(rrs, dns.TypeA)...)
		out = append(out, rrsOf(rrs, dns.TypeAAAA)...)
	}
	return out
}

// rrsOf returns the records of rrs of type t.
func rrsOf(rrs []dns.RR, t uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if rr.Header().Rrtype == t {
			out = append(out, rr)
		}
	}
	return out
}
