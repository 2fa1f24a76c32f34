package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/testenv"
)

// sessionsOf lists c's account's sessions by their signed_in_with, keyed by
// user agent.
func sessionsOf(t *testing.T, c *testenv.Client) map[string]map[string]any {
	t.Helper()
	r := c.Do(t, "GET", "/v1/me/sessions", nil)
	if r.Status != 200 {
		t.Fatalf("sessions: got %d %s", r.Status, r.Body)
	}
	out := map[string]map[string]any{}
	for _, x := range r.JSON["sessions"].([]any) {
		s := x.(map[string]any)
		out[s["user_agent"].(string)] = s
	}
	return out
}

// signInAs logs name in with the user agent ua, password only.
func signInAs(t *testing.T, s *testenv.Server, name, ua string) *testenv.Client {
	t.Helper()
	c := testenv.NewClient(s.URL())
	c.Header = http.Header{"User-Agent": {ua}}
	r := c.Do(t, "POST", "/v1/login", map[string]string{"username": name, "password": password})
	if r.String("status") != "authenticated" {
		t.Fatalf("login: got %d %s", r.Status, r.Body)
	}
	c.Token = r.String("token")
	return c
}

// TestSessions: a holder sees every live session of the account (where,
// with what, and which is this one), including those made by a second step
// through the store's one-statement and batched paths, and signs one out;
// another's session, an ended one, or one from before a sign-out
// everywhere is not there.
func TestSessions(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "mia")
		addUser(t, s, "ned")
		laptop := signInAs(t, s, "mia", "laptop")
		phone := signInAs(t, s, "mia", "phone")
		ned := signInAs(t, s, "ned", "ned's")

		got := sessionsOf(t, laptop)
		if len(got) != 2 || got["laptop"]["current"] != true || got["phone"]["current"] != false ||
			got["phone"]["signed_in_with"] != "password only" || got["phone"]["source"] != "127.0.0.1" {
			t.Fatalf("mia's sessions: %v", got)
		}
		phoneID := got["phone"]["id"].(string)
		wantProblem(t, ned.Do(t, "DELETE", "/v1/me/sessions/"+phoneID, nil), 404, "not-found")
		wantProblem(t, laptop.Do(t, "DELETE", "/v1/me/sessions/"+sessionsOf(t, ned)["ned's"]["id"].(string), nil), 404, "not-found")
		wantProblem(t, laptop.Do(t, "DELETE", "/v1/me/sessions/not-an-id", nil), 404, "not-found")
		if r := laptop.Do(t, "DELETE", "/v1/me/sessions/"+phoneID, nil); r.Status != 204 {
			t.Fatalf("end the phone's session: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, phone.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
		wantProblem(t, laptop.Do(t, "DELETE", "/v1/me/sessions/"+phoneID, nil), 404, "not-found")
		if n := countEvents(t, s, accountID(t, s, "mia"), "session.revoked"); n != 1 {
			t.Errorf("session.revoked events: %d, want 1", n)
		}

		// A second step's session, written by the store's second-step path.
		e := enrol(t, s, laptop, map[string]any{"type": "totp", "label": "phone"})
		s.Clock.Add(30 * time.Second)
		loginID, _ := startLogin(t, s, "mia")
		tablet := testenv.NewClient(s.URL())
		tablet.Header = http.Header{"User-Agent": {"tablet"}}
		v := tablet.Do(t, "POST", "/v1/login/"+loginID+"/verify", map[string]string{"method": "totp", "code": testenv.TOTP(t, e.secret, s.Clock.Now())})
		if v.Status != 200 {
			t.Fatalf("second step: got %d %s", v.Status, v.Body)
		}
		tablet.Token = v.String("token")
		got = sessionsOf(t, tablet)
		if got["tablet"]["signed_in_with"] != "second factor: totp" || got["tablet"]["elevated_until"] == nil || got["laptop"] == nil {
			t.Fatalf("after a second step: %v", got)
		}

		// Signed out everywhere: only sessions made since are listed.
		if r := tablet.Do(t, "POST", "/v1/logout/everywhere", nil); r.Status != 204 {
			t.Fatalf("logout everywhere: got %d", r.Status)
		}
		s.Clock.Add(30 * time.Second)
		loginID, _ = startLogin(t, s, "mia")
		v = verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, e.secret, s.Clock.Now())})
		fresh := testenv.NewClient(s.URL())
		fresh.Token = v.String("token")
		if got := sessionsOf(t, fresh); len(got) != 1 {
			t.Fatalf("after signing out everywhere: %v, want the new session only", got)
		}
	})
}

