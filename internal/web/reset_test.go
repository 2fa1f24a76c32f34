package web_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestResetPages: an operator asks for a reset of a user's two-factor on a
// page of its own, with their own code; the user sees it waiting on their
// security page and cancels it there; the operator can cancel one too.
func TestResetPages(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	opSecret := account(t, ts, "opal", true, true)
	account(t, ts, "oscar", true, false)
	ninaSecret := account(t, ts, "nina", false, true)

	op := newClient(t, ts.URL())
	op.signInWithCode(ts, "opal", opSecret)
	r := op.get("/admin/users?q=nina")
	id := regexp.MustCompile(`href="/admin/users/([a-z0-9]+)"`).FindStringSubmatch(r.body)[1]
	if r := op.get("/admin/users/" + id); !strings.Contains(r.body, `href="/admin/users/`+id+`/reset-two-factor" id="reset"`) {
		t.Fatal("the operator's view of nina offers no reset")
	}
	page := op.get("/admin/users/" + id + "/reset-two-factor")
	body := html.UnescapeString(page.body)
	if page.status != 200 || !strings.Contains(body, "Reset two-factor of “nina”?") || !strings.Contains(body, "The reset waits 3 days") {
		t.Fatalf("reset page: status %d: %s", page.status, pageError(page.body))
	}
	if strings.Contains(body, `name="elevate_code"`) {
		t.Error("the reset page asks for a code although the operator's sign-in is fresh")
	}
	// The reset removes the SSH keys too, and a use of one withdraws it,
	// as of the paper key: the operator is told all that it does.
	if !strings.Contains(body, "paper key and SSH keys will be removed") || !strings.Contains(body, "the paper key or an SSH key meanwhile, it is withdrawn") {
		t.Errorf("the reset page does not say that SSH keys go too and that the paper key or an SSH key withdraws it: %s", body)
	}
	if !strings.Contains(body, "They cannot be told of it: the account has no email address.") || strings.Contains(body, "They are emailed now") {
		t.Error("the reset page does not warn that nina, without an email address, cannot be told")
	}
	opID := regexp.MustCompile(`href="/admin/users/([a-z0-9]+)"`).FindStringSubmatch(op.get("/admin/users?q=opal").body)[1]
	if r := op.get("/admin/users/" + opID); strings.Contains(r.body, `id="reset"`) {
		t.Error("the operator's own page offers to reset their own two-factor")
	}
	ts.Clock.Add(11 * time.Minute) // the elevation of the sign-in lapses
	if r := op.get("/admin/users/" + id + "/reset-two-factor"); !strings.Contains(r.body, `name="elevate_code"`) {
		t.Error("the reset page asks for no code once the operator's elevation lapsed")
	}
	if r := op.post("/admin/users/"+id+"/reset-two-factor", url.Values{}); r.status != http.StatusForbidden || pageError(r.body) != "Confirm it's you with a code first." {
		t.Errorf("reset without a code: status %d: %q", r.status, pageError(r.body))
	}
	due := ts.Clock.Now().Add(72 * time.Hour)
	r = op.post("/admin/users/"+id+"/reset-two-factor", url.Values{"elevate_method": {"totp"}, "elevate_code": {testenv.TOTP(t, opSecret, ts.Clock.Now())}})
	if r.status != 200 || r.url.Path != "/admin/users/"+id || !strings.Contains(r.body, "The reset of two-factor is scheduled.") || !strings.Contains(r.body, `id="reset-pending"`) {
		t.Fatalf("reset: at %s, status %d: %s", r.url, r.status, pageError(r.body))
	}
	// This server sends no mail (and nina has no address): neither the
	// notice nor the waiting reset may say she was emailed.
	if body := html.UnescapeString(r.body); strings.Contains(body, "has been emailed") || strings.Count(body, "was not emailed (this server sends no mail)") != 2 {
		t.Errorf("after a reset of an account without an address, the page says: %s", body)
	}
	if r := op.get("/admin/users"); !strings.Contains(r.body, `id="resets"`) || !strings.Contains(r.body, `<td><a href="/admin/users/`+id+`">nina</a></td>`) {
		t.Error("the user list does not show nina's waiting reset")
	}
	if r := op.post("/admin/users/"+id+"/reset-two-factor", url.Values{}); r.status != http.StatusConflict {
		t.Errorf("a second reset: status %d, want 409: %s", r.status, pageError(r.body))
	} else if msg := html.UnescapeString(pageError(r.body)); !strings.Contains(msg, "already waiting, due "+due.UTC().Format("2 Jan 2006, 15:04 UTC")) ||
		strings.Contains(msg, due.UTC().Format(time.RFC3339)) {
		// Told as the other pages tell times, in UTC with the zone named.
		t.Errorf("a second reset: the page says %q, want the due time as %q", msg, due.UTC().Format("2 Jan 2006, 15:04 UTC"))
	}

	// An operator without two-factor cannot.
	oscar := newClient(t, ts.URL())
	oscar.signIn("oscar")
	if r := oscar.get("/admin/users/" + id + "/reset-two-factor"); !strings.Contains(r.body, "needs two-factor on your own account") || strings.Contains(r.body, `id="confirm"`) {
		t.Error("an operator without two-factor is offered the reset")
	}

	// nina sees it waiting, and cancels it with her code.
	nina := newClient(t, ts.URL())
	ts.Clock.Add(30 * time.Second)
	nina.signInWithCode(ts, "nina", ninaSecret)
	sec := nina.get("/settings/security")
	if !strings.Contains(sec.body, `id="reset-pending"`) || !strings.Contains(sec.body, "Asked for by an operator") {
		t.Fatal("nina's security page does not show the waiting reset")
	}
	// She signed in with her authenticator since: the page says the reset
	// will be withdrawn, not that her ways in will be removed.
	if !strings.Contains(sec.body, "will be withdrawn") || strings.Contains(sec.body, "will be removed") {
		t.Errorf("after a sign-in with her code, nina's page does not say the reset will be withdrawn: %s", sec.body)
	}
	if r := nina.get("/settings/security/reset/cancel"); r.status != 200 || !strings.Contains(r.body, "Cancel the reset of your two-factor?") {
		t.Fatalf("cancel page: status %d: %s", r.status, pageError(r.body))
	}
	r = nina.post("/settings/security/reset/cancel", url.Values{})
	if r.url.Path != "/settings/security" || !strings.Contains(r.body, "The reset of two-factor was cancelled.") || strings.Contains(r.body, `id="reset-pending"`) {
		t.Fatalf("cancel: at %s: %s", r.url, pageError(r.body))
	}
	if r := nina.get("/settings/security/reset/cancel"); r.url.Path != "/settings/security" {
		t.Errorf("the cancel page with nothing waiting: at %s, want the security page", r.url)
	}

	// The operator asks again and cancels it from the user's page.
	ts.Clock.Add(30 * time.Second)
	code := url.Values{"elevate_method": {"totp"}, "elevate_code": {testenv.TOTP(t, opSecret, ts.Clock.Now())}}
	if r := op.post("/admin/users/"+id+"/reset-two-factor", code); !strings.Contains(r.body, `id="cancel-reset"`) {
		t.Fatalf("second request: %s", pageError(r.body))
	}
	if r := op.get("/admin/users/" + id + "/reset-two-factor/cancel"); r.status != 200 || !strings.Contains(html.UnescapeString(r.body), "requested by operator opal") {
		t.Fatalf("operator's cancel page: status %d: %s", r.status, pageError(r.body))
	}
	r = op.post("/admin/users/"+id+"/reset-two-factor/cancel", url.Values{})
	if r.url.Path != "/admin/users/"+id || !strings.Contains(r.body, "The reset of two-factor was cancelled.") || strings.Contains(r.body, `id="reset-pending"`) {
		t.Fatalf("operator's cancel: at %s: %s", r.url, pageError(r.body))
	}
	if r := op.get("/admin/users"); strings.Contains(r.body, `id="resets"`) {
		t.Error("the user list shows a waiting reset after both were cancelled")
	}
	if r := op.get("/admin/users/" + id); strings.Count(r.body, "Reset of two-factor cancelled") != 2 {
		t.Error("nina's events do not show both cancellations")
	}
}

