package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// forwardedElem is one element of a Forwarded header (RFC 7239 §4): what
// one proxy says of the request it received.
type forwardedElem struct {
	// hasFor reports whether the element has a for= parameter; addr is its
	// address, invalid when the node is "unknown" or obfuscated (§6.2,
	// §6.3) and so names no one.
	hasFor bool
	addr   netip.Addr
	// node is for='s node name as sent ("unknown", "_hidden"), for the log.
	node string
	// proto is proto= in lower case, host is host=; empty when not given.
	proto, host string
}

// errForwarded is wrapped by every error of parseForwarded.
var errForwarded = errors.New("malformed Forwarded header")

// parseForwarded parses the lines of the Forwarded header (RFC 7239 §4),
// strictly: each line a comma-separated list of elements (empty ones
// skipped, RFC 9110 §5.6.1), each element pairs name=value separated by
// semicolons; optional white space (spaces and tabs) around the commas and
// semicolons and at the edges of an element, as real proxies write
// "for=192.0.2.1; proto=https" although RFC 7239's grammar has none there,
// and none anywhere else (not around "="); a value a token or a quoted
// string; no parameter twice in one element; for= and by= nodes
// (§6), proto= a URI scheme and host= a host with an optional port
// (hostOnly). Parameters it does not know are skipped. The error names
// the line and byte where the header went wrong, never its content.
func parseForwarded(lines []string) ([]forwardedElem, error) {
	var elems []forwardedElem
	for n, line := range lines {
		p := &fwdParser{s: line}
		for {
			p.ows()
			if p.eof() {
				break
			}
			if p.peek() != ',' {
				e, err := p.element()
				if err != nil {
					return nil, fmt.Errorf("%w: line %d, byte %d: %v", errForwarded, n+1, p.i+1, err)
				}
				elems = append(elems, e)
				p.ows()
				if p.eof() {
					break
				}
				if p.peek() != ',' {
					return nil, fmt.Errorf("%w: line %d, byte %d: want ; or , between parameters and elements", errForwarded, n+1, p.i+1)
				}
			}
			p.i++ // the comma
		}
	}
	return elems, nil
}

// fwdParser reads one line of a Forwarded header.
type fwdParser struct {
	s string
	i int
}

func (p *fwdParser) eof() bool  { return p.i >= len(p.s) }
func (p *fwdParser) peek() byte { return p.s[p.i] }

// ows skips optional white space (RFC 9110 §5.6.3).
func (p *fwdParser) ows() {
	for !p.eof() && (p.peek() == ' ' || p.peek() == '\t') {
		p.i++
	}
}

// element reads forwarded-element = [ pair ] *( OWS ";" OWS [ pair ] ),
// the RFC 7239 §4 grammar with the white space proxies put around ";".
// The caller has skipped the white space before it; the white space after
// its last pair is left to the caller.
func (p *fwdParser) element() (forwardedElem, error) {
	var e forwardedElem
	seen := map[string]bool{}
	for {
		if !p.eof() && p.peek() != ';' && p.peek() != ',' && p.peek() != ' ' && p.peek() != '\t' {
			name := strings.ToLower(p.token())
			if name == "" {
				return e, errors.New("want a parameter name (a token)")
			}
			if p.eof() || p.peek() != '=' {
				return e, errors.New("want = after the parameter name")
			}
			p.i++
			v, err := p.value()
			if err != nil {
				return e, err
			}
			if seen[name] {
				return e, fmt.Errorf("parameter %s given twice in one element", name)
			}
			seen[name] = true
			if err := e.set(name, v); err != nil {
				return e, err
			}
		}
		start := p.i
		p.ows()
		if p.eof() || p.peek() != ';' {
			p.i = start
			return e, nil
		}
		p.i++
		p.ows()
	}
}

// set takes parameter name's value v into e, checking it.
func (e *forwardedElem) set(name, v string) error {
	switch name {
	case "for":
		a, err := forwardedNode(v)
		if err != nil {
			return fmt.Errorf("for: %v", err)
		}
		e.hasFor, e.addr, e.node = true, a, v
	case "by":
		if _, err := forwardedNode(v); err != nil {
			return fmt.Errorf("by: %v", err)
		}
	case "proto":
		if !uriScheme(v) {
			return errors.New("proto: want a URI scheme")
		}
		e.proto = strings.ToLower(v)
	case "host":
		if !hostOnly(v) {
			return errors.New("host: want a host with an optional port")
		}
		e.host = v
	}
	return nil
}

// token reads a token (RFC 9110 §5.6.2), possibly empty.
func (p *fwdParser) token() string {
	start := p.i
	for !p.eof() && tchar(p.peek()) {
		p.i++
	}
	return p.s[start:p.i]
}

// value reads a token or a quoted string (RFC 9110 §5.6.4), unquoted.
func (p *fwdParser) value() (string, error) {
	if p.eof() || p.peek() != '"' {
		if v := p.token(); v != "" {
			return v, nil
		}
		return "", errors.New("want a value (a token or a quoted string)")
	}
	p.i++
	var b strings.Builder
	for !p.eof() {
		c := p.peek()
		p.i++
		switch {
		case c == '"':
			return b.String(), nil
		case c == '\\':
			if p.eof() || !qdchar(p.peek()) && p.peek() != '"' && p.peek() != '\\' {
				return "", errors.New("a backslash in a quoted string escapes nothing allowed")
			}
			b.WriteByte(p.peek())
			p.i++
		case qdchar(c):
			b.WriteByte(c)
		default:
			return "", errors.New("a quoted string holds a character it may not")
		}
	}
	return "", errors.New("a quoted string is not closed on its line")
}

