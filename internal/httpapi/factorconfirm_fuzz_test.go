package httpapi_test

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	twofold "github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzFactorConfirm sends any factor id and body to POST
// /v1/me/factors/{id}/confirm, by one of three sessions: the one of
// alice's that started setting up four factors (an app, Laptop; a
// hardware token, Token; a phone that gets codes by text message, Text,
// through a test gateway; her address, Mail, through a test SMTP server),
// another of alice's sessions, elevated too, and bob's, which started
// setting up an app of his. alice already has an active app, Phone, so
// two-factor is on for her. Whatever the id and body:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status (or a redirect to the cleaned path);
//   - a factor becomes active (200) only when the id is one of the
//     caller's factors waiting to be confirmed, the caller's session
//     started it, and the body carries a code of that very factor as
//     people type it: an app's code within the server's window of steps
//     around now, a token's within its look-ahead window, the code last
//     texted or mailed to it while it has checks left; then that factor is
//     active, and only that one;
//   - a refusal writes nothing (testenv.Snapshot) but one check taken from
//     the code sent to the texted or mailed factor the id names, when the
//     session that started it sent the body; it counts at most one
//     failure, on the caller's own counters, and queues no mail;
//   - no code that would pass reaches the log.
//
// In an id, @totp@, @hotp@, @sms@ and @email@ stand for alice's waiting
// factors' ids, @bobs@ for bob's, @active@ for Phone's. In a body,
// @totpcode@, @totpprev@ and @totpfar@ stand for Laptop's code of this
// step, of the one before and of the one before that, @hotpcode@ and
// @hotpahead@ for Token's first code and its eighth, @textcode@ and
// @mailcode@ for the codes texted to Text and mailed to Mail, @activecode@
// for Phone's code of this step, @bobcode@ for the code of bob's app. A
// factor confirmed is removed and set up anew for the next input, and a
// code sent is sent again before it runs out of checks. Every counter of
// both accounts is cleared before each input. The who byte picks the
// session (its value mod 3: alice's that set up, alice's other, bob's).
// On SQLite; FuzzFactorConfirmPostgres is the same on PostgreSQL.
func FuzzFactorConfirm(f *testing.F) { factorConfirm(f, testenv.SQLiteDSN(f)) }

// FuzzFactorConfirmPostgres is FuzzFactorConfirm on PostgreSQL.
func FuzzFactorConfirmPostgres(f *testing.F) { factorConfirm(f, testenv.PostgresDSN(f)) }

// waitingFactor is a factor a FuzzFactorConfirm session set up and has not
// confirmed.
type waitingFactor struct {
	placeholder string         // what stands for its id
	owner       int            // the index of the session that set it up
	setup       map[string]any // POST /v1/me/factors's body
	id          string         // "" until set up, and once confirmed
	secret      []byte         // an app's or a token's
	code        string         // the code texted or mailed to it last
	checks      int            // the checks refusals took from code
}

// sentFactor reports whether w gets its codes by text message or mail.
func (w *waitingFactor) sentFactor() bool {
	return w.setup["type"] == "sms" || w.setup["type"] == "email"
}

// passes reports whether typed, as people type codes, is a code that
// confirms w at now.
func (w *waitingFactor) passes(typed string, now time.Time) bool {
	return testenv.ConfirmsFactor(twofold.FactorType(w.setup["type"].(string)), w.secret, w.code, w.checks, typed, now,
		int64(core.DefaultConfig().TOTPWindow), core.HOTPLookAhead)
}

