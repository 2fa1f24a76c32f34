package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/testenv"
)

// cookieLoginID returns the login id that a login cookie's value v holds,
// as the JSON API names the login: v without its MAC.
func cookieLoginID(t testing.TB, v string) string {
	t.Helper()
	id, mac, ok := strings.Cut(v, ".")
	if !ok || id == "" || mac == "" {
		t.Fatalf("the login cookie %q is not an id and a MAC", v)
	}
	return id
}

// apiLogin begins username's sign-in through the JSON API and returns its
// login_id (SPEC §3.1), which the API's client holds and its URLs carry.
func apiLogin(t *testing.T, base, username string) string {
	t.Helper()
	r := testenv.NewClient(base).Do(t, "POST", "/v1/login", map[string]string{"username": username, "password": testPassword})
	if r.Status != http.StatusOK || r.String("status") != "second_factor_required" || r.String("login_id") == "" {
		t.Fatalf("POST /v1/login %s: %d %s", username, r.Status, r.Body)
	}
	return r.String("login_id")
}

// apiVerify sends the second step of login loginID with a TOTP code
// through the JSON API.
func apiVerify(t *testing.T, base, loginID, code string) testenv.Response {
	t.Helper()
	return testenv.NewClient(base).Do(t, "POST", "/v1/login/"+loginID+"/verify", map[string]string{"method": "totp", "code": code})
}

// withLoginCookie sends method path (with form, and a CSRF token of its
// own) from a browser of its own whose login cookie is value, following
// no redirect, and returns the answer: what someone who only holds value
// gets from the pages.
func withLoginCookie(t *testing.T, base, method, path string, form url.Values, value string) (*http.Response, string) {
	t.Helper()
	c := newClient(t, base)
	c.get("/login") // the browser's CSRF cookie, and a token for it
	cookies := append(jarFor(t, c, path), &http.Cookie{Name: "twofold_login", Value: value})
	if method == "POST" {
		form.Set("csrf", c.csrf)
		return resend(t, c, path, form, cookies)
	}
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range cookies {
		req.AddCookie(k)
	}
	hc := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

// signInAgain reports whether res sends the browser to sign in again, as
// for a browser with no sign-in waiting.
func signInAgain(res *http.Response) bool {
	loc := res.Header.Get("Location")
	return res.StatusCode == http.StatusSeeOther && (loc == "/login" || loc == "/login?m=expired")
}

// TestLoginIDAloneActsOnNoSignIn: the pages' login cookie holds the login
// id with a MAC that only the server makes. A browser whose cookie holds a
// login id without it, whether taken from the JSON API (POST /v1/login's
// login_id, which URLs carry) or from a browser's cookie stripped of its
// MAC, or with a MAC that is tampered with or another login's, is sent to
// sign in again by every page of the second step: it sees none of the
// account's methods, sends no code, push or challenge, signs in with no
// code, and ends no session as a form sent twice would
// (TestVerifySentTwice). The login it names is untouched: its owner
// completes it, through the API or in the browser that signed in. On
// SQLite and PostgreSQL.
func TestLoginIDAloneActsOnNoSignIn(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const e164 = "+447400123456"
			g := testenv.NewSMSGateway(t)
			ts := testenv.NewServer(t, dsn(t), g.Option())
			base := ts.URL()
			k := accountWithKeys(t, ts, "alice")
			smsID := smsAccount(t, ts, g, "sid", e164)

			// refused sends every page of the second step with the
			// cookie value and wants each to say to sign in again.
			refused := func(what, value, code string) {
				t.Helper()
				for _, q := range []struct {
					method, path string
					form         url.Values
				}{
					{"GET", "/login/verify", nil},
					{"GET", "/login/verify?method=ssh_key", nil},
					{"GET", "/login/verify/challenge.txt", nil},
					{"POST", "/login/verify/ssh", url.Values{}},
					{"POST", "/login/verify/push", url.Values{"factor_id": {"x"}}},
					{"POST", "/login/verify", url.Values{"method": {"totp"}, "code": {code}}},
				} {
					res, body := withLoginCookie(t, base, q.method, q.path, q.form, value)
					if !signInAgain(res) {
						t.Errorf("%s: %s %s: %d to %q, want 303 to sign in again: %s", what, q.method, q.path, res.StatusCode, res.Header.Get("Location"), pageError(body))
					}
				}
				res, body := withLoginCookie(t, base, "POST", "/login/verify/webauthn", url.Values{}, value)
				if res.StatusCode != http.StatusGone || strings.Contains(body, "publicKey") {
					t.Errorf("%s: security key options: %d %s, want 410 and no options", what, res.StatusCode, body)
				}
			}

			// A login begun through the API: the login id alone shows,
			// sends and completes nothing, even with the right code, and
			// its owner then completes it.
			loginID := apiLogin(t, base, "alice")
			code := testenv.TOTP(t, k.secret, ts.Clock.Now())
			refused("the API's login id", loginID, code)
			if api := apiVerify(t, base, loginID, code); api.Status != http.StatusOK {
				t.Errorf("the owner's own second step through the API after the pages were tried: %d %s", api.Status, api.Body)
			}

			// Sent again with the login id within core.LostRenewalWindow
			// of the owner's sign-in through the API, the second step
			// ends nothing.
			ts.Clock.Add(30 * time.Second) // a code of its own
			loginID = apiLogin(t, base, "alice")
			api := apiVerify(t, base, loginID, testenv.TOTP(t, k.secret, ts.Clock.Now()))
			if api.Status != http.StatusOK || api.String("token") == "" {
				t.Fatalf("the owner's second step through the API: %d %s", api.Status, api.Body)
			}
			res, body := withLoginCookie(t, base, "POST", "/login/verify", url.Values{"method": {"totp"}, "code": {"000000"}}, loginID)
			if !signInAgain(res) || strings.Contains(body, "went through") {
				t.Errorf("the second step sent with a finished login's id: %d to %q, want 303 to sign in again: %s", res.StatusCode, res.Header.Get("Location"), pageError(body))
			}
			if _, err := ts.Service.Authenticate(context.Background(), api.String("token")); err != nil {
				t.Errorf("the owner's session after the login id was sent as a second step: %v", err)
			}

			// No code is texted for a login id alone.
			smsLogin := apiLogin(t, base, "sid")
			texts := len(g.Messages())
			res, body = withLoginCookie(t, base, "POST", "/login/verify/send", url.Values{"method": {"sms"}, "factor_id": {smsID}}, smsLogin)
			if !signInAgain(res) || len(g.Messages()) != texts {
				t.Errorf("a code asked for with the login id: %d to %q, %d texts sent, want 303 to sign in again and none: %s",
					res.StatusCode, res.Header.Get("Location"), len(g.Messages())-texts, pageError(body))
			}

			// A browser's own login cookie: its id alone, or its MAC
			// tampered with or taken from another login, does nothing;
			// the browser itself then completes the sign-in.
			ts.Clock.Add(30 * time.Second)
			c := newClient(t, base)
			c.signIn("alice")
			own := jarLoginCookie(t, c)
			other := newClient(t, base)
			other.signIn("alice")
			id := cookieLoginID(t, own)
			mac := own[len(id)+1:]
			otherMAC := jarLoginCookie(t, other)[len(cookieLoginID(t, jarLoginCookie(t, other)))+1:]
			flipped := "A" + mac[1:] // its first character (its first six bits) changed
			if mac[0] == 'A' {
				flipped = "B" + mac[1:]
			}
			code = testenv.TOTP(t, k.secret, ts.Clock.Now())
			for what, value := range map[string]string{
				"the cookie's id without its MAC": id,
				"the id and an empty MAC":         id + ".",
				"a tampered MAC":                  id + "." + flipped,
				"another login's MAC":             id + "." + otherMAC,
				"a MAC that is not base64":        id + ".!" + mac[1:],
			} {
				refused(what, value, code)
			}
			if r := c.totp(ts, k.secret); r.url.Path != "/settings/security" {
				t.Errorf("the browser's own second step after the others: at %s: %s", r.url, pageError(r.body))
			}
		})
	}
}

