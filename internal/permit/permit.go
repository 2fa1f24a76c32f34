// Package permit parses API-key permits, matches them against what a request
// asks, and tells whether one set of permits stays within another (SPEC §1
// story 6). Pure functions, standard library only.
//
// A permit names a service, a resource pattern and actions. A pattern is the
// service's resource path, segments split by "/"; each segment is a literal
// (compared ignoring case), "*" (anything), or a prefix ending in "*"
// ("_acme-challenge*" matches "_acme-challenge" and "_acme-challenge.www").
// Segments left off at the end match anything: "example.com" is every record
// of the zone. Actions are read and write; a DNS permit may also hold one
// part of write alone (add, replace, delete: one request of the DNS API each).
package permit

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/twofold/twofold"
)

// Services and their actions.
const (
	// DNS is the DNS API; its resources are ZONE/NAME/TYPE, NAME relative to
	// the zone with "@" for the apex, TYPE a record type such as TXT.
	DNS = "dns"
	// Account is the key's own account: reading its profile and events,
	// read only (Normalize refuses write).
	Account = "account"
	// Keys is managing API keys: reading them, and making and revoking keys
	// that stay within the maker's own permits.
	Keys = "keys"
	// Admin is the operator API (/v1/admin): its resources are the kinds
	// of things an operator manages, AdminResources. Only an operator may
	// make a key with an admin permit, and it grants nothing once its
	// owner is no longer one (internal/core checks both).
	Admin = "admin"

	Read  = "read"
	Write = "write"

	// Add, Replace and Delete are the parts of Write on the DNS service,
	// one request of the DNS API each: POST adds records, PUT replaces a
	// set, DELETE removes records. A permit with one of them allows that
	// request only (an OpenStack access rule names one method); Write
	// stands for all three.
	Add     = "add"
	Replace = "replace"
	Delete  = "delete"
)

// writeParts are the actions Write stands for on the DNS service.
var writeParts = []string{Add, Replace, Delete}

// has reports whether actions, a permit's, include action: itself, or
// Write when action is one of its parts, or every part when action is
// Write.
func has(actions []string, action string) bool {
	switch {
	case slices.Contains(actions, action):
		return true
	case slices.Contains(writeParts, action):
		return slices.Contains(actions, Write)
	case action == Write:
		return !slices.ContainsFunc(writeParts, func(a string) bool { return !slices.Contains(actions, a) })
	}
	return false
}

type service struct {
	segments int                          // most segments a resource has
	check    func(i int, seg string) bool // whether seg may stand at position i
}

var services = map[string]service{
	DNS:     {segments: 3, check: dnsSegment},
	Account: {segments: 1, check: func(_ int, seg string) bool { return seg == "*" }},
	Keys:    {segments: 1, check: func(_ int, seg string) bool { return seg == "*" }},
	Admin:   {segments: 1, check: func(_ int, seg string) bool { return seg == "*" || slices.Contains(AdminResources, seg) }},
}

// AdminResources are the resources of the Admin service: accounts, teams,
// the audit log of every account, the resets of two-factor waiting, and
// the webhooks the audit log is pushed to.
var AdminResources = []string{"users", "teams", "events", "resets", "webhooks"}

// AdminReadOnly are the AdminResources the operator API only reads: a
// write permit for one would grant nothing, so none is made.
var AdminReadOnly = []string{"teams", "events"}

// Grants reports whether one of ps names service, whatever its resource
// and actions.
func Grants(ps []twofold.Permit, service string) bool {
	return slices.ContainsFunc(ps, func(p twofold.Permit) bool { return p.Service == service })
}

