package web_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/pushdevice"
	"github.com/twofold/twofold/internal/testenv"
)

// Tests of the "confirm it's you" pages that come before a change made
// from another page: their links to the other methods, and the return of
// their buttons ("Send a push", "Text me a code"), lead to the same page
// with what was typed.

var (
	inputTag    = regexp.MustCompile(`<input ([^>]*)>`)
	nameAttr    = regexp.MustCompile(`\bname="([^"]*)"`)
	valueAttr   = regexp.MustCompile(`\bvalue="([^"]*)"`)
	textareaTag = regexp.MustCompile(`(?s)<textarea [^>]*name="([^"]*)"[^>]*>(.*?)</textarea>`)
	selectTag   = regexp.MustCompile(`(?s)<select [^>]*name="([^"]*)"[^>]*>(.*?)</select>`)
	selected    = regexp.MustCompile(`<option value="([^"]*)" selected>`)
)

// formFields returns the fields a browser sends with the POST form of body
// whose action is action, as the page fills them in: its inputs that have
// a value, its text areas and its selected options (the CSRF token is left
// to the client; a button is no field). It fails when there is no such
// form.
func formFields(t *testing.T, body, action string) url.Values {
	t.Helper()
	m := regexp.MustCompile(`(?s)<form method="post" action="` + regexp.QuoteMeta(action) + `"[^>]*>(.*?)</form>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the page has no form that posts to %s: %s", action, pageError(body))
	}
	f := url.Values{}
	for _, in := range inputTag.FindAllStringSubmatch(m[1], -1) {
		name, value := nameAttr.FindStringSubmatch(in[1]), valueAttr.FindStringSubmatch(in[1])
		if name != nil && value != nil && name[1] != "csrf" {
			f.Add(name[1], html.UnescapeString(value[1]))
		}
	}
	for _, ta := range textareaTag.FindAllStringSubmatch(m[1], -1) {
		f.Set(ta[1], html.UnescapeString(ta[2]))
	}
	for _, sel := range selectTag.FindAllStringSubmatch(m[1], -1) {
		if o := selected.FindStringSubmatch(sel[2]); o != nil {
			f.Set(sel[1], html.UnescapeString(o[1]))
		}
	}
	return f
}

// TestAddConfirmPagesKeepTheFlow: adding a push device, a security key, a
// passkey or a phone, once the sign-in's elevation has lapsed, asks to
// confirm it's you on a page whose link to "a recovery code" leads to the
// same page (not to the security page) with the name, the phone and the
// passkey choice, never the password; the form there, sent with a
// recovery code, adds what was asked for. A bad name in such a link is
// told at once, and once the session is elevated the link goes to the
// security page, where the form is. On SQLite and PostgreSQL.
func TestAddConfirmPagesKeepTheFlow(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := testenv.NewSMSGateway(t)
			ts := testenv.NewServer(t, dsn(t), g.Option())
			k := accountWithKeys(t, ts, "rolf")
			c := newClient(t, ts.URL())
			c.signInWithCode(ts, "rolf", k.secret)

			for i, tc := range []struct {
				name, path string
				form       url.Values // what the security page's form sends
				keep       map[string]string
				password   bool
				added      func(r reply) bool
			}{
				{"push device", "/settings/security/push", url.Values{"label": {`Work & "laptop"`}},
					map[string]string{"label": `Work & "laptop"`}, false,
					func(r reply) bool { return strings.Contains(r.body, `id="enrol-uri"`) }},
				{"security key", "/settings/security/webauthn", url.Values{"label": {"YubiKey <5>"}},
					map[string]string{"label": "YubiKey <5>"}, false,
					func(r reply) bool { return strings.Contains(r.body, "Add your security key") }},
				{"passkey", "/settings/security/webauthn", url.Values{"label": {"This laptop"}, "passkey": {"1"}},
					map[string]string{"label": "This laptop", "passkey": "1"}, true,
					func(r reply) bool { return strings.Contains(r.body, "Add your passkey") }},
				{"phone", "/settings/security/sent", url.Values{"type": {"sms"}, "destination": {"+447400123456"}, "label": {"Work phone"}},
					map[string]string{"type": "sms", "destination": "+447400123456", "label": "Work phone"}, false,
					func(r reply) bool {
						return strings.HasPrefix(r.url.Path, "/settings/security/sent/") && strings.Contains(r.body, `id="sent-to"`)
					}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					ts.Clock.Add(11 * time.Minute) // any elevation lapses
					r := c.post(tc.path, tc.form)
					if r.status != http.StatusOK || !strings.Contains(r.body, `name="elevate_code"`) {
						t.Fatalf("adding without a fresh code: status %d, want the page asking for one: %s", r.status, pageError(r.body))
					}
					link := methodLink(t, r.body, "recovery_code")
					if link.Path != tc.path {
						t.Errorf("the link to confirm with a recovery code leads to %s, want %s", link.Path, tc.path)
					}
					for k, v := range tc.keep {
						if link.Query().Has(k) || len(v) > 1 && strings.Contains(link.RawQuery, url.QueryEscape(v)) {
							t.Errorf("the link carries %s=%q in clear: %s", k, v, link)
						}
					}
					if !link.Query().Has("kept") {
						t.Errorf("the link carries nothing of what was typed: %s", link)
					}
					if strings.Contains(link.RawQuery, "password") {
						t.Errorf("the link carries a password: %s", link)
					}
					r = c.get(link.RequestURI())
					if r.status != http.StatusOK || r.url.Path != tc.path || !strings.Contains(r.body, "A recovery code") {
						t.Fatalf("GET %s: at %s (%d), want the same page asking for a recovery code: %s", link, r.url, r.status, pageError(r.body))
					}
					f := formFields(t, r.body, tc.path)
					for k, v := range tc.keep {
						if got := f.Get(k); got != v {
							t.Errorf("after switching, the form holds %s=%q, want %q", k, got, v)
						}
					}
					if tc.password != strings.Contains(r.body, `name="current_password"`) {
						t.Errorf("after switching, the form asks for the password: %v, want %v", !tc.password, tc.password)
					}
					if tc.password {
						f.Set("current_password", testPassword)
					}
					f.Set("elevate_code", k.codes[i])
					if r = c.post(tc.path, f); !tc.added(r) {
						t.Errorf("confirming with a recovery code: at %s (%d), not added: %s", r.url, r.status, pageError(r.body))
					}
				})
			}

			ts.Clock.Add(11 * time.Minute)
			r := c.get("/settings/security/webauthn?method=recovery_code&label=Phone")
			if r.url.Path != "/settings/security/webauthn" || !strings.Contains(r.body, "already have an authenticator") {
				t.Errorf("a link with a name taken: at %s (%d): %q, want the page saying so", r.url, r.status, pageError(r.body))
			}
			// Elevated, nothing is left to confirm on these pages.
			c.post("/settings/security/push", url.Values{"label": {"Spare"}, "elevate_method": {"recovery_code"}, "elevate_code": {k.codes[len(k.codes)-1]}})
			for _, path := range []string{"/settings/security/push?label=A", "/settings/security/webauthn?label=B", "/settings/security/sent?destination=%2B447400123457"} {
				if r := c.get(path); r.url.Path != "/settings/security" {
					t.Errorf("GET %s, elevated: at %s, want the security page", path, r.url)
				}
			}
		})
	}
}

// TestPushOnlyAddsAnotherDevice: on an account whose only factor is a push
// device, adding another push device or a security key asks to confirm
// it's you with "Send a push": the button comes back to the same page with
// the number to type on the device and the name (as typed since), and
// with the push approved the form adds it. On SQLite and PostgreSQL.
func TestPushOnlyAddsAnotherDevice(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			account(t, ts, "pia", false, false)
			c := newClient(t, ts.URL())
			c.signIn("pia")
			r := c.post("/settings/security/push", url.Values{"label": {"Laptop"}})
			m := regexp.MustCompile(`id="enrol-uri">([^<]+)<`).FindStringSubmatch(r.body)
			if m == nil {
				t.Fatalf("adding the first push device: %d %s", r.status, pageError(r.body))
			}
			st, _, err := pushdevice.Enrol(context.Background(), http.DefaultClient, html.UnescapeString(m[1]))
			if err != nil {
				t.Fatal(err)
			}
			d := &pushdevice.Client{State: st, HTTP: http.DefaultClient, Now: ts.Clock.Now}

			for _, tc := range []struct {
				name, path, label, typed string
				added                    func(r reply) bool
			}{
				{"push device", "/settings/security/push", "Second", "Second",
					func(r reply) bool { return strings.Contains(r.body, `id="enrol-uri"`) }},
				{"security key", "/settings/security/webauthn", "Key", "Key 2",
					func(r reply) bool { return strings.Contains(r.body, "Add your security key") }},
			} {
				t.Run(tc.name, func(t *testing.T) {
					ts.Clock.Add(11 * time.Minute) // the last elevation lapses
					r := c.post(tc.path, url.Values{"label": {tc.label}})
					ret := regexp.MustCompile(`id="send-elevation-push"[^>]*value="([^"]*)"`).FindStringSubmatch(r.body)
					if ret == nil {
						t.Fatalf("no “Send a push”: %d %s", r.status, pageError(r.body))
					}
					f := formFields(t, r.body, tc.path)
					f.Set("label", tc.typed)
					f.Set("return", html.UnescapeString(ret[1]))
					r = c.post("/settings/security/elevate/push", f)
					number := regexp.MustCompile(`id="elevate-number">([0-9]+)<`).FindStringSubmatch(r.body)
					if r.url.Path != tc.path || number == nil {
						t.Fatalf("after “Send a push”: at %s (%d), number shown: %v, want %s with it: %s", r.url, r.status, number != nil, tc.path, pageError(r.body))
					}
					f = formFields(t, r.body, tc.path)
					if f.Get("label") != tc.typed {
						t.Errorf("after “Send a push” the name is %q, want %q", f.Get("label"), tc.typed)
					}
					cs, err := d.Challenges(context.Background(), time.Second)
					if err != nil || len(cs) != 1 || cs[0].What != "confirm it's you" {
						t.Fatalf("device sees %+v (%v), want a request to confirm it's her", cs, err)
					}
					if status, err := d.Approve(context.Background(), cs[0].ID, number[1]); err != nil || status != "approved" {
						t.Fatalf("approve: %q %v", status, err)
					}
					if r = c.post(tc.path, f); !tc.added(r) || !strings.Contains(r.body, html.EscapeString(tc.typed)) {
						t.Errorf("continuing after the approval: at %s (%d), %q not added: %s", r.url, r.status, tc.typed, pageError(r.body))
					}
				})
			}
		})
	}
}