// TestBrowserReset: in Chromium, an operator resets a user's two-factor from
// the user's page, and the user, signing in, sees it waiting and cancels it.
func TestBrowserReset(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	opSecret := account(t, ts, "opal", true, true)
	ninaSecret := account(t, ts, "nina", false, true)

	op := newPage(t, ts.URL())
	op.shots = artifactsDir(t)
	op.signInWithCode(ts, "opal", opSecret)
	op.open("/admin/users?q=nina")
	op.click(`table.users a[href^="/admin/users/"]`)
	if !op.exists("#no-locks") {
		t.Error("the page of an account without failed attempts does not say so")
	}
	op.click("#reset")
	op.wantPath("/admin/users/")
	if got := op.text("h1"); got != "Reset two-factor of “nina”?" {
		t.Errorf("reset page heading %q", got)
	}
	op.screenshot("admin-reset")
	op.click("#confirm")
	if got := op.text(".flash.ok"); !strings.Contains(got, "The reset of two-factor is scheduled.") {
		t.Errorf("notice after the reset: %q", got)
	}
	if got := op.text("#reset-pending"); !strings.Contains(got, "requested by operator opal") {
		t.Errorf("the user page after the reset says %q", got)
	}
	op.screenshot("admin-user-reset")

	ts.Clock.Add(30 * time.Second)
	nina := newPage(t, ts.URL())
	nina.shots = artifactsDir(t)
	nina.signInWithCode(ts, "nina", ninaSecret)
	if got := nina.text("#reset-pending"); !strings.Contains(got, "A reset of your two-factor was asked for, and will be withdrawn.") {
		t.Fatalf("nina's security page: %q", got)
	}
	nina.screenshot("security-reset")
	nina.click("#cancel-reset")
	nina.wantPath("/settings/security/reset/cancel")
	nina.click("#confirm")
	nina.wantPath("/settings/security?m=reset_cancelled")
	if nina.exists("#reset-pending") {
		t.Error("the reset still shows after it was cancelled")
	}
}

