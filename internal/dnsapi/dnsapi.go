// Package dnsapi serves the DNS API guarded by permits (SPEC §3 "DNS API"):
// zones and records under /dns/v2/, compatible with the Mythic Beasts DNS
// API v2, so that its clients (lego's mythicbeasts provider, curl scripts)
// work against Twofold. Records travel as JSON, in zone-file form
// (text/dns), or as form parameters. Handlers decode, make one core call
// and encode; failures are problems written by httpapi, whose one table
// maps codes to statuses.
package dnsapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// Prefix is the path the DNS API is served under.
const Prefix = "/dns/v2/"

// zoneText is the media type of records in zone-file form.
const zoneText = "text/dns"

// maxBody bounds request bodies: 1000 records of a typical length.
const maxBody = 256 << 10

// Server is the DNS API.
type Server struct {
	svc *core.Service
	api *httpapi.Server // authenticates callers
	log *slog.Logger
}

// New returns the DNS API; api authenticates its callers.
func New(svc *core.Service, api *httpapi.Server, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{svc: svc, api: api, log: log}
}

// Routes lists every route of the DNS API as "METHOD /path".
func (s *Server) Routes() map[string]http.HandlerFunc {
	// GET takes no body, and refuses one (DELETE takes a form: deleteData).
	routes := map[string]http.HandlerFunc{"GET /dns/v2/zones": httpapi.NoBody(s.api.BasicCaller(s.zones))}
	for _, p := range []string{"/dns/v2/zones/{zone}/records", "/dns/v2/zones/{zone}/records/{host}", "/dns/v2/zones/{zone}/records/{host}/{type}"} {
		routes["GET "+p] = httpapi.NoBody(s.api.BasicCaller(s.records))
		routes["POST "+p] = s.api.BasicCaller(s.add)
		routes["PUT "+p] = s.api.BasicCaller(s.replace)
		routes["DELETE "+p] = s.api.BasicCaller(s.delete)
	}
	return routes
}

// Register adds the routes to mux, answers a known path asked with another
// method with a 405 problem and any other path under Prefix with a 404
// problem.
func (s *Server) Register(mux *http.ServeMux) {
	routes := s.Routes()
	for pattern, h := range routes {
		mux.HandleFunc(pattern, httpapi.NotCrossSite(s.svc.BaseURL(), s.log, httpapi.ParsableQuery(s.log, h)))
	}
	for path, allowed := range httpapi.Allowed(routes) {
		mux.Handle(path, httpapi.MethodNotAllowed(allowed))
	}
	mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteError(w, r, s.log, twofold.Errorf(twofold.CodeNotFound, "no such DNS API path"))
	})
}

// set returns the records the request's path selects.
func set(r *http.Request) core.RecordSet {
	return core.RecordSet{Zone: r.PathValue("zone"), Host: r.PathValue("host"), Type: r.PathValue("type")}
}

func (s *Server) zones(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := httpapi.Query(r); err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	names, err := s.svc.DNSZones(r.Context(), a)
	if err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string][]string{"zones": names})
}

// record is a record in JSON. Data is the record's data in presentation
// form, names fully qualified, except TXT, whose data is its text itself
// when that reads back as the same record (core.TXTText). On input
// MX and SRV data may leave out the numbers, given instead as mx_priority,
// or srv_priority, srv_weight and srv_port, as the Mythic Beasts API has them.
type record struct {
	Host        string `json:"host"`
	TTL         *int   `json:"ttl"` // nil on input: left out, core.DefaultTTL
	Type        string `json:"type"`
	Data        string `json:"data"`
	MXPriority  *int   `json:"mx_priority,omitempty"`
	SRVPriority *int   `json:"srv_priority,omitempty"`
	SRVWeight   *int   `json:"srv_weight,omitempty"`
	SRVPort     *int   `json:"srv_port,omitempty"`
}

// excludes are the query parameters of a record read in the Mythic Beasts
// API that leave out the records its servers make themselves (generated
// records, exclude-generated) and those a DNS template adds
// (exclude-template). Twofold makes no records and has no templates: every
// record of a zone is one its owner wrote, so these leave nothing out, yet a
// client written for that API may send them and is answered as there.
var excludes = []string{"exclude-generated", "exclude-template"}

