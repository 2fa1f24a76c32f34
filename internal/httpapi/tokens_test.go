package httpapi_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/testenv"
)

// importCSV imports an OATH CSV file through the service, as `twofold
// tokens import` does.
func importCSV(t *testing.T, s *testenv.Server, csv string) core.TokenImport {
	t.Helper()
	seeds, err := otp.ParseOATHCSV([]byte(csv))
	if err != nil {
		t.Fatalf("parse CSV: %v", err)
	}
	n, err := s.Service.ImportTokens(context.Background(), seeds, core.Meta{Source: "cli"})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return n
}

// Two token secrets, 20 and 32 bytes, as hex for the CSV and base32 for oathtool.
var (
	hotpSecret = []byte("key fob secret #0001")
	totpSecret = []byte("a thirty-two byte c200 secret!!!")
	hotpB32    = otp.EncodeSecret(hotpSecret)
	totpB32    = otp.EncodeSecret(totpSecret)
	tokensCSV  = fmt.Sprintf("# a vendor's batch\nYK-100,%x,hotp,6,5\nC200-7,%x,totp,8,60,SHA256\n", hotpSecret, totpSecret)
)

// TestClaimHardwareToken walks SPEC §2's hardware tokens over HTTP, with
// oathtool as the tokens: an operator imports an HOTP key fob and a TOTP
// token; the holder claims the first with a code within the look-ahead of
// its imported counter (recovery codes and paper key come with it), signs
// in with it, and, elevated, claims the second. A wrong serial and a wrong
// code get one answer and count on the code throttle; a claimed token
// cannot be claimed again.
func TestClaimHardwareToken(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		if got := importCSV(t, s, tokensCSV); got != (core.TokenImport{HOTP: 1, TOTP: 1}) {
			t.Fatalf("imported %+v", got)
		}
		addUser(t, s, "tina")
		addUser(t, s, "uma")
		c := login(t, s, "tina")
		hotp := func(n uint64) string { return testenv.HOTP(t, hotpB32, n) }
		claim := func(c *testenv.Client, body map[string]any) testenv.Response {
			return c.Do(t, "POST", "/v1/me/factors", body)
		}
		fob := func(serial, code string) map[string]any {
			return map[string]any{"type": "hotp", "serial": serial, "code": code, "label": "key fob"}
		}

		for _, tt := range []struct {
			name string
			body map[string]any
		}{
			{"no code", map[string]any{"type": "hotp", "serial": "YK-100", "label": "key fob"}},
			{"no serial", map[string]any{"type": "hotp", "code": hotp(5), "label": "key fob"}},
			{"no label", map[string]any{"type": "hotp", "serial": "YK-100", "code": hotp(5)}},
			{"another type", map[string]any{"type": "sms", "serial": "YK-100", "code": hotp(5), "label": "key fob"}},
			{"with digits", map[string]any{"type": "hotp", "serial": "YK-100", "code": hotp(5), "label": "key fob", "digits": 8}},
		} {
			wantProblem(t, claim(c, tt.body), 400, "invalid")
		}

		// One answer for a serial that names no token and for a wrong code.
		unknown := claim(c, fob("YK-999", hotp(5)))
		wantProblem(t, unknown, 401, "invalid-code")
		wrong := claim(c, fob("YK-100", hotp(16))) // 11 presses past the imported counter 5
		wantProblem(t, wrong, 401, "invalid-code")
		if unknown.String("detail") != wrong.String("detail") || unknown.String("title") != wrong.String("title") {
			t.Errorf("unknown serial answered %s, wrong code %s: want one answer", unknown.Body, wrong.Body)
		}
		// Both counted on the code throttle: a third failure locks it.
		wantProblem(t, claim(c, fob("YK-100", "000000")), 401, "invalid-code")
		locked := claim(c, fob("YK-100", hotp(15)))
		wantProblem(t, locked, 429, "throttled")
		if locked.Header.Get("Retry-After") == "" {
			t.Error("throttled claim without Retry-After")
		}
		s.Clock.Add(2 * time.Second)

		// Ten presses past the imported counter: the first factor, active at once.
		r := claim(c, fob(" YK-100 ", hotp(15)))
		if r.Status != 201 {
			t.Fatalf("claim: got %d %s", r.Status, r.Body)
		}
		f := r.JSON["factor"].(map[string]any)
		if f["type"] != "hotp" || f["status"] != "active" || f["label"] != "key fob" || f["digits"] != 6.0 {
			t.Errorf("claimed factor %v", f)
		}
		if n := len(r.JSON["recovery_codes"].([]any)); n != 10 || r.String("paper_key") == "" {
			t.Errorf("first factor: %d recovery codes, paper key %q", n, r.String("paper_key"))
		}
		if r.Header.Get("Location") != "/v1/me/factors/"+f["id"].(string) {
			t.Errorf("Location %q", r.Header.Get("Location"))
		}

		// Claimed once: not by another account, nor again by its holder.
		wantProblem(t, claim(login(t, s, "uma"), fob("YK-100", hotp(16))), 401, "invalid-code")

		// The token signs in; the code that claimed it is spent.
		loginID, _ := startLogin(t, s, "tina")
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "hotp", "code": hotp(15)}), 401, "invalid-code")
		v := verify(t, s, loginID, map[string]string{"method": "hotp", "code": hotp(16)})
		if v.Status != 200 {
			t.Fatalf("verify with the token's next code: got %d %s", v.Status, v.Body)
		}
		c.Token = v.String("token")

		// A second token needs an elevated session, as any factor does.
		s.Clock.Add(11 * time.Minute)
		totp := func(at time.Time) string {
			return testenv.TOTP(t, totpB32, at, "--totp=sha256", "-d", "8", "-s", "60s")
		}
		body := map[string]any{"type": "totp", "serial": "C200-7", "code": totp(s.Clock.Now()), "label": "desk token"}
		wantProblem(t, claim(c, body), 403, "elevation-required")
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "hotp", "code": hotp(17)}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		body["code"] = totp(s.Clock.Now().Add(-2 * time.Minute)) // two steps of 60 s behind
		wantProblem(t, claim(c, body), 401, "invalid-code")
		body["code"] = totp(s.Clock.Now().Add(-time.Minute)) // one step behind
		r = claim(c, body)
		if r.Status != 201 {
			t.Fatalf("claim the TOTP token: got %d %s", r.Status, r.Body)
		}
		f = r.JSON["factor"].(map[string]any)
		if f["type"] != "totp" || f["algorithm"] != "SHA256" || f["digits"] != 8.0 || f["period"] != 60.0 || f["status"] != "active" {
			t.Errorf("claimed TOTP factor %v", f)
		}
		if _, ok := r.JSON["recovery_codes"]; ok {
			t.Error("a second factor came with recovery codes")
		}
		loginID, _ = startLogin(t, s, "tina")
		if v := verify(t, s, loginID, map[string]string{"method": "totp", "code": totp(s.Clock.Now())}); v.Status != 200 {
			t.Fatalf("verify with the TOTP token: got %d %s", v.Status, v.Body)
		}

		a, err := s.Store.AccountByUsername(context.Background(), "tina")
		if err != nil {
			t.Fatal(err)
		}
		if n := countEvents(t, s, a.ID, "token.claimed"); n != 2 {
			t.Errorf("got %d token.claimed events, want 2", n)
		}
		if n := countEvents(t, s, a.ID, "token.claim_failed"); n != 4 {
			t.Errorf("got %d token.claim_failed events, want 4", n)
		}
		// The operators' record of each failure (an event of no account)
		// has the source but not the user agent, which closing the
		// account could not find to scrub; the holder's own has both.
		ops, err := s.Store.Events(context.Background(), "", 0, 200)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range ops {
			if e.Type == "token.claim_failed" && e.AccountID == "" {
				n++
				if e.UserAgent != "" || e.Source == "" {
					t.Errorf("operators' token.claim_failed %q: user agent %q, source %q; want no user agent, a source", e.Detail, e.UserAgent, e.Source)
				}
			}
		}
		if n == 0 {
			t.Error("no operators' token.claim_failed event")
		}
		left, err := s.Service.HardwareTokens(context.Background(), true)
		if err != nil || len(left) != 0 {
			t.Errorf("unclaimed tokens after both claims: %v, %v", left, err)
		}
	})
}

