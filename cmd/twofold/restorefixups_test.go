package main

import (
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestRestorePostgresFixUpsFail: on PostgreSQL, when the fix-ups after the
// restore fail (here a trigger refuses the audit event, as a full disk
// would), restore exits 1 and says what it leaves: the fix-ups not made,
// the migrations it applied to the dump kept, and restore to be run again;
// not "nothing changed". Run again once the cause is gone, it restores.
func TestRestorePostgresFixUpsFail(t *testing.T) {
	sc, restored, maxID := pgRestoredScene(t)
	db := testenv.OpenDB(t, restored)
	// The dump is one migration behind this release.
	for _, q := range []string{
		`DELETE FROM schema_migrations WHERE version = 92`,
		`ALTER TABLE factors DROP COLUMN damaged_at`,
		`CREATE FUNCTION refuse_events() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the audit log is full'; END $$`,
		`CREATE TRIGGER refuse_events BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_events()`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	tm := newTestMain(t, time.Now(), "")
	err := tm.run(t, "restore", "--db", restored, "--key-file", sc.keyFile)
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("restore with the audit log refusing: got %v, want exit status 1", err)
	}
	msg := err.Error()
	for _, want := range []string{"the audit log is full", "the fix-ups after the restore were not made", "the one migration", "run restore again"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "nothing changed") || tm.stdout.String() != "" {
		t.Errorf("error %q, stdout %q: want no claim that nothing changed, and no report", msg, tm.stdout)
	}
	var migrated int
	if err := db.QueryRow(`SELECT COUNT(*) FROM schema_migrations WHERE version = 92`).Scan(&migrated); err != nil || migrated != 1 {
		t.Errorf("migration 92 after the failed restore: %d, %v; want it applied", migrated, err)
	}

	if _, err := db.Exec(`DROP TRIGGER refuse_events ON audit_events`); err != nil {
		t.Fatal(err)
	}
	tm = newTestMain(t, time.Now(), "")
	if err := tm.run(t, "restore", "--db", restored, "--key-file", sc.keyFile); err != nil {
		t.Fatalf("restore run again: %v\n%s", err, tm.stderr)
	}
	sc.checkRestored(t, restored, maxID)
}
