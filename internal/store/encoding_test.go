package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// TestOpenRefusesNonUTF8Postgres: a PostgreSQL database whose encoding is
// not UTF8 (SQL_ASCII, which checks no text, or LATIN1, which cannot hold
// all of it, and both of which count the bytes of dns_records.data_bytes
// otherwise than Go) is refused by Open and by OpenRestored with an
// *EncodingError that names the encoding and the fix, and is left as it
// was: no table made, nothing migrated.
func TestOpenRefusesNonUTF8Postgres(t *testing.T) {
	ctx := context.Background()
	for _, enc := range []string{"SQL_ASCII", "LATIN1"} {
		t.Run(enc, func(t *testing.T) {
			dsn := testenv.PostgresEncodedDSN(t, enc)
			db := rawDB(t, dsn)
			refused := func(what string, err error) {
				t.Helper()
				var ee *store.EncodingError
				if !errors.As(err, &ee) || ee.Encoding != enc || !strings.Contains(err.Error(), "ENCODING 'UTF8'") {
					t.Errorf("%s: got %v, want an EncodingError naming %s and ENCODING 'UTF8'", what, err, enc)
				}
			}
			st, err := store.Open(ctx, dsn)
			if err == nil {
				st.Close()
				t.Fatal("Open: got a store, want the database refused")
			}
			refused("Open", err)
			if got := tableNames(t, db, dsn); len(got) != 0 {
				t.Errorf("tables after Open's refusal: got %v, want none", got)
			}
			// A dump restored into it: Twofold's tables are there.
			if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
				t.Fatal(err)
			}
			st, err = store.OpenRestored(ctx, dsn, nil)
			if err == nil {
				st.Close()
				t.Fatal("OpenRestored: got a store, want the database refused")
			}
			refused("OpenRestored", err)
			if got := tableNames(t, db, dsn); strings.Join(got, " ") != "schema_migrations" {
				t.Errorf("tables after OpenRestored's refusal: got %v, want schema_migrations alone", got)
			}
		})
	}
}
