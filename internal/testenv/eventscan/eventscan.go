// Package eventscan finds, for tests, the audit event types internal/core
// writes, by reading core's Go sources: core's TestEventTypesCoverCore
// keeps core.EventTypes in step with them, and the web package's
// TestEventTextsCoverCore gives each one words. It imports only the
// standard library, so that core's own tests may use it (testenv imports
// core).
package eventscan

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// literal is how an audit event type is spelled in core's sources: words
// of lower-case letters and underscores joined by one dot
// ("team.invitation_accepted").
var literal = regexp.MustCompile(`^[a-z][a-z_]*\.[a-z][a-z_]*$`)

// Types returns the string literals of the non-test Go sources in dir
// (internal/core's directory) that are spelled as audit event types. Every
// such literal there is one: core names no hosts nor files in that shape.
// Should one appear, the tests name it, and Types must learn to skip it
// rather than the tests give it a place. It fails when dir holds no Go
// source or one does not parse.
func Types(dir string) (map[string]bool, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	types := map[string]bool{}
	fset := token.NewFileSet()
	parsed := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			return nil, err
		}
		parsed++
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && literal.MatchString(s) {
					types[s] = true
				}
			}
			return true
		})
	}
	if parsed == 0 {
		return nil, fmt.Errorf("no Go sources in %s", dir)
	}
	return types, nil
}