// TestRenewPushAsksToConfirm: "Show a new enrolment code" of a push device
// not enrolled yet, once the elevation has lapsed, asks to confirm it's
// you on its own page, whose other methods lead back to it; confirmed, it
// shows a new code. With nothing to confirm that page goes to the security
// page, and so does one of a device that is gone. On SQLite and PostgreSQL.
func TestRenewPushAsksToConfirm(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			k := accountWithKeys(t, ts, "rita")
			c := newClient(t, ts.URL())
			c.signInWithCode(ts, "rita", k.secret)
			r := c.post("/settings/security/push", url.Values{"label": {"Laptop"}})
			uri := regexp.MustCompile(`id="enrol-uri">([^<]+)<`).FindStringSubmatch(r.body)
			if uri == nil {
				t.Fatalf("add push: %d %s", r.status, pageError(r.body))
			}
			ts.Clock.Add(11 * time.Minute)
			m := regexp.MustCompile(`id="renew-([a-z0-9]+)"`).FindStringSubmatch(c.get("/settings/security").body)
			if m == nil {
				t.Fatal("the security page offers no new enrolment code")
			}
			renew := "/settings/security/push/" + m[1] + "/renew"
			r = c.post(renew, url.Values{})
			if r.status != http.StatusOK || !strings.Contains(r.body, `name="elevate_code"`) || !strings.Contains(html.UnescapeString(r.body), "Show a new enrolment code for “Laptop”?") {
				t.Fatalf("a new code without a fresh check: status %d, want the page asking to confirm: %s", r.status, pageError(r.body))
			}
			link := methodLink(t, r.body, "recovery_code")
			if link.Path != renew {
				t.Errorf("the link to confirm with a recovery code leads to %s, want %s", link.Path, renew)
			}
			r = c.get(link.RequestURI())
			if r.url.Path != renew || !strings.Contains(r.body, "A recovery code") {
				t.Fatalf("GET %s: at %s (%d), want the same page asking for a recovery code", link, r.url, r.status)
			}
			f := formFields(t, r.body, renew)
			f.Set("elevate_code", k.codes[0])
			r = c.post(renew, f)
			again := regexp.MustCompile(`id="enrol-uri">([^<]+)<`).FindStringSubmatch(r.body)
			if again == nil || again[1] == uri[1] {
				t.Fatalf("confirmed: at %s (%d), want a new enrolment code: %s", r.url, r.status, pageError(r.body))
			}
			if r := c.get(renew); r.url.Path != "/settings/security" {
				t.Errorf("GET %s, elevated: at %s, want the security page", renew, r.url)
			}
			ts.Clock.Add(11 * time.Minute)
			if r := c.get("/settings/security/push/nosuchdevice/renew"); r.url.RawQuery != "m=enrol_gone" {
				t.Errorf("the page of a device that is gone: at %s, want the security page saying so", r.url)
			}
		})
	}
}