// TestTokenSecretsNotInDatabaseFile: an imported token's secret is stored
// only sealed, before and after it is claimed.
func TestTokenSecretsNotInDatabaseFile(t *testing.T) {
	s := testenv.NewServer(t, testenv.SQLiteDSN(t))
	importCSV(t, s, tokensCSV)
	check := func(when string) {
		var db []byte
		for _, suffix := range []string{"", "-wal"} {
			b, err := os.ReadFile(s.DBPath + suffix)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			db = append(db, b...)
		}
		for _, secret := range [][]byte{hotpSecret, totpSecret} {
			for _, needle := range [][]byte{secret, []byte(hex.EncodeToString(secret)), []byte(otp.EncodeSecret(secret))} {
				if bytes.Contains(db, needle) {
					t.Errorf("%s: the database file holds a token secret", when)
				}
			}
		}
	}
	check("after the import")
	addUser(t, s, "vera")
	c := login(t, s, "vera")
	if r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "hotp", "serial": "YK-100", "code": testenv.HOTP(t, hotpB32, 5), "label": "fob"}); r.Status != 201 {
		t.Fatalf("claim: got %d %s", r.Status, r.Body)
	}
	check("after the claim")
}

// TestClaimsAreRationed: guesses at one serial are rationed across
// accounts, not only per account, so that many accounts do not multiply
// the guesses at an unclaimed token.
func TestClaimsAreRationed(t *testing.T) {
	s := testenv.NewServer(t, testenv.SQLiteDSN(t))
	importCSV(t, s, tokensCSV)
	body := map[string]any{"type": "hotp", "serial": "YK-100", "code": "000000", "label": "key fob"}
	if testenv.HOTP(t, hotpB32, 5) == "000000" {
		body["code"] = "111111"
	}
	statuses := []int{}
	for i := range 11 {
		name := fmt.Sprintf("guesser%d", i)
		addUser(t, s, name)
		statuses = append(statuses, login(t, s, name).Do(t, "POST", "/v1/me/factors", body).Status)
	}
	for i, st := range statuses[:10] {
		if st != 401 {
			t.Fatalf("guess %d: %d, want 401 (statuses %v)", i+1, st, statuses)
		}
	}
	if statuses[10] != 429 {
		t.Fatalf("the 11th guess at one serial, from another account: %d, want 429", statuses[10])
	}
}

