package httpapi_test

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// factorLabel returns the label of factor id in the caller's GET /v1/me.
func factorLabel(t *testing.T, c *testenv.Client, id string) string {
	t.Helper()
	r := c.Do(t, "GET", "/v1/me", nil)
	if r.Status != 200 {
		t.Fatalf("GET /v1/me: got %d %s", r.Status, r.Body)
	}
	for _, x := range r.JSON["factors"].([]any) {
		if f := x.(map[string]any); f["id"] == id {
			return f["label"].(string)
		}
	}
	t.Fatalf("factor %s not in GET /v1/me", id)
	return ""
}

// TestRenameFactor: a factor's label can be changed by its owner only, to a
// label of one line of at most 64 characters with no control or
// text-direction characters (SPEC §1 story 3), and the change is audited.
func TestRenameFactor(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, f := phoneUser(t, s, "rita")
		r := c.Do(t, "PATCH", "/v1/me/factors/"+f.id, map[string]string{"label": "  work phone "})
		if r.Status != 200 {
			t.Fatalf("rename: got %d %s, want 200", r.Status, r.Body)
		}
		if got := r.JSON["factor"].(map[string]any)["label"]; got != "work phone" {
			t.Errorf("rename answered label %q, want %q", got, "work phone")
		}
		if got := factorLabel(t, c, f.id); got != "work phone" {
			t.Errorf("after rename: label %q, want %q", got, "work phone")
		}

		for name, label := range map[string]string{
			"empty":              "   ",
			"too long":           strings.Repeat("é", 65),
			"two lines":          "phone\nline two",
			"escape sequence":    "phone\x1b[31m",
			"delete character":   "phone\x7f",
			"direction override": "phone\u202eenohp",
			"direction isolate":  "\u2067phone",
			"zero-width space":   "ph\u200bone",
			"line separator":     "phone\u2028two",
			"not UTF-8":          "ph\xffone", // the JSON encoder sends it as U+FFFD
		} {
			r := c.Do(t, "PATCH", "/v1/me/factors/"+f.id, map[string]string{"label": label})
			if r.Status != 400 || r.Problem() != "invalid" {
				t.Errorf("label %s: got %d %s, want 400 invalid", name, r.Status, r.Body)
			}
		}
		if r := c.Do(t, "PATCH", "/v1/me/factors/"+f.id, map[string]any{"label": 7}); r.Status != 400 {
			t.Errorf("label of the wrong type: got %d %s, want 400", r.Status, r.Body)
		}
		if got := factorLabel(t, c, f.id); got != "work phone" {
			t.Errorf("after refused renames: label %q, want %q", got, "work phone")
		}

		// Another account's factor, or none at all, is not found; the
		// owner's label stays.
		other, _ := phoneUser(t, s, "mallory")
		wantProblem(t, other.Do(t, "PATCH", "/v1/me/factors/"+f.id, map[string]string{"label": "mine now"}), 404, "not-found")
		wantProblem(t, c.Do(t, "PATCH", "/v1/me/factors/no-such-factor", map[string]string{"label": "x"}), 404, "not-found")
		if got := factorLabel(t, c, f.id); got != "work phone" {
			t.Errorf("after another account's rename: label %q, want %q", got, "work phone")
		}
		anon := testenv.NewClient(s.URL())
		wantProblem(t, anon.Do(t, "PATCH", "/v1/me/factors/"+f.id, map[string]string{"label": "x"}), 401, "unauthorized")

		renamed := 0
		for _, e := range c.Do(t, "GET", "/v1/me/events?limit=100", nil).JSON["events"].([]any) {
			if e.(map[string]any)["type"] == "factor.renamed" {
				renamed++
			}
		}
		if renamed != 1 {
			t.Errorf("got %d factor.renamed events, want 1 (refused renames are not changes)", renamed)
		}
	})
}

