package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// TestAdminTokens imports hardware tokens on the operators' page: the list
// shows them, a file naming a serial imported before changes nothing, bad
// input says what is wrong, and people who are not operators are refused.
func TestAdminTokens(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret := account(t, ts, "olga", true, true)
	account(t, ts, "pete", false, false)
	op := newClient(t, ts.URL())
	op.signInWithCode(ts, "olga", secret)

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
	}{
		"a serial imported before": {url.Values{"format": {"csv"}, "seeds": {"TOK-3,3132333435363738393031323334353637383932\nTOK-1,3132333435363738393031323334353637383933\n"}}, http.StatusConflict},
		"a secret imported before": {url.Values{"format": {"csv"}, "seeds": {"TOK-3,3132333435363738393031323334353637383931,totp\n"}}, http.StatusConflict},
		"a secret twice":           {url.Values{"format": {"csv"}, "seeds": {"TOK-3,3132333435363738393031323334353637383934\nTOK-5,3132333435363738393031323334353637383934\n"}}, http.StatusConflict},
		"not hexadecimal":          {url.Values{"format": {"csv"}, "seeds": {"TOK-4,zz\n"}}, http.StatusBadRequest},
		"a key for a CSV file":     {url.Values{"format": {"csv"}, "seeds": {csv}, "pskc_key": {"000102030405060708090a0b0c0d0e0f"}}, http.StatusBadRequest},
		"a short PSKC key":         {url.Values{"format": {"pskc"}, "seeds": {"<x/>"}, "pskc_key": {"0001"}}, http.StatusBadRequest},
		"not PSKC":                 {url.Values{"format": {"pskc"}, "seeds": {"<x/>"}}, http.StatusBadRequest},
		"no format":                {url.Values{"seeds": {csv}}, http.StatusBadRequest},
	} {
		r := op.post("/admin/tokens", tt.form)
		if r.status != tt.status || pageError(r.body) == "" {
			t.Errorf("%s: status %d, error %q; want %d with an error", name, r.status, pageError(r.body), tt.status)
		}
	}
	r = op.get("/admin/tokens?unclaimed=1")
	if strings.Contains(r.body, "TOK-3") || strings.Count(r.body, `id="token-`) != 2 {
		t.Errorf("after the refused imports the list is not the two tokens: %s", r.body)
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
