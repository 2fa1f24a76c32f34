package web_test

import (
	"bytes"
	"context"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/credhash"
	"github.com/twofold/twofold/internal/testenv"
	"github.com/twofold/twofold/internal/web"
)

// userID returns the id of the account named username, as the operator's
// search finds it.
func userID(t *testing.T, ts *testenv.Server, username string) string {
	t.Helper()
	a, err := ts.Store.AccountByUsername(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// TestBrowserSuspend: in Chromium, an operator whose confirmation has
// lapsed suspends a user from the user's page, confirming with a code
// from oathtool on a page that says what happens; the user is signed out
// and cannot sign in, the list and the page show the suspension; the
// operator lifts it, and the user signs in again. The holder is mailed
// both times.
func TestBrowserSuspend(t *testing.T) {
	mb := testenv.NewSMTPServer(t)
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t), mb.Option("Twofold <twofold@example.com>"))
	opSecret := account(t, ts, "opal", true, true)
	if _, err := ts.Service.CreateAccount(context.Background(), core.NewAccount{Username: "nina", Email: "nina@example.com", Password: testPassword}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	nina := newClient(t, ts.URL())
	if r := nina.signIn("nina"); r.url.Path != "/settings/security" {
		t.Fatalf("nina signs in: at %s: %s", r.url, pageError(r.body))
	}

	op := newPage(t, ts.URL())
	op.shots = artifactsDir(t)
	op.signInWithCode(ts, "opal", opSecret)
	ts.Clock.Add(11 * time.Minute) // the elevation of the sign-in lapses
	op.open("/admin/users?q=nina")
	if op.exists("table.users .suspended") {
		t.Error("the list shows nina suspended before she is")
	}
	op.click(`table.users a[href^="/admin/users/"]`)
	if op.exists("#suspended-note") || op.exists("#unsuspend") {
		t.Error("nina's page shows a suspension before there is one")
	}
	op.click("#suspend")
	op.wantPath("/admin/users/" + userID(t, ts, "nina") + "/suspend")
	if got := op.text("h1"); got != "Suspend “nina”?" {
		t.Errorf("suspend page heading %q", got)
	}
	says := strings.Join(op.texts(".card p"), "\n")
	for _, want := range []string{"signed out everywhere", "API keys", "reset of their two-factor that is waiting is cancelled", "They are emailed."} {
		if !strings.Contains(says, want) {
			t.Errorf("the suspend page does not say %q:\n%s", want, says)
		}
	}
	op.screenshot("admin-suspend")
	op.fillAndSubmit("#elevate_code", testenv.TOTP(t, opSecret, ts.Clock.Now()), "#confirm")
	op.wantPath("/admin/users/" + userID(t, ts, "nina") + "?m=suspended")
	if got := op.text(".flash.ok"); !strings.Contains(got, "The account is suspended") {
		t.Errorf("notice after suspending: %q", got)
	}
	if !op.exists("#suspended-note") || !op.exists("h1 #suspended") || op.exists("#suspend") {
		t.Error("nina's page does not show her suspended, or still offers to suspend")
	}
	op.screenshot("admin-user-suspended")

	if r := nina.get("/settings/security"); r.url.Path != "/login" {
		t.Errorf("nina's session after the suspension: at %s, want /login", r.url)
	}
	if r := nina.signIn("nina"); r.status != http.StatusForbidden || !strings.Contains(pageError(r.body), "suspended") {
		t.Errorf("nina signing in while suspended: status %d: %q", r.status, pageError(r.body))
	}
	op.open("/admin/users?q=nina")
	if got := op.text("table.users .suspended"); got != "suspended" {
		t.Errorf("the list shows nina as %q, want suspended", got)
	}
	op.screenshot("admin-users-suspended")

	op.click(`table.users a[href^="/admin/users/"]`)
	op.click("#unsuspend")
	if got := op.text("h1"); got != "Lift the suspension of “nina”?" {
		t.Errorf("lift page heading %q", got)
	}
	if op.exists("#elevate_code") {
		t.Error("lifting asks for a code again within the confirmation's few minutes")
	}
	op.click("#confirm")
	op.wantPath("/admin/users/" + userID(t, ts, "nina") + "?m=unsuspended")
	if op.exists("#suspended-note") || !op.exists("#suspend") {
		t.Error("nina's page still shows her suspended after the suspension was lifted")
	}
	events := strings.Join(op.texts(".events li"), "\n")
	if !strings.Contains(events, "Account suspended by an operator") || !strings.Contains(events, "Suspension lifted by an operator") {
		t.Errorf("nina's events do not show the suspension and its lifting:\n%s", events)
	}
	if r := nina.signIn("nina"); r.url.Path != "/settings/security" {
		t.Errorf("nina signing in after the suspension was lifted: at %s: %s", r.url, pageError(r.body))
	}
	msgs := mb.Wait(t, 2, time.Minute)
	if !bytes.Contains(msgs[0].Data, []byte("your account was suspended")) || !bytes.Contains(msgs[1].Data, []byte("suspension was lifted")) {
		t.Errorf("mails to nina:\n%s\n%s", msgs[0].Data, msgs[1].Data)
	}
}

// operatorFixture starts a server with opal, an operator with TOTP signed
// in as op with its secret, oscar, an operator without two-factor, and
// nina, a user.
func operatorFixture(t *testing.T) (*testenv.Server, string, *client) {
	t.Helper()
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	opSecret, op := signedIn(t, ts, "opal", true)
	account(t, ts, "oscar", true, false)
	account(t, ts, "nina", false, false)
	return ts, opSecret, op
}

// TestSuspendPagesRefuse: an operator cannot suspend their own account or
// another operator's, the pages say so and offer no button; an operator
// without two-factor is told to add it; a suspension asked without the
// code once the confirmation lapsed changes nothing.
func TestSuspendPagesRefuse(t *testing.T) {
	ts, opSecret, op := operatorFixture(t)
	for _, name := range []string{"opal", "oscar"} {
		id := userID(t, ts, name)
		if r := op.get("/admin/users/" + id); strings.Contains(r.body, `id="suspend"`) {
			t.Errorf("%s's page offers to suspend", name)
		}
		if r := op.get("/admin/users/" + id + "/suspend"); strings.Contains(r.body, `id="confirm"`) || !showsError(r.body) {
			t.Errorf("the page to suspend %s offers the button, or says nothing", name)
		}
		if r := op.post("/admin/users/"+id+"/suspend", url.Values{}); r.status != http.StatusForbidden {
			t.Errorf("suspending %s: status %d, want 403", name, r.status)
		}
	}
	nina := userID(t, ts, "nina")
	if r := op.get("/admin/users/" + nina + "/unsuspend"); strings.Contains(r.body, `id="confirm"`) {
		t.Error("the page to lift a suspension that is not there offers the button")
	}
	ts.Clock.Add(11 * time.Minute)
	if r := op.post("/admin/users/"+nina+"/suspend", url.Values{}); r.status != http.StatusForbidden || pageError(r.body) != "Confirm it's you with a code first." {
		t.Errorf("suspending without a code: status %d: %q", r.status, pageError(r.body))
	}
	if r := op.post("/admin/users/nope/suspend", url.Values{"elevate_method": {"totp"}, "elevate_code": {testenv.TOTP(t, opSecret, ts.Clock.Now())}}); r.status != http.StatusNotFound {
		t.Errorf("suspending no account: status %d, want 404", r.status)
	}
	oscar := newClient(t, ts.URL())
	oscar.signIn("oscar")
	if r := oscar.get("/admin/users/" + nina + "/suspend"); strings.Contains(r.body, `id="confirm"`) || !strings.Contains(pageError(r.body), "two-factor on your own account") {
		t.Errorf("an operator without two-factor is offered the suspension: %q", pageError(r.body))
	}
	if r := oscar.post("/admin/users/"+nina+"/suspend", url.Values{}); r.status != http.StatusForbidden {
		t.Errorf("suspension by an operator without two-factor: status %d, want 403", r.status)
	}
	if a, err := ts.Store.AccountByID(context.Background(), nina); err != nil || a.Suspended {
		t.Errorf("nina suspended by a refused request (%v)", err)
	}
}

// TestCreateAccountPage: an operator creates an account from the user
// list with the rules of POST /v1/admin/users: a taken name, a bad
// password or name, and two passwords that differ are refused with the
// form kept (never the passwords) and nothing made; the new account's page
// follows, and its holder signs in with the password.
func TestCreateAccountPage(t *testing.T) {
	ts, opSecret, op := operatorFixture(t)
	if r := op.get("/admin/users"); !strings.Contains(r.body, `id="create-account"`) || strings.Contains(r.body, `name="elevate_code"`) {
		t.Fatal("the user list offers no form to create an account, or asks for a code although the sign-in is fresh")
	}
	// The hint says what the password rules refuse, as on the other
	// password forms: "password123" has 8 characters, and is refused.
	if r := op.get("/admin/users"); !strings.Contains(r.body, `id="new-password-hint">At least 8 characters, not a common word or pattern`) {
		t.Error("the password hint of the form does not say what is refused")
	}
	form := func(username, password, password2 string) url.Values {
		return url.Values{"username": {username}, "email": {username + "@example.com"}, "password": {password}, "password2": {password2}}
	}
	tests := []struct {
		name   string
		form   url.Values
		status int
	}{
		{"PasswordsDiffer", form("newton", testPassword, testPassword+"!"), http.StatusBadRequest},
		{"NameTaken", form("nina", testPassword, testPassword), http.StatusConflict},
		{"NameTakenOtherCase", form("NINA", testPassword, testPassword), http.StatusConflict},
		{"PasswordTooShort", form("newton", "short", "short"), http.StatusBadRequest},
		{"PasswordTooEasy", form("newton", "password123", "password123"), http.StatusBadRequest},
		{"BadName", form("new ton", testPassword, testPassword), http.StatusBadRequest},
		{"BadEmail", url.Values{"username": {"newton"}, "email": {"not an address"}, "password": {testPassword}, "password2": {testPassword}}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := op.post("/admin/users", tt.form)
			if r.status != tt.status || !showsError(r.body) {
				t.Errorf("status %d, error %q; want %d with an error", r.status, pageError(r.body), tt.status)
			}
			if !strings.Contains(r.body, `value="`+html.EscapeString(tt.form.Get("username"))+`"`) {
				t.Error("the form does not keep the username")
			}
			if strings.Contains(r.body, tt.form.Get("password")) {
				t.Error("the page shows the password typed")
			}
		})
	}
	if r := op.get("/admin/users?q=newton"); strings.Contains(r.body, ">newton</a>") {
		t.Fatal("a refused form made an account")
	}

	ts.Clock.Add(11 * time.Minute) // the elevation lapses: the form asks for a code
	if r := op.get("/admin/users"); !strings.Contains(r.body, `name="elevate_code"`) {
		t.Error("the form asks for no code once the operator's confirmation lapsed")
	}
	if r := op.post("/admin/users", form("newton", testPassword, testPassword)); r.status != http.StatusForbidden || pageError(r.body) != "Confirm it's you with a code first." {
		t.Errorf("without a code: status %d: %q", r.status, pageError(r.body))
	}
	f := form("newton", testPassword, testPassword)
	f.Set("elevate_method", "totp")
	f.Set("elevate_code", testenv.TOTP(t, opSecret, ts.Clock.Now()))
	r := op.post("/admin/users", f)
	id := userID(t, ts, "newton")
	if r.status != 200 || r.url.Path != "/admin/users/"+id || !strings.Contains(r.body, "Account created.") || !strings.Contains(r.body, "<h1>newton") {
		t.Fatalf("create: at %s, status %d: %s", r.url, r.status, pageError(r.body))
	}
	if !strings.Contains(r.body, "Account created</") {
		t.Error("the new account's events do not show its creation")
	}
	newton := newClient(t, ts.URL())
	if r := newton.signIn("newton"); r.url.Path != "/settings/security" {
		t.Errorf("newton signs in: at %s: %s", r.url, pageError(r.body))
	}

	// An operator without two-factor is told to add it, and cannot.
	oscar := newClient(t, ts.URL())
	oscar.signIn("oscar")
	if r := oscar.get("/admin/users"); !strings.Contains(r.body, `id="create-needs-2fa"`) || strings.Contains(r.body, `id="create-account"`) {
		t.Error("an operator without two-factor is offered the form")
	}
	if r := oscar.post("/admin/users", form("olga", testPassword, testPassword)); r.status != http.StatusForbidden {
		t.Errorf("create by an operator without two-factor: status %d, want 403", r.status)
	}
}