// Services lists the services a permit can name, sorted.
func Services() []string {
	names := make([]string, 0, len(services))
	for n := range services {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// dnsSegment reports whether seg may stand at position i of a DNS resource:
// a zone, a name relative to it, a record type, each possibly a prefix
// pattern. A zone or name has no empty label: none begins with a dot or
// holds two together, and only a prefix ends with one ("_acme-challenge.*"),
// so that what Normalize makes of a segment it makes again of that.
func dnsSegment(i int, seg string) bool {
	lit := strings.TrimSuffix(seg, "*")
	if strings.Contains(lit, "*") || len(seg) > 253 {
		return false
	}
	if i < 2 && (strings.HasPrefix(lit, ".") || strings.Contains(lit, "..") || lit == seg && strings.HasSuffix(lit, ".")) {
		return false
	}
	for _, c := range lit {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		switch i {
		case 1:
			ok = ok || c == '@' && seg == "@"
		case 2:
			ok = c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		}
		if !ok {
			return false
		}
	}
	return true
}

// relativeName returns a DNS permit's name part written fully qualified
// (fq, ending in a dot, as the DNS API takes a host) relative to its zone,
// "@" for the apex; else it refuses it. Without this a dotted name would be
// read as relative, www.example.com. as www.example.com.example.com: a
// permit for a record no one meant, granting nothing the user expected.
func relativeName(zone, fq string) (string, error) {
	n := strings.TrimSuffix(fq, ".")
	switch {
	case strings.Contains(zone, "*") || strings.Contains(n, "*"):
		return "", twofold.Errorf(twofold.CodeInvalid, "name part %q ends with a dot (a fully qualified name), which only a literal name in a literal zone may: write the name relative to the zone, such as %q", truncate(fq), "_acme-challenge").On("resource")
	case n == zone:
		return "@", nil
	case strings.HasSuffix(n, "."+zone):
		return strings.TrimSuffix(n, "."+zone), nil
	}
	return "", twofold.Errorf(twofold.CodeInvalid, "name part %q ends with a dot (a fully qualified name) but is not in zone %q: write the name relative to the zone, such as %q", truncate(fq), zone, "_acme-challenge").On("resource")
}

// Normalize checks p and returns it in canonical form: lower-case service,
// resource with the zone and name lower-cased and the type upper-cased,
// trailing "*" segments dropped, actions sorted without repeats, and the
// three parts of write (add, replace, delete) written as write when all
// are there or write is. An empty resource is refused ("*" must be
// written). A problem is an invalid error saying what is wrong.
func Normalize(p twofold.Permit) (twofold.Permit, error) {
	name := strings.ToLower(strings.TrimSpace(p.Service))
	svc, ok := services[name]
	if !ok {
		return p, twofold.Errorf(twofold.CodeInvalid, "unknown service %q: use one of %s", truncate(p.Service), strings.Join(Services(), ", ")).On("service")
	}
	// No resource is refused, never read as "*": a script that builds
	// "resource":"$ZONE" from an unset variable must not get a key for
	// every zone. Every resource is "*", written out.
	res := strings.TrimSpace(p.Resource)
	if res == "" {
		if ex := example(name); ex != "*" {
			return p, twofold.Errorf(twofold.CodeInvalid, "a permit needs a resource: a pattern such as %q, or %q for every resource of service %s", ex, "*", name).On("resource")
		}
		return p, twofold.Errorf(twofold.CodeInvalid, "a permit needs a resource: %q for service %s", "*", name).On("resource")
	}
	segs := strings.Split(res, "/")
	if len(segs) > svc.segments {
		return p, twofold.Errorf(twofold.CodeInvalid, "resource %q has more than %d parts for service %s", truncate(res), svc.segments, name).On("resource")
	}
	for i, seg := range segs {
		switch {
		case name == DNS && i == 2:
			seg = strings.ToUpper(seg)
		case name == DNS && i == 1 && strings.HasSuffix(seg, "."):
			rel, err := relativeName(segs[0], strings.ToLower(seg))
			if err != nil {
				return p, err
			}
			seg = rel
		case name == DNS:
			seg = strings.TrimSuffix(strings.ToLower(seg), ".")
		case name == Admin:
			seg = strings.ToLower(seg)
		}
		if seg == "" || !svc.check(i, seg) {
			return p, twofold.Errorf(twofold.CodeInvalid, "resource %q: part %q is not a valid pattern for service %s", truncate(res), truncate(seg), name).On("resource")
		}
		segs[i] = seg
	}
	for len(segs) > 1 && segs[len(segs)-1] == "*" {
		segs = segs[:len(segs)-1]
	}
	if len(p.Actions) == 0 {
		return p, twofold.Errorf(twofold.CodeInvalid, "a permit needs at least one action: read or write").On("actions")
	}
	actions := make([]string, 0, len(p.Actions))
	for _, a := range p.Actions {
		a = strings.ToLower(strings.TrimSpace(a))
		switch {
		case a == Read || a == Write:
		case slices.Contains(writeParts, a) && name == DNS:
		case slices.Contains(writeParts, a):
			return p, twofold.Errorf(twofold.CodeInvalid, "action %q is for service %s only: use read or write", a, DNS).On("actions")
		case name == DNS:
			return p, twofold.Errorf(twofold.CodeInvalid, "unknown action %q: use read, write, or one part of write: add, replace, delete", truncate(a)).On("actions")
		default:
			return p, twofold.Errorf(twofold.CodeInvalid, "unknown action %q: use read or write", truncate(a)).On("actions")
		}
		actions = append(actions, a)
	}
	if has(actions, Write) { // the parts of write are written as write
		actions = slices.DeleteFunc(actions, func(a string) bool { return slices.Contains(writeParts, a) })
		actions = append(actions, Write)
	}
	slices.Sort(actions)
	if name == Admin && slices.Contains(AdminReadOnly, segs[0]) && slices.Contains(actions, Write) {
		return p, twofold.Errorf(twofold.CodeInvalid, "the operator API changes nothing under %q: use read", segs[0]).On("actions")
	}
	// No route lets a key change its own account (its password, email,
	// two-factor and sessions are a person's to change), so a write permit
	// of the account service would grant nothing: none is made. Keys that
	// hold one from before load and work as they did; it still grants
	// nothing.
	if name == Account && slices.Contains(actions, Write) {
		return p, twofold.Errorf(twofold.CodeInvalid, "no API key changes its account (only a person signed in does): the service %s has only read, its profile and events", Account).On("actions")
	}
	return twofold.Permit{Service: name, Resource: strings.Join(segs, "/"), Actions: slices.Compact(actions)}, nil
}

// NormalizeAll normalizes every permit of ps; a key needs at least one.
func NormalizeAll(ps []twofold.Permit) ([]twofold.Permit, error) {
	if len(ps) == 0 {
		return nil, twofold.Errorf(twofold.CodeInvalid, "an API key needs at least one permit").On("permits")
	}
	if len(ps) > 100 {
		return nil, twofold.Errorf(twofold.CodeInvalid, "an API key has at most 100 permits").On("permits")
	}
	out := make([]twofold.Permit, 0, len(ps))
	for i, p := range ps {
		n, err := Normalize(p)
		if err != nil {
			return nil, fmt.Errorf("permit %d: %w", i+1, inPermit(i, err))
		}
		out = append(out, n)
	}
	return out, nil
}

// inPermit returns err, which refuses a part of a permit ("/actions"),
// as refusing that part of the i-th (from 0) of a body's permits
// ("/permits/2/actions"). The *twofold.Error is copied, not changed.
func inPermit(i int, err error) error {
	var e *twofold.Error
	if !errors.As(err, &e) {
		return err
	}
	c := *e
	return c.At(twofold.InBody, twofold.JSONPointer("permits", strconv.Itoa(i))+e.Input)
}

// Parse reads a permit written as one line, "SERVICE RESOURCE ACTION[,ACTION]",
// for example "dns example.com/_acme-challenge/TXT read,write".
func Parse(line string) (twofold.Permit, error) {
	f := strings.Fields(line)
	if len(f) != 3 {
		return twofold.Permit{}, twofold.Errorf(twofold.CodeInvalid, "write a permit as SERVICE RESOURCE ACTIONS, for example %q", "dns example.com/_acme-challenge/TXT write")
	}
	return Normalize(twofold.Permit{Service: f[0], Resource: f[1], Actions: strings.Split(f[2], ",")})
}

// Format writes p as Parse reads it.
func Format(p twofold.Permit) string {
	return p.Service + " " + p.Resource + " " + strings.Join(p.Actions, ",")
}

// Allows reports whether one of ps allows action on the resource of service.
// resource is concrete (no patterns); it may have fewer segments than the
// service's resources, and then it is allowed only where every resource
// under it is (a permit for example.com/www does not allow all of
// example.com).
func Allows(ps []twofold.Permit, service, resource, action string) bool {
	want := twofold.Permit{Service: service, Resource: resource, Actions: []string{action}}
	for _, p := range ps {
		if covers(p, want, false) {
			return true
		}
	}
	return false
}

// AllowsSome reports whether one of ps allows action on some resource under
// resource, such as one record of a zone: whether the zone is worth showing.
func AllowsSome(ps []twofold.Permit, service, resource, action string) bool {
	want := strings.Split(resource, "/")
	for _, p := range ps {
		if p.Service != service || !has(p.Actions, action) {
			continue
		}
		have := strings.Split(p.Resource, "/")
		ok := true
		for i, w := range want {
			if i < len(have) && !overlaps(have[i], w) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// Within reports whether every permit of inner is covered by one of outer:
// whether a key with outer may make a key with inner.
func Within(inner, outer []twofold.Permit) bool { return Beyond(inner, outer) < 0 }

// Beyond returns the index in inner of its first permit that no permit of
// outer covers, or -1 when every one is covered (Within): the permit a
// refusal names.
func Beyond(inner, outer []twofold.Permit) int {
	for i, in := range inner {
		if !slices.ContainsFunc(outer, func(out twofold.Permit) bool { return covers(out, in, true) }) {
			return i
		}
	}
	return -1
}

// covers reports whether permit p allows everything want asks: the same
// service, every action (write allows each of its parts), and every
// resource want's pattern matches. With patterns false, want's segments
// are literals.
func covers(p, want twofold.Permit, patterns bool) bool {
	if p.Service != want.Service {
		return false
	}
	for _, a := range want.Actions {
		if !has(p.Actions, a) {
			return false
		}
	}
	have, need := strings.Split(p.Resource, "/"), strings.Split(want.Resource, "/")
	for i, h := range have {
		if h == "*" {
			continue
		}
		if i >= len(need) { // want asks for everything under here; p allows less
			return false
		}
		n := need[i]
		if !patterns && strings.HasSuffix(n, "*") {
			return false
		}
		if !segmentCovers(h, n) {
			return false
		}
	}
	return true
}

// segmentCovers reports whether pattern segment h matches everything segment
// n does.
func segmentCovers(h, n string) bool {
	if prefix, ok := strings.CutSuffix(h, "*"); ok {
		return strings.HasPrefix(strings.ToLower(n), strings.ToLower(prefix))
	}
	return !strings.HasSuffix(n, "*") && strings.EqualFold(h, n)
}

// overlaps reports whether pattern segment h matches value segment v.
func overlaps(h, v string) bool {
	if prefix, ok := strings.CutSuffix(h, "*"); ok {
		return strings.HasPrefix(strings.ToLower(v), strings.ToLower(prefix))
	}
	return strings.EqualFold(h, v)
}

// example is a resource of service, to show in an error.
func example(service string) string {
	switch service {
	case DNS:
		return "example.com/_acme-challenge/TXT"
	case Admin:
		return "users"
	}
	return "*"
}

// truncate shortens s, a part of a permit as sent, for an error message:
// at most 64 bytes, cut between characters, not inside one.
func truncate(s string) string {
	if len(s) <= 64 {
		return s
	}
	cut := 64
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
