package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzCloseAccount sends any body to DELETE /v1/me, which closes the
// caller's account for good, by one of four callers: alice's elevated
// session (she has an app, so two-factor is on), another of her sessions
// that is not elevated, an API key of hers, and bob's session (no factor,
// nothing to elevate). alice and bob have passwords of their own.
// Whatever the body:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status;
//   - an account is closed (204) only by a session of its own (never a
//     key), elevated when the account has a factor, whose body carries the
//     account's password; then that account is gone, its sessions answer
//     401, and the other account is untouched;
//   - a refusal writes nothing (testenv.Snapshot) and queues no mail;
//   - no password reaches the log.
//
// In a body, @alicepw@ and @bobpw@ stand for their passwords. An account
// closed is made anew under a new name (a closed account's name stays
// taken), with its sessions and key, before the next body; every counter
// is cleared before each, so that a wrong password never locks the next
// one out. The who byte picks the caller (its value mod 4: alice's
// elevated session, alice's other, alice's key, bob's session). On SQLite;
// FuzzCloseAccountPostgres is the same on PostgreSQL.
func FuzzCloseAccount(f *testing.F) { closeAccount(f, testenv.SQLiteDSN(f)) }

// FuzzCloseAccountPostgres is FuzzCloseAccount on PostgreSQL.
func FuzzCloseAccountPostgres(f *testing.F) { closeAccount(f, testenv.PostgresDSN(f)) }

// closingAccount is an account FuzzCloseAccount may close, and its
// callers.
type closingAccount struct {
	name, password string
	withFactor     bool
	made           int               // accounts made for it so far
	id             string            // "" once closed
	callers        []*testenv.Client // the who values that are its
	first          int               // the who value of callers[0]
}

func closeAccount(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs)
	holders := []*closingAccount{
		{name: "alice", password: password, withFactor: true, first: 0},
		{name: "bob", password: "bob's own long passphrase", first: 3},
	}
	snaps := testenv.OpenSnapshots(f, dsn)

	for _, in := range []struct {
		body string
		who  uint8
	}{
		{`{"password":"@alicepw@"}`, 0},
		{`{"password":"@alicepw@"}`, 1},
		{`{"password":"@alicepw@"}`, 2},
		{`{"password":"@bobpw@"}`, 3},
		{`{"password":"@bobpw@"}`, 0},
		{`{"password":"@alicepw@"}`, 3},
		{`{"password":" @alicepw@"}`, 0},
		{`{"password":"@alicepw@","x":1}`, 0},
		{`{"password":"@alicepw@","password":"nope"}`, 0},
		{`{"password":""}`, 0},
		{`{}`, 0},
		{``, 0},
	} {
		f.Add(in.body, in.who)
	}

	// open makes h's account anew under a new name, signs its callers in,
	// and for alice adds her app and a key.
	open := func(t testing.TB, h *closingAccount) {
		h.made++
		name := fmt.Sprintf("%s%d", h.name, h.made)
		a, err := s.Service.CreateAccount(context.Background(), core.NewAccount{Username: name, Email: name + "@example.com", Password: h.password}, core.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		h.id = a.ID
		signIn := func() *testenv.Client {
			c := testenv.NewClient(s.URL())
			r := c.Do(t, "POST", "/v1/login", map[string]string{"username": name, "password": h.password})
			if r.Status != 200 || r.String("status") != "authenticated" {
				t.Fatalf("sign %s in: %d %s", name, r.Status, r.Body)
			}
			c.Token = r.String("token")
			return c
		}
		if !h.withFactor {
			h.callers = []*testenv.Client{signIn()}
			return
		}
		other := signIn() // before two-factor, so never elevated
		elevated := signIn()
		enrol(t, s, elevated, map[string]any{"type": "totp", "label": "Phone"}) // confirming it elevates the session
		r := elevated.Do(t, "POST", "/v1/me/api-keys", keyRequest("everything", nil, "dns example.com read,write"))
		if r.Status != 201 {
			t.Fatalf("make %s's key: %d %s", name, r.Status, r.Body)
		}
		key := keyClient(s, r.JSON["api_key"].(map[string]any)["id"].(string), r.String("secret"))
		h.callers = []*testenv.Client{elevated, other, key}
	}
	for _, h := range holders {
		open(f, h)
	}

	f.Fuzz(func(t *testing.T, body string, who uint8) {
		ctx := context.Background()
		for _, h := range holders {
			if h.id == "" {
				open(t, h)
			}
		}
		body = strings.NewReplacer("@alicepw@", holders[0].password, "@bobpw@", holders[1].password).Replace(body)
		caller := int(who % 4)
		h := holders[0]
		if caller >= holders[1].first {
			h = holders[1]
		}
		c := h.callers[caller-h.first]
		if _, err := s.Store.ResetThrottlePrefix(ctx, ""); err != nil {
			t.Fatal(err)
		}

		before := snaps.Take(t)
		logged := len(logs.String())
		header := http.Header{"Content-Type": {"application/json"}}
		if c.Token != "" {
			header.Set("Authorization", "Bearer "+c.Token)
		}
		for k, v := range c.Header {
			header[k] = v
		}
		r := testenv.Send(t, nil, testenv.NewRequest(t, "DELETE", s.URL()+"/v1/me", body, header))
		if r.Status >= 500 {
			t.Fatalf("%s by %d: %d %s", body, caller, r.Status, r.Body)
		}
		for _, x := range holders {
			if strings.Contains(logs.String()[logged:], x.password) {
				t.Fatalf("%s by %d: a password is in the log:\n%s", body, caller, logs.String()[logged:])
			}
		}

		if r.Status == 204 {
			var sent struct {
				Password string `json:"password"`
			}
			if err := json.Unmarshal([]byte(body), &sent); err != nil || sent.Password != h.password {
				t.Fatalf("%s by %d: an account closed without its password", body, caller)
			}
			if caller == 1 || caller == 2 {
				t.Fatalf("%s: alice's account closed by %d, not her elevated session", body, caller)
			}
			if _, err := s.Store.AccountByID(ctx, h.id); twofold.ErrorCode(err) != twofold.CodeNotFound {
				t.Fatalf("%s by %d: answered 204, but the account is still there (%v)", body, caller, err)
			}
			for _, x := range holders {
				if x == h {
					continue
				}
				if _, err := s.Store.AccountByID(ctx, x.id); err != nil {
					t.Fatalf("%s by %d: closing %s's account touched %s's: %v", body, caller, h.name, x.name, err)
				}
			}
			for _, x := range h.callers {
				if r := x.Do(t, "GET", "/v1/me", nil); r.Status != 401 {
					t.Fatalf("%s by %d: a session of the account closed answers %d", body, caller, r.Status)
				}
			}
			h.id = ""
			return
		}

		wantRefusal(t, r, fmt.Sprintf("%s by %d", body, caller))
		if d := before.Diff(snaps.Take(t)); d != "" {
			t.Fatalf("%s by %d: refused (%d %s), but the database changed:\n%s", body, caller, r.Status, r.Body, d)
		}
	})
}
