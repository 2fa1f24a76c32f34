package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// dnsZonesBody is the data of the DNS zones page.
type dnsZonesBody struct {
	Zones []string
}

// dnsZoneBody is the data of one zone's page: its records, and a form to
// add one when the caller may change them.
type dnsZoneBody struct {
	Zone    string
	Records []twofold.Record
	// Next is the after parameter of the page of the records that follow,
	// "" when none do; Later reports whether this page is not the first.
	Next     string
	Later    bool
	Writable bool
	Types    []string
	// What was typed in the add form, kept when it comes back.
	Host, Type, TTL, Data string
}

func (s *Server) dnsZonesPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	zs, err := s.svc.DNSZones(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	s.render(w, r, http.StatusOK, "dns", Page{Title: "DNS zones", Account: &a.Account, Notice: notice(r), Body: dnsZonesBody{Zones: zs}})
}

func (s *Server) dnsZonePage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderZone(w, r, a, http.StatusOK, dnsZoneBody{Type: "A", TTL: strconv.Itoa(core.DefaultTTL)}, notice(r), "")
}

// zonePage is how many records a zone's page lists.
const zonePage = 500

func (s *Server) renderZone(w http.ResponseWriter, r *http.Request, a core.Auth, status int, b dnsZoneBody, notice, errMsg string) {
	zone := r.PathValue("zone")
	// A zone's page lists zonePage records, from the one after the record
	// ?after= names ("HOST TYPE DATA"), so that a large zone is never read
	// or rendered whole.
	var after twofold.Record
	if f := strings.SplitN(r.URL.Query().Get("after"), " ", 3); r.Method == http.MethodGet && len(f) == 3 {
		after = twofold.Record{Host: f[0], Type: f[1], Data: f[2]}
	}
	recs, more, err := s.svc.DNSRecordPage(r.Context(), a, core.RecordSet{Zone: zone}, after, zonePage, httpapi.Meta(r))
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b.Later = after.Host != ""
	if more {
		last := recs[len(recs)-1]
		b.Next = last.Host + " " + last.Type + " " + last.Data
	}
	writable, err := s.svc.MayWriteZone(r.Context(), a, zone, httpapi.Meta(r))
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b.Zone, b.Records, b.Writable, b.Types = strings.ToLower(strings.TrimSuffix(zone, ".")), recs, writable, core.RecordTypes()
	s.render(w, r, status, "dns_zone", Page{Title: b.Zone, Account: &a.Account, Notice: notice, Error: errMsg, Body: b})
}

// addDNSRecord adds the record of the form to the zone.
func (s *Server) addDNSRecord(w http.ResponseWriter, r *http.Request, a core.Auth) {
	f := r.PostForm
	b := dnsZoneBody{Host: f.Get("host"), Type: f.Get("type"), TTL: f.Get("ttl"), Data: f.Get("data")}
	var ch core.Change
	ttl, err := strconv.Atoi(strings.TrimSpace(b.TTL))
	if err != nil {
		err = twofold.Errorf(twofold.CodeInvalid, "the TTL must be a number of seconds")
		markInvalid(r, "record-ttl")
	} else {
		in := core.RecordInput{Host: b.Host, Type: b.Type, TTL: ttl, Data: b.Data}
		ch, err = s.svc.AddDNSRecords(r.Context(), a, core.RecordSet{Zone: r.PathValue("zone")}, []core.RecordInput{in}, httpapi.Meta(r))
		if twofold.ErrorCode(err) == twofold.CodeInvalid {
			markInvalid(r, recordField(err))
		}
	}
	if err != nil {
		s.renderZone(w, r, a, s.status(w, r, err), b, "", message(err))
		return
	}
	notice := "record_added"
	if ch.Added == 0 {
		notice = "record_kept" // the zone had it: say so, not "added"
	}
	http.Redirect(w, r, "/settings/dns/"+url.PathEscape(r.PathValue("zone"))+"?m="+notice, http.StatusSeeOther)
}

// recordField returns the id of the field of the add-record form whose
// value err refuses, by the input core marks it with (/records/0/ttl and
// the like): the host, the type, the TTL or the data; an error that names
// no one field marks the data, the field most checks are about.
func recordField(err error) string {
	_, input := twofold.ErrorInput(err)
	switch input[strings.LastIndexByte(input, '/')+1:] {
	case "host":
		return "record-host"
	case "type":
		return "record-type"
	case "ttl":
		return "record-ttl"
	}
	return "record-data"
}

// deleteDNSRecord removes one record, named by host, type and data.
func (s *Server) deleteDNSRecord(w http.ResponseWriter, r *http.Request, a core.Auth) {
	f := r.PostForm
	rs := core.RecordSet{Zone: r.PathValue("zone"), Host: f.Get("host"), Type: f.Get("type")}
	data := f.Get("data")
	var err error
	if rs.Host == "" || rs.Type == "" || data == "" {
		err = twofold.Errorf(twofold.CodeInvalid, "say which record to remove")
	} else {
		var ch core.Change
		ch, err = s.svc.DeleteDNSRecords(r.Context(), a, rs, data, httpapi.Meta(r))
		if err == nil && ch.Removed == 0 {
			err = twofold.Errorf(twofold.CodeNotFound, "that record is gone already")
		}
	}
	if err != nil {
		s.renderZone(w, r, a, s.status(w, r, err), dnsZoneBody{Type: "A", TTL: strconv.Itoa(core.DefaultTTL)}, "", message(err))
		return
	}
	http.Redirect(w, r, "/settings/dns/"+url.PathEscape(r.PathValue("zone"))+"?m=record_removed", http.StatusSeeOther)
}
