package httpapi_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/testenv"
)

// resetMail waits until the mailbox holds n messages and returns the token
// of the password-reset link in the newest one that carries a link, with
// the mail's body.
func resetMail(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer, n int) (token, body string) {
	t.Helper()
	link := regexp.MustCompile(regexp.QuoteMeta(s.BrowserURL()) + `/password-reset/([a-z2-7]+\.[a-z2-7]+)\b`)
	for ; ; n++ { // other mails (notices) may come first
		msgs := mb.Wait(t, n, time.Minute)
		for i := len(msgs) - 1; i >= 0; i-- {
			if subject, b := mailText(t, msgs[i]); strings.Contains(subject, "reset your password") {
				if m := link.FindStringSubmatch(b); m != nil {
					return m[1], b
				}
				t.Fatalf("password-reset mail without a link to %s:\n%s", s.URL(), b)
			}
		}
	}
}

func askReset(t *testing.T, s *testenv.Server, username string) testenv.Response {
	t.Helper()
	return testenv.NewClient(s.URL()).Do(t, "POST", "/v1/password-reset", map[string]string{"username": username})
}

func completeReset(t *testing.T, s *testenv.Server, body map[string]string) testenv.Response {
	t.Helper()
	return testenv.NewClient(s.URL()).Do(t, "POST", "/v1/password-reset/complete", body)
}

// TestPasswordReset: a holder who forgot the password of an account without
// two-factor gets a mailed link, which works once, ends every session and
// clears the password's failure counters; the answer to asking is the same
// for a name nobody has.
func TestPasswordReset(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "bob")
		old := login(t, s, "bob")

		known, unknown := askReset(t, s, "bob"), askReset(t, s, "nobody")
		if known.Status != 202 || unknown.Status != 202 || string(known.Body) != string(unknown.Body) {
			t.Fatalf("asking for a known and an unknown name: got %d %s and %d %s, want the same 202",
				known.Status, known.Body, unknown.Status, unknown.Body)
		}
		wantProblem(t, askReset(t, s, ""), 400, "invalid")
		token, body := resetMail(t, s, mb, 1)
		if msgs := mb.Messages(); len(msgs) != 1 || msgs[0].To[0] != "bob@example.com" {
			t.Fatalf("mails: got %d, first to %v; want one, to bob@example.com", len(msgs), msgs[0].To)
		}
		if !strings.Contains(body, "30 minutes") || strings.Contains(body, "authenticators") {
			t.Errorf("mail to an account without two-factor:\n%s", body)
		}
		out, err := s.Store.Outbox(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out {
			if strings.Contains(m.Body, token) || strings.Contains(m.Subject, "reset") && m.BodyKeyID == "" {
				t.Errorf("the outbox holds a password-reset link in the clear: %+v", m)
			}
		}

		key := makeKey(t, old, "script", nil, "account * read")

		c := testenv.NewClient(s.URL())
		r := c.Do(t, "POST", "/v1/password-reset/check", map[string]string{"token": token})
		if r.Status != 200 || r.String("username") != "bob" || r.JSON["second_factor_required"] != false {
			t.Fatalf("check: got %d %s, want bob without a second factor", r.Status, r.Body)
		}
		for _, bad := range []string{"", "x", token + "x", strings.Split(token, ".")[0] + ".aaaa"} {
			wantProblem(t, c.Do(t, "POST", "/v1/password-reset/check", map[string]string{"token": bad}), 410, "login-expired")
		}

		// Wrong passwords typed by a stranger lock the password for a
		// while; the reset lifts that.
		for range 10 {
			c.Do(t, "POST", "/v1/login", map[string]string{"username": "bob", "password": "not the password"})
		}
		wantProblem(t, c.Do(t, "POST", "/v1/login", map[string]string{"username": "bob", "password": password}), 429, "throttled")
		wantProblem(t, completeReset(t, s, map[string]string{"token": token, "password": "short"}), 400, "invalid")
		const fresh = "a brand new passphrase"
		if r := completeReset(t, s, map[string]string{"token": token, "password": fresh}); r.Status != 200 || r.String("status") != "password_changed" {
			t.Fatalf("complete: got %d %s, want 200 password_changed", r.Status, r.Body)
		}
		wantProblem(t, completeReset(t, s, map[string]string{"token": token, "password": "yet another passphrase"}), 410, "login-expired")

		wantProblem(t, old.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
		wantProblem(t, c.Do(t, "POST", "/v1/login", map[string]string{"username": "bob", "password": password}), 401, "invalid-credentials")
		if r := c.Do(t, "POST", "/v1/login", map[string]string{"username": "bob", "password": fresh}); r.Status != 200 || r.String("status") != "authenticated" {
			t.Fatalf("login with the new password: got %d %s, want 200 authenticated", r.Status, r.Body)
		}
		// Keys are no sessions: they still work, and the notice says so.
		if r := keyClient(s, key.id, key.secret).Do(t, "GET", "/v1/me", nil); r.Status != 200 {
			t.Fatalf("the API key after the reset: got %d %s, want 200", r.Status, r.Body)
		}
		wantKeysStillWork(t, mailWith(t, mb, "your password was reset"))
		a, err := s.Store.AccountByUsername(context.Background(), "bob")
		if err != nil {
			t.Fatal(err)
		}
		for typ, want := range map[string]int{"password.reset_requested": 1, "password.reset": 1} {
			if got := countEvents(t, s, a.ID, typ); got != want {
				t.Errorf("%s events: got %d, want %d", typ, got, want)
			}
		}
	})
}