// TestEventsQuery: the page parameters of GET /v1/me/events are checked, not
// guessed at: a malformed one is a 400 problem, not silently the first page.
func TestEventsQuery(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, _ := phoneUser(t, s, "eve")
		for _, q := range []string{"limit=abc", "limit=0", "limit=201", "limit=-1", "before=abc", "before=-5", "before=1.5", "afer=1", "Limit=5", "type=login.succeeded&account=x", "_=123"} {
			wantProblem(t, c.Do(t, "GET", "/v1/me/events?"+q, nil), 400, "invalid")
		}
		all := c.Do(t, "GET", "/v1/me/events", nil)
		if all.Status != 200 {
			t.Fatalf("events: got %d %s", all.Status, all.Body)
		}
		list := all.JSON["events"].([]any)
		if len(list) < 2 {
			t.Fatalf("got %d events, want at least 2 (login, enrolment)", len(list))
		}
		first := c.Do(t, "GET", "/v1/me/events?limit=1", nil)
		page := first.JSON["events"].([]any)
		if len(page) != 1 || page[0].(map[string]any)["id"] != list[0].(map[string]any)["id"] {
			t.Fatalf("limit=1: got %v, want the newest event only", page)
		}
		next := c.Do(t, "GET", "/v1/me/events?limit=200&before="+jsonNumber(first.JSON["next_before"]), nil)
		if rest := next.JSON["events"].([]any); len(rest) != len(list)-1 {
			t.Errorf("the page after the first: got %d events, want %d", len(rest), len(list)-1)
		}
	})
}

// jsonNumber formats a number decoded from JSON as an integer.
func jsonNumber(v any) string {
	f, _ := v.(float64)
	return strconv.FormatInt(int64(f), 10)
}

// TestAddingAFactorNeedsElevation: on an account with two-factor on, adding
// a factor needs an elevated session at both ends, the start and the
// confirmation. Otherwise a password-only session (two-factor not required
// at login) or a stolen one could add a factor of its own, elevate with it,
// and remove the owner's.
func TestAddingAFactorNeedsElevation(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "gina")
		c := login(t, s, "gina")
		phone := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": phone.paperKey}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		if r := c.Do(t, "PUT", "/v1/me/two-factor", map[string]any{"required": false}); r.Status != 200 {
			t.Fatalf("two-factor off: got %d %s", r.Status, r.Body)
		}
		spare := startEnrol(t, c, map[string]any{"type": "totp", "label": "spare"})

		// A password-only session can neither start nor finish an enrolment.
		intruder := login(t, s, "gina")
		wantProblem(t, intruder.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "evil"}), 403, "elevation-required")
		code := testenv.TOTP(t, spare.secret, s.Clock.Now())
		wantProblem(t, intruder.Do(t, "POST", "/v1/me/factors/"+spare.id+"/confirm", map[string]string{"code": code}), 403, "elevation-required")
		// Nor can the owner's session once its elevation lapsed.
		s.Clock.Add(11 * time.Minute)
		code = testenv.TOTP(t, spare.secret, s.Clock.Now())
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors/"+spare.id+"/confirm", map[string]string{"code": code}), 403, "elevation-required")
		if r := c.Do(t, "GET", "/v1/me/factors", nil); strings.Count(string(r.Body), `"active"`) != 1 {
			t.Fatalf("factors after refused confirmations: %s", r.Body)
		}
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, phone.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		if r := c.Do(t, "POST", "/v1/me/factors/"+spare.id+"/confirm", map[string]string{"code": code}); r.Status != 200 {
			t.Fatalf("confirm when elevated: got %d %s", r.Status, r.Body)
		}
	})
}