func factorConfirm(f *testing.F, dsn string) {
	var logs testenv.Buffer
	g := testenv.NewSMSGateway(f)
	s, mb := fuzzServer(f, dsn, &logs, g.Option())
	setup, other, active := holderWithApp(f, s, "alice") // other is elevated below
	addUser(f, s, "bob")
	phoneApp := testenv.NewApp(f, active.id, active.secret)
	s.Clock.Add(30 * time.Second) // Phone's code of the step before was used to confirm it
	if r := other.Do(f, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": phoneApp.Code(s.Clock.Now(), 0)}); r.Status != 200 {
		f.Fatalf("elevate alice's other session: %d %s", r.Status, r.Body)
	}
	bob := login(f, s, "bob")
	sessions := []*testenv.Client{setup, other, bob}
	var accounts []string
	for _, name := range []string{"alice", "bob"} {
		accounts = append(accounts, accountID(f, s, name))
	}
	account := func(who int) string { return accounts[min(who, 2)/2] } // sessions 0 and 1 are alice's
	waiting := []*waitingFactor{
		{placeholder: "@totp@", setup: map[string]any{"type": "totp", "label": "Laptop"}},
		{placeholder: "@hotp@", setup: map[string]any{"type": "hotp", "label": "Token"}},
		{placeholder: "@sms@", setup: map[string]any{"type": "sms", "phone": phone, "label": "Text"}},
		{placeholder: "@email@", setup: map[string]any{"type": "email", "label": "Mail"}},
		{placeholder: "@bobs@", owner: 2, setup: map[string]any{"type": "totp", "label": "Bob's phone"}},
	}
	snaps := testenv.OpenSnapshots(f, dsn)

	for _, in := range []struct {
		id, body string
		who      uint8
	}{
		{"@totp@", `{"code":"@totpcode@"}`, 0},
		{"@totp@", `{"code":"@totpprev@"}`, 0},
		{"@totp@", `{"code":"@totpfar@"}`, 0},
		{"@totp@", `{"code":" @totpcode@ "}`, 0},
		{"@totp@", `{"code":"@activecode@"}`, 0},
		{"@totp@", `{"code":"@totpcode@"}`, 1},
		{"@totp@", `{"code":"@totpcode@"}`, 2},
		{"@bobs@", `{"code":"@bobcode@"}`, 2},
		{"@bobs@", `{"code":"@bobcode@"}`, 0},
		{"@hotp@", `{"code":"@hotpcode@"}`, 0},
		{"@hotp@", `{"code":"@hotpahead@"}`, 0},
		{"@hotp@", `{"code":"@totpcode@"}`, 0},
		{"@sms@", `{"code":"@textcode@"}`, 0},
		{"@sms@", `{"code":"@mailcode@"}`, 0},
		{"@sms@", `{"code":"@textcode@"}`, 1},
		{"@email@", `{"code":"@mailcode@"}`, 0},
		{"@email@", `{"code":"@textcode@"}`, 0},
		{"@active@", `{"code":"@activecode@"}`, 0},
		{"@totp@", `{"code":"@totpcode@","x":1}`, 0},
		{"@totp@", `{"code":""}`, 0},
		{"@totp@", `{"code":"@totpcode@","code":"000000"}`, 0},
		{"@totp@", ``, 0},
		{"@totp@x", `{"code":"@totpcode@"}`, 0},
		{"@totp@/..", `{"code":"@totpcode@"}`, 0},
		{"%40totp%40", `{"code":"@totpcode@"}`, 0},
	} {
		f.Add(in.id, in.body, in.who)
	}

	// clearSendLimits lets a code be sent whatever was sent before: the
	// send limits are the subject of other tests.
	clearSendLimits := func(t testing.TB) {
		testenv.Exec(t, dsn, `DELETE FROM rate_buckets WHERE key LIKE 'send:%'`)
	}
	// sent reads the code last delivered to w, mail after the seen-th.
	sent := func(t testing.TB, w *waitingFactor, seen int) {
		if w.setup["type"] == "sms" {
			w.code = g.LastCode(t, phoneE164)
		} else {
			w.code = mb.CodeAfter(t, seen)
		}
		w.checks = 0
	}
	start := func(t testing.TB, w *waitingFactor) {
		clearSendLimits(t)
		seen := len(mb.Messages())
		r := sessions[w.owner].Do(t, "POST", "/v1/me/factors", w.setup)
		if r.Status != 201 {
			t.Fatalf("set up %v: %d %s", w.setup, r.Status, r.Body)
		}
		w.id = r.JSON["factor"].(map[string]any)["id"].(string)
		if w.sentFactor() {
			sent(t, w, seen)
			return
		}
		secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(r.String("secret")))
		if err != nil || len(secret) == 0 {
			t.Fatalf("set up %v: a secret that is not base32: %s", w.setup, r.Body)
		}
		w.secret = secret
	}
	resend := func(t testing.TB, w *waitingFactor) {
		clearSendLimits(t)
		seen := len(mb.Messages())
		if r := sessions[w.owner].Do(t, "POST", "/v1/me/factors/"+w.id+"/challenge", nil); r.Status != 202 {
			t.Fatalf("send %s's code again: %d %s", w.setup["label"], r.Status, r.Body)
		}
		sent(t, w, seen)
	}
	f.Fuzz(func(t *testing.T, id, body string, who uint8) {
		ctx := context.Background()
		for _, w := range waiting {
			if w.id == "" {
				start(t, w)
			} else if w.sentFactor() && w.checks >= 3 {
				resend(t, w)
			}
		}
		byName := map[string]*waitingFactor{}
		for _, w := range waiting {
			byName[w.placeholder] = w
		}
		now := s.Clock.Now()
		app := func(w *waitingFactor, d int64) string {
			return otp.TOTP(w.secret, now.Add(time.Duration(d)*30*time.Second), otp.DefaultParams())
		}
		r := strings.NewReplacer("@totp@", byName["@totp@"].id, "@hotp@", byName["@hotp@"].id, "@sms@", byName["@sms@"].id,
			"@email@", byName["@email@"].id, "@bobs@", byName["@bobs@"].id, "@active@", active.id,
			"@totpcode@", app(byName["@totp@"], 0), "@totpprev@", app(byName["@totp@"], -1), "@totpfar@", app(byName["@totp@"], -2),
			"@hotpcode@", otp.HOTP(byName["@hotp@"].secret, 0, otp.SHA1, 6), "@hotpahead@", otp.HOTP(byName["@hotp@"].secret, 7, otp.SHA1, 6),
			"@textcode@", byName["@sms@"].code, "@mailcode@", byName["@email@"].code,
			"@activecode@", phoneApp.Code(now, 0), "@bobcode@", app(byName["@bobs@"], 0))
		id, body = r.Replace(id), r.Replace(body)
		caller := int(who % 3)
		req, named, ok := idRequest(s, "/v1/me/factors/", id, "/confirm", body, sessions[caller].Token)
		if !ok {
			return // no request a client could send
		}

		for _, a := range accounts {
			if _, err := s.Store.ResetThrottlePrefix(ctx, "2fa:"+a+":"); err != nil {
				t.Fatal(err)
			}
		}
		var passing []string // every code that would confirm a factor now
		for _, w := range waiting {
			passing = append(passing, testenv.ConfirmingCodes(twofold.FactorType(w.setup["type"].(string)), w.secret, w.code, now,
				int64(core.DefaultConfig().TOTPWindow), core.HOTPLookAhead)...)
		}
		before := snaps.Take(t)
		logged := len(logs.String())
		answer := testenv.Send(t, unredirected, req)
		newLog := logs.String()[logged:]
		if answer.Status >= 500 {
			t.Fatalf("%s %s: %d %v", id, body, answer.Status, answer.JSON)
		}
		for _, code := range passing {
			if code != "" && testenv.HoldsWord(newLog, code) {
				t.Fatalf("%s %s: a code that confirms a factor is in the log:\n%s", id, body, newLog)
			}
		}

		var sentBody struct {
			Code string `json:"code"`
		}
		decodeErr := json.Unmarshal([]byte(body), &sentBody)
		i := slices.IndexFunc(waiting, func(w *waitingFactor) bool { return w.id == named })

		if answer.Status == 200 {
			if i < 0 || decodeErr != nil {
				t.Fatalf("%s %s: confirmed what is not a waiting factor, or by a body that is not JSON: %v", id, body, answer.JSON)
			}
			w := waiting[i]
			if caller != w.owner {
				t.Fatalf("%s %s: %s confirmed by a session that did not set it up (%d)", id, body, w.setup["label"], caller)
			}
			if !w.passes(sentBody.Code, now) {
				t.Fatalf("%s %s: %s confirmed without a code of its own", id, body, w.setup["label"])
			}
			if fa, _ := answer.JSON["factor"].(map[string]any); fa["id"] != w.id || fa["status"] != "active" {
				t.Fatalf("%s %s: confirmed %s as %v", id, body, w.setup["label"], answer.JSON)
			}
			for _, x := range waiting {
				got, err := s.Store.Factor(ctx, account(x.owner), x.id)
				want := twofold.FactorPending
				if x == w {
					want = twofold.FactorActive
				}
				if err != nil || got.Status != want {
					t.Fatalf("%s %s: after confirming %s, %s is %q (%v), want %q", id, body, w.setup["label"], x.setup["label"], got.Status, err, want)
				}
			}
			// Room for the next: the factor goes, and the next input finds
			// another set up.
			if r := sessions[w.owner].Do(t, "DELETE", "/v1/me/factors/"+w.id, nil); r.Status != 204 && r.Status != 200 {
				t.Fatalf("removing %s: %d %s", w.setup["label"], r.Status, r.Body)
			}
			w.id, w.code = "", ""
			return
		}

		wantRefusal(t, answer, id+" "+body)
		for _, a := range accounts {
			own, byFactor, counted := testenv.CountedFailures(t, s, a)
			if n := own + byFactor; n > 1 || n > 0 && a != account(caller) {
				t.Fatalf("%s %s: refused %d, counted failures on %s's counters: %v (the caller is %s)", id, body, answer.Status, a, counted, account(caller))
			}
		}
		d := before.Diff(snaps.Take(t))
		if i >= 0 && waiting[i].sentFactor() && caller == waiting[i].owner {
			if rest := testenv.WithoutChecksTaken(d); rest != d {
				d = rest
				waiting[i].checks++
			}
		}
		if d != "" {
			t.Fatalf("%s %s: refused (%d %v), but the database changed:\n%s", id, body, answer.Status, answer.JSON, d)
		}
	})
}
