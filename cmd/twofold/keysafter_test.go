package main

import (
	"bytes"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKeysRotateAuditEventRefused: a rotation whose audit event cannot be
// stored (here a trigger refuses it, as a full disk would) still rotates
// the keys, but the command fails (exit status 1) saying so, so that a
// script does not take it for a clean rotation.
func TestKeysRotateAuditEventRefused(t *testing.T) {
	dir := t.TempDir()
	path, keyFile := filepath.Join(dir, "t.db"), filepath.Join(dir, "t.key")
	dsn := "sqlite:" + path
	if err := newTestMain(t, time.Now(), keysPassword+"\n").run(t, "user", "add", "alice", "--create", "--db", dsn, "--key-file", keyFile); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TRIGGER refuse_events BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'the audit log is full'); END`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	var stdout, stderr bytes.Buffer
	m := keysMain(&stdout, &stderr)
	err = m.Run(t.Context(), []string{"keys", "rotate", "--db", dsn, "--key-file", keyFile})
	if cerr := m.Close(); cerr != nil {
		t.Errorf("Close: %v", cerr)
	}
	if err == nil || !strings.HasPrefix(err.Error(), "keys rotated, but its audit event was not stored") || exitCode(err) != 1 {
		t.Errorf("got %v, want a failure (exit status 1) that says the keys were rotated but not recorded", err)
	}
	if !strings.Contains(stdout.String(), "keys rotated: added master key") {
		t.Errorf("stdout %q: want what was rotated", stdout.String())
	}
}