// TestResetPageSaysOperatorChangedAddress: after an operator replaced a
// user's address, the operator's reset page says so, and that the address
// replaced is emailed about the reset too; a first address set where there
// was none replaces nothing.
func TestResetPageSaysOperatorChangedAddress(t *testing.T) {
	ts, _, op := operatorFixture(t)
	id := userID(t, ts, "nina")
	page := "/admin/users/" + id + "/reset-two-factor"
	const warning = "An operator changed this account's email address on "
	for i, email := range []string{"nina@one.example", "nina@evil.example"} {
		if r := op.post("/admin/users/"+id+"/email", url.Values{"email": {email}}); r.url.Query().Get("m") != "email_changed_for_user" {
			t.Fatalf("change to %s: at %s: %s", email, r.url, pageError(r.body))
		}
		body := html.UnescapeString(op.get(page).body)
		if got := strings.Contains(body, warning); got != (i == 1) {
			t.Errorf("after the change to %s, the reset page warns of it: %v, want %v", email, got, i == 1)
		}
		if i == 1 && !strings.Contains(body, warning+ts.Clock.Now().UTC().Format("2 Jan 2006, 15:04 UTC")+".") ||
			i == 1 && !strings.Contains(body, "The address it replaced is emailed about the reset too.") {
			t.Errorf("the reset page after an operator's change of address:\n%s", body)
		}
	}
}

// TestAdminResetFormSentTwice: the operator's "Reset two-factor" form sent
// twice with the same one-time token (a double click whose first answer the
// browser dropped) asks for one reset, and the second sending answers 200
// saying that this form asked for it and when it is due, asking for nothing
// again. A new page's form while the reset waits is another request: 409.
func TestAdminResetFormSentTwice(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	_, op := signedIn(t, ts, "opal", true)
	account(t, ts, "nina", false, true)
	id := regexp.MustCompile(`href="/admin/users/([a-z0-9]+)"`).FindStringSubmatch(op.get("/admin/users?q=nina").body)[1]
	path := "/admin/users/" + id + "/reset-two-factor"
	form := url.Values{"once": {onceOf(t, op.get(path).body, path)}}
	due := ts.Clock.Now().Add(72 * time.Hour)
	if r := op.post(path, url.Values{"once": form["once"]}); r.status != http.StatusOK || !strings.Contains(r.body, `id="reset-pending"`) {
		t.Fatalf("first sending: at %s, status %d: %s", r.url, r.status, pageError(r.body))
	}
	ts.Clock.Add(time.Minute)
	r := op.post(path, url.Values{"once": form["once"]})
	body := html.UnescapeString(r.body)
	if r.status != http.StatusOK || !strings.Contains(body, "This form was sent twice: its first sending asked for the reset") ||
		!strings.Contains(body, "It is due on "+due.UTC().Format("2 Jan 2006, 15:04 UTC")) || strings.Contains(body, `id="confirm"`) {
		t.Errorf("second sending: status %d, want 200 saying the form asked for the reset and when it is due: %s", r.status, body)
	}
	if w, found, err := ts.Store.TwoFactorReset(t.Context(), id); err != nil || !found || !w.Due.Equal(due) {
		t.Errorf("after the second sending the waiting reset is %+v (found %v, %v), want the first, due %s", w, found, err, due)
	}
	if r := op.post(path, url.Values{"once": {onceOf(t, op.get(path).body, path)}}); r.status != http.StatusConflict {
		t.Errorf("a new page's form while the reset waits: status %d, want 409", r.status)
	}
}
