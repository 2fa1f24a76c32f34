package httpapi_test

import (
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// hiddenInUA are characters a client can put in its User-Agent to make the
// text around it read otherwise: a text-direction override, a zero-width
// space, a C1 control (CSI), a Hangul filler.
var hiddenInUA = []string{"\u202e", "\u200b", "\u009b", "\u3164"}

// TestNewSignInMailQuotesTheUserAgent: whoever signs in chooses the
// User-Agent, a thief with the password too. The mail that warns the holder
// of a sign-in from a new browser quotes it, shortened, as what the client
// called itself, so that it cannot pass for the server's words; and the
// hidden characters in it (a text-direction override that would turn the
// rest of the line around, zero-width, C1 and filler characters) are
// replaced where the request is taken in, so that neither the mail, nor the
// audit event, nor the list of sessions carries them.
func TestNewSignInMailQuotesTheUserAgent(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "bob")
		signInAs(t, s, "bob", "laptop") // the first: news to nobody
		s.Service.Wait()
		const words = "Firefox on your own laptop, the sign-in you made yourself; nothing to do, and please ignore the rest of this automatic message. "
		ua := words + strings.Join(hiddenInUA, "x")
		thief := signInAs(t, s, "bob", ua)

		subject, body := mailTo(t, mb, 1, "bob@example.com")
		if !strings.Contains(subject, "a sign-in from a new browser or place") {
			t.Fatalf("mail %q:\n%s", subject, body)
		}
		for _, h := range hiddenInUA {
			if strings.Contains(body, h) {
				t.Errorf("the mail carries %+q:\n%s", h, body)
			}
		}
		if strings.Contains(body, "please ignore the rest") || !strings.Contains(body, `called itself "Firefox on your own laptop, the sign-in …"`) {
			t.Errorf("the mail does not quote the user agent shortened:\n%s", body)
		}

		// The audit event and the sessions list hold the user agent with
		// each hidden character replaced, the rest as sent.
		want := words + strings.Repeat("\uFFFDx", len(hiddenInUA)-1) + "\uFFFD"
		found := false
		for _, x := range thief.Do(t, "GET", "/v1/me/events?limit=50", nil).JSON["events"].([]any) {
			e := x.(map[string]any)
			if e["type"] == "login.succeeded" && strings.HasPrefix(e["user_agent"].(string), "Firefox on your own laptop") {
				found = true
				if got := e["user_agent"]; got != want {
					t.Errorf("event's user agent %+q, want %+q", got, want)
				}
			}
		}
		if !found {
			t.Error("no login.succeeded event of the thief's sign-in")
		}
		if _, ok := sessionsOf(t, thief)[want]; !ok {
			t.Errorf("sessions: %v, want one with the user agent %+q", sessionsOf(t, thief), want)
		}
	})
}

// TestWebhookDescriptionIsOneLine: an operator's webhook description is
// shown on the operators' pages and in the audit log; one with a line
// break, an escape or a text-direction override is refused, not stored,
// as is one longer than 200 characters (not cut short); one of 200
// characters is kept whole.
func TestWebhookDescriptionIsOneLine(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn)
		for name, d := range map[string]string{
			"line feed":          "panel\nsecond line",
			"carriage return":    "panel\rforged",
			"escape":             "panel\x1b[2J",
			"direction override": "panel \u202elenap",
			"zero-width space":   "pa\u200bnel",
			"201 characters":     strings.Repeat("é", 201),
		} {
			r := f.opc.Do(t, "POST", "/v1/admin/webhooks", map[string]any{"url": "https://hooks.example.com/x", "description": d})
			if r.Status != 400 || r.Problem() != "invalid" || r.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("description with %s: got %d %s, want a 400 invalid problem", name, r.Status, r.Body)
			}
		}
		if r := f.opc.Do(t, "GET", "/v1/admin/webhooks", nil); len(r.JSON["webhooks"].([]any)) != 0 {
			t.Errorf("webhooks after refusals: %s", r.Body)
		}
		r := f.opc.Do(t, "POST", "/v1/admin/webhooks", map[string]any{"url": "https://hooks.example.com/x", "description": "  Panel — événements  "})
		if r.Status != 201 || r.JSON["webhook"].(map[string]any)["description"] != "Panel — événements" {
			t.Errorf("a plain description: got %d %s", r.Status, r.Body)
		}
		long := strings.Repeat("é", 200)
		r = f.opc.Do(t, "POST", "/v1/admin/webhooks", map[string]any{"url": "https://hooks.example.com/y", "description": long})
		if r.Status != 201 || r.JSON["webhook"].(map[string]any)["description"] != long {
			t.Errorf("a description of 200 characters: got %d %s", r.Status, r.Body)
		}
	})
}