// TestPasswordResetNeedsSecondFactor: on an account with two-factor on, a
// mailbox alone changes nothing: the new password must be confirmed by a
// second factor, on the account's counters, and the next sign-in still asks
// for the second step.
func TestPasswordResetNeedsSecondFactor(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "carol")
		e := enrol(t, s, login(t, s, "carol"), map[string]any{"type": "totp", "label": "phone"})
		n := len(mb.Wait(t, 1, time.Minute)) // the notice of the new authenticator

		if r := askReset(t, s, "Carol"); r.Status != 202 {
			t.Fatalf("ask: got %d %s", r.Status, r.Body)
		}
		token, body := resetMail(t, s, mb, n+1)
		if !strings.Contains(body, "authenticators") {
			t.Errorf("the mail does not say a second factor is needed:\n%s", body)
		}
		c := testenv.NewClient(s.URL())
		r := c.Do(t, "POST", "/v1/password-reset/check", map[string]string{"token": token})
		methods := map[string]bool{}
		for _, m := range r.JSON["methods"].([]any) {
			methods[m.(map[string]any)["method"].(string)] = true
		}
		if r.JSON["second_factor_required"] != true || !methods["totp"] || !methods["recovery_code"] || !methods["paper_key"] {
			t.Fatalf("check: got %d %s, want a second factor among totp, recovery_code and paper_key", r.Status, r.Body)
		}

		const fresh = "a brand new passphrase"
		wantProblem(t, completeReset(t, s, map[string]string{"token": token, "password": fresh}), 400, "invalid")
		wantProblem(t, completeReset(t, s, map[string]string{"token": token, "password": fresh, "method": "webauthn", "code": "x"}), 400, "invalid")
		s.Clock.Add(30 * time.Second)
		code := testenv.TOTP(t, e.secret, s.Clock.Now())
		wantProblem(t, completeReset(t, s, map[string]string{"token": token, "password": fresh, "method": "totp", "code": otherCode(code)}), 401, "invalid-code")
		// Neither refusal used the link, nor changed the password.
		if _, r := startLogin(t, s, "carol"); r.Status != 200 {
			t.Fatalf("login with the old password: got %d", r.Status)
		}
		if r := completeReset(t, s, map[string]string{"token": token, "password": fresh, "method": "totp", "code": code}); r.Status != 200 {
			t.Fatalf("complete with a fresh code: got %d %s, want 200", r.Status, r.Body)
		}
		r = c.Do(t, "POST", "/v1/login", map[string]string{"username": "carol", "password": fresh})
		if r.Status != 200 || r.String("status") != "second_factor_required" {
			t.Fatalf("login with the new password: got %d %s, want the second step", r.Status, r.Body)
		}
		// The code that confirmed the reset is spent, like any other.
		wantProblem(t, verify(t, s, r.String("login_id"), map[string]string{"method": "totp", "code": code}), 401, "invalid-code")
		a, err := s.Store.AccountByUsername(context.Background(), "carol")
		if err != nil {
			t.Fatal(err)
		}
		for typ, want := range map[string]int{"password.reset_failed": 1, "password.reset": 1} {
			if got := countEvents(t, s, a.ID, typ); got != want {
				t.Errorf("%s events: got %d, want %d", typ, got, want)
			}
		}
	})
}

