package core

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/miekg/dns"

	"github.com/twofold/twofold"
)

// Bounds of the DNS API (README "DNS API").
const (
	MinTTL       = 60      // seconds; lower TTLs only load resolvers
	MaxTTL       = 604800  // one week (RFC 8767 suggests capping there)
	DefaultTTL   = 3600    // when a record gives none
	maxData      = 2048    // bytes of one record's canonical data
	maxLine      = 4096    // bytes of one record as sent
	maxZoneLen   = 253     // a name's text length without the final dot (RFC 1035 §2.3.4)
	maxChange    = 1000    // records one request may add
	maxRecords   = 10000   // records one zone may hold
	maxZoneBytes = 4 << 20 // bytes of record data one zone may hold (README "DNS API")
	maxTXTPart   = 255     // bytes of one TXT character-string (RFC 1035 §3.3.14)
	serialWrap   = 1 << 32 // SOA serials count modulo 2^32 (RFC 1982)
)

// recordTypes are the record types the DNS API takes. SOA is the server's
// own, and NS only below the apex (delegations): the apex's come from the
// server's configuration.
var recordTypes = map[string]uint16{
	"A": dns.TypeA, "AAAA": dns.TypeAAAA, "CNAME": dns.TypeCNAME, "MX": dns.TypeMX, "NS": dns.TypeNS,
	"TXT": dns.TypeTXT, "SRV": dns.TypeSRV, "CAA": dns.TypeCAA, "SSHFP": dns.TypeSSHFP, "TLSA": dns.TypeTLSA,
	"PTR": dns.TypePTR,
}

// RecordTypes lists the record types the DNS API takes, sorted.
func RecordTypes() []string {
	out := make([]string, 0, len(recordTypes))
	for t := range recordTypes {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// NormalizeZoneName returns a zone name lower case without the trailing
// dot, or an invalid error: a zone is a domain name of at least two labels
// of letters, digits and hyphens (RFC 1123 §2.1).
func NormalizeZoneName(name string) (string, error) {
	n := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
	if n == "" || len(n) > maxZoneLen {
		return "", twofold.Errorf(twofold.CodeInvalid, "zone name %q is not a domain name", CleanText(name, 80))
	}
	// Each label is checked before their count, so that a name that is
	// no domain name at all ("my zone!") is told what is wrong with it.
	labels := strings.Split(n, ".")
	for _, l := range labels {
		if !validLabel(l, false) {
			return "", twofold.Errorf(twofold.CodeInvalid, "zone name %q: label %q is not letters, digits and inner hyphens of at most 63 characters", CleanText(name, 80), CleanText(l, 64))
		}
	}
	if len(labels) < 2 {
		return "", twofold.Errorf(twofold.CodeInvalid, "zone name %q needs at least two labels, such as example.com", CleanText(name, 80))
	}
	return n, nil
}

// validLabel reports whether l is a label of 1 to 63 letters, digits and
// inner hyphens (and, with underscore, underscores anywhere, as service
// names such as _acme-challenge and _443._tcp have).
func validLabel(l string, underscore bool) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, c := range l {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || underscore && c == '_') {
			return false
		}
	}
	return true
}

// NormalizeHost returns host relative to zone, lower case, "@" for the apex:
// labels of letters, digits, hyphens and underscores, the first of them
// possibly "*" (a wildcard, RFC 4592). A fully qualified host (ending in a
// dot) must fall in the zone.
func NormalizeHost(zone, host string) (string, error) {
	h := strings.ToLower(strings.TrimSpace(host))
	if fq, ok := strings.CutSuffix(h, "."); ok {
		switch {
		case fq == zone:
			return "@", nil
		case strings.HasSuffix(fq, "."+zone):
			h = strings.TrimSuffix(fq, "."+zone)
		default:
			return "", twofold.Errorf(twofold.CodeInvalid, "host %q is not in zone %s", CleanText(host, 80), zone)
		}
	}
	if h == "@" {
		return h, nil
	}
	if h == "" || len(h)+1+len(zone) > maxZoneLen {
		return "", twofold.Errorf(twofold.CodeInvalid, "host %q is not a name in zone %s: give a name relative to the zone, or @ for the zone itself", CleanText(host, 80), zone)
	}
	for i, l := range strings.Split(h, ".") {
		if i == 0 && l == "*" {
			continue
		}
		if !validLabel(l, true) {
			return "", twofold.Errorf(twofold.CodeInvalid, "host %q: label %q is not letters, digits, hyphens and underscores of at most 63 characters", CleanText(host, 80), CleanText(l, 64))
		}
	}
	return h, nil
}

