package twofold_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
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

// fieldColon is a message that begins with one word and a colon, as
// "public_key: not an SSH public key" or "Url: must be https": a field's
// name put before what is wrong with it.
var fieldColon = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.]*: `)

// TestRefusalsAreSentences: no error a person or client is told
// (twofold.Errorf, a twofold.Error's Message) begins with a field's name
// and a colon. The field goes in the error's pointer (On, OnQuery, At);
// the message is a sentence about the thing refused, which the pages show
// with its first letter in upper case ("Public_key: …" was one such).
func TestRefusalsAreSentences(t *testing.T) {
	checked := 0
	check := func(fset *token.FileSet, lit ast.Expr) {
		b, ok := lit.(*ast.BasicLit)
		if !ok || b.Kind != token.STRING {
			return
		}
		msg, err := strconv.Unquote(b.Value)
		if err != nil {
			t.Fatalf("%s: %v", fset.Position(b.Pos()), err)
		}
		checked++
		if fieldColon.MatchString(msg) {
			t.Errorf("%s: %q begins with a field's name and a colon: say it as a sentence, and mark the field with On", fset.Position(b.Pos()), msg)
		}
	}
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
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		root := filepath.Dir(path) == "."
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				if twofoldName(n.Fun, root) == "Errorf" && len(n.Args) >= 2 {
					check(fset, n.Args[1])
				}
			case *ast.CompositeLit:
				if twofoldName(n.Type, root) != "Error" {
					return true
				}
				for _, e := range n.Elts {
					if kv, ok := e.(*ast.KeyValueExpr); ok {
						if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Message" {
							check(fset, kv.Value)
						}
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 300 {
		t.Fatalf("checked %d messages: is the walk broken?", checked)
	}
}

// twofoldName is the name e gives to something of the root package:
// twofold.X's X, or a bare X in the root package itself (root); "" for
// anything else.
func twofoldName(e ast.Expr, root bool) string {
	switch x := e.(type) {
	case *ast.SelectorExpr:
		if p, ok := x.X.(*ast.Ident); ok && p.Name == "twofold" {
			return x.Sel.Name
		}
	case *ast.Ident:
		if root {
			return x.Name
		}
	}
	return ""
}

// TestReadmeNamesFuzzTargets: the README's fuzzing paragraph names every
// fuzz target of the project, and its list of the targets that need a `$`
// after them for -fuzz (one whose name starts another's) holds exactly
// those.
func TestReadmeNamesFuzzTargets(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	decl := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(`)
	targets := map[string]bool{}
	byDir := map[string][]string{} // -fuzz matches the targets of one package
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range decl.FindAllStringSubmatch(string(src), -1) {
			targets[m[1]] = true
			byDir[filepath.Dir(path)] = append(byDir[filepath.Dir(path)], m[1])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) < 50 {
		t.Fatalf("found %d fuzz targets: is the walk broken?", len(targets))
	}
	const start, end = "so one whose name starts another's (", ") needs a `$` after"
	i, j := strings.Index(text, start), strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("the README has no list of the targets that need a `$` (%q … %q)", start, end)
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("`(Fuzz\\w+)`").FindAllStringSubmatch(text[i:j], -1) {
		listed[m[1]] = true
	}
	for name := range targets {
		if !strings.Contains(text, "`"+name+"`") {
			t.Errorf("the README does not name the fuzz target %s", name)
		}
	}
	for dir, names := range byDir {
		for _, name := range names {
			prefix := false
			for _, other := range names {
				prefix = prefix || other != name && strings.HasPrefix(other, name)
			}
			if prefix != listed[name] {
				t.Errorf("%s (%s) starts another target's name in its package: %v; in the README's list of those that need a `$`: %v", name, dir, prefix, listed[name])
			}
		}
	}
	for name := range listed {
		if !targets[name] {
			t.Errorf("the README's list of targets that need a `$` names %s, which is no fuzz target", name)
		}
	}
}
