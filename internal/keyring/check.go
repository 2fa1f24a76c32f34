package keyring

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// ErrKeyFileMismatch is matched by the error of CheckFile when the key file
// cannot open every one of a database's data keys. When it opens none of
// them, the error matches ErrForeignKeyFile too.
var ErrKeyFileMismatch = errors.New("the key file does not match the data keys")

// mismatch is CheckFile's error: why the file does not match, in words
// that follow "the key file PATH does not match the backup: ".
type mismatch struct {
	reason  string
	foreign bool // opens none of the keys
}

func (e *mismatch) Error() string { return e.reason }

// Is matches ErrKeyFileMismatch, and ErrForeignKeyFile when the file opens
// none of the keys.
func (e *mismatch) Is(target error) bool {
	return target == ErrKeyFileMismatch || e.foreign && target == ErrForeignKeyFile
}

// CheckFile checks, changing nothing, that the key file at path opens every
// data key in keys (as read from a database, or from a backup about to be
// restored): the check Open makes of a foreign key file, made before the
// database is put in use, and stricter, since a restored database whose
// secrets are sealed under a data key the file cannot open serves
// half-working. The error (ErrKeyFileMismatch) says which case it is:
//
//   - the file does not exist, or opens none of the data keys (another
//     installation's key file; also ErrForeignKeyFile);
//   - it opens some but not the newest, the one values were last sealed
//     under (a key file from before a key rotation the data has);
//   - it opens the newest but not some older ones, under which values may
//     still be sealed (a key file from after a rotation that was under way
//     when the data was copied, which has since dropped their master key).
//
// No data keys (a database that never sealed anything) is no mismatch.
func CheckFile(path string, keys []WrappedKey) error {
	if len(keys) == 0 {
		return nil
	}
	f, err := LoadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &mismatch{foreign: true, reason: fmt.Sprintf("it does not exist, and the data keys are wrapped by master keys %s", masterIDs(keys))}
	}
	if err != nil {
		return err
	}
	var opened, closed []WrappedKey
	for _, w := range keys {
		if mk := f.master(w.MasterID); mk != nil {
			if a, err := unwrap(mk, w); err == nil && a != nil {
				opened = append(opened, w)
				continue
			}
		}
		closed = append(closed, w)
	}
	if len(closed) == 0 {
		return nil
	}
	if len(opened) == 0 {
		return &mismatch{foreign: true, reason: fmt.Sprintf("it opens none of the data keys, wrapped by master keys %s: it is another installation's key file", masterIDs(keys))}
	}
	newest := slices.MaxFunc(keys, func(a, b WrappedKey) int {
		switch {
		case newer(a, b):
			return 1
		case newer(b, a):
			return -1
		}
		return 0
	})
	if slices.ContainsFunc(closed, func(w WrappedKey) bool { return w.ID == newest.ID }) {
		return &mismatch{reason: fmt.Sprintf("it opens data keys %s but not the newest, %s (master key %s), under which secrets were sealed last: it is a copy from before a key rotation",
			dataKeyIDs(opened), newest.ID, newest.MasterID)}
	}
	return &mismatch{reason: fmt.Sprintf("it opens the newest data key, %s, but not the older %s (master keys %s), under which secrets may still be sealed: it is a copy from after a key rotation that was under way when the data was copied",
		newest.ID, dataKeyIDs(closed), masterIDs(closed))}
}

// dataKeyIDs lists the ids of keys, comma-separated.
func dataKeyIDs(keys []WrappedKey) string {
	ids := make([]string, len(keys))
	for i, w := range keys {
		ids[i] = w.ID
	}
	return strings.Join(ids, ", ")
}
