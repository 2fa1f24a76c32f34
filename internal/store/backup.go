package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"modernc.org/sqlite"

	"github.com/twofold/twofold/internal/atomicfile"
)

// ErrBackupUnsupported is returned by Backup on PostgreSQL, whose own tools
// (pg_dump, base backups) do the job.
var ErrBackupUnsupported = errors.New("backup: only SQLite databases are backed up by twofold; back up PostgreSQL with pg_dump or a base backup")

// Backup writes a consistent copy of the SQLite database dsn names to dest,
// which must not exist yet, while servers keep using the database (SPEC §4):
// the copy is the database as it was when the copy began. It neither creates
// nor migrates the database it copies. The copy is made with VACUUM INTO on
// a connection of its own, a read transaction that in WAL mode stops no
// writer; it is compacted, owner-only (mode 0600, for it holds hashes and
// ciphertexts), checked, synced, and put at dest only once whole. A database
// holding a migration this binary does not embed (one a newer release
// applied) is refused with a *SchemaError, nothing put at dest. Backup
// returns the copy's size in bytes. The master key file is not part of the
// copy and must be kept apart.
//
// Copies left in dest's directory by backups killed before they finished
// (whole databases, password hashes in them) are removed first, those no
// running backup holds (see removeStaleBackups); their names are returned.
func Backup(ctx context.Context, dsn, dest string) (size int64, staleRemoved []string, err error) {
	if isPostgres(dsn) {
		return 0, nil, ErrBackupUnsupported
	}
	path, _ := sqlitePath(dsn)
	if fi, err := os.Stat(path); err != nil {
		return 0, nil, fmt.Errorf("backup: the database: %w", err)
	} else if !fi.Mode().IsRegular() {
		return 0, nil, fmt.Errorf("backup: the database %s is not a file", path)
	}
	// Twofold makes no directory: say which one is not there, rather than
	// name the temporary copy that could not be made in it.
	d := filepath.Dir(dest)
	switch fi, err := os.Stat(d); {
	case errors.Is(err, fs.ErrNotExist):
		return 0, nil, fmt.Errorf("backup: the directory %s does not exist (twofold makes none): create it, or give a DEST in another", d)
	case errors.Is(err, syscall.ENOTDIR) || err == nil && !fi.IsDir():
		return 0, nil, fmt.Errorf("backup: %s is not a directory: give a DEST in a directory", d)
	}
	if _, err := os.Lstat(dest); err == nil {
		return 0, nil, fmt.Errorf("backup: %s already exists", dest)
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, nil, fmt.Errorf("backup: %w", err)
	}
	// Absolute, so that VACUUM INTO never takes the name of the copy for
	// a URI (one that starts with "file:").
	dir, err := filepath.Abs(filepath.Dir(dest))
	if err != nil {
		return 0, nil, fmt.Errorf("backup: %w", err)
	}
	// The copies left by backups killed before they finished.
	removed, err := removeStaleBackups(dir)
	if err != nil {
		return 0, removed, err
	}
	tmp, err := os.CreateTemp(dir, backupTempPrefix+"*")
	if err != nil {
		return 0, removed, fmt.Errorf("backup: %w", err)
	}
	tmpName := tmp.Name()
	defer func() {
		for _, suffix := range []string{"", "-journal"} {
			os.Remove(tmpName + suffix)
		}
	}()
	// Held until the copy is done, so that another backup in the
	// directory leaves it be.
	defer tmp.Close()
	if err := holdBackup(tmp); err != nil {
		return 0, removed, fmt.Errorf("backup: %w", err)
	}

	// A connection of its own: no server's writer waits for it, and unlike
	// a server's read connections it may write (VACUUM INTO writes the copy
	// through it).
	src, err := sql.Open("sqlite", sqliteURI(path, url.Values{"_pragma": {"busy_timeout(10000)"}}.Encode()))
	if err != nil {
		return 0, removed, fmt.Errorf("backup: %w", err)
	}
	defer src.Close()
	if _, err := src.ExecContext(ctx, `VACUUM INTO $1`, tmpName); err != nil {
		return 0, removed, fmt.Errorf("backup: copy: %w", err)
	}
	if err := checkCopy(ctx, tmpName); err != nil {
		return 0, removed, fmt.Errorf("backup: the copy %w", err)
	}
	if err := checkCopySchema(ctx, tmpName); err != nil {
		return 0, removed, fmt.Errorf("backup: %w", err)
	}
	f, err := os.Open(tmpName)
	if err != nil {
		return 0, removed, fmt.Errorf("backup: %w", err)
	}
	err = f.Sync()
	st, statErr := f.Stat()
	f.Close()
	if err = errors.Join(err, statErr); err != nil {
		return 0, removed, fmt.Errorf("backup: sync: %w", err)
	}
	// A hard link puts the whole copy at dest, or fails if dest appeared
	// meanwhile; it never replaces a file.
	if err := os.Link(tmpName, dest); err != nil {
		return 0, removed, fmt.Errorf("backup: %w", err)
	}
	_ = atomicfile.SyncDir(dir) // best effort: the copy is whole either way
	return st.Size(), removed, nil
}

// checkCopy runs SQLite's integrity check on the copy at path; its error
// reads after "the copy" or "the backup".
func checkCopy(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", sqliteURI(path, "mode=ro"))
	if err != nil {
		return fmt.Errorf("could not be checked: %w", err)
	}
	defer db.Close()
	var result string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&result); err != nil {
		if se := (*sqlite.Error)(nil); errors.As(err, &se) && se.Code()&0xff == 26 { // SQLITE_NOTADB
			return &openError{msg: "is not a SQLite database (another kind of file, or a damaged one)", err: err}
		}
		return fmt.Errorf("could not be checked: %w", err)
	}
	if result != "ok" {
		return fmt.Errorf("failed SQLite's integrity check: %s", result)
	}
	return nil
}

// checkCopySchema returns a *SchemaError when the SQLite copy at path holds
// a migration this binary does not embed. A file without Twofold's table of
// migrations is not judged.
func checkCopySchema(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", sqliteURI(path, "mode=ro"))
	if err != nil {
		return err
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return fmt.Errorf("read the copy: %w", err)
	}
	if n == 0 {
		return nil
	}
	return checkSchema(ctx, db, SQLite)
}

// backupTempPrefix begins the name of the copy a backup makes in the
// destination's directory.
const backupTempPrefix = ".twofold-backup-"

// removeStaleBackups removes the copies (and their -journal) that backups
// killed before they finished left in dir: whole databases, password
// hashes and sealed secrets in them, owner-only but of no use to anyone.
// A backup running holds a lock on its copy (holdBackup) until it ends, so
// only those no process holds are removed, never the copy of a backup
// running alongside. It returns the names of the copies removed.
func removeStaleBackups(dir string) ([]string, error) {
	names, err := filepath.Glob(filepath.Join(dir, backupTempPrefix+"*"))
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	var removed []string
	for _, name := range names {
		if base, ok := strings.CutSuffix(name, "-journal"); ok {
			// A journal whose copy is gone: its backup is over.
			if _, err := os.Lstat(base); errors.Is(err, fs.ErrNotExist) {
				if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return removed, fmt.Errorf("backup: remove %s, left by an earlier backup: %w", name, err)
				}
				removed = append(removed, name)
			}
			continue
		}
		ok, err := removeIfFree(name)
		if err != nil {
			return removed, fmt.Errorf("backup: remove the copy %s left by an earlier backup: %w", name, err)
		}
		if ok {
			removed = append(removed, name)
		}
	}
	return removed, nil
}