// TestConfirmSwitchKeepsTyping: on the API keys page, the page that
// changes the email address and the SSH keys page, the links to the other
// ways of confirming carry what was typed (the key's name, permits and
// expiry; the new address; the SSH key's name and public key) sealed for
// the session, never in clear and never the password, and the page they
// lead to shows it again, to that session only; the form sent from there
// does what was asked. On SQLite and PostgreSQL.
func TestConfirmSwitchKeepsTyping(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mb := testenv.NewSMTPServer(t)
			ts := testenv.NewServer(t, dsn(t), mb.Option("Twofold <twofold@example.com>"))
			mailedAccount(t, ts, "emma", false)
			k := enrolPhone(t, ts, "emma")
			kp := testenv.SSHKeygen(t, "ed25519", 0)
			c := newClient(t, ts.URL())
			c.signInWithCode(ts, "emma", k.secret)
			other := accountWithKeys(t, ts, "olga")
			c2 := newClient(t, ts.URL())
			c2.signInWithCode(ts, "olga", other.secret)

			for i, tc := range []struct {
				name, path string
				form       url.Values
				keep       []string
				done       func(r reply) bool
			}{
				{"api key", "/settings/security/api-keys",
					url.Values{"name": {"certbot & co"}, "permits": {"dns example.com/_acme-challenge/TXT write\naccount * read"}, "expiry": {"30d"}},
					[]string{"name", "permits", "expiry"},
					func(r reply) bool { return strings.Contains(r.body, `id="key-secret"`) }},
				{"email", "/settings/security/email",
					url.Values{"email": {"emma+new@example.com"}, "current_password": {testPassword}},
					[]string{"email"},
					func(r reply) bool { return strings.Contains(r.body, `id="sent-to"`) }},
				{"ssh key", "/settings/security/ssh-keys",
					url.Values{"label": {"laptop & co"}, "public_key": {strings.TrimSpace(kp.Public)}},
					[]string{"label", "public_key"},
					func(r reply) bool { return strings.HasPrefix(r.url.Path, "/settings/security/ssh-keys/") }},
			} {
				t.Run(tc.name, func(t *testing.T) {
					ts.Clock.Add(11 * time.Minute) // any elevation lapses
					r := c.post(tc.path, tc.form)
					link := methodLink(t, r.body, "recovery_code")
					if link.Path != tc.path || strings.Contains(link.RawQuery, "password") {
						t.Errorf("the link to confirm with a recovery code is %s: want %s, without the password", link, tc.path)
					}
					for _, k := range tc.keep {
						if v := tc.form.Get(k); link.Query().Has(k) || strings.Contains(link.RawQuery, url.QueryEscape(v)) {
							t.Errorf("the link carries %s=%q in clear: %s", k, v, link)
						}
					}
					// A browser not signed in is sent to sign in with the
					// link as it was, sealed: nothing typed in its address.
					r = newClient(t, ts.URL()).get(link.RequestURI())
					for _, k := range tc.keep {
						if v := tc.form.Get(k); len(v) > 3 && (strings.Contains(r.url.String(), url.QueryEscape(v)) || strings.Contains(html.UnescapeString(r.body), v)) {
							t.Errorf("signed out, following the link shows %s=%q (at %s)", k, v, r.url)
						}
					}
					// Another session, given the link, sees none of it.
					r = c2.get(link.RequestURI())
					if r.status != http.StatusOK {
						t.Fatalf("GET %s from another session: status %d: %s", link, r.status, pageError(r.body))
					}
					for _, k := range tc.keep {
						if v := tc.form.Get(k); len(v) > 3 && strings.Contains(html.UnescapeString(r.body), v) {
							t.Errorf("another session's page shows %s=%q", k, v)
						}
					}
					r = c.get(link.RequestURI())
					if r.status != http.StatusOK || !strings.Contains(r.body, "A recovery code") {
						t.Fatalf("GET %s: status %d, want the page asking for a recovery code", link, r.status)
					}
					f := formFields(t, r.body, tc.path)
					for _, k := range tc.keep {
						if got := strings.ReplaceAll(f.Get(k), "\r\n", "\n"); got != tc.form.Get(k) {
							t.Errorf("after switching, the form holds %s=%q, want %q", k, got, tc.form.Get(k))
						}
					}
					if f.Has("current_password") {
						t.Error("after switching, the form holds the password")
					}
					f.Set("current_password", tc.form.Get("current_password"))
					f.Set("elevate_code", k.codes[i])
					if r = c.post(tc.path, f); !tc.done(r) {
						t.Errorf("confirming with a recovery code: at %s (%d): %s", r.url, r.status, pageError(r.body))
					}
					// Confirming it's you renewed the session's cookie; the
					// link, made before, still opens for the session.
					if tc.path == "/settings/security/api-keys" {
						f := formFields(t, c.get(link.RequestURI()).body, tc.path)
						for _, k := range tc.keep {
							if got := strings.ReplaceAll(f.Get(k), "\r\n", "\n"); got != tc.form.Get(k) {
								t.Errorf("after the cookie's renewal, the link's form holds %s=%q, want %q", k, got, tc.form.Get(k))
							}
						}
					}
				})
			}
		})
	}
}
