package httpapi_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/factor/sshkey"
	"github.com/twofold/twofold/internal/testenv"
)

// TestRecoveryEndsOtherSessions: a second step on the recovery path of a
// lost phone (SPEC §1 story 4) — a recovery code, the paper key, a
// challenge signed with an SSH key, a code by text message or by email on
// an account that also has an app — signs every other session of the account out in
// its transaction: their tokens answer 401 at once, the new session works,
// the answer says how many were ended (other_sessions_ended), the account's
// log records it (session.ended_by_recovery) and the holder's notice of
// the recovery says it. API keys keep working. A sign-in with the app's
// code ends nothing, nor does a code by text message or email on an
// account whose only factor is its phone or its address. On SQLite and
// PostgreSQL.
func TestRecoveryEndsOtherSessions(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := testenv.NewSMSGateway(t)
			mb := testenv.NewSMTPServer(t)
			s := testenv.NewServer(t, dsn(t), g.Option(), mb.Option("Twofold <twofold@example.com>"))
			mailed := func(user, subject, line string) {
				t.Helper()
				for n := 1; ; n++ {
					for _, m := range mb.Wait(t, n, time.Minute) {
						subj, body := mailText(t, m)
						if strings.HasPrefix(m.To[0], user+"@") && strings.HasSuffix(subj, subject) && strings.Contains(body, line) {
							return
						}
					}
				}
			}
			// codeTo returns the code mailed to user's address after the
			// first from messages of the mailbox.
			codeTo := func(user string, from int) string {
				t.Helper()
				for n := from + 1; ; n++ {
					for _, m := range mb.Wait(t, n, time.Minute)[from:] {
						subj, body := mailText(t, m)
						if m.To[0] == user+"@example.com" && strings.Contains(subj, "your code") {
							if code := regexp.MustCompile(`\b[0-9]{6}\b`).FindString(body); code != "" {
								return code
							}
						}
					}
				}
			}
			for _, method := range []string{"recovery_code", "paper_key", "ssh_key", "sms", "email"} {
				t.Run(method, func(t *testing.T) {
					user := "r" + strings.ReplaceAll(method, "_", "")
					first, f := phoneUser(t, s, user) // a session from before two-factor
					var kp testenv.SSHKeyPair
					smsID, emailID := "", ""
					switch method {
					case "ssh_key":
						elevate(t, s, first, f)
						kp = testenv.SSHKeygen(t, "ed25519", 0)
						registerSSHKey(t, first, kp)
					case "sms":
						elevate(t, s, first, f)
						smsID, _ = enrolPhone(t, first, g, phone, phoneE164, "mobile")
					case "email":
						elevate(t, s, first, f)
						from := len(mb.Messages())
						r := first.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "email"})
						if r.Status != 201 {
							t.Fatalf("enrol email: got %d %s", r.Status, r.Body)
						}
						emailID = r.JSON["factor"].(map[string]any)["id"].(string)
						if r := first.Do(t, "POST", "/v1/me/factors/"+emailID+"/confirm", map[string]string{"code": codeTo(user, from)}); r.Status != 200 {
							t.Fatalf("confirm email: got %d %s", r.Status, r.Body)
						}
					}
					elevate(t, s, first, f)
					r := first.Do(t, "POST", "/v1/me/api-keys", map[string]any{"name": "script",
						"permits": []map[string]any{{"service": "account", "resource": "*", "actions": []string{"read"}}}})
					if r.Status != 201 {
						t.Fatalf("make a key: got %d %s", r.Status, r.Body)
					}
					key := testenv.NewClient(s.URL())
					key.Token = r.JSON["api_key"].(map[string]any)["id"].(string) + ":" + r.String("secret")

					// A second session, by the app's code: it ends none.
					s.Clock.Add(30 * time.Second)
					loginID, _ := startLogin(t, s, user)
					r = verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, f.secret, s.Clock.Now())})
					if r.Status != 200 || r.JSON["other_sessions_ended"] != nil {
						t.Fatalf("sign-in with the app: got %d %s, want 200 without other_sessions_ended", r.Status, r.Body)
					}
					tablet := testenv.NewClient(s.URL())
					tablet.Token = r.String("token")
					if r := first.Do(t, "GET", "/v1/me", nil); r.Status != 200 {
						t.Fatalf("the first session after a sign-in with the app: got %d %s, want 200", r.Status, r.Body)
					}

					// The recovery.
					loginID, _ = startLogin(t, s, user)
					proof := map[string]string{"method": method}
					switch method {
					case "recovery_code":
						proof["code"] = f.codes[0]
					case "paper_key":
						proof["code"] = f.paperKey
					case "ssh_key":
						r := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login/"+loginID+"/challenge", map[string]string{"method": "ssh_key"})
						if r.Status != 200 {
							t.Fatalf("ssh challenge: got %d %s", r.Status, r.Body)
						}
						proof["signature"] = testenv.SSHSign(t, kp.File, sshkey.Namespace, r.String("challenge"))
					case "sms":
						if r := challenge(t, s, loginID, map[string]string{"method": "sms", "factor_id": smsID}); r.Status != 202 {
							t.Fatalf("sms challenge: got %d %s", r.Status, r.Body)
						}
						proof["code"] = g.LastCode(t, phoneE164)
					case "email":
						from := len(mb.Messages())
						if r := challenge(t, s, loginID, map[string]string{"method": "email", "factor_id": emailID}); r.Status != 202 {
							t.Fatalf("email challenge: got %d %s", r.Status, r.Body)
						}
						proof["code"] = codeTo(user, from)
					}
					r = verify(t, s, loginID, proof)
					if r.Status != 200 || r.JSON["other_sessions_ended"] != float64(2) {
						t.Fatalf("sign-in with %s: got %d %s, want 200 with other_sessions_ended 2", method, r.Status, r.Body)
					}
					fresh := testenv.NewClient(s.URL())
					fresh.Token = r.String("token")
					for name, c := range map[string]*testenv.Client{"the first session": first, "the app's session": tablet} {
						if r := c.Do(t, "GET", "/v1/me", nil); r.Status != 401 || r.Problem() != "unauthorized" {
							t.Errorf("%s after the recovery: got %d %s, want 401 unauthorized", name, r.Status, r.Body)
						}
					}
					if r := fresh.Do(t, "GET", "/v1/me", nil); r.Status != 200 || r.String("username") != user {
						t.Fatalf("the new session: got %d %s, want 200", r.Status, r.Body)
					}
					if r := key.Do(t, "GET", "/v1/me", nil); r.Status != 200 {
						t.Fatalf("the API key after the recovery: got %d %s, want 200", r.Status, r.Body)
					}
					r = fresh.Do(t, "GET", "/v1/me/sessions", nil)
					if list, _ := r.JSON["sessions"].([]any); r.Status != 200 || len(list) != 1 {
						t.Errorf("sessions after the recovery: got %d %s, want the new one alone", r.Status, r.Body)
					}
					r = fresh.Do(t, "GET", "/v1/me/events?type=session.ended_by_recovery", nil)
					events, _ := r.JSON["events"].([]any)
					if wantDetail := "2 other sessions signed out: sign-in with " + method; r.Status != 200 || len(events) != 1 ||
						events[0].(map[string]any)["detail"] != wantDetail {
						t.Errorf("events: got %d %s, want one session.ended_by_recovery %q", r.Status, r.Body, wantDetail)
					}
					subject := map[string]string{"recovery_code": "a recovery code was used", "paper_key": "your paper key was used",
						"ssh_key": "your SSH key was used", "sms": "your other sessions were signed out", "email": "your other sessions were signed out"}[method]
					mailed(user, subject, "the 2 other sessions of your account were signed out")
					if how := map[string]string{"sms": "to your phone", "email": "by email"}[method]; how != "" {
						mailed(user, subject, "with a code sent "+how+" instead of your authenticator")
					}

					// The next recovery finds only the new session to end.
					if method == "recovery_code" {
						loginID, _ = startLogin(t, s, user)
						r = verify(t, s, loginID, map[string]string{"method": "recovery_code", "code": f.codes[1]})
						if r.Status != 200 || r.JSON["other_sessions_ended"] != float64(1) {
							t.Fatalf("a second recovery: got %d %s, want other_sessions_ended 1", r.Status, r.Body)
						}
						wantProblem(t, fresh.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
						mailed(user, subject, "the 1 other session of your account was signed out")
					}
				})
			}

			// A phone that is the account's only factor is its everyday
			// second step, not a way around it.
			t.Run("sms only", func(t *testing.T) {
				addUser(t, s, "smsonly")
				first := login(t, s, "smsonly")
				id, _ := enrolPhone(t, first, g, "+44 7400 654321", "+447400654321", "mobile")
				loginID, _ := startLogin(t, s, "smsonly")
				if r := challenge(t, s, loginID, map[string]string{"method": "sms", "factor_id": id}); r.Status != 202 {
					t.Fatalf("sms challenge: got %d %s", r.Status, r.Body)
				}
				r := verify(t, s, loginID, map[string]string{"method": "sms", "code": g.LastCode(t, "+447400654321")})
				if r.Status != 200 || r.JSON["other_sessions_ended"] != nil {
					t.Fatalf("sign-in with the only phone: got %d %s, want 200 without other_sessions_ended", r.Status, r.Body)
				}
				if r := first.Do(t, "GET", "/v1/me", nil); r.Status != http.StatusOK {
					t.Fatalf("the first session: got %d %s, want 200", r.Status, r.Body)
				}
			})

			// So is an address that is the account's only factor, or with
			// a phone the only ones: codes sent to it are its everyday
			// second step.
			t.Run("email and sms only", func(t *testing.T) {
				addUser(t, s, "emailonly")
				first := login(t, s, "emailonly")
				from := len(mb.Messages())
				r := first.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "email"})
				if r.Status != 201 {
					t.Fatalf("enrol email: got %d %s", r.Status, r.Body)
				}
				id := r.JSON["factor"].(map[string]any)["id"].(string)
				if r := first.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": codeTo("emailonly", from)}); r.Status != 200 {
					t.Fatalf("confirm email: got %d %s", r.Status, r.Body)
				}
				enrolPhone(t, first, g, "+44 7400 654322", "+447400654322", "mobile")
				loginID, _ := startLogin(t, s, "emailonly")
				from = len(mb.Messages())
				if r := challenge(t, s, loginID, map[string]string{"method": "email", "factor_id": id}); r.Status != 202 {
					t.Fatalf("email challenge: got %d %s", r.Status, r.Body)
				}
				r = verify(t, s, loginID, map[string]string{"method": "email", "code": codeTo("emailonly", from)})
				if r.Status != 200 || r.JSON["other_sessions_ended"] != nil {
					t.Fatalf("sign-in with the only address and phone: got %d %s, want 200 without other_sessions_ended", r.Status, r.Body)
				}
				if r := first.Do(t, "GET", "/v1/me", nil); r.Status != http.StatusOK {
					t.Fatalf("the first session: got %d %s, want 200", r.Status, r.Body)
				}
			})
		})
	}
}

// TestRecoveryEndsNoSession: a sign-in on the recovery path when no other
// session of the account is working still says how many it ended:
// other_sessions_ended 0, present (README: the count is told after every
// such second step, and only then). On SQLite and PostgreSQL.
func TestRecoveryEndsNoSession(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, f := phoneUser(t, s, "rnone")
		if r := c.Do(t, "POST", "/v1/logout", nil); r.Status/100 != 2 {
			t.Fatalf("sign out: got %d %s", r.Status, r.Body)
		}
		loginID, _ := startLogin(t, s, "rnone")
		r := verify(t, s, loginID, map[string]string{"method": "recovery_code", "code": f.codes[0]})
		if n, ok := r.JSON["other_sessions_ended"]; r.Status != 200 || !ok || n != float64(0) {
			t.Errorf("sign-in with a recovery code, no other session: got %d %s, want 200 with other_sessions_ended 0", r.Status, r.Body)
		}
	})
}
