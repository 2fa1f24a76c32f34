// Package keyring encrypts secrets at rest with AES-256-GCM envelope encryption.
//
// A master key file (mode 0600) holds one or more master keys and the key for
// credential hashes. Values are sealed under a data key; data keys are stored in
// the database wrapped (sealed) by a master key. Each sealed value carries the
// id of its data key beside it, and its ciphertext is bound to where it lives
// (table, column, row id) by the AEAD's additional data, so a ciphertext copied to
// another row does not decrypt. The binding is to the row's id only: a row whose
// other columns are changed (a factor moved to another account by someone who
// can write the database) still decrypts. Such a writer can do worse anyway
// (replace a password hash, add a factor of their own), so the binding guards
// against copies, not against a writer of the database.
//
// Keys rotate without downtime (Rotate, run by `twofold keys rotate`): a
// running Keyring re-reads the key file and the data keys when it meets a data
// key it does not know, checks for a newer data key before every Seal, and
// reads both again at most a second (RecheckEvery) before it opens a value,
// forgetting the data keys that are no longer stored or that the key file no
// longer opens, as a restart would.
package keyring

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/atomicfile"
)

// MasterKey is one entry of the key file.
type MasterKey struct {
	ID      string    `json:"id"`
	Key     []byte    `json:"key"`
	Created time.Time `json:"created"`
}

// String returns the key's id, never its bytes.
func (m MasterKey) String() string { return "master key " + m.ID + " [redacted]" }

// LogValue logs the key's id, never its bytes.
func (m MasterKey) LogValue() slog.Value { return slog.StringValue(m.String()) }

// File is the content of the master key file.
type File struct {
	Primary string      `json:"primary"`
	Masters []MasterKey `json:"masters"`
	HashKey []byte      `json:"hash_key"`

	path string // where the file was read from or last saved to, for Keyring reloads
}

// String names the file's master keys and primary, never key bytes.
func (f *File) String() string {
	ids := make([]string, len(f.Masters))
	for i, m := range f.Masters {
		ids[i] = m.ID
	}
	return "key file (masters " + strings.Join(ids, ", ") + "; primary " + f.Primary + ") [redacted]"
}

// LogValue logs what String prints.
func (f *File) LogValue() slog.Value { return slog.StringValue(f.String()) }

// Path returns where the file was read from or last saved to ("" for a file
// built in memory). A Keyring over it re-reads that path to learn new master
// keys.
func (f *File) Path() string { return f.path }

// LoadOrCreateFile reads the key file at path, creating it with a fresh master
// key and hash key (mode 0600) when it does not exist. created reports whether
// this call made the file.
//
// Instances starting together may all find no file: each writes a candidate
// in full and links it into place (os.Link fails when the path exists, so one
// wins), and every one of them then uses the keys read back from disk. Keys
// that no file holds are never used.
func LoadOrCreateFile(path string) (f *File, created bool, err error) {
	f, err = loadWritten(path)
	if !errors.Is(err, os.ErrNotExist) {
		return f, false, err
	}
	nf := &File{HashKey: randomBytes(32)}
	nf.AddMaster(time.Now())
	if created, err = nf.create(path); err != nil {
		return nil, false, err
	}
	if f, err = loadWritten(path); err != nil {
		return nil, false, err
	}
	return f, created, nil
}

// loadWritten is LoadFile for a file another instance may be writing in
// place (created without hard links): a file that ends before its JSON does
// is read again for up to a second before it is called invalid.
func loadWritten(path string) (f *File, err error) {
	for try := 0; ; try++ {
		f, err = LoadFile(path)
		if !errors.Is(err, errPartial) || try == 40 {
			return f, err
		}
		waitForWriter()
	}
}

// waitForWriter gives a writer of the key file time to finish; a variable
// for tests.
var waitForWriter = func() { time.Sleep(25 * time.Millisecond) }

// errPartial marks a key file that ends before its JSON does.
var errPartial = errors.New("it ends before its JSON does")

// link puts a new file in place; a variable so that tests can take a file
// system without hard links.
var link = os.Link