// TestTokenSeedsOnce: one token seed never makes two counters, for each
// would accept the same codes (SPEC §1 story 8). A file with a seed twice,
// the seed of a token still unclaimed, and the seed of a claimed token
// whose factor is in use are refused whole; once that factor is removed,
// the token can be imported again (issued to someone else).
func TestTokenSeedsOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		ctx := context.Background()
		imp := func(csv string) error {
			t.Helper()
			seeds, err := otp.ParseOATHCSV([]byte(csv))
			if err != nil {
				t.Fatalf("parse CSV: %v", err)
			}
			_, err = s.Service.ImportTokens(ctx, seeds, core.Meta{Source: "cli"})
			return err
		}
		twice := fmt.Sprintf("YK-1,%x,hotp,6,0\nYK-2,%x,hotp,6,0\n", hotpSecret, hotpSecret)
		if err := imp(twice); twofold.ErrorCode(err) != twofold.CodeConflict {
			t.Fatalf("a seed twice in one file: got %v, want a conflict", err)
		}
		if left, err := s.Service.HardwareTokens(ctx, true); err != nil || len(left) != 0 {
			t.Fatalf("tokens after the refused file: %v, %v", left, err)
		}
		importCSV(t, s, tokensCSV)
		again := fmt.Sprintf("YK-200,%x,hotp,6,0\n", hotpSecret)
		if err := imp(again); twofold.ErrorCode(err) != twofold.CodeConflict {
			t.Fatalf("the seed of an unclaimed token again: got %v, want a conflict", err)
		}
		// With a zero byte added the seed makes the same codes (HMAC pads
		// short keys with zeros): it is the same seed.
		padded := fmt.Sprintf("YK-201,%x00,hotp,6,0\n", hotpSecret)
		if err := imp(padded); twofold.ErrorCode(err) != twofold.CodeConflict {
			t.Fatalf("the seed of an unclaimed token with a zero byte added: got %v, want a conflict", err)
		}
		if err := imp(fmt.Sprintf("YK-202,%x,hotp,6,0\nYK-203,%x0000,hotp,6,0\n", []byte("another fob secret 02"), []byte("another fob secret 02"))); twofold.ErrorCode(err) != twofold.CodeConflict {
			t.Fatalf("a seed and the seed with zero bytes added in one file: got %v, want a conflict", err)
		}

		addUser(t, s, "tina")
		c := login(t, s, "tina")
		hotp := func(n uint64) string { return testenv.HOTP(t, hotpB32, n) }
		if r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "hotp", "serial": "YK-100", "code": hotp(5), "label": "fob"}); r.Status != 201 {
			t.Fatalf("claim: got %d %s", r.Status, r.Body)
		}
		loginID, _ := startLogin(t, s, "tina")
		v := verify(t, s, loginID, map[string]string{"method": "hotp", "code": hotp(6)})
		if v.Status != 200 {
			t.Fatalf("sign in with the fob: got %d %s", v.Status, v.Body)
		}
		c.Token = v.String("token")

		// Claimed, its secret lives on in tina's factor: the seed under a
		// new serial would be a second way to its codes, for whoever
		// claims that.
		if err := imp(again); twofold.ErrorCode(err) != twofold.CodeConflict {
			t.Fatalf("the seed of a claimed token in use under a new serial: got %v, want a conflict", err)
		}
		if err := imp(padded); twofold.ErrorCode(err) != twofold.CodeConflict {
			t.Fatalf("the seed of a claimed token in use with a zero byte added: got %v, want a conflict", err)
		}
		// Once tina removed the factor, the fob can be issued again.
		a, err := s.Store.AccountByUsername(ctx, "tina")
		if err != nil {
			t.Fatal(err)
		}
		fs, err := s.Service.Factors(ctx, a.ID)
		if err != nil || len(fs) != 1 {
			t.Fatalf("tina's factors: %v, %v", fs, err)
		}
		if r := c.Do(t, "DELETE", "/v1/me/factors/"+fs[0].ID, nil); r.Status != 204 {
			t.Fatalf("remove the fob's factor: got %d %s", r.Status, r.Body)
		}
		if err := imp(again); err != nil {
			t.Fatalf("the seed of a claimed token whose factor was removed, under a new serial: %v", err)
		}
	})
}

