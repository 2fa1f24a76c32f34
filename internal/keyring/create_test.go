package keyring

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestKeyFileCreationRace: instances starting together with one key file
// path and no file all end with the keys of the file on disk (one of them
// made it), and every data key they store is wrapped by its master key.
// Before, each made a file and renamed it into place: the last rename won,
// and the others served with master and hash keys no file held.
func TestKeyFileCreationRace(t *testing.T) { keyFileCreationRace(t) }

// keyFileCreationRace is TestKeyFileCreationRace, on whatever file system
// the test has set up; each file made has mode 0600.
func keyFileCreationRace(t *testing.T) {
	t.Helper()
	const rounds, instances = 20, 8
	for round := range rounds {
		path := filepath.Join(t.TempDir(), "twofold.key")
		st := &memStore{}
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			files   = make([]*File, instances)
			created = make([]bool, instances)
		)
		for i := range instances {
			wg.Go(func() {
				<-start
				f, k, c, err := OpenFile(t.Context(), path, st)
				if err != nil {
					t.Errorf("round %d, instance %d: OpenFile: %v", round, i, err)
					return
				}
				if _, _, err := k.SealContext(t.Context(), []byte("secret"), AAD("t", "c", "r")); err != nil {
					t.Errorf("round %d, instance %d: Seal: %v", round, i, err)
				}
				files[i], created[i] = f, c
			})
		}
		close(start)
		wg.Wait()
		if t.Failed() {
			return
		}
		disk, err := LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		makers := 0
		for i, f := range files {
			if f.Primary != disk.Primary || !bytes.Equal(f.HashKey, disk.HashKey) {
				t.Fatalf("round %d: instance %d serves with master key %s and a hash key the file on disk (master %s) does not hold",
					round, i, f.Primary, disk.Primary)
			}
			if created[i] {
				makers++
			}
		}
		if makers != 1 {
			t.Errorf("round %d: %d instances report that they made the file, want 1", round, makers)
		}
		if mode, exposed, err := Exposed(path); err != nil || exposed {
			t.Errorf("round %d: the file has mode %v (%v), want 0600", round, mode, err)
		}
		keys, _ := st.DataKeys(t.Context())
		for _, w := range keys {
			if w.MasterID != disk.Primary {
				t.Fatalf("round %d: data key %s is wrapped by master key %s, which the file on disk does not hold", round, w.ID, w.MasterID)
			}
		}
	}
}

// keyFileHelperEnv, set to a key file path, makes the test binary a process
// that creates or reads the key file there, once its standard input gives a
// line, and prints its primary master key id and a digest of its hash key.
const keyFileHelperEnv = "TWOFOLD_TEST_KEY_FILE_HELPER"

// TestKeyFileHelperProcess is the process TestKeyFileCreationRaceProcesses
// starts; run as a test, it does nothing.
func TestKeyFileHelperProcess(t *testing.T) {
	path := os.Getenv(keyFileHelperEnv)
	if path == "" {
		return
	}
	bufio.NewReader(os.Stdin).ReadString('\n')
	f, _, err := LoadOrCreateFile(path)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(keysOf(f))
	os.Exit(0)
}

// keysOf names f's primary master key and its hash key (by digest).
func keysOf(f *File) string {
	sum := sha256.Sum256(f.HashKey)
	return f.Primary + " " + hex.EncodeToString(sum[:8])
}

// TestKeyFileCreationRaceProcesses is TestKeyFileCreationRace with
// separate processes, released together: each ends with the keys of the
// file on disk.
func TestKeyFileCreationRaceProcesses(t *testing.T) {
	if runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("no processes")
	}
	const rounds, processes = 5, 4
	for round := range rounds {
		path := filepath.Join(t.TempDir(), "twofold.key")
		cmds := make([]*exec.Cmd, processes)
		stdins := make([]io.WriteCloser, processes)
		outs := make([]*bytes.Buffer, processes)
		for i := range cmds {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestKeyFileHelperProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), keyFileHelperEnv+"="+path)
			outs[i] = &bytes.Buffer{}
			cmd.Stdout, cmd.Stderr = outs[i], outs[i]
			in, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds[i], stdins[i] = cmd, in
		}
		for _, in := range stdins {
			io.WriteString(in, "go\n")
			in.Close()
		}
		for i, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Fatalf("round %d: process %d: %v: %s", round, i, err, outs[i])
			}
		}
		disk, err := LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := keysOf(disk)
		for i, out := range outs {
			if got := strings.TrimSpace(out.String()); got != want {
				t.Errorf("round %d: process %d serves with keys %q, the file on disk holds %q", round, i, got, want)
			}
		}
	}
}

