package keyring

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// flakyStore is a memStore whose DataKeys fails while failures are armed:
// a database that cannot be read for a moment.
type flakyStore struct {
	*memStore
	mu    sync.Mutex
	fails int // DataKeys calls left to fail
}

var errFlaky = errors.New("simulated database failure")

func (s *flakyStore) failNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails = n
}

func (s *flakyStore) DataKeys(ctx context.Context) ([]WrappedKey, error) {
	s.mu.Lock()
	fail := s.fails > 0
	if fail {
		s.fails--
	}
	s.mu.Unlock()
	if fail {
		s.memStore.mu.Lock()
		s.memStore.reads++
		s.memStore.mu.Unlock()
		return nil, errFlaky
	}
	return s.memStore.DataKeys(ctx)
}

// lockedBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestRecheckReadFails (issue: a transient failure to read data_keys failed
// the decryption that happened to recheck them): the Open that rechecks goes
// on with the keys read last and logs the failure without key material; the
// Opens right after it do not read again, and the first Open RecheckEvery
// later reads them and drops the data keys a rotation retired meanwhile.
func TestRecheckReadFails(t *testing.T) {
	x := newFixture(t, 1)
	stale := staleValue(t, x)
	st := &flakyStore{memStore: x.st}
	f, err := LoadFile(x.path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := Open(t.Context(), f, st)
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: x.clock.Now()}
	k.UseClock(clock.Now)
	var logs lockedBuffer
	k.UseLogger(slog.New(slog.NewTextHandler(&logs, nil)))
	open := func(when string) {
		t.Helper()
		got, err := k.Open(t.Context(), stale.KeyID, stale.Ciphertext, stale.AAD())
		if err != nil || string(got) != "chosen by the writer" {
			t.Fatalf("%s: Open = %q, %v; want the value", when, got, err)
		}
	}
	open("before the rotation")
	rotate(t, x, RotateOptions{}) // retires the data key stale is sealed under

	st.failNext(1)
	clock.Add(RecheckEvery)
	reads := st.dataKeyReads()
	open("while the data keys cannot be read")
	if got := st.dataKeyReads(); got != reads+1 {
		t.Fatalf("the Open that rechecks read the data keys %d times, want once", got-reads)
	}
	for range 10 {
		open("right after the failed read")
	}
	if got := st.dataKeyReads(); got != reads+1 {
		t.Fatalf("Opens right after the failed read read the data keys %d more times, want none", got-reads-1)
	}
	log := logs.String()
	if !strings.Contains(log, "level=WARN") || !strings.Contains(log, errFlaky.Error()) {
		t.Fatalf("log %q: want a warning with the cause", log)
	}
	for _, m := range f.Masters {
		if strings.Contains(log, base64.StdEncoding.EncodeToString(m.Key)) {
			t.Fatalf("log %q shows a master key", log)
		}
	}

	clock.Add(RecheckEvery)
	refused(t, k, stale, "the Keyring once the data keys read again")
	values, _ := x.st.SealedValues(t.Context())
	for _, v := range values {
		if got, err := k.Open(t.Context(), v.KeyID, v.Ciphertext, v.AAD()); err != nil || !bytes.Equal(got, x.want[v.Row]) {
			t.Fatalf("after the rotation, %s opens to %q, %v; want its secret", v.Row, got, err)
		}
	}
}