// NormalizeType returns a supported record type, upper case.
func NormalizeType(typ string) (string, error) {
	t := strings.ToUpper(strings.TrimSpace(typ))
	if _, ok := recordTypes[t]; !ok {
		return "", twofold.Errorf(twofold.CodeInvalid, "record type %q is not supported: use one of %s", CleanText(typ, 16), strings.Join(RecordTypes(), ", "))
	}
	return t, nil
}

// RecordInput is a record as a client sends it: the host relative to the
// zone (or fully qualified in it), the type, the TTL in seconds, and the
// data in presentation form, names relative to the zone or fully qualified.
// The TTL is MinTTL to MaxTTL: a reader of a client's input fills in
// DefaultTTL when the client left it out, so that an explicit 0 is refused
// as 5 is, never taken for the default.
type RecordInput struct {
	Host string
	Type string
	TTL  int
	Data string
}

// ParseRecord checks in and returns it in canonical form (see
// twofold.Record), or an invalid error saying what is wrong, marked with
// the field it refuses as the DNS API's JSON record names it ("host",
// "type", "ttl", "data").
func ParseRecord(zone string, in RecordInput) (twofold.Record, error) {
	host, err := NormalizeHost(zone, in.Host)
	if err != nil {
		return twofold.Record{}, inField("host", err)
	}
	typ, err := NormalizeType(in.Type)
	if err != nil {
		return twofold.Record{}, inField("type", err)
	}
	ttl := in.TTL
	if ttl < MinTTL || ttl > MaxTTL {
		return twofold.Record{}, twofold.Errorf(twofold.CodeInvalid, "the TTL of %s %s must be %d to %d seconds, not %d", host, typ, MinTTL, MaxTTL, ttl).On("ttl")
	}
	r, err := parseData(zone, host, typ, ttl, in.Data)
	return r, inField("data", err)
}

// parseData returns the record of zone at host of type typ and ttl (all
// checked) with data, in canonical form, or an invalid error saying what
// is wrong with data.
func parseData(zone, host, typ string, ttl int, data string) (twofold.Record, error) {
	data = strings.TrimSpace(data)
	switch {
	case data == "":
		return twofold.Record{}, twofold.Errorf(twofold.CodeInvalid, "%s %s: data is empty", host, typ)
	case len(data) > maxLine:
		return twofold.Record{}, twofold.Errorf(twofold.CodeInvalid, "%s %s: data is longer than %d bytes", host, typ, maxLine)
	case strings.ContainsAny(data, "\r\n"):
		return twofold.Record{}, twofold.Errorf(twofold.CodeInvalid, "%s %s: data must be one line", host, typ)
	}
	var err error
	var rr dns.RR
	if typ == "TXT" && !strings.HasPrefix(data, `"`) {
		// Text as such, as the Mythic Beasts API and lego send it: every
		// byte is itself, a backslash too.
		rr = textTXT(data)
	} else {
		rr, err = parseRR(zone, fqdn(zone, host)+" "+strconv.Itoa(ttl)+" IN "+typ+" "+data)
		if err != nil {
			return twofold.Record{}, twofold.Errorf(twofold.CodeInvalid, "%s %s: %s", host, typ, twofold.ErrorMessage(err))
		}
		if dns.TypeToString[rr.Header().Rrtype] != typ {
			return twofold.Record{}, twofold.Errorf(twofold.CodeInvalid, "%s %s: data is not one %s record", host, typ, typ)
		}
	}
	*rr.Header() = dns.RR_Header{Name: fqdn(zone, host), Rrtype: recordTypes[typ], Class: dns.ClassINET, Ttl: uint32(ttl)}
	return canonical(zone, rr)
}