// TestPendingSecretNeedsElevation: the QR code of a factor being added
// shows its secret, so on an account with two-factor on it takes an
// elevated session, as adding the factor does (SPEC §3.1). Else a session
// signed in with the password only (two-factor not required) could read
// the secret of the owner's new factor and, once the owner confirmed it,
// make codes and elevate with them. An account with no factor yet may read
// it, as it may add one.
func TestPendingSecretNeedsElevation(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "hana")
		c := login(t, s, "hana")
		first := startEnrol(t, c, map[string]any{"type": "totp", "label": "phone"})
		if r := c.Do(t, "GET", "/v1/me/factors/"+first.id+"/qr.png", nil); r.Status != 200 || r.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("QR code of the first factor, password-only session: got %d %s, want 200", r.Status, r.Body)
		}
		code := testenv.TOTP(t, first.secret, s.Clock.Now())
		if r := c.Do(t, "POST", "/v1/me/factors/"+first.id+"/confirm", map[string]string{"code": code}); r.Status != 200 {
			t.Fatalf("confirm: got %d %s", r.Status, r.Body)
		}
		s.Clock.Add(30 * time.Second)
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, first.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		if r := c.Do(t, "PUT", "/v1/me/two-factor", map[string]any{"required": false}); r.Status != 200 {
			t.Fatalf("two-factor off: got %d %s", r.Status, r.Body)
		}
		for _, typ := range []string{"totp", "hotp"} {
			laptop := startEnrol(t, c, map[string]any{"type": typ, "label": "laptop " + typ})
			qr := "/v1/me/factors/" + laptop.id + "/qr.png"
			if r := c.Do(t, "GET", qr, nil); r.Status != 200 {
				t.Fatalf("%s: QR code, elevated session: got %d %s", typ, r.Status, r.Body)
			}
			intruder := login(t, s, "hana")
			wantProblem(t, intruder.Do(t, "GET", qr, nil), 403, "elevation-required")
			wantProblem(t, intruder.Do(t, "GET", qr+"?size=512", nil), 403, "elevation-required")
		}
		// Nor the owner's session once its elevation lapsed, until it
		// elevates again.
		laptop := startEnrol(t, c, map[string]any{"type": "totp", "label": "laptop"})
		s.Clock.Add(11 * time.Minute)
		wantProblem(t, c.Do(t, "GET", "/v1/me/factors/"+laptop.id+"/qr.png", nil), 403, "elevation-required")
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, first.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		if r := c.Do(t, "GET", "/v1/me/factors/"+laptop.id+"/qr.png", nil); r.Status != 200 {
			t.Fatalf("QR code, elevated again: got %d %s", r.Status, r.Body)
		}
	})
}

// TestPendingSecretBoundToSession: on an account without an active factor
// no session can be elevated, so the secret of a factor being set up is
// shown, and the factor confirmed, only by the session that started the
// setup. Another session signed in with the password alone gets 404 for the
// QR code and the confirmation, naming no secret: else it could copy the
// key of the owner's first authenticator and make its codes. A session
// elevated by a second factor may not either: the setup is the session's
// that started it.
func TestPendingSecretBoundToSession(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "ivy")
		owner := login(t, s, "ivy")
		phone := startEnrol(t, owner, map[string]any{"type": "totp", "label": "phone"})
		token := startEnrol(t, owner, map[string]any{"type": "hotp", "label": "token"})

		other := login(t, s, "ivy")
		for _, f := range []enrolled{phone, token} {
			qr := "/v1/me/factors/" + f.id + "/qr.png"
			for _, path := range []string{qr, qr + "?size=512"} {
				r := other.Do(t, "GET", path, nil)
				wantProblem(t, r, 404, "not-found")
				if bytes.Contains(r.Body, []byte(f.secret)) || bytes.Contains(r.Body, []byte("otpauth")) {
					t.Errorf("GET %s, another session: the problem names the secret: %s", path, r.Body)
				}
			}
		}
		// Nor may it confirm with a code (one it has from elsewhere): the
		// first factor's recovery codes and paper key are the owner's.
		r := other.Do(t, "POST", "/v1/me/factors/"+phone.id+"/confirm", map[string]string{"code": testenv.TOTP(t, phone.secret, s.Clock.Now())})
		wantProblem(t, r, 404, "not-found")
		if bytes.Contains(r.Body, []byte(phone.secret)) {
			t.Errorf("confirm, another session: the problem names the secret: %s", r.Body)
		}

		// The session that started the setup sees the QR code and confirms.
		for _, f := range []enrolled{phone, token} {
			if r := owner.Do(t, "GET", "/v1/me/factors/"+f.id+"/qr.png", nil); r.Status != 200 || r.Header.Get("Content-Type") != "image/png" {
				t.Fatalf("QR code, the session that started the setup: got %d %s", r.Status, r.Body)
			}
		}
		r = owner.Do(t, "POST", "/v1/me/factors/"+phone.id+"/confirm", map[string]string{"code": testenv.TOTP(t, phone.secret, s.Clock.Now())})
		if r.Status != 200 || r.String("paper_key") == "" {
			t.Fatalf("confirm, the session that started the setup: got %d %s", r.Status, r.Body)
		}

		// Nor does a session elevated by the second step of its login: the
		// setup is still the session's that started it.
		s.Clock.Add(30 * time.Second)
		loginID, _ := startLogin(t, s, "ivy")
		v := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, phone.secret, s.Clock.Now())})
		if v.Status != 200 {
			t.Fatalf("second step: got %d %s", v.Status, v.Body)
		}
		elevated := testenv.NewClient(s.URL())
		elevated.Token = v.String("token")
		wantProblem(t, elevated.Do(t, "GET", "/v1/me/factors/"+token.id+"/qr.png", nil), 404, "not-found")
		wantProblem(t, elevated.Do(t, "POST", "/v1/me/factors/"+token.id+"/confirm", map[string]string{"code": testenv.HOTP(t, token.secret, 0)}), 404, "not-found")
	})
}