// TestFirstDataKeyRace: instances starting together on a new database, each
// with a key file of its own, do not each store a data key under their own
// master key (then none could open the others' secrets): one stores the
// first data key, and those whose file cannot unwrap it refuse to start
// with ErrForeignKeyFile.
func TestFirstDataKeyRace(t *testing.T) {
	const instances = 8
	dir := t.TempDir()
	// Every instance finds no data key, twice (in OpenFile and Open), before
	// any stores one: the widest the window can be.
	st := &gatedStore{memStore: &memStore{}, reads: 2 * instances, open: make(chan struct{})}
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		mu    sync.Mutex
		ok    []*File
	)
	for i := range instances {
		wg.Go(func() {
			<-start
			f, _, _, err := OpenFile(t.Context(), filepath.Join(dir, fmt.Sprintf("instance-%d.key", i)), st)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok = append(ok, f)
			case !errors.Is(err, ErrForeignKeyFile):
				t.Errorf("instance %d: got %v, want success or ErrForeignKeyFile", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	keys, _ := st.DataKeys(t.Context())
	if len(ok) != 1 || len(keys) != 1 {
		t.Fatalf("%d instances started and %d data keys are stored; want 1 and 1", len(ok), len(keys))
	}
	if keys[0].MasterID != ok[0].Primary {
		t.Errorf("the data key is wrapped by %s, the started instance's master key is %s", keys[0].MasterID, ok[0].Primary)
	}
}

// TestExposed: a key file readable or writable by group or others is
// reported, with its mode; one of mode 0600 (as Twofold makes it) is not.
func TestExposed(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no mode bits")
	}
	path := filepath.Join(t.TempDir(), "twofold.key")
	if _, _, err := LoadOrCreateFile(path); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mode os.FileMode
		want bool
	}{
		{0o600, false},
		{0o400, false},
		{0o640, true},
		{0o604, true},
		{0o620, true},
		{0o644, true},
	}
	for _, tt := range tests {
		if err := os.Chmod(path, tt.mode); err != nil {
			t.Fatal(err)
		}
		mode, exposed, err := Exposed(path)
		if err != nil || mode != tt.mode || exposed != tt.want {
			t.Errorf("mode %04o: Exposed = %04o, %v, %v; want %04o, %v", tt.mode, mode, exposed, err, tt.mode, tt.want)
		}
	}
	if _, _, err := Exposed(filepath.Join(t.TempDir(), "missing.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Exposed of a missing file: got %v, want ErrNotExist", err)
	}
}

// gatedStore holds back every data key stored until DataKeys has been
// called reads times.
type gatedStore struct {
	*memStore
	mu    sync.Mutex
	reads int
	open  chan struct{}
}

func (g *gatedStore) DataKeys(ctx context.Context) ([]WrappedKey, error) {
	keys, err := g.memStore.DataKeys(ctx)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.reads--; g.reads == 0 {
		close(g.open)
	}
	return keys, err
}

func (g *gatedStore) wait() error {
	select {
	case <-g.open:
		return nil
	case <-time.After(time.Minute):
		return errors.New("gatedStore: DataKeys was not called often enough")
	}
}

func (g *gatedStore) AddDataKey(ctx context.Context, k WrappedKey) error {
	if err := g.wait(); err != nil {
		return err
	}
	return g.memStore.AddDataKey(ctx, k)
}

func (g *gatedStore) AddFirstDataKey(ctx context.Context, k WrappedKey) (bool, error) {
	if err := g.wait(); err != nil {
		return false, err
	}
	return g.memStore.AddFirstDataKey(ctx, k)
}

// withoutHardLinks makes key file creation take the path of a file system
// without hard links for the rest of the test.
func withoutHardLinks(t *testing.T) {
	t.Helper()
	old := link
	link = func(oldname, newname string) error {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: errors.ErrUnsupported}
	}
	t.Cleanup(func() { link = old })
}

// TestKeyFileCreationRaceWithoutHardLinks: where hard links fail, the file
// is created exclusively and written in place; instances starting together
// still all end with the keys of the one file on disk, mode 0600, even when
// one reads the file while another is still writing it.
func TestKeyFileCreationRaceWithoutHardLinks(t *testing.T) {
	withoutHardLinks(t)
	keyFileCreationRace(t)
}

// TestKeyFileReadWhileWritten: a key file that ends before its JSON does is
// one being written in place by another instance; it is read again until it
// is whole. A complete file that is not valid is refused at once.
func TestKeyFileReadWhileWritten(t *testing.T) {
	dir := t.TempDir()
	whole := filepath.Join(dir, "whole.key")
	want, created, err := LoadOrCreateFile(whole)
	if err != nil || !created {
		t.Fatalf("LoadOrCreateFile: created %v, %v", created, err)
	}
	b, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	// Both ways an instance reads the file at start wait for the writer.
	readers := map[string]func(path string) (*File, error){
		"loadWritten": loadWritten,
		"OpenFile": func(path string) (*File, error) {
			f, _, _, err := OpenFile(t.Context(), path, &memStore{})
			return f, err
		},
	}
	for name, read := range readers {
		for _, cut := range []int{0, 1, len(b) / 2, len(b) - 2} {
			path := filepath.Join(dir, fmt.Sprintf("%s-cut%d.key", name, cut))
			if err := os.WriteFile(path, b[:cut], 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadFile(path); !errors.Is(err, errPartial) {
				t.Fatalf("cut at %d of %d: LoadFile gave %v, want an error marking a file that ends early", cut, len(b), err)
			}
			// The writer finishes once the reader has found the file short.
			waits := 0
			old := waitForWriter
			waitForWriter = func() {
				if waits++; waits == 2 {
					if err := os.WriteFile(path, b, 0o600); err != nil {
						t.Error(err)
					}
				}
			}
			got, err := read(path)
			waitForWriter = old
			if err != nil {
				t.Fatalf("%s, cut at %d: %v", name, cut, err)
			}
			if got.Primary != want.Primary || !bytes.Equal(got.HashKey, want.HashKey) {
				t.Fatalf("%s, cut at %d: read other keys than the file's", name, cut)
			}
		}
	}
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, append(b, '}'), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateFile(bad); err == nil || errors.Is(err, errPartial) {
		t.Fatalf("a whole file with a stray byte: %v, want it refused as invalid", err)
	}
}
