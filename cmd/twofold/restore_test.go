package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// restoreScene is a server on a database with alice signed in twice,
// before a backup.
type restoreScene struct {
	s            *testenv.Server
	keyFile      string
	kept, signed *testenv.Client // sessions made before the backup
}

func newRestoreScene(t *testing.T, dsn string) restoreScene {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "twofold.key")
	s := testenv.NewServer(t, dsn, keysWithKeyFile(keyFile))
	if _, err := s.Service.CreateAccount(context.Background(), core.NewAccount{Username: "alice", Email: "alice@example.com", Password: keysPassword}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	// A reset of alice's two-factor waits in the backup (and may be
	// cancelled after it).
	a, err := s.Store.AccountByUsername(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Store.AddTwoFactorReset(context.Background(), twofold.TwoFactorReset{AccountID: a.ID, RequestedBy: "operator carol",
		RequestedAt: time.Now(), Due: time.Now().Add(72 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return restoreScene{s: s, keyFile: keyFile, kept: keysLogin(t, s, ""), signed: keysLogin(t, s, "")}
}

// afterBackup writes more events and signs one session out, as happens
// between a backup and its restore, stops the server, and returns the
// greatest event id handed out.
func (sc restoreScene) afterBackup(t *testing.T) int64 {
	t.Helper()
	for range 3 {
		r := testenv.NewClient(sc.s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "alice", "password": "wrong password!"})
		if r.Status != 401 {
			t.Fatalf("wrong password: got %d %s", r.Status, r.Body)
		}
	}
	if r := sc.signed.Do(t, "POST", "/v1/logout", nil); r.Status/100 != 2 {
		t.Fatalf("logout: got %d %s", r.Status, r.Body)
	}
	if r := sc.signed.Do(t, "GET", "/v1/me", nil); r.Status != 401 {
		t.Fatalf("a signed-out session: got %d, want 401", r.Status)
	}
	evs, err := sc.s.Store.Events(context.Background(), "", 0, 1)
	if err != nil || len(evs) != 1 {
		t.Fatalf("Events: %v, %v", evs, err)
	}
	if err := sc.s.Close(); err != nil {
		t.Fatal(err)
	}
	return evs[0].ID
}

// checkRestored starts a server on the restored database dsn and checks
// that the sessions from before the backup, the one signed out since
// first, are refused, that alice signs in, and that the events written
// since, the restore's own first, have ids above maxID.
func (sc restoreScene) checkRestored(t *testing.T, dsn string, maxID int64) {
	t.Helper()
	r := testenv.NewServer(t, dsn, keysWithKeyFile(sc.keyFile))
	for name, old := range map[string]*testenv.Client{"signed out after the backup": sc.signed, "from before the backup": sc.kept} {
		c := testenv.NewClient(r.URL())
		c.Token = old.Token
		if resp := c.Do(t, "GET", "/v1/me", nil); resp.Status != 401 {
			t.Errorf("a session %s, after the restore: got %d %s, want 401", name, resp.Status, resp.Body)
		}
	}
	if resets, err := r.Store.TwoFactorResets(context.Background(), 10); err != nil || len(resets) != 0 {
		t.Errorf("two-factor resets waiting after the restore: %v, %v; want none", resets, err)
	}
	keysLogin(t, r, "")
	evs, err := r.Store.Events(context.Background(), "", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var restored bool
	for _, e := range evs {
		if e.Type == "database.restored" {
			restored = true
			if e.ID <= maxID {
				t.Errorf("the restore's event has id %d, not above %d, the greatest handed out before the restore", e.ID, maxID)
			}
			if e.Source != "cli" || !strings.Contains(e.Detail, "sessions ended") {
				t.Errorf("the restore's event: %+v", e)
			}
		}
	}
	if !restored {
		t.Errorf("no database.restored event among %+v", evs)
	}
	if evs[0].Type != "login.succeeded" || evs[0].ID <= maxID {
		t.Errorf("the newest event: %s %d; want a login above %d", evs[0].Type, evs[0].ID, maxID)
	}
}

// TestRestore: `twofold restore` puts a backup made by `twofold backup`
// in place of a SQLite database that servers wrote to after the backup:
// it refuses while a server has the database open, keeps the database it
// replaces aside, and after it event ids go on above every id handed out
// before (ids are never reused: receivers of webhooks and pollers resume
// by id) and a session signed out after the backup stays signed out.
func TestRestore(t *testing.T) {
	dsn := testenv.SQLiteDSN(t)
	path := strings.TrimPrefix(dsn, "sqlite:")
	sc := newRestoreScene(t, dsn)
	backup := filepath.Join(t.TempDir(), "copy.db")
	if err := newTestMain(t, time.Now(), "").run(t, "backup", "--db", dsn, "--key-file", sc.keyFile, backup); err != nil {
		t.Fatal(err)
	}

	// While a server has it open: refused, nothing changed.
	tm := newTestMain(t, time.Now(), "")
	if err := tm.run(t, "restore", "--db", dsn, "--key-file", sc.keyFile, backup); !errors.Is(err, store.ErrInUse) || exitCode(err) != 1 {
		t.Fatalf("restore while the server runs: got %v, want ErrInUse", err)
	}
	if aside, _ := filepath.Glob(path + ".before-restore-*"); len(aside) > 0 {
		t.Fatalf("a refused restore moved files aside: %v", aside)
	}

	maxID := sc.afterBackup(t)
	before, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 8, 30, 0, 0, time.UTC)
	tm = newTestMain(t, now, "")
	if err := tm.run(t, "restore", "--db", dsn, "--key-file", sc.keyFile, backup); err != nil {
		t.Fatalf("restore: %v\n%s", err, tm.stderr)
	}
	aside := path + ".before-restore-20261201T083000Z"
	for _, want := range []string{aside, sc.keyFile, "ended (everyone signs in again)", "API keys revoked", "accounts closed, webhooks deleted", "1 two-factor reset waiting cancelled"} {
		if !strings.Contains(tm.stdout.String(), want) {
			t.Errorf("the report does not say %q: %s", want, tm.stdout)
		}
	}
	if after, _ := os.ReadFile(backup); string(after) != string(before) {
		t.Error("restore changed the backup")
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the restored database: %v, %v; want mode 0600", fi, err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".twofold-restore-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// The database replaced is kept whole, its last events in it.
	old, err := store.Open(context.Background(), "sqlite:"+aside)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := old.Events(context.Background(), "", 0, 1)
	old.Close()
	if err != nil || len(evs) != 1 || evs[0].ID != maxID {
		t.Errorf("the database moved aside: newest event %v, %v; want id %d", evs, err, maxID)
	}

	sc.checkRestored(t, dsn, maxID)

	// On a machine without the database (or with it lost), nothing tells
	// how far its ids went: they go on far above the backup's.
	fresh := "sqlite:" + filepath.Join(t.TempDir(), "twofold.db")
	if err := newTestMain(t, now, "").run(t, "restore", "--db", fresh, "--key-file", sc.keyFile, backup); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), fresh)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if evs, err := st.Events(context.Background(), "", 0, 1); err != nil || len(evs) != 1 || evs[0].Type != "database.restored" || evs[0].ID <= maxID {
		t.Errorf("restored where no database was: newest event %+v, %v; want the restore's, above %d", evs, err, maxID)
	}
}

// TestRestoreRefuses: what restore will not do, changing nothing.
func TestRestoreRefuses(t *testing.T) {
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "twofold.db")
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	notTwofold := filepath.Join(dir, "other.db")
	if err := exec.Command("sqlite3", notTwofold, "CREATE TABLE t (x)").Run(); err != nil {
		t.Fatalf("sqlite3: %v", err)
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args []string
		code int
		says string // what the error says of the backup, in plain words ("": not checked)
	}{
		"no backup":           {[]string{"restore", "--db", dsn}, 2, ""},
		"two backups":         {[]string{"restore", "--db", dsn, "a.db", "b.db"}, 2, ""},
		"an empty name":       {[]string{"restore", "--db", dsn, ""}, 2, ""},
		"missing backup":      {[]string{"restore", "--db", dsn, filepath.Join(dir, "missing.db")}, 1, ""},
		"not Twofold's":       {[]string{"restore", "--db", dsn, notTwofold}, 1, ""},
		"not a database":      {[]string{"restore", "--db", dsn, garbage}, 1, garbage + " is not a SQLite database"},
		"the database itself": {[]string{"restore", "--db", dsn, filepath.Join(dir, "twofold.db")}, 1, ""},
		"a file on postgres":  {[]string{"restore", "--db", "postgres://127.0.0.1:1/x", garbage}, 2, ""},
	} {
		t.Run(name, func(t *testing.T) {
			err := newTestMain(t, time.Now(), "").run(t, tc.args...)
			if exitCode(err) != tc.code || err == nil {
				t.Errorf("got %v, want exit status %d", err, tc.code)
			}
			if tc.says != "" && (err == nil || !strings.Contains(err.Error(), tc.says) || strings.Contains(err.Error(), "(26)")) {
				t.Errorf("got %v, want it to say %q rather than SQLite's code", err, tc.says)
			}
			if aside, _ := filepath.Glob(filepath.Join(dir, "*.before-restore-*")); len(aside) > 0 {
				t.Errorf("files moved aside: %v", aside)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".twofold-restore-*")); len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

// TestRestorePostgres: after pg_restore of a dump made by pg_dump into a
// new database, `twofold restore --db postgres://…` runs the fix-ups: event
// ids go on above those handed out after the dump, and a session signed
// out after it stays signed out.
func TestRestorePostgres(t *testing.T) {
	sc, restored, maxID := pgRestoredScene(t)
	tm := newTestMain(t, time.Now(), "")
	if err := tm.run(t, "restore", "--db", restored, "--key-file", sc.keyFile); err != nil {
		t.Fatalf("restore: %v\n%s", err, tm.stderr)
	}
	if !strings.Contains(tm.stdout.String(), "ended (everyone signs in again)") || !strings.Contains(tm.stdout.String(), "1 two-factor reset waiting cancelled") {
		t.Errorf("the report: %s", tm.stdout)
	}
	sc.checkRestored(t, restored, maxID)
}

// pgRestoredScene makes a restore scene on PostgreSQL, dumps it with
// pg_dump, changes it after the dump and loads the dump with pg_restore
// into a new database. It returns the scene, the new database's DSN and
// the highest event id handed out after the dump; `twofold restore` has
// not run on the new database.
func pgRestoredScene(t *testing.T) (restoreScene, string, int64) {
	t.Helper()
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required (apt-get install postgresql-client): %v", tool, err)
		}
	}
	dsn := testenv.PostgresDSN(t)
	sc := newRestoreScene(t, dsn)
	dump := filepath.Join(t.TempDir(), "twofold.dump")
	if out, err := exec.Command("pg_dump", "--format=custom", "--file", dump, "--dbname", dsn).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	maxID := sc.afterBackup(t)
	restored := testenv.PostgresDSN(t)
	if out, err := exec.Command("pg_restore", "--no-owner", "--exit-on-error", "--dbname", restored, dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	return sc, restored, maxID
}

// restoreBackup makes a Twofold database at path with one event of type
// typ and returns a backup of it made by `twofold backup`.
func restoreBackup(t *testing.T, path, typ string) string {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AddEvent(context.Background(), twofold.AuditEvent{Type: typ, At: time.Now(), Source: "test"}); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "copy.db")
	if err := newTestMain(t, time.Now(), "").run(t, "backup", "--db", "sqlite:"+path, backup); err != nil {
		t.Fatal(err)
	}
	return backup
}

// checkRestoredFile opens the database at path and checks that it passes
// SQLite's integrity check and holds the backup's event and the restore's.
func checkRestoredFile(t *testing.T, path, typ string) {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatalf("open the restored database: %v", err)
	}
	defer st.Close()
	evs, err := st.Events(context.Background(), "", 0, 10)
	if err != nil {
		t.Fatalf("the restored database: %v", err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if len(types) != 2 || types[0] != "database.restored" || types[1] != typ {
		t.Errorf("the restored database's events: %v; want database.restored and %s", types, typ)
	}
	out, err := exec.Command("sqlite3", path, "PRAGMA integrity_check").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Errorf("integrity check of the restored database: %v %s", err, out)
	}
}

// TestRestoreLeftoverLog: after a server was killed and its damaged
// database removed, its -wal and -shm are left: restore moves them aside,
// kept, so that SQLite never replays the old log into the restored file.
func TestRestoreLeftoverLog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "twofold.db")
	backup := restoreBackup(t, path, "test.in_the_backup")

	// A log holding writes not yet in the file, as a killed server leaves.
	st, err := store.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := st.AddEvent(context.Background(), twofold.AuditEvent{Type: "test.after_backup", At: time.Now(), Detail: strings.Repeat("x", i*100)}); err != nil {
			t.Fatal(err)
		}
	}
	wal, err := os.ReadFile(path + "-wal")
	if err != nil || len(wal) == 0 {
		t.Fatalf("the log of the open database: %d bytes, %v", len(wal), err)
	}
	st.Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	if err := os.WriteFile(path+"-wal", wal, 0o600); err != nil {
		t.Fatal(err)
	}

	now := time.Date(2026, 12, 1, 8, 30, 0, 0, time.UTC)
	tm := newTestMain(t, now, "")
	if err := tm.run(t, "restore", "--db", "sqlite:"+path, backup); err != nil {
		t.Fatalf("restore: %v\n%s", err, tm.stderr)
	}
	aside := path + ".before-restore-20261201T083000Z-wal"
	if got, err := os.ReadFile(aside); err != nil || string(got) != string(wal) {
		t.Errorf("the old log moved aside to %s: %d bytes, %v; want it kept whole", aside, len(got), err)
	}
	if !strings.Contains(tm.stdout.String(), aside) {
		t.Errorf("the report does not name %s: %s", aside, tm.stdout)
	}
	checkRestoredFile(t, path, "test.in_the_backup")
}