// OpenFile reads the key file at path and opens a Keyring over s with it
// (Open). A missing file is created, with a fresh master key and hash key
// (mode 0600), only while s holds no data key: a database whose secrets are
// sealed needs the file they were sealed under, and a new one would open
// none of them. created reports whether the file was made.
func OpenFile(ctx context.Context, path string, s Store) (f *File, k *Keyring, created bool, err error) {
	f, err = loadWritten(path)
	if errors.Is(err, os.ErrNotExist) {
		var keys []WrappedKey
		if keys, err = s.DataKeys(ctx); err != nil {
			return nil, nil, false, fmt.Errorf("load data keys: %w", err)
		}
		if len(keys) == 0 {
			f, created, err = LoadOrCreateFile(path)
		} else if f, err = loadWritten(path); errors.Is(err, os.ErrNotExist) {
			// Not even now: another instance starting beside this one would
			// have made the file before its first data key.
			return nil, nil, false, fmt.Errorf("%w: the key file %s does not exist, and this database's secrets are sealed under master keys %s from a key file; pass --key-file with the file that holds them",
				ErrForeignKeyFile, path, masterIDs(keys))
		}
	}
	if err != nil {
		return nil, nil, false, err
	}
	if k, err = Open(ctx, f, s); err != nil {
		return nil, nil, false, err
	}
	return f, k, created, nil
}

// CheckExisting returns the error OpenFile would return for the key file
// at path when there is one that cannot be used (unreadable, cut short,
// damaged, not a key file, a key of the wrong size), so that a command
// refuses it before it opens the database, which opening creates or
// migrates. A missing file is no error here (OpenFile decides, by the
// database, whether to make one) unless its directory does not exist, so
// that it could not be made. (A path through a file fails to read with
// "not a directory", and is refused as it is.)
func CheckExisting(path string) error {
	_, err := loadWritten(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if dir := filepath.Dir(path); !exists(dir) {
		return fmt.Errorf("the key file %s cannot be made: the directory %s does not exist: create it, or correct --key-file", path, dir)
	}
	return nil
}

// exists reports whether something is at path.
func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}

// Exposed reports whether the key file at path may be read or written by
// users other than its owner (any of mode 0o077), with its permission bits.
// Twofold creates it 0600; a looser mode is warned about at start, not
// refused, as some deployments share it on purpose (a group the service runs
// in, a mounted secret). On Windows, whose files have no such bits, it
// reports false.
func Exposed(path string) (mode fs.FileMode, exposed bool, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, false, fmt.Errorf("key file: %w", err)
	}
	mode = st.Mode().Perm()
	return mode, runtime.GOOS != "windows" && mode&0o077 != 0, nil
}

// WarnExposed logs at Warn, naming the file and its mode, that the key file
// at path may be read or written by users other than its owner (Exposed),
// or that its mode could not be checked. serve and every administration
// command that opens the key file say so (README "Quick start").
func WarnExposed(log *slog.Logger, path string) {
	if mode, exposed, err := Exposed(path); err != nil {
		log.Warn("cannot check the key file's mode", "path", path, "err", err)
	} else if exposed {
		log.Warn("the key file may be read or written by users other than its owner: it holds the keys of every sealed secret and credential hash; make it mode 0600 (chmod 600)",
			"path", path, "mode", fmt.Sprintf("%04o", mode))
	}
}

// LoadFile reads and checks the key file at path. A missing file is an error
// that matches os.ErrNotExist.
func LoadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, notKeyFile(path, b, err)
	}
	if len(f.Masters) == 0 && len(f.HashKey) == 0 && f.Primary == "" {
		return nil, fmt.Errorf("%s is not a Twofold key file: it holds none of a key file's master keys and hash key; %s", path, keyFileHint)
	}
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	f.path = path
	return &f, nil
}

// keyFileHint says what to do about a key file that cannot be used.
const keyFileHint = "check --key-file (or TWOFOLD_KEY_FILE): it must name the key file that twofold serve made for this database, or a copy of it from its backup"

