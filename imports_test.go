package twofold_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportRules enforces STYLE.md's layout: dependencies point downward only.
func TestImportRules(t *testing.T) {
	const module = "github.com/twofold/twofold"
	imports := map[string][]string{} // package dir → imports of its non-test files
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			imports[dir] = append(imports[dir], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	isStd := func(p string) bool { return !strings.Contains(strings.SplitN(p, "/", 2)[0], ".") }
	for dir, imps := range imports {
		for _, p := range imps {
			switch {
			case dir == "." && !isStd(p):
				t.Errorf("package twofold imports %s: the vocabulary is standard library only", p)
			case dir == "internal/otp" && !isStd(p):
				t.Errorf("internal/otp imports %s: it is standard library only", p)
			case (dir == "internal/core" || strings.HasPrefix(dir, "internal/factor")) && (p == "net/http" || p == "database/sql"):
				t.Errorf("%s imports %s: core never touches HTTP or SQL", dir, p)
			case dir == "internal/core" && strings.HasPrefix(p, module+"/internal/store"):
				t.Errorf("internal/core imports %s: the store implements core's interface, not the other way round", p)
			case (dir == "internal/dnsapi" || dir == "internal/nameserver") && strings.HasPrefix(p, module+"/internal/store"):
				t.Errorf("%s imports %s: the DNS API and the name server go through core", dir, p)
			case p == "testing" && dir != "internal/testenv" && !strings.HasSuffix(dir, "storetest"):
				t.Errorf("%s imports testing: production code must not", dir)
			case strings.HasPrefix(p, module+"/internal/testenv") && dir != "internal/testenv":
				t.Errorf("%s imports testenv: it is for tests only", dir)
			case dir != "internal/store" && !strings.HasPrefix(dir, "internal/store/") && (p == "database/sql" || strings.HasPrefix(p, "github.com/jackc/pgx") || p == "modernc.org/sqlite") && dir != "internal/testenv":
				t.Errorf("%s imports %s: SQL lives only in internal/store", dir, p)
			}
		}
	}
	if len(imports["internal/core"]) == 0 {
		t.Fatal("found no imports for internal/core: is the walk broken?")
	}
}

// TestNoSocketPeeks: the packages that hold database connections
// (internal/store, internal/testenv) never reach for a socket's file
// descriptor (SyscallConn, syscall.RawConn): a peek at a pooled driver
// connection's socket waits for the socket's read lock, which the
// driver's own background reader may hold for as long as the server sends
// nothing, and so may wait forever.
func TestNoSocketPeeks(t *testing.T) {
	for _, dir := range []string{"internal/store", "internal/testenv"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s: %v", dir, err)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok && (sel.Sel.Name == "SyscallConn" || sel.Sel.Name == "RawConn") {
					t.Errorf("%s: %s: a database connection's socket is the driver's alone", fset.Position(sel.Pos()), sel.Sel.Name)
				}
				return true
			})
		}
	}
}