// TestSessionsNotHiddenByManyLogins: a session kept by someone who then
// signs in and out many times is still listed: the list leaves ended
// sessions out in its query rather than after reading a fixed number of
// events.
func TestSessionsNotHiddenByManyLogins(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "ora")
		signInAs(t, s, "ora", "kept")
		for range 210 {
			c := signInAs(t, s, "ora", "churn")
			if r := c.Do(t, "POST", "/v1/logout", nil); r.Status != 204 {
				t.Fatalf("logout: got %d", r.Status)
			}
		}
		owner := signInAs(t, s, "ora", "owner")
		got := sessionsOf(t, owner)
		if got["kept"] == nil || len(got) != 2 {
			t.Fatalf("sessions after 210 sign-ins and sign-outs: %v, want kept and owner", got)
		}
	})
}

// TestSessionsOutliveALoweredTTL: sessions made while --session-ttl was
// long keep their expiry and still work once it is lowered, so they are
// still listed, on the instance with the short lifetime too: none that
// works is hidden.
func TestSessionsOutliveALoweredTTL(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := dsn(t)
			long := testenv.NewServer(t, db, func(c *config.Config) { c.SessionTTL = 30 * 24 * time.Hour })
			addUser(t, long, "pia")
			laptop := signInAs(t, long, "pia", "laptop")
			short := testenv.NewServer(t, db, func(c *config.Config) { c.SessionTTL, c.KeyFile = time.Hour, long.Config.KeyFile })
			short.Clock.Set(long.Clock.Now().Add(48 * time.Hour))
			laptop.Base = short.URL()
			if r := laptop.Do(t, "GET", "/v1/me", nil); r.Status != 200 {
				t.Fatalf("the laptop's session two days on: got %d %s, want 200 (it lasts 30 days)", r.Status, r.Body)
			}
			signInAs(t, short, "pia", "phone")
			got := sessionsOf(t, laptop)
			if len(got) != 2 || got["laptop"] == nil || got["laptop"]["current"] != true || got["phone"] == nil {
				t.Fatalf("sessions under the lowered lifetime: %v, want the laptop's (this one) and the phone's", got)
			}
		})
	}
}

// TestEndingASessionTellsTheHolder: one session ending another is mailed
// to the holder, as it could be a thief's keeping itself while ending the
// owner's.
func TestEndingASessionTellsTheHolder(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "pia")
		first := signInAs(t, s, "pia", "first")
		signInAs(t, s, "pia", "second")
		id := sessionsOf(t, first)["second"]["id"].(string)
		if r := first.Do(t, "DELETE", "/v1/me/sessions/"+id, nil); r.Status != 204 {
			t.Fatalf("end: got %d %s", r.Status, r.Body)
		}
		if body := mailWith(t, mb, "a session of your account was signed out"); !strings.Contains(body, "127.0.0.1") {
			t.Errorf("mail:\n%s", body)
		}
	})
}

// TestNewSignInIsTold: a sign-in from a browser or network the account was
// not signed in from lately is mailed to the holder; the account's first
// sign-in, and one from a familiar browser on the same network, are not.
func TestNewSignInIsTold(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "quinn")
		signInAs(t, s, "quinn", "laptop") // the first: news to nobody
		signInAs(t, s, "quinn", "laptop") // familiar
		s.Service.Wait()
		signInAs(t, s, "quinn", "phone") // new
		subject, body := mailTo(t, mb, 1, "quinn@example.com")
		if !strings.Contains(subject, "a sign-in from a new browser or place") || !strings.Contains(body, "phone") || !strings.Contains(body, "127.0.0.1") {
			t.Fatalf("mail %q:\n%s", subject, body)
		}
		// The mails of the first two sign-ins, had there been any, were
		// queued before this one's and sent first.
		if n := len(mb.Messages()); n != 1 {
			t.Errorf("mails: %d, want only the new sign-in's", n)
		}
		// An account quiet for longer than the window: its next sign-in,
		// even from the browser and network of before, is news.
		s.Clock.Add(91 * 24 * time.Hour)
		signInAs(t, s, "quinn", "laptop")
		mb.Wait(t, 2, time.Minute)
	})
}