// pageRoutes returns every route of ts's pages, by pattern ("POST
// /admin/users/{id}/suspend"), for tests that walk them all, so that a
// route added later is walked too.
func pageRoutes(t *testing.T, ts *testenv.Server) map[string]http.HandlerFunc {
	t.Helper()
	h, err := credhash.NewHasher(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	pages, err := web.New(web.Options{Service: ts.Service, Hasher: h})
	if err != nil {
		t.Fatal(err)
	}
	return pages.Routes()
}

// walkOperatorRoutes asks every operator page, read or write, as c, a
// signed-in person who is no operator, with {id} as id, and wants 403
// from each; and again signed out, wanting the sign-in page (or 403 to a
// write). It checks that a write made no account.
func walkOperatorRoutes(t *testing.T, ts *testenv.Server, c *client, id string) {
	t.Helper()
	n := 0
	for pattern := range pageRoutes(t, ts) {
		method, path, _ := strings.Cut(pattern, " ")
		if path != "/admin" && !strings.HasPrefix(path, "/admin/") {
			continue
		}
		n++
		path = strings.ReplaceAll(strings.ReplaceAll(path, "{$}", ""), "{id}", id)
		form := url.Values{"username": {"mallory"}, "password": {testPassword}, "password2": {testPassword}}
		anon := newClient(t, ts.URL())
		for _, who := range []*client{c, anon} {
			var r reply
			if method == "GET" {
				r = who.get(path)
			} else {
				r = who.post(path, form)
			}
			switch {
			case who == c && r.status != http.StatusForbidden:
				t.Errorf("%s %s as a user: status %d, want 403", method, path, r.status)
			case who == anon && r.url.Path != "/login" && (method == "GET" || r.status != http.StatusForbidden):
				t.Errorf("%s %s signed out: at %s, status %d; want /login (or 403 to a POST)", method, path, r.url, r.status)
			}
		}
	}
	if n < 16 {
		t.Errorf("walked %d operator routes, want at least 16", n)
	}
	if _, err := ts.Store.AccountByUsername(context.Background(), "mallory"); err == nil {
		t.Error("a refused POST made an account")
	}
}

// TestCreateAccountAccentedName: a name with an accented letter (José) is
// refused, and the form's hint and the error say that only the letters a-z
// and A-Z are taken: "letters" alone reads as if é were one of them, and
// the operator is left to guess what is wrong.
func TestCreateAccountAccentedName(t *testing.T) {
	_, _, op := operatorFixture(t)
	if r := op.get("/admin/users"); !strings.Contains(r.body, `id="new-username-hint">Letters a-z and A-Z (no accents)`) {
		t.Error("the username hint does not say which letters are taken")
	}
	r := op.post("/admin/users", url.Values{"username": {"José"}, "email": {"jose@example.com"}, "password": {testPassword}, "password2": {testPassword}})
	if r.status != http.StatusBadRequest || !strings.Contains(pageError(r.body), "a-z and A-Z (no accents") {
		t.Errorf("an accented name: status %d, error %q; want 400 saying which letters are taken", r.status, pageError(r.body))
	}
}

// TestOperatorSignsHimselfOut: an operator who signs their own account out
// everywhere from their user's page is told so on the sign-in page, as
// after their own "sign out everywhere", rather than that their session
// ended; the confirmation page says this browser is signed out too.
func TestOperatorSignsHimselfOut(t *testing.T) {
	ts, _, op := operatorFixture(t)
	id := userID(t, ts, "opal")
	if r := op.get("/admin/users/" + id + "/logout"); !strings.Contains(r.body, "This is your own account") {
		t.Errorf("the confirmation page does not say it signs this browser out: %s", pageError(r.body))
	}
	r := op.post("/admin/users/"+id+"/logout", url.Values{})
	if r.url.Path != "/login" || r.url.Query().Get("m") != "logged_out_everywhere" || !strings.Contains(r.body, "You are signed out everywhere") {
		t.Errorf("signing out oneself everywhere: at %s (%d): %s", r.url, r.status, pageError(r.body))
	}
	if r := op.get("/settings/security"); r.url.Path != "/login" {
		t.Errorf("the operator's browser afterwards: at %s, want /login", r.url)
	}
}

// TestOperatorSignsAUserOut: an operator sees where a user is signed in on
// the user's page and, with a fresh code, signs them out everywhere; the
// user's browser is then signed out.
func TestOperatorSignsAUserOut(t *testing.T) {
	ts, opSecret, op := operatorFixture(t)
	nina := newClient(t, ts.URL())
	nina.signIn("nina")
	id := userID(t, ts, "nina")
	r := op.get("/admin/users/" + id)
	if !strings.Contains(r.body, `id="user-sessions"`) || !strings.Contains(r.body, "Signed in (1)") {
		t.Fatalf("the user's page does not list the session:\n%s", pageError(r.body))
	}
	ts.Clock.Add(11 * time.Minute) // the operator's sign-in elevation lapses
	if r := op.post("/admin/users/"+id+"/logout", url.Values{}); r.status != http.StatusForbidden {
		t.Fatalf("without a code: status %d, want 403", r.status)
	}
	if r := nina.get("/settings/security"); r.url.Path != "/settings/security" {
		t.Fatalf("nina is signed out by a refused request: at %s", r.url)
	}
	r = op.post("/admin/users/"+id+"/logout", url.Values{"elevate_method": {"totp"}, "elevate_code": {testenv.TOTP(t, opSecret, ts.Clock.Now())}})
	if r.url.Query().Get("m") != "signed_out_everywhere" || !strings.Contains(r.body, "No session.") {
		t.Fatalf("sign out: at %s: %s", r.url, pageError(r.body))
	}
	if r := nina.get("/settings/security"); r.url.Path != "/login" {
		t.Errorf("nina after being signed out: at %s, want /login", r.url)
	}
	// Sent again, with nothing left signed in, it says so, and records and
	// tells nothing more.
	r = op.post("/admin/users/"+id+"/logout", url.Values{})
	if r.url.Query().Get("m") != "nothing_signed_in" || !strings.Contains(pageNotice(r.body), "Nothing to sign out") {
		t.Errorf("sign out sent again: at %s, notice %q: %s", r.url, pageNotice(r.body), pageError(r.body))
	}
	if evs := eventsOf(t, ts, "nina", "session.ended_everywhere"); len(evs) != 1 {
		t.Errorf("after the sign-out sent again: %d session.ended_everywhere events of nina, want 1", len(evs))
	}
	// Her API keys are listed on her page too, never their secrets.
	a, err := ts.Service.Authenticate(t.Context(), loginToken(t, ts, "nina"))
	if err != nil {
		t.Fatal(err)
	}
	key, secret, err := ts.Service.CreateAPIKey(t.Context(), a, core.NewAPIKey{Name: "deploy", Permits: []twofold.Permit{{Service: "account", Resource: "*", Actions: []string{"read"}}}}, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if r := op.get("/admin/users/" + id); !strings.Contains(r.body, `id="user-api-keys"`) || !strings.Contains(r.body, "deploy") || strings.Contains(r.body, secret) {
		t.Errorf("the user's page does not list the key, or shows its secret")
	}
	// And revoked from there, with a fresh code.
	revoke := "/admin/users/" + id + "/api-keys/" + key.ID + "/revoke"
	if r := op.get(revoke); !strings.Contains(r.body, `id="confirm"`) || !strings.Contains(r.body, "deploy") {
		t.Fatalf("the revoke page: %s", pageError(r.body))
	}
	ts.Clock.Add(11 * time.Minute)
	if r := op.post(revoke, url.Values{}); r.status != http.StatusForbidden {
		t.Fatalf("revoke without a code: status %d, want 403", r.status)
	}
	r = op.post(revoke, url.Values{"elevate_method": {"totp"}, "elevate_code": {testenv.TOTP(t, opSecret, ts.Clock.Now())}})
	if r.url.Query().Get("m") != "api_key_revoked_for_user" || strings.Contains(r.body, `id="user-api-keys"`) {
		t.Fatalf("revoke: at %s: %s", r.url, pageError(r.body))
	}
	if _, err := ts.Service.AuthenticateAPIKey(t.Context(), key.ID, secret, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeUnauthorized {
		t.Errorf("the revoked key still authenticates: %v", err)
	}
	if r := op.get(revoke); r.status != http.StatusNotFound {
		t.Errorf("the revoke page of a revoked key: status %d, want 404", r.status)
	}
	if r := nina.post("/admin/users/"+id+"/logout", url.Values{}); r.status != http.StatusForbidden && r.url.Path != "/login" {
		t.Errorf("a non-operator signing someone out: status %d at %s", r.status, r.url)
	}
}

// TestOperatorChangesAnEmail: an operator changes a user's email address
// from the user's page, with a fresh code; a bad address is refused with
// the form kept, and the operator's own address is not changed this way.
func TestOperatorChangesAnEmail(t *testing.T) {
	ts, opSecret, op := operatorFixture(t)
	id := userID(t, ts, "nina")
	page := "/admin/users/" + id + "/email"
	if r := op.get("/admin/users/" + id); !strings.Contains(r.body, `id="change-email"`) {
		t.Fatalf("the user's page offers no change of address:\n%s", pageError(r.body))
	} else if strings.Contains(r.body, `id="email-changed-by-operator"`) {
		t.Errorf("the user's page says an operator changed the address before any did")
	}
	if r := op.get(page); !strings.Contains(r.body, `id="confirm"`) || !strings.Contains(r.body, `name="email"`) {
		t.Fatalf("the change page: %s", pageError(r.body))
	}
	ts.Clock.Add(11 * time.Minute) // the operator's sign-in elevation lapses
	if r := op.post(page, url.Values{"email": {"nina@new.example"}}); r.status != http.StatusForbidden {
		t.Fatalf("without a code: status %d, want 403", r.status)
	}
	code := func() string { return testenv.TOTP(t, opSecret, ts.Clock.Now()) }
	r := op.post(page, url.Values{"email": {"not an address"}, "elevate_method": {"totp"}, "elevate_code": {code()}})
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, `value="not an address"`) {
		t.Fatalf("a bad address: status %d: %s", r.status, pageError(r.body))
	}
	if a, _ := ts.Store.AccountByID(t.Context(), id); a.Email != "" {
		t.Fatalf("a refused change stored %q", a.Email)
	}
	ts.Clock.Add(31 * time.Second) // a fresh code; the elevation holds anyway
	r = op.post(page, url.Values{"email": {"nina@new.example"}, "elevate_method": {"totp"}, "elevate_code": {code()}})
	if r.url.Query().Get("m") != "email_changed_for_user" || !strings.Contains(r.body, "nina@new.example") {
		t.Fatalf("change: at %s: %s", r.url, pageError(r.body))
	}
	if a, _ := ts.Store.AccountByID(t.Context(), id); a.Email != "nina@new.example" {
		t.Errorf("stored address %q", a.Email)
	}
	// The user's page says when an operator last changed the address.
	when := `<time datetime="` + ts.Clock.Now().UTC().Format(time.RFC3339) + `">`
	if i := strings.Index(r.body, `id="email-changed-by-operator"`); i < 0 || !strings.Contains(r.body[i:], when) {
		t.Errorf("the user's page does not say when an operator changed the address (want %s):\n%s", when, pageError(r.body))
	}
	// Sent again, or with the address in other capitals, it changes
	// nothing and says so: no second event, and the page still dates the
	// change when it was made.
	ts.Clock.Add(time.Minute)
	for _, again := range []string{"nina@new.example", "Nina@New.Example"} {
		r = op.post(page, url.Values{"email": {again}})
		if r.url.Query().Get("m") != "email_same" || !strings.Contains(pageNotice(r.body), "nothing was changed") {
			t.Errorf("%s sent again: at %s, notice %q: %s", again, r.url, pageNotice(r.body), pageError(r.body))
		}
		if i := strings.Index(r.body, `id="email-changed-by-operator"`); i < 0 || !strings.Contains(r.body[i:], when) {
			t.Errorf("%s sent again: the user's page no longer dates the change at %s", again, when)
		}
	}
	if a, _ := ts.Store.AccountByID(t.Context(), id); a.Email != "nina@new.example" {
		t.Errorf("stored address after sending it again %q", a.Email)
	}
	if evs := eventsOf(t, ts, "nina", "account.email_changed"); len(evs) != 1 {
		t.Errorf("%d account.email_changed events of nina, want 1", len(evs))
	}
	self := userID(t, ts, "opal")
	if r := op.get("/admin/users/" + self); strings.Contains(r.body, `id="change-email"`) {
		t.Error("the operator's own page offers the operators' change of address")
	}
	if r := op.post("/admin/users/"+self+"/email", url.Values{"email": {"opal@new.example"}}); r.status != http.StatusForbidden {
		t.Errorf("changing one's own address as an operator: status %d, want 403", r.status)
	}
	if a, _ := ts.Store.AccountByID(t.Context(), self); a.Email == "opal@new.example" {
		t.Error("the operator's own address was changed")
	}
}

// TestSuspendSentAgain: a suspension, or its lifting, sent again (a reload,
// a double click, a second operator) changes and records nothing the
// second time, and the page says so instead of telling of a change. On
// SQLite and PostgreSQL.
func TestSuspendSentAgain(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			_, op := signedIn(t, ts, "opal", true)
			account(t, ts, "nina", false, false)
			nina := userID(t, ts, "nina")
			for _, step := range []struct{ path, event, done string }{
				{"/suspend", "account.suspended", "The account is suspended"},
				{"/unsuspend", "account.unsuspended", "The suspension is lifted"},
			} {
				for i, want := range []string{strings.TrimPrefix(step.path, "/") + "ed", "already_" + strings.TrimPrefix(step.path, "/") + "ed"} {
					r := op.post("/admin/users/"+nina+step.path, url.Values{})
					if r.url.Path != "/admin/users/"+nina || r.url.Query().Get("m") != want {
						t.Fatalf("%s, sent %d times: at %s (%d %s), want ?m=%s", step.path, i+1, r.url, r.status, pageError(r.body), want)
					}
					if said := strings.Contains(r.body, step.done); said != (i == 0) {
						t.Errorf("%s, sent %d times: the page tells of the change: %v, want %v", step.path, i+1, said, i == 0)
					}
					if i == 1 && !strings.Contains(r.body, "nothing was changed") {
						t.Errorf("%s sent again: the page does not say nothing was changed", step.path)
					}
				}
				if evs := eventsOf(t, ts, "nina", step.event); len(evs) != 1 {
					t.Errorf("%s sent twice: %d %s events, want 1", step.path, len(evs), step.event)
				}
			}
		})
	}
}