// parseRR parses one record in zone-file form with zone as the origin.
func parseRR(zone, line string) (dns.RR, error) {
	zp := dns.NewZoneParser(strings.NewReader(line), dns.Fqdn(zone), "")
	rr, ok := zp.Next()
	if err := zp.Err(); err != nil {
		return nil, twofold.Errorf(twofold.CodeInvalid, "%s", CleanText(parseMessage(err, false), 300))
	}
	if !ok {
		return nil, twofold.Errorf(twofold.CodeInvalid, "no record in %q", CleanText(line, 80))
	}
	if _, more := zp.Next(); more {
		return nil, twofold.Errorf(twofold.CodeInvalid, "more than one record in %q", CleanText(line, 80))
	}
	return rr, nil
}

// parseMessage returns the parser's complaint in words a person who has
// not read the parser can act on, without the position, which is of the
// line the parser was given; withType names the record's type in it, for
// a message that does not already.
func parseMessage(err error, withType bool) string {
	msg := strings.TrimPrefix(err.Error(), "dns: ")
	var pe *dns.ParseError
	if errors.As(err, &pe) {
		msg, _, _ = strings.Cut(strings.TrimPrefix(pe.Error(), "dns: "), " at line: ")
	}
	return plainParseMessage(msg, withType)
}

// dataField says what one field of a record's data is and what it must be;
// quote is false where the parser's token is not the field's own text.
type dataField struct {
	what, want string
	quote      bool
}

const (
	wantName   = "a domain name, such as host.example.net."
	wantUint16 = "a whole number from 0 to 65535"
	wantUint8  = "a whole number from 0 to 255"
	wantHex    = "hexadecimal digits"
)

// dataFields are the fields the parser names in "bad TYPE Field" for the
// record types the DNS API takes.
var dataFields = map[string]dataField{
	"A A":               {"address", "an IPv4 address, such as 192.0.2.1", true},
	"AAAA AAAA":         {"address", "an IPv6 address, such as 2001:db8::1", true},
	"CNAME Target":      {"target", wantName, true},
	"NS Ns":             {"name server", wantName, true},
	"PTR Ptr":           {"name", wantName, true},
	"MX Pref":           {"preference", wantUint16 + ", before the mail server's name", true},
	"MX Mx":             {"mail server", wantName, true},
	"SRV Priority":      {"priority", wantUint16, true},
	"SRV Weight":        {"weight", wantUint16, true},
	"SRV Port":          {"port", wantUint16, true},
	"SRV Target":        {"target", wantName + ", or . for none", true},
	"CAA Flag":          {"flags byte", wantUint8, true},
	"CAA Tag":           {"tag", "letters and digits, such as issue", true},
	"CAA Value":         {"value", `one quoted string after the tag, such as "letsencrypt.org"`, false},
	"TXT Txt":           {"text", `strings each closed on the line, such as "v=spf1 -all"`, false},
	"SSHFP Algorithm":   {"algorithm", wantUint8, true},
	"SSHFP Type":        {"fingerprint type", wantUint8, true},
	"SSHFP Fingerprint": {"fingerprint", wantHex, true},
	"TLSA Usage":        {"certificate usage", wantUint8, true},
	"TLSA Selector":     {"selector", wantUint8, true},
	"TLSA MatchingType": {"matching type", wantUint8, true},
	"TLSA Certificate":  {"certificate association data", wantHex, true},
}

