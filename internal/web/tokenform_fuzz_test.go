package web_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzTokenImportForm posts any form to the operators' import of hardware
// tokens (POST /admin/tokens) from the browsers of formHolders, where alice
// is an operator (her elevated browser, her never elevated one) and bob is
// not. Whatever the form:
//
//   - the answer is never a server error;
//   - tokens are imported only with the browser's CSRF token, from alice's
//     browser with an elevated session or fields that confirm it's her with
//     her app's code not used before; then the tokens imported are exactly
//     those of the form's file (OATH CSV, or PSKC with its key), each with
//     its file's serial, type, digits, period or counter, algorithm and
//     secret, unclaimed, the page says how many, and nothing else changes;
//   - otherwise the database is as it was (testenv.Snapshot) but for the
//     elevation alice's unelevated browser's fields made
//     (formHolders.refusedDiff);
//   - no password or code of alice's app the form sent comes back in the
//     page, nor a token's secret but in the import form's field of a
//     refused form, and none goes to the log.
//
// In a form, @csv@ stands for an OATH CSV file of two tokens (one HOTP,
// one TOTP) and placeholders for the passwords and alice's app's codes
// (formHolders.replace). The tokens imported are deleted before the next
// form. The who byte picks the browser. On SQLite;
// FuzzTokenImportFormPostgres is the same on PostgreSQL.
func FuzzTokenImportForm(f *testing.F) { tokenImportForm(f, testenv.SQLiteDSN(f)) }

// FuzzTokenImportFormPostgres is FuzzTokenImportForm on PostgreSQL.
func FuzzTokenImportFormPostgres(f *testing.F) { tokenImportForm(f, testenv.PostgresDSN(f)) }

// seedsField is the import form's field with the file it was sent.
var seedsField = regexp.MustCompile(`(?s)<textarea id="seeds"[^>]*>.*?</textarea>`)

// tokenCSV is FuzzTokenImportForm's @csv@.
const tokenCSV = "# serial,secret,type,digits,counter-or-period,algorithm\n" +
	"T1001,3132333435363738393031323334353637383930,hotp,6,5\n" +
	"T1002,3132333435363738393031323334353637383930313233343536373839303132,totp,8,60,SHA256\n"

func tokenImportForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	const path = "/admin/tokens"
	operator := func(t testing.TB) {
		testenv.Exec(t, dsn, fmt.Sprintf(`UPDATE accounts SET operator = TRUE WHERE id = '%s'`, hs.list[0].id))
	}
	operator(f)

	for _, in := range []struct {
		form string
		who  uint8
	}{
		{"format=csv&seeds=@csv@", 0},
		{"format=csv&seeds=@csv@&elevate_method=totp&elevate_code=@next@", 1},
		{"format=csv&seeds=@csv@", 1},
		{"format=csv&seeds=@csv@&elevate_method=totp&elevate_code=@code@", 1},
		{"format=csv&seeds=@csv@", 2},
		{"format=pskc&seeds=@csv@", 0},
		{"format=csv&seeds=@csv@&pskc_key=00112233445566778899aabbccddeeff", 0},
		{"format=csv&seeds=T1%2Czz", 0},
		{"format=csv&seeds=", 0},
		{"format=xml&seeds=@csv@", 0},
		{"format=csv&seeds=@csv@&csrf=x", 0},
		{"format=csv&seeds=T1%2C3132333435363738393031323334353637383930%0AT1%2C3132333435363738393031323334353637383930", 0},
	} {
		f.Add(in.form, in.who)
	}

	f.Fuzz(func(t *testing.T, form string, who uint8) {
		if hs.ready(t)[0] {
			operator(t)
		}
		h, c, caller := hs.browser(who)
		alice := hs.list[0]
		form = hs.replace(form, c, ts.Clock.Now(), "@csv@", tokenCSV)
		// The file's seeds, as the form sends them: their secrets must
		// come back nowhere.
		var want []otp.Seed
		var secrets []string
		sent, parseErr := url.ParseQuery(form)
		if parseErr == nil {
			var err error
			switch sent.Get("format") {
			case "csv":
				want, err = otp.ParseOATHCSV([]byte(sent.Get("seeds")))
			case "pskc":
				var psk []byte
				if psk, err = hex.DecodeString(strings.TrimSpace(sent.Get("pskc_key"))); err == nil {
					want, err = otp.ParsePSKC([]byte(sent.Get("seeds")), psk)
				}
			}
			if err != nil {
				want = nil
			}
			for _, s := range want {
				secrets = append(secrets, hex.EncodeToString(s.Secret), strings.ToUpper(hex.EncodeToString(s.Secret)))
			}
		}
		p := hs.post(t, path, form, who)
		// A refused form comes back with the file in its field, for the
		// operator to send again; nowhere else.
		page := seedsField.ReplaceAllString(p.r.body, "")
		for _, s := range secrets {
			if testenv.HoldsWord(p.newLog, s) || testenv.HoldsWord(page, s) {
				t.Fatalf("%q by %d: a token's secret is in the log or the page (%d) outside the form's field", form, caller, p.r.status)
			}
		}
		tokens, err := ts.Store.HardwareTokens(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(tokens) == 0 {
			hs.refused(t, p, "")
			return
		}
		switch {
		case p.parseErr != nil || p.sent.Get("csrf") != c.csrf:
			t.Fatalf("%q by %d: tokens imported by a form with another CSRF token", form, caller)
		case h != alice:
			t.Fatalf("%q by %d: tokens imported from the browser of an account that is no operator's", form, caller)
		case len(tokens) != len(want):
			t.Fatalf("%q by %d: %d tokens imported, the form's file holds %d", form, caller, len(tokens), len(want))
		case p.r.status != 200 || !strings.Contains(p.r.body, fmt.Sprintf("%d hardware token", len(want))):
			t.Fatalf("%q by %d: imported, but the page (%d) does not say so: %s", form, caller, p.r.status, pageError(p.r.body))
		}
		hs.mayAct(t, p, "tokens imported")
		bySerial := map[string]twofold.HardwareToken{}
		for _, tk := range tokens {
			bySerial[tk.Serial] = tk
		}
		for _, s := range want {
			serial, err := otp.CheckSerial(s.Serial)
			tk, ok := bySerial[serial]
			if err != nil || !ok {
				t.Fatalf("%q by %d: the file's token %q was not imported (%v)", form, caller, s.Serial, err)
			}
			period := s.Params.Period
			if s.Type == otp.TypeHOTP {
				period = 0
			}
			secret, err := ts.Keys.Open(ctx, tk.SecretKeyID, tk.SealedSecret, keyring.AAD("hardware_tokens", "secret", serial))
			switch {
			case err != nil || string(secret) != string(s.Secret):
				t.Fatalf("%q by %d: token %s holds another secret than the file's (%v)", form, caller, s.Serial, err)
			case string(tk.Type) != s.Type || tk.Digits != s.Params.Digits || tk.Algorithm != s.Params.Algorithm.String():
				t.Fatalf("%q by %d: token %s is %s, %d digits, %s; the file's %s, %d, %s", form, caller, s.Serial,
					tk.Type, tk.Digits, tk.Algorithm, s.Type, s.Params.Digits, s.Params.Algorithm)
			case tk.Period != period || tk.Counter != int64(s.Counter):
				t.Fatalf("%q by %d: token %s has period %v and counter %d; the file's %v and %d", form, caller, s.Serial,
					tk.Period, tk.Counter, period, s.Counter)
			case tk.ClaimedBy != "":
				t.Fatalf("%q by %d: token %s imported claimed", form, caller, s.Serial)
			}
		}
		selfElevated := alice.id == "" // mayAct marks her to be made anew then
		for _, l := range strings.Split(p.before.Diff(hs.snaps.Take(t)), "\n") {
			kind, _, _ := strings.Cut(l, ":")
			switch {
			case l == "", kind == "+ hardware_tokens":
			case selfElevated && (strings.HasSuffix(kind, " sessions") || strings.HasSuffix(kind, " factors")):
			default:
				t.Fatalf("%q by %d: more changed than the tokens imported: %s", form, caller, l)
			}
		}
		testenv.Exec(t, dsn, `DELETE FROM hardware_tokens`)
	})
}
