package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzAdminUserAPI sends any body to POST /v1/admin/users, which makes an
// account for an operator, by one of six callers: alice's elevated session
// (she is an operator, with an app), another of her sessions that is not
// elevated, three keys of hers (admin users read,write; admin users read;
// admin resets read,write) and bob's session (no operator). Whatever the
// body:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status;
//   - an account is made (201) only by alice's elevated session or her key
//     that may write users, and is the one row made: the body's username
//     and email, never an operator, and the body's password signs it in;
//     the password is in neither the log nor the database;
//   - a refusal writes nothing (testenv.Snapshot).
//
// An account made is deleted before the next body. The who byte picks the
// caller (its value mod 6). On SQLite; FuzzAdminUserAPIPostgres is the
// same on PostgreSQL.
func FuzzAdminUserAPI(f *testing.F) { adminUserAPI(f, testenv.SQLiteDSN(f)) }

// FuzzAdminUserAPIPostgres is FuzzAdminUserAPI on PostgreSQL.
func FuzzAdminUserAPIPostgres(f *testing.F) { adminUserAPI(f, testenv.PostgresDSN(f)) }

func adminUserAPI(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs)
	snaps := testenv.OpenSnapshots(f, dsn)
	ctx := context.Background()
	callers := operatorCallers(f, s, [][]string{{"admin users read,write"}, {"admin users read"}, {"admin resets read,write"}})

	const pw = `"password":"a long enough passphrase"`
	for _, in := range []struct {
		body string
		who  uint8
	}{
		{`{"username":"carol","email":"carol@example.com",` + pw + `}`, 0},
		{`{"username":"carol",` + pw + `}`, 1},
		{`{"username":"carol",` + pw + `}`, 2},
		{`{"username":"carol",` + pw + `}`, 3},
		{`{"username":"carol",` + pw + `}`, 4},
		{`{"username":"carol",` + pw + `}`, 5},
		{`{"username":"carol",` + pw + `,"operator":true}`, 0},
		{`{"username":"carol",` + pw + `,"operator":true}`, 2},
		{`{"username":"bob",` + pw + `}`, 0},
		{`{"username":"carol","password":"short"}`, 0},
		{`{"username":"carol","password":"carol carol carol"}`, 0},
		{`{"username":"carol","email":"not an address",` + pw + `}`, 0},
		{`{"username":"ca rol",` + pw + `}`, 0},
		{`{"username":"carol",` + pw + `,"x":1}`, 0},
		{`{"username":"carol","username":"dave",` + pw + `}`, 0},
		{``, 0},
	} {
		f.Add(in.body, in.who)
	}

	f.Fuzz(func(t *testing.T, body string, who uint8) {
		caller := int(who % 6)
		c := callers[caller]
		var sent struct {
			Username string `json:"username"`
			Email    string `json:"email"`
			Password string `json:"password"`
		}
		_ = json.Unmarshal([]byte(body), &sent)
		req := testenv.NewRequest(t, "POST", s.URL()+"/v1/admin/users", body, nil)
		asCaller(req, c)
		logged := len(logs.String())
		input := fmt.Sprintf("%s by %d", body, caller)
		r, d, done := sendJudged(t, s, snaps, dsn, req, input)
		if len(sent.Password) >= 8 && strings.Contains(logs.String()[logged:], sent.Password) {
			t.Fatalf("%s: the password is in the log", input)
		}
		if !done {
			return // refused, and nothing written
		}
		user, _ := r.JSON["user"].(map[string]any)
		id, _ := user["id"].(string)
		if id == "" {
			t.Fatalf("%s: answered 201 %s, without the account's id", input, r.Body)
		}
		defer testenv.Exec(t, dsn, fmt.Sprintf(`DELETE FROM accounts WHERE id = '%s'`, id))
		if caller != 0 && caller != 2 {
			t.Fatalf("%s: an account made by a caller that may not make one:\n%s", input, d)
		}
		rowsOf(t, input, d, "+ accounts: id="+id+" ")
		if strings.Contains(d, sent.Password) {
			t.Fatalf("%s: the password is in the database:\n%s", input, d)
		}
		a, err := s.Store.AccountByID(ctx, id)
		switch {
		case err != nil:
			t.Fatalf("%s: the account answered is not stored: %v", input, err)
		case a.Username != sent.Username || a.Email != sent.Email:
			t.Fatalf("%s: the account is %q <%s>, the body's %q <%s>", input, a.Username, a.Email, sent.Username, sent.Email)
		case a.Operator:
			t.Fatalf("%s: an operator made through the API", input)
		}
		if _, err := s.Service.Login(ctx, a.Username, sent.Password, core.Meta{}); err != nil {
			t.Fatalf("%s: the body's password does not sign the account in: %v", input, err)
		}
	})
}
