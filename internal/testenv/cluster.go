package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// PostgresCluster is a PostgreSQL cluster of a test's own, made by initdb
// in a temporary folder (trust authentication, a free loopback port, its
// Unix socket in that folder), for tests that need a whole second server:
// a dump restored into another cluster (README "Backup and restore"). It
// is stopped and removed when the test ends.
type PostgresCluster struct {
	bin, dir string
	port     int
	asUser   string // run the server's tools as this user (when the test runs as root)
	settings []string
	running  bool
}

// PostgresTools returns the folder of the PostgreSQL server tools (initdb,
// pg_ctl, pg_resetwal, pg_dump, pg_restore), the newest of Debian's
// /usr/lib/postgresql/*/bin when initdb is not on the PATH. Without them the
// test is skipped, except under CI (CI set), where that is a failure; so
// too without TWOFOLD_TEST_POSTGRES, as for PostgresDSN.
func PostgresTools(tb testing.TB) string {
	tb.Helper()
	if os.Getenv(PostgresEnv) == "" {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s is not set under CI: the PostgreSQL half of the suite must run", PostgresEnv)
		}
		tb.Skipf("%s not set; PostgreSQL tests skipped", PostgresEnv)
	}
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.SortFunc(found, func(a, b string) int { return pgVersion(b) - pgVersion(a) })
	for _, p := range found {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, d := range dirs {
		if ok := allExist(d, "initdb", "pg_ctl", "pg_resetwal", "pg_dump", "pg_restore"); ok {
			return d
		}
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("the PostgreSQL server tools (initdb, pg_ctl, pg_resetwal, pg_dump, pg_restore) are not installed (apt-get install postgresql): CI must run the restore drill")
	}
	tb.Skip("the PostgreSQL server tools (initdb, pg_ctl, pg_resetwal) are not installed; the restore drill is skipped")
	return ""
}

// pgVersion is the major version in a path /usr/lib/postgresql/N/bin/….
func pgVersion(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

func allExist(dir string, names ...string) bool {
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			return false
		}
	}
	return true
}

// NewPostgresCluster makes and starts a cluster. A nextXID other than 0 is
// the full (64-bit, epoch included) id of the first transaction it runs,
// set with pg_resetwal before it starts: a cluster that has already run
// that many, as a long-lived one has. It must be a multiple of 2^20 (the
// transactions of one pg_xact segment: pg_resetwal's rule for a safe -x).
// Each of settings (name=value, such as shared_buffers=2MB) is given to the
// server at every start, over the cluster's own.
func NewPostgresCluster(tb testing.TB, nextXID uint64, settings ...string) *PostgresCluster {
	tb.Helper()
	c := &PostgresCluster{bin: PostgresTools(tb), settings: settings}
	if nextXID%(1<<20) != 0 {
		tb.Fatalf("NewPostgresCluster: nextXID %d is not a multiple of 2^20", nextXID)
	}
	dir, err := os.MkdirTemp("", "twofold-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	c.dir = dir
	tb.Cleanup(func() {
		if err := c.Stop(); err != nil {
			tb.Error(err)
		}
		os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root: as Debian's
		// pg_ctlcluster (scripts/test.sh) does, run them as the
		// postgres user, who owns the folder.
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Fatalf("running as root, the cluster needs the user postgres to run as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
		if _, err := exec.LookPath("runuser"); err != nil {
			tb.Fatalf("running as root, the cluster needs runuser (util-linux) to run as postgres: %v", err)
		}
		c.asUser = "postgres"
	}
	c.run(tb, "initdb", "--pgdata", c.data(), "--username", "postgres", "--auth", "trust", "--encoding", "UTF8", "--no-sync")
	if nextXID != 0 {
		c.run(tb, "pg_resetwal", "--epoch", strconv.FormatUint(nextXID>>32, 10),
			"--next-transaction-id", strconv.FormatUint(nextXID&(1<<32-1), 10), c.data())
	}
	c.Start(tb)
	return c
}

func (c *PostgresCluster) data() string { return filepath.Join(c.dir, "data") }

// Tool returns the path of one of the cluster's PostgreSQL programs
// (pg_dump, pg_restore), of the same version as the server.
func (c *PostgresCluster) Tool(name string) string { return filepath.Join(c.bin, name) }

// command returns a command running the PostgreSQL program name as the
// cluster's owner.
func (c *PostgresCluster) command(name string, args ...string) *exec.Cmd {
	path := c.Tool(name)
	if c.asUser != "" {
		return exec.Command("runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func (c *PostgresCluster) run(tb testing.TB, name string, args ...string) {
	tb.Helper()
	cmd := c.command(name, args...)
	cmd.Dir = c.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("%s: %v\n%s", name, err, out)
	}
}

// Start starts the cluster on a free loopback port (a new one each time).
func (c *PostgresCluster) Start(tb testing.TB) {
	tb.Helper()
	var last string
	for range 3 { // another process may take the free port first
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		c.port = l.Addr().(*net.TCPAddr).Port
		l.Close()
		opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s -c fsync=off -c shared_buffers=16MB -c max_connections=50",
			c.port, c.dir)
		for _, s := range c.settings {
			opts += " -c " + s
		}
		cmd := c.command("pg_ctl", "start", "--pgdata", c.data(), "--wait", "--timeout", "120", "--log", filepath.Join(c.dir, "log"), "-o", opts)
		cmd.Dir = c.dir
		out, err := cmd.CombinedOutput()
		if err == nil {
			c.running = true
			return
		}
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		last = fmt.Sprintf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	tb.Fatal(last)
}

// Stop stops the cluster (at once: open connections are ended), if it
// runs.
func (c *PostgresCluster) Stop() error {
	if !c.running {
		return nil
	}
	cmd := c.command("pg_ctl", "stop", "--pgdata", c.data(), "--wait", "--mode", "fast")
	cmd.Dir = c.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	c.running = false
	return nil
}

// DSN returns the URL of database name on the cluster.
func (c *PostgresCluster) DSN(name string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path: "/" + name, RawQuery: "sslmode=disable"}
	return u.String()
}

// CreateDatabase makes an empty database on the cluster and returns its
// URL.
func (c *PostgresCluster) CreateDatabase(tb testing.TB, name string) string {
	tb.Helper()
	if strings.ContainsFunc(name, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r == '_') }) {
		tb.Fatalf("CreateDatabase: %q: lower-case letters and _ only", name)
	}
	db, err := sql.Open("pgx", c.DSN("postgres"))
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	return c.DSN(name)
}

// Open opens database name on the cluster, closed when the test ends.
func (c *PostgresCluster) Open(tb testing.TB, name string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("pgx", c.DSN(name))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
