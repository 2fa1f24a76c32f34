package keyring

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var errCrash = errors.New("simulated crash")

// fixture is a key file and a store with sealed values, and a running
// server's Keyring over them.
type fixture struct {
	path   string
	st     *memStore
	server *Keyring
	want   map[string][]byte // plaintext by row
	n      int
	clock  *testClock // the server's
}

// testClock is a clock that tests move.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newFixture(t *testing.T, values int) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "twofold.key")
	f, _, err := LoadOrCreateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	x := &fixture{path: path, st: &memStore{}, want: map[string][]byte{}, clock: &testClock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}}
	if x.server, err = Open(t.Context(), f, x.st); err != nil {
		t.Fatal(err)
	}
	x.server.UseClock(x.clock.Now)
	for range values {
		x.enrol(t)
	}
	return x
}

// seal seals a fresh secret for a new row on the running server, without
// storing it yet.
func (x *fixture) seal(t *testing.T) Sealed {
	t.Helper()
	x.n++
	row := fmt.Sprintf("f%d", x.n)
	secret := []byte(fmt.Sprintf("secret %d %s", x.n, randomBytes(8)))
	v := Sealed{Table: "factors", Column: "secret", Row: row}
	var err error
	if v.KeyID, v.Ciphertext, err = x.server.Seal(secret, v.AAD()); err != nil {
		t.Fatalf("Seal: %v", err)
	}
	x.want[row] = secret
	return v
}

// enrol seals and stores a new value, as an enrolment on the server does.
func (x *fixture) enrol(t *testing.T) {
	t.Helper()
	x.st.put(x.seal(t))
}

// checkOnDisk checks that every stored value opens with the key file on disk
// and the stored data keys alone, as a server started now would open it.
func (x *fixture) checkOnDisk(t *testing.T, when string) {
	t.Helper()
	f, err := LoadFile(x.path)
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	keys, _ := x.st.DataKeys(t.Context())
	values, _ := x.st.SealedValues(t.Context())
	if len(values) != len(x.want) {
		t.Fatalf("%s: got %d stored values, want %d", when, len(values), len(x.want))
	}
	for _, v := range values {
		w := findKey(keys, v.KeyID)
		if w.ID == "" {
			t.Fatalf("%s: %s is sealed under data key %s, which is not stored", when, v.Row, v.KeyID)
		}
		mk := f.master(w.MasterID)
		if mk == nil {
			t.Fatalf("%s: data key %s is wrapped by master key %s, which the key file does not hold", when, w.ID, w.MasterID)
		}
		a, err := unwrap(mk, w)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		got, err := openWith(a, v.KeyID, v.Ciphertext, v.AAD())
		if err != nil || !bytes.Equal(got, x.want[v.Row]) {
			t.Fatalf("%s: %s opens to %q, %v; want its secret", when, v.Row, got, err)
		}
	}
}

// checkServer checks that the running server opens every stored value.
func (x *fixture) checkServer(t *testing.T, when string) {
	t.Helper()
	values, _ := x.st.SealedValues(t.Context())
	for _, v := range values {
		got, err := x.server.Open(t.Context(), v.KeyID, v.Ciphertext, v.AAD())
		if err != nil || !bytes.Equal(got, x.want[v.Row]) {
			t.Fatalf("%s: running server opens %s to %q, %v; want its secret", when, v.Row, got, err)
		}
	}
}

// checkFinal checks a finished rotation: one master key, one data key wrapped
// by it, every value under it, and the server sealing under it.
func (x *fixture) checkFinal(t *testing.T) (master, dataKey string) {
	t.Helper()
	x.checkOnDisk(t, "after the rotation")
	x.checkServer(t, "after the rotation")
	f, err := LoadFile(x.path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Masters) != 1 || f.Masters[0].ID != f.Primary {
		t.Fatalf("got %s, want only the primary master key", f)
	}
	keys, _ := x.st.DataKeys(t.Context())
	if len(keys) != 1 || keys[0].MasterID != f.Primary {
		t.Fatalf("got data keys %v, want one wrapped by %s", keyIDs(keys), f.Primary)
	}
	values, _ := x.st.SealedValues(t.Context())
	for _, v := range values {
		if v.KeyID != keys[0].ID {
			t.Fatalf("%s is sealed under %s, want %s", v.Row, v.KeyID, keys[0].ID)
		}
	}
	v := x.seal(t)
	if v.KeyID != keys[0].ID {
		t.Fatalf("running server seals under %s, want the new data key %s", v.KeyID, keys[0].ID)
	}
	x.st.put(v)
	return f.Primary, keys[0].ID
}

