package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzEnrolAPI sends any body to POST /v1/me/factors, which begins setting
// up an authenticator (an app, a hardware token, a phone, an address, a
// push device, a security key), by one of four callers: alice's elevated
// session (she has an app, so two-factor is on), another of her sessions
// that is not elevated, an API key of hers (keys * write, account *
// read), and bob's session (no factor). Whatever the body:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status;
//   - an authenticator is begun (201) only by a person's session, on its
//     own account, elevated when the account has two-factor on; it is the
//     one factor added, pending, of the body's type, named as the body says
//     (trimmed) when it gives a name, and gates no login yet; a secret
//     answered is in neither the log nor the database's clear text;
//   - a refusal writes nothing (testenv.Snapshot).
//
// A factor begun is deleted before the next body, with what it wrote. The
// who byte picks the caller (its value mod 4). On SQLite;
// FuzzEnrolAPIPostgres is the same on PostgreSQL.
func FuzzEnrolAPI(f *testing.F) { enrolAPI(f, testenv.SQLiteDSN(f)) }

// FuzzEnrolAPIPostgres is FuzzEnrolAPI on PostgreSQL.
func FuzzEnrolAPIPostgres(f *testing.F) { enrolAPI(f, testenv.PostgresDSN(f)) }

func enrolAPI(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs, testenv.NewSMSGateway(f).Option()) // texts go to a gateway speaking the real wire protocol
	snaps := testenv.OpenSnapshots(f, dsn)
	ctx := context.Background()
	addUser(f, s, "alice")
	addUser(f, s, "bob")
	other := login(f, s, "alice") // before two-factor, so never elevated
	elevated := login(f, s, "alice")
	enrol(f, s, elevated, map[string]any{"type": "totp", "label": "Phone"}) // confirming it elevates the session
	key, _ := fuzzKey(f, s, elevated, "account * read", "keys * write")
	callers := []*testenv.Client{elevated, other, key, login(f, s, "bob")}
	accounts := accountIDs(f, s, "alice", "bob")
	s.Service.Wait()

	for _, in := range []struct {
		body string
		who  uint8
	}{
		{`{"type":"totp","label":" Tablet "}`, 0},
		{`{"type":"totp","label":"Tablet"}`, 1},
		{`{"type":"totp","label":"Tablet"}`, 2},
		{`{"type":"totp","label":"Tablet"}`, 3},
		{`{"type":"hotp","label":"Token","digits":8}`, 0},
		{`{"type":"totp","label":"Tablet","algorithm":"SHA256","period":60,"secret_size":32}`, 3},
		{`{"type":"totp","label":"Phone"}`, 0},
		{`{"type":"totp","label":"Tablet","digits":7}`, 0},
		{`{"type":"email","label":"Mail","email":"alice.other@example.com"}`, 0},
		{`{"type":"email","label":"Mail","email":"bob.other@example.com"}`, 3},
		{`{"type":"email","label":"Mail","email":"alice.other@example.com"}`, 1},
		{`{"type":"sms","label":"Mobile","phone":"+14155550123"}`, 3},
		{`{"type":"push","label":"Pixel"}`, 0},
		{`{"type":"push","label":"Pixel"}`, 1},
		{`{"type":"webauthn","label":"Key"}`, 0},
		{`{"type":"webauthn","label":"Key"}`, 1},
		{`{"type":"webauthn","label":"Key","passkey":true,"password":"correct horse battery"}`, 3},
		{`{"type":"totp","serial":"nosuch","code":"123456"}`, 0},
		{`{"type":"totp","label":"Tablet","phone":"+14155550123"}`, 0},
		{`{"type":"frob"}`, 0},
		{`{"type":"totp","label":"Tablet","x":1}`, 0},
		{``, 0},
	} {
		f.Add(in.body, in.who)
	}

	f.Fuzz(func(t *testing.T, body string, who uint8) {
		caller := int(who % 4)
		c := callers[caller]
		owner := accounts["alice"]
		if caller == 3 {
			owner = accounts["bob"]
		}
		was := map[string]bool{}
		for _, id := range accounts {
			fs, err := s.Store.Factors(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, fa := range fs {
				was[fa.ID] = true
			}
		}

		req := testenv.NewRequest(t, "POST", s.URL()+"/v1/me/factors", body, nil)
		asCaller(req, c)
		logged := len(logs.String())
		input := fmt.Sprintf("%s by %d", body, caller)
		r, d, done := sendJudged(t, s, snaps, dsn, req, input)
		if !done {
			return // refused, and nothing written
		}
		var made []twofold.Factor
		for _, id := range accounts {
			fs, err := s.Store.Factors(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, fa := range fs {
				if !was[fa.ID] {
					made = append(made, fa)
				}
			}
		}
		if len(made) != 1 {
			t.Fatalf("%s: answered 201, and %d factors were added:\n%s", input, len(made), d)
		}
		fa := made[0]
		defer testenv.Exec(t, dsn, fmt.Sprintf(`DELETE FROM factors WHERE id = '%s'`, fa.ID))
		var sent struct {
			Type  twofold.FactorType `json:"type"`
			Label string             `json:"label"`
		}
		_ = json.Unmarshal([]byte(body), &sent)
		switch {
		case caller == 2:
			t.Fatalf("%s: an authenticator begun by an API key", input)
		case caller == 1:
			t.Fatalf("%s: an authenticator begun on an account with two-factor by a session not elevated", input)
		case fa.AccountID != owner:
			t.Fatalf("%s: an authenticator begun on another account", input)
		case fa.Status != twofold.FactorPending:
			t.Fatalf("%s: the authenticator begun is %s", input, fa.Status)
		case fa.Type != sent.Type:
			t.Fatalf("%s: the authenticator begun is of type %s", input, fa.Type)
		case strings.TrimSpace(sent.Label) != "" && fa.Label != strings.TrimSpace(sent.Label):
			t.Fatalf("%s: the authenticator begun is named %q", input, fa.Label)
		}
		got, _ := r.JSON["factor"].(map[string]any)["id"].(string)
		if got != fa.ID {
			t.Fatalf("%s: answered %s, not the factor begun (%s)", input, r.Body, fa.ID)
		}
		rowsOf(t, input, d, owner, fa.ID)
		if secret := r.String("secret"); secret != "" {
			if testenv.HoldsWord(logs.String()[logged:], secret) {
				t.Fatalf("%s: the secret went to the log", input)
			}
			if strings.Contains(d, secret) {
				t.Fatalf("%s: the secret is in the database's clear text", input)
			}
		}
	})
}