// notKeyFile returns the error of key file path, of contents b, that does
// not decode (err from json.Unmarshal): in plain words, with what of the
// decoder's cause helps (where the file stops being JSON), not its text. A
// file that ends before its JSON does (a writer not done, an empty file,
// a copy cut short) wraps errPartial.
func notKeyFile(path string, b []byte, err error) error {
	if derr := json.NewDecoder(bytes.NewReader(b)).Decode(&File{}); derr == io.EOF || derr == io.ErrUnexpectedEOF {
		if len(bytes.TrimSpace(b)) == 0 {
			return fmt.Errorf("key file %s is empty: %w; %s", path, errPartial, keyFileHint)
		}
		return fmt.Errorf("key file %s is cut short: %w (at byte %d: a copy or a write not finished?); %s", path, errPartial, len(b), keyFileHint)
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var b64 base64.CorruptInputError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("%s is not a Twofold key file: it stops being the JSON a key file holds at byte %d; %s", path, syn.Offset, keyFileHint)
	case errors.As(err, &b64):
		return fmt.Errorf("key file %s is damaged: one of its keys is not base64 (at byte %d of that key); %s", path, int64(b64), keyFileHint)
	case errors.As(err, &typ) && typ.Field == "":
		return fmt.Errorf("%s is not a Twofold key file: it holds a JSON %s, not the object a key file holds; %s", path, typ.Value, keyFileHint)
	case errors.As(err, &typ):
		return fmt.Errorf("%s is not a Twofold key file: its field %q holds a JSON %s, not what a key file holds there; %s", path, typ.Field, typ.Value, keyFileHint)
	}
	return fmt.Errorf("%s is not a Twofold key file (%w); %s", path, err, keyFileHint)
}

func (f *File) validate() error {
	if len(f.HashKey) < 32 {
		return errors.New("hash_key must be at least 32 bytes")
	}
	found, seen := false, map[string]bool{}
	for _, m := range f.Masters {
		if len(m.Key) != 32 {
			return fmt.Errorf("master key %q must be 32 bytes", m.ID)
		}
		if seen[m.ID] {
			return fmt.Errorf("master key %q appears twice", m.ID)
		}
		seen[m.ID] = true
		found = found || m.ID == f.Primary
	}
	if !found {
		return fmt.Errorf("primary master key %q is not in the file", f.Primary)
	}
	return nil
}

// AddMaster adds a fresh master key and makes it primary.
func (f *File) AddMaster(now time.Time) MasterKey {
	m := MasterKey{ID: "m" + base64.RawURLEncoding.EncodeToString(randomBytes(6)), Key: randomBytes(32), Created: now.UTC()}
	f.Masters = append(f.Masters, m)
	f.Primary = m.ID
	return m
}

// Save writes the file atomically: a reader sees the old file or the new
// one, never a mix, and a crash leaves one of the two. When path is a
// symbolic link, the file it leads to is replaced, not the link. A file that
// replaces another keeps its permission bits, owner and group, so that a key
// file shared with the service's user or group stays readable by it when
// root saves it; when they cannot be kept, Save refuses and the file is as it
// was. A new file has mode 0600.
func (f *File) Save(path string) error {
	target, err := atomicfile.Target(path)
	if err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	tmp, err := f.writeReplacement(target)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	syncDir(target)
	f.path = path
	return nil
}

// writeReplacement writes the file to a new temporary file beside target,
// with the permission bits, owner and group of the file at target (when
// there is none, mode 0600 and this process's), and returns its name; the
// caller removes it. It fails, leaving nothing behind, when the owner and
// group cannot be kept.
func (f *File) writeReplacement(target string) (string, error) {
	old, err := os.Stat(target)
	if errors.Is(err, fs.ErrNotExist) {
		old = nil
	} else if err != nil {
		return "", fmt.Errorf("write key file: %w", err)
	}
	return f.writeTemp(target, old)
}

// keepOwner is atomicfile.KeepOwner; a variable so that a test can make it
// fail, as it does for a user who may not give the file its owner.
var keepOwner = atomicfile.KeepOwner

// create writes the file at path only if nothing is there, reporting whether
// it did. The file appears whole (mode 0600) or not at all: it is written
// beside path and hard-linked to it, which fails when path exists. Where the
// file system has no hard links, it is created exclusively (O_EXCL) and
// written in place; a reader at that moment finds it short and reads it
// again (loadWritten).
func (f *File) create(path string) (bool, error) {
	tmp, err := f.writeTemp(path, nil)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp)
	err = link(tmp, path)
	switch {
	case errors.Is(err, fs.ErrExist):
		return false, nil
	case err != nil:
		return f.createInPlace(path)
	}
	syncDir(path)
	f.path = path
	return true, nil
}

