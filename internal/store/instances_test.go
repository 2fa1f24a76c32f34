package store_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// TestInstanceHeartbeats: a beat makes an instance live, named by its
// host and pid, started at its first beat; one not seen for
// HeartbeatFresh is not live, nor one that ended its heartbeat; on both
// stores.
func TestInstanceHeartbeats(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			d := dsn(t)
			s := open(t, d)
			ctx := t.Context()
			in := store.Instance{ID: "one", Host: "web-1", PID: 4242}
			if err := s.Beat(ctx, in); err != nil {
				t.Fatal(err)
			}
			first, _, err := s.LiveInstances(ctx)
			if err != nil || len(first) != 1 || first[0].Host != "web-1" || first[0].PID != 4242 || !first[0].Started.Equal(first[0].LastSeen) {
				t.Fatalf("LiveInstances after the first beat: got %+v, %v; want web-1 pid 4242, started when last seen", first, err)
			}
			if err := s.Beat(ctx, in); err != nil {
				t.Fatal(err)
			}
			again, now, err := s.LiveInstances(ctx)
			if err != nil || len(again) != 1 || !again[0].Started.Equal(first[0].Started) || again[0].LastSeen.Before(first[0].LastSeen) || now.Before(again[0].LastSeen) {
				t.Fatalf("LiveInstances after the second beat: got %+v at %v, %v; want the start of the first beat kept and last seen moved on", again, now, err)
			}

			// Not seen for longer than HeartbeatFresh: stopped.
			back := `UPDATE instances SET last_seen = last_seen - $1`
			if name == "postgres" {
				back += `, beat_xid = CAST(CAST(pg_current_xact_id() AS TEXT) AS BIGINT) % 4294967296` // as a beat writes it
			}
			testenv.Exec(t, d, back, []any{(store.HeartbeatFresh + 1e9).Microseconds()})
			if got, _, err := s.LiveInstances(ctx); err != nil || len(got) != 0 {
				t.Errorf("LiveInstances of an instance last seen %s ago: got %+v, %v; want none", store.HeartbeatFresh+1e9, got, err)
			}

			if err := s.Beat(ctx, in); err != nil {
				t.Fatal(err)
			}
			if err := s.EndInstance(ctx, in.ID); err != nil {
				t.Fatal(err)
			}
			if got, _, err := s.LiveInstances(ctx); err != nil || len(got) != 0 {
				t.Errorf("LiveInstances after EndInstance: got %+v, %v; want none", got, err)
			}
		})
	}
}

// TestRestoreRefusesHeartbeat: a restore refuses a database a server beat
// on lately, holding it open or holding no connection to it, naming the
// server; on PostgreSQL a heartbeat copied in (as pg_restore copies one
// from a dump of a database a server ran on) is not a server on this
// database, and refuses nothing.
func TestRestoreRefusesHeartbeat(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			d := dsn(t)
			s, err := store.Open(t.Context(), d)
			if err != nil {
				t.Fatal(err)
			}
			var backup string
			if name == "sqlite" {
				backup = filepath.Join(t.TempDir(), "backup.db")
				if _, _, err := store.Backup(t.Context(), d, backup); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Beat(t.Context(), store.Instance{ID: "one", Host: "web-1", PID: 4242}); err != nil {
				t.Fatal(err)
			}
			restore := func() error {
				if name == "sqlite" {
					_, err := store.RestoreSQLite(t.Context(), d, backup, twofold.AuditEvent{Type: "database.restored", At: keysT0, Source: "cli"}, keysT0, nil)
					return err
				}
				st, err := store.OpenRestored(t.Context(), d, nil)
				if err == nil {
					st.Close()
				}
				return err
			}
			// The server holding the database open is named too (on
			// SQLite read beside the lock it holds).
			if err := restore(); !errors.Is(err, store.ErrInUse) || !strings.Contains(err.Error(), "web-1 pid 4242") {
				t.Fatalf("restore while a server holds the database: got %v; want ErrInUse naming web-1 pid 4242", err)
			}
			if err := s.Close(); err != nil { // the server holds no connection now
				t.Fatal(err)
			}
			err = restore()
			if !errors.Is(err, store.ErrInUse) || !strings.Contains(err.Error(), "web-1 pid 4242") {
				t.Fatalf("restore while a server beats: got %v; want ErrInUse naming web-1 pid 4242", err)
			}
			if name == "postgres" {
				// Written by another transaction than the beat that it
				// records, as pg_restore's COPY writes the rows of a dump.
				testenv.Exec(t, d, `UPDATE instances SET host = host`)
				if err := restore(); err != nil {
					t.Errorf("restore with a heartbeat copied in: got %v; want none", err)
				}
			}
		})
	}
}
