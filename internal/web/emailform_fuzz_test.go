package web_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzEmailForm posts any form to the two forms of the page that changes
// the browser's account's address: the one that asks for the change
// (POST /settings/security/email: the new address, the current password,
// and the "confirm it's you" fields), and the one that sends back the
// code mailed to the new address (POST /settings/security/email/confirm),
// from the browsers of formHolders (alice's elevated, alice's never
// elevated, bob's). Each account has a change of address waiting. Whatever
// the form:
//
//   - the answer is never a server error;
//   - a change is asked for only for the browser's own account, with the
//     browser's CSRF token and the account's password, and for alice's an
//     elevated session or fields that confirm it's her with her app's code
//     not used before; it is then the account's change waiting, to the
//     address the form gave, a code goes to that address and a notice to
//     the account's own, and the browser goes to the page that asks for
//     the code;
//   - an address changes only for the browser's own account, with its
//     CSRF token, for alice's an elevated session (this form confirms
//     nothing), and the code mailed for the account's waiting change, as
//     people type it, while it has checks left; then the account has the
//     new address and the browser is told so;
//   - otherwise the database is as it was (testenv.Snapshot), but for one
//     check taken from the browser's account's waiting change by a code
//     sent back, and for the elevation alice's unelevated browser's fields
//     made (formHolders.refusedDiff); no mail goes;
//   - no password, code of alice's app or mailed code the form sent comes
//     back in the page, and none goes to the log.
//
// In a form, placeholders stand for the passwords and alice's app's codes
// (formHolders.replace), @mailed@ for the code of alice's waiting change,
// @bobmailed@ for bob's, @new@ for an address nobody has, @own@ for
// alice's address, @bobs@ for bob's. The page byte picks the form (even:
// ask, odd: send the code back), the who byte the browser. A change
// confirmed, replaced or down to two checks is asked for anew, and every
// counter and send limit is cleared, before each form. On SQLite;
// FuzzEmailFormPostgres is the same on PostgreSQL.
func FuzzEmailForm(f *testing.F) { emailForm(f, testenv.SQLiteDSN(f)) }

// FuzzEmailFormPostgres is FuzzEmailForm on PostgreSQL.
func FuzzEmailFormPostgres(f *testing.F) { emailForm(f, testenv.PostgresDSN(f)) }

// mailedChange is a change of address a formHolder has waiting.
type mailedChange struct {
	email  string // the new address; "" when none is waiting
	code   string
	checks int // the checks refused codes took from it
}

// mailedCode finds the code in a mail's text.
var mailedCode = regexp.MustCompile(`\b\d{6}\b`)

func emailForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	changes := map[*formHolder]*mailedChange{hs.list[0]: {}, hs.list[1]: {}}

	for _, in := range []struct {
		page uint8
		form string
		who  uint8
	}{
		{0, "email=@new@&current_password=@alicepw@", 0},
		{0, "email=@new@&current_password=@alicepw@", 1},
		{0, "email=@new@&current_password=@alicepw@&elevate_method=totp&elevate_code=@next@", 1},
		{0, "email=@new@&current_password=nope&elevate_method=totp&elevate_code=@next@", 1},
		{0, "email=@new@&current_password=@alicepw@&elevate_method=totp&elevate_code=@code@", 1},
		{0, "email=@new@&current_password=@bobpw@", 2},
		{0, "email=@new@&current_password=@alicepw@", 2},
		{0, "email=@new@&current_password=nope", 0},
		{0, "email=@own@&current_password=@alicepw@", 0},
		{0, "email=@bobs@&current_password=@alicepw@", 0},
		{0, "email=not-an-address&current_password=@alicepw@", 0},
		{0, "email=new@b%C3%BCcher.example&current_password=@alicepw@", 0},
		{0, "email=n%C3%B6e@example.net&current_password=@bobpw@", 2},
		{0, "email=CE@exampleQcom&current_password=@bobpw@", 2},
		{0, "email=&current_password=@alicepw@", 0},
		{0, "email=@new@&email=@bobs@&current_password=@alicepw@", 0},
		{0, "email=@new@&current_password=@alicepw@&csrf=x", 0},
		{1, "code=@mailed@", 0},
		{1, "code=+@mailed@+", 0},
		{1, "code=@mailed@", 1},
		{1, "code=@mailed@", 2},
		{1, "code=@bobmailed@", 2},
		{1, "code=@bobmailed@", 0},
		{1, "code=000000", 0},
		{1, "code=@mailed@&code=000000", 0},
		{1, "code=@mailed@&csrf=x", 0},
		{1, "code=", 0},
		{1, "", 0},
	} {
		f.Add(in.page, in.form, in.who)
	}

	addresses := 0
	newAddress := func() string {
		addresses++
		return fmt.Sprintf("new%d@example.net", addresses)
	}
	// mailedTo waits for the mails after the seen-th until one to each
	// address of to has come (testenv.Envelope), and returns the code in
	// the one to to[0].
	mailedTo := func(t testing.TB, seen int, to ...string) string {
		for i := range to {
			to[i] = testenv.Envelope(to[i])
		}
		code, missing := "", slices.Clone(to)
		for n := seen + 1; len(missing) > 0; n++ {
			m := hs.mb.Wait(t, n, time.Minute)[n-1]
			for _, r := range m.To {
				missing = slices.DeleteFunc(missing, func(a string) bool { return a == r })
				if r == to[0] && code == "" {
					code = string(mailedCode.Find(m.Data))
				}
			}
		}
		return code
	}
	// ask asks, through the core, for a change of h's address to a new one.
	ask := func(t testing.TB, h *formHolder) {
		to, seen := newAddress(), len(hs.mb.Messages())
		a, err := ts.Service.Authenticate(ctx, sessionCookie(t, h.browsers[0]))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.Service.StartEmailChange(ctx, a, to, h.password, core.Meta{}); err != nil {
			t.Fatalf("ask to change %s's address: %v", h.name, err)
		}
		*changes[h] = mailedChange{email: to, code: mailedTo(t, seen, to, h.email)}
		if changes[h].code == "" {
			t.Fatalf("no code mailed to %s", to)
		}
	}
	clearLimits := func(t testing.TB) {
		testenv.Exec(t, dsn, `DELETE FROM rate_buckets WHERE key LIKE 'email-change:%' OR key LIKE 'send:%'`)
	}

	f.Fuzz(func(t *testing.T, page uint8, form string, who uint8) {
		clearLimits(t)
		for i, made := range hs.ready(t) {
			h := hs.list[i]
			if made || changes[h].email == "" || changes[h].checks >= 3 {
				ask(t, h)
			}
		}
		alice, bob := hs.list[0], hs.list[1]
		_, c, _ := hs.browser(who)
		to := newAddress()
		form = hs.replace(form, c, ts.Clock.Now(), "@mailed@", changes[alice].code, "@bobmailed@", changes[bob].code,
			"@new@", to, "@own@", alice.email, "@bobs@", bob.email)
		path := "/settings/security/email"
		if page%2 == 1 {
			path += "/confirm"
		}
		seen := len(hs.mb.Messages())
		p := hs.post(t, path, form, who)
		h, mine := p.h, changes[p.h]
		for _, x := range changes {
			if x.code != "" && testenv.HoldsWord(p.newLog, x.code) {
				t.Fatalf("%q by %d: a mailed code is in the log:\n%s", form, p.caller, p.newLog)
			}
			if strings.Contains(form, x.code) && testenv.HoldsWord(p.r.body, x.code) {
				t.Fatalf("%q by %d: the page (%d) holds the mailed code the form sent", form, p.caller, p.r.status)
			}
		}

		var addresses []string // the accounts' addresses now
		for _, x := range hs.list {
			a, err := ts.Store.AccountByID(ctx, x.id)
			if err != nil {
				t.Fatal(err)
			}
			addresses = append(addresses, a.Email)
		}
		changed := addresses[0] != alice.email || addresses[1] != bob.email
		if d := p.before.Diff(hs.snaps.Take(t)); page%2 == 0 && strings.Contains(d, "+ email_changes: account_id=") {
			asked := p.sent.Get("email")
			switch {
			case !strings.Contains(d, "+ email_changes: account_id="+h.id+" "):
				t.Fatalf("%q by %d: a change asked for another account than the browser's:\n%s", form, p.caller, d)
			case p.sent.Get("current_password") != h.password:
				t.Fatalf("%q by %d: a change asked for %s without the password", form, p.caller, h.name)
			case !strings.Contains(d, " email="+asked+" "):
				t.Fatalf("%q by %d: a change asked for to another address than the form's:\n%s", form, p.caller, d)
			case changed:
				t.Fatalf("%q by %d: a change asked for, and an address changed at once", form, p.caller)
			case p.r.url.Path != "/settings/security/email" || p.r.method != "GET":
				t.Fatalf("%q by %d: a change asked for, but the browser is at %s (%d)", form, p.caller, p.r.url, p.r.status)
			}
			hs.mayAct(t, p, "a change of "+h.name+"'s address asked for")
			*mine = mailedChange{email: asked, code: mailedTo(t, seen, asked, h.email)}
			for _, m := range hs.mb.Messages()[seen:] {
				if !slices.Equal(m.To, []string{testenv.Envelope(asked)}) && !slices.Equal(m.To, []string{testenv.Envelope(h.email)}) {
					t.Fatalf("%q by %d: a change asked for mailed %v", form, p.caller, m.To)
				}
			}
			if mine.code == "" {
				t.Fatalf("%q by %d: a change asked for, but no code went to %s", form, p.caller, asked)
			}
			return
		}
		if changed {
			i := p.caller / 2
			switch {
			case page%2 == 0:
				t.Fatalf("%q by %d: the form that asks for a change changed an address", form, p.caller)
			case addresses[1-i] != hs.list[1-i].email:
				t.Fatalf("%q by %d: the address of another account than the browser's changed", form, p.caller)
			case addresses[i] != mine.email:
				t.Fatalf("%q by %d: %s's address changed to %s, its change was to %s", form, p.caller, h.name, addresses[i], mine.email)
			case p.parseErr != nil || testenv.TypedText(p.sent.Get("code"), false) != mine.code || mine.checks >= 5:
				t.Fatalf("%q by %d: %s's address changed without the code mailed for its change", form, p.caller, h.name)
			case !p.wasElevated && h.withApp:
				t.Fatalf("%q by %d: %s's address changed by a session not elevated", form, p.caller, h.name)
			case p.r.url.Path != "/settings/security" || p.r.url.Query().Get("m") != "email_changed":
				t.Fatalf("%q by %d: the address changed, but the browser is at %s (%d)", form, p.caller, p.r.url, p.r.status)
			}
			hs.mayAct(t, p, "an address changed")
			h.email, mine.email = mine.email, ""
			return
		}

		d := hs.refusedDiff(t, p)
		if page%2 == 1 {
			// One check may go, from the browser's account's change only.
			row := "email_changes: account_id=" + h.id + " "
			if rest := testenv.WithoutCheckTakenFrom(d, "email_changes"); strings.Contains(d, row) && !strings.Contains(rest, row) {
				d = rest
				mine.checks++
			}
		}
		if d != "" {
			t.Fatalf("%q by %d: refused (%d %s), but the database changed:\n%s", form, p.caller, p.r.status, pageError(p.r.body), d)
		}
		toldNothingDone(t, p, "")
	})
}