// createInPlace is create without hard links.
func (f *File) createInPlace(path string) (bool, error) {
	b, err := f.marshal()
	if err != nil {
		return false, err
	}
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create key file: %w", err)
	}
	_, err = out.Write(b)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path) // not left half written
		return false, fmt.Errorf("create key file: %w", err)
	}
	syncDir(path)
	f.path = path
	return true, nil
}

func (f *File) marshal() ([]byte, error) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// writeTemp writes the file, synced and with mode 0600, to a new temporary
// file in path's directory and returns its name; the caller removes it.
// With like, the file that it is to replace, it has like's permission
// bits, owner and group instead, or fails, leaving nothing behind.
func (f *File) writeTemp(path string, like fs.FileInfo) (string, error) {
	b, err := f.marshal()
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".twofold-key-*")
	if err != nil {
		return "", fmt.Errorf("write key file: %w", err)
	}
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(b)
	}
	if err == nil && like != nil {
		// On the open file, never by its name, which another user who
		// may write the directory could meanwhile replace with a link.
		err = keepOwner(tmp, like)
		if err == nil {
			err = tmp.Chmod(like.Mode().Perm())
		}
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		if like != nil {
			return "", fmt.Errorf("write key file (%s is left as it was): %w", path, err)
		}
		return "", fmt.Errorf("write key file: %w", err)
	}
	return tmp.Name(), nil
}

// syncDir makes a rename or link in path's directory durable before anything
// relies on the new file.
func syncDir(path string) { _ = atomicfile.SyncDir(filepath.Dir(path)) }

// WrappedKey is a data key as stored in the database.
type WrappedKey struct {
	ID       string
	MasterID string
	Wrapped  []byte
	Created  time.Time
}

// Store keeps wrapped data keys. The caller owns storage.
type Store interface {
	DataKeys(ctx context.Context) ([]WrappedKey, error)
	AddDataKey(ctx context.Context, k WrappedKey) error
	// AddFirstDataKey stores k only while no data key is stored, reporting
	// whether it did, atomically across processes: of instances that start
	// together on a new database, each with a key file of its own, one
	// stores the first data key and the others find it.
	AddFirstDataKey(ctx context.Context, k WrappedKey) (bool, error)
}

// Keyring seals and opens values. It is safe for concurrent use.
//
// Open with a data key it knows reads one atomic pointer and the clock, and
// does no I/O or locking, while the keys were last read less than
// RecheckEvery ago. Meeting a data key it does not know, or keys read longer
// ago, it reloads: it re-reads the data keys and, when the Keyring was opened
// over a file read from disk, the key file, so that keys added by `twofold
// keys rotate` or another instance are picked up without a restart, and keys
// a rotation retired are dropped. What it holds after a reload is what a
// restart would give it: the stored data keys the key file opens. A value
// sealed under a data key that a rotation deleted (after its grace period)
// is refused, like one under a key never known: a copy of it written back
// into the database by someone holding the old key file no longer opens.
type Keyring struct {
	store Store
	path  string // key file to re-read on reload; "" when the File was built in memory
	now   func() time.Time
	log   *slog.Logger

	state    atomic.Pointer[ringState]
	reloadMu sync.Mutex // serialises reloads
}

// RecheckEvery is how long a Keyring trusts the data keys and the key file
// it last read: the first Open after that reads them again. A data key that
// a rotation (on any instance) deleted is so refused by every running server
// within about this time of its deletion.
const RecheckEvery = time.Second

// UseClock makes the Keyring read the time from now (for RecheckEvery) in
// place of time.Now. Call it before the Keyring is used.
func (k *Keyring) UseClock(now func() time.Time) {
	k.now = now
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	st := *k.state.Load()
	st.checked = now()
	k.state.Store(&st)
}

// UseLogger makes the Keyring log to l what it goes on despite (data keys it
// could not read again); it logs no key material. Without it, nothing is
// logged. Call it before the Keyring is used.
func (k *Keyring) UseLogger(l *slog.Logger) { k.log = l }

