package web_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// unboundHints is a script that lists the hints under a field (.field
// .hint) that do not describe it (aria-describedby), by field.
const unboundHints = `[...document.querySelectorAll(".field .hint")].flatMap(h => {
	const f = h.closest(".field").querySelector("input:not([type=hidden]), textarea, select");
	if (!f || h.querySelector("button")) return [];
	const ids = (f.getAttribute("aria-describedby") || "").split(/\s+/);
	return h.id && ids.includes(h.id) ? [] : [(f.id || f.name) + ": " + h.textContent.trim().slice(0, 40)];
})`

// fieldProblems is a script that says what is wrong with the field of id
// %s after a refusal: "" when it is aria-invalid, described by the error
// (and by nothing that is not on the page), and the only invalid field.
const fieldProblems = `((id) => {
	const f = document.getElementById(id);
	if (!f) return "no field " + id;
	if (!document.getElementById("error")) return "no error shown";
	const out = [];
	if (f.getAttribute("aria-invalid") !== "true") out.push("not aria-invalid");
	const ids = (f.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
	if (!ids.includes("error")) out.push("not described by the error (aria-describedby=" + JSON.stringify(ids.join(" ")) + ")");
	for (const d of ids) {
		const e = document.getElementById(d);
		if (!e || !e.textContent.trim()) out.push("described by " + d + ", which has no text");
	}
	for (const o of document.querySelectorAll("[aria-invalid=true]")) {
		if (o !== f) out.push("also invalid: " + (o.id || o.name));
	}
	return out.join("; ");
})`

// keptFields is a script that says which fields of %s ([id, typed]
// pairs) do not hold what was typed after a refusal: a field that takes a
// secret (a password, a code, a signature, a key) must be empty, never
// echoed back; any other must hold the value typed, the refused one
// included, for the user to mend it rather than type it all again.
const keptFields = `((fields) => fields.flatMap(([id, typed]) => {
	const f = document.getElementById(id);
	if (!f) return ["no field " + id];
	const secret = f.type === "password" || ["code", "next_code", "elevate_code", "signature", "elevate_signature", "pskc_key"].includes(id);
	const want = secret ? "" : typed;
	return f.value === want ? [] : [id + " holds " + JSON.stringify(f.value) + ", want " + JSON.stringify(want)];
}))`

// submitForm fills the fields of the form that holds the first of them
// (ids and values), turns off the browser's own checks (as a browser
// without them, or an old one, would send the form), sends it and waits for
// the answer.
func (p *page) submitForm(fields [][2]string) {
	p.t.Helper()
	for _, f := range fields {
		if !eval[bool](p, `(() => { const e = document.getElementById(`+jsString(f[0])+`); if (!e) return false; e.value = `+jsString(f[1])+`; return true })()`) {
			p.t.Fatalf("at %s: no field #%s", p.path(), f[0])
		}
	}
	js := `(() => { const f = document.getElementById(` + jsString(fields[0][0]) + `).form; f.noValidate = true; window.` + clickMark + ` = true; f.requestSubmit(); })()`
	if err := chromedp.Do(p.ctx, chromedp.Evaluate[chromedp.Void](js)); err != nil {
		p.t.Fatalf("submit the form of #%s: %v", fields[0][0], err)
	}
	p.loaded("submit the form of #" + fields[0][0])
}

// focused returns the id of the element with the focus, once it is want
// or after a minute (a bound against a hang, not a timing): the browser
// applies autofocus when it next renders the page, which a loaded machine
// may put off for a while.
func (p *page) focused(want string) string {
	p.t.Helper()
	got := ""
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if got = eval[string](p, `document.activeElement ? document.activeElement.id : ""`); got == want || time.Now().After(deadline) {
			return got
		}
	}
}