// plainParseMessage rewrites the parser's "bad A A: \"x\"" and "garbage
// after rdata: \"x\"" as sentences, naming the record's type if withType;
// other messages pass as they are.
func plainParseMessage(msg string, withType bool) string {
	head, quoted, ok := strings.Cut(msg, ": ")
	if !ok {
		return msg
	}
	token, err := strconv.Unquote(quoted)
	if err != nil {
		return msg
	}
	token = strings.TrimSpace(token)
	if head == "garbage after rdata" {
		return fmt.Sprintf("%q is more than the record's data: give each field once, separated by spaces", token)
	}
	typeField, ok := strings.CutPrefix(head, "bad ")
	f, known := dataFields[typeField]
	if !ok || !known {
		return msg
	}
	what := "the " + f.what
	if withType {
		typ, _, _ := strings.Cut(typeField, " ")
		what = "the " + typ + " record's " + f.what
	}
	switch {
	case !f.quote:
		return fmt.Sprintf("%s is not %s", what, f.want)
	case token == "":
		return fmt.Sprintf("%s is missing: give %s", what, f.want)
	default:
		return fmt.Sprintf("%s %q is not %s", what, token, f.want)
	}
}

// canonical returns rr as a record of zone: names in its data lower case,
// hexadecimal lower case, and its data checked.
func canonical(zone string, rr dns.RR) (twofold.Record, error) {
	h := rr.Header()
	host := relative(zone, h.Name)
	typ := dns.TypeToString[h.Rrtype]
	bad := func(format string, args ...any) (twofold.Record, error) {
		return twofold.Record{}, twofold.Errorf(twofold.CodeInvalid, "%s %s: %s", host, typ, fmt.Sprintf(format, args...))
	}
	switch r := rr.(type) {
	case *dns.A:
		if r.A == nil || r.A.To4() == nil {
			return bad("want an IPv4 address")
		}
	case *dns.AAAA:
		if r.AAAA == nil {
			return bad("want an IPv6 address")
		}
	case *dns.CNAME:
		r.Target = dns.CanonicalName(r.Target)
		if why := badTarget(r.Target, true, false); why != "" {
			return bad("target: %s", why)
		}
	case *dns.NS:
		r.Ns = dns.CanonicalName(r.Ns)
		if why := badTarget(r.Ns, false, false); why != "" {
			return bad("name server: %s", why)
		}
	case *dns.PTR:
		r.Ptr = dns.CanonicalName(r.Ptr)
		if why := badTarget(r.Ptr, true, false); why != "" {
			return bad("target: %s", why)
		}
	case *dns.MX:
		r.Mx = dns.CanonicalName(r.Mx)
		if why := badTarget(r.Mx, false, true); why != "" { // "." is a null MX (RFC 7505)
			return bad("mail server: %s", why)
		}
	case *dns.SRV:
		r.Target = dns.CanonicalName(r.Target)
		if why := badTarget(r.Target, false, true); why != "" { // "." is no such service (RFC 2782)
			return bad("target: %s", why)
		}
	case *dns.CAA:
		r.Tag = strings.ToLower(r.Tag)
		if !validCAATag(r.Tag) {
			return bad("CAA tag %q is not letters and digits (RFC 8659 §4.1)", CleanText(r.Tag, 32))
		}
		// The value is checked as TXT's text is, escapes undone: the
		// values of RFC 8659's properties are printable, and a NUL or an
		// escape sequence would reach terminals and logs as such.
		if why := badEscape(r.Value); why != "" {
			return bad("CAA value: %s", why)
		}
		if why := badText(unescapeTXT(r.Value)); why != "" {
			return bad("CAA value: %s", why)
		}
	case *dns.SSHFP:
		// Fingerprint types (RFC 4255, RFC 6594): 1 SHA-1, 2 SHA-256; 0 is
		// reserved and the others are unassigned, so of no known length.
		r.FingerPrint = strings.ToUpper(r.FingerPrint) // as miekg/dns prints it
		want, ok := map[uint8]int{1: 40, 2: 64}[r.Type]
		if !ok {
			return bad("fingerprint type %d is not 1 (SHA-1) or 2 (SHA-256)", r.Type)
		}
		if _, err := hex.DecodeString(r.FingerPrint); err != nil || len(r.FingerPrint) != want {
			return bad("fingerprint must be %d hexadecimal digits for fingerprint type %d (SHA-1: 40, SHA-256: 64)", want, r.Type)
		}
	case *dns.TLSA:
		// Matching types (RFC 6698 §2.1.3): 0 the full data, 1 its SHA-256,
		// 2 its SHA-512.
		r.Certificate = strings.ToLower(r.Certificate)
		want, ok := map[uint8]int{0: 0, 1: 64, 2: 128}[r.MatchingType]
		if !ok {
			return bad("matching type %d is not 0 (full), 1 (SHA-256) or 2 (SHA-512)", r.MatchingType)
		}
		if _, err := hex.DecodeString(r.Certificate); err != nil || r.Certificate == "" || want != 0 && len(r.Certificate) != want {
			return bad("certificate association data must be hexadecimal of the matching type's length (full: any, SHA-256: 64, SHA-512: 128 digits)")
		}
	case *dns.TXT:
		if len(r.Txt) == 0 {
			return bad("no text")
		}
		// The strings joined are the text the JSON form gives: UTF-8
		// (which JSON carries) without control characters, whether sent
		// as such or as \DDD escapes (\155 alone, a C1 control's byte, is
		// not UTF-8). A character may straddle two strings.
		for _, p := range r.Txt {
			if why := badEscape(p); why != "" {
				return bad("%s", why)
			}
		}
		if why := badText(txtBytes(r.Txt)); why != "" {
			return bad("%s", why)
		}
	}
	data := strings.TrimPrefix(rr.String(), h.String())
	if len(data) > maxData {
		return bad("data is longer than %d bytes", maxData)
	}
	return twofold.Record{Host: host, Type: typ, TTL: h.Ttl, Data: data}, nil
}

