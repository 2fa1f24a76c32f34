package eventscan

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTypes: the literals spelled as event types of a directory's non-test
// sources, and no others; an empty directory or one that does not parse
// is an error rather than no types.
func TestTypes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Types(dir); err == nil {
		t.Error("an empty directory: no error")
	}
	write("a.go", "package a\n\nvar x = []string{\"login.succeeded\", `team.two_factor_required`, \"Login.Failed\", \"a.b.c\", \"no_dot\", \"example.com.\"}\n")
	write("b.go", "package a\n\nfunc f(typ string) string { return typ + \"dns.records_changed\" }\n")
	write("a_test.go", "package a\n\nvar y = \"test.only\"\n")
	got, err := Types(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"login.succeeded": true, "team.two_factor_required": true, "dns.records_changed": true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Types (-want +got):\n%s", diff)
	}
	write("c.go", "package a\n\nvar = \n")
	if _, err := Types(dir); err == nil {
		t.Error("a source that does not parse: no error")
	}
}
