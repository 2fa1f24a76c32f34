package keyring

import (
	"errors"
	"testing"
)

// staleValue seals a chosen secret for a stored row under the server's
// current data key without storing it: what someone who saved the key file
// and the wrapped data key before a rotation can make afterwards, and write
// over the row in the database.
func staleValue(t *testing.T, x *fixture) Sealed {
	t.Helper()
	values, _ := x.st.SealedValues(t.Context())
	v := values[0]
	var err error
	if v.KeyID, v.Ciphertext, err = x.server.Seal([]byte("chosen by the writer"), v.AAD()); err != nil {
		t.Fatal(err)
	}
	return v
}

// refused checks that k refuses v as a value under a key it cannot read.
func refused(t *testing.T, k *Keyring, v Sealed, who string) {
	t.Helper()
	got, err := k.Open(t.Context(), v.KeyID, v.Ciphertext, v.AAD())
	if !errors.Is(err, ErrKeyUnavailable) {
		t.Fatalf("%s opens a value under the retired data key %s: %q, %v; want ErrKeyUnavailable", who, v.KeyID, got, err)
	}
}

// TestRetiredKeyRefused (issue: a running server kept the data keys a
// rotation retired): once the rotation has deleted the old data key, a
// value sealed under it and written back into the database is refused by a
// running server as by one started afresh, whether the server had read the
// new key during the grace period (and so held both) or had not heard of the
// rotation at all: RecheckEvery after it last read the keys, by its clock.
func TestRetiredKeyRefused(t *testing.T) {
	t.Run("server that saw the new key", func(t *testing.T) {
		x := newFixture(t, 2)
		stale := staleValue(t, x)
		rotate(t, x, RotateOptions{After: func(s Step) error {
			if s == StepResealComplete {
				// During the grace period: the server reads the new key
				// and still opens values under the old one.
				x.checkServer(t, "during the grace period")
				if _, err := x.server.Open(t.Context(), stale.KeyID, stale.Ciphertext, stale.AAD()); err != nil {
					t.Fatalf("during the grace period, a value under the old data key: %v", err)
				}
			}
			return nil
		}})
		x.checkServer(t, "after the rotation")
		x.clock.Add(RecheckEvery)
		refused(t, x.server, stale, "the running server")
	})
	t.Run("server that had not heard of the rotation", func(t *testing.T) {
		x := newFixture(t, 1)
		stale := staleValue(t, x)
		rotate(t, x, RotateOptions{})
		x.clock.Add(RecheckEvery)
		refused(t, x.server, stale, "the running server")
	})
	t.Run("another instance", func(t *testing.T) {
		x := newFixture(t, 1)
		f, err := LoadFile(x.path)
		if err != nil {
			t.Fatal(err)
		}
		other, err := Open(t.Context(), f, x.st)
		if err != nil {
			t.Fatal(err)
		}
		clock := &testClock{t: x.clock.Now()}
		other.UseClock(clock.Now)
		stale := staleValue(t, x)
		if _, err := other.Open(t.Context(), stale.KeyID, stale.Ciphertext, stale.AAD()); err != nil {
			t.Fatalf("the other instance before the rotation: %v", err)
		}
		rotate(t, x, RotateOptions{})
		x.checkServer(t, "after the rotation") // reads the new key
		clock.Add(RecheckEvery)
		refused(t, other, stale, "the other instance")
		refused(t, x.server, stale, "the instance that read the new key")
	})
	t.Run("data key put back", func(t *testing.T) {
		// On PostgreSQL a factor's key id must name a stored data key, so
		// the writer puts the old one's row back as it was; the key file no
		// longer holds its master key, so a server started now could not
		// unwrap it, and the running one drops it, though the rows read
		// are the same as during the grace period.
		x := newFixture(t, 1)
		stale := staleValue(t, x)
		old, _ := x.st.DataKeys(t.Context())
		rotate(t, x, RotateOptions{After: func(s Step) error {
			if s == StepResealComplete {
				x.clock.Add(RecheckEvery)
				x.checkServer(t, "during the grace period")
			}
			return nil
		}})
		if err := x.st.AddDataKey(t.Context(), old[0]); err != nil {
			t.Fatal(err)
		}
		x.clock.Add(RecheckEvery)
		refused(t, x.server, stale, "the running server")
		f, err := LoadFile(x.path)
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := Open(t.Context(), f, x.st)
		if err != nil {
			t.Fatal(err)
		}
		refused(t, fresh, stale, "a server started now")
	})
}
