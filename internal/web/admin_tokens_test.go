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

// TestAdminTokens imports hardware tokens on the operators' page: the list
// shows them, a file naming a serial imported before changes nothing, bad
// input says what is wrong, an import needs the operator's fresh second
// factor (and two-factor on their account), and people who are not
// operators are refused.
func TestAdminTokens(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret, op := signedIn(t, ts, "olga", true)
	account(t, ts, "pete", false, false)

	csv := "# two tokens\nTOK-1,3132333435363738393031323334353637383930,hotp\nTOK-2,3132333435363738393031323334353637383931,totp,6,30\n"
	r := op.post("/admin/tokens", url.Values{"format": {"csv"}, "seeds": {csv}})
	if r.status != http.StatusOK || !strings.Contains(r.body, "2 hardware tokens imported (1 HOTP, 1 TOTP)") {
		t.Fatalf("import: status %d, error %q", r.status, pageError(r.body))
	}
	for _, serial := range []string{`id="token-TOK-1"`, `id="token-TOK-2"`} {
		if !strings.Contains(r.body, serial) {
			t.Errorf("the list lacks %s", serial)
		}
	}
	if strings.Contains(r.body, "3132333435363738393031323334353637383930") || strings.Contains(r.body, "3132333435363738393031323334353637383931") {
		t.Error("the page shows a secret after the import")
	}

	for name, tt := range map[string]struct {
		form   url.Values
		status int
		field  string // the field the error is about
	}{
		"a serial imported before": {url.Values{"format": {"csv"}, "seeds": {"TOK-3,3132333435363738393031323334353637383932\nTOK-1,3132333435363738393031323334353637383933\n"}}, http.StatusConflict, "seeds"},
		"a secret imported before": {url.Values{"format": {"csv"}, "seeds": {"TOK-3,3132333435363738393031323334353637383931,totp\n"}}, http.StatusConflict, "seeds"},
		"a secret twice":           {url.Values{"format": {"csv"}, "seeds": {"TOK-3,3132333435363738393031323334353637383934\nTOK-5,3132333435363738393031323334353637383934\n"}}, http.StatusConflict, "seeds"},
		"not hexadecimal":          {url.Values{"format": {"csv"}, "seeds": {"TOK-4,zz\n"}}, http.StatusBadRequest, "seeds"},
		"a key for a CSV file":     {url.Values{"format": {"csv"}, "seeds": {csv}, "pskc_key": {"000102030405060708090a0b0c0d0e0f"}}, http.StatusBadRequest, "pskc_key"},
		"a short PSKC key":         {url.Values{"format": {"pskc"}, "seeds": {"<x/>"}, "pskc_key": {"0001"}}, http.StatusBadRequest, "pskc_key"},
		"not PSKC":                 {url.Values{"format": {"pskc"}, "seeds": {"<x/>"}}, http.StatusBadRequest, "seeds"},
		"PSKC 2.0":                 {url.Values{"format": {"pskc"}, "seeds": {`<KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc" Version="2.0"/>`}}, http.StatusBadRequest, "seeds"},
		"7 digits":                 {url.Values{"format": {"csv"}, "seeds": {"TOK-4,3132333435363738393031323334353637383939,totp,7\n"}}, http.StatusBadRequest, "seeds"},
		"two bad lines":            {url.Values{"format": {"csv"}, "seeds": {"TOK-4,zz\nTOK-5,31\n"}}, http.StatusBadRequest, "seeds"},
		"no format":                {url.Values{"seeds": {csv}}, http.StatusBadRequest, "format"},
	} {
		r := op.post("/admin/tokens", tt.form)
		if r.status != tt.status || !showsError(r.body) || !fieldInvalid(r.body, tt.field) {
			t.Errorf("%s: status %d, error %q, %s invalid: %v; want %d with an error about %[4]s", name, r.status, pageError(r.body), tt.field, fieldInvalid(r.body, tt.field), tt.status)
		}
		if msg := pageError(r.body); strings.Contains(msg, "otp:") {
			t.Errorf("%s: got %q, want no otp package text", name, msg)
		}
	}
	r = op.get("/admin/tokens?unclaimed=1")
	if strings.Contains(r.body, "TOK-3") || strings.Count(r.body, `id="token-`) != 2 {
		t.Errorf("after the refused imports the list is not the two tokens: %s", r.body)
	}

	// Once the elevation of the sign-in lapsed, an import needs a fresh
	// code, as other operator changes do; a file that cannot be read is
	// told first, with no code spent.
	ts.Clock.Add(11 * time.Minute)
	tok6 := url.Values{"format": {"csv"}, "seeds": {"TOK-6,3132333435363738393031323334353637383936\n"}}
	if r := op.get("/admin/tokens"); !strings.Contains(r.body, `name="elevate_code"`) {
		t.Error("the import form asks for no code once the elevation lapsed")
	}
	if r := op.post("/admin/tokens", tok6); r.status != http.StatusForbidden || pageError(r.body) != "Confirm it's you with a code first." || !strings.Contains(r.body, `name="elevate_code"`) {
		t.Errorf("an import without a fresh code: status %d, %q", r.status, pageError(r.body))
	}
	withCode := func(form url.Values, code string) url.Values {
		f := url.Values{"elevate_method": {"totp"}, "elevate_code": {code}}
		for k, v := range form {
			f[k] = v
		}
		return f
	}
	if r := op.post("/admin/tokens", withCode(tok6, otherCode(testenv.TOTP(t, secret, ts.Clock.Now())))); r.status != http.StatusUnauthorized {
		t.Errorf("an import with a wrong code: status %d, %q", r.status, pageError(r.body))
	}
	if r := op.get("/admin/tokens"); strings.Contains(r.body, "TOK-6") {
		t.Fatal("a token was imported without a fresh code")
	}
	r = op.post("/admin/tokens", withCode(tok6, testenv.TOTP(t, secret, ts.Clock.Now())))
	if r.status != http.StatusOK || !strings.Contains(r.body, "1 hardware token imported") || !strings.Contains(r.body, `id="token-TOK-6"`) {
		t.Errorf("an import with a fresh code: status %d, %q", r.status, pageError(r.body))
	}

	// An operator without two-factor of their own imports nothing: the
	// page says why instead of offering the form.
	account(t, ts, "otto", true, false)
	plain := newClient(t, ts.URL())
	if r := plain.signIn("otto"); r.url.Path != "/settings/security" {
		t.Fatalf("otto signs in: at %s", r.url)
	}
	if r := plain.get("/admin/tokens"); r.status != http.StatusOK || !strings.Contains(r.body, `id="import-needs-2fa"`) || strings.Contains(r.body, `id="import-tokens"`) {
		t.Errorf("an operator without two-factor: status %d, or the page offers the import form", r.status)
	}
	if r := plain.post("/admin/tokens", url.Values{"format": {"csv"}, "seeds": {"TOK-7,3132333435363738393031323334353637383937\n"}}); r.status != http.StatusForbidden {
		t.Errorf("an operator without two-factor imports: status %d, %q", r.status, pageError(r.body))
	}
	if r := op.get("/admin/tokens"); strings.Contains(r.body, "TOK-7") {
		t.Error("an operator without two-factor imported a token")
	}

	user := newClient(t, ts.URL())
	if r := user.signIn("pete"); r.url.Path != "/settings/security" {
		t.Fatalf("pete signs in: at %s", r.url)
	}
	if r := user.get("/admin/tokens"); r.status != http.StatusForbidden && r.status != http.StatusNotFound {
		t.Errorf("a user who is not an operator: status %d", r.status)
	}
	if r := user.post("/admin/tokens", url.Values{"format": {"csv"}, "seeds": {"TOK-9,3132333435363738393031323334353637383930\n"}}); r.status != http.StatusForbidden && r.status != http.StatusNotFound {
		t.Errorf("a user who is not an operator imports: status %d", r.status)
	}
}

