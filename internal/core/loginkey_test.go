package core_test

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/factor/securitykey"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// TestLoginIDNotStored: the database holds no login id a client was given,
// neither in the login's row nor in what is scoped by the login (a sent
// code, a security-key ceremony, an SSH challenge) nor anywhere else, and
// neither does it hold the id of a sign-in with a passkey: whoever reads the
// database or a backup of it cannot carry a login past its password (README
// "Security at rest"). The login still passes its second step with the id
// its client holds.
func TestLoginIDNotStored(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			db := openStore(t, dsn(t))
			g := testenv.NewSMSGateway(t)
			svc := smsService(t, db, g, &codeMailbox{}, "US")
			if err := svc.SetRelyingParty(securitykey.Config{RPID: "twofold.example", Origins: []string{keyOrigin}}); err != nil {
				t.Fatal(err)
			}
			a := signedIn(t, svc, "ada")
			phone := addPhone(t, svc, g, a, "+1 202 555 0143", "+12025550143")
			a.Session.ElevatedUntil = time.Now().Add(time.Hour)
			k := testenv.NewSecurityKey(t, keyOrigin)
			e, err := svc.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorWebAuthn, Label: "YubiKey"}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.ConfirmSecurityKey(ctx, a, e.Factor.ID, k.Create(t, e.Options), core.Meta{}); err != nil {
				t.Fatal(err)
			}
			pair := testenv.SSHKeygen(t, "ed25519", 0)
			se, err := svc.AddSSHKey(ctx, a, "laptop", pair.Public, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.ConfirmSSHKey(ctx, a, se.Key.ID, testenv.SSHSign(t, pair.File, se.Challenge.Namespace, se.Challenge.Text), core.Meta{}); err != nil {
				t.Fatal(err)
			}

			res, err := svc.Login(ctx, "ada", testPassword, core.Meta{})
			if err != nil || res.Authenticated || res.LoginID == "" {
				t.Fatalf("login: %+v, %v; want a second step", res, err)
			}
			id := res.LoginID
			if _, err := svc.ChallengeLogin(ctx, id, twofold.MethodSMS, phone.ID, "", core.Meta{}); err != nil {
				t.Fatalf("ChallengeLogin sms: %v", err)
			}
			if _, err := svc.ChallengeLogin(ctx, id, twofold.MethodWebAuthn, "", "", core.Meta{}); err != nil {
				t.Fatalf("ChallengeLogin webauthn: %v", err)
			}
			c, err := svc.ChallengeLoginSSH(ctx, id, core.Meta{})
			if err != nil {
				t.Fatalf("ChallengeLoginSSH: %v", err)
			}
			if strings.Contains(c.Text, id) {
				t.Errorf("SSH challenge %q names the login id", c.Text)
			}
			pk, err := svc.BeginPasskeyLogin(ctx, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			wantNotStored(t, db.Store, map[string]int{"logins": 1, "sent_codes": 1, "webauthn_ceremonies": 1, "ssh_challenges": 1, "passkey_logins": 1},
				id, pk.LoginID)

			// Found again by the id its client holds, on another instance
			// sharing the key file too.
			other := newService(t, db.Store, db, time.Now, nil)
			if l, err := other.PendingLogin(ctx, id); err != nil || l.AccountID != a.Account.ID {
				t.Fatalf("PendingLogin on another instance: %+v, %v", l, err)
			}
			if _, err := other.PendingLogin(ctx, string(l0(t, db.Store))); twofold.ErrorCode(err) != twofold.CodeLoginExpired {
				t.Errorf("PendingLogin by the key the login is stored under: got %v, want login-expired", err)
			}
			v, err := svc.VerifyLogin(ctx, id, core.SecondFactor{Method: twofold.MethodSMS, Code: g.LastCode(t, "+12025550143")}, core.Meta{})
			if err != nil || v.Token == "" {
				t.Fatalf("VerifyLogin sms: %+v, %v", v, err)
			}
			wantNotStored(t, db.Store, map[string]int{"logins": 1}, id, pk.LoginID)
		})
	}
}

// l0 returns the key of the one login stored.
func l0(t *testing.T, st *store.Store) string {
	t.Helper()
	var id string
	if err := writer(testDB{Store: st}).QueryRowContext(t.Context(), `SELECT id FROM logins`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// wantNotStored fails the test when any column of any row of any table of
// st holds one of ids, or when a table of least has fewer rows than it
// names (so that the scan is seen to find what it looks through).
func wantNotStored(t *testing.T, st *store.Store, least map[string]int, ids ...string) {
	t.Helper()
	ctx := t.Context()
	w := writer(testDB{Store: st})
	q := `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	if st.Dialect() == store.SQLite {
		q = `SELECT name FROM sqlite_master WHERE type = 'table'`
	}
	var tables []string
	rows, err := w.QueryContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if len(tables) < 10 {
		t.Fatalf("found tables %q: is the scan broken?", tables)
	}
	for _, table := range tables {
		n := scanTable(t, w, table, ids)
		if n < least[table] {
			t.Errorf("table %s: %d rows, want at least %d", table, n, least[table])
		}
	}
}

// scanTable reports every column of table that holds one of ids and
// returns how many rows it has.
func scanTable(t *testing.T, db *sql.DB, table string, ids []string) int {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT * FROM "`+table+`"`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
		for i, v := range testenv.ScanAny(t, rows, cols) {
			var s string
			switch x := v.(type) {
			case string:
				s = x
			case []byte:
				s = string(x)
			default:
				continue
			}
			for _, id := range ids {
				if strings.Contains(s, id) {
					t.Errorf("%s.%s holds a login id a client was given: %q", table, cols[i], s)
				}
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
