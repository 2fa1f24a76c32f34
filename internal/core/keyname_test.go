package core_test

import (
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestKeyNameCannotForgePermits: an API key's name is quoted with escapes in
// its audit details, so a name holding a quote cannot close it and make the
// detail read as if the key had permits it has not. On SQLite and PostgreSQL.
func TestKeyNameCannotForgePermits(t *testing.T) {
	const name = `ci": dns * * read,write;   admin * read,write;  x`
	for store, dsn := range testenv.DSNs(t) {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			db := openStore(t, dsn(t))
			svc := newService(t, db.Store, db, time.Now, nil)
			a := signedIn(t, svc, "ada")
			k, _, err := svc.CreateAPIKey(t.Context(), a, core.NewAPIKey{Name: name,
				Permits: []twofold.Permit{{Service: "account", Resource: "*", Actions: []string{"read"}}}}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			evs, err := svc.Events(t.Context(), a, twofold.EventQuery{Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range evs {
				if e.Type != "api_key.created" {
					continue
				}
				found = true
				want := `key ` + k.ID + ` "ci\": dns * * read,write;   admin * read,write;  x":   account * read`
				if e.Detail != want {
					t.Fatalf("detail %q, want %q", e.Detail, want)
				}
				if strings.Contains(e.Detail, `ci":`) {
					t.Fatalf("the name closes its quotes in %q", e.Detail)
				}
			}
			if !found {
				t.Fatal("no api_key.created event")
			}
		})
	}
}
