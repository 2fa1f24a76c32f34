package keyring

import (
	"bytes"
	"context"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// memStore keeps data keys and sealed values in memory, with the same
// conditional semantics as internal/store (which runs the same checks against
// SQLite and PostgreSQL in its own tests).
type memStore struct {
	mu     sync.Mutex
	keys   []WrappedKey
	values map[string]Sealed // by row
	reads  int               // DataKeys calls
}

func (m *memStore) DataKeys(context.Context) ([]WrappedKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	return append([]WrappedKey(nil), m.keys...), nil
}

func (m *memStore) AddDataKey(_ context.Context, k WrappedKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys = append(m.keys, k)
	return nil
}

func (m *memStore) AddFirstDataKey(_ context.Context, k WrappedKey) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.keys) > 0 {
		return false, nil
	}
	m.keys = append(m.keys, k)
	return true, nil
}

func (m *memStore) SealedValues(context.Context) ([]Sealed, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Sealed
	for _, v := range m.values {
		out = append(out, v)
	}
	return out, nil
}

func (m *memStore) Reseal(_ context.Context, v Sealed, keyID string, ct []byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.values[v.Row]
	if !ok || cur.KeyID != v.KeyID {
		return false, nil
	}
	cur.KeyID, cur.Ciphertext = keyID, ct
	m.values[v.Row] = cur
	return true, nil
}

func (m *memStore) DeleteDataKey(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range m.values {
		if v.KeyID == id {
			return false, nil
		}
	}
	for i, k := range m.keys {
		if k.ID == id {
			m.keys = append(m.keys[:i], m.keys[i+1:]...)
			return true, nil
		}
	}
	return false, nil
}

func (m *memStore) put(v Sealed) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.values == nil {
		m.values = map[string]Sealed{}
	}
	m.values[v.Row] = v
}

func (m *memStore) dataKeyReads() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reads
}

func TestKeyFileCreatedPrivateAndReloaded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "twofold.key")
	f, created, err := LoadOrCreateFile(path)
	if err != nil || !created {
		t.Fatalf("LoadOrCreateFile = %v, %v; want created", created, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o600 {
		t.Fatalf("got mode %o, want 600", got)
	}
	g, created, err := LoadOrCreateFile(path)
	if err != nil || created {
		t.Fatalf("second LoadOrCreateFile = %v, %v; want loaded", created, err)
	}
	if g.Primary != f.Primary || !bytes.Equal(g.HashKey, f.HashKey) {
		t.Fatal("reloaded key file differs")
	}
}

// TestKeyFileRejectsGarbage: a key file that is not JSON, lacks its primary
// key, or holds a key of the wrong size or one key twice is refused, and the
// refusal shows no key material. Each bad file differs from a good one in
// that one respect.
func TestKeyFileRejectsGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.key")
	// Base64 of 32, 31 and 33 bytes: a right-sized master key, a short one,
	// and a hash key.
	goodKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	shortKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 31))
	hashKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 33))
	file := func(primary, keys, hash string) string {
		return `{"primary":"` + primary + `","masters":[` + keys + `],"hash_key":"` + hash + `"}`
	}
	master := func(id, key string) string { return `{"id":"` + id + `","key":"` + key + `"}` }
	good := file("m1", master("m1", goodKey), hashKey)
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateFile(path); err != nil {
		t.Fatalf("the good file: %v", err)
	}
	for name, content := range map[string]string{
		"not json":         "hello",
		"no primary":       file("m2", master("m1", goodKey), hashKey),
		"short hash key":   file("m1", master("m1", goodKey), "AAAA"),
		"short master key": file("m1", master("m1", shortKey), hashKey),
		"master key twice": file("m1", master("m1", goodKey)+","+master("m1", goodKey), hashKey),
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := LoadOrCreateFile(path)
			if err == nil {
				t.Fatal("got nil error, want one")
			}
			for _, secret := range []string{goodKey, shortKey, hashKey} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error %q shows key material", err)
				}
			}
		})
	}
}

