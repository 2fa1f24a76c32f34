package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
)

// adminEventsBody is the data of the operator's audit log: every account's
// events, and those of no account (a login of an unknown username, an
// address throttled), with the filters and paging of GET /v1/admin/events.
type adminEventsBody struct {
	Events  []twofold.AuditEvent // newest first
	Types   string               // the type filter as typed: names separated by commas
	Account string               // the account filter: an account id, "" for every account
	// Older, Newer and Newest link to the pages on each side and to the
	// newest page, with the same filters; "" when there is none, or when
	// this is the newest.
	Older, Newer, Newest string
	Known                []string // event types, offered in the type field
}

const adminEventsPerPage = 50

// adminEvents shows the audit log to an operator, newest first: of every
// account or of one (account=ID), of some types only (type=a,b), a page
// before an event id or after one (README "Audit log and operations").
func (s *Server) adminEvents(w http.ResponseWriter, r *http.Request, a core.Auth) {
	v := r.URL.Query()
	b := adminEventsBody{Types: v.Get("type"), Account: strings.TrimSpace(v.Get("account")), Known: eventTypes()}
	q := twofold.EventQuery{AccountID: b.Account, Limit: adminEventsPerPage + 1}
	for _, t := range strings.Split(b.Types, ",") {
		if t = strings.TrimSpace(t); t != "" {
			q.Types = append(q.Types, t)
		}
	}
	// A malformed page is refused, as the API refuses it, rather than
	// taken for the newest: a link cut short must not pass for the log's
	// end. Empty is none (the filter form sends no paging).
	var err error
	if before := v.Get("before"); before != "" {
		if q.Before, err = strconv.ParseInt(before, 10, 64); err != nil || q.Before < 1 {
			err = twofold.Errorf(twofold.CodeInvalid, "before must be an event id (a positive integer)")
		}
	}
	if after := v.Get("after"); after != "" && err == nil {
		if q.After, err = strconv.ParseInt(after, 10, 64); err != nil || q.After < 0 {
			err = twofold.Errorf(twofold.CodeInvalid, "after must be an event id (a positive integer), or 0 for the oldest")
		}
		q.Forward = true
	}
	var evs []twofold.AuditEvent
	if err == nil {
		evs, err = s.svc.AuditEvents(r.Context(), a, q)
	}
	if err != nil {
		if twofold.ErrorCode(err) != twofold.CodeInvalid {
			s.fail(w, r, &a, err)
			return
		}
		// A type the filter cannot use is its field's (the paging is no
		// field: a link's).
		invalid := ""
		if f := core.RefusedField(err); f == "type" || f == "account" {
			invalid = f
		}
		s.render(w, r, http.StatusBadRequest, "admin_events", Page{Title: "Audit log", Account: &a.Account, Error: message(err), Invalid: invalid, Body: b})
		return
	}
	var older, newer int64 // the "before" and "after" of the pages on each side, 0: none
	paged := false         // not the newest page
	more := len(evs) > adminEventsPerPage
	if more {
		evs = evs[:adminEventsPerPage]
	}
	if q.Forward {
		// A page after an id comes oldest first: the events just newer
		// than it, shown newest first like the others.
		slices.Reverse(evs)
		paged = more || q.After > 0
		if more {
			newer = evs[0].ID
		}
		if len(evs) > 0 {
			older = evs[len(evs)-1].ID
		} else if q.After > 0 {
			older = q.After + 1
		}
	} else {
		paged = q.Before > 0
		if more {
			older = evs[len(evs)-1].ID
		}
		if len(evs) > 0 && q.Before > 0 {
			newer = evs[0].ID
		} else if q.Before > 0 {
			newer = q.Before - 1
		}
	}
	b.Events = evs
	link := func(key string, id int64) string {
		u := url.Values{}
		if b.Types != "" {
			u.Set("type", b.Types)
		}
		if b.Account != "" {
			u.Set("account", b.Account)
		}
		if key != "" {
			u.Set(key, strconv.FormatInt(id, 10))
		}
		if len(u) == 0 {
			return "/admin/events"
		}
		return "/admin/events?" + u.Encode()
	}
	if older > 0 {
		b.Older = link("before", older)
	}
	if newer > 0 {
		b.Newer = link("after", newer)
	}
	if paged {
		b.Newest = link("", 0)
	}
	s.render(w, r, http.StatusOK, "admin_events", Page{Title: "Audit log", Account: &a.Account, Body: b})
}

// eventTypes returns the event types the pages have words for, sorted.
func eventTypes() []string {
	out := make([]string, 0, len(eventTexts))
	for t := range eventTexts {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}