// TestRecoveryCodesNeedAFactor: without an active factor there are no
// recovery codes to make, and the answer says so (400), rather than asking
// for an elevation the account has nothing to give.
func TestRecoveryCodesNeedAFactor(t *testing.T) {
	s := testenv.NewServer(t, testenv.SQLiteDSN(t))
	addUser(t, s, "hana")
	c := login(t, s, "hana")
	r := c.Do(t, "POST", "/v1/me/recovery-codes", nil)
	wantProblem(t, r, 400, "invalid")
	if !strings.Contains(r.String("detail"), "enable two-factor") {
		t.Errorf("detail %q", r.String("detail"))
	}
}

// TestFactorLabelsAreDistinct: no two of an account's factors share a name,
// ignoring case, so that one can never pass for the other at login or in a
// notice; and an account cannot pile up unfinished setups.
func TestFactorLabelsAreDistinct(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, phone := phoneUser(t, s, "lena")
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": phone.paperKey}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		label := factorLabel(t, c, phone.id)
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": strings.ToUpper(label)}), 409, "conflict")
		tablet := startEnrol(t, c, map[string]any{"type": "totp", "label": "tablet"})
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "Tablet"}), 409, "conflict")
		wantProblem(t, c.Do(t, "PATCH", "/v1/me/factors/"+tablet.id, map[string]string{"label": label}), 409, "conflict")
		if r := c.Do(t, "PATCH", "/v1/me/factors/"+tablet.id, map[string]string{"label": "TABLET"}); r.Status != 200 {
			t.Errorf("renaming a factor to its own name in other case: got %d %s", r.Status, r.Body)
		}
		for i := range 4 {
			startEnrol(t, c, map[string]any{"type": "totp", "label": fmt.Sprintf("spare %d", i)})
		}
		r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "one too many"})
		wantProblem(t, r, 409, "conflict")
		if !strings.Contains(r.String("detail"), "not finished") {
			t.Errorf("detail %q", r.String("detail"))
		}
		if r := c.Do(t, "DELETE", "/v1/me/factors/"+tablet.id, nil); r.Status != 204 {
			t.Fatalf("cancel a setup: got %d %s", r.Status, r.Body)
		}
		startEnrol(t, c, map[string]any{"type": "totp", "label": "one too many"})
	})
}

