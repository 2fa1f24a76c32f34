package core

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/permit"
)

// DNSStore is the storage of DNS zones and records (SPEC §3 "DNS API");
// Store includes it.
type DNSStore interface {
	// CreateZone stores a zone; a name taken already is a conflict.
	CreateZone(ctx context.Context, z twofold.Zone) error
	// DeleteZone removes a zone and its records, reporting false when there was none.
	DeleteZone(ctx context.Context, name string) (bool, error)
	Zone(ctx context.Context, name string) (twofold.Zone, error)
	// Zones returns the account's zones by name; accountID "": every zone.
	Zones(ctx context.Context, accountID string) ([]twofold.Zone, error)
	// ZoneOf returns the longest of names that is a zone.
	ZoneOf(ctx context.Context, names []string) (twofold.Zone, bool, error)
	// LockZone returns the zone and holds it, inside InTx, until the
	// transaction ends.
	LockZone(ctx context.Context, name string) (twofold.Zone, error)
	SetZoneSerial(ctx context.Context, name string, serial uint32) error
	Records(ctx context.Context, zone string) ([]twofold.Record, error)
	// RecordSetSizes returns the zone's record count and data bytes by
	// host and type, without reading the records' data.
	RecordSetSizes(ctx context.Context, zone string) ([]twofold.RecordSetSize, error)
	// RecordsAt returns the zone's records at hosts.
	RecordsAt(ctx context.Context, zone string, hosts []string) ([]twofold.Record, error)
	// RecordPage returns at most limit records of the zone, at host (of
	// typ) when not "", at hosts that start with one of starts when it is
	// not empty, after the record after when its Host is not "", by host,
	// type and data compared byte by byte.
	RecordPage(ctx context.Context, zone, host, typ string, starts []string, after twofold.Record, limit int) ([]twofold.Record, error)
	AddRecords(ctx context.Context, zone string, recs []twofold.Record) error
	DeleteRecords(ctx context.Context, zone string, recs []twofold.Record) (int, error)
}

// RecordSet selects records of a zone: every record of Zone, or those at
// Host, or those at Host of Type. Host is relative to the zone ("@" for the
// apex); empty Host or Type select any.
type RecordSet struct {
	Zone string
	Host string
	Type string
}

// resource returns the set as a permit resource: ZONE[/HOST[/TYPE]].
func (rs RecordSet) resource() string {
	switch {
	case rs.Host == "":
		return rs.Zone
	case rs.Type == "":
		return rs.Zone + "/" + rs.Host
	}
	return rs.Zone + "/" + rs.Host + "/" + rs.Type
}

// has reports whether r is in the set.
func (rs RecordSet) has(r twofold.Record) bool {
	return (rs.Host == "" || r.Host == rs.Host) && (rs.Type == "" || r.Type == rs.Type)
}

// describe names the set for messages and the audit log.
func (rs RecordSet) describe() string {
	s := "zone " + rs.Zone
	if rs.Host != "" {
		s += " host " + rs.Host
	}
	if rs.Type != "" {
		s += " type " + rs.Type
	}
	return s
}

// recordResource returns the permit resource of record r of zone.
func recordResource(zone string, r twofold.Record) string { return zone + "/" + r.Host + "/" + r.Type }

// errNoZone is the answer for a zone that does not exist and for one of
// another account alike, so that the answer never tells them apart.
func errNoZone() error { return twofold.Errorf(twofold.CodeNotFound, "no such zone") }

// NormalizeRecordSet checks the names of rs and returns them in canonical
// form; a name it refuses is marked as the path's ("zone", "host",
// "type"), where the DNS API takes them.
func NormalizeRecordSet(rs RecordSet) (RecordSet, error) {
	z, err := NormalizeZoneName(rs.Zone)
	if err != nil {
		return rs, twofold.WithInput(err, twofold.InPath, "zone")
	}
	out := RecordSet{Zone: z}
	if rs.Host != "" {
		if out.Host, err = NormalizeHost(z, rs.Host); err != nil {
			return rs, twofold.WithInput(err, twofold.InPath, "host")
		}
	}
	if rs.Type != "" {
		if rs.Host == "" {
			return rs, twofold.Errorf(twofold.CodeInvalid, "a record type needs a host").OnPath("host")
		}
		if out.Type, err = NormalizeType(rs.Type); err != nil {
			return rs, twofold.WithInput(err, twofold.InPath, "type")
		}
	}
	return out, nil
}

// ownZone returns the normalized set and its zone when the zone belongs to
// the caller's account; a zone of another account is not found, as one that
// does not exist. The caller's key must allow action on something in the
// set, else the answer is forbidden.
func (s *Service) ownZone(ctx context.Context, a Auth, rs RecordSet, action string, m Meta) (RecordSet, twofold.Zone, error) {
	rs, z, err := s.zoneOf(ctx, a, rs, action, m)
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		err = s.noZone(ctx, a, rs)
	}
	return rs, z, err
}

// noZone is the answer of ownZone for a zone the caller cannot reach. When
// its name lies in one of the caller's zones (a script gave the name a
// certificate is for, www.example.com, as the zone) the answer says which
// zone and host to write at instead. It names only a zone DNSZones lists
// for the caller, whether the name asked for is no zone or another
// account's: it tells the caller nothing more of other accounts' zones.
func (s *Service) noZone(ctx context.Context, a Auth, rs RecordSet) error {
	names, err := s.DNSZones(ctx, a)
	if err != nil {
		return err
	}
	in := ""
	for _, n := range names {
		if strings.HasSuffix(rs.Zone, "."+n) && len(n) > len(in) {
			in = n
		}
	}
	if in == "" {
		return errNoZone()
	}
	host := strings.TrimSuffix(rs.Zone, "."+in)
	if rs.Host != "" && rs.Host != "@" {
		host = rs.Host + "." + host
	}
	return twofold.Errorf(twofold.CodeNotFound, "no such zone %s: that name is in zone %s, at host %s", rs.Zone, in, host)
}

