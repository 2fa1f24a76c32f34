package notify_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/notify"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// stallingQueue runs a whole key rotation, old data keys deleted, before the
// first mail is stored: the code mail was sealed just before, and its
// request stalled for longer than the rotation's grace period.
type stallingQueue struct {
	*store.Store
	once   sync.Once
	rotate func() error
	err    error
}

func (q *stallingQueue) EnqueueMail(ctx context.Context, m store.Mail) (int64, error) {
	q.once.Do(func() { q.err = q.rotate() })
	if q.err != nil {
		return 0, q.err
	}
	return q.Store.EnqueueMail(ctx, m)
}

// TestEnqueueCodeStalledPastRotation: a code mail sealed under a data key
// that a key rotation deleted before the mail was stored is sealed again
// under the current key: stored under the deleted one, no worker could
// open it.
func TestEnqueueCodeStalledPastRotation(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st := openStore(t, dsn(t))
			path := filepath.Join(t.TempDir(), "twofold.key")
			_, keys, _, err := keyring.OpenFile(ctx, path, st)
			if err != nil {
				t.Fatal(err)
			}
			var rotated keyring.RotateResult
			q := &stallingQueue{Store: st, rotate: func() (err error) {
				rotated, err = keyring.Rotate(ctx, path, st, keyring.RotateOptions{})
				return err
			}}
			now := time.Now()
			o := notify.NewOutbox(q, func() time.Time { return now })
			o.Keys = keys
			const body = "Your code is 123456."
			if err := o.EnqueueCode(ctx, "ada@example.com", "Your code", body, now.Add(time.Hour)); err != nil {
				t.Fatalf("EnqueueCode across a key rotation: %v", err)
			}
			if rotated.DataKeysDeleted == 0 {
				t.Fatalf("fixture: the rotation deleted no data key (%+v): the mail did not meet a deleted key", rotated)
			}
			m, ok, err := st.ClaimMail(ctx, now, now.Add(time.Minute))
			if err != nil || !ok {
				t.Fatalf("ClaimMail: %v, %v", ok, err)
			}
			// A fresh instance, with the key file as the rotation left it.
			_, fresh, _, err := keyring.OpenFile(ctx, path, st)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fresh.Open(ctx, m.BodyKeyID, m.SealedBody, keyring.AAD("outbox", "body", m.SealRef))
			if err != nil {
				t.Fatalf("the stored mail does not open (data key %s, the rotation's is %s): %v", m.BodyKeyID, rotated.DataKey, err)
			}
			if string(got) != body {
				t.Errorf("stored body: got %q, want %q", got, body)
			}
		})
	}
}
