package web_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// proofs are the ways alice proves it's her in the pages' fuzz targets
// (FuzzElevateForm, FuzzLoginForm): an authenticator app, recovery codes,
// a paper key and an SSH key, as the targets know them.
type proofs struct {
	phone    *testenv.App
	recovery []string // the recovery codes not used yet
	spent    string   // the recovery code used last
	paperKey string
	sig      string // the SSH key's signature of the challenge waiting, or ""
}

// newProofs is alice's proofs from k, with phone her app.
func newProofs(k keys, phone *testenv.App) *proofs {
	return &proofs{phone: phone, recovery: slices.Clone(k.codes), spent: "none yet", paperKey: k.paperKey}
}

// replace puts in form, escaped, what its placeholders stand for at now:
// @code@ and @prev@ for the app's code of this step and of the one before,
// @wide@ for this step's in full-width digits with a no-break space,
// @last@ for the app's code last used, @phone@ for its id, @recovery@ for
// a recovery code not used yet, @spent@ for the one used last, @paper@
// for the paper key and @sig@ for the signature. It adds csrf, the
// browser's form token, unless the form sends one.
func (p *proofs) replace(form string, now time.Time, csrf string) string {
	esc := url.QueryEscape
	form = strings.NewReplacer("@code@", esc(p.phone.Code(now, 0)), "@prev@", esc(p.phone.Code(now, -1)),
		"@wide@", esc(testenv.Wide(p.phone.Code(now, 0))), "@last@", esc(p.phone.LastCode()), "@phone@", esc(p.phone.ID),
		"@recovery@", esc(p.recovery[0]), "@spent@", esc(p.spent), "@paper@", esc(p.paperKey),
		"@sig@", esc(p.sig)).Replace(form)
	if !strings.Contains(form, "csrf=") {
		form = strings.TrimPrefix(form+"&csrf="+csrf, "&")
	}
	return form
}

// checkShown fails t when a proof of alice's that form sent comes back in
// page or is in newLog.
func (p *proofs) checkShown(t *testing.T, form string, status int, page, newLog string, now time.Time) {
	t.Helper()
	secrets := append([]string{p.paperKey}, p.recovery...)
	for d := int64(-testenv.TypedWindow); d <= testenv.TypedWindow; d++ {
		secrets = append(secrets, p.phone.Code(now, d))
	}
	for _, line := range strings.Split(p.sig, "\n") {
		if line != "" && !strings.HasPrefix(line, "-----") {
			secrets = append(secrets, line) // the form holds each line of the signature as it is
		}
	}
	sent, _ := url.ParseQuery(form)
	var values []string
	for _, vs := range sent {
		values = append(values, vs...)
	}
	for _, sc := range secrets {
		asValue := slices.ContainsFunc(values, func(v string) bool { return strings.Contains(v, sc) })
		if asValue && testenv.HoldsWord(page, sc) {
			t.Fatalf("%q: the page (%d) holds a proof sent", form, status)
		}
		if (asValue || strings.Contains(form, sc)) && testenv.HoldsWord(newLog, sc) {
			t.Fatalf("%q: the log holds a proof sent:\n%s", form, newLog)
		}
	}
}

// passed fails t unless the proof sent, by method with code (or
// signature), for factor ("" for any), is one of alice's that stands at
// now; it then spends it as the server did.
func (p *proofs) passed(t *testing.T, form, method, code, factor, signature string, now time.Time) {
	t.Helper()
	switch method {
	case "totp":
		if factor != "" && factor != p.phone.ID || !p.phone.Spend(now, code) {
			t.Fatalf("%q: passed without a standing code of the app named", form)
		}
	case "recovery_code":
		i := slices.IndexFunc(p.recovery, func(k string) bool { return testenv.TypedKey(code, k) })
		if i < 0 {
			t.Fatalf("%q: passed without a recovery code not used yet", form)
		}
		p.spent = p.recovery[i]
		p.recovery = slices.Delete(p.recovery, i, i+1)
	case "paper_key":
		if !testenv.TypedKey(code, p.paperKey) {
			t.Fatalf("%q: passed without the paper key", form)
		}
	case "ssh_key":
		got, made := testenv.SignatureBytes(signature), testenv.SignatureBytes(p.sig)
		if got == nil || string(got) != string(made) {
			t.Fatalf("%q: passed without the signature of the challenge waiting", form)
		}
	default:
		t.Fatalf("%q: passed by method %q, which alice has no factor of", form, method)
	}
}

// checkCounted fails t unless a refusal (status) of a form sent by method,
// naming factor or not, counted as it should on alice's counters: a
// refused proof (401) exactly one failure on one of her own, and one more
// on a factor's only when the form names a factor; a push not sent and
// any other refusal none.
func checkCounted(t *testing.T, ts *testenv.Server, accountID, form string, status int, page, method, factor string) {
	t.Helper()
	want := 0
	if status == http.StatusUnauthorized && method != "push" {
		want = 1
	}
	own, byFactor, counted := testenv.CountedFailures(t, ts, accountID)
	switch {
	case own != want:
		t.Fatalf("%q: refused (%d %s), counted on %d of alice's counters, want %d: %v", form, status, pageError(page), own, want, counted)
	case byFactor > 0 && (own == 0 || byFactor > 1 || factor == ""):
		t.Fatalf("%q: refused (%d), counted on %d factors' counters: %v", form, status, byFactor, counted)
	}
}

// jarValue returns the value of cookie name that c sends to path, or "".
func jarValue(tb testing.TB, c *client, path, name string) string {
	tb.Helper()
	u, err := url.Parse(c.base + path)
	if err != nil {
		tb.Fatal(err)
	}
	for _, k := range c.http.Jar.Cookies(u) {
		if k.Name == name {
			return k.Value
		}
	}
	return ""
}
