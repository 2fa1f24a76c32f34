package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// fieldTag returns the opening tag of the input, textarea or select with
// id in body, or "" when there is none.
func fieldTag(body, id string) string {
	return regexp.MustCompile(`<(?:input|textarea|select) id="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindString(body)
}

// fieldInvalid reports whether the input, textarea or select with id in
// body is marked aria-invalid, as the field an error is about.
func fieldInvalid(body, id string) bool {
	return strings.Contains(fieldTag(body, id), `aria-invalid="true"`)
}

// TestPageErrorsTiedToFields: the hint under a field describes it
// (aria-describedby), and after a refusal the field it is about is marked
// aria-invalid and described by the error too, the other fields not: a
// wrong password at sign-in, a wrong code at the second step and in
// "confirm it's you", and on the password page new passwords that differ
// and a wrong current password.
func TestPageErrorsTiedToFields(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret := account(t, ts, "tess", false, true)
	account(t, ts, "pat", false, false)

	type want struct{ id, describedby string }
	check := func(t *testing.T, what, body string, invalid string, fields ...want) {
		t.Helper()
		if invalid != "" && !strings.Contains(body, `id="error"`) {
			t.Errorf("%s: no error shown", what)
		}
		for _, f := range fields {
			tag := fieldTag(body, f.id)
			if tag == "" {
				t.Errorf("%s: no field %s", what, f.id)
				continue
			}
			wantDesc, wantInvalid := f.describedby, f.id == invalid
			if wantInvalid {
				wantDesc = strings.TrimSpace(wantDesc + " error")
			}
			gotDesc := ""
			if m := regexp.MustCompile(`aria-describedby="([^"]*)"`).FindStringSubmatch(tag); m != nil {
				gotDesc = m[1]
			}
			if gotDesc != wantDesc || strings.Contains(tag, `aria-invalid="true"`) != wantInvalid {
				t.Errorf("%s: %s is %s; want described by %q, invalid %v", what, f.id, tag, wantDesc, wantInvalid)
			}
		}
	}

	c := newClient(t, ts.URL())
	r := c.post("/login", url.Values{"username": {"tess"}, "password": {"not the password"}})
	check(t, "wrong password", r.body, "password", want{id: "username"}, want{id: "password"})
	// A form sent without the password (the browser's required is only a
	// hint) is told which field is missing, and no attempt is counted: ten
	// of them leave every attempt of the username to its owner.
	for range 10 {
		r = c.post("/login", url.Values{"username": {"tess"}, "password": {""}})
		if r.status != 400 || !strings.Contains(r.body, "Password is required.") {
			t.Fatalf("empty password: got %d, want 400 saying the password is required", r.status)
		}
	}
	check(t, "empty password", r.body, "password", want{id: "username"}, want{id: "password"})
	r = c.post("/login", url.Values{"username": {""}, "password": {"not the password"}})
	if r.status != 400 || !strings.Contains(r.body, "Username is required.") {
		t.Fatalf("empty username: got %d, want 400 saying the username is required", r.status)
	}
	check(t, "empty username", r.body, "username", want{id: "username"}, want{id: "password"})
	r = c.signIn("tess")
	check(t, "second step", r.body, "", want{id: "code"})
	r = c.post("/login/verify", url.Values{"method": {"totp"}, "code": {otherCode(testenv.TOTP(t, secret, ts.Clock.Now()))}})
	check(t, "wrong code", r.body, "code", want{id: "code"})

	// Confirm it's you: the code field is marked only once its code is refused.
	if r = c.totp(ts, secret); r.url.Path != "/settings/security" {
		t.Fatalf("second step: at %s: %s", r.url, pageError(r.body))
	}
	ts.Clock.Add(11 * time.Minute) // the elevation of the sign-in lapses
	wrong := otherCode(testenv.TOTP(t, secret, ts.Clock.Now()))
	form := func(again string) url.Values {
		return url.Values{"current_password": {testPassword}, "new_password": {"a new long passphrase one"}, "new_password2": {again},
			"elevate_method": {"totp"}, "elevate_code": {wrong}}
	}
	r = c.post("/settings/security/password", form("a new long passphrase two"))
	check(t, "confirm it's you, passwords differ", r.body, "new_password2", want{id: "new_password2"}, want{id: "elevate_code"})
	r = c.post("/settings/security/password", form("a new long passphrase one"))
	check(t, "confirm it's you, wrong code", r.body, "elevate_code", want{id: "new_password2"}, want{id: "elevate_code"})

	p := newClient(t, ts.URL())
	p.signIn("pat")
	page := "/settings/security/password"
	fields := []want{{id: "current_password"}, {id: "new_password", describedby: "new-password-hint"}, {id: "new_password2"}}
	r = p.get(page)
	if !strings.Contains(r.body, `id="new-password-hint"`) {
		t.Error("password page: the hint has no id")
	}
	check(t, "password page", r.body, "", fields...)
	r = p.post(page, url.Values{"current_password": {testPassword}, "new_password": {"a new long passphrase one"}, "new_password2": {"a new long passphrase two"}})
	check(t, "new passwords that differ", r.body, "new_password2", fields...)
	r = p.post(page, url.Values{"current_password": {"not the password"}, "new_password": {"a new long passphrase one"}, "new_password2": {"a new long passphrase one"}})
	check(t, "wrong current password", r.body, "current_password", fields...)
}

// TestThrottledCodeMarksNoField: a second step refused because of too many
// attempts is about no field: the code field is not marked aria-invalid,
// as it is after a wrong code.
func TestThrottledCodeMarksNoField(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret := account(t, ts, "tess", false, true)
	c := newClient(t, ts.URL())
	c.signIn("tess")
	wrong := otherCode(testenv.TOTP(t, secret, ts.Clock.Now()))
	var r reply
	for i := 0; i < 10 && r.status != http.StatusTooManyRequests; i++ {
		r = c.post("/login/verify", url.Values{"method": {"totp"}, "code": {wrong}})
		if r.status == http.StatusUnauthorized && !fieldInvalid(r.body, "code") {
			t.Fatalf("a wrong code: the code field is not marked invalid")
		}
	}
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("wrong codes in a row: got %d, want 429 at last", r.status)
	}
	if !strings.Contains(r.body, `id="error"`) || fieldInvalid(r.body, "code") {
		t.Errorf("throttled: the page shows no error, or marks the code field invalid: %s", fieldTag(r.body, "code"))
	}
}

// TestSecurityPageHintsDescribeFields: the hints under the security page's
// forms that add a phone or address, a security key and a push device
// describe their fields (aria-describedby), as every hint does.
func TestSecurityPageHintsDescribeFields(t *testing.T) {
	mb := testenv.NewSMTPServer(t)
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t), mb.Option("Twofold <twofold@example.com>"))
	account(t, ts, "tess", false, false)
	c := newClient(t, ts.URL())
	c.signIn("tess")
	r := c.get("/settings/security")
	for _, id := range []string{"destination", "key-label", "push-label"} {
		tag := fieldTag(r.body, id)
		m := regexp.MustCompile(`aria-describedby="([^"]*)"`).FindStringSubmatch(tag)
		if m == nil || !strings.Contains(r.body, `id="`+m[1]+`"`) || m[1] != id+"-hint" {
			t.Errorf("%s is %s: want it described by its hint, %s-hint", id, tag, id)
		}
	}
}