// zoneOf is ownZone, answering errNoZone for a zone the caller cannot
// reach.
func (s *Service) zoneOf(ctx context.Context, a Auth, rs RecordSet, action string, m Meta) (RecordSet, twofold.Zone, error) {
	rs, err := NormalizeRecordSet(rs)
	if err != nil {
		return rs, twofold.Zone{}, err
	}
	z, err := s.store.Zone(ctx, rs.Zone)
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return rs, z, errNoZone()
	}
	if err != nil {
		return rs, z, err
	}
	// A key with no permit in the zone at all learns nothing of it, as of
	// another account's, before any check of a team role could say that
	// it exists and whose it is: else it could probe for its owner's other
	// zones and their teams.
	if !allowsAny(a, z.Name) {
		return rs, z, errNoZone()
	}
	if err := s.zoneAccess(ctx, a, z, action, m); err != nil {
		return rs, z, err
	}
	if !a.AllowsSome(permit.DNS, rs.resource(), action) {
		return rs, z, s.refuseDNS(ctx, a, m, fmt.Sprintf("this API key may not %s records of %s", action, rs.describe()))
	}
	return rs, z, nil
}

// allowsAny reports whether the caller may take some action on some
// record of zone: read, or one of the parts of write.
func allowsAny(a Auth, zone string) bool {
	for _, action := range []string{permit.Read, permit.Add, permit.Replace, permit.Delete} {
		if a.AllowsSome(permit.DNS, zone, action) {
			return true
		}
	}
	return false
}

// zoneAccess checks that the caller may take action on the zone: its
// owner may; a member of the team it is shared with may as the role and the
// team's policy allow. Any other caller learns nothing of it.
func (s *Service) zoneAccess(ctx context.Context, a Auth, z twofold.Zone, action string, m Meta) error {
	if z.AccountID == a.Account.ID {
		return nil
	}
	if z.TeamID == "" {
		return errNoZone()
	}
	hidden, err := s.teamAccess(ctx, a, z.TeamID, action)
	if hidden {
		return errNoZone()
	}
	if err != nil && twofold.ErrorCode(err) == twofold.CodeForbidden {
		return s.refuseDNS(ctx, a, m, fmt.Sprintf("zone %s: %s", z.Name, twofold.ErrorMessage(err)))
	}
	return err
}

// refuseDNS returns a forbidden error saying why, and records the refused
// use of the caller's key in the audit log (SPEC §1 story 10).
func (s *Service) refuseDNS(ctx context.Context, a Auth, m Meta, why string) error {
	if a.Key != nil {
		s.refuseKey(ctx, *a.Key, m, "DNS API: "+why)
	}
	return twofold.Errorf(twofold.CodeForbidden, "%s", why)
}

// DNSZones returns the names of the caller's zones that the caller may read
// or write something in (SPEC §3 "DNS API").
func (s *Service) DNSZones(ctx context.Context, a Auth) ([]string, error) {
	zs, err := s.store.Zones(ctx, a.Account.ID)
	if err != nil {
		return nil, err
	}
	ms, err := s.store.Memberships(ctx, a.Account.ID)
	if err != nil {
		return nil, err
	}
	for _, mb := range ms {
		if !mb.Role.ReadsResources() {
			continue
		}
		if _, err := s.teamAccess(ctx, a, mb.Team.ID, permit.Read); err != nil {
			continue // the team's policy keeps the caller out for now
		}
		tz, err := s.store.TeamZones(ctx, mb.Team.ID)
		if err != nil {
			return nil, err
		}
		zs = append(zs, tz...)
	}
	slices.SortFunc(zs, func(x, y twofold.Zone) int { return strings.Compare(x.Name, y.Name) })
	zs = slices.CompactFunc(zs, func(x, y twofold.Zone) bool { return x.Name == y.Name })
	out := []string{}
	for _, z := range zs {
		if allowsAny(a, z.Name) {
			out = append(out, z.Name)
		}
	}
	return out, nil
}

// MayWriteZone reports whether the caller may change records of the zone,
// which the caller may read: the zone's owner may, and a member of the team
// it is shared with whose role and the team's policy allow it.
func (s *Service) MayWriteZone(ctx context.Context, a Auth, zone string, m Meta) (bool, error) {
	if _, _, err := s.ownZone(ctx, a, RecordSet{Zone: zone}, permit.Read, m); err != nil {
		return false, err
	}
	_, _, err := s.ownZone(ctx, a, RecordSet{Zone: zone}, permit.Write, m)
	if twofold.ErrorCode(err) == twofold.CodeForbidden {
		return false, nil
	}
	return err == nil, err
}

