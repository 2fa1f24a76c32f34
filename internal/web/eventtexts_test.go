package web

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// eventTypeLiteral is how an audit event type is spelled in core's
// sources: words of lower-case letters and underscores joined by one dot
// ("team.invitation_accepted").
var eventTypeLiteral = regexp.MustCompile(`^[a-z][a-z_]*\.[a-z][a-z_]*$`)

// coreEventTypes are the string literals of internal/core's non-test
// sources that are spelled as audit event types. Every such literal there
// is one: core names no hosts nor files in that shape. Should one appear,
// TestEventTextsCoverCore names it, and this function must learn to skip
// it rather than the test give it a text.
func coreEventTypes(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "core", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("core sources: %v (%d files)", err, len(files))
	}
	types := map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			if s, err := strconv.Unquote(lit.Value); err == nil && eventTypeLiteral.MatchString(s) {
				types[s] = true
			}
			return true
		})
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