// readQuery checks the query of a record read: data, and the excludes,
// each a boolean (true or false, also 1 or 0) that changes nothing here but
// is refused when it is not a boolean, as a misspelt value may mean
// something a client relies on.
func readQuery(r *http.Request) error {
	if err := httpapi.Query(r, append([]string{"data"}, excludes...)...); err != nil {
		return err
	}
	q := r.URL.Query()
	for _, name := range excludes {
		for _, v := range q[name] {
			if _, err := strconv.ParseBool(v); err != nil {
				return twofold.Errorf(twofold.CodeInvalid, "%s=%q is not a boolean: give true or false", name, core.CleanText(v, 16)).OnQuery(name)
			}
		}
	}
	return nil
}

// records answers with the records the path selects, written as they are
// read, a page at a time (core.EachDNSRecord), so that a large zone read by
// many slow clients is never held whole, once for each. The answer is the
// same as one written at once: a JSON object {"records": [...]} as
// WriteJSON writes it, or zone-file form (core.FormatZoneText). An error
// found before any of it left the server is a problem; one found later can
// no longer be, and a truncated answer must not pass for the whole one, so
// the connection is cut (an HTTP/1.1 chunked answer without its last chunk,
// an HTTP/2 stream reset) and the error logged.
func (s *Server) records(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := readQuery(r); err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	seq, err := s.svc.EachDNSRecord(r.Context(), a, set(r), r.URL.Query().Get("data"), httpapi.Meta(r))
	if err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	text := wantsZoneText(r)
	sent := &sentWriter{w: w}
	out := bufio.NewWriterSize(sent, 32<<10)
	if text {
		w.Header().Set("Content-Type", zoneText)
	} else {
		w.Header().Set("Content-Type", "application/json")
		out.WriteString(`{"records":[`)
	}
	w.Header().Set("Cache-Control", "no-store")
	first := true
	for rec, err := range seq {
		if err != nil {
			s.cutShort(w, r, sent, err)
			return
		}
		var b []byte
		if text {
			b = []byte(core.FormatZoneText([]twofold.Record{rec}))
		} else {
			ttl := int(rec.TTL)
			j := record{Host: rec.Host, TTL: &ttl, Type: rec.Type, Data: rec.Data}
			if rec.Type == "TXT" {
				j.Data = core.TXTText(rec.Data)
			}
			if b, err = json.Marshal(j); err != nil {
				s.cutShort(w, r, sent, err)
				return
			}
			if !first {
				b = append([]byte{','}, b...)
			}
		}
		first = false
		if _, err := out.Write(b); err != nil {
			return // the client is gone, or the server's write timeout passed: nothing more can reach it
		}
	}
	if !text {
		out.WriteString("]}\n")
	}
	out.Flush()
}

// cutShort ends an answer of records that failed after it began: with a
// problem when nothing of it left the server yet, else by cutting the
// connection, so that the client sees an error rather than fewer records.
func (s *Server) cutShort(w http.ResponseWriter, r *http.Request, sent *sentWriter, err error) {
	switch {
	case r.Context().Err() != nil:
		return // the client is gone: nothing reaches it
	case !sent.started:
		w.Header().Del("Content-Type")
		w.Header().Del("Cache-Control")
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	s.log.Warn("DNS API: answer of records cut short", "zone", r.PathValue("zone"), "error", err)
	panic(http.ErrAbortHandler)
}

// sentWriter is an http.ResponseWriter's body that reports whether some of
// it was written.
type sentWriter struct {
	w       io.Writer
	started bool
}

func (sw *sentWriter) Write(p []byte) (int, error) {
	sw.started = true
	return sw.w.Write(p)
}

// wantsZoneText reports whether the client asks for zone-file form: its
// Accept lists text/dns with a quality above 0, and no JSON type (or a
// range that covers JSON) with a higher one (RFC 9110 §12.5.1: q=0 is
// "not acceptable").
func wantsZoneText(r *http.Request) bool {
	text, js := -1.0, -1.0
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if qs, ok := params["q"]; ok {
				if q, err = strconv.ParseFloat(qs, 64); err != nil || q < 0 || q > 1 {
					continue
				}
			}
			switch mt {
			case zoneText:
				text = max(text, q)
			case "application/json", "application/*", "*/*":
				js = max(js, q)
			}
		}
	}
	return text > 0 && text >= js
}

