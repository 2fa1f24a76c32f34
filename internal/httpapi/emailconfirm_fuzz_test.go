package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// FuzzEmailConfirm sends any body to POST /v1/me/email/confirm, where the
// code mailed to a new address gives the account that address, by one of
// three sessions: alice's, elevated (she has an app, Phone, so two-factor
// is on), another of alice's that is not, and bob's (no factor, nothing to
// elevate). alice and bob each have a change of address waiting, through a
// test SMTP server. Whatever the body:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status;
//   - an address changes (200) only for a session that may change it (an
//     account with a factor needs an elevated one) whose body carries, as
//     people type it, the code mailed for its own account's waiting change,
//     while that change has checks left; then the account has the new
//     address, its change is gone, and the other account is untouched;
//   - a refusal writes nothing (testenv.Snapshot) but one check taken from
//     the caller's own waiting change, and queues no mail;
//   - no code mailed reaches the log.
//
// In a body, @code@ stands for the code of alice's waiting change, @old@
// for the code of the change it replaced, @spent@ for the code used last,
// @bobcode@ for bob's. A change confirmed, or down to two checks, is asked
// for anew (to another new address) before the next body. The who byte
// picks the session (its value mod 3: alice's elevated, alice's other,
// bob's). On SQLite; FuzzEmailConfirmPostgres is the same on PostgreSQL.
func FuzzEmailConfirm(f *testing.F) { emailConfirm(f, testenv.SQLiteDSN(f)) }

// FuzzEmailConfirmPostgres is FuzzEmailConfirm on PostgreSQL.
func FuzzEmailConfirmPostgres(f *testing.F) { emailConfirm(f, testenv.PostgresDSN(f)) }

// waitingChange is an account's change of address that FuzzEmailConfirm
// asked for.
type waitingChange struct {
	account string // the account's id
	owner   int    // the session that asks for it
	email   string // the new address; "" once confirmed
	code    string // the code mailed to it
	checks  int    // the checks refusals took from it
}

// sixDigitCode finds the code in a mail's text.
var sixDigitCode = regexp.MustCompile(`\b\d{6}\b`)

func emailConfirm(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, mb := fuzzServer(f, dsn, &logs)
	alice, other, _ := holderWithApp(f, s, "alice")
	addUser(f, s, "bob")
	bob := login(f, s, "bob")
	sessions := []*testenv.Client{alice, other, bob}
	changes := []*waitingChange{{owner: 0}, {owner: 2}}
	for i, name := range []string{"alice", "bob"} {
		changes[i].account = accountID(f, s, name)
	}
	snaps := testenv.OpenSnapshots(f, dsn)

	for _, in := range []struct {
		body string
		who  uint8
	}{
		{`{"code":"@code@"}`, 0},
		{`{"code":" @code@ "}`, 0},
		{`{"code":"@code@"}`, 1},
		{`{"code":"@code@"}`, 2},
		{`{"code":"@bobcode@"}`, 2},
		{`{"code":"@bobcode@"}`, 0},
		{`{"code":"@old@"}`, 0},
		{`{"code":"@spent@"}`, 0},
		{`{"code":"000000"}`, 0},
		{`{"code":"@code@","x":1}`, 0},
		{`{"code":"@code@","code":"000000"}`, 0},
		{`{"code":"- -"}`, 0},
		{`{"code":""}`, 0},
		{`{"code":123456}`, 0},
		{`{}`, 0},
		{``, 0},
	} {
		f.Add(in.body, in.who)
	}

	addresses := 0
	old, spent := "none yet", "none yet"
	// ask asks for a change of c's account's address to a new one, and
	// reads the code mailed there.
	ask := func(t testing.TB, c *waitingChange) {
		testenv.Exec(t, dsn, `DELETE FROM rate_buckets WHERE key LIKE 'email-change:%'`) // its limit is another test's
		addresses++
		to := fmt.Sprintf("new%d@example.net", addresses)
		seen := len(mb.Messages())
		if r := sessions[c.owner].Do(t, "PUT", "/v1/me/email", map[string]string{"email": to, "password": password}); r.Status != 202 {
			t.Fatalf("ask to change the address to %s: %d %s", to, r.Status, r.Body)
		}
		for n := seen + 1; c.email != to; n++ {
			for _, m := range mb.Wait(t, n, time.Minute)[n-1:] {
				if slices.Contains(m.To, to) {
					if code := sixDigitCode.Find(m.Data); code != nil {
						c.email, c.code, c.checks = to, string(code), 0
					}
				}
			}
		}
	}
	ask(f, changes[0])
	old = changes[0].code
	changes[0].email = ""

	f.Fuzz(func(t *testing.T, body string, who uint8) {
		ctx := context.Background()
		for _, c := range changes {
			if c.email == "" || c.checks >= 3 {
				if c.owner == 0 && c.email != "" {
					old = c.code
				}
				ask(t, c)
			}
		}
		body = strings.NewReplacer("@code@", changes[0].code, "@old@", old, "@spent@", spent, "@bobcode@", changes[1].code).Replace(body)
		caller := int(who % 3)
		mine := changes[min(caller, 2)/2] // sessions 0 and 1 are alice's

		before := snaps.Take(t)
		logged := len(logs.String())
		r := testenv.Send(t, nil, testenv.NewRequest(t, "POST", s.URL()+"/v1/me/email/confirm", body,
			http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + sessions[caller].Token}}))
		newLog := logs.String()[logged:]
		if r.Status >= 500 {
			t.Fatalf("%s by %d: %d %s", body, caller, r.Status, r.Body)
		}
		for _, c := range changes {
			if testenv.HoldsWord(newLog, c.code) {
				t.Fatalf("%s: a mailed code is in the log:\n%s", body, newLog)
			}
		}

		if r.Status == 200 {
			var sent struct {
				Code string `json:"code"`
			}
			if err := json.Unmarshal([]byte(body), &sent); err != nil || testenv.TypedText(sent.Code, false) != mine.code || mine.checks >= 5 {
				t.Fatalf("%s by %d: the address changed without the code mailed for the caller's change: %s", body, caller, r.Body)
			}
			if caller == 1 {
				t.Fatalf("%s: the address changed by a session that is not elevated: %s", body, r.Body)
			}
			if r.String("email") != mine.email {
				t.Fatalf("%s: the address changed to %s, want %s", body, r.Body, mine.email)
			}
			for _, c := range changes {
				a, err := s.Store.AccountByID(ctx, c.account)
				if err != nil {
					t.Fatal(err)
				}
				if c == mine && a.Email != c.email || c != mine && a.Email == c.email {
					t.Fatalf("%s by %d: the account %s has %s, its change was to %s", body, caller, c.account, a.Email, c.email)
				}
			}
			if got := before.Diff(snaps.Take(t)); !strings.Contains(got, "- email_changes: account_id="+mine.account+" ") {
				t.Fatalf("%s: the change confirmed is still waiting:\n%s", body, got)
			}
			spent, mine.email = mine.code, ""
			return
		}

		wantRefusal(t, r, fmt.Sprintf("%s by %d", body, caller))
		d := before.Diff(snaps.Take(t))
		// One check may go, from the caller's own change only.
		row := "email_changes: account_id=" + mine.account + " "
		if rest := testenv.WithoutCheckTakenFrom(d, "email_changes"); strings.Contains(d, row) && !strings.Contains(rest, row) {
			d = rest
			mine.checks++
		}
		if d != "" {
			t.Fatalf("%s by %d: refused (%d %s), but the database changed:\n%s", body, caller, r.Status, r.Body, d)
		}
	})
}
