package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// savedKeys is the data keys as someone saved them from the database before a
// rotation: enough, with the key file of then, to seal values under them.
type savedKeys []keyring.WrappedKey

func (s savedKeys) DataKeys(context.Context) ([]keyring.WrappedKey, error) { return s, nil }
func (s savedKeys) AddDataKey(context.Context, keyring.WrappedKey) error {
	return errors.New("saved keys are read-only")
}
func (s savedKeys) AddFirstDataKey(context.Context, keyring.WrappedKey) (bool, error) {
	return false, errors.New("saved keys are read-only")
}

// TestKeysRetiredRefused: someone who kept the key file and the wrapped data
// key from before a `keys rotate`, and can write the database, seals a TOTP
// secret of their choosing for a factor under the old data key and writes it
// over the factor's (putting the old data key's row back, which the foreign
// key asks for). Both servers that ran through the rotation on that database
// refuse a code of the chosen secret as a server started afresh does (503:
// the factor's key cannot be read, no attempt spent), instead of signing in
// with it. On SQLite and PostgreSQL.
func TestKeysRetiredRefused(t *testing.T) {
	for name, newDSN := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := newDSN(t)
			keyFile := filepath.Join(t.TempDir(), "twofold.key")
			s := testenv.NewServer(t, dsn, keysWithKeyFile(keyFile))
			if _, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: "alice", Email: "alice@example.com", Password: keysPassword}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			factorID, secret := keysEnrolTOTP(t, s, keysLogin(t, s, ""), "phone", true)
			other := testenv.NewServer(t, dsn, keysWithKeyFile(keyFile)) // a second instance
			other.Clock.Set(s.Clock.Now())
			s.Clock.Add(30 * time.Second)
			keysLogin(t, s, secret)
			other.Clock.Add(60 * time.Second)
			keysLogin(t, other, secret)

			// Saved before the rotation: the key file and the data keys.
			saved, err := os.ReadFile(keyFile)
			if err != nil {
				t.Fatal(err)
			}
			oldPath := filepath.Join(t.TempDir(), "old.key")
			if err := os.WriteFile(oldPath, saved, 0o600); err != nil {
				t.Fatal(err)
			}
			oldKeys, _ := keysStored(t, dsn)
			keysRunRotate(t, dsn, keyFile)

			// Written afterwards, with the old keys: a secret of the writer's
			// choosing for the factor, under the old data key.
			oldFile, err := keyring.LoadFile(oldPath)
			if err != nil {
				t.Fatal(err)
			}
			old, err := keyring.Open(ctx, oldFile, savedKeys(oldKeys))
			if err != nil {
				t.Fatal(err)
			}
			chosen := make([]byte, 20)
			rand.Read(chosen)
			_, byRow := keysStored(t, dsn)
			v := byRow[factorID]
			keyID, sealed, err := old.Seal(chosen, v.AAD())
			if err != nil || keyID != oldKeys[0].ID {
				t.Fatalf("sealing under the old data key: %s, %v; want %s", keyID, err, oldKeys[0].ID)
			}
			st, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.AddDataKey(ctx, oldKeys[0]); err != nil {
				t.Fatal(err)
			}
			if ok, err := st.Reseal(ctx, v, keyID, sealed); !ok || err != nil {
				t.Fatalf("writing the chosen secret: %v, %v", ok, err)
			}

			chosenB32 := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(chosen)
			fresh := testenv.NewServer(t, dsn, keysWithKeyFile(keyFile))
			for name, srv := range map[string]*testenv.Server{"the server that enrolled": s, "the second instance": other, "a server started now": fresh} {
				srv.Clock.Add(2 * time.Minute)
				c := testenv.NewClient(srv.URL())
				r := c.Do(t, "POST", "/v1/login", map[string]string{"username": "alice", "password": keysPassword})
				if r.Status != 200 || r.String("status") != "second_factor_required" {
					t.Fatalf("%s: login: got %d %s", name, r.Status, r.Body)
				}
				r = c.Do(t, "POST", "/v1/login/"+r.String("login_id")+"/verify",
					map[string]string{"method": "totp", "code": testenv.TOTP(t, chosenB32, srv.Clock.Now())})
				if r.Status != 503 {
					t.Errorf("%s: a code of the secret sealed under the retired data key: got %d %s, want 503 as after a restart", name, r.Status, r.Body)
				}
			}
		})
	}
}
