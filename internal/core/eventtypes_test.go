package core

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestEventTypesCoverCore fails when core's sources write an audit event
// type missing from EventTypes (a webhook could not subscribe to it), or
// when EventTypes is not sorted. Literals spelled as event types
// (words of a-z and _ joined by one dot) are taken for them, as the web
// package's TestEventTextsCoverCore takes them.
func TestEventTypesCoverCore(t *testing.T) {
	literal := regexp.MustCompile(`^[a-z][a-z_]*\.[a-z][a-z_]*$`)
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("core sources: %v (%d files)", err, len(files))
	}
	written := map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && literal.MatchString(s) {
					written[s] = true
				}
			}
			return true
		})
	}
	if !written["login.password_failed"] || !written["dns.records_changed"] {
		t.Fatal("core's sources parsed without login.password_failed or dns.records_changed: the parse is broken")
	}
	for typ := range written {
		if !slices.Contains(EventTypes, typ) {
			t.Errorf("core writes %s, missing from EventTypes", typ)
		}
	}
	if !slices.IsSorted(EventTypes) {
		t.Error("EventTypes is not sorted")
	}
}

// TestWebhookEventsKnown: a webhook takes only event types Twofold writes
// and prefixes of them, so that a misspelt name cannot select nothing.
func TestWebhookEventsKnown(t *testing.T) {
	for _, in := range [][]string{{"login.failed"}, {"Login.*"}, {"nonsense"}, {"login.password_failed", "logn.*"}, {"LOGIN.PASSWORD_FAILED"}, {"login.password.*"}, {"login.password_fail.*"}} {
		if got, err := checkWebhookEvents(in); err == nil {
			t.Errorf("checkWebhookEvents(%q) = %q, want an error", in, got)
		}
	}
	for _, in := range [][]string{{"login.password_failed", "webhook.*"}, {"login.*", " dns.records_changed "}, {"*"}, nil} {
		if _, err := checkWebhookEvents(in); err != nil {
			t.Errorf("checkWebhookEvents(%q): %v", in, err)
		}
	}
}
