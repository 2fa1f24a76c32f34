package store_test

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/store"
)

var keysT0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// addSealedFactor stores a pending factor whose secret is sealed under keyID.
func addSealedFactor(tb testing.TB, s *store.Store, id, keyID string, sealed []byte) {
	tb.Helper()
	acct := "acct-" + id
	if err := s.CreateAccount(tb.Context(), twofold.Account{ID: acct, Username: acct, PasswordHash: "x", CreatedAt: keysT0}); err != nil {
		tb.Fatalf("CreateAccount: %v", err)
	}
	ensureKeys(tb, s, keyID)
	f := twofold.Factor{ID: id, AccountID: acct, Type: twofold.FactorTOTP, Label: "phone", Status: twofold.FactorPending,
		SecretKeyID: keyID, SealedSecret: sealed, Algorithm: "SHA1", Digits: 6, Period: 30 * time.Second, LastStep: -1, CreatedAt: keysT0}
	if err := s.CreateFactor(tb.Context(), f); err != nil {
		tb.Fatalf("CreateFactor: %v", err)
	}
}

// ensureKeys stores data keys named ids that are not stored yet: a factor's
// key id must name a stored data key.
func ensureKeys(tb testing.TB, s *store.Store, ids ...string) {
	tb.Helper()
	have, err := s.DataKeys(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	known := map[string]bool{}
	for _, k := range have {
		known[k.ID] = true
	}
	for _, id := range ids {
		if known[id] {
			continue
		}
		known[id] = true
		if err := s.AddDataKey(tb.Context(), keyring.WrappedKey{ID: id, MasterID: "m", Wrapped: []byte(id), Created: keysT0}); err != nil {
			tb.Fatalf("AddDataKey(%q): %v", id, err)
		}
	}
}

func TestSealedValuesAndReseal(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		ensureKeys(t, s, "key-c", "key-d")
		addSealedFactor(t, s, "f1", "key-a", []byte{1, 0, 0xff})
		addSealedFactor(t, s, "f2", "key-b", []byte{2})
		got, err := s.SealedValues(ctx)
		if err != nil {
			t.Fatalf("SealedValues: %v", err)
		}
		want := keyring.Sealed{Table: "factors", Column: "secret", Row: "f1", KeyID: "key-a", Ciphertext: []byte{1, 0, 0xff}}
		if len(got) != 2 || got[0].Table != want.Table || got[0].Column != want.Column || got[0].Row != want.Row ||
			got[0].KeyID != want.KeyID || !bytes.Equal(got[0].Ciphertext, want.Ciphertext) {
			t.Fatalf("SealedValues: got %+v, want f1 as %+v and f2", got, want)
		}
		// The AAD the keyring binds a factor secret to, as core seals it.
		if !bytes.Equal(got[0].AAD(), keyring.AAD("factors", "secret", "f1")) {
			t.Fatalf("got AAD %q", got[0].AAD())
		}

		// Compare-and-set on the old key id.
		stale := got[0]
		stale.KeyID = "key-z"
		if ok, err := s.Reseal(ctx, stale, "key-c", []byte{9}); err != nil || ok {
			t.Fatalf("Reseal from a key it is not under: got %v, %v; want false", ok, err)
		}
		if ok, err := s.Reseal(ctx, got[0], "key-c", []byte{3, 3}); err != nil || !ok {
			t.Fatalf("Reseal: got %v, %v; want true", ok, err)
		}
		if ok, err := s.Reseal(ctx, got[0], "key-d", []byte{4}); err != nil || ok {
			t.Fatalf("second Reseal from the same old key: got %v, %v; want false", ok, err)
		}
		got, _ = s.SealedValues(ctx)
		if got[0].KeyID != "key-c" || !bytes.Equal(got[0].Ciphertext, []byte{3, 3}) || got[1].KeyID != "key-b" {
			t.Fatalf("after Reseal: got %+v", got)
		}
		if _, err := s.Reseal(ctx, keyring.Sealed{Table: "accounts", Column: "email", Row: "x", KeyID: "key-a"}, "key-c", nil); err == nil {
			t.Fatal("Reseal of a column that holds no sealed values: got nil error, want one")
		}
	})
}