// ringState is an immutable snapshot of what a Keyring knows.
type ringState struct {
	file    *File
	data    map[string]cipher.AEAD // the stored data keys file opens, by id
	stored  string                 // signature of the data_keys rows last read
	checked time.Time              // when the data keys were last read (Keyring.now)
	current string                 // the data key Seal uses
	primary bool                   // whether current is wrapped by file.Primary
	// unreadable are the stored data keys file holds no master key for.
	unreadable []string
}

// ErrForeignKeyFile is returned by Open when none of the stored data keys
// can be unwrapped with the key file's master keys.
var ErrForeignKeyFile = errors.New("the key file does not belong to this database")

// Open loads the data keys from store, creating one under the primary master key
// when none is wrapped by it yet. When f was read from disk (LoadFile,
// LoadOrCreateFile), the Keyring re-reads that file on reloads.
func Open(ctx context.Context, f *File, s Store) (*Keyring, error) {
	k := &Keyring{store: s, path: f.path, now: time.Now, log: slog.New(slog.DiscardHandler)}
	k.state.Store(&ringState{file: f, data: map[string]cipher.AEAD{}})
	keys, err := s.DataKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("load data keys: %w", err)
	}
	if err := k.install(keys, f); err != nil {
		return nil, err
	}
	if len(keys) > 0 && len(k.state.Load().data) == 0 && k.path != "" {
		// The file may have changed under a rotation since it was read.
		if err := k.Reload(ctx); err != nil {
			return nil, err
		}
	}
	if len(keys) > 0 && len(k.state.Load().data) == 0 {
		// Not one stored data key opens with this file: it belongs to
		// another database, or to this one before a key rotation (a restored
		// backup started with today's key file). Serving would fail every
		// secret, and sealing would store a data key no right file opens.
		return nil, fmt.Errorf("%w: the data keys in the database are wrapped by master keys %s, and the key file holds none of them; "+
			"start with the key file that goes with this database (after a restore, the key file as it was when the backup was made)",
			ErrForeignKeyFile, masterIDs(keys))
	}
	if !k.state.Load().primary {
		if len(keys) == 0 {
			// The database's first data key: only if no other instance
			// stored one meanwhile, perhaps under another key file's master
			// key, which this one could not open.
			w, err := wrapDataKey(f, time.Now())
			if err != nil {
				return nil, err
			}
			if _, err := s.AddFirstDataKey(ctx, w); err != nil {
				return nil, fmt.Errorf("store data key: %w", err)
			}
		} else if _, err := NewDataKey(ctx, f, s, time.Now()); err != nil {
			return nil, err
		}
		if err := k.Reload(ctx); err != nil {
			return nil, err
		}
		if k.state.Load().current == "" {
			keys, err := s.DataKeys(ctx)
			if err != nil {
				return nil, fmt.Errorf("load data keys: %w", err)
			}
			return nil, fmt.Errorf("%w: another instance, started at the same time with another key file, stored this database's first data key, wrapped by master key %s; "+
				"give every instance that instance's key file", ErrForeignKeyFile, masterIDs(keys))
		}
	}
	return k, nil
}

// masterIDs lists the master keys that wrap keys, sorted, comma-separated.
func masterIDs(keys []WrappedKey) string {
	masters := map[string]bool{}
	for _, w := range keys {
		masters[w.MasterID] = true
	}
	return strings.Join(slices.Sorted(maps.Keys(masters)), ", ")
}

// NewDataKey creates a data key wrapped by f's primary master key and stores it.
func NewDataKey(ctx context.Context, f *File, s Store, now time.Time) (WrappedKey, error) {
	w, err := wrapDataKey(f, now)
	if err != nil {
		return WrappedKey{}, err
	}
	if err := s.AddDataKey(ctx, w); err != nil {
		return WrappedKey{}, fmt.Errorf("store data key: %w", err)
	}
	return w, nil
}

// wrapDataKey makes a data key wrapped by f's primary master key.
func wrapDataKey(f *File, now time.Time) (WrappedKey, error) {
	raw := randomBytes(32)
	defer clear(raw)
	id := "d" + base64.RawURLEncoding.EncodeToString(randomBytes(6))
	wrapped, err := seal(f.master(f.Primary), raw, wrapAAD(id))
	if err != nil {
		return WrappedKey{}, err
	}
	return WrappedKey{ID: id, MasterID: f.Primary, Wrapped: wrapped, Created: now.UTC()}, nil
}

