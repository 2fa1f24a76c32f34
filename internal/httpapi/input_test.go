package httpapi_test

import (
	"bytes"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestMalformedBodies: every body that is not one JSON object of the
// expected shape, or that leaves out the username or the password, is a 400
// invalid problem that says what is wrong, and nothing is stored (SPEC §5).
// (A body over 64 KiB is 413 too-large: see TestBodyTooLargeSignIn.)
func TestMalformedBodies(t *testing.T) {
	s := testenv.NewServer(t, testenv.SQLiteDSN(t))
	addUser(t, s, "mia")
	for name, tc := range map[string]struct{ body, detail string }{
		"empty":          {"", "request body must be a JSON object"},
		"not JSON":       {"{", "request body is not valid JSON"},
		"an array":       {"[]", "request body must be a JSON object"},
		"a string":       {`"mia"`, "request body must be a JSON object"},
		"wrong type":     {`{"username": 5, "password": "x"}`, `field "username" must be a string`},
		"two objects":    {`{"username":"mia","password":"` + password + `"} {}`, "request body must hold a single JSON object"},
		"trailing junk":  {`{"username":"mia","password":"` + password + `"}x`, "request body must hold a single JSON object"},
		"null":           {"null", "request body must be a JSON object"},
		"unknown field":  {`{"username":"mia","password":"` + password + `","passwrd":"x"}`, `unknown field "passwrd"`},
		"number":         {`{"username":"mia","password":7}`, `field "password" must be a string`},
		"no password":    {`{"username":"mia"}`, "password is required"},
		"empty password": {`{"username":"mia","password":""}`, "password is required"},
		"no username":    {`{"password":"` + password + `"}`, "username is required"},
		"empty fields":   {`{"username":"","password":""}`, "username is required"},
	} {
		r := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", tc.body) // a string is sent as is
		wantProblem(t, r, 400, "invalid")
		if !strings.HasPrefix(r.String("detail"), tc.detail) {
			t.Errorf("%s: detail %q, want it to start with %q", name, r.String("detail"), tc.detail)
		}
	}
	// A client that keeps sending an empty password (a script whose
	// secret was not set) is told so each time, without costing the owner
	// the password attempts of her username.
	for range 12 {
		r := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "mia", "password": ""})
		wantProblem(t, r, 400, "invalid")
	}
	// None of them counted as a password attempt or made a session.
	c := login(t, s, "mia")
	for _, e := range c.Do(t, "GET", "/v1/me/events?limit=200", nil).JSON["events"].([]any) {
		if e.(map[string]any)["type"] == "login.password_failed" {
			t.Errorf("a malformed body was counted as a wrong password: %v", e)
		}
	}
}

// TestMeShowsElevation: GET /v1/me says whether the session is elevated and
// until when (SPEC §3.1): right after a login with a second step, and no
// longer 10 minutes later.
func TestMeShowsElevation(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		_, f := phoneUser(t, s, "max")
		id, _ := startLogin(t, s, "max")
		r := verify(t, s, id, map[string]string{"method": "totp", "code": testenv.TOTP(t, f.secret, s.Clock.Now())})
		c := testenv.NewClient(s.URL())
		c.Token = r.String("token")
		me := c.Do(t, "GET", "/v1/me", nil)
		until, err := time.Parse(time.RFC3339, me.String("elevated_until"))
		if me.JSON["elevated"] != true || err != nil || !until.Equal(s.Clock.Now().Add(10*time.Minute)) {
			t.Errorf("after the second step: elevated %v until %q, want true until 10 minutes on", me.JSON["elevated"], me.String("elevated_until"))
		}
		s.Clock.Add(10*time.Minute + time.Second)
		me = c.Do(t, "GET", "/v1/me", nil)
		if _, has := me.JSON["elevated_until"]; me.JSON["elevated"] != false || has {
			t.Errorf("11 minutes later: got %s, want elevated false and no elevated_until", me.Body)
		}
	})
}

