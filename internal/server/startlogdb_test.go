package server_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// TestStartLogDatabaseSettings: a server on PostgreSQL warns at start of the
// settings under which second steps slow down as the data grows, each only
// while it holds: shared buffers smaller than the accounts and factors
// tables (README "Running more than one instance"), naming both sizes, and
// autovacuum off. A server on SQLite, which has neither, says nothing of
// them. The PostgreSQL is a cluster of the test's own, so that its settings
// can be changed: 2 MB of shared buffers, autovacuum on as initdb makes it.
func TestStartLogDatabaseSettings(t *testing.T) {
	const (
		buffers    = "PostgreSQL's shared_buffers is smaller than the accounts and factors tables"
		autovacuum = "PostgreSQL's autovacuum is off"
	)
	start := func(t *testing.T, db, keyFile string) string {
		t.Helper()
		c := config.Default()
		c.Listen, c.DB, c.KeyFile = "127.0.0.1:0", db, keyFile
		c.Argon2Memory, c.Argon2Time = 8*1024, 1
		return startLog(t, c)
	}

	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		log := start(t, "sqlite:"+filepath.Join(dir, "t.db"), filepath.Join(dir, "t.key"))
		if strings.Contains(log, "PostgreSQL") {
			t.Errorf("start-up log on SQLite: %q; want nothing of PostgreSQL's settings", log)
		}
	})

	t.Run("PostgreSQL", func(t *testing.T) {
		t.Parallel()
		cluster := testenv.NewPostgresCluster(t, 0, "shared_buffers=2MB")
		dsn := cluster.CreateDatabase(t, "settings")
		ctx := t.Context()
		keyFile := filepath.Join(t.TempDir(), "t.key")

		log := start(t, dsn, keyFile)
		if w := logLines(log, "PostgreSQL's"); len(w) > 0 {
			t.Errorf("start on a new database, autovacuum on: %q; want no warning of its settings", w)
		}

		// Accounts enough that their table and indexes outgrow 2 MB.
		st, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		accounts := make([]twofold.Account, 10_000)
		for i := range accounts {
			accounts[i] = twofold.Account{ID: fmt.Sprintf("acct_settings%06d", i), Username: fmt.Sprintf("user%06d", i),
				PasswordHash: "x", CreatedAt: now}
		}
		if err := st.InsertFixtures(ctx, accounts, nil); err != nil {
			t.Fatal(err)
		}
		settings, ok, err := st.ServerSettings(ctx)
		st.Close()
		if err != nil || !ok {
			t.Fatalf("ServerSettings: %+v, %v, %v", settings, ok, err)
		}
		if settings.SharedBuffers != 2<<20 || settings.Hot <= settings.SharedBuffers || !settings.Autovacuum {
			t.Fatalf("ServerSettings: %+v; want 2 MiB of buffers, more than that of accounts, autovacuum on", settings)
		}

		log = start(t, dsn, keyFile)
		w := logLines(log, buffers)
		want := fmt.Sprintf("accounts_and_factors_mb=%d", (settings.Hot+1<<20-1)>>20)
		if len(w) != 1 || !strings.Contains(w[0], "level=WARN") || !strings.Contains(w[0], "shared_buffers_mb=2 ") || !strings.Contains(w[0], want) {
			t.Errorf("start with %d bytes of accounts: %q; want one warning of 2 MB of shared buffers and %s", settings.Hot, log, want)
		}
		if w := logLines(log, autovacuum); len(w) > 0 {
			t.Errorf("start with autovacuum on: %q; want no warning of it", w)
		}

		admin := cluster.Open(t, "postgres")
		if _, err := admin.ExecContext(ctx, `ALTER SYSTEM SET autovacuum = off`); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.ExecContext(ctx, `SELECT pg_reload_conf()`); err != nil {
			t.Fatal(err)
		}
		// The reload reaches new connections once the server has read the
		// file: wait for one that sees it.
		for deadline := time.Now().Add(30 * time.Second); ; {
			db := cluster.Open(t, "settings")
			var on string
			err := db.QueryRowContext(ctx, `SHOW autovacuum`).Scan(&on)
			db.Close()
			if err != nil {
				t.Fatal(err)
			}
			if on == "off" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("autovacuum still on 30 s after the reload")
			}
			time.Sleep(20 * time.Millisecond)
		}
		log = start(t, dsn, keyFile)
		w = logLines(log, autovacuum)
		if len(w) != 1 || !strings.Contains(w[0], "level=WARN") || !strings.Contains(w[0], "autovacuum=off") {
			t.Errorf("start with autovacuum off: %q; want one warning of it", log)
		}
		if w := logLines(log, buffers); len(w) != 1 {
			t.Errorf("start with autovacuum off: %q; want the warning of the shared buffers still", log)
		}
	})
}