// Reload reads the data keys again and, when the Keyring has a key file path,
// the key file (for instance after a rotation or another instance added keys).
func (k *Keyring) Reload(ctx context.Context) error {
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	return k.reload(ctx)
}

// reload is Reload with reloadMu held.
func (k *Keyring) reload(ctx context.Context) error {
	keys, err := k.store.DataKeys(ctx)
	if err != nil {
		return fmt.Errorf("load data keys: %w", err)
	}
	f := k.state.Load().file
	if k.path != "" {
		if f, err = LoadFile(k.path); err != nil {
			return fmt.Errorf("%w: %w", ErrKeyUnavailable, err)
		}
	}
	return k.install(keys, f)
}

// recheck reads the data keys and the key file again when they were last
// read RecheckEvery ago or more, and returns what the Keyring then holds.
// Only one caller reads at a time: the others go on with what was read last
// rather than wait (a caller may hold one of the database's connections
// while it opens a value, and the read needs another). A key file that
// cannot be read now is not a reason to refuse keys it opened before: the
// file last read stands in for it, and the data keys deleted meanwhile are
// dropped all the same. Nor are data keys that cannot be read now: the
// failure is logged, the keys last read stand, and they are read again
// RecheckEvery later.
func (k *Keyring) recheck(ctx context.Context) (*ringState, error) {
	st := k.state.Load()
	if !k.stale(st) {
		return st, nil
	}
	if !k.reloadMu.TryLock() {
		return st, nil
	}
	defer k.reloadMu.Unlock()
	if st = k.state.Load(); !k.stale(st) {
		return st, nil // another caller read them meanwhile
	}
	keys, err := k.store.DataKeys(ctx)
	if err != nil {
		// A database that cannot be read now (a dropped connection, a busy
		// moment) is not a reason to refuse the keys read a moment ago: go
		// on with them, and read again RecheckEvery from now rather than at
		// every Open meanwhile.
		k.log.Warn("cannot read the data keys again; going on with those read last", "err", err)
		next := *st
		next.checked = k.now()
		k.state.Store(&next)
		return &next, nil
	}
	f := st.file
	if k.path != "" {
		if nf, err := LoadFile(k.path); err == nil {
			f = nf
		}
	}
	if err := k.install(keys, f); err != nil {
		return nil, err
	}
	return k.state.Load(), nil
}

// stale reports whether st was read RecheckEvery ago or more (or, by a clock
// moved back, in the future).
func (k *Keyring) stale(st *ringState) bool {
	d := k.now().Sub(st.checked)
	return d < 0 || d >= RecheckEvery
}

// ErrKeyUnavailable marks a key that a Keyring could not read: the key file
// (its mode or owner changed, say), or a data key the key file holds no
// master key for (a rotation through another copy of the file). Open and
// Seal return it inside a *twofold.Error of code unavailable, whose message
// tells the client nothing more: until the file is mended, requests that
// need the key are answered 503, and the cause is logged.
var ErrKeyUnavailable = errors.New("a key is not available")

// unavailable gives err, when it is ErrKeyUnavailable, the code unavailable
// and a message for clients.
func unavailable(err error) error {
	if !errors.Is(err, ErrKeyUnavailable) {
		return err
	}
	return &twofold.Error{Code: twofold.CodeUnavailable, Message: "the server cannot read its keys at the moment; try again later", Err: err}
}

// install stores a new snapshot holding keys, the stored data keys, that f's
// master keys open: those it holds already are kept (a data key's id names
// one key for good), the others unwrapped. Keys wrapped by a master key f
// does not hold are skipped (another instance may have rotated before this
// one sees the file), and the keys it held that are no longer stored, or
// that f no longer opens, are dropped (a rotation retired them), so that the
// Keyring holds what a restart would give it.
func (k *Keyring) install(keys []WrappedKey, f *File) error {
	old := k.state.Load()
	data := make(map[string]cipher.AEAD, len(keys))
	var unreadable []string
	for _, w := range keys {
		mk := f.master(w.MasterID)
		if mk == nil {
			unreadable = append(unreadable, w.ID)
			continue
		}
		if a := old.data[w.ID]; a != nil {
			data[w.ID] = a
			continue
		}
		a, err := unwrap(mk, w)
		if err != nil {
			return err
		}
		data[w.ID] = a
	}
	cur, primary := currentKey(keys, f, data)
	k.state.Store(&ringState{file: f, data: data, stored: signature(keys), checked: k.now(), current: cur, primary: primary, unreadable: unreadable})
	return nil
}