// TestNamesThatCouldPassForAnother: a name (a factor's label, an API key's,
// an SSH key's, a team's) with a filler or another character that shows as
// nothing is refused, as is one made only of such characters or of
// combining marks; and a factor's or SSH key's label that would show as
// another of the account's (full-width or mathematical letters, a lone
// overlay mark, a variation selector) is a conflict.
func TestNamesThatCouldPassForAnother(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, phone := phoneUser(t, s, "lena")
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": phone.paperKey}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		tablet := startEnrol(t, c, map[string]any{"type": "totp", "label": "tablet"})
		hidden := map[string]string{
			"Hangul filler":           "phone\u3164",
			"halfwidth Hangul filler": "phone\uffa0",
			"choseong filler":         "phone\u115f",
			"jungseong filler":        "phone\u1160",
			"blank braille":           "phone\u2800",
			"grapheme joiner":         "phone\u034f",
			"private use":             "phone\ue000",
			"noncharacter":            "phone\ufdd0",
			"C1 control":              "phone\u009b",
			"only a filler":           "\u3164",
			"only blank braille":      "\u2800\u2800",
			"only combining marks":    "\u0336\u0336",
			"marks and a space":       "\u0301 \u0336",
			"fillers inside a name":   "ph\u3164one",
			"another default-ignored": "phone\u2065",
		}
		for name, label := range hidden {
			r := c.Do(t, "PATCH", "/v1/me/factors/"+tablet.id, map[string]string{"label": label})
			if r.Status != 400 || r.Problem() != "invalid" {
				t.Errorf("factor label with %s: got %d %s, want 400 invalid", name, r.Status, r.Body)
			}
		}
		for name, label := range map[string]string{
			"overlay mark":       "phone\u0336",
			"full-width":         "ｐｈｏｎｅ",
			"mathematical bold":  "𝐩𝐡𝐨𝐧𝐞",
			"variation selector": "phone\ufe0f",
			"upper case":         "PHONE",
		} {
			r := c.Do(t, "PATCH", "/v1/me/factors/"+tablet.id, map[string]string{"label": label})
			if r.Status != 409 || r.Problem() != "conflict" {
				t.Errorf("factor label like phone (%s): got %d %s, want 409 conflict", name, r.Status, r.Body)
			}
		}
		for _, label := range []string{"Café ☕️", "スマホ", "फ़ोन"} {
			if r := c.Do(t, "PATCH", "/v1/me/factors/"+tablet.id, map[string]string{"label": label}); r.Status != 200 {
				t.Errorf("factor label %q: got %d %s, want 200", label, r.Status, r.Body)
			}
		}

		// The same check for the other names.
		for name, label := range hidden {
			wantProblem(t, c.Do(t, "POST", "/v1/teams", map[string]string{"name": label}), 400, "invalid")
			wantProblem(t, c.Do(t, "POST", "/v1/me/api-keys", keyRequest(label, nil, "account * read")), 400, "invalid")
			if t.Failed() {
				t.Fatalf("after %s", name)
			}
		}
		first := testenv.SSHKeygen(t, "ed25519", 0)
		if r := c.Do(t, "POST", "/v1/me/ssh-keys", map[string]string{"label": "laptop", "public_key": first.Public}); r.Status != 201 {
			t.Fatalf("add SSH key: got %d %s", r.Status, r.Body)
		}
		second := testenv.SSHKeygen(t, "ed25519", 0)
		wantProblem(t, c.Do(t, "POST", "/v1/me/ssh-keys", map[string]string{"label": "laptop\u3164", "public_key": second.Public}), 400, "invalid")
		wantProblem(t, c.Do(t, "POST", "/v1/me/ssh-keys", map[string]string{"label": "ｌａｐｔｏｐ", "public_key": second.Public}), 409, "conflict")
	})
}

// TestEmailFactorAddressWithoutHiddenCharacters: an email factor's address
// follows the account address's rule: one with a text-direction override,
// a zero-width space or a soft hyphen, which would show as another address
// than the one mailed, is refused, named or not, and nothing is stored.
func TestEmailFactorAddressWithoutHiddenCharacters(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "kim")
		c := login(t, s, "kim")
		for _, addr := range []string{"x@\u202emoc.elpmaxe", "ab@exa\u200bmple.com", "ki\u00adm@example.com", "kim@example.com\u2060"} {
			for _, body := range []map[string]any{
				{"type": "email", "label": "work mail", "email": addr},
				{"type": "email", "email": addr},
			} {
				if r := c.Do(t, "POST", "/v1/me/factors", body); r.Status != 400 {
					t.Errorf("POST %+q: got %d %s, want 400", body, r.Status, r.Body)
				}
			}
		}
		if r := c.Do(t, "GET", "/v1/me/factors", nil); strings.Contains(string(r.Body), "example") {
			t.Errorf("factors after refusals: %s", r.Body)
		}
	})
}