func (s *Server) add(w http.ResponseWriter, r *http.Request, a core.Auth) {
	in, mt, err := s.body(w, r)
	if err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	ch, err := s.svc.AddDNSRecords(r.Context(), a, set(r), in, httpapi.Meta(r))
	if err != nil {
		httpapi.WriteError(w, r, s.log, refusedInput(err, mt))
		return
	}
	// A record already there counts as added, as it is there as asked: a
	// client that presents the same value again (lego's mythicbeasts
	// provider wants records_added 1) succeeds, and the zone holds it once.
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"records_added": ch.Added + ch.Kept, "message": count(ch.Added+ch.Kept, "added")})
}

// replace puts the body's records in place of those the path selects. A
// body that names no record (no records, null or [], a form without data,
// an empty zone file) is refused rather than taken for emptying the set:
// an empty body is more often a mistake (a mistyped file name) than a
// wish, and DELETE removes records.
func (s *Server) replace(w http.ResponseWriter, r *http.Request, a core.Auth) {
	in, mt, err := s.body(w, r)
	if err == nil && len(in) == 0 {
		err = twofold.Errorf(twofold.CodeInvalid, "a PUT names no records: it replaces records and never removes them all; to remove records use DELETE")
	}
	if err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	ch, err := s.svc.ReplaceDNSRecords(r.Context(), a, set(r), in, httpapi.Meta(r))
	if err != nil {
		httpapi.WriteError(w, r, s.log, refusedInput(err, mt))
		return
	}
	// A change of TTLs alone changes the zone too: it is said, not
	// answered as if nothing had happened.
	msg := count(ch.Added, "added") + ", " + count(ch.Removed, "removed")
	if ch.Retimed > 0 {
		msg += fmt.Sprintf(", %d kept with a new TTL", ch.Retimed)
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"records_added": ch.Added, "records_removed": ch.Removed,
		"records_retimed": ch.Retimed, "message": msg})
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, a core.Auth) {
	data, err := deleteData(w, r)
	if err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	ch, err := s.svc.DeleteDNSRecords(r.Context(), a, set(r), data, httpapi.Meta(r))
	if err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"records_removed": ch.Removed, "message": count(ch.Removed, "removed")})
}

// deleteData returns the data a DELETE names, the one record of the set to
// remove ("" for the whole set): the data parameter of the URL's query or of
// a form body (curl -X DELETE -d data=…). A DELETE that names data is never
// taken for one of the whole set: a body of another kind, a parameter other
// than data (in the query or the form), data given twice, or query and body that disagree are refused.
func deleteData(w http.ResponseWriter, r *http.Request) (string, error) {
	if err := httpapi.Query(r, "data"); err != nil {
		return "", err
	}
	query := r.URL.Query()["data"]
	text, err := readBody(w, r)
	if err != nil {
		return "", err
	}
	var form []string
	if strings.TrimSpace(text) != "" {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != "application/x-www-form-urlencoded" {
			return "", twofold.Errorf(twofold.CodeInvalid, "a DELETE takes the data of the record to remove as a form parameter (application/x-www-form-urlencoded) or in the query, and no other body")
		}
		vs, err := url.ParseQuery(text)
		if err != nil {
			return "", twofold.Errorf(twofold.CodeInvalid, "form parameters could not be read")
		}
		for k := range vs {
			if k != "data" {
				return "", twofold.Errorf(twofold.CodeInvalid, "unknown form parameter %q: a DELETE takes data only", core.CleanText(k, 32)).OnQuery(core.CleanText(k, 32))
			}
		}
		form = vs["data"]
	}
	if len(query) > 1 || len(form) > 1 {
		return "", twofold.Errorf(twofold.CodeInvalid, "data is given more than once: a DELETE removes one record, or the whole set without data").OnQuery("data")
	}
	var data []string
	switch {
	case len(query) == 1 && len(form) == 1 && query[0] != form[0]:
		return "", twofold.Errorf(twofold.CodeInvalid, "data in the query and in the body differ: give it once").OnQuery("data")
	case len(form) == 1:
		data = form
	case len(query) == 1:
		data = query
	default:
		return "", nil
	}
	if strings.TrimSpace(data[0]) == "" {
		return "", twofold.Errorf(twofold.CodeInvalid, "data is empty: leave it out to remove the whole set").OnQuery("data")
	}
	return data[0], nil
}