// Unreadable returns the ids of the stored data keys that the key file, as
// last read, cannot unwrap: secrets sealed under them cannot be read until
// the file holds their master key. Normal only for the moment between a
// rotation on another machine and this one seeing the new file.
func (k *Keyring) Unreadable() []string {
	return slices.Clone(k.state.Load().unreadable)
}

// currentKey picks the data key to seal under: the newest (by creation time,
// then id) of the stored keys wrapped by the primary master key; failing that,
// the newest stored key that can be unwrapped. Rotate picks its target by the
// same rule, so that running servers and a rotation agree.
func currentKey(keys []WrappedKey, f *File, data map[string]cipher.AEAD) (id string, primary bool) {
	var best *WrappedKey
	for i := range keys {
		w := &keys[i]
		if data[w.ID] == nil {
			continue
		}
		wp := w.MasterID == f.Primary
		switch {
		case best == nil, wp && !primary, wp == primary && newer(*w, *best):
			best, primary = w, wp
		}
	}
	if best == nil {
		return "", false
	}
	return best.ID, primary
}

// newer reports whether a was created after b (ties broken by id).
func newer(a, b WrappedKey) bool {
	if !a.Created.Equal(b.Created) {
		return a.Created.After(b.Created)
	}
	return a.ID > b.ID
}

// signature sums up a list of stored data keys, to notice a change cheaply.
func signature(keys []WrappedKey) string {
	var b strings.Builder
	for _, w := range keys {
		b.WriteString(w.ID)
		b.WriteByte('/')
		b.WriteString(w.MasterID)
		b.WriteByte(';')
	}
	return b.String()
}

// ErrKeyGone reports that a sealed value could not be stored because its
// data key was deleted after it was sealed: a rotation retired the key while
// the value was on its way to the database. Sealing it again picks the
// current key.
var ErrKeyGone = errors.New("the data key the value was sealed under has been deleted; seal it again")

// Seal encrypts plaintext bound to aad under the current data key, returning the
// key id to store beside the ciphertext. It is SealContext with a background
// context limited to 10 seconds.
func (k *Keyring) Seal(plaintext, aad []byte) (keyID string, ciphertext []byte, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return k.SealContext(ctx, plaintext, aad)
}

// SealContext encrypts plaintext bound to aad under the current data key,
// returning the key id to store beside the ciphertext. It first reads the
// stored data keys (one small query; sealing happens only at enrolment) and
// reloads when they changed, so that it seals under the newest data key
// wrapped by the newest primary master key once a rotation has made one.
func (k *Keyring) SealContext(ctx context.Context, plaintext, aad []byte) (keyID string, ciphertext []byte, err error) {
	if err := k.refresh(ctx); err != nil {
		return "", nil, unavailable(err)
	}
	st := k.state.Load()
	a := st.data[st.current]
	if a == nil {
		return "", nil, unavailable(fmt.Errorf("%w: the key file holds the master key of no stored data key", ErrKeyUnavailable))
	}
	nonce := randomBytes(a.NonceSize())
	return st.current, a.Seal(nonce, nonce, plaintext, aad), nil
}

// refresh reloads when the stored data keys differ from those last read.
func (k *Keyring) refresh(ctx context.Context) error {
	keys, err := k.store.DataKeys(ctx)
	if err != nil {
		return fmt.Errorf("load data keys: %w", err)
	}
	if signature(keys) == k.state.Load().stored {
		return nil
	}
	return k.Reload(ctx)
}