// Unservable returns why a stored record, parsed, must not be served: ""
// unless its text (TXT, CAA) holds what badText refuses, as the bytes
// miekg/dns puts on the wire, or its target (CNAME, NS, PTR, MX, SRV) is
// not a host name (badTarget). ParseRecord refuses both; records stored
// before it did may hold them, and a name server that served them would
// hand NUL and terminal escapes to whoever asks (README "DNS API").
func Unservable(rr dns.RR) string {
	switch r := rr.(type) {
	case *dns.TXT:
		return badText(txtBytes(r.Txt))
	case *dns.CAA:
		return badText(unescapeTXT(r.Value))
	case *dns.CNAME:
		return badTarget(dns.CanonicalName(r.Target), true, false)
	case *dns.PTR:
		return badTarget(dns.CanonicalName(r.Ptr), true, false)
	case *dns.NS:
		return badTarget(dns.CanonicalName(r.Ns), false, false)
	case *dns.MX:
		return badTarget(dns.CanonicalName(r.Mx), false, true)
	case *dns.SRV:
		return badTarget(dns.CanonicalName(r.Target), false, true)
	}
	return ""
}

// badTarget returns what is wrong with name, the fully qualified target of
// a CNAME, NS, PTR, MX or SRV record in presentation form: "" when its
// labels follow the rule of hosts (validLabel: letters, digits and inner
// hyphens; underscores too where underscore is set, as a CNAME to a DKIM
// key or a PTR of DNS service discovery need), no wildcard, or when it is
// the root and root is set. A target with any other byte (\000, a space,
// an escaped dot) would be served, and shown, as other than it reads.
func badTarget(name string, underscore, root bool) string {
	if name == "." {
		if root {
			return ""
		}
		return "the root \".\" names no host"
	}
	if len(name)-1 > maxZoneLen {
		return fmt.Sprintf("%q is longer than %d characters", CleanText(name, 80), maxZoneLen)
	}
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if !validLabel(l, underscore) {
			what := "letters, digits and inner hyphens"
			if underscore {
				what = "letters, digits, inner hyphens and underscores"
			}
			return fmt.Sprintf("%q: label %q is not %s of at most 63 characters", CleanText(name, 80), CleanText(l, 64), what)
		}
	}
	return ""
}