// TestAdminTokensSwappedColumns: an OATH CSV file pasted with its columns
// swapped (secret,serial) is refused by line and field, and the page's error
// never shows the secret (the form keeps what was pasted, for the operator to
// fix; nothing else on the page shows it). Nothing is imported. On SQLite and
// PostgreSQL.
func TestAdminTokensSwappedColumns(t *testing.T) {
	const (
		secret  = "3132333435363738393031323334353637383932"
		secret2 = "4142434445464748494a4b4c4d4e4f5051525354"
	)
	textarea := regexp.MustCompile(`(?s)<textarea[^>]*>.*?</textarea>`)
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			op := newClient(t, ts.URL())
			op.signInWithCode(ts, "olga", account(t, ts, "olga", true, true))
			for _, seeds := range []string{
				secret + ",FOB-3\n",
				secret + ",123456\n",
				"FOB-1," + secret2 + "\n" + secret + ",FOB-2,totp,6,45\n",
				secret + "," + secret2 + "\n" + secret + "," + secret2 + "\n",
			} {
				r := op.post("/admin/tokens", url.Values{"format": {"csv"}, "seeds": {seeds}})
				if r.status != http.StatusBadRequest || !showsError(r.body) {
					t.Errorf("%q: status %d, error %q; want 400 with an error", seeds, r.status, pageError(r.body))
				}
				if msg := pageError(r.body); strings.Contains(msg, "otp:") {
					t.Errorf("%q: got %q, want no otp package text", seeds, msg)
				}
				rest := textarea.ReplaceAllString(r.body, "")
				if strings.Contains(rest, secret[:16]) || strings.Contains(rest, secret2[:16]) {
					t.Errorf("%q: the page shows a secret outside the form: error %q", seeds, pageError(r.body))
				}
			}
			if r := op.get("/admin/tokens"); strings.Contains(r.body, `id="token-`) {
				t.Error("a token was imported from a refused file")
			}
		})
	}
}