// DNSRecords returns the records of rs that the caller may read, by host,
// type and data; with data set, only those whose data equals it once both
// are in canonical form. It holds them all: a whole zone's are read with
// EachDNSRecord.
func (s *Service) DNSRecords(ctx context.Context, a Auth, rs RecordSet, data string, m Meta) ([]twofold.Record, error) {
	seq, err := s.EachDNSRecord(ctx, a, rs, data, m)
	if err != nil {
		return nil, err
	}
	out := []twofold.Record{}
	for r, err := range seq {
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// recordPage is how many records a read of a zone takes from the store at
// once: a few hundred records of at most a few kilobytes each, so that a
// read holds less than a megabyte however large the zone.
const recordPage = 256

// EachDNSRecord returns the records DNSRecords returns, in its order, read
// from the store a page at a time as the sequence is walked, so that a read
// of a large zone never holds all of it, nor a store connection while the
// caller writes what it has. The caller's rights, and the first page, are
// checked and read before it returns: an error it returns comes before any
// record, while an error the sequence yields comes after some records went
// out. A zone changed while it is read in more than one page is such an
// error (the records read would mix the zone before and after the change),
// and so is a zone given to another account or team meanwhile.
func (s *Service) EachDNSRecord(ctx context.Context, a Auth, rs RecordSet, data string, m Meta) (iter.Seq2[twofold.Record, error], error) {
	return s.eachRecord(ctx, a, rs, data, twofold.Record{}, m)
}

// DNSRecordPage returns at most n of the records of rs that the caller may
// read, in DNSRecords' order, those after the record after when its Host is
// not "": a part of a zone for a page that lists it a part at a time. more
// reports whether others follow.
func (s *Service) DNSRecordPage(ctx context.Context, a Auth, rs RecordSet, after twofold.Record, n int, m Meta) (recs []twofold.Record, more bool, err error) {
	seq, err := s.eachRecord(ctx, a, rs, "", after, m)
	if err != nil {
		return nil, false, err
	}
	out := []twofold.Record{}
	for r, err := range seq {
		if err != nil {
			return nil, false, err
		}
		if len(out) == n {
			return out, true, nil
		}
		out = append(out, r)
	}
	return out, false, nil
}

// eachRecord is EachDNSRecord from the record after (see RecordPage).
func (s *Service) eachRecord(ctx context.Context, a Auth, rs RecordSet, data string, after twofold.Record, m Meta) (iter.Seq2[twofold.Record, error], error) {
	rs, z, err := s.ownZone(ctx, a, rs, permit.Read, m)
	if err != nil {
		return nil, err
	}
	size := recordPage
	if s.recordPage > 0 {
		size = s.recordPage
	}
	var starts []string
	if rs.Host == "" {
		starts = readStarts(a, rs.Zone)
	}
	page, err := s.store.RecordPage(ctx, rs.Zone, rs.Host, rs.Type, starts, after, size)
	if err != nil {
		return nil, err
	}
	keep := func(r twofold.Record) bool {
		return rs.has(r) && a.Allows(permit.DNS, recordResource(rs.Zone, r), permit.Read) && (data == "" || sameData(rs.Zone, r, data))
	}
	return func(yield func(twofold.Record, error) bool) {
		for {
			for _, r := range page {
				if keep(r) && !yield(r, nil) {
					return
				}
			}
			if len(page) < size {
				return
			}
			last := page[len(page)-1]
			page = nil // the caller's writes of it are done: let it go before the next is read
			next, err := s.store.RecordPage(ctx, rs.Zone, rs.Host, rs.Type, starts, last, size)
			if err == nil {
				err = s.sameZone(ctx, z)
			}
			if err != nil {
				yield(twofold.Record{}, err)
				return
			}
			page = next
		}
	}, nil
}

// readStarts returns what the names start with at which the caller's key
// may read records of zone, by its permits' name segments (a literal name
// or a prefix pattern, "_acme-challenge*"), lower case as names are stored:
// a read of the zone by a key for a few names then takes from the store
// only records at names that start so, not every page of the zone, and
// keeps those the key may read (eachRecord's keep), as from a read of
// every record. nil when the key may read at any name, or the caller is a
// session.
func readStarts(a Auth, zone string) []string {
	if a.Key == nil {
		return nil
	}
	var out []string
	for _, p := range a.Key.Permits {
		if !permit.AllowsSome([]twofold.Permit{p}, permit.DNS, zone, permit.Read) {
			continue
		}
		segs := strings.Split(p.Resource, "/")
		if len(segs) < 2 {
			return nil // every name of the zone
		}
		start := strings.ToLower(strings.TrimSuffix(segs[1], "*"))
		if start == "" {
			return nil // "*" or a pattern of every name
		}
		out = append(out, start)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// sameZone returns an error unless zone z is still as it was read, with
// the same serial, which every change of its records moves on.
func (s *Service) sameZone(ctx context.Context, z twofold.Zone) error {
	now, err := s.store.Zone(ctx, z.Name)
	switch {
	case twofold.ErrorCode(err) == twofold.CodeNotFound:
		return twofold.Errorf(twofold.CodeConflict, "zone %s was removed while its records were read", z.Name)
	case err != nil:
		return err
	case now.Serial != z.Serial || now.AccountID != z.AccountID || now.TeamID != z.TeamID:
		return twofold.Errorf(twofold.CodeConflict, "zone %s changed while its records were read: read them again", z.Name)
	}
	return nil
}

// sameData reports whether data, read as the data of a record like r,
// is r's data.
func sameData(zone string, r twofold.Record, data string) bool {
	c, err := ParseRecord(zone, RecordInput{Host: r.Host, Type: r.Type, TTL: int(r.TTL), Data: data})
	return err == nil && c.Data == r.Data
}

func sortRecords(rs []twofold.Record) {
	slices.SortFunc(rs, func(x, y twofold.Record) int {
		return cmp.Or(cmp.Compare(x.Host, y.Host), cmp.Compare(x.Type, y.Type), cmp.Compare(x.Data, y.Data))
	})
}

// Change is what a write to the DNS API did.
type Change struct {
	Added   int // records that were not there before
	Removed int // records that are no longer there
	// Kept counts the records a change asked to add that were there
	// already, each once: left as they were, but for the set's TTL.
	Kept int
	// Retimed counts the records that stayed but with another TTL: a
	// change of TTLs alone changes the zone, though it adds and removes
	// nothing.
	Retimed int
}

// parseRecords checks every record of in for rs: a record's host and type
// default to the set's, and must be within it. A refusal of in[i] is
// marked as the DNS API's JSON body holds it ({"records": [...]}): its
// field ("/records/2/ttl", see ParseRecord), or the record
// ("/records/2") when it is outside rs; the API marks it otherwise for
// its other bodies.
func (s *Service) parseRecords(rs RecordSet, in []RecordInput) ([]twofold.Record, error) {
	if len(in) > maxChange {
		return nil, twofold.Errorf(twofold.CodeInvalid, "at most %d records at once", maxChange)
	}
	out := make([]twofold.Record, 0, len(in))
	for i, ri := range in {
		if ri.Host == "" {
			ri.Host = rs.Host
		}
		if ri.Type == "" {
			ri.Type = rs.Type
		}
		at := twofold.JSONPointer("records", strconv.Itoa(i))
		switch {
		case ri.Host == "":
			return nil, twofold.Errorf(twofold.CodeInvalid, "record %d: give its host and type", i+1).At(twofold.InBody, at+twofold.JSONPointer("host"))
		case ri.Type == "":
			return nil, twofold.Errorf(twofold.CodeInvalid, "record %d: give its host and type", i+1).At(twofold.InBody, at+twofold.JSONPointer("type"))
		}
		r, err := ParseRecord(rs.Zone, ri)
		if err != nil {
			_, field := twofold.ErrorInput(err)
			return nil, twofold.Errorf(twofold.ErrorCode(err), "record %d: %s", i+1, twofold.ErrorMessage(err)).At(twofold.InBody, at+field)
		}
		if !rs.has(r) {
			return nil, twofold.Errorf(twofold.CodeInvalid, "record %d (%s %s) is outside %s of the request's path", i+1, r.Host, r.Type, rs.describe()).At(twofold.InBody, at)
		}
		out = append(out, r)
	}
	return out, nil
}

// AddDNSRecords adds records to the set rs (Mythic Beasts "POST"): a record
// the zone holds already is left as it is, its TTL set to the new one.
func (s *Service) AddDNSRecords(ctx context.Context, a Auth, rs RecordSet, in []RecordInput, m Meta) (Change, error) {
	rs, _, err := s.ownZone(ctx, a, rs, permit.Add, m)
	if err != nil {
		return Change{}, err
	}
	add, err := s.parseRecords(rs, in)
	if err != nil {
		return Change{}, err
	}
	if len(add) == 0 {
		return Change{}, twofold.Errorf(twofold.CodeInvalid, "no records to add")
	}
	if err := s.mayAdd(ctx, a, rs.Zone, add, m); err != nil {
		return Change{}, err
	}
	return s.changeRecords(ctx, a, rs, "added", nil, add, m)
}

// ReplaceDNSRecords replaces every record of rs by in, in one transaction
// (Mythic Beasts "PUT"): the key must allow replacing the whole set.
func (s *Service) ReplaceDNSRecords(ctx context.Context, a Auth, rs RecordSet, in []RecordInput, m Meta) (Change, error) {
	rs, _, err := s.ownZone(ctx, a, rs, permit.Replace, m)
	if err != nil {
		return Change{}, err
	}
	if !a.Allows(permit.DNS, rs.resource(), permit.Replace) {
		return Change{}, s.refuseDNS(ctx, a, m, "this API key may not replace every record of "+rs.describe())
	}
	add, err := s.parseRecords(rs, in)
	if err != nil {
		return Change{}, err
	}
	return s.changeRecords(ctx, a, rs, "replaced", rs.has, add, m)
}

// DeleteDNSRecords removes the records of rs, or with data set only those
// whose data equals it (Mythic Beasts "DELETE"): the key must allow
// deleting the whole set.
func (s *Service) DeleteDNSRecords(ctx context.Context, a Auth, rs RecordSet, data string, m Meta) (Change, error) {
	rs, _, err := s.ownZone(ctx, a, rs, permit.Delete, m)
	if err != nil {
		return Change{}, err
	}
	if !a.Allows(permit.DNS, rs.resource(), permit.Delete) {
		return Change{}, s.refuseDNS(ctx, a, m, "this API key may not remove records of "+rs.describe())
	}
	if len(data) > maxLine {
		return Change{}, twofold.Errorf(twofold.CodeInvalid, "data is longer than %d bytes", maxLine).OnQuery("data")
	}
	remove := func(r twofold.Record) bool { return rs.has(r) && (data == "" || sameData(rs.Zone, r, data)) }
	return s.changeRecords(ctx, a, rs, "removed", remove, nil, m)
}

// mayAdd returns a forbidden error unless the caller may add every record of recs.
func (s *Service) mayAdd(ctx context.Context, a Auth, zone string, recs []twofold.Record, m Meta) error {
	for _, r := range recs {
		if !a.Allows(permit.DNS, recordResource(zone, r), permit.Add) {
			return s.refuseDNS(ctx, a, m, fmt.Sprintf("this API key may not add %s records at %s in zone %s", r.Type, r.Host, zone))
		}
	}
	return nil
}

// checkNotShadowed refuses records of zone at a name that falls in another
// zone hosted here, below it (a record of example.com at login.shop when
// shop.example.com is a zone of its own): the name server answers for such a
// name from the more specific zone only, directly or at the end of a CNAME,
// so the record would never be served, and the zone below may be another
// account's. Its name is public (the name server answers for it); its owner
// is not said.
func (s *Service) checkNotShadowed(ctx context.Context, zone string, add []twofold.Record) error {
	seen := map[string]bool{}
	for _, r := range add {
		if r.Host == "@" || seen[r.Host] {
			continue
		}
		seen[r.Host] = true
		z, found, err := s.ZoneFor(ctx, fqdn(zone, r.Host))
		if err != nil {
			return err
		}
		if found && z.Name != zone {
			return twofold.Errorf(twofold.CodeConflict, "the name %s is in the zone %s, which this server answers for on its own: a record of %s there would never be served; add it to %s", r.Host, z.Name, zone, z.Name)
		}
	}
	return nil
}

// recordKey identifies a record within its zone.
type recordKey struct{ host, typ, data string }

func keyOf(r twofold.Record) recordKey { return recordKey{r.Host, r.Type, r.Data} }

// changeRecords removes the zone's records that remove matches (records
// of rs only; nil for none) and adds add, in one transaction that holds the
// zone: it checks the zone that results (CNAME alone at its name, records
// and bytes per zone), writes only the difference and, when there is one,
// moves the SOA serial on and records an audit event (a change that changes
// nothing records none, so that repeating it cannot grow the audit log). The
// records of a set one of add joins take add's TTL (RFC 2181 §5.2).
//
// It reads what the rules need of the zone (changeView: the data of the
// records at the names it touches only) before the transaction, with the
// zone's serial, and inside it checks that the serial has not moved: every
// change of a zone's records moves it on, so the rules run on the zone as
// it is when the change is written, while the transaction, and on SQLite
// the database's one writer that sign-ins need too, is held only for the
// check and the writes, however big the zone. A zone changed meanwhile (by
// another instance: this instance's changes of one zone take turns,
// zoneTurns) is read again, up to zoneViewRuns times; one that changes on
// every run is answered as unavailable for a moment, as a transaction that
// conflicts every time (conflictAnswer).
func (s *Service) changeRecords(ctx context.Context, a Auth, rs RecordSet, verb string, remove func(twofold.Record) bool, add []twofold.Record, m Meta) (Change, error) {
	hosts, all := touchedHosts(rs, remove != nil, add)
	if remove == nil {
		remove = func(twofold.Record) bool { return false }
	}
	if err := s.checkNotShadowed(ctx, rs.Zone, add); err != nil {
		return Change{}, err
	}
	release, err := s.zoneTurns.take(ctx, rs.Zone)
	if err != nil {
		return Change{}, err
	}
	defer release()
	for run := 1; run <= zoneViewRuns; run++ {
		if run > 1 && !txPause(ctx, run) {
			return Change{}, ctx.Err()
		}
		read, old, standInBytes, err := s.changeView(ctx, rs.Zone, hosts, all)
		if err != nil {
			return Change{}, err
		}
		ch, err := s.writeChange(ctx, a, rs, verb, remove, add, read, old, standInBytes, m)
		if !errors.Is(err, errZoneMoved) {
			return ch, err
		}
	}
	return Change{}, conflictAnswer(fmt.Errorf("%w: zone %s changed on each of %d reads for a change of it", twofold.ErrTxConflict, rs.Zone, zoneViewRuns))
}

// zoneViewRuns bounds the reads of a zone for one change that finds the
// zone changed by another each time (changeRecords).
const zoneViewRuns = 5

// errZoneMoved is writeChange's answer when the zone is no longer as
// changeView read it.
var errZoneMoved = errors.New("the zone changed since it was read")

// writeChange is the transaction of changeRecords: it holds the zone,
// returns errZoneMoved, having written nothing, unless the zone is still
// read (its serial and creation unmoved), checks the change of old, the
// zone's view at that serial (changeView), and writes it.
func (s *Service) writeChange(ctx context.Context, a Auth, rs RecordSet, verb string, remove func(twofold.Record) bool, add []twofold.Record,
	read twofold.Zone, old []twofold.Record, standInBytes int64, m Meta) (Change, error) {
	var ch Change
	// The caller's key or session is checked again first (WithCaller):
	// revoked, ended, expired or its account suspended meanwhile, nothing
	// is written.
	err := s.inTx(ctx, func(ctx context.Context) error {
		ch = Change{}
		z, err := s.store.LockZone(ctx, rs.Zone)
		if twofold.ErrorCode(err) == twofold.CodeNotFound {
			return errNoZone() // removed meanwhile
		}
		if err != nil {
			return err
		}
		if z.Serial != read.Serial || !z.CreatedAt.Equal(read.CreatedAt) {
			return errZoneMoved
		}
		if err := s.zoneAccess(ctx, a, z, permit.Write, m); err != nil {
			return err // given away or unshared meanwhile
		}
		next := map[recordKey]twofold.Record{}
		for _, r := range old {
			if !remove(r) {
				next[keyOf(r)] = r
			}
		}
		ttls := map[[2]string]uint32{}
		for _, r := range add {
			next[keyOf(r)] = r
			ttls[[2]string{r.Host, r.Type}] = r.TTL
		}
		final := make([]twofold.Record, 0, len(next))
		for k, r := range next {
			if ttl, ok := ttls[[2]string{r.Host, r.Type}]; ok {
				r.TTL = ttl
				next[k] = r
			}
			final = append(final, r)
		}
		if err := checkZone(z.Name, final); err != nil {
			return err
		}
		if err := checkZoneBytes(z.Name, standInBytes+dataBytes(old), standInBytes+dataBytes(final)); err != nil {
			return err
		}
		if err := checkNameSize(old, final); err != nil {
			return err
		}
		if err := checkKeyGrowth(a, z.Name, old, final); err != nil {
			return err
		}
		if err := s.checkKeyReach(ctx, a, z.Name, old, final, m); err != nil {
			return err
		}
		oldKeys := map[recordKey]twofold.Record{}
		var gone, fresh []twofold.Record
		for _, r := range old {
			oldKeys[keyOf(r)] = r
			n, ok := next[keyOf(r)]
			if !ok {
				ch.Removed++
			}
			if !ok || n.TTL != r.TTL {
				gone = append(gone, r)
			}
		}
		asked := map[recordKey]bool{}
		for _, r := range add {
			if k := keyOf(r); !asked[k] {
				asked[k] = true
				if _, ok := oldKeys[k]; ok {
					ch.Kept++
				}
			}
		}
		for k, r := range next {
			o, ok := oldKeys[k]
			if !ok {
				ch.Added++
			} else if o.TTL != r.TTL {
				ch.Retimed++
			}
			if !ok || o.TTL != r.TTL {
				fresh = append(fresh, r)
			}
		}
		if len(gone)+len(fresh) == 0 {
			return nil // nothing changed: no serial to move, no event
		}
		sortRecords(gone)
		sortRecords(fresh)
		if _, err := s.store.DeleteRecords(ctx, z.Name, gone); err != nil {
			return err
		}
		if err := s.store.AddRecords(ctx, z.Name, fresh); err != nil {
			return err
		}
		if err := s.store.SetZoneSerial(ctx, z.Name, nextSerial(z.Serial)); err != nil {
			return err
		}
		by := "session"
		if a.Key != nil {
			by = "API key " + a.Key.ID
		}
		counts := fmt.Sprintf("%d added, %d removed", ch.Added, ch.Removed)
		if ch.Retimed > 0 {
			counts += fmt.Sprintf(", %d kept with a new TTL", ch.Retimed)
		}
		s.audit(ctx, a.Account.ID, "dns.records_changed", m, fmt.Sprintf("%s %s by %s: %s", rs.describe(), verb, by, counts))
		if z.AccountID != a.Account.ID {
			// A teammate's change: the zone's owner sees it in the owner's own log.
			s.auditCounterpart(ctx, z.AccountID, "dns.records_changed",
				fmt.Sprintf("%s %s by %s's %s: %s", rs.describe(), verb, a.Account.Username, by, counts))
		}
		return nil
	})
	return ch, err
}

// touchedHosts returns the names a change of rs that adds add and, when
// removes, removes records of rs touches: every name (all) when it removes
// from the whole zone, else the set's host and those of add.
func touchedHosts(rs RecordSet, removes bool, add []twofold.Record) (hosts []string, all bool) {
	if removes && rs.Host == "" {
		return nil, true
	}
	if rs.Host != "" {
		hosts = append(hosts, rs.Host)
	}
	for _, r := range add {
		hosts = append(hosts, r.Host)
	}
	slices.Sort(hosts)
	return slices.Compact(hosts), false
}

// standIn starts the data of a stand-in record (changeView): no record's
// data, which is printable text, starts with it.
const standIn = "\x00"

// changeView returns zone as a change at hosts (every name when all) needs
// it to be checked, read outside any transaction: the zone itself, read
// first, so that a change committed while the records are read moves its
// serial past the one returned (changeRecords), and the zone's records: in
// full at hosts, and at every other name as stand-ins, one per record, that
// carry its host and type and data of their own that is no record's, with
// the bytes of the data they stand for. The rules of a change read the data
// only of records at the names it adds to or removes from (checkNameSize,
// checkKeyGrowth's record sets, newDelegations), and of the zone's other
// records only their names, types and numbers (checkZone, checkKeyReach);
// a stand-in is the same before and after the change, so that the
// difference written never holds one. The zone's other records are read
// from an index without their data (RecordSetSizes), so that a small
// change reads little of a big zone.
func (s *Service) changeView(ctx context.Context, zone string, hosts []string, all bool) (z twofold.Zone, recs []twofold.Record, standInBytes int64, err error) {
	z, err = s.store.Zone(ctx, zone)
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return z, nil, 0, errNoZone() // removed meanwhile
	}
	if err != nil {
		return z, nil, 0, err
	}
	if all {
		recs, err = s.store.Records(ctx, zone)
		return z, recs, 0, err
	}
	sizes, err := s.store.RecordSetSizes(ctx, zone)
	if err != nil {
		return z, nil, 0, err
	}
	if len(hosts) > 0 {
		if recs, err = s.store.RecordsAt(ctx, zone, hosts); err != nil {
			return z, nil, 0, err
		}
	}
	for _, sz := range sizes {
		if _, at := slices.BinarySearch(hosts, sz.Host); at {
			continue
		}
		standInBytes += sz.Bytes
		for range sz.Count {
			recs = append(recs, twofold.Record{Host: sz.Host, Type: sz.Type, Data: standIn + strconv.Itoa(len(recs))})
		}
	}
	return z, recs, standInBytes, nil
}

// zoneTurns makes this instance's changes of one zone take turns from
// before they read the zone (changeRecords), so that they do not read it
// again and again for one another's changes; changes on other instances
// are caught by the zone's serial. Its zero value is ready.
type zoneTurns struct {
	mu    sync.Mutex
	zones map[string]*zoneTurn
}

// zoneTurn is one zone's turn: ch holds a value while a change has it.
type zoneTurn struct {
	ch    chan struct{}
	users int // changes holding or waiting for it
}

// take waits for the turn of zone, or for ctx to end, and returns the
// function that gives the turn back.
func (t *zoneTurns) take(ctx context.Context, zone string) (release func(), err error) {
	t.mu.Lock()
	if t.zones == nil {
		t.zones = map[string]*zoneTurn{}
	}
	turn := t.zones[zone]
	if turn == nil {
		turn = &zoneTurn{ch: make(chan struct{}, 1)}
		t.zones[zone] = turn
	}
	turn.users++
	t.mu.Unlock()
	select {
	case turn.ch <- struct{}{}:
		return func() {
			<-turn.ch
			t.leave(zone, turn)
		}, nil
	case <-ctx.Done():
		t.leave(zone, turn)
		return nil, ctx.Err()
	}
}

// leave forgets the turn of zone when no change holds or waits for it.
func (t *zoneTurns) leave(zone string, turn *zoneTurn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if turn.users--; turn.users == 0 {
		delete(t.zones, zone)
	}
}

// dataBytes returns the bytes of the data of recs, stand-ins left out.
func dataBytes(recs []twofold.Record) int64 {
	var n int64
	for _, r := range recs {
		if !strings.HasPrefix(r.Data, standIn) {
			n += int64(len(r.Data))
		}
	}
	return n
}

// checkZoneBytes refuses a change that takes a zone from was to is bytes
// of record data when is is more than maxZoneBytes; a zone grown so by an
// older version may still shrink, or change records for others of the
// same size.
func checkZoneBytes(zone string, was, is int64) error {
	if is > maxZoneBytes && is > was {
		return twofold.Errorf(twofold.CodeInvalid, "zone %s would hold %d bytes of record data, more than the %d (4 MiB) one zone may: remove some records, or make them smaller", zone, is, maxZoneBytes)
	}
	return nil
}

// nextSerial returns the SOA serial after s, in serial number arithmetic
// (RFC 1982): it wraps, and skips 0, which some secondaries treat as unset.
func nextSerial(s uint32) uint32 {
	n := uint32((uint64(s) + 1) % serialWrap)
	if n == 0 {
		n = 1
	}
	return n
}

// checkZone checks the rules that span records of a zone: a CNAME is the
// only record at its name, never at the apex (RFC 1034 §3.6.2, RFC 2181
// §10.1); the apex's NS records are the server's own; and the zone holds
// at most maxRecords records.
func checkZone(zone string, recs []twofold.Record) error {
	if len(recs) > maxRecords {
		return twofold.Errorf(twofold.CodeInvalid, "zone %s would hold more than %d records", zone, maxRecords)
	}
	byHost := map[string][]string{}
	for _, r := range recs {
		byHost[r.Host] = append(byHost[r.Host], r.Type)
	}
	for _, r := range recs {
		switch {
		case r.Host == "@" && r.Type == "CNAME":
			return twofold.Errorf(twofold.CodeInvalid, "a CNAME cannot stand at the zone's apex (@), beside its SOA and NS records")
		case r.Host == "@" && r.Type == "NS":
			return twofold.Errorf(twofold.CodeInvalid, "the zone's own NS records are the server's; NS records are for delegating names below the apex")
		case r.Type == "CNAME" && len(byHost[r.Host]) > 1:
			return twofold.Errorf(twofold.CodeInvalid, "a CNAME must be the only record at %s: remove the others first, or replace them with PUT", r.Host)
		}
	}
	return nil
}

// maxNameBytes bounds the records at one name as one DNS answer carries
// them: a record set, and every type at once (an ANY query), must fit one
// DNS message (at most 65,535 bytes, RFC 1035 §4.2.2), with room left for
// the CNAMEs an answer follows to reach the name, the question and the SOA.
// Else the name server could not answer the name over TCP either.
const maxNameBytes = 32 << 10

// checkNameSize refuses a change from old to final records that adds a
// record at a name whose records would then take more than maxNameBytes
// of a DNS answer; a name grown so by an older version may still shrink.
func checkNameSize(old, final []twofold.Record) error {
	was := map[recordKey]bool{}
	for _, r := range old {
		was[keyOf(r)] = true
	}
	grown := map[string]bool{}
	for _, r := range final {
		if !was[keyOf(r)] {
			grown[r.Host] = true
		}
	}
	size := map[string]int{}
	for _, r := range final {
		if grown[r.Host] {
			size[r.Host] += answerBytes(r)
		}
	}
	var over []string
	for h, n := range size {
		if n > maxNameBytes {
			over = append(over, h)
		}
	}
	if len(over) > 0 {
		slices.Sort(over)
		return twofold.Errorf(twofold.CodeInvalid, "the records at %s would take %d bytes of a DNS answer, more than the %d one name may: a DNS message holds at most 65,535 bytes, so the name server could not answer it; remove some, or put them at other names",
			over[0], size[over[0]], maxNameBytes)
	}
	return nil
}

// answerBytes returns at most how many bytes record r takes in a DNS answer
// (RFC 1035 §4.1.3): its owner as a 2-byte pointer to the question, type,
// class, TTL and length, and its data in wire form, names uncompressed.
func answerBytes(r twofold.Record) int {
	rr, err := dns.NewRR(". 60 IN " + r.Type + " " + r.Data)
	if err != nil || rr == nil {
		return 12 + len(r.Data) // stored in a form no longer read: the server leaves it out
	}
	return dns.Len(rr) + 1 // Len counts the owner "." as 1 byte
}

// An API key may grow a zone only to half of maxRecords, and a record set
// only to maxKeySet records: a key for one name (an ACME client's, say)
// must not fill the zone so that its owner can add nothing more.
const (
	maxKeyZone = maxRecords / 2
	maxKeySet  = 50
)

// checkKeyGrowth applies the limits of API keys to a change by a that takes
// a zone from old to final records; a person's session and changes that do
// not add records pass.
func checkKeyGrowth(a Auth, zone string, old, final []twofold.Record) error {
	if a.Key == nil || len(final) <= len(old) {
		return nil
	}
	if len(final) > maxKeyZone {
		return twofold.Errorf(twofold.CodeInvalid, "an API key may not grow zone %s beyond %d records; its owner may", zone, maxKeyZone)
	}
	was := map[recordKey]bool{}
	for _, r := range old {
		was[keyOf(r)] = true
	}
	grown := map[[2]string]bool{} // the record sets the change adds to
	for _, r := range final {
		if !was[keyOf(r)] {
			grown[[2]string{r.Host, r.Type}] = true
		}
	}
	sets := map[[2]string]int{}
	for _, r := range final {
		k := [2]string{r.Host, r.Type}
		if sets[k]++; grown[k] && sets[k] > maxKeySet {
			return twofold.Errorf(twofold.CodeInvalid, "an API key may not put more than %d %s records at %s", maxKeySet, r.Type, r.Host)
		}
	}
	return nil
}

// checkKeyReach refuses a change by an API key from old to final records
// of zone whose effect reaches beyond the names it writes, unless the key
// may write there too, every part of write (a person's session may): a
// key that may only add, say, changes nothing beyond what it adds:
//
//   - a name the change brings into being, a new record's own or one
//     between it and the zone's wildcard, which the wildcard then no longer
//     answers for (hiddenByNewName): the key must be allowed to write every
//     record at it, of every type, since the wildcard's records of every
//     type stop answering there;
//   - a name the change makes vanish, its own records' or one that existed
//     only above them, which a wildcard then answers for
//     (uncoveredByGoneName): the same;
//   - a new NS record below the apex (newDelegations): a delegation hands
//     the name and every name below it to other servers, which answer for
//     them in place of the zone's records, so the key must be allowed to
//     write every record of the zone. No narrower permit covers every name
//     below a name: a name pattern matches a name's start, and names below
//     shop differ in their first label, so only "*" matches them all.
func (s *Service) checkKeyReach(ctx context.Context, a Auth, zone string, old, final []twofold.Record, m Meta) error {
	if a.Key == nil {
		return nil
	}
	for _, name := range hiddenByNewName(old, final) {
		if !a.Allows(permit.DNS, zone+"/"+name, permit.Write) {
			return s.refuseDNS(ctx, a, m, fmt.Sprintf("this would make %s a name of its own, which the zone's wildcard answers for now, for every type: only an API key that may write every type at %s may change what it answers", name, name))
		}
	}
	for _, name := range uncoveredByGoneName(old, final) {
		if !a.Allows(permit.DNS, zone+"/"+name, permit.Write) {
			return s.refuseDNS(ctx, a, m, fmt.Sprintf("this would leave no records at or below %s, so that the zone's wildcard would answer for it, for every type: only an API key that may write every type at %s may change what it answers", name, name))
		}
	}
	if names := newDelegations(old, final); len(names) > 0 && !a.Allows(permit.DNS, zone, permit.Write) {
		return s.refuseDNS(ctx, a, m, fmt.Sprintf("an NS record at %s delegates it and every name below it to other servers: only an API key that may write all of zone %s may add one", names[0], zone))
	}
	return nil
}

// namesOf returns the names that exist with recs (RFC 4592 §2.2.2): the
// apex, the records' owners, and every name between them and the apex.
func namesOf(recs []twofold.Record) map[string]bool {
	exists := map[string]bool{"@": true}
	for _, r := range recs {
		for h := r.Host; h != "@"; h = parentHost(h) {
			exists[h] = true
		}
	}
	return exists
}

// wildcardFor returns the wildcard owner that answers for host, a name that
// does not exist among names, in a zone whose records are at hosts: the one
// below the closest encloser (RFC 4592 §3.3.1), as the name server picks
// it; "" when there is none.
func wildcardFor(host string, names, hosts map[string]bool) string {
	enc := parentHost(host)
	for !names[enc] {
		enc = parentHost(enc)
	}
	wild := "*"
	if enc != "@" {
		wild = "*." + enc
	}
	if hosts[wild] {
		return wild
	}
	return ""
}

// hostsOf returns the owners of recs.
func hostsOf(recs []twofold.Record) map[string]bool {
	hosts := map[string]bool{}
	for _, r := range recs {
		hosts[r.Host] = true
	}
	return hosts
}

// hiddenByNewName returns the names that the change from old to final
// brings into being while a wildcard of the zone answers for them: from
// then on the wildcard no longer does, for any type (RFC 4592 §2.2.2). That
// is the owner of a new record itself, so a TXT record at www silences
// *.example.com's A records for www.example.com; and every name between the
// owner and its closest encloser, so a record for _acme-challenge.shop
// silences the wildcard for shop.example.com, and one for x.y.x for y.x.
// The wildcard is the one below the closest encloser before the change
// (wildcardFor), as the name server picks it; a new wildcard does not hide
// itself. Sorted.
func hiddenByNewName(old, final []twofold.Record) []string {
	was, hosts := namesOf(old), hostsOf(final)
	var out []string
	for _, r := range final {
		for h := r.Host; h != "@"; h = parentHost(h) {
			if underscored(h) {
				continue
			}
			if w := wildcardFor(h, was, hosts); !was[h] && w != "" && w != h {
				out = append(out, h)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// underscored reports whether the name's first label starts with "_": an
// attribute leaf (RFC 8552: _acme-challenge, _dmarc, _sip._tcp), which
// holds data about its parent and is never a host, so that what a wildcard
// would answer there for other types (an address) matters to nobody. A key
// for its TXT records may make it exist, or end, beside a wildcard.
func underscored(h string) bool {
	label, _, _ := strings.Cut(h, ".")
	return strings.HasPrefix(label, "_")
}

// uncoveredByGoneName returns the names that exist before the change from
// old to final and after it not at all, while a wildcard of final answers
// for them: the reverse of hiddenByNewName, so that removing the last
// record at www would let *.example.com answer for www.example.com again,
// for every type, and removing the last record of _acme-challenge.shop
// would let it answer for shop.example.com. A name with records of its own
// before counts too: a key that may remove its TXT records need not be one
// that may change what the name answers for A. Sorted.
func uncoveredByGoneName(old, final []twofold.Record) []string {
	was, is := namesOf(old), namesOf(final)
	hosts := hostsOf(final)
	var out []string
	for h := range was {
		if h == "@" || is[h] || underscored(h) {
			continue
		}
		if w := wildcardFor(h, is, hosts); w != "" && w != h {
			out = append(out, h)
		}
	}
	slices.Sort(out)
	return out
}

// newDelegations returns the names below the apex at which final has an NS
// record that old has not (a delegation made or pointed elsewhere), sorted.
func newDelegations(old, final []twofold.Record) []string {
	was := map[recordKey]bool{}
	for _, r := range old {
		was[keyOf(r)] = true
	}
	var out []string
	for _, r := range final {
		if r.Type == "NS" && r.Host != "@" && !was[keyOf(r)] {
			out = append(out, r.Host)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// parentHost returns the name above a relative host, "@" above one label.
func parentHost(h string) string {
	if _, rest, ok := strings.Cut(h, "."); ok {
		return rest
	}
	return "@"
}

// ZoneInfo is a zone as operators see it, with its owner's username.
type ZoneInfo struct {
	twofold.Zone
	Owner string
}

// AddZone creates zone name for the account named owner, for whoever runs
// the command line (operators create zones, SPEC §3 "DNS API"). The Owner
// returned is the account's username as stored.
func (s *Service) AddZone(ctx context.Context, name, owner string, m Meta) (ZoneInfo, error) {
	n, err := NormalizeZoneName(name)
	if err != nil {
		return ZoneInfo{}, err
	}
	a, err := s.accountNamed(ctx, owner)
	if err != nil {
		return ZoneInfo{}, err
	}
	z := twofold.Zone{Name: n, AccountID: a.ID, Serial: 1, CreatedAt: s.Now()}
	err = s.inTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateZone(ctx, z); err != nil {
			return err
		}
		s.audit(ctx, a.ID, "dns.zone_added", m, "zone "+n)
		return nil
	})
	return ZoneInfo{Zone: z, Owner: a.Username}, err
}

// RemoveZone removes zone name and its records, for whoever runs the
// command line.
func (s *Service) RemoveZone(ctx context.Context, name string, m Meta) error {
	n, err := NormalizeZoneName(name)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(ctx context.Context) error {
		z, err := s.store.LockZone(ctx, n)
		if twofold.ErrorCode(err) == twofold.CodeNotFound {
			return errNoZone()
		}
		if err != nil {
			return err
		}
		if _, err := s.store.DeleteZone(ctx, n); err != nil {
			return err
		}
		s.audit(ctx, z.AccountID, "dns.zone_removed", m, "zone "+n)
		return nil
	})
}

// AllZones returns every zone with its owner's username, by name.
func (s *Service) AllZones(ctx context.Context) ([]ZoneInfo, error) {
	zs, err := s.store.Zones(ctx, "")
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	out := make([]ZoneInfo, 0, len(zs))
	for _, z := range zs {
		owner, ok := names[z.AccountID]
		if !ok {
			acct, err := s.store.AccountByID(ctx, z.AccountID)
			if err != nil {
				return nil, err
			}
			owner, names[z.AccountID] = acct.Username, acct.Username
		}
		out = append(out, ZoneInfo{Zone: z, Owner: owner})
	}
	return out, nil
}

// LookupZone returns the zone that the DNS name falls in (the longest zone
// that is the name or one of its parents) with all its records, for the
// authoritative DNS server: DNS data is public, so no caller is asked for.
// found is false when no zone holds the name.
func (s *Service) LookupZone(ctx context.Context, name string) (z twofold.Zone, recs []twofold.Record, found bool, err error) {
	z, found, err = s.ZoneFor(ctx, name)
	if err != nil || !found {
		return z, nil, found, err
	}
	recs, err = s.ZoneRecords(ctx, z.Name)
	return z, recs, true, err
}

// ZoneRecords returns every record of the zone named name, for the
// authoritative DNS server.
func (s *Service) ZoneRecords(ctx context.Context, name string) ([]twofold.Record, error) {
	return s.store.Records(ctx, name)
}

// ZoneFor returns the zone that the DNS name falls in, without its records:
// one indexed read, so that the DNS server can tell by the serial whether
// the records it holds are current.
//
// The name is in presentation form, as miekg/dns writes a name from the
// wire: it is cut at label boundaries only, never at an escaped dot ("\."
// is part of a label), so that x.evil\.example.com (labels x,
// evil.example, com) falls in no zone example.com.
func (s *Service) ZoneFor(ctx context.Context, name string) (z twofold.Zone, found bool, err error) {
	name = dns.Fqdn(strings.ToLower(name))
	var names []string
	for off, end := 0, name == "."; !end; off, end = dns.NextLabel(name, off) {
		names = append(names, strings.TrimSuffix(name[off:], "."))
	}
	return s.store.ZoneOf(ctx, names)
}
