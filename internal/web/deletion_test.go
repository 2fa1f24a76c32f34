package web_test

import (
	"bytes"
	"context"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestBrowserCloseAccount closes an account in Chromium: from the security
// page to the confirmation, which asks for a code once the elevation has
// lapsed and says so when the password is wrong; once closed, the browser
// is signed out, the name signs in no more, and the holder is mailed.
func TestBrowserCloseAccount(t *testing.T) {
	mb := testenv.NewSMTPServer(t)
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t), mb.Option("Twofold <twofold@example.com>"))
	if _, err := ts.Service.CreateAccount(context.Background(), core.NewAccount{Username: "alice", Email: "alice@example.com", Password: testPassword}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	secret := enrolPhone(t, ts, "alice").secret
	account(t, ts, "bob", false, false) // not the server's last account
	other := newClient(t, ts.URL())
	other.signInWithCode(ts, "alice", secret)
	ts.Clock.Add(30 * time.Second)

	p := newPage(t, ts.URL())
	p.shots = artifactsDir(t)
	p.signInWithCode(ts, "alice", secret)
	ts.Clock.Add(11 * time.Minute) // the elevation of the sign-in lapses

	p.click("#close-account")
	p.wantPath("/settings/security/close")
	if got := p.text("h1"); got != "Close your account?" {
		t.Errorf("heading %q", got)
	}
	if !p.exists("#elevate_code") || !p.exists("#current_password") {
		t.Fatal("the page asks for no code or no password")
	}
	p.fill("#current_password", "not my password")
	p.fillAndSubmit("#elevate_code", testenv.TOTP(t, secret, ts.Clock.Now()), "#confirm")
	if got := p.text("#error"); got != "Your password is wrong." {
		t.Errorf("wrong password: page says %q", got)
	}
	if p.exists("#elevate_code") {
		t.Error("the page asks for a code again right after one was accepted")
	}
	p.screenshot("close-account")
	if _, err := ts.Store.AccountByUsername(context.Background(), "alice"); err != nil {
		t.Fatalf("the account after a wrong password: %v", err)
	}
	p.fillAndSubmit("#current_password", testPassword, "#confirm")
	p.wantPath("/login?m=account_closed_mailed")
	if got := p.text(".flash.ok"); !strings.Contains(got, "Your account is closed") || !strings.Contains(got, "A notice is on its way") {
		t.Errorf("notice after closing: %q", got)
	}
	p.open("/settings/security")
	p.wantPath("/login")

	if r := other.get("/settings/security"); r.url.Path != "/login" {
		t.Errorf("another browser's session after closing: at %s, want /login", r.url)
	}
	if r := newClient(t, ts.URL()).signIn("alice"); r.status != http.StatusUnauthorized || pageError(r.body) != "Wrong username or password." {
		t.Errorf("signing in as the closed account: status %d: %q", r.status, pageError(r.body))
	}
	for n := 1; ; n++ {
		msgs := mb.Wait(t, n, time.Minute)
		if last := msgs[n-1]; bytes.Contains(last.Data, []byte("your account was closed")) {
			if len(last.To) != 1 || last.To[0] != "alice@example.com" {
				t.Errorf("the notice of closing went to %v", last.To)
			}
			break
		}
	}
}

// TestBrowserAdminDeleteAccount deletes a user's account in Chromium from
// its operator page, with the operator's own code, and lands on the list.
func TestBrowserAdminDeleteAccount(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	opSecret := account(t, ts, "opal", true, true)
	account(t, ts, "nina", false, false)
	nina := newClient(t, ts.URL())
	if r := nina.signIn("nina"); r.url.Path != "/settings/security" {
		t.Fatalf("nina signs in: at %s: %s", r.url, pageError(r.body))
	}
	id := userID(t, ts, "nina")

	op := newPage(t, ts.URL())
	op.shots = artifactsDir(t)
	op.signInWithCode(ts, "opal", opSecret)
	ts.Clock.Add(11 * time.Minute) // the elevation of the sign-in lapses
	op.open("/admin/users/" + id)
	op.click("#delete-user")
	op.wantPath("/admin/users/" + id + "/delete")
	if got := op.text("h1"); got != "Delete the account “nina”?" {
		t.Errorf("heading %q", got)
	}
	op.screenshot("admin-delete-account")
	op.fillAndSubmit("#elevate_code", testenv.TOTP(t, opSecret, ts.Clock.Now()), "#confirm")
	op.wantPath("/admin/users?m=account_deleted")
	if got := op.text(".flash.ok"); !strings.Contains(got, "The account is deleted") {
		t.Errorf("notice after deleting: %q", got)
	}
	if r := nina.get("/settings/security"); r.url.Path != "/login" {
		t.Errorf("nina's session after the deletion: at %s, want /login", r.url)
	}
	if r := op.open("/admin/users/" + id); r != http.StatusNotFound {
		t.Errorf("the deleted account's page: status %d, want 404", r)
	}
}

