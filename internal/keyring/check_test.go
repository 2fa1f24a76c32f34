package keyring

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCheckFile: CheckFile accepts a key file that opens every data key
// and otherwise says which case it is: no file or another installation's
// (ErrForeignKeyFile too), a copy from before a rotation (the newest key
// closed), a copy from after a rotation under way (an older key closed).
func TestCheckFile(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	save := func(name string, f *File) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := f.Save(path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	wrap := func(f *File, at time.Time) WrappedKey {
		t.Helper()
		w, err := wrapDataKey(f, at)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	// before: the installation's file before a rotation; both: during it
	// (the old master and the new primary); after: once it finished.
	before := &File{HashKey: randomBytes(32)}
	old := before.AddMaster(t0)
	oldKey := wrap(before, t0)
	both := &File{HashKey: before.HashKey, Masters: []MasterKey{old}}
	both.AddMaster(t0.Add(time.Hour))
	newKey := wrap(both, t0.Add(time.Hour))
	after := &File{HashKey: before.HashKey, Masters: both.Masters[1:], Primary: both.Primary}
	other := &File{HashKey: randomBytes(32)}
	other.AddMaster(t0)
	// The same master id with other bytes opens nothing either.
	forged := &File{HashKey: randomBytes(32), Masters: []MasterKey{{ID: old.ID, Key: randomBytes(32), Created: t0}}, Primary: old.ID}
	paths := map[string]string{"before": save("before.key", before), "both": save("both.key", both), "after": save("after.key", after),
		"other": save("other.key", other), "forged": save("forged.key", forged), "missing": filepath.Join(dir, "missing.key")}

	mid := []WrappedKey{oldKey, newKey} // a backup made during the rotation
	for _, tt := range []struct {
		file    string
		keys    []WrappedKey
		foreign bool
		says    string // "" when it matches
	}{
		{"missing", nil, false, ""},
		{"other", nil, false, ""},
		{"before", []WrappedKey{oldKey}, false, ""},
		{"both", mid, false, ""},
		{"after", []WrappedKey{newKey}, false, ""},
		{"missing", mid, true, "it does not exist"},
		{"other", mid, true, "another installation's key file"},
		{"forged", []WrappedKey{oldKey}, true, "another installation's key file"},
		{"before", mid, false, "not the newest, " + newKey.ID + " (master key " + both.Primary + ")"},
		{"after", mid, false, "not the older " + oldKey.ID + " (master keys " + old.ID + ")"},
	} {
		err := CheckFile(paths[tt.file], tt.keys)
		if tt.says == "" {
			if err != nil {
				t.Errorf("%s, %d keys: got %v, want none", tt.file, len(tt.keys), err)
			}
			continue
		}
		if !errors.Is(err, ErrKeyFileMismatch) || errors.Is(err, ErrForeignKeyFile) != tt.foreign || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%s, %d keys: got %v, want ErrKeyFileMismatch (foreign %v) saying %q", tt.file, len(tt.keys), err, tt.foreign, tt.says)
		}
	}
}
