package notify_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold"
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
			if err := o.EnqueueCode(ctx, "ada@example.com", "Your code", body, twofold.MailedCode{}, now.Add(time.Hour)); err != nil {
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
			to, err := fresh.Open(ctx, m.ToKeyID, m.SealedTo, keyring.AAD("outbox", "recipient", m.SealRef))
			if err != nil || string(to) != "ada@example.com" || m.To != "" {
				t.Errorf("stored recipient: clear %q, sealed %q (%v); want only sealed, ada@example.com", m.To, to, err)
			}
		})
	}
}

// TestCodeMailRecipientRotated: `keys rotate` re-encrypts a waiting code
// mail's sealed recipient as well as its body, so that once the old data
// keys are gone a server with the rotated key file still opens both and
// sends the mail to its address; and a code mail queued before recipients
// were sealed (the address in the clear, the body sealed) still goes to
// that address.
func TestCodeMailRecipientRotated(t *testing.T) {
	eachDB(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		r := newRig(t, dsn)
		path := filepath.Join(t.TempDir(), "twofold.key")
		_, keys, _, err := keyring.OpenFile(ctx, path, r.store)
		if err != nil {
			t.Fatal(err)
		}
		r.outbox.Keys = keys
		now := r.clock.Now()
		if err := r.outbox.EnqueueCode(ctx, "ada@factor.example", "Your code", "Your code is 123456.", twofold.MailedCode{}, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		// As an older version queued it: recipient in the clear.
		keyID, sealed, err := keys.SealContext(ctx, []byte("Your code is 654321."), keyring.AAD("outbox", "body", "old-ref"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.store.EnqueueMail(ctx, store.Mail{To: "bob@legacy.example", Subject: "Your old code", CreatedAt: now,
			BodyKeyID: keyID, SealRef: "old-ref", SealedBody: sealed, DiscardAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		rotated, err := keyring.Rotate(ctx, path, r.store, keyring.RotateOptions{})
		if err != nil || rotated.DataKeysDeleted == 0 {
			t.Fatalf("rotate: %+v, %v; want the old data key deleted", rotated, err)
		}
		_, fresh, _, err := keyring.OpenFile(ctx, path, r.store)
		if err != nil {
			t.Fatal(err)
		}
		w := &notify.Worker{Queue: r.store, Keys: fresh, Logger: newLogger(r.logs), Now: r.clock.Now, Poll: 10 * time.Millisecond,
			Sender: &notify.SMTP{Addr: r.smtp.Addr, From: "Twofold <twofold@example.com>", Timeout: time.Minute}}
		w.Start()
		t.Cleanup(func() { w.Close() })
		got := map[string]string{}
		for _, m := range r.smtp.Wait(t, 2, time.Minute) {
			_, subject, _ := parse(t, m)
			got[strings.Join(m.To, ",")] = subject
		}
		if got["ada@factor.example"] != "Your code" || got["bob@legacy.example"] != "Your old code" {
			t.Errorf("sent after the rotation: got %v, want the new code mail to ada and the old one to bob", got)
		}
		if logs := r.logs.String(); strings.Contains(logs, "ada@") || !strings.Contains(logs, "to_domain=factor.example") {
			t.Errorf("logs: got %q, want the recipient's domain and not the address", logs)
		}
	})
}