// TestBrowserFieldErrorsTied walks the pages' forms in Chromium, sends each
// with a value it refuses, and checks that the refused field is
// aria-invalid, described by the error (aria-describedby), and has the
// focus, so that a screen reader says what is wrong where the user is;
// that every hint under a field describes that field; and that the form
// shown again keeps what was typed in every field but the secrets
// (passwords, codes), which come back empty. One bad input at a time, on
// SQLite and PostgreSQL.
func TestBrowserFieldErrorsTied(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) { fieldErrorsTied(t, dsn(t)) })
	}
}

// fieldErrorsTied is TestBrowserFieldErrorsTied on the database dsn.
func fieldErrorsTied(t *testing.T, dsn string) {
	mb := testenv.NewSMTPServer(t)
	ts := testenv.NewServer(t, dsn, testenv.NewSMSGateway(t).Option(), mb.Option("twofold@example.com"))
	p := newPage(t, ts.URL())

	check := func(what, id string) {
		t.Helper()
		if got := eval[string](p, fieldProblems+"("+jsString(id)+")"); got != "" {
			t.Errorf("%s (at %s): #%s: %s", what, p.path(), id, got)
		}
		if got := p.focused(id); got != id {
			t.Errorf("%s (at %s): the focus is on %q, want %s", what, p.path(), got, id)
		}
		if got := eval[[]string](p, unboundHints); len(got) > 0 {
			t.Errorf("%s (at %s): hints that describe no field: %q", what, p.path(), got)
		}
	}
	// kept checks that the fields sent keep what was typed, but secrets.
	kept := func(what string, fields [][2]string) {
		t.Helper()
		pairs := make([][]string, len(fields))
		for i, f := range fields {
			pairs[i] = []string{f[0], f[1]}
		}
		js, err := json.Marshal(pairs)
		if err != nil {
			t.Fatal(err)
		}
		if got := eval[[]string](p, keptFields+"("+string(js)+")"); len(got) > 0 {
			t.Errorf("%s (at %s): the form shown again lost what was typed: %q", what, p.path(), got)
		}
	}

	// refused is a form sent with one bad input: fields, of which invalid
	// is the one at fault.
	type refused struct {
		what    string
		fields  [][2]string
		invalid string
	}
	send := func(c refused) {
		t.Helper()
		p.submitForm(c.fields)
		check(c.what, c.invalid)
		kept(c.what, c.fields)
	}

	// The first operator's account, from the setup link, while there is
	// no account yet.
	const pw = "a long enough passphrase"
	for _, c := range []refused{
		{"setup, a bad username", [][2]string{{"username", "no spaces please"}, {"email", "root@example.com"}, {"password", pw}, {"password2", pw}}, "username"},
		{"setup, a bad email address", [][2]string{{"username", "root"}, {"email", "not an address"}, {"password", pw}, {"password2", pw}}, "email"},
		{"setup, passwords that differ", [][2]string{{"username", "root"}, {"email", "root@example.com"}, {"password", pw}, {"password2", pw + " two"}}, "password2"},
		{"setup, too short a password", [][2]string{{"username", "root"}, {"email", "root@example.com"}, {"password", "short"}, {"password2", "short"}}, "password"},
	} {
		p.open(ts.SetupURL)
		send(c)
	}
	secret := account(t, ts, "olive", true, true)
	account(t, ts, "oscar", true, false) // another operator: olive may close hers

	// A new password from a reset link: passwords that differ, then a
	// wrong code; none of them comes back.
	rita := mailedAccount(t, ts, "rita", true)
	sent := len(mb.Wait(t, 1, time.Minute)) // the notice of the new authenticator
	p.open("/password-reset")
	p.submitForm([][2]string{{"username", "rita"}})
	p.open(resetLinkPath(t, ts, mb, sent+1))
	p.wantPath("/new-password")
	for _, c := range []refused{
		{"new password, passwords that differ", [][2]string{{"password", pw}, {"password2", pw + " two"}, {"code", testenv.TOTP(t, rita.secret, ts.Clock.Now())}}, "password2"},
		{"new password, a wrong code", [][2]string{{"password", pw}, {"password2", pw}, {"code", otherCode(testenv.TOTP(t, rita.secret, ts.Clock.Now()))}}, "code"},
	} {
		send(c)
	}

	p.open("/login")
	p.submitForm([][2]string{{"username", "olive"}, {"password", "not the password"}})
	check("sign-in, wrong password", "password")
	kept("sign-in, wrong password", [][2]string{{"username", "olive"}, {"password", "not the password"}})
	p.signIn("olive", testPassword)
	p.submitForm([][2]string{{"code", otherCode(testenv.TOTP(t, secret, ts.Clock.Now()))}})
	check("second step, wrong code", "code")
	kept("second step, wrong code", [][2]string{{"code", "000000"}})
	p.submitForm([][2]string{{"code", testenv.TOTP(t, secret, ts.Clock.Now())}})
	p.wantPath("/settings/security")

	cases := []struct {
		what, page string
		fields     [][2]string
		invalid    string
		before     func() // what the page needs
	}{
		{"new passwords that differ", "/settings/security/password",
			[][2]string{{"current_password", testPassword}, {"new_password", "a new long passphrase one"}, {"new_password2", "a new long passphrase two"}}, "new_password2", nil},
		{"wrong current password", "/settings/security/password",
			[][2]string{{"current_password", "not the password"}, {"new_password", "a new long passphrase one"}, {"new_password2", "a new long passphrase one"}}, "current_password", nil},
		{"email change, not an address", "/settings/security/email",
			[][2]string{{"email", "not an address"}, {"current_password", testPassword}}, "email", nil},
		{"close the account, wrong password", "/settings/security/close",
			[][2]string{{"current_password", "not the password"}}, "current_password", nil},
		{"an app with the name of another", "/settings/security",
			[][2]string{{"label", "phone"}, {"type", "hotp"}}, "label", nil},
		{"a push device with no name", "/settings/security",
			[][2]string{{"push-label", "  "}}, "push-label", nil},
		{"a security key with the name of another", "/settings/security",
			[][2]string{{"key-label", "PHONE"}}, "key-label", nil},
		{"a phone that is not one", "/settings/security",
			[][2]string{{"destination", "+1 not a phone"}, {"sent-type", "sms"}}, "destination", nil},
		{"an address that is not one", "/settings/security",
			[][2]string{{"destination", "not an address"}, {"sent-type", "email"}}, "destination", nil},
		{"email change, wrong password", "/settings/security/email",
			[][2]string{{"email", "olive@example.org"}, {"current_password", "not the password"}}, "current_password", nil},
		{"an API key with a bad permit", "/settings/security/api-keys",
			[][2]string{{"key-name", "certbot"}, {"key-permits", "dns nowhere fly"}, {"key-expiry", "30d"}}, "key-permits", nil},
		{"an API key with no name", "/settings/security/api-keys",
			[][2]string{{"key-name", " "}, {"key-permits", "dns example.com read"}}, "key-name", nil},
		{"an SSH key that is not one", "/settings/security/ssh-keys",
			[][2]string{{"ssh-label", "laptop"}, {"ssh-public-key", "ssh-ed25519 not-a-key"}}, "ssh-public-key", nil},
		{"an SSH key with no name", "/settings/security/ssh-keys",
			[][2]string{{"ssh-label", "  "}, {"ssh-public-key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"}}, "ssh-label", nil},
		{"a token that is not known", "/settings/security/token",
			[][2]string{{"label", "fob"}, {"serial", "NO-SUCH-SERIAL"}, {"code", "123456"}}, "code", nil},
		{"a DNS record with a bad TTL", "/settings/dns/example.com",
			[][2]string{{"record-host", "www"}, {"record-type", "TXT"}, {"record-ttl", "soon"}, {"record-data", "192.0.2.1"}}, "record-ttl", func() {
				// Made here: an owner of zones cannot close the account.
				if _, err := ts.Service.AddZone(context.Background(), "example.com", "olive", core.Meta{}); err != nil {
					t.Fatal(err)
				}
			}},
		{"a DNS record with a TTL of 0", "/settings/dns/example.com",
			[][2]string{{"record-host", "www"}, {"record-ttl", "0"}, {"record-data", "192.0.2.1"}}, "record-ttl", nil},
		{"a DNS record with a bad host", "/settings/dns/example.com",
			[][2]string{{"record-host", "-bad-.www"}, {"record-ttl", "300"}, {"record-data", "192.0.2.1"}}, "record-host", nil},
		{"a DNS record with bad data", "/settings/dns/example.com",
			[][2]string{{"record-host", "www"}, {"record-ttl", "300"}, {"record-data", "not an address"}}, "record-data", nil},
		{"a team with no name", "/settings/teams",
			[][2]string{{"team-name", "   "}}, "team-name", nil},
		{"a user with a bad name", "/admin/users",
			[][2]string{{"new-username", "no spaces please"}, {"new-password", "a long enough passphrase"}, {"new-password2", "a long enough passphrase"}}, "new-username", nil},
		{"a user with a bad email address", "/admin/users",
			[][2]string{{"new-username", "newbie"}, {"new-email", "not an address"}, {"new-password", "a long enough passphrase"}, {"new-password2", "a long enough passphrase"}}, "new-email", nil},
		{"a user whose passwords differ", "/admin/users",
			[][2]string{{"new-username", "newbie"}, {"new-password", "a long enough passphrase"}, {"new-password2", "another long passphrase"}}, "new-password2", nil},
		{"tokens that cannot be read", "/admin/tokens",
			[][2]string{{"seeds", "this is no CSV of tokens"}}, "seeds", nil},
		{"a webhook with bad events", "/admin/webhooks",
			[][2]string{{"url", "https://hooks.example.com/in"}, {"events", "not an event!"}, {"description", "Billing"}}, "events", nil},
		{"a webhook with too long a description", "/admin/webhooks",
			[][2]string{{"url", "https://hooks.example.com/in"}, {"events", "login.*"}, {"description", strings.Repeat("long ", 50)}}, "description", nil},
		{"a PSKC key that is none", "/admin/tokens",
			[][2]string{{"format", "pskc"}, {"seeds", "<KeyContainer/>"}, {"pskc_key", "not hex"}}, "pskc_key", nil},
		{"an audit log filter with a type that is none", "/admin/events",
			[][2]string{{"type", "no.such_type"}, {"account", "someone"}}, "type", nil},
		{"a webhook with a bad URL", "/admin/webhooks",
			[][2]string{{"url", "ftp://hooks.example.com/in"}, {"events", "login.*"}, {"description", "Billing"}}, "url", nil},
	}
	for _, c := range cases {
		if c.before != nil {
			c.before()
		}
		p.open(c.page)
		if got := eval[[]string](p, unboundHints); len(got) > 0 {
			t.Errorf("%s: hints that describe no field: %q", c.page, got)
		}
		send(refused{c.what, c.fields, c.invalid})
	}

	// Renaming an authenticator to nothing: its field, in the list, is
	// marked and keeps what was typed.
	p.open("/settings/security")
	rename := eval[string](p, `document.querySelector("input[id^=rename-]").id`)
	p.submitForm([][2]string{{rename, "   "}})
	check("renaming to nothing", rename)
	kept("renaming to nothing", [][2]string{{rename, "   "}})

	// The forms that follow a first step: a code that is not the one of a
	// new app, of a phone, of a new email address; a signature that is
	// not one for a new SSH key.
	steps := []struct {
		what, page string
		first      [][2]string // the first step's form
		then       [][2]string // the next page's, refused
		invalid    string
	}{
		{"a new app's code, wrong", "/settings/security", [][2]string{{"label", "Tablet"}}, [][2]string{{"code", "abcdef"}}, "code"},
		{"a phone's code, wrong", "/settings/security", [][2]string{{"destination", "+447400123456"}, {"sent-type", "sms"}}, [][2]string{{"code", "abcdef"}}, "code"},
		{"a new address's code, wrong", "/settings/security/email", [][2]string{{"email", "olive@example.org"}, {"current_password", testPassword}}, [][2]string{{"code", "abcdef"}}, "code"},
		{"a new SSH key's signature, not one", "/settings/security/ssh-keys",
			[][2]string{{"ssh-label", "laptop"}, {"ssh-public-key", testenv.SSHKeygen(t, "ed25519", 0).Public}}, [][2]string{{"signature", "not a signature"}}, "signature"},
	}
	for _, c := range steps {
		p.open(c.page)
		p.submitForm(c.first)
		if eval[bool](p, `!!document.getElementById("error")`) {
			t.Fatalf("%s: the first step was refused (at %s)", c.what, p.path())
		}
		send(refused{c.what, c.then, c.invalid})
	}

	// An operator changing a user's address to one that is none.
	p.open("/admin/users/" + userID(t, ts, "oscar") + "/email")
	p.submitForm([][2]string{{"email", "not an address"}})
	check("an operator's change to an address that is none", "email")
	kept("an operator's change to an address that is none", [][2]string{{"email", "not an address"}})

	// A team's own forms: invite a name no account can have.
	p.open("/settings/teams")
	p.submitForm([][2]string{{"team-name", "Ops"}})
	if !strings.HasPrefix(p.path(), "/settings/teams/") {
		t.Fatalf("making a team: at %s", p.path())
	}
	p.submitForm([][2]string{{"member-username", "no spaces please"}, {"member-role", "ops"}})
	check("inviting a name that is none", "member-username")
	kept("inviting a name that is none", [][2]string{{"member-username", "no spaces please"}, {"member-role", "ops"}})
	p.submitForm([][2]string{{"rename-team", "   "}})
	check("renaming the team to nothing", "rename-team")
	kept("renaming the team to nothing", [][2]string{{"rename-team", "   "}})

	// Confirm it's you, once the elevation of the sign-in has lapsed: a
	// wrong code marks its field, and the focus goes there, not to the
	// first field of the form.
	ts.Clock.Add(11 * time.Minute)
	p.open("/settings/security/password")
	p.submitForm([][2]string{{"current_password", testPassword}, {"new_password", "a new long passphrase one"}, {"new_password2", "a new long passphrase one"},
		{"elevate_code", otherCode(testenv.TOTP(t, secret, ts.Clock.Now()))}})
	check("confirm it's you, wrong code", "elevate_code")
	kept("confirm it's you, wrong code", [][2]string{{"current_password", testPassword}, {"new_password", "a new long passphrase one"}, {"new_password2", "a new long passphrase one"},
		{"elevate_code", "000000"}})
	apiKey := [][2]string{{"key-name", "certbot"}, {"key-permits", "dns example.com read"}, {"key-expiry", "1d"},
		{"elevate_code", otherCode(testenv.TOTP(t, secret, ts.Clock.Now()))}}
	p.open("/settings/security/api-keys")
	p.submitForm(apiKey)
	check("an API key, confirm it's you with a wrong code", "elevate_code")
	kept("an API key, confirm it's you with a wrong code", apiKey)

	// A passkey takes the password too: a wrong one, with a right code,
	// marks the password, which comes back empty, and keeps the name.
	// (A minute on, past the short pause the wrong codes above earn.)
	ts.Clock.Add(time.Minute)
	p.open("/settings/security/webauthn?label=Laptop&passkey=1")
	passkey := [][2]string{{"label", "Laptop"}, {"current_password", "not the password"}, {"elevate_code", testenv.TOTP(t, secret, ts.Clock.Now())}}
	p.submitForm(passkey)
	check("a passkey, wrong password", "current_password")
	kept("a passkey, wrong password", passkey[:2])
}
