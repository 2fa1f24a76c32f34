package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzPasswordChange sends any body to PUT /v1/me/password, which
// replaces the caller's password, by one of four callers: alice's elevated
// session (she has an app, so two-factor is on), another of her sessions
// that is not elevated, an API key of hers, and bob's session (no factor,
// nothing to elevate). Whatever the body:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status;
//   - a password is changed (200) only by a session of the account's own
//     (never a key), elevated when the account has a factor, whose body
//     carries the account's password as current_password and another as
//     new_password; then the new one signs in and the old one does not,
//     the answer's token is a session of that account that keeps the
//     caller's elevation, every other session of the account (the caller's
//     too) answers 401, its key and the other account's sessions still
//     work, and the new password is nowhere in the database;
//   - a refusal writes nothing (testenv.Snapshot) and queues no mail;
//   - no password reaches the log.
//
// In a body, @alicepw@ and @bobpw@ stand for their passwords now and
// @new@ for a new one no other body has had. After a change, the
// account's sessions and key are made anew; every counter is cleared
// before each body, so that a wrong password never locks the next one
// out. The who byte picks the caller (its value mod 4). On SQLite;
// FuzzPasswordChangePostgres is the same on PostgreSQL.
func FuzzPasswordChange(f *testing.F) { passwordChange(f, testenv.SQLiteDSN(f)) }

// FuzzPasswordChangePostgres is FuzzPasswordChange on PostgreSQL.
func FuzzPasswordChangePostgres(f *testing.F) { passwordChange(f, testenv.PostgresDSN(f)) }

// pwHolder is an account of FuzzPasswordChange and its callers.
type pwHolder struct {
	name, id, password string
	withFactor         bool
	phone              enrolled
	callers            []*testenv.Client // alice: elevated, other, key; bob: his session
}

