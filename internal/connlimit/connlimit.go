// Package connlimit caps the connections a listener keeps open from one
// source address, so that one machine cannot use up the server's file
// descriptors (and with them its ability to accept anyone) by opening
// connections and leaving them idle.
package connlimit

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twofold/twofold/internal/lograte"
)

// DefaultPerAddress is the default cap of connections one source address
// may hold open at once: far above what a browser (6 a host) or a busy
// client library opens, far below the process's file limit.
const DefaultPerAddress = 256

// Listener is a net.Listener that closes at once, without handing it on, a
// connection from a source that already holds Max open. The source is the
// TCP peer's address, an IPv6 peer counted per /64 (as the throttles count
// it); peers in Exempt (the trusted proxies, through which every client
// comes) are not capped.
type Listener struct {
	net.Listener
	Max    int            // 0: no cap
	Exempt []netip.Prefix // peers not capped
	Logger *slog.Logger   // nil: no log
	Name   string         // what the listener serves, for the log ("http", "dns")

	refused atomic.Uint64
	full    lograte.Limiter // at most a line a minute of accepts failing for want of a file descriptor
	mu      sync.Mutex
	open    map[string]*source
}

type source struct {
	n   int
	log lograte.Limiter // at most a line a minute of this source's refusals
}

// Refused returns how many connections were closed for being over the cap.
func (l *Listener) Refused() uint64 { return l.refused.Load() }

// Accept returns the next connection within the cap; those over it are
// closed here and not returned.
func (l *Listener) Accept() (net.Conn, error) {
	var wait time.Duration
	for {
		c, err := l.Listener.Accept()
		if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
			// Out of file descriptors: wait for some to be closed
			// rather than spin (the DNS server would retry at once)
			// or log each try.
			wait = min(max(2*wait, 5*time.Millisecond), time.Second)
			l.mu.Lock()
			l.full.Every = time.Minute
			ok, held := l.full.Allow(time.Now())
			l.mu.Unlock()
			if ok && l.Logger != nil {
				l.Logger.Warn("cannot accept connections: the process has no file descriptor left; waiting for some to close",
					"listener", l.Name, "err", err, "failures_before", held)
			}
			time.Sleep(wait)
			continue
		}
		if err != nil || l.Max <= 0 {
			return c, err
		}
		key, capped := l.key(c.RemoteAddr())
		if !capped {
			return c, nil
		}
		if l.take(key) {
			return &conn{Conn: c, l: l, key: key}, nil
		}
		c.Close()
	}
}

// key returns the source c counts under, and whether it is capped.
func (l *Listener) key(addr net.Addr) (string, bool) {
	var a netip.Addr
	switch t := addr.(type) {
	case *net.TCPAddr:
		a = t.AddrPort().Addr().Unmap()
	default:
		ap, err := netip.ParseAddrPort(addr.String())
		if err != nil {
			return addr.String(), true
		}
		a = ap.Addr().Unmap()
	}
	for _, p := range l.Exempt {
		if p.Contains(a) {
			return "", false
		}
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String(), true
	}
	return a.String(), true
}

// take counts a connection of key in, or reports false (and counts and
// may log the refusal) when key holds Max already.
func (l *Listener) take(key string) bool {
	l.mu.Lock()
	if l.open == nil {
		l.open = make(map[string]*source)
	}
	s := l.open[key]
	if s == nil {
		s = &source{log: lograte.Limiter{Every: time.Minute}}
		l.open[key] = s
	}
	if s.n < l.Max {
		s.n++
		l.mu.Unlock()
		return true
	}
	ok, held := s.log.Allow(time.Now())
	l.mu.Unlock()
	l.refused.Add(1)
	if ok && l.Logger != nil {
		l.Logger.Warn("closed a connection: its source address holds the most connections allowed (--max-conns-per-address); behind a proxy, name it with --trusted-proxy",
			"listener", l.Name, "source", key, "max", l.Max, "refused_before", held)
	}
	return false
}

// release counts a connection of key out.
func (l *Listener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.open[key]; s != nil {
		if s.n--; s.n <= 0 {
			delete(l.open, key)
		}
	}
}

// conn is a connection counted against its source until closed.
type conn struct {
	net.Conn
	l    *Listener
	key  string
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}

// CloseWrite passes on the half-close net/http uses to end a connection
// gracefully.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