func keyIDs(keys []WrappedKey) []string {
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID+"@"+k.MasterID)
	}
	return ids
}

func rotate(t *testing.T, x *fixture, o RotateOptions) RotateResult {
	t.Helper()
	res, err := Rotate(t.Context(), x.path, x.st, o)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	return res
}

// crashAt returns an After hook that fails at the n-th report of step.
func crashAt(step Step, n int) func(Step) error {
	seen := 0
	return func(s Step) error {
		if s == step {
			if seen++; seen == n {
				return errCrash
			}
		}
		return nil
	}
}

// TestRotate checks a rotation from start to end: the old master key leaves
// the file, every value moves to one new data key, and a server that was
// running all along opens and seals with the new keys without a restart.
func TestRotate(t *testing.T) {
	x := newFixture(t, 5)
	before, err := LoadFile(x.path)
	if err != nil {
		t.Fatal(err)
	}
	old := before.Masters[0]
	res := rotate(t, x, RotateOptions{})
	master, dataKey := x.checkFinal(t)
	if !res.AddedMaster || res.Master != master || res.DataKey != dataKey || res.Resealed != 5 || res.DataKeysDeleted != 1 || res.MastersRetired != 1 {
		t.Fatalf("got %+v, want a new master %s and data key %s, 5 resealed, 1 data key and 1 master retired", res, master, dataKey)
	}
	if master == old.ID {
		t.Fatal("the primary master key did not change")
	}
	after, err := LoadFile(x.path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after.HashKey, before.HashKey) {
		t.Fatal("the hash key changed: every credential hash would be lost")
	}
	raw, err := os.ReadFile(x.path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(old.Key))) {
		t.Fatal("the key file still holds the old master key")
	}
	if st, err := os.Stat(x.path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v, %v; want 600", st.Mode().Perm(), err)
	}

	// Again: a second rotation from a finished one is a new rotation.
	res = rotate(t, x, RotateOptions{})
	m2, _ := x.checkFinal(t)
	if !res.AddedMaster || m2 == master || res.Resealed != 6 {
		t.Fatalf("second rotation: got %+v, want a new master key and 6 resealed", res)
	}
}

// TestRotateCrash interrupts a rotation at each step (and in the middle of
// resealing), checks that every value still opens from the key file on disk
// and the store, lets the running server open everything and enrol again,
// then runs the rotation again and checks that it finished the job.
func TestRotateCrash(t *testing.T) {
	tests := []struct {
		step Step
		n    int
	}{
		{StepMasterReady, 1},
		{StepDataKeyReady, 1},
		{StepResealed, 1},
		{StepResealed, 4},
		{StepResealComplete, 1},
		{StepDataKeysRetired, 1},
		{StepMasterKeysRetired, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s#%d", tt.step, tt.n), func(t *testing.T) {
			x := newFixture(t, 5)
			first, err := Rotate(t.Context(), x.path, x.st, RotateOptions{After: crashAt(tt.step, tt.n)})
			if !errors.Is(err, errCrash) {
				t.Fatalf("Rotate: got %v, want the simulated crash", err)
			}
			if !first.Changed {
				t.Errorf("interrupted at %s: Changed = false, want true (the run is to be finished by another)", tt.step)
			}
			x.checkOnDisk(t, "after the crash")
			x.checkServer(t, "after the crash")
			x.enrol(t)
			x.checkOnDisk(t, "after an enrolment")
			crashed, err := LoadFile(x.path)
			if err != nil {
				t.Fatal(err)
			}

			res := rotate(t, x, RotateOptions{})
			master, _ := x.checkFinal(t)
			finished := tt.step == StepMasterKeysRetired // the crash came after the last change
			if res.AddedMaster != finished {
				t.Fatalf("second run: AddedMaster = %v, want %v", res.AddedMaster, finished)
			}
			if !finished && master != crashed.Primary {
				t.Fatalf("second run ended on master key %s, want the interrupted rotation's %s", master, crashed.Primary)
			}
		})
	}
}