// jarLoginCookie returns the login cookie in c's jar.
func jarLoginCookie(t *testing.T, c *client) string {
	t.Helper()
	for _, k := range jarFor(t, c, "/login/verify") {
		if k.Name == "twofold_login" {
			return k.Value
		}
	}
	t.Fatal("no login cookie after the password")
	return ""
}

// TestLoginCookieAcrossInstancesAndRotation: the login cookie's MAC is
// keyed by the key file's hash key, which every instance on one database
// shares and a key rotation (twofold keys rotate) keeps: a sign-in begun
// on one instance finishes on another started after a rotation. On SQLite
// and PostgreSQL.
func TestLoginCookieAcrossInstancesAndRotation(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := dsn(t)
			ts := testenv.NewServer(t, db)
			secret := account(t, ts, "alice", false, true)
			c := newClient(t, ts.URL())
			c.signIn("alice")
			if _, err := keyring.Rotate(context.Background(), ts.Config.KeyFile, ts.Store, keyring.RotateOptions{}); err != nil {
				t.Fatalf("rotate: %v", err)
			}
			ts2 := testenv.NewServer(t, db, sameKeyFile(ts))
			ts2.Clock.Set(ts.Clock.Now())
			c2 := newClient(t, ts2.URL())
			c2.http.Jar = c.http.Jar // the same browser, behind a balancer
			c2.csrf = c.csrf
			if r := c2.totp(ts2, secret); r.url.Path != "/settings/security" {
				t.Fatalf("the second step on another instance, after a rotation: at %s: %s", r.url, pageError(r.body))
			}
		})
	}
}