// body reads the records a POST or PUT sends, by its Content-Type: JSON
// (the default), zone-file form (text/dns), or form parameters (data,
// repeatable, and ttl) for records at the path's host and type. It returns
// the body's media type too, for refusedInput.
func (s *Server) body(w http.ResponseWriter, r *http.Request) ([]core.RecordInput, string, error) {
	mt := "application/json"
	if err := httpapi.Query(r); err != nil {
		return nil, mt, err
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" && empty(r) {
		// curl -X POST without -d: say what a body holds rather than
		// that it is not JSON, which it was never meant to be.
		return nil, mt, twofold.Errorf(twofold.CodeInvalid, "the request has no body: send the records as form parameters (data=…, ttl=…), as JSON ({\"records\":[…]}) or in zone-file form (Content-Type: text/dns)")
	}
	if ct != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			return nil, mt, twofold.Errorf(twofold.CodeInvalid, "Content-Type %q is not a media type", core.CleanText(ct, 80))
		}
	}
	switch mt {
	case "application/json":
		var body struct {
			Records []record `json:"records"`
		}
		if err := httpapi.Decode(w, r, &body); err != nil {
			return nil, mt, err
		}
		in := make([]core.RecordInput, len(body.Records))
		for i, rec := range body.Records {
			data, err := joinNumbers(rec, r.PathValue("type"))
			if err != nil {
				_, member := twofold.ErrorInput(err)
				return nil, mt, twofold.Errorf(twofold.CodeInvalid, "record %d: %s", i+1, twofold.ErrorMessage(err)).At(twofold.InBody, twofold.JSONPointer("records", strconv.Itoa(i))+member)
			}
			ttl := core.DefaultTTL // only when left out: an explicit 0 is refused
			if rec.TTL != nil {
				ttl = *rec.TTL
			}
			in[i] = core.RecordInput{Host: rec.Host, Type: rec.Type, TTL: ttl, Data: data}
		}
		return in, mt, nil
	case zoneText:
		text, err := readBody(w, r)
		if err != nil {
			return nil, mt, err
		}
		zone, err := core.NormalizeZoneName(r.PathValue("zone"))
		if err != nil {
			return nil, mt, err
		}
		recs, err := core.ParseZoneText(zone, text)
		if err != nil {
			return nil, mt, err
		}
		in := make([]core.RecordInput, len(recs))
		for i, rec := range recs {
			in[i] = core.RecordInput{Host: rec.Host, Type: rec.Type, TTL: int(rec.TTL), Data: rec.Data}
		}
		return in, mt, nil
	case "application/x-www-form-urlencoded":
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		var me *http.MaxBytesError
		switch err := r.ParseForm(); {
		case errors.As(err, &me):
			return nil, mt, httpapi.TooLarge(maxBody)
		case err != nil:
			return nil, mt, twofold.Errorf(twofold.CodeInvalid, "form body is not application/x-www-form-urlencoded (a bad %%-escape or a semicolon)")
		case !httpapi.TextValues(r.PostForm):
			return nil, mt, twofold.Errorf(twofold.CodeInvalid, "form parameters could not be read as UTF-8 text without NUL bytes")
		}
		for k := range r.PostForm {
			if k != "data" && k != "ttl" {
				return nil, mt, twofold.Errorf(twofold.CodeInvalid, "unknown form parameter %q: use data and ttl", core.CleanText(k, 32)).OnQuery(core.CleanText(k, 32))
			}
		}
		if r.PathValue("type") == "" {
			return nil, mt, twofold.Errorf(twofold.CodeInvalid, "form parameters need the host and type in the path: …/records/HOST/TYPE")
		}
		// ttl left out is the default; given, it is read as given (0
		// and ttl= are refused, never taken for the default), and once.
		ttl := core.DefaultTTL
		switch vs := r.PostForm["ttl"]; {
		case len(vs) > 1:
			return nil, mt, twofold.Errorf(twofold.CodeInvalid, "form parameter \"ttl\" is given %d times: give it once", len(vs)).OnQuery("ttl")
		case len(vs) == 1:
			v := vs[0]
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, mt, twofold.Errorf(twofold.CodeInvalid, "the TTL %q is not a number of seconds", core.CleanText(v, 16)).OnQuery("ttl")
			}
			ttl = n
		}
		var in []core.RecordInput
		for _, d := range r.PostForm["data"] {
			in = append(in, core.RecordInput{TTL: ttl, Data: d})
		}
		return in, mt, nil
	}
	return nil, mt, twofold.Errorf(twofold.CodeInvalid, "Content-Type %s is not taken: send application/json, %s or application/x-www-form-urlencoded", core.CleanText(mt, 80), zoneText)
}