// TestQRSize: the enrolment QR code is 256 pixels square unless ?size= asks
// for 128 to 1024; other sizes get the default.
func TestQRSize(t *testing.T) {
	s := testenv.NewServer(t, testenv.SQLiteDSN(t))
	addUser(t, s, "quin")
	c := login(t, s, "quin")
	r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "phone"})
	url := r.String("qr_png_url")
	for query, want := range map[string]int{"": 256, "?size=512": 512, "?size=128": 128, "?size=5000": 256, "?size=12": 256, "?size=big": 256} {
		req, _ := http.NewRequest("GET", s.URL()+url+query, nil)
		req.Header.Set("Authorization", "Bearer "+c.Token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(res.Body)
		res.Body.Close()
		img, err := png.Decode(&b)
		if err != nil {
			t.Fatalf("%q: not a PNG (%d): %v", query, res.StatusCode, err)
		}
		if got := img.Bounds().Dx(); got != want || img.Bounds().Dy() != want {
			t.Errorf("%q: got %dx%d, want %dx%d", query, got, img.Bounds().Dy(), want, want)
		}
	}
}

// TestUserAgentNotUTF8: a User-Agent that is not UTF-8 (or is cut in the
// middle of a character) is cleaned before it reaches the audit log. On
// PostgreSQL such an event was refused, which rolled back the throttle slot
// of every wrong code while the code was still answered: guessing ran
// unthrottled, and a right code got a 500 and stayed unspent.
func TestUserAgentNotUTF8(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "uma")
		c := login(t, s, "uma")
		phone := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
		s.Clock.Add(30 * time.Second)
		loginID, _ := startLogin(t, s, "uma")
		bad := testenv.NewClient(s.URL())
		bad.Header.Set("User-Agent", "x\xff"+strings.Repeat("é", 200))
		right := testenv.TOTP(t, phone.secret, s.Clock.Now())
		wrong := otherCode(right)
		send := func(code string) testenv.Response {
			return bad.Do(t, "POST", "/v1/login/"+loginID+"/verify", map[string]string{"method": "totp", "factor_id": phone.id, "code": code})
		}
		for range 3 {
			wantProblem(t, send(wrong), 401, "invalid-code")
		}
		wantProblem(t, send(wrong), 429, "throttled")
		s.Clock.Add(2 * time.Second)
		r := send(right)
		if r.Status != 200 {
			t.Fatalf("right code: got %d %s", r.Status, r.Body)
		}
		c.Token = r.String("token")
		ev := c.Do(t, "GET", "/v1/me/events?limit=1", nil)
		e := ev.JSON["events"].([]any)[0].(map[string]any)
		if ua := e["user_agent"].(string); !strings.HasPrefix(ua, "x\uFFFDé") || len(ua) > 256 {
			t.Errorf("user agent recorded as %q (%d bytes)", ua, len(ua))
		}
	})
}

// TestUnknownPathsAndMethods: under /v1/ an unknown path (a trailing slash
// included) is a 404 problem, and a known path with another method a 405
// problem that names the allowed methods, as JSON clients expect; the pages
// keep their own answers.
func TestUnknownPathsAndMethods(t *testing.T) {
	s := testenv.NewServer(t, testenv.SQLiteDSN(t))
	c := testenv.NewClient(s.URL())
	for _, path := range []string{"/v1/nothing", "/v1/me/", "/v1/login/x/y/z"} {
		wantProblem(t, c.Do(t, "GET", path, nil), 404, "not-found")
	}
	for _, tc := range []struct{ method, path, allow string }{
		{"PUT", "/v1/me", "DELETE, GET, HEAD"},
		{"POST", "/v1/time", "GET, HEAD"},
		{"GET", "/v1/login", "POST"},
		{"PUT", "/v1/me/factors/abc", "DELETE, GET, HEAD, PATCH"},
	} {
		r := c.Do(t, tc.method, tc.path, nil)
		wantProblem(t, r, 405, "method-not-allowed")
		if got := r.Header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
	if r := c.Do(t, "GET", "/no-such-page", nil); r.Status != 404 || r.Header.Get("Content-Type") == "application/problem+json" {
		t.Errorf("an unknown page: got %d %s, want the pages' own 404", r.Status, r.Header.Get("Content-Type"))
	}
}