// badText returns what is wrong with the text of a TXT record or the value
// of a CAA record, its escapes undone: "" when it is UTF-8 without control
// characters, which would reach terminals and logs as such.
func badText(text []byte) string {
	if !utf8.Valid(text) {
		return "text must be UTF-8 (\\DDD escapes too: bytes 128 to 255 only as parts of UTF-8 characters)"
	}
	if bytes.IndexFunc(text, unicode.IsControl) >= 0 {
		return "text must not hold control characters (line breaks, tabs, NUL, escapes such as \\010)"
	}
	return ""
}

func validCAATag(tag string) bool {
	if tag == "" || len(tag) > 15 {
		return false
	}
	for _, c := range tag {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// splitTXT cuts text into character-strings of at most 255 bytes.
func splitTXT(text string) []string {
	var out []string
	for len(text) > maxTXTPart {
		out = append(out, text[:maxTXTPart])
		text = text[maxTXTPart:]
	}
	return append(out, text)
}

// textTXT returns a TXT record of text as such, cut into character-strings
// of at most 255 bytes. miekg/dns keeps each string in escaped form, where
// a backslash starts an escape: so a backslash of the text is written \\,
// and a quote \" (as it prints them).
func textTXT(text string) *dns.TXT {
	parts := splitTXT(text)
	for i, p := range parts {
		parts[i] = txtEscaper.Replace(p)
	}
	return &dns.TXT{Txt: parts}
}

var txtEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// txtBytes returns the bytes of character-strings in escaped form, joined.
func txtBytes(parts []string) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, unescapeTXT(p)...)
	}
	return out
}

// unescapeTXT returns the bytes of a TXT character-string (or a CAA value)
// in the escaped form miekg/dns keeps it in, the bytes it puts on the wire
// (RFC 1035 §5.1): \DDD is the byte of that decimal value, a backslash
// before any other character is that character, a backslash at the end is
// nothing. As miekg/dns does, a \DDD above 255 is its value modulo 256
// (\411 is byte 155): badEscape refuses those, and records stored before
// it did may hold them.
func unescapeTXT(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		switch {
		case i == len(s):
		case isDDD(s[i:]):
			out = append(out, byte(ddd(s[i:])))
			i += 2
		default:
			out = append(out, s[i])
		}
	}
	return out
}

// badEscape returns what is wrong with the escapes of a TXT
// character-string or a CAA value in escaped form: "" unless a \DDD is
// above 255, which names no byte (RFC 1035 §5.1) and which miekg/dns would
// serve as another byte, its value modulo 256, than the one checked.
func badEscape(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		i++
		if isDDD(s[i:]) {
			if n := ddd(s[i:]); n > 255 {
				return fmt.Sprintf("escape \\%03d is above 255: a \\DDD escape is one byte, 000 to 255", n)
			}
			i += 2
		}
	}
	return ""
}

// isDDD reports whether s starts with three decimal digits.
func isDDD(s string) bool { return len(s) >= 3 && isDigit(s[0]) && isDigit(s[1]) && isDigit(s[2]) }

// ddd returns the value of the three decimal digits s starts with.
func ddd(s string) int { return int(s[0]-'0')*100 + int(s[1]-'0')*10 + int(s[2]-'0') }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// TXTText returns a TXT record's canonical data as the JSON form gives it,
// the form the Mythic Beasts API speaks: its text, the character-strings
// joined and unescaped, when ParseRecord reads that text back as the same
// record; else the data itself, quoted strings in zone-file form: for
// text that is empty, starts with a quote, a space or another character
// ParseRecord trims, is cut other than every 255 bytes, or holds what
// ParseRecord refuses, as records stored before its checks may.
func TXTText(data string) string {
	rr, err := dns.NewRR(". 60 IN TXT " + data)
	if err != nil {
		return data
	}
	parts := rr.(*dns.TXT).Txt
	text := string(txtBytes(parts))
	if text == "" || strings.HasPrefix(text, `"`) || strings.TrimSpace(text) != text || len(text) > maxLine ||
		!utf8.ValidString(text) || strings.IndexFunc(text, unicode.IsControl) >= 0 {
		return data
	}
	cut := splitTXT(text)
	if len(cut) != len(parts) {
		return data
	}
	for i, p := range parts {
		if string(unescapeTXT(p)) != cut[i] {
			return data
		}
	}
	return text
}