func TestSealOpenBoundToRow(t *testing.T) {
	ctx := context.Background()
	f, _, err := LoadOrCreateFile(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	st := &memStore{}
	k, err := Open(ctx, f, st)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("12345678901234567890")
	id, ct, err := k.Seal(secret, AAD("factors", "secret", "f1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, secret) {
		t.Fatal("ciphertext contains the plaintext")
	}
	got, err := k.Open(ctx, id, ct, AAD("factors", "secret", "f1"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v; want the secret", got, err)
	}
	if _, err := k.Open(ctx, id, ct, AAD("factors", "secret", "f2")); !errors.Is(err, ErrUndecryptable) {
		t.Fatalf("ciphertext under another row's AAD: %v, want ErrUndecryptable", err)
	}
	flipped := bytes.Clone(ct)
	flipped[len(flipped)-1] ^= 1
	for name, c := range map[string][]byte{"a bit flipped": flipped, "cut short": ct[:4]} {
		_, err := k.Open(ctx, id, c, AAD("factors", "secret", "f1"))
		if !errors.Is(err, ErrUndecryptable) || errors.Is(err, ErrKeyUnavailable) || strings.Contains(err.Error(), string(secret)) {
			t.Fatalf("%s: %v, want ErrUndecryptable naming no secret", name, err)
		}
	}

	// A second instance over the same store and file reuses the data key.
	k2, err := Open(ctx, f, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.keys) != 1 {
		t.Fatalf("got %d data keys, want 1", len(st.keys))
	}
	if got, err := k2.Open(ctx, id, ct, AAD("factors", "secret", "f1")); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("second instance Open = %q, %v", got, err)
	}
}

// TestCurrentKey: servers seal under the newest data key wrapped by the
// primary master key (ties broken by id), else the newest they can unwrap,
// never one they cannot; Rotate relies on the same choice. Two keys under
// the primary happen when instances start together on a new database.
func TestCurrentKey(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	aead, err := newAEAD(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	f := &File{Primary: "new"}
	key := func(id, master string, minutes int) WrappedKey {
		return WrappedKey{ID: id, MasterID: master, Created: t0.Add(time.Duration(minutes) * time.Minute)}
	}
	for name, tc := range map[string]struct {
		keys        []WrappedKey
		unwrapped   []string
		wantID      string
		wantPrimary bool
	}{
		"none":                      {nil, nil, "", false},
		"one under primary":         {[]WrappedKey{key("a", "new", 0)}, []string{"a"}, "a", true},
		"primary beats newer other": {[]WrappedKey{key("old", "old", 9), key("a", "new", 0)}, []string{"old", "a"}, "a", true},
		"newest under primary":      {[]WrappedKey{key("a", "new", 0), key("b", "new", 5), key("c", "new", 3)}, []string{"a", "b", "c"}, "b", true},
		"tie broken by id":          {[]WrappedKey{key("b", "new", 1), key("a", "new", 1)}, []string{"a", "b"}, "b", true},
		"newest other":              {[]WrappedKey{key("x", "old", 1), key("y", "old", 2)}, []string{"x", "y"}, "y", false},
		"unreadable skipped":        {[]WrappedKey{key("a", "new", 9), key("x", "old", 1)}, []string{"x"}, "x", false},
	} {
		t.Run(name, func(t *testing.T) {
			data := map[string]cipher.AEAD{}
			for _, id := range tc.unwrapped {
				data[id] = aead
			}
			for range 2 { // the order of the stored keys must not matter
				id, primary := currentKey(tc.keys, f, data)
				if id != tc.wantID || primary != tc.wantPrimary {
					t.Fatalf("got %q (primary %v), want %q (primary %v)", id, primary, tc.wantID, tc.wantPrimary)
				}
				slices.Reverse(tc.keys)
			}
		})
	}
}

// TestOpenRefusesAForeignKeyFile: a key file that opens none of the stored
// data keys (another database's, or this one's from before a rotation with
// today's file) is refused before anything is written; a file that opens
// them is accepted.
func TestOpenRefusesAForeignKeyFile(t *testing.T) {
	dir := t.TempDir()
	right, _, err := LoadOrCreateFile(filepath.Join(dir, "right.key"))
	if err != nil {
		t.Fatal(err)
	}
	wrong, _, err := LoadOrCreateFile(filepath.Join(dir, "wrong.key"))
	if err != nil {
		t.Fatal(err)
	}
	st := &memStore{}
	if _, err := Open(t.Context(), right, st); err != nil {
		t.Fatal(err)
	}
	stored := len(st.keys)
	if _, err := Open(t.Context(), wrong, st); !errors.Is(err, ErrForeignKeyFile) {
		t.Fatalf("Open with another database's key file: got %v, want ErrForeignKeyFile", err)
	} else if strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(wrong.HashKey)) {
		t.Error("the error shows key material")
	}
	if len(st.keys) != stored {
		t.Errorf("the refused key file stored %d data keys", len(st.keys)-stored)
	}
	if _, err := Open(t.Context(), right, st); err != nil {
		t.Errorf("Open with the right key file after a refusal: %v", err)
	}
	// An empty database takes any key file.
	if _, err := Open(t.Context(), wrong, &memStore{}); err != nil {
		t.Errorf("Open on an empty store: %v", err)
	}
	// A file that opens some of the stored keys is taken, and names the
	// others as unreadable.
	k, err := Open(t.Context(), right, st)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Unreadable(); len(got) != 0 {
		t.Errorf("the right file: unreadable %v, want none", got)
	}
	stray, err := NewDataKey(t.Context(), wrong, st, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	k, err = Open(t.Context(), right, st)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Unreadable(); !slices.Equal(got, []string{stray.ID}) {
		t.Errorf("beside a key of another file: unreadable %v, want [%s]", got, stray.ID)
	}
}

// TestOpenFileMakesNoKeyFileForSealedSecrets: a missing key file is created
// for a database without data keys, and refused, without a file being made,
// for one whose secrets are sealed already, naming the master keys needed.
func TestOpenFileMakesNoKeyFileForSealedSecrets(t *testing.T) {
	dir := t.TempDir()
	first := filepath.Join(dir, "first.key")
	st := &memStore{}
	f, _, created, err := OpenFile(t.Context(), first, st)
	if err != nil || !created {
		t.Fatalf("empty store, no file: created %v, err %v; want a new file", created, err)
	}
	if _, _, created, err := OpenFile(t.Context(), first, st); err != nil || created {
		t.Fatalf("the same file again: created %v, err %v; want it read", created, err)
	}
	missing := filepath.Join(dir, "missing.key")
	_, _, _, err = OpenFile(t.Context(), missing, st)
	if !errors.Is(err, ErrForeignKeyFile) {
		t.Fatalf("sealed store, no file: got %v, want ErrForeignKeyFile", err)
	}
	// The operator is told which key file to find (README "Running more
	// than one instance"), as with a wrong one.
	if !strings.Contains(err.Error(), f.Primary) {
		t.Errorf("sealed store, no file: got %q, want it to name the master key %s", err, f.Primary)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("a key file was made for a database with sealed secrets: %v", err)
	}
}