// TestPasswordResetNotByEmailCode: an email code does not confirm a reset,
// as the link came by mail and an email factor may use the same mailbox (it
// does here: the account's own address), so that a mailbox alone would
// change the password and then pass the second step. The reset lists no
// email method, sends no code and takes none; a recovery code still works.
func TestPasswordResetNotByEmailCode(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		_, id, confirmed, n := withEmailFactor(t, s, mb, "dave")
		recovery := confirmed.JSON["recovery_codes"].([]any)[0].(string)
		askReset(t, s, "dave")
		token, _ := resetMail(t, s, mb, n+1)
		anon := testenv.NewClient(s.URL())
		r := anon.Do(t, "POST", "/v1/password-reset/check", map[string]string{"token": token})
		if r.Status != 200 {
			t.Fatalf("check: got %d %s", r.Status, r.Body)
		}
		if strings.Contains(string(r.Body), `"email"`) {
			t.Errorf("check offers an email code: %s", r.Body)
		}
		wantProblem(t, anon.Do(t, "POST", "/v1/password-reset/challenge",
			map[string]string{"token": token, "method": "email", "factor_id": id}), 400, "invalid")
		// A login's email code, which the mailbox also gets, does not pass.
		loginID, _ := startLogin(t, s, "dave")
		if r := anon.Do(t, "POST", "/v1/login/"+loginID+"/challenge", map[string]string{"method": "email", "factor_id": id}); r.Status != 202 {
			t.Fatalf("login challenge: got %d %s", r.Status, r.Body)
		}
		code, _ := codeMail(t, mb, n+2)
		wantProblem(t, completeReset(t, s, map[string]string{"token": token, "password": "a brand new passphrase", "method": "email", "code": code}), 400, "invalid")
		if r := completeReset(t, s, map[string]string{"token": token, "password": "a brand new passphrase", "method": "recovery_code", "code": recovery}); r.Status != 200 {
			t.Fatalf("complete with a recovery code: got %d %s, want 200", r.Status, r.Body)
		}
	})
}

// TestPasswordResetLinksKept: asking again leaves the links already mailed
// working, so a stranger who knows the name cannot void the holder's link:
// an account keeps its four newest, as many as its ration of mails lets be
// made while one link lives, so that every link lives its 30 minutes
// whatever is asked meanwhile; using any one voids the others.
func TestPasswordResetLinksKept(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "fay")
		c := testenv.NewClient(s.URL())
		check := func(what, token string, want int) {
			t.Helper()
			r := c.Do(t, "POST", "/v1/password-reset/check", map[string]string{"token": token})
			if r.Status != want {
				t.Errorf("check the %s link: got %d %s, want %d", what, r.Status, r.Body, want)
			}
		}
		var links []string
		ask := func(i int) {
			t.Helper()
			if r := askReset(t, s, "fay"); r.Status != 202 {
				t.Fatalf("ask %d: got %d %s, want 202", i, r.Status, r.Body)
			}
			token, _ := resetMail(t, s, mb, i)
			links = append(links, token)
		}
		// The holder's link, then two a stranger asks for at once: the
		// account's ration of mails (3, then one in 15 minutes).
		for i := 1; i <= 3; i++ {
			ask(i)
		}
		check("first", links[0], 200)
		check("second", links[1], 200)
		check("third", links[2], 200)

		// 15 minutes on the ration gives the stranger one more: the
		// holder's link, with 15 minutes left, still works.
		s.Clock.Add(15*time.Minute + time.Second)
		ask(4)
		for i, what := range []string{"first", "second", "third", "fourth"} {
			check(what, links[i], 200)
		}
		// The next one comes once the first three have lapsed.
		s.Clock.Add(15 * time.Minute)
		ask(5)
		for _, token := range links[:3] {
			wantProblem(t, c.Do(t, "POST", "/v1/password-reset/check", map[string]string{"token": token}), 410, "login-expired")
		}
		check("fourth", links[3], 200)
		check("fifth", links[4], 200)

		const fresh = "a brand new passphrase"
		if r := completeReset(t, s, map[string]string{"token": links[3], "password": fresh}); r.Status != 200 {
			t.Fatalf("complete with the fourth link: got %d %s, want 200", r.Status, r.Body)
		}
		for i, token := range links {
			if r := completeReset(t, s, map[string]string{"token": token, "password": "yet another passphrase"}); r.Status != 410 || r.Problem() != "login-expired" {
				t.Errorf("link %d after the fourth was used: got %d %s, want 410 login-expired", i+1, r.Status, r.Body)
			}
		}
		if r := c.Do(t, "POST", "/v1/login", map[string]string{"username": "fay", "password": fresh}); r.Status != 200 {
			t.Fatalf("login with the password of the used link: got %d %s, want 200", r.Status, r.Body)
		}
	})
}

