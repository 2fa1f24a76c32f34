package web

import (
	"html/template"
	"regexp"
	"strings"
	"time"

	"github.com/twofold/twofold/internal/core"
)

// detailTime finds an RFC 3339 time in an event's detail text, as core
// writes one there ("due 2026-03-04T12:00:00Z").
var detailTime = regexp.MustCompile(`\b[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})\b`)

// detailHTML returns an event's detail text for a page: escaped, each
// RFC 3339 time in it shown as the pages show times (core.TimeText) in a
// <time> element that keeps it machine-readable. The stored detail, and
// the API's, stay as written; the page renders them as it shows them.
func detailHTML(detail string) template.HTML {
	var b strings.Builder
	last := 0
	for _, m := range detailTime.FindAllStringIndex(detail, -1) {
		t, err := time.Parse(time.RFC3339, detail[m[0]:m[1]])
		if err != nil {
			continue // no time after all (a 25th hour, say): left as written
		}
		b.WriteString(template.HTMLEscapeString(detail[last:m[0]]))
		b.WriteString(`<time datetime="` + t.UTC().Format(time.RFC3339Nano) + `">` + template.HTMLEscapeString(core.TimeText(t)) + `</time>`)
		last = m[1]
	}
	b.WriteString(template.HTMLEscapeString(detail[last:]))
	return template.HTML(b.String())
}