// TestThrottledClaimsSpareTheSerial: a claim from an account that may not
// try a code now takes nothing from the serial's ration, so that one
// throttled account sending a claim a minute cannot keep the token's
// holder from claiming it.
func TestThrottledClaimsSpareTheSerial(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		importCSV(t, s, tokensCSV)
		addUser(t, s, "ivan")
		addUser(t, s, "judy")
		wrong := "000000"
		if testenv.HOTP(t, hotpB32, 5) == wrong {
			wrong = "111111"
		}
		ivan := login(t, s, "ivan")
		throttledSeen := 0
		for range 14 {
			r := ivan.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "hotp", "serial": "YK-100", "code": wrong, "label": "fob"})
			switch r.Status {
			case 401:
			case 429:
				throttledSeen++
			default:
				t.Fatalf("a wrong claim: got %d %s", r.Status, r.Body)
			}
		}
		if throttledSeen < 5 {
			t.Fatalf("ivan was throttled %d times in 14 wrong claims; the test needs his account locked", throttledSeen)
		}
		r := login(t, s, "judy").Do(t, "POST", "/v1/me/factors", map[string]any{"type": "hotp", "serial": "YK-100", "code": testenv.HOTP(t, hotpB32, 5), "label": "fob"})
		if r.Status != 201 {
			t.Fatalf("the holder's claim after another account's throttled ones: got %d %s", r.Status, r.Body)
		}
	})
}