// Open decrypts a value sealed under data key keyID with the same aad. An
// unknown key id triggers one reload of the data keys and the key file, for
// keys added by a rotation or another instance; keys last read RecheckEvery
// ago or more are read again first, so that a key a rotation retired is
// refused (ErrKeyUnavailable). A value that does not decrypt (its
// ciphertext or key id changed in the database, or a wrong aad) is
// ErrUndecryptable.
func (k *Keyring) Open(ctx context.Context, keyID string, ciphertext, aad []byte) ([]byte, error) {
	st, err := k.recheck(ctx)
	if err != nil {
		return nil, err
	}
	a := st.data[keyID]
	if a == nil {
		if a, err = k.reloadFor(ctx, keyID); err != nil {
			return nil, err
		}
	}
	return openWith(a, keyID, ciphertext, aad)
}

// Has reports whether the Keyring can open values sealed under data key
// keyID, without opening one: whether it holds the key, reading the keys
// again as Open does when it does not (a key added by a rotation or another
// instance). A key not stored, or whose master key the key file does not
// hold, is false; so is a key file that cannot be read now. Other failures
// (the database) are errors.
func (k *Keyring) Has(ctx context.Context, keyID string) (bool, error) {
	st, err := k.recheck(ctx)
	if err != nil {
		return false, err
	}
	if st.data[keyID] != nil {
		return true, nil
	}
	if _, err := k.reloadFor(ctx, keyID); err != nil {
		if errors.Is(err, ErrKeyUnavailable) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// reloadFor reloads unless another caller already brought in keyID meanwhile.
func (k *Keyring) reloadFor(ctx context.Context, keyID string) (cipher.AEAD, error) {
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	if a := k.state.Load().data[keyID]; a != nil {
		return a, nil
	}
	if err := k.reload(ctx); err != nil {
		return nil, unavailable(err)
	}
	if a := k.state.Load().data[keyID]; a != nil {
		return a, nil
	}
	return nil, unavailable(fmt.Errorf("%w: data key %s is not stored, or the key file holds no master key for it", ErrKeyUnavailable, keyID))
}

// ErrUndecryptable marks a sealed value that does not decrypt under the data
// key named beside it: the AEAD's authentication failed (a changed
// ciphertext, key id or row: bit rot, a bad restore, tampering) or the value
// is too short to be one. Unlike ErrKeyUnavailable it will not mend itself.
var ErrUndecryptable = errors.New("the sealed value does not decrypt")

func openWith(a cipher.AEAD, keyID string, ciphertext, aad []byte) ([]byte, error) {
	if len(ciphertext) < a.NonceSize() {
		return nil, fmt.Errorf("decrypt with data key %s: %w: too short", keyID, ErrUndecryptable)
	}
	pt, err := a.Open(nil, ciphertext[:a.NonceSize()], ciphertext[a.NonceSize():], aad)
	if err != nil {
		return nil, fmt.Errorf("decrypt with data key %s: %w: %w", keyID, ErrUndecryptable, err)
	}
	return pt, nil
}

// unwrap opens data key w with master key mk.
func unwrap(mk []byte, w WrappedKey) (cipher.AEAD, error) {
	raw, err := open(mk, w.Wrapped, wrapAAD(w.ID))
	if err != nil {
		return nil, fmt.Errorf("unwrap data key %s: %w", w.ID, err)
	}
	defer clear(raw)
	return newAEAD(raw)
}

// AAD returns the additional data binding a value to its table, column and row.
func AAD(table, column, row string) []byte {
	return []byte(table + "\x00" + column + "\x00" + row)
}

func wrapAAD(dataKeyID string) []byte { return AAD("data_keys", "wrapped", dataKeyID) }

func (f *File) master(id string) []byte {
	for _, m := range f.Masters {
		if m.ID == id {
			return m.Key
		}
	}
	return nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func seal(key, plaintext, aad []byte) ([]byte, error) {
	a, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	nonce := randomBytes(a.NonceSize())
	return a.Seal(nonce, nonce, plaintext, aad), nil
}

func open(key, ciphertext, aad []byte) ([]byte, error) {
	a, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	if len(ciphertext) < a.NonceSize() {
		return nil, errors.New("ciphertext too short")
	}
	return a.Open(nil, ciphertext[:a.NonceSize()], ciphertext[a.NonceSize():], aad)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms (Go 1.24+)
	}
	return b
}