// TestOperatorFormsKeepWhatIsTyped: the operator's forms that ask to
// confirm it's you (create an account, change a user's address) carry
// what is typed into them through a "confirm it's you" button (a code
// texted or mailed, a push, an SSH challenge: keep), so that coming back
// to the form loses none of it; the page of a changed address shows the
// address carried back.
func TestOperatorFormsKeepWhatIsTyped(t *testing.T) {
	ts, _, op := operatorFixture(t)
	id := userID(t, ts, "nina")
	ts.Clock.Add(11 * time.Minute) // the operator's sign-in elevation lapses
	for page, want := range map[string][]string{
		"/admin/users":                  {"email", "username"},
		"/admin/users/" + id + "/email": {"email"},
	} {
		r := op.get(page)
		kept := formFields(t, r.body, page)["keep"]
		slices.Sort(kept)
		if !slices.Equal(kept, want) {
			t.Errorf("%s: the form keeps %v through its \"confirm it's you\" buttons, want %v", page, kept, want)
		}
	}
	if r := op.get("/admin/users/" + id + "/email?method=totp&email=nina%40kept.example"); !strings.Contains(r.body, `value="nina@kept.example"`) {
		t.Errorf("the change of address, back from a \"confirm it's you\" button: the address is not in the form: %s", pageError(r.body))
	}
	if r := op.get("/admin/users?method=totp&username=newbie&email=newbie%40example.com"); !strings.Contains(r.body, `value="newbie"`) || !strings.Contains(r.body, `value="newbie@example.com"`) {
		t.Errorf("the new account's form, back from a \"confirm it's you\" button: the fields are not in the form: %s", pageError(r.body))
	}
}