func TestDeleteDataKey(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		for _, id := range []string{"key-a", "key-b"} {
			if err := s.AddDataKey(ctx, keyring.WrappedKey{ID: id, MasterID: "m1", Wrapped: []byte{1}, Created: keysT0}); err != nil {
				t.Fatal(err)
			}
		}
		addSealedFactor(t, s, "f1", "key-a", []byte{1})
		tests := []struct {
			name, id string
			want     bool
		}{
			{"InUse", "key-a", false},
			{"Unused", "key-b", true},
			{"Gone", "key-b", false},
			{"Unknown", "key-x", false},
		}
		for _, tt := range tests {
			ok, err := s.DeleteDataKey(ctx, tt.id)
			if err != nil || ok != tt.want {
				t.Fatalf("%s: DeleteDataKey(%q) = %v, %v; want %v", tt.name, tt.id, ok, err, tt.want)
			}
		}
		keys, _ := s.DataKeys(ctx)
		if len(keys) != 1 || keys[0].ID != "key-a" {
			t.Fatalf("got %d data keys, want key-a alone", len(keys))
		}
	})
}

// TestRotateInterrupted runs a key rotation over the real store, interrupts
// it in the middle of resealing, and runs it again.
func TestRotateInterrupted(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		path := filepath.Join(t.TempDir(), "twofold.key")
		f, _, err := keyring.LoadOrCreateFile(path)
		if err != nil {
			t.Fatal(err)
		}
		k, err := keyring.Open(ctx, f, s)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]byte{}
		for i := range 5 {
			id, secret := fmt.Sprintf("f%d", i), []byte(fmt.Sprintf("secret %d", i))
			keyID, sealed, err := k.Seal(secret, keyring.AAD("factors", "secret", id))
			if err != nil {
				t.Fatal(err)
			}
			addSealedFactor(t, s, id, keyID, sealed)
			want[id] = secret
		}
		crash := errors.New("crash")
		n := 0
		_, err = keyring.Rotate(ctx, path, s, keyring.RotateOptions{After: func(step keyring.Step) error {
			if step == keyring.StepResealed {
				if n++; n == 2 {
					return crash
				}
			}
			return nil
		}})
		if !errors.Is(err, crash) {
			t.Fatalf("Rotate: got %v, want the crash", err)
		}
		checkOpen := func(when string) {
			t.Helper()
			f, err := keyring.LoadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			fresh, err := keyring.Open(ctx, f, s)
			if err != nil {
				t.Fatalf("%s: Open: %v", when, err)
			}
			values, err := s.SealedValues(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range values {
				for name, kr := range map[string]*keyring.Keyring{"a fresh keyring": fresh, "the running keyring": k} {
					got, err := kr.Open(ctx, v.KeyID, v.Ciphertext, v.AAD())
					if err != nil || !bytes.Equal(got, want[v.Row]) {
						t.Fatalf("%s: %s opens %s to %q, %v", when, name, v.Row, got, err)
					}
				}
			}
		}
		checkOpen("after the crash")
		res, err := keyring.Rotate(ctx, path, s, keyring.RotateOptions{})
		if err != nil {
			t.Fatalf("Rotate again: %v", err)
		}
		if res.AddedMaster || res.Resealed != 3 {
			t.Fatalf("second run: got %+v, want the interrupted rotation finished with 3 resealed", res)
		}
		checkOpen("after the rotation")
		keys, _ := s.DataKeys(ctx)
		if len(keys) != 1 || keys[0].ID != res.DataKey || keys[0].MasterID != res.Master {
			t.Fatalf("got %d data keys, want %s wrapped by %s alone", len(keys), res.DataKey, res.Master)
		}
	})
}