// tchar reports whether c may be in a token (RFC 9110 §5.6.2).
func tchar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// qdchar reports whether c may stand unescaped in a quoted string: qdtext
// of RFC 9110 §5.6.4 without obs-text, which no node, scheme or host holds.
func qdchar(c byte) bool {
	return c == '\t' || c == ' ' || c == 0x21 || 0x23 <= c && c <= 0x5B || 0x5D <= c && c <= 0x7E
}

// forwardedNode parses a node of for= or by= (RFC 7239 §6): an IPv4
// address, a bracketed IPv6 address, "unknown" or an obfuscated
// identifier ("_" and letters, digits, ".", "_", "-"), then optionally ":"
// and a port of at most five digits or an obfuscated one. The address is
// invalid for "unknown" and an obfuscated node.
func forwardedNode(v string) (netip.Addr, error) {
	name, port, hasPort := v, "", false
	if strings.HasPrefix(v, "[") {
		end := strings.IndexByte(v, ']')
		if end < 0 {
			return netip.Addr{}, errors.New("want ] after an IPv6 address")
		}
		name = v[:end+1]
		if rest := v[end+1:]; rest != "" {
			if rest[0] != ':' {
				return netip.Addr{}, errors.New("want : and a port after ]")
			}
			port, hasPort = rest[1:], true
		}
	} else {
		name, port, hasPort = strings.Cut(v, ":")
	}
	if hasPort && !digits(port, 5) && !obfuscated(port) {
		return netip.Addr{}, errors.New("want a port of at most five digits, or an obfuscated one")
	}
	switch {
	case strings.EqualFold(name, "unknown") || obfuscated(name):
		return netip.Addr{}, nil
	case strings.HasPrefix(name, "["):
		a, err := netip.ParseAddr(name[1 : len(name)-1])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return netip.Addr{}, errors.New("want an IPv6 address in brackets")
		}
		return a, nil
	}
	a, err := netip.ParseAddr(name)
	if err != nil || !a.Is4() {
		return netip.Addr{}, errors.New("want an IPv4 address, an IPv6 address in brackets (quoted), unknown or an obfuscated identifier")
	}
	return a, nil
}

// obfuscated reports whether s is an obfuscated node or port (RFC 7239
// §6.3): "_" then one or more letters, digits, ".", "_" or "-".
func obfuscated(s string) bool {
	if len(s) < 2 || s[0] != '_' {
		return false
	}
	for _, c := range []byte(s[1:]) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// digits reports whether s is one to most decimal digits.
func digits(s string, most int) bool {
	if s == "" || len(s) > most {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// uriScheme reports whether s is a URI scheme (RFC 3986 §3.1).
func uriScheme(s string) bool {
	if s == "" || !('a' <= s[0] && s[0] <= 'z' || 'A' <= s[0] && s[0] <= 'Z') {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// hasXForwarded reports whether h has any X-Forwarded-* header.
func hasXForwarded(h http.Header) bool {
	for k := range h {
		if strings.HasPrefix(http.CanonicalHeaderKey(k), "X-Forwarded-") {
			return true
		}
	}
	return false
}

// readForwarded replaces a trusted proxy's Forwarded header by the
// X-Forwarded-* headers it stands for, so that one trust walk
// (ClientAddr) and one reading of scheme and host (PublicURL) serve both:
// X-Forwarded-For gets every element's for= node in order (an address as
// such; "unknown", an obfuscated node, or "unknown" for an element without
// for= while another has one, each of which stops the walk), and
// X-Forwarded-Proto and X-Forwarded-Host the last element's proto= and
// host=, which the nearest proxy wrote. X-Forwarded-* wins: when h has
// any, Forwarded is removed unread, since a proxy that writes those
// commonly passes a client's own Forwarded on untouched. A malformed
// header is removed too and its error returned: the request then keeps
// the proxy's address and its own scheme and host.
func readForwarded(h http.Header) error {
	lines := h.Values("Forwarded")
	if len(lines) == 0 {
		return nil
	}
	h.Del("Forwarded")
	if hasXForwarded(h) {
		return nil
	}
	elems, err := parseForwarded(lines)
	if err != nil || len(elems) == 0 {
		return err
	}
	hops, anyFor := make([]string, len(elems)), false
	for i, e := range elems {
		switch {
		case e.addr.IsValid():
			hops[i], anyFor = e.addr.String(), true
		case e.hasFor:
			hops[i], anyFor = e.node, true
		default:
			hops[i] = "unknown"
		}
	}
	if anyFor {
		h.Set("X-Forwarded-For", strings.Join(hops, ", "))
	}
	last := elems[len(elems)-1]
	if last.proto != "" {
		h.Set("X-Forwarded-Proto", last.proto)
	}
	if last.host != "" {
		h.Set("X-Forwarded-Host", last.host)
	}
	return nil
}
