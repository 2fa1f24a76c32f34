package testenv

import (
	"os"
	"testing"
)

// DirNames returns the names of what dir holds, sorted, so that a test
// checks that a command left no file behind (a database, its log, a key
// file) or only the ones it should.
func DirNames(tb testing.TB, dir string) []string {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