// fqdn returns the fully qualified name of host in zone.
func fqdn(zone, host string) string {
	if host == "@" {
		return zone + "."
	}
	return host + "." + zone + "."
}

// relative returns name (fully qualified) relative to zone, "@" for the apex.
func relative(zone, name string) string {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if name == zone {
		return "@"
	}
	return strings.TrimSuffix(name, "."+zone)
}

// ParseZoneText reads records in zone-file form (RFC 1035 §5.1), one a
// line, names relative to zone; a line without a TTL takes DefaultTTL.
// Directives ($ORIGIN, $INCLUDE, $GENERATE, $TTL) are refused, and so is a
// record outside the zone.
func ParseZoneText(zone, text string) ([]twofold.Record, error) {
	var out []twofold.Record
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, ";") {
			continue
		}
		if strings.HasPrefix(trimmed, "$") {
			return nil, twofold.Errorf(twofold.CodeInvalid, "line %d: directives such as $ORIGIN are not accepted; write one record a line", n+1)
		}
		if len(line) > maxLine {
			return nil, twofold.Errorf(twofold.CodeInvalid, "line %d is longer than %d bytes", n+1, maxLine)
		}
		if len(out) >= maxChange {
			return nil, twofold.Errorf(twofold.CodeInvalid, "at most %d records at once", maxChange)
		}
		if line[0] == ' ' || line[0] == '\t' {
			// A zone file's line that starts blank takes the name above
			// it; here every line stands alone, so it has none.
			return nil, twofold.Errorf(twofold.CodeInvalid, "line %d starts with a space or tab: give the record's name first (@ for the apex)", n+1)
		}
		zp := dns.NewZoneParser(strings.NewReader(line), dns.Fqdn(zone), "")
		zp.SetDefaultTTL(DefaultTTL)
		rr, ok := zp.Next()
		if err := zp.Err(); err != nil {
			return nil, twofold.Errorf(twofold.CodeInvalid, "line %d: %s", n+1, CleanText(parseMessage(err, true), 300))
		}
		if !ok {
			continue
		}
		if _, more := zp.Next(); more {
			return nil, twofold.Errorf(twofold.CodeInvalid, "line %d: one record a line", n+1)
		}
		if c := rr.Header().Class; c != dns.ClassINET {
			// The name server answers class IN only: a record of
			// another class (CH, HS) stored as IN would mean another.
			return nil, twofold.Errorf(twofold.CodeInvalid, "line %d: class %s is not served here: give IN or no class", n+1, dns.Class(c))
		}
		name := strings.ToLower(rr.Header().Name)
		if name != zone+"." && !strings.HasSuffix(name, "."+zone+".") {
			return nil, twofold.Errorf(twofold.CodeInvalid, "line %d: %s is not in zone %s", n+1, CleanText(rr.Header().Name, 80), zone)
		}
		typ, known := dns.TypeToString[rr.Header().Rrtype]
		if !known {
			// TYPE65534 and the like: named by number, as it was given.
			typ = dns.Type(rr.Header().Rrtype).String()
		}
		data := strings.TrimPrefix(rr.String(), rr.Header().String())
		r, err := ParseRecord(zone, RecordInput{Host: relative(zone, name), Type: typ, TTL: int(rr.Header().Ttl), Data: data})
		if err != nil {
			return nil, twofold.Errorf(twofold.ErrorCode(err), "line %d: %s", n+1, twofold.ErrorMessage(err))
		}
		out = append(out, r)
	}
	return out, nil
}

// FormatZoneText writes records in zone-file form, one a line, names
// relative to their zone: "www 3600 A 192.0.2.1".
func FormatZoneText(recs []twofold.Record) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "%s %d %s %s\n", r.Host, r.TTL, r.Type, r.Data)
	}
	return b.String()
}