// TestWebhookURLSealedValues: a webhook's sealed URL is a sealed value like
// its secret: listed for key rotation (bound to webhooks/url/id), resealed
// by a compare-and-set, and its data key is not deleted while it uses it.
// The store never writes a URL in the clear: CreateWebhook refuses one that
// is not sealed and leaves url empty; a URL stored in the clear before
// migration 0089 is listed by ClearWebhookURLs and sealed once.
func TestWebhookURLSealedValues(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		ensureKeys(t, s, "key-s", "key-u", "key-v")
		w := twofold.Webhook{ID: "wh-1", URL: "https://panel.example.com/T0KEN", CreatedAt: keysT0, CreatedBy: "op",
			SecretKeyID: "key-s", SealedSecret: []byte("sealed secret")}
		if err := s.CreateWebhook(ctx, w); err == nil {
			t.Fatal("CreateWebhook with its URL not sealed: got nil error, want one")
		}
		w.URLKeyID, w.SealedURL = "key-u", []byte("sealed url")
		if err := s.CreateWebhook(ctx, w); err != nil {
			t.Fatalf("CreateWebhook: %v", err)
		}
		got, err := s.Webhook(ctx, "wh-1")
		if err != nil || got.URL != "" || got.URLKeyID != "key-u" || string(got.SealedURL) != "sealed url" {
			t.Fatalf("Webhook: got URL %q under %q sealed %q, %v; want no clear URL, sealed under key-u", got.URL, got.URLKeyID, got.SealedURL, err)
		}

		var url keyring.Sealed
		values, err := s.SealedValues(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range values {
			if v.Table == "webhooks" && v.Column == "url" {
				url = v
			}
		}
		if url.Row != "wh-1" || url.KeyID != "key-u" || string(url.Ciphertext) != "sealed url" || !bytes.Equal(url.AAD(), keyring.AAD("webhooks", "url", "wh-1")) {
			t.Fatalf("SealedValues: the URL is %+v", url)
		}
		if ok, err := s.DeleteDataKey(ctx, "key-u"); ok || err != nil {
			t.Fatalf("DeleteDataKey of the URL's key: got %v, %v; want false", ok, err)
		}
		stale := url
		stale.Ciphertext = []byte("other")
		if ok, err := s.Reseal(ctx, stale, "key-v", []byte("resealed url")); ok || err != nil {
			t.Fatalf("Reseal from a stale ciphertext: got %v, %v; want false", ok, err)
		}
		if ok, err := s.Reseal(ctx, url, "key-v", []byte("resealed url")); !ok || err != nil {
			t.Fatalf("Reseal: got %v, %v; want true", ok, err)
		}
		if got, _ := s.Webhook(ctx, "wh-1"); got.URLKeyID != "key-v" || string(got.SealedURL) != "resealed url" || string(got.SealedSecret) != "sealed secret" {
			t.Fatalf("after Reseal: URL under %q sealed %q, secret %q", got.URLKeyID, got.SealedURL, got.SealedSecret)
		}
		if ok, err := s.DeleteDataKey(ctx, "key-u"); !ok || err != nil {
			t.Fatalf("DeleteDataKey of the URL's old key: got %v, %v; want true", ok, err)
		}

		// A row as stored before migration 0089.
		if hs, err := s.ClearWebhookURLs(ctx); err != nil || len(hs) != 0 {
			t.Fatalf("ClearWebhookURLs with none: got %v, %v", hs, err)
		}
		clearURL := "https://panel.example.com/0LD?token=x"
		if _, err := writer(s).ExecContext(ctx, `UPDATE webhooks SET url = $1, url_key_id = '', sealed_url = NULL`, clearURL); err != nil {
			t.Fatal(err)
		}
		hs, err := s.ClearWebhookURLs(ctx)
		if err != nil || len(hs) != 1 || hs[0].ID != "wh-1" || hs[0].URL != clearURL {
			t.Fatalf("ClearWebhookURLs: got %+v, %v; want wh-1 with its URL", hs, err)
		}
		if ok, err := s.SealWebhookURL(ctx, "wh-1", clearURL, "key-gone", []byte("sealed")); ok || !errors.Is(err, keyring.ErrKeyGone) {
			t.Fatalf("SealWebhookURL under a deleted key: got %v, %v; want ErrKeyGone", ok, err)
		}
		if ok, err := s.SealWebhookURL(ctx, "wh-1", "https://other.example.com/", "key-v", []byte("sealed")); ok || err != nil {
			t.Fatalf("SealWebhookURL of another URL: got %v, %v; want false", ok, err)
		}
		if ok, err := s.SealWebhookURL(ctx, "wh-1", clearURL, "key-v", []byte("sealed again")); !ok || err != nil {
			t.Fatalf("SealWebhookURL: got %v, %v; want true", ok, err)
		}
		if ok, err := s.SealWebhookURL(ctx, "wh-1", clearURL, "key-v", []byte("sealed twice")); ok || err != nil {
			t.Fatalf("SealWebhookURL again: got %v, %v; want false", ok, err)
		}
		if got, _ := s.Webhook(ctx, "wh-1"); got.URL != "" || got.URLKeyID != "key-v" || string(got.SealedURL) != "sealed again" {
			t.Fatalf("after SealWebhookURL: URL %q under %q sealed %q", got.URL, got.URLKeyID, got.SealedURL)
		}
	})
}

// writer returns the store's pool that writes, for a test that sets rows as
// an older release left them.
func writer(s *store.Store) *sql.DB {
	ps := s.Pools()
	if w, ok := ps["writer"]; ok {
		return w
	}
	return ps["pool"]
}