// empty reports whether r's body is empty: of length 0, or of unknown
// length (chunked) and ending before its first byte. A body that has one
// is left to be read whole, that byte first.
func empty(r *http.Request) bool {
	if r.ContentLength >= 0 {
		return r.ContentLength == 0
	}
	var first [1]byte
	n, err := io.ReadFull(r.Body, first[:])
	if n == 0 && err == io.EOF {
		return true
	}
	// A read that failed fails again for the reader of the body, which
	// says so.
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(first[:n]), r.Body), r.Body}
	return false
}

// refusedInput returns err, core's refusal of the records of a body of
// media type mt, marked with the input it refuses as that body holds it:
// core marks a record's field as the JSON body holds it
// ("/records/2/ttl"), which a form body gives as the parameter data or
// ttl (in the query's place, as form parameters are named, README "Using
// it"), and a zone-file body, which has no names for its parts, not at
// all (the detail names the record).
func refusedInput(err error, mt string) error {
	in, name := twofold.ErrorInput(err)
	if in != twofold.InBody || mt == "application/json" {
		return err
	}
	var e *twofold.Error
	errors.As(err, &e)
	c := *e
	c.In, c.Input = "", ""
	if mt == "application/x-www-form-urlencoded" {
		switch _, field, _ := strings.Cut(strings.TrimPrefix(name, "/records/"), "/"); field {
		case "data", "ttl":
			c.At(twofold.InQuery, field)
		}
	}
	return &c
}

// readBody reads a text body of at most maxBody bytes; a longer one is a
// too-large problem (413).
func readBody(w http.ResponseWriter, r *http.Request) (string, error) {
	b, err := httpapi.ReadBody(w, r, maxBody)
	return string(b), err
}

// joinNumbers returns rec's data with the numbers MX and SRV records may
// give in fields of their own put in front. A record without a type has
// the path's, pathType, as core gives it.
func joinNumbers(rec record, pathType string) (string, error) {
	typ := strings.ToUpper(strings.TrimSpace(rec.Type))
	if typ == "" {
		typ = strings.ToUpper(strings.TrimSpace(pathType))
	}
	srv := rec.SRVPriority != nil || rec.SRVWeight != nil || rec.SRVPort != nil
	switch {
	case rec.MXPriority != nil && typ != "MX":
		return "", twofold.Errorf(twofold.CodeInvalid, "mx_priority is for MX records").On("mx_priority")
	case srv && typ != "SRV":
		return "", twofold.Errorf(twofold.CodeInvalid, "srv_priority, srv_weight and srv_port are for SRV records").On("srv_priority")
	case rec.MXPriority != nil:
		return strconv.Itoa(*rec.MXPriority) + " " + rec.Data, nil
	case srv && (rec.SRVPriority == nil || rec.SRVWeight == nil || rec.SRVPort == nil):
		return "", twofold.Errorf(twofold.CodeInvalid, "give srv_priority, srv_weight and srv_port together")
	case srv:
		return fmt.Sprintf("%d %d %d %s", *rec.SRVPriority, *rec.SRVWeight, *rec.SRVPort, rec.Data), nil
	}
	return rec.Data, nil
}

// count says how many records a change added or removed: "1 record added".
func count(n int, what string) string {
	if n == 1 {
		return "1 record " + what
	}
	return fmt.Sprintf("%d records %s", n, what)
}