// TestRotateCrashTwice interrupts a rotation twice before it finishes.
func TestRotateCrashTwice(t *testing.T) {
	x := newFixture(t, 6)
	for _, crash := range []func(Step) error{crashAt(StepDataKeyReady, 1), crashAt(StepResealed, 2)} {
		if _, err := Rotate(t.Context(), x.path, x.st, RotateOptions{After: crash}); !errors.Is(err, errCrash) {
			t.Fatalf("Rotate: got %v, want the simulated crash", err)
		}
		x.checkOnDisk(t, "after a crash")
		x.enrol(t)
	}
	res := rotate(t, x, RotateOptions{})
	x.checkFinal(t)
	if res.AddedMaster {
		t.Fatal("third run added a master key; want it to finish the interrupted rotation")
	}
}

// TestRotateSafeAtEveryPoint checks, at every step of one rotation, that each
// stored value opens from disk and in the running server, while that server
// keeps enrolling.
func TestRotateSafeAtEveryPoint(t *testing.T) {
	x := newFixture(t, 4)
	steps := 0
	rotate(t, x, RotateOptions{After: func(s Step) error {
		steps++
		x.checkOnDisk(t, "at "+s.String())
		x.checkServer(t, "at "+s.String())
		if s != StepResealed {
			x.enrol(t)
		}
		return nil
	}})
	x.checkFinal(t)
	if steps < 9 {
		t.Fatalf("got %d steps reported, want at least 9", steps)
	}
}

// TestRotateLateEnrolment covers enrolments that chose the old data key just
// before the rotation made a new one and stored their value late: once after
// the reseal (the old key's deletion must wait for it) and once after the old
// key was deleted (Rotate still holds the key and reseals it).
func TestRotateLateEnrolment(t *testing.T) {
	x := newFixture(t, 2)
	var late []Sealed
	rotate(t, x, RotateOptions{After: func(s Step) error {
		switch s {
		case StepMasterReady:
			late = append(late, x.seal(t), x.seal(t))
		case StepResealComplete:
			x.st.put(late[0])
		case StepDataKeysRetired:
			x.st.put(late[1])
			if keys, _ := x.st.DataKeys(t.Context()); len(keys) != 1 {
				t.Fatalf("got data keys %v after retiring, want one", keyIDs(keys))
			}
		}
		return nil
	}})
	_, dataKey := x.checkFinal(t)
	if late[0].KeyID == dataKey || late[1].KeyID == dataKey {
		t.Fatal("the late values were sealed under the new data key; want the old one")
	}
}

