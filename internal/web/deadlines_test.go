package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestPushExpiredSaysSo: the second step by push says until when the push
// works, as a time (which a reload keeps), not "in 2 minutes"; "I approved
// it" pressed after the push expired says that it expired and to send a new
// one, not that a code was not accepted: no code was asked for.
func TestPushExpiredSaysSo(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	base := "http://" + ts.Addr()
	_, factorID, _ := pushAccount(t, ts, "pat")
	c := newClient(t, base)
	c.signIn("pat")
	sent := ts.Clock.Now()
	r := c.post("/login/verify/push", url.Values{"factor_id": {factorID}})
	number := regexp.MustCompile(`id="push-number">([0-9]{2})<`).FindStringSubmatch(r.body)
	if number == nil {
		t.Fatalf("sending a push: at %s, no number: %s", r.url, pageError(r.body))
	}
	deadline := sent.Add(2 * time.Minute).UTC()
	if want := `<time datetime="` + deadline.Format(time.RFC3339) + `">`; !strings.Contains(r.body, want) || strings.Contains(r.body, "expires in 2 minutes") {
		t.Errorf("the push's page does not say until when it works (%s):\n%s", want, r.body)
	}
	expires := regexp.MustCompile(`name="push_expires" value="([0-9]+)"`).FindStringSubmatch(r.body)
	if expires == nil {
		t.Fatalf("“I approved it” does not carry the push's deadline:\n%s", r.body)
	}
	approved := url.Values{"method": {"push"}, "number": {number[1]}, "label": {"Laptop"}, "push_expires": {expires[1]}}

	// Too early, the page keeps the deadline, not a new one.
	ts.Clock.Add(time.Minute)
	if r := c.post("/login/verify", approved); !strings.Contains(r.body, "Not approved yet") || !strings.Contains(r.body, `<time datetime="`+deadline.Format(time.RFC3339)+`">`) {
		t.Errorf("“I approved it” too early: the page says %q, and not the push's own deadline", pageError(r.body))
	} else if got := pageTitle(r.body); got != "Second step · Twofold" || showsError(r.body) {
		// Waiting for the device is no error: neither the title nor an
		// alert says so.
		t.Errorf("“I approved it” too early: title %q, alert %q; want %q and none", got, pageError(r.body), "Second step · Twofold")
	}

	ts.Clock.Add(time.Minute + time.Second)
	r = c.post("/login/verify", approved)
	if got := pageError(r.body); !strings.Contains(got, "push request expired") || !strings.Contains(got, "Send a new push") || strings.Contains(got, "code") {
		t.Errorf("“I approved it” after the push expired: the page says %q, want that it expired and to send a new push", got)
	}
	if got := pageTitle(r.body); got != "Error: Second step · Twofold" {
		t.Errorf("after the push expired: title %q, want %q", got, "Error: Second step · Twofold")
	}
	if r.status != http.StatusUnauthorized || r.url.Path != "/login/verify" || !strings.Contains(r.body, `id="push-`+factorID+`"`) {
		t.Errorf("after the push expired: %d at %s, want the second step with its push button", r.status, r.url)
	}
}

// TestSecondStepStatesItsDeadline: the second step says until when the
// sign-in waits for it (5 minutes from the password); once that is past, the
// login page that says it expired has the username filled in again, taken
// from the expired login's own record, which only the browser that signed in
// holds. A browser without that login's cookie gets no name.
func TestSecondStepStatesItsDeadline(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret := account(t, ts, "lena", false, true)
	c := newClient(t, ts.URL())
	start := ts.Clock.Now()
	r := c.signIn("lena")
	deadline := start.Add(5 * time.Minute).UTC()
	if !regexp.MustCompile(`id="login-deadline">[^<]*5 minutes[^<]*<time datetime="` + regexp.QuoteMeta(deadline.Format(time.RFC3339)) + `">`).MatchString(r.body) {
		t.Errorf("the second step does not say it lasts 5 minutes, until %s:\n%s", deadline, r.body)
	}
	// A reload keeps the deadline.
	ts.Clock.Add(time.Minute)
	if r := c.get("/login/verify"); !strings.Contains(r.body, `<time datetime="`+deadline.Format(time.RFC3339)+`">`) {
		t.Error("the second step opened again shows another deadline")
	}
	// A link that says the sign-in expired, while it has not, shows no name.
	if r := c.get("/login?m=expired"); strings.Contains(r.body, `value="lena"`) {
		t.Error("the login page names the account of a sign-in that has not expired")
	}

	c = newClient(t, ts.URL())
	c.signIn("lena")
	ts.Clock.Add(5*time.Minute + time.Second)
	r = c.totp(ts, secret)
	if r.url.RawQuery != "m=expired" || !regexp.MustCompile(`id="username"[^>]*value="lena"`).MatchString(r.body) {
		t.Errorf("after the sign-in expired: at %s, want the login page with lena filled in:\n%s", r.url, r.body)
	}
	if r := c.get("/login?m=expired"); strings.Contains(r.body, `value="lena"`) {
		t.Error("the login page names the expired sign-in's account again: its cookie was not cleared")
	}

	// Opening the second step late does the same.
	c = newClient(t, ts.URL())
	c.signIn("lena")
	ts.Clock.Add(5*time.Minute + time.Second)
	if r := c.get("/login/verify"); r.url.RawQuery != "m=expired" || !regexp.MustCompile(`id="username"[^>]*value="lena"`).MatchString(r.body) {
		t.Errorf("the second step opened late: at %s, want the login page with lena filled in", r.url)
	}
	if r := newClient(t, ts.URL()).get("/login?m=expired"); strings.Contains(r.body, `value="lena"`) {
		t.Error("a browser that did not sign in gets the name")
	}
}