// TestPasswordResetLimits: one address cannot ask without end; one
// account's mailbox is not flooded.
func TestPasswordResetLimits(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "erin")
		askReset(t, s, "erin")
		resetMail(t, s, mb, 1)
		askReset(t, s, "erin")
		resetMail(t, s, mb, 2)
		for i := 3; i <= 5; i++ {
			if r := askReset(t, s, "erin"); r.Status != 202 {
				t.Fatalf("ask %d: got %d %s, want 202", i, r.Status, r.Body)
			}
		}
		wantProblem(t, askReset(t, s, "erin"), 429, "throttled")
		s.Service.Wait()
		a, err := s.Store.AccountByUsername(context.Background(), "erin")
		if err != nil {
			t.Fatal(err)
		}
		// Five asked, three mailed: the clock stands still, so the
		// account's ration never refills.
		evs, err := s.Store.Events(context.Background(), a.ID, 0, 200)
		if err != nil {
			t.Fatal(err)
		}
		mailed, held := 0, 0
		for _, e := range evs {
			switch {
			case e.Type != "password.reset_requested":
			case e.Detail == "link mailed":
				mailed++
			default:
				held++
			}
		}
		if mailed != 3 || held != 2 {
			t.Errorf("of 5 requests: %d mailed and %d held back, want 3 and 2", mailed, held)
		}
	})
}

// TestPasswordResetWithoutMail: a server that sends no mail has no way to
// send a link, and says so.
func TestPasswordResetWithoutMail(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "erin")
		wantProblem(t, askReset(t, s, "erin"), 503, "unavailable")
	})
}

// TestPasswordResetSuspended: a suspended account gets no link, and a link
// mailed before the suspension sets no password.
func TestPasswordResetSuspended(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "hank")
		askReset(t, s, "hank")
		token, _ := resetMail(t, s, mb, 1)
		// The mail can arrive before the request's audit event is written
		// (after the mail is queued): let that finish, so that the newest
		// event below is the second request's.
		s.Service.Wait()
		a, err := s.Store.AccountByUsername(context.Background(), "hank")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Store.SetSuspended(context.Background(), a.ID, true); err != nil {
			t.Fatal(err)
		}
		wantProblem(t, completeReset(t, s, map[string]string{"token": token, "password": "a brand new passphrase"}), 403, "forbidden")
		if r := askReset(t, s, "hank"); r.Status != 202 {
			t.Fatalf("ask: got %d %s, want the same 202 as for anyone", r.Status, r.Body)
		}
		s.Service.Wait()
		evs, err := s.Store.Events(context.Background(), a.ID, 0, 50)
		if err != nil || len(evs) == 0 || evs[0].Type != "password.reset_requested" || evs[0].Detail != "not sent: the account is suspended" {
			t.Fatalf("newest event %+v, %v: want the request recorded as not sent", evs, err)
		}
	})
}

// TestPasswordResetLinkVoidedByEmailChange: the links mailed to the old
// address stop working once the account has another.
func TestPasswordResetLinkVoidedByEmailChange(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "ivy")
		c := login(t, s, "ivy")
		askReset(t, s, "ivy")
		first, _ := resetMail(t, s, mb, 1)
		askReset(t, s, "ivy")
		token, _ := resetMail(t, s, mb, 2)
		if r := c.Do(t, "PUT", "/v1/me/email", map[string]string{"email": "ivy@new.example", "password": password}); r.Status != 202 {
			t.Fatalf("change: got %d %s", r.Status, r.Body)
		}
		_, body := mailTo(t, mb, 4, "ivy@new.example")
		code := regexp.MustCompile(`\b[0-9]{6}\b`).FindString(body)
		if r := c.Do(t, "POST", "/v1/me/email/confirm", map[string]string{"code": code}); r.Status != 200 {
			t.Fatalf("confirm: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, completeReset(t, s, map[string]string{"token": first, "password": "a brand new passphrase"}), 410, "login-expired")
		wantProblem(t, completeReset(t, s, map[string]string{"token": token, "password": "a brand new passphrase"}), 410, "login-expired")
	})
}

// TestPasswordResetNeedsItsAddress: a server on a public address without
// --base-url does not know what address a mailed link should carry (it may
// sit behind a TLS proxy), so it mails none. (On loopback, as in the other
// tests, the link carries the listener's address.)
func TestPasswordResetNeedsItsAddress(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		mb := testenv.NewSMTPServer(t)
		public := func(c *config.Config) { c.Listen = "0.0.0.0:0" }
		s := testenv.NewServer(t, dsn, mb.Option("Twofold <twofold@example.com>"), public)
		addUser(t, s, "jo")
		wantProblem(t, testenv.NewClient("http://"+s.Addr()).Do(t, "POST", "/v1/password-reset", map[string]string{"username": "jo"}), 503, "unavailable")
	})
}
