package web

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv/eventscan"
)

// coreEventTypes are the string literals of internal/core's non-test
// sources that are spelled as audit event types (eventscan.Types), as
// core's TestEventTypesCoverCore takes them.
func coreEventTypes(t *testing.T) map[string]bool {
	t.Helper()
	types, err := eventscan.Types(filepath.Join("..", "core"))
	if err != nil {
		t.Fatalf("core sources: %v", err)
	}
	return types
}

// TestEventTextsCoverCore fails when core records an audit event type that
// the events pages would show by its raw name. A text for a type core does
// not write is harmless (the command line's keys.rotated, a type on its
// way in from another branch) and only logged: a misspelt key still fails,
// as the type it meant lacks its text.
func TestEventTextsCoverCore(t *testing.T) {
	written := coreEventTypes(t)
	// Sanity: the parse finds the types it must (one of each way of
	// recording: audit, auditRefused, auditCounterpart, a typ variable).
	for _, typ := range []string{"login.succeeded", "login.throttled", "team.removed", "team.two_factor_not_required", "dns.records_changed"} {
		if !written[typ] {
			t.Fatalf("core's sources parsed without %s: the parse is broken", typ)
		}
	}
	var missing, stale []string
	for typ := range written {
		if strings.TrimSpace(eventTexts[typ]) == "" {
			missing = append(missing, typ)
		}
	}
	for typ := range eventTexts {
		if !written[typ] {
			stale = append(stale, typ)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("audit event types written by core without a text in eventTexts: %s", strings.Join(missing, ", "))
	}
	if len(stale) > 0 {
		t.Logf("eventTexts has texts for types that core does not write: %s", strings.Join(stale, ", "))
	}
	for typ := range written {
		if got := eventText(typ); got == typ {
			t.Errorf("eventText(%q) = %q, want words", typ, got)
		}
	}
}
