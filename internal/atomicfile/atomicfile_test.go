package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestTarget: a file is its own target, so is a path where nothing is yet;
// a link (by a relative path, through another link) leads to its file; a
// link that leads nowhere is an error.
func TestTarget(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "data", "twofold.key")
	if err := os.Mkdir(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.key")
	if err := os.Symlink(filepath.Join("data", "twofold.key"), link); err != nil {
		t.Fatal(err)
	}
	link2 := filepath.Join(dir, "link2.key")
	if err := os.Symlink("link.key", link2); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling.key")
	if err := os.Symlink("none.key", dangling); err != nil {
		t.Fatal(err)
	}
	want, err := filepath.EvalSymlinks(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"file", file, file},
		{"nothing there", filepath.Join(dir, "new.key"), filepath.Join(dir, "new.key")},
		{"link", link, want},
		{"link to a link", link2, want},
	} {
		if got, err := Target(tc.path); err != nil || got != tc.want {
			t.Errorf("%s: Target = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if got, err := Target(dangling); err == nil {
		t.Errorf("dangling link: Target = %q, want an error", got)
	}
}

// TestSyncDir: a directory syncs; one that is not there is an error, which
// a caller that must know (the push device's state file) reports.
func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	if err := SyncDir(dir); err != nil {
		t.Errorf("SyncDir(%s): %v", dir, err)
	}
	if err := SyncDir(filepath.Join(dir, "gone")); err == nil {
		t.Error("SyncDir of a missing directory: got nil error")
	}
}
