package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// FuzzEmailChange sends any body to PUT /v1/me/email, which asks for the
// caller's account to get a new address and mails a code there, by one of
// four callers: alice's elevated session (she has an app, so two-factor is
// on), another of hers that is not elevated, an API key of hers, and bob's
// session (no factor, nothing to elevate). Mail goes through a test SMTP
// server that offers SMTPUTF8. Whatever the body:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status;
//   - a change is asked for (202) only by a person's session (never a
//     key), elevated when the account has a factor, whose body carries the
//     account's password and an address other than the account's own; then
//     the caller's account alone has a change waiting, to the body's
//     address, and no address changed yet; a code goes to the new address
//     and a notice to the account's own, and no other mail; the answer
//     names the new address only masked, and the code is in neither the
//     database, the answer nor the log;
//   - a refusal writes nothing (testenv.Snapshot) and queues no mail;
//   - no password reaches the log.
//
// In a body, @pw@ stands for the accounts' password, @new@ for an address
// no other body has had, @own@ for alice's address and @bobs@ for bob's.
// Every counter and send limit is cleared before each body. The who byte
// picks the caller (its value mod 4). On SQLite; FuzzEmailChangePostgres is
// the same on PostgreSQL.
func FuzzEmailChange(f *testing.F) { emailChange(f, testenv.SQLiteDSN(f)) }

// FuzzEmailChangePostgres is FuzzEmailChange on PostgreSQL.
func FuzzEmailChangePostgres(f *testing.F) { emailChange(f, testenv.PostgresDSN(f)) }

func emailChange(f *testing.F, dsn string) {
	var logs testenv.Buffer
	mb := testenv.NewSMTPServer(f, testenv.SMTPUTF8()) // for addresses beyond ASCII
	s := fuzzServerVia(f, dsn, &logs, mb)
	snaps := testenv.OpenSnapshots(f, dsn)
	ctx := context.Background()
	elevated, other, _ := holderWithApp(f, s, "alice")
	key, _ := fuzzKey(f, s, elevated, "account * read", "keys * write")
	addUser(f, s, "bob")
	callers := []*testenv.Client{elevated, other, key, login(f, s, "bob")}
	ids := accountIDs(f, s, "alice", "bob")
	s.Service.Wait()

	for _, in := range []struct {
		body string
		who  uint8
	}{
		{`{"email":"@new@","password":"@pw@"}`, 0},
		{`{"email":"@new@","password":"@pw@"}`, 1},
		{`{"email":"@new@","password":"@pw@"}`, 2},
		{`{"email":"@new@","password":"@pw@"}`, 3},
		{`{"email":"@bobs@","password":"@pw@"}`, 0},
		{`{"email":"@own@","password":"@pw@"}`, 0},
		{`{"email":"ALICE@example.com","password":"@pw@"}`, 0},
		{`{"email":"@new@","password":"@pw@x"}`, 0},
		{`{"email":"@new@","password":""}`, 0},
		{`{"email":"@new@"}`, 3},
		{`{"email":"","password":"@pw@"}`, 0},
		{`{"email":"Alice <new@example.net>","password":"@pw@"}`, 0},
		{`{"email":"new@ex!ample.net","password":"@pw@"}`, 0},
		{`{"email":"new@bücher.example","password":"@pw@"}`, 3},
		{`{"email":"new\u200b@example.net","password":"@pw@"}`, 3},
		{`{"email":"nöe@example.net","password":"@pw@"}`, 3},
		{`{"email":"\"new one\"@example.net","password":"@pw@"}`, 3},
		{`{"email":"@new@","password":"@pw@","x":1}`, 0},
		{`{"email":"@new@","password":"@pw@","email":"@bobs@"}`, 0},
		{`{"email":["@new@"],"password":"@pw@"}`, 0},
		{`{}`, 0},
		{``, 0},
	} {
		f.Add(in.body, in.who)
	}

	addresses := 0
	f.Fuzz(func(t *testing.T, body string, who uint8) {
		addresses++
		fresh := fmt.Sprintf("new%d@example.net", addresses)
		body = strings.NewReplacer("@pw@", password, "@new@", fresh, "@own@", "alice@example.com", "@bobs@", "bob@example.com").Replace(body)
		caller := int(who % 4)
		owner, own := ids["alice"], "alice@example.com"
		if caller == 3 {
			owner, own = ids["bob"], "bob@example.com"
		}
		req := testenv.NewRequest(t, "PUT", s.URL()+"/v1/me/email", body, nil)
		asCaller(req, callers[caller])
		logged, seen := len(logs.String()), len(mb.Messages())
		input := fmt.Sprintf("%s by %d", body, caller)
		r, d, done := sendJudged(t, s, snaps, dsn, req, input)
		var sent struct {
			Email    string `json:"email"`
			Password string `json:"password"`
		}
		_ = json.Unmarshal([]byte(body), &sent)
		newLog := logs.String()[logged:]
		for _, pw := range []string{password, sent.Password} {
			if len(pw) >= 8 && strings.Contains(newLog, pw) {
				t.Fatalf("%s: a password is in the log:\n%s", input, newLog)
			}
		}
		if !done {
			return // refused, and nothing written
		}
		switch {
		case caller == 1 || caller == 2:
			t.Fatalf("%s: a change asked for by %d, not alice's elevated session: %d %s", input, caller, r.Status, r.Body)
		case r.Status != 202 || r.JSON["status"] != "confirmation_sent":
			t.Fatalf("%s: answered %d %s", input, r.Status, r.Body)
		case sent.Password != password:
			t.Fatalf("%s: a change asked for without the password", input)
		case sent.Email == "" || strings.EqualFold(sent.Email, own):
			t.Fatalf("%s: a change asked for to %q, the account has %s", input, sent.Email, own)
		case !strings.Contains(d, "+ email_changes: account_id="+owner+" ") || !strings.Contains(d, " email="+sent.Email+" "):
			t.Fatalf("%s: the change waiting is not the caller's, to the body's address:\n%s", input, d)
		case strings.Contains(string(r.Body), sent.Email):
			t.Fatalf("%s: the answer names the new address unmasked: %s", input, r.Body)
		}
		rowsOf(t, input, d, owner)
		for name, id := range ids {
			a, err := s.Store.AccountByID(ctx, id)
			if err != nil || a.Email != name+"@example.com" {
				t.Fatalf("%s: %s's address is %s before any code came back (%v)", input, name, a.Email, err)
			}
		}
		// The code to the new address, the notice to the account's own,
		// nothing else.
		to := testenv.Envelope(sent.Email)
		code, missing := "", []string{to, own}
		for n := seen + 1; len(missing) > 0; n++ {
			m := mb.Wait(t, n, time.Minute)[n-1]
			if !slices.Equal(m.To, []string{to}) && !slices.Equal(m.To, []string{own}) {
				t.Fatalf("%s: mailed %v", input, m.To)
			}
			missing = slices.DeleteFunc(missing, func(a string) bool { return a == m.To[0] })
			if m.To[0] == to {
				code = string(sixDigitCode.Find(m.Data))
			}
		}
		switch {
		case code == "":
			t.Fatalf("%s: no code mailed to %s", input, sent.Email)
		case strings.Contains(d, code) || strings.Contains(string(r.Body), code) || testenv.HoldsWord(logs.String()[logged:], code):
			t.Fatalf("%s: the code mailed is stored, answered or logged", input)
		}
		s.Service.Wait()
		if got := len(mb.Messages()); got != seen+2 {
			t.Fatalf("%s: %d mails, want the code and the notice", input, got-seen)
		}
	})
}