func passwordChange(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs)
	snaps := testenv.OpenSnapshots(f, dsn)
	ctx := context.Background()
	alice := &pwHolder{name: "alice", password: password, withFactor: true}
	bob := &pwHolder{name: "bob", password: "bob's own long passphrase"}
	holders := []*pwHolder{alice, bob}
	for _, h := range holders {
		a, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: h.name, Email: h.name + "@example.com", Password: h.password}, core.Meta{})
		if err != nil {
			f.Fatal(err)
		}
		h.id = a.ID
	}
	signIn := func(t testing.TB, h *pwHolder) *testenv.Client {
		c := testenv.NewClient(s.URL())
		r := c.Do(t, "POST", "/v1/login", map[string]string{"username": h.name, "password": h.password})
		if r.Status != 200 {
			t.Fatalf("sign %s in: %d %s", h.name, r.Status, r.Body)
		}
		if r.String("status") != "authenticated" {
			s.Clock.Add(30 * time.Second) // a code not used before
			code := testenv.TOTP(t, h.phone.secret, s.Clock.Now())
			v := c.Do(t, "POST", "/v1/login/"+r.String("login_id")+"/verify", map[string]string{"method": "totp", "code": code})
			if v.Status != 200 {
				t.Fatalf("sign %s in, second step: %d %s", h.name, v.Status, v.Body)
			}
			r = v
		}
		c.Token = r.String("token")
		return c
	}
	// open signs h's callers in anew; alice's elevated one confirms it's
	// her (the first time, by setting up her app), once the elevation of
	// her second step lapsed.
	open := func(t testing.TB, h *pwHolder) {
		if !h.withFactor {
			h.callers = []*testenv.Client{signIn(t, h)}
			return
		}
		other := signIn(t, h)
		elevated := signIn(t, h)
		if h.phone.id == "" {
			other = signIn(t, h) // before two-factor, so never elevated
			h.phone = enrol(t, s, elevated, map[string]any{"type": "totp", "label": "Phone"})
		} else {
			lapseElevation(s) // the second step elevated both
			r := elevated.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, h.phone.secret, s.Clock.Now())})
			if r.Status != 200 {
				t.Fatalf("elevate %s: %d %s", h.name, r.Status, r.Body)
			}
		}
		key, _ := fuzzKey(t, s, elevated, "account * read", "keys * write")
		h.callers = []*testenv.Client{elevated, other, key}
		// The clock moved: what expired goes now, not while a later
		// request is judged.
		if err := s.Service.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range holders {
		open(f, h)
	}

	for _, in := range []struct {
		body string
		who  uint8
	}{
		{`{"current_password":"@alicepw@","new_password":"@new@"}`, 0},
		{`{"current_password":"@alicepw@","new_password":"@new@"}`, 1},
		{`{"current_password":"@alicepw@","new_password":"@new@"}`, 2},
		{`{"current_password":"@bobpw@","new_password":"@new@"}`, 3},
		{`{"current_password":"@alicepw@","new_password":"@new@"}`, 3},
		{`{"current_password":"@bobpw@","new_password":"@new@"}`, 0},
		{`{"current_password":"@alicepw@","new_password":"@alicepw@"}`, 0},
		{`{"current_password":"@alicepw@x","new_password":"@new@"}`, 0},
		{`{"current_password":"","new_password":"@new@"}`, 0},
		{`{"current_password":"@alicepw@","new_password":"short"}`, 0},
		{`{"current_password":"@alicepw@","new_password":"password1234"}`, 0},
		{`{"current_password":"@alicepw@","new_password":"@new@","x":1}`, 0},
		{`{"current_password":"@alicepw@","new_password":"@new@","new_password":"@new@2"}`, 0},
		{`{}`, 0},
		{``, 0},
	} {
		f.Add(in.body, in.who)
	}

	changes := 0
	f.Fuzz(func(t *testing.T, body string, who uint8) {
		changes++
		fresh := fmt.Sprintf("a new passphrase, number %d", changes)
		body = strings.NewReplacer("@alicepw@", alice.password, "@bobpw@", bob.password, "@new@", fresh).Replace(body)
		caller := int(who % 4)
		h, c := alice, (*testenv.Client)(nil)
		if caller == 3 {
			h, c = bob, bob.callers[0]
		} else {
			c = alice.callers[caller]
		}

		var was core.Auth
		if c.Token != "" {
			var err error
			if was, err = s.Service.Authenticate(ctx, c.Token); err != nil {
				t.Fatal(err)
			}
		}
		req := testenv.NewRequest(t, "PUT", s.URL()+"/v1/me/password", body, nil)
		asCaller(req, c)
		logged := len(logs.String())
		input := fmt.Sprintf("%s by %d", body, caller)
		r, d, done := sendJudged(t, s, snaps, dsn, req, input)
		var sent struct {
			Current string `json:"current_password"`
			New     string `json:"new_password"`
		}
		_ = json.Unmarshal([]byte(body), &sent)
		newLog := logs.String()[logged:]
		for _, pw := range []string{alice.password, bob.password, sent.Current, sent.New} {
			if len(pw) >= 8 && strings.Contains(newLog, pw) {
				t.Fatalf("%s: a password is in the log:\n%s", input, newLog)
			}
		}
		if !done {
			return // refused, and nothing written
		}
		switch {
		case caller == 1 || caller == 2:
			t.Fatalf("%s: alice's password changed by %d, not her elevated session", input, caller)
		case sent.Current != h.password:
			t.Fatalf("%s: a password changed without the current one", input)
		case sent.New == h.password || sent.New == "":
			t.Fatalf("%s: the password changed to %q", input, sent.New)
		}
		if strings.Contains(d, sent.New) {
			t.Fatalf("%s: the new password is in the database:\n%s", input, d)
		}
		old := h.password
		h.password = sent.New
		if _, err := s.Service.Login(ctx, h.name, old, core.Meta{}); err == nil {
			t.Fatalf("%s: the old password still signs in", input)
		}
		if _, err := s.Service.Login(ctx, h.name, h.password, core.Meta{}); err != nil {
			t.Fatalf("%s: the new password does not sign in: %v", input, err)
		}
		if _, err := s.Service.Authenticate(ctx, c.Token); err == nil {
			t.Fatalf("%s: the caller's old session still works", input)
		}
		a, err := s.Service.Authenticate(ctx, r.String("token"))
		if err != nil || a.Account.ID != h.id {
			t.Fatalf("%s: the token answered is no session of the account: %v", input, err)
		}
		if !a.Session.ElevatedUntil.Equal(was.Session.ElevatedUntil) {
			t.Fatalf("%s: the new session's elevation is %v, the caller's was %v", input, a.Session.ElevatedUntil, was.Session.ElevatedUntil)
		}
		for _, x := range holders {
			for i, xc := range x.callers {
				got := xc.Do(t, "GET", "/v1/me", nil).Status
				ended := x == h && xc.Token != "" // a password change leaves keys be
				if ended && got != 401 || !ended && got != 200 {
					t.Fatalf("%s: %s's session %d answers %d", input, x.name, i, got)
				}
			}
		}
		open(t, h)
	})
}