// TestRestoreSymlink: when --db names a link to the database, the database
// is replaced, the link left leading to it, and the old database is kept
// beside the database.
func TestRestoreSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "data", "twofold.db")
	if err := os.Mkdir(filepath.Dir(real), 0o700); err != nil {
		t.Fatal(err)
	}
	backup := restoreBackup(t, real, "test.in_the_backup")
	link := filepath.Join(dir, "twofold.db")
	if err := os.Symlink(filepath.Join("data", "twofold.db"), link); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 8, 30, 0, 0, time.UTC)
	if err := newTestMain(t, now, "").run(t, "restore", "--db", "sqlite:"+link, backup); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link after the restore: %v, %v; want it still a link", fi, err)
	}
	if _, err := os.Stat(real + ".before-restore-20261201T083000Z"); err != nil {
		t.Errorf("the old database not kept beside it: %v", err)
	}
	checkRestoredFile(t, real, "test.in_the_backup")
}

// TestRestoreStaleCopyOwner: the whole copy a killed restore left beside
// the database is removed by the next restore, which says so; and the
// restored database keeps the owner and group of the one it replaces (when
// restoring as root, so that a server running as another user can open it).
func TestRestoreStaleCopyOwner(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "twofold.db")
	backup := restoreBackup(t, path, "test.in_the_backup")
	stale := filepath.Join(dir, ".twofold-restore-123456")
	for _, name := range []string{stale, stale + "-wal"} {
		if err := os.WriteFile(name, []byte("a whole database, once"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	root := os.Geteuid() == 0
	if root {
		if err := os.Chown(path, 4321, 4322); err != nil {
			t.Fatal(err)
		}
	}
	tm := newTestMain(t, time.Now(), "")
	if err := tm.run(t, "restore", "--db", "sqlite:"+path, backup); err != nil {
		t.Fatalf("restore: %v\n%s", err, tm.stderr)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".twofold-restore-*")); len(left) > 0 {
		t.Errorf("copies of restores left: %v", left)
	}
	if !strings.Contains(tm.stdout.String(), "removed "+stale) {
		t.Errorf("the report does not say %s was removed: %s", stale, tm.stdout)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); root && (st.Uid != 4321 || st.Gid != 4322) {
		t.Errorf("the restored database is owned by %d:%d, want 4321:4322 as the one it replaced", st.Uid, st.Gid)
	}
	checkRestoredFile(t, path, "test.in_the_backup")
}

// TestRestorePostgresRefuses: on PostgreSQL, restore refuses, changing
// nothing, a database without Twofold's tables (pg_restore forgotten, or
// run into another database), which it would otherwise have given a new,
// empty schema and called restored, and a database a server is connected
// to, whose sessions it would otherwise have ended under it.
func TestRestorePostgresRefuses(t *testing.T) {
	empty := testenv.PostgresDSN(t)
	tm := newTestMain(t, time.Now(), "")
	err := tm.run(t, "restore", "--db", empty)
	if !errors.Is(err, store.ErrNotRestored) || exitCode(err) != 1 {
		t.Errorf("restore into an empty database: got %v, want ErrNotRestored", err)
	}
	if !strings.Contains(fmt.Sprint(err), "pg_restore") || tm.stdout.String() != "" {
		t.Errorf("restore into an empty database: error %v, stdout %q; want it to say to run pg_restore first, and no report", err, tm.stdout)
	}
	if want := "restore: the database holds no Twofold tables, so nothing changed: run pg_restore (or psql) into it first, or give --db the database it restored into"; fmt.Sprint(err) != want {
		t.Errorf("restore into an empty database: error %q, want the one sentence %q", err, want)
	}
	if missing, err := store.Missing(context.Background(), empty); err != nil || !missing {
		t.Errorf("after the refused restore: Missing got %v, %v; want the database left without tables", missing, err)
	}

	dsn := testenv.PostgresDSN(t)
	sc := newRestoreScene(t, dsn)
	evs, err := sc.s.Store.Events(context.Background(), "", 0, 1)
	if err != nil || len(evs) != 1 {
		t.Fatalf("Events: %v, %v", evs, err)
	}
	tm = newTestMain(t, time.Now(), "")
	if err := tm.run(t, "restore", "--db", dsn, "--key-file", sc.keyFile); !errors.Is(err, store.ErrInUse) || exitCode(err) != 1 {
		t.Fatalf("restore while a server runs: got %v, want ErrInUse", err)
	}
	if r := sc.kept.Do(t, "GET", "/v1/me", nil); r.Status != 200 {
		t.Errorf("a session after the refused restore: got %d %s, want 200", r.Status, r.Body)
	}
	after, err := sc.s.Store.Events(context.Background(), "", 0, 1)
	if err != nil || len(after) != 1 || after[0].ID != evs[0].ID {
		t.Errorf("newest event after the refused restore: got %+v, %v; want %+v", after, err, evs[0])
	}
}

// TestRestorePostgresServerWithoutConnection: restore refuses, changing
// nothing, a database a server runs on that holds no connection to it at
// that moment (its pool's connections closed, cut by the database or the
// network), which pg_stat_activity alone does not show: the server's
// heartbeat does, and the refusal names it.
func TestRestorePostgresServerWithoutConnection(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	proxied, cut := testenv.PostgresProxy(t, dsn)
	sc := newRestoreScene(t, proxied)
	evs, err := sc.s.Store.Events(context.Background(), "", 0, 1)
	if err != nil || len(evs) != 1 {
		t.Fatalf("Events: %v, %v", evs, err)
	}
	cut() // the server runs on, holding no connection and unable to make one
	tm := newTestMain(t, time.Now(), "")
	err = tm.run(t, "restore", "--db", dsn, "--key-file", sc.keyFile)
	if !errors.Is(err, store.ErrInUse) || exitCode(err) != 1 {
		t.Fatalf("restore while a server without a connection runs: got %v, want ErrInUse", err)
	}
	if pid := fmt.Sprintf("pid %d", os.Getpid()); !strings.Contains(err.Error(), pid) || tm.stdout.String() != "" {
		t.Errorf("restore while a server runs: error %v, stdout %q; want it to name the server (%s), and no report", err, tm.stdout, pid)
	}
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	after, err := st.Events(context.Background(), "", 0, 1)
	if err != nil || len(after) != 1 || after[0].ID != evs[0].ID {
		t.Errorf("newest event after the refused restore: got %+v, %v; want %+v", after, err, evs[0])
	}
	if rs, err := st.TwoFactorResets(context.Background(), 10); err != nil || len(rs) != 1 {
		t.Errorf("two-factor resets waiting after the refused restore: got %+v, %v; want alice's, not cancelled", rs, err)
	}
}

// TestRestoreTwice: the same backup restored twice where no database was
// (a PostgreSQL dump into an empty database, a SQLite backup on a new
// machine), an hour apart: the events written after the second restore
// take no id handed out after the first, which receivers of webhooks
// (de-duplicating by id) and pollers (after=ID) would drop as seen, and
// their ids go on above them.
func TestRestoreTwice(t *testing.T) {
	for name, dsn := range map[string]func(testing.TB) string{"sqlite": testenv.SQLiteDSN, "postgres": testenv.PostgresDSN} {
		t.Run(name, func(t *testing.T) {
			src := dsn(t)
			sc := newRestoreScene(t, src)
			// restoreAt restores the backup where no database was, at now,
			// and returns the restored database.
			var restoreAt func(now time.Time) string
			if name == "sqlite" {
				backup := filepath.Join(t.TempDir(), "copy.db")
				if err := newTestMain(t, time.Now(), "").run(t, "backup", "--db", src, "--key-file", sc.keyFile, backup); err != nil {
					t.Fatal(err)
				}
				restoreAt = func(now time.Time) string {
					fresh := testenv.SQLiteDSN(t)
					if err := newTestMain(t, now, "").run(t, "restore", "--db", fresh, "--key-file", sc.keyFile, backup); err != nil {
						t.Fatal(err)
					}
					return fresh
				}
			} else {
				dump := filepath.Join(t.TempDir(), "twofold.dump")
				if out, err := exec.Command("pg_dump", "--format=custom", "--file", dump, "--dbname", src).CombinedOutput(); err != nil {
					t.Fatalf("pg_dump: %v\n%s", err, out)
				}
				restoreAt = func(now time.Time) string {
					fresh := testenv.PostgresDSN(t)
					if out, err := exec.Command("pg_restore", "--no-owner", "--exit-on-error", "--dbname", fresh, dump).CombinedOutput(); err != nil {
						t.Fatalf("pg_restore: %v\n%s", err, out)
					}
					if err := newTestMain(t, now, "").run(t, "restore", "--db", fresh, "--key-file", sc.keyFile); err != nil {
						t.Fatal(err)
					}
					return fresh
				}
			}
			maxID := sc.afterBackup(t)

			var seen []int64 // the ids handed out after the first restore
			first := time.Date(2026, 12, 1, 8, 30, 0, 0, time.UTC)
			for i := range 2 {
				s := testenv.NewServer(t, restoreAt(first.Add(time.Duration(i)*time.Hour)), keysWithKeyFile(sc.keyFile))
				for range 3 {
					keysLogin(t, s, "")
				}
				evs, err := s.Store.Events(context.Background(), "", 0, 20)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				var ids []int64
				for _, e := range evs {
					if e.ID > maxID {
						ids = append(ids, e.ID)
					}
				}
				if len(ids) < 4 {
					t.Fatalf("restore %d: events %+v; want the restore's and 3 logins above %d", i+1, evs, maxID)
				}
				for _, id := range ids {
					if slices.Contains(seen, id) {
						t.Errorf("restore %d: id %d handed out again (after the first restore: %v; after this one: %v)", i+1, id, seen, ids)
					} else if len(seen) > 0 && id <= slices.Max(seen) {
						t.Errorf("restore %d: id %d not above %d, the greatest handed out after the first restore", i+1, id, slices.Max(seen))
					}
				}
				seen = append(seen, ids...)
			}
		})
	}
}
