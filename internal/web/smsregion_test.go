package web_test

import (
	"html"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/factor/sms"
	"github.com/twofold/twofold/internal/testenv"
)

// TestSecondStepPhoneOutsideAllowList: a phone added while --sms-countries
// admitted its region, which it no longer does, is not offered on the
// second-step page (no "Text me a code", no link to it) but shown as not
// usable, with its masked number and why; the recovery code is offered in
// its place, and signs in.
func TestSecondStepPhoneOutsideAllowList(t *testing.T) {
	g := testenv.NewSMSGateway(t)
	dsn := testenv.SQLiteDSN(t)
	wide := testenv.NewServer(t, dsn, g.Option(), func(c *config.Config) { c.SMSCountries = "1,GB" })
	account(t, wide, "bob", false, false)
	const jamaica = "+18762101234"
	conf := confirmPhone(t, wide, g, sessionOf(t, wide, "bob", ""), jamaica)
	id := conf.Factor.ID

	narrow := testenv.NewServer(t, dsn, g.Option(), func(c *config.Config) { c.KeyFile = wide.Config.KeyFile })
	c := newClient(t, narrow.URL())
	r := c.signIn("bob")
	if r.url.Path != "/login/verify" {
		t.Fatalf("sign-in went to %s, want the second step", r.url)
	}
	for _, page := range []reply{r, c.get("/login/verify?method=sms")} {
		body := html.UnescapeString(page.body)
		if !strings.Contains(body, `id="unavailable-`+id+`"`) || !strings.Contains(body, sms.Mask(jamaica)) ||
			!strings.Contains(body, "no longer sends text messages to this number's country") {
			t.Errorf("the second step at %s does not say the phone cannot be used:\n%s", page.url, body)
		}
		for _, offer := range []string{`id="send-` + id + `"`, `id="use-sms"`, `action="/login/verify/send"`} {
			if strings.Contains(body, offer) {
				t.Errorf("the second step at %s offers the phone (%s)", page.url, offer)
			}
		}
		if !strings.Contains(body, `name="method" value="recovery_code"`) {
			t.Errorf("the second step at %s does not ask for a recovery code", page.url)
		}
	}
	sent := len(g.Messages())
	if r := c.post("/login/verify", url.Values{"method": {"recovery_code"}, "code": {conf.RecoveryCodes[0]}}); r.url.Path != "/settings/security" {
		t.Fatalf("sign-in with a recovery code: at %s: %s", r.url, pageError(r.body))
	}
	if n := len(g.Messages()); n != sent {
		t.Errorf("the gateway got %d messages, want none", n-sent)
	}
	// Signed in: the security page says why the phone cannot be used, and
	// once the sign-in's elevation is over, "confirm it's you" does not
	// offer to text it.
	if body := html.UnescapeString(c.get("/settings/security").body); !strings.Contains(body, "factor-unavailable") ||
		!strings.Contains(body, "no longer sends text messages to this number's country") {
		t.Errorf("the security page does not mark the phone unusable:\n%s", body)
	}
	narrow.Clock.Add(time.Hour)
	page := c.get("/settings/security/close")
	for _, offer := range []string{`value="sms"`, `id="send-elevation-code"`, `elevate_factor" value="` + id} {
		if strings.Contains(page.body, offer) {
			t.Errorf("confirm it's you at %s offers the phone (%s)", page.url, offer)
		}
	}
	if !strings.Contains(page.body, `name="elevate_method" value="recovery_code"`) {
		t.Errorf("confirm it's you at %s does not ask for a recovery code:\n%s", page.url, page.body)
	}
}
