package server_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/server"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// TestOpenOnATakenPort: a server whose address is taken fails before it
// creates or migrates a database or writes a key file, on both stores.
func TestOpenOnATakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenUDP, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer takenUDP.Close()
	for name, newDSN := range testenv.DSNs(t) {
		// The HTTP address taken, or the DNS one (--dns-addr) or the
		// metrics one (--metrics-addr), bound as early.
		for _, port := range []string{"http", "dns", "metrics"} {
			t.Run(name+"/"+port, func(t *testing.T) {
				dir := t.TempDir()
				dsn := newDSN(t)
				if !store.IsPostgres(dsn) {
					dsn = "sqlite:" + filepath.Join(dir, "twofold.db")
				}
				c := config.Default()
				c.Listen, c.DB, c.KeyFile = taken.Addr().String(), dsn, filepath.Join(dir, "twofold.key")
				switch port {
				case "dns":
					c.Listen, c.DNSAddr = "127.0.0.1:0", takenUDP.LocalAddr().String()
				case "metrics":
					c.Listen, c.MetricsAddr = "127.0.0.1:0", taken.Addr().String()
				}
				s := &server.Server{Config: c, Now: time.Now, WebhookEvery: -1}
				err := s.Open(context.Background())
				if err == nil {
					s.Close()
					t.Fatal("Open on a taken port: got nil error, want one")
				}
				if op := (*net.OpError)(nil); !errors.As(err, &op) || op.Op != "listen" {
					t.Errorf("Open: got %v, want a listen error", err)
				} else if port != "dns" && op.Addr.String() != taken.Addr().String() {
					t.Errorf("Open: got a listen error at %v, want one naming the taken %v", op.Addr, taken.Addr())
				}
				if entries, _ := os.ReadDir(dir); len(entries) != 0 {
					var names []string
					for _, e := range entries {
						names = append(names, e.Name())
					}
					t.Errorf("Open left %v behind", names)
				}
				if store.IsPostgres(dsn) {
					db, err := sql.Open("pgx", dsn)
					if err != nil {
						t.Fatal(err)
					}
					defer db.Close()
					var tables int
					if err := db.QueryRow(`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&tables); err != nil {
						t.Fatal(err)
					}
					if tables != 0 {
						t.Errorf("Open made %d tables in the database", tables)
					}
				}
			})
		}
	}
}