// TestRotateRefusesUnknownDataKey checks that a data key the key file cannot
// unwrap stops the rotation before anything changes.
func TestRotateRefusesUnknownDataKey(t *testing.T) {
	x := newFixture(t, 1)
	other, _, err := LoadOrCreateFile(filepath.Join(t.TempDir(), "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewDataKey(t.Context(), other, x.st, time.Now()); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(x.path)
	if _, err := Rotate(t.Context(), x.path, x.st, RotateOptions{}); err == nil {
		t.Fatal("Rotate: got nil error, want one")
	}
	if after, _ := os.ReadFile(x.path); !bytes.Equal(before, after) {
		t.Fatal("the key file changed")
	}
	if keys, _ := x.st.DataKeys(t.Context()); len(keys) != 2 {
		t.Fatalf("got %d data keys, want both kept", len(keys))
	}
}

func TestRotateMissingKeyFile(t *testing.T) {
	dir := t.TempDir()
	_, err := Rotate(t.Context(), filepath.Join(dir, "none.key"), &memStore{}, RotateOptions{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Rotate: got %v, want a missing-file error", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("Rotate left %d files beside a missing key file", len(entries))
	}
}

// TestRotateLocked checks that two rotations of one key file do not run at once.
func TestRotateLocked(t *testing.T) {
	x := newFixture(t, 1)
	unlock, err := lockFile(x.path+".lock", nil)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(x.path)
	if _, err := Rotate(t.Context(), x.path, x.st, RotateOptions{}); err == nil {
		t.Fatal("Rotate under another's lock: got nil error, want one")
	}
	if after, _ := os.ReadFile(x.path); !bytes.Equal(before, after) {
		t.Fatal("the key file changed under another's lock")
	}
	unlock()
	rotate(t, x, RotateOptions{})
	x.checkFinal(t)
}

// TestRotateGrace checks that the old data keys are deleted only a grace
// period after the new one appeared, and that a run resumed later does not
// wait again.
func TestRotateGrace(t *testing.T) {
	x := newFixture(t, 1)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var slept []time.Duration
	sleep := func(d time.Duration) <-chan time.Time {
		slept = append(slept, d)
		c := make(chan time.Time, 1)
		c <- now.Add(d)
		return c
	}
	clock := func() time.Time { return now }
	_, err := Rotate(t.Context(), x.path, x.st, RotateOptions{Now: clock, Grace: 10 * time.Second, Sleep: sleep, After: crashAt(StepDataKeyReady, 1)})
	if !errors.Is(err, errCrash) {
		t.Fatalf("Rotate: got %v, want the simulated crash", err)
	}
	now = now.Add(4 * time.Second)
	rotate(t, x, RotateOptions{Now: clock, Grace: 10 * time.Second, Sleep: sleep})
	if len(slept) != 1 || slept[0] != 6*time.Second {
		t.Fatalf("slept %v, want the 6s left of the grace period", slept)
	}
	x.checkFinal(t)
}

// TestOpenKnownKeyNoIO checks that opening a value under a data key the
// Keyring holds reads neither the store nor the key file while the keys
// were read less than RecheckEvery ago: the verify hot path. Past that, one
// Open reads the data keys again, and a key file that cannot be read then
// does not make it refuse the keys it holds.
func TestOpenKnownKeyNoIO(t *testing.T) {
	x := newFixture(t, 1)
	values, _ := x.st.SealedValues(t.Context())
	if err := os.Remove(x.path); err != nil {
		t.Fatal(err)
	}
	open := func() {
		t.Helper()
		if _, err := x.server.Open(t.Context(), values[0].KeyID, values[0].Ciphertext, values[0].AAD()); err != nil {
			t.Fatal(err)
		}
	}
	reads := x.st.dataKeyReads()
	for range 100 {
		open()
	}
	x.clock.Add(RecheckEvery - time.Millisecond)
	open()
	if got := x.st.dataKeyReads(); got != reads {
		t.Fatalf("Open read the data keys %d times, want 0", got-reads)
	}
	x.clock.Add(time.Millisecond)
	for range 100 {
		open()
	}
	if got := x.st.dataKeyReads(); got != reads+1 {
		t.Fatalf("Open a second on: read the data keys %d times, want once", got-reads)
	}
}

// TestSealPicksUpRotation checks that a running Keyring seals under the new
// data key right after a rotation, with nothing else making it reload.
func TestSealPicksUpRotation(t *testing.T) {
	x := newFixture(t, 1)
	res := rotate(t, x, RotateOptions{})
	v := x.seal(t)
	if v.KeyID != res.DataKey {
		t.Fatalf("Seal after a rotation used data key %s, want %s", v.KeyID, res.DataKey)
	}
	x.st.put(v)
	x.checkOnDisk(t, "after sealing")
}

func TestSecretsRedacted(t *testing.T) {
	f, _, err := LoadOrCreateFile(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(f), fmt.Sprintf("%v %+v", f.Masters, f.Masters[0])} {
		for _, key := range [][]byte{f.Masters[0].Key, f.HashKey} {
			if strings.Contains(s, base64.StdEncoding.EncodeToString(key)) || strings.Contains(s, fmt.Sprint(key)) {
				t.Fatalf("%q shows key bytes", s)
			}
		}
	}
}

// BenchmarkOpen measures the verify hot path: opening a TOTP secret under a
// data key the Keyring holds.
func BenchmarkOpen(b *testing.B) {
	f, _, err := LoadOrCreateFile(filepath.Join(b.TempDir(), "k"))
	if err != nil {
		b.Fatal(err)
	}
	k, err := Open(context.Background(), f, &memStore{})
	if err != nil {
		b.Fatal(err)
	}
	aad := AAD("factors", "secret", "f1")
	id, ct, err := k.Seal(make([]byte, 20), aad)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := k.Open(ctx, id, ct, aad); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