// TestClaimFailuresOneCauseOnMetrics: /metrics, readable by whoever reaches
// the server, counts a refused claim alike whether the serial is unknown,
// its token claimed already or the code wrong, as the answers do; else its
// counters would tell which serials exist and which are free.
func TestClaimFailuresOneCauseOnMetrics(t *testing.T) {
	s := testenv.NewServer(t, testenv.SQLiteDSN(t))
	importCSV(t, s, tokensCSV)
	addUser(t, s, "kim")
	addUser(t, s, "lou")
	if r := login(t, s, "kim").Do(t, "POST", "/v1/me/factors", map[string]any{"type": "hotp", "serial": "YK-100", "code": testenv.HOTP(t, hotpB32, 5), "label": "fob"}); r.Status != 201 {
		t.Fatalf("claim: got %d %s", r.Status, r.Body)
	}
	lou := login(t, s, "lou")
	for _, serial := range []string{"NO-SUCH-SERIAL", "YK-100", "C200-7"} {
		s.Clock.Add(time.Hour) // past any lock of lou's code counter
		r := lou.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "serial": serial, "code": "00000000", "label": "token"})
		wantProblem(t, r, 401, "invalid-code")
	}
	fam := scrape(t, s)["twofold_events_total"]
	if fam == nil {
		t.Fatal("no twofold_events_total on /metrics")
	}
	counted := 0.0
	for _, m := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["type"] != "token.claim_failed" {
			continue
		}
		if labels["cause"] != "wrong_code" {
			t.Errorf("token.claim_failed counted with cause %q (%v): the serials can be told apart", labels["cause"], m.GetCounter().GetValue())
		}
		counted += m.GetCounter().GetValue()
	}
	// Each refusal is an event of the holder and one of the operators'.
	if counted != 6 {
		t.Errorf("token.claim_failed counted %v times, want 6", counted)
	}
}

// TestClaimCapSparesTheSerial: an account that keeps failing claims of a
// token, clearing its code counter between them by elevating with its own
// authenticator, takes at most core.ClaimCap of the serial's attempts, and
// then nothing: the token's holder still claims it. Neither waiting nor
// elevating lifts the cap.
func TestClaimCapSparesTheSerial(t *testing.T) {
	eachStoreWith(t, []testenv.ServerOption{behindProxy}, func(t *testing.T, s *testenv.Server) {
		importCSV(t, s, tokensCSV)
		addUser(t, s, "mallory")
		addUser(t, s, "holder")
		wrong := "000000"
		if testenv.HOTP(t, hotpB32, 5) == wrong {
			wrong = "111111"
		}
		m := from(login(t, s, "mallory"), "203.0.113.1")
		app := enrol(t, s, m, map[string]any{"type": "totp", "label": "app"})
		statuses := map[int]int{}
		n := 0
		for range 8 { // 24 claims in 4 minutes: more than the serial's 10 and its refill of 4
			s.Clock.Add(30 * time.Second) // a fresh step of mallory's app
			if r := m.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, app.secret, s.Clock.Now())}); r.Status != 200 {
				t.Fatalf("mallory elevates: got %d %s", r.Status, r.Body)
			}
			for range 3 { // the code counter's slots without a lock
				n++
				c := from(testenv.NewClient(s.URL()), fmt.Sprintf("203.0.113.%d", 10+n))
				c.Token = m.Token
				r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "hotp", "serial": "YK-100", "code": wrong, "label": fmt.Sprintf("fob %d", n)})
				statuses[r.Status]++
				if r.Status == 429 && retryAfter(t, r) != 86400 {
					t.Errorf("a claim at the cap: Retry-After %s, want 86400", r.Header.Get("Retry-After"))
				}
			}
		}
		if statuses[401] != core.ClaimCap || statuses[429] != n-core.ClaimCap {
			t.Errorf("mallory's %d wrong claims: %v, want %d × 401 and the rest 429", n, statuses, core.ClaimCap)
		}
		h := from(login(t, s, "holder"), "198.51.100.5")
		if r := h.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "hotp", "serial": "YK-100", "code": testenv.HOTP(t, hotpB32, 5), "label": "fob"}); r.Status != 201 {
			t.Fatalf("the holder's claim after mallory's: got %d %s, want 201", r.Status, r.Body)
		}
		// A day on, signed in and elevated again, mallory is still refused.
		s.Clock.Add(25 * time.Hour)
		if err := s.Service.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		v := verify(t, s, loginFrom(t, s, "mallory", "203.0.113.1"), map[string]string{"method": "totp", "code": testenv.TOTP(t, app.secret, s.Clock.Now())})
		if v.Status != 200 {
			t.Fatalf("mallory signs in: got %d %s", v.Status, v.Body)
		}
		m.Token = v.String("token")
		wantProblem(t, m.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "serial": "C200-7", "code": "00000000", "label": "token"}), 429, "throttled")

		// An operator sees the count, and an unlock lifts the cap.
		ctx := context.Background()
		ma, err := s.Store.AccountByUsername(ctx, "mallory")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: "root", Password: password, Operator: true}, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		op := login(t, s, "root")
		opPhone := enrol(t, s, op, map[string]any{"type": "totp", "label": "phone"})
		if r := op.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": opPhone.paperKey}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		r := op.Do(t, "GET", "/v1/admin/users/"+ma.ID, nil)
		if l := r.JSON["locks"].(map[string]any); l["claim_failures"] != float64(core.ClaimCap) || l["any"] != true {
			t.Fatalf("mallory's locks: got %s, want claim_failures %d", r.Body, core.ClaimCap)
		}
		opAuth, err := s.Service.Authenticate(ctx, op.Token)
		if err != nil {
			t.Fatal(err)
		}
		if cleared, err := s.Service.UnlockAccount(ctx, opAuth, ma.ID, core.Meta{}); err != nil || !cleared {
			t.Fatalf("unlock: got %v, %v", cleared, err)
		}
		wantProblem(t, m.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "serial": "C200-7", "code": "00000000", "label": "token"}), 401, "invalid-code")
	})
}