// TestClosePagesRefuse: the pages say at once what keeps an account from
// being closed and offer no button; an operator's own account is closed
// from the security page, not the operator's; closing without the code on
// a session whose elevation lapsed changes nothing.
func TestClosePagesRefuse(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	ctx := context.Background()
	opSecret := account(t, ts, "opal", true, true)
	secret := account(t, ts, "alice", false, true)
	op := newClient(t, ts.URL())
	op.signInWithCode(ts, "opal", opSecret)
	alice := newClient(t, ts.URL())
	alice.signInWithCode(ts, "alice", secret)
	if _, err := ts.Service.AddZone(ctx, "alice.example", "alice", core.Meta{}); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name string
		c    *client
		path string
		want string
	}{
		{"owner of a zone, her page", alice, "/settings/security/close", "alice.example"},
		{"owner of a zone, the operator's page", op, "/admin/users/" + userID(t, ts, "alice") + "/delete", "alice.example"},
		{"the operator's own account", op, "/admin/users/" + userID(t, ts, "opal") + "/delete", "your own account"},
		{"the last operator", op, "/settings/security/close", "last operator"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.c.get(tt.path)
			if r.status != http.StatusOK || !strings.Contains(pageError(r.body), tt.want) || strings.Contains(r.body, `id="confirm"`) {
				t.Errorf("status %d, error %q, want one naming %q and no button", r.status, pageError(r.body), tt.want)
			}
		})
	}
	if err := ts.Service.RemoveZone(ctx, "alice.example", core.Meta{}); err != nil {
		t.Fatal(err)
	}
	ts.Clock.Add(11 * time.Minute)
	r := alice.post("/settings/security/close", url.Values{"current_password": {testPassword}})
	if r.status != http.StatusForbidden {
		t.Errorf("closing without the code once the elevation lapsed: status %d: %s", r.status, pageError(r.body))
	}
	if _, err := ts.Store.AccountByUsername(ctx, "alice"); err != nil {
		t.Errorf("the account after a refused closing: %v", err)
	}
}

// TestCloseAccountSentTwice: the form that closes the account sent twice at
// once (a double click without JavaScript) closes it once, and both
// answers say it is closed and the browser signed out, none that the
// account is not found while still signed in.
func TestCloseAccountSentTwice(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "alice", false, false)
	account(t, ts, "bob", false, false) // not the server's last account
	c := newClient(t, ts.URL())
	c.signIn("alice")
	c.get("/settings/security/close")
	form := url.Values{"csrf": {c.csrf}, "current_password": {testPassword}}
	twin := &client{t: t, base: c.base, http: c.http, csrf: c.csrf} // the same browser
	var got [2]reply
	done := make(chan struct{})
	go func() {
		defer close(done)
		got[1] = twin.postRaw("/settings/security/close", form, nil)
	}()
	got[0] = c.postRaw("/settings/security/close", form, nil)
	<-done
	for i, r := range got {
		m := r.url.Query().Get("m")
		if r.url.Path != "/login" || m != "account_closed" && m != "expired_session" || strings.Contains(r.body, "Signed in as") {
			t.Errorf("sending %d: at %s (%d), want the sign-in page saying the account is closed: %s", i+1, r.url, r.status, pageError(r.body))
		}
	}
	if r := c.get("/settings/security"); r.url.Path != "/login" {
		t.Errorf("after closing, the security page: at %s", r.url)
	}
}

// TestCloseLastAccount: closing the server's last account (one made
// before any operator) lands on the sign-in page saying the account is
// closed, not the first-run text, which points at a setup link this
// server's start never printed; the page says how to make an account now.
// The link the start printed before that account was made stays void with
// no account left (it would make an operator of whoever has it), and the
// sign-in page says so rather than send people to it. On SQLite and
// PostgreSQL.
func TestCloseLastAccount(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			if ts.SetupURL == "" {
				t.Fatal("the start on an empty database made no setup link")
			}
			if r := newClient(t, ts.URL()).get("/login"); !strings.Contains(html.UnescapeString(r.body), "No account exists yet") {
				t.Fatalf("the sign-in page of a new server does not point at the setup link:\n%s", r.body)
			}
			account(t, ts, "alice", false, false)
			c := newClient(t, ts.URL())
			c.signIn("alice")
			c.get("/settings/security/close")
			r := c.post("/settings/security/close", url.Values{"current_password": {testPassword}})
			if r.url.Path != "/login" || r.url.Query().Get("m") != "account_closed" {
				t.Fatalf("closing the last account: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
			if has, err := ts.Service.HasAccounts(t.Context()); err != nil || has {
				t.Fatalf("accounts left after closing the last one: %v %v", has, err)
			}
			got := html.UnescapeString(r.body)
			if strings.Contains(got, "on its way") {
				t.Error("the sign-in page promises a notice to an account without an email address")
			}
			for _, want := range []string{"Your account is closed", "no setup link works now", "twofold user add NAME --operator"} {
				if !strings.Contains(got, want) {
					t.Errorf("the page after closing the last account does not say %q:\n%s", want, r.body)
				}
			}
			if strings.Contains(got, "No account exists yet") {
				t.Errorf("the page after closing the last account shows the first-run text:\n%s", r.body)
			}
			visitor := newClient(t, ts.URL())
			if r := visitor.get(strings.TrimPrefix(ts.SetupURL, ts.URL())); r.status != http.StatusNotFound {
				t.Errorf("the setup link of the start, with every account made since deleted: %d, want 404", r.status)
			}
			got = html.UnescapeString(visitor.get("/login").body)
			if strings.Contains(got, "No account exists yet") || !strings.Contains(got, "no setup link works now") {
				t.Errorf("the sign-in page with no account and no working setup link:\n%s", got)
			}
		})
	}
}