// TestFactorFieldsByType: a factor's JSON carries the fields of its kind
// only. TOTP has algorithm, digits and period, HOTP algorithm and digits;
// push devices, security keys and sms and email factors have none of them
// (no "algorithm":"" or "digits":0), and only sms and email a destination.
// Checked where factors are shown: the enrolment's answer, GET
// /v1/me/factors and GET /v1/me.
func TestFactorFieldsByType(t *testing.T) {
	// A server that sends texts and mail: each kind of factor can be added.
	eachStoreWith(t, []testenv.ServerOption{testenv.NewSMSGateway(t).Option(), testenv.NewSMTPServer(t).Option("Twofold <twofold@example.com>")}, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "fia")
		c := login(t, s, "fia")
		app := enrol(t, s, c, map[string]any{"type": "totp", "label": "app", "algorithm": "SHA256", "digits": 8, "period": 60}, "--totp=sha256", "-d", "8", "-s", "60s")
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": app.paperKey}); r.Status != 200 {
			t.Fatalf("elevate: %d %s", r.Status, r.Body)
		}
		want := map[string]map[string]any{ // by type: the kind's own fields, with their values when fixed
			"totp":     {"algorithm": "SHA256", "digits": 8.0, "period": 60.0},
			"hotp":     {"algorithm": "SHA1", "digits": 6.0},
			"sms":      {"destination": phoneMasked},
			"email":    {"destination": "f•••@example.com"},
			"webauthn": {},
			"push":     {},
		}
		check := func(where string, f map[string]any) {
			t.Helper()
			typ, _ := f["type"].(string)
			own, ok := want[typ]
			if !ok {
				t.Fatalf("%s: factor of unexpected type %q", where, typ)
			}
			for _, k := range []string{"algorithm", "digits", "period", "destination"} {
				got, present := f[k]
				wantV, wantPresent := own[k]
				switch {
				case present != wantPresent:
					t.Errorf("%s: %s factor has %q: %v, want it present %v (%v)", where, typ, k, present, wantPresent, f)
				case present && got != wantV:
					t.Errorf("%s: %s factor's %q = %v, want %v", where, typ, k, got, wantV)
				}
			}
			for _, k := range []string{"id", "type", "label", "status", "created_at"} {
				if _, ok := f[k]; !ok {
					t.Errorf("%s: %s factor lacks %q (SPEC §3.1): %v", where, typ, k, f)
				}
			}
		}
		for _, body := range []map[string]any{
			{"type": "hotp", "label": "token"},
			{"type": "sms", "label": "mobile", "phone": phone},
			{"type": "email", "label": "mail"},
			{"type": "webauthn", "label": "key"},
			{"type": "push", "label": "phone"},
		} {
			r := c.Do(t, "POST", "/v1/me/factors", body)
			if r.Status != 201 {
				t.Fatalf("enrol %v: got %d %s, want 201", body, r.Status, r.Body)
			}
			check("enrolment", r.JSON["factor"].(map[string]any))
		}
		seen := map[string]bool{}
		for _, path := range []string{"/v1/me/factors", "/v1/me"} {
			r := c.Do(t, "GET", path, nil)
			if r.Status != 200 {
				t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
			}
			for _, x := range r.JSON["factors"].([]any) {
				f := x.(map[string]any)
				check("GET "+path, f)
				seen[f["type"].(string)] = true
			}
		}
		for typ := range want {
			if !seen[typ] {
				t.Errorf("no %s factor listed", typ)
			}
		}
	})
}

// TestConfirmWithoutCodeCostsNothing: a confirmation without a code is no
// attempt: 400, and no slot of the confirmation's throttle is taken, so the
// right code still passes after many of them.
func TestConfirmWithoutCodeCostsNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "cleo")
		c := login(t, s, "cleo")
		e := startEnrol(t, c, map[string]any{"type": "totp", "label": "phone"})
		for _, body := range []map[string]string{{}, {"code": ""}, {"code": "  "}, {}, {"code": ""}} {
			wantProblem(t, c.Do(t, "POST", "/v1/me/factors/"+e.id+"/confirm", body), 400, "invalid")
		}
		if r := c.Do(t, "POST", "/v1/me/factors/"+e.id+"/confirm", map[string]string{"code": testenv.TOTP(t, e.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("confirm with the right code after empty ones: got %d %s", r.Status, r.Body)
		}
	})
}