// TestClaimSuccessClearsFailedClaims: failed claims short of the cap are
// forgotten when a claim succeeds, so that a holder who mistypes now and
// then is never capped.
func TestClaimSuccessClearsFailedClaims(t *testing.T) {
	eachStoreWith(t, []testenv.ServerOption{behindProxy}, func(t *testing.T, s *testenv.Server) {
		importCSV(t, s, tokensCSV)
		addUser(t, s, "tina")
		c := from(login(t, s, "tina"), "198.51.100.5")
		wrong := "000000"
		if testenv.HOTP(t, hotpB32, 5) == wrong {
			wrong = "111111"
		}
		for range core.ClaimCap - 1 {
			s.Clock.Add(time.Hour) // past the code counter's lock
			wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "hotp", "serial": "YK-100", "code": wrong, "label": "fob"}), 401, "invalid-code")
		}
		s.Clock.Add(time.Hour)
		if r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "hotp", "serial": "YK-100", "code": testenv.HOTP(t, hotpB32, 5), "label": "fob"}); r.Status != 201 {
			t.Fatalf("claim after %d failed: got %d %s", core.ClaimCap-1, r.Status, r.Body)
		}
		// Two-factor is on now: each claim needs an elevation, with the fob.
		press := uint64(6)
		elevate := func() {
			t.Helper()
			s.Clock.Add(time.Minute) // the address's ration of claims refills
			if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "hotp", "code": testenv.HOTP(t, hotpB32, press)}); r.Status != 200 {
				t.Fatalf("elevate with the fob: got %d %s", r.Status, r.Body)
			}
			press++
		}
		for range core.ClaimCap - 1 {
			elevate()
			wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "serial": "C200-7", "code": "00000000", "label": "token"}), 401, "invalid-code")
		}
		elevate()
		code := testenv.TOTP(t, totpB32, s.Clock.Now(), "--totp=sha256", "-d", "8", "-s", "60s")
		if r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "serial": "C200-7", "code": code, "label": "token"}); r.Status != 201 {
			t.Fatalf("claim the TOTP token after %d more failed: got %d %s", core.ClaimCap-1, r.Status, r.Body)
		}
	})
}
