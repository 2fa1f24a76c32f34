package web

import (
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/credhash"
)

func TestMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"wrong code", twofold.Errorf(twofold.CodeInvalidCode, "the code was not accepted"), "That code was not accepted. Check it and try again."},
		{"wrong password", twofold.Errorf(twofold.CodeInvalidCredentials, "wrong username or password"), "Wrong username or password."},
		{"throttled seconds", &twofold.Error{Code: twofold.CodeThrottled, RetryAfter: 8 * time.Second}, "Too many attempts. Wait 8 seconds and try again."},
		{"throttled one second", &twofold.Error{Code: twofold.CodeThrottled, RetryAfter: 300 * time.Millisecond}, "Too many attempts. Wait a second and try again."},
		{"throttled minutes", &twofold.Error{Code: twofold.CodeThrottled, RetryAfter: 14*time.Minute + time.Second}, "Too many attempts. Wait 15 minutes and try again."},
		{"throttled a day", &twofold.Error{Code: twofold.CodeThrottled, RetryAfter: 24 * time.Hour}, "Too many attempts. Wait 24 hours and try again."},
		{"throttled no wait", &twofold.Error{Code: twofold.CodeThrottled}, "Too many attempts. Wait a little and try again."},
		{"invalid", twofold.Errorf(twofold.CodeInvalid, "label is required"), "Label is required."},
		{"internal", errTest("disk on fire"), "Something went wrong on our side. Try again in a moment."},
		{"security key refused", refusedKey(twofold.Errorf(twofold.CodeInvalidCode, "the code was not accepted"), twofold.MethodWebAuthn), "Your security key was not accepted. Try again, or use another way."},
		{"signature refused", refusedKey(twofold.Errorf(twofold.CodeInvalidCode, "the code was not accepted"), twofold.MethodSSHKey), refusedTexts[twofold.MethodSSHKey]},
		{"code refused, not a key's", refusedKey(twofold.Errorf(twofold.CodeInvalidCode, "the code was not accepted"), twofold.MethodTOTP), "That code was not accepted. Check it and try again."},
		{"key throttled", refusedKey(&twofold.Error{Code: twofold.CodeThrottled, RetryAfter: 8 * time.Second}, twofold.MethodWebAuthn), "Too many attempts. Wait 8 seconds and try again."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := message(tc.err); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

type errTest string

func (e errTest) Error() string { return string(e) }

func TestStatusSetsRetryAfter(t *testing.T) {
	s := &Server{log: discardLogger()}
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/login/verify", nil)
	got := s.status(w, r, &twofold.Error{Code: twofold.CodeThrottled, RetryAfter: 1500 * time.Millisecond})
	if got != 429 || w.Header().Get("Retry-After") != "2" {
		t.Errorf("got status %d, Retry-After %q; want 429, 2", got, w.Header().Get("Retry-After"))
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/settings/security":        "/settings/security",
		"/admin/users?q=a":          "/admin/users?q=a",
		"":                          "",
		"https://evil.example/":     "",
		"//evil.example/":           "",
		"/\\evil.example":           "",
		"/login?next=/x":            "",
		"/settings\r\nSet-Cookie:x": "",
		"/\t/evil.example":          "",
		"/ /evil.example":           "",
		"/\x00/evil.example":        "",
		"/\u00a0/evil.example":      "",
		"/settings/\x7f":            "",
		"/settings%0X":              "",
		"/settings%2Fsecurity":      "/settings%2Fsecurity",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGroupsOf4(t *testing.T) {
	got := groupsOf4("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
	want := []string{"ABCD", "EFGH", "IJKL", "MNOP", "QRST", "UVWX", "YZ23", "4567"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ABCD", "EF"}, groupsOf4("ABCDEF")); diff != "" {
		t.Errorf("uneven groups (-want +got):\n%s", diff)
	}
}

func TestSecondStep(t *testing.T) {
	methods := []core.MethodOption{
		{Method: twofold.MethodTOTP, FactorID: "f1", Label: "Phone"},
		{Method: twofold.MethodTOTP, FactorID: "f2", Label: "Laptop"},
		{Method: twofold.MethodHOTP, FactorID: "f3", Label: "Key fob"},
		{Method: twofold.MethodRecoveryCode},
		{Method: twofold.MethodPaperKey},
	}
	for _, tc := range []struct {
		name string
		want twofold.Method
		body verifyBody
	}{
		{"default", "", verifyBody{Method: twofold.MethodTOTP, Labels: []string{"Phone", "Laptop"}, Alternatives: []twofold.Method{twofold.MethodHOTP, twofold.MethodRecoveryCode, twofold.MethodPaperKey}}},
		{"token", twofold.MethodHOTP, verifyBody{Method: twofold.MethodHOTP, Labels: []string{"Key fob"}, Alternatives: []twofold.Method{twofold.MethodTOTP, twofold.MethodRecoveryCode, twofold.MethodPaperKey}}},
		{"recovery", twofold.MethodRecoveryCode, verifyBody{Method: twofold.MethodRecoveryCode, Alternatives: []twofold.Method{twofold.MethodTOTP, twofold.MethodHOTP, twofold.MethodPaperKey}}},
		{"unknown", "carrier-pigeon", verifyBody{Method: twofold.MethodTOTP, Labels: []string{"Phone", "Laptop"}, Alternatives: []twofold.Method{twofold.MethodHOTP, twofold.MethodRecoveryCode, twofold.MethodPaperKey}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.body, secondStep(methods, tc.want, "")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// Without recovery codes left, the page does not offer them.
	b := secondStep(methods[:1], "", "")
	if len(b.Alternatives) != 0 {
		t.Errorf("alternatives with only TOTP: %v", b.Alternatives)
	}

	// A phone that cannot be texted now is shown apart, never offered:
	// not as the method, nor as an alternative, nor with a send button.
	gone := core.MethodOption{Method: twofold.MethodSMS, FactorID: "f4", Label: "Old phone", Hint: "+1 •••-•••-1234", Unavailable: "no texts there"}
	phone := core.MethodOption{Method: twofold.MethodSMS, FactorID: "f5", Label: "New phone", Hint: "+44 •••• ••3456"}
	for _, tc := range []struct {
		name    string
		methods []core.MethodOption
		want    twofold.Method
		body    verifyBody
	}{
		{"first", []core.MethodOption{gone, methods[3], methods[4]}, "",
			verifyBody{Method: twofold.MethodRecoveryCode, Alternatives: []twofold.Method{twofold.MethodPaperKey}, Unavailable: []core.MethodOption{gone}}},
		{"asked for", []core.MethodOption{gone, methods[3]}, twofold.MethodSMS,
			verifyBody{Method: twofold.MethodRecoveryCode, Unavailable: []core.MethodOption{gone}}},
		{"beside a usable phone", []core.MethodOption{gone, phone, methods[3]}, twofold.MethodSMS,
			verifyBody{Method: twofold.MethodSMS, Labels: []string{"New phone"}, Alternatives: []twofold.Method{twofold.MethodRecoveryCode}, Senders: []core.MethodOption{phone}, Unavailable: []core.MethodOption{gone}}},
		{"alone", []core.MethodOption{gone}, "", verifyBody{Unavailable: []core.MethodOption{gone}}},
	} {
		t.Run("unavailable "+tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.body, secondStep(tc.methods, tc.want, "")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPostedCodes(t *testing.T) {
	good := "abcd-efgh-ijkl-mnop"
	for _, tc := range []struct {
		name string
		form url.Values
		ok   bool
	}{
		{"codes", url.Values{"code": {good, "qrst-uvwx-yz23-4567"}}, true},
		{"codes and paper key", url.Values{"code": {good}, "paper_key": {"abcd-efgh-ijkl-mnop-qrst-uvwx-yz23-4567"}}, false},
		{"none", url.Values{}, false},
		{"markup", url.Values{"code": {"<script>alert(1)</script>"}}, false},
		{"upper case", url.Values{"code": {"ABCD-EFGH-IJKL-MNOP"}}, false},
		{"bad paper key", url.Values{"code": {good}, "paper_key": {"hello\r\nworld"}}, false},
		{"too many", url.Values{"code": strings.Split(strings.Repeat(good+",", 11), ",")[:11]}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.ParseForm()
			if _, ok := postedCodes(r); ok != tc.ok {
				t.Errorf("got %v, want %v", ok, tc.ok)
			}
		})
	}
}

func TestWaitText(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Second:                "a second",
		59 * time.Second:           "59 seconds",
		60 * time.Second:           "a minute",
		61 * time.Second:           "2 minutes",
		15 * time.Minute:           "15 minutes",
		time.Hour:                  "an hour",
		24*time.Hour - time.Second: "24 hours",
	} {
		if got := waitText(d); got != want {
			t.Errorf("waitText(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		10 * time.Second:     "just now",
		90 * time.Second:     "a minute ago",
		5 * time.Minute:      "5 minutes ago",
		3 * time.Hour:        "3 hours ago",
		30 * time.Hour:       "yesterday",
		10 * 24 * time.Hour:  "10 days ago",
		100 * 24 * time.Hour: "15 Aug 2026",
	} {
		if got := ago(now, now.Add(-d)); got != want {
			t.Errorf("ago(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestEveryTemplateParses(t *testing.T) {
	s := &Server{}
	pages, err := parsePages(s.funcs())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"login", "verify", "setup", "security", "enrol", "codes", "print", "confirm", "events", "admin_users", "admin_user", "admin_teams", "admin_team", "error"} {
		if pages[name] == nil {
			t.Errorf("no template for page %s", name)
		}
	}
}

// TestElevationReturn: a button of the "confirm it's you" fields goes back
// to the page it names, never elsewhere, with what was typed since in the
// fields the page keeps, sealed for the session (never in clear in the
// address), and never the page's machinery or a code.
func TestElevationReturn(t *testing.T) {
	h, err := credhash.NewHasher([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{hasher: h}
	session := func(id string) core.Auth {
		return core.Auth{Account: twofold.Account{ID: "acct-1"}, Session: twofold.Session{ID: id}}
	}
	mine, theirs := session("session-a"), session("session-b")
	sealed := func(a core.Auth, v url.Values) string { return url.QueryEscape(s.sealKeep(a, v)) }
	for _, tc := range []struct {
		name     string
		form     url.Values
		flag     string
		want     string     // the address, without kept
		wantKept url.Values // what kept opens to; nil for no kept
	}{
		{"typed since", url.Values{"return": {"/settings/security/totp?method=ssh_key&kept=" + sealed(mine, url.Values{"label": {"Tablet"}, "serial": {"S1"}})}, "keep": {"label"}, "label": {"Tablet 2"}}, "",
			"/settings/security/totp?method=ssh_key", url.Values{"label": {"Tablet 2"}, "serial": {"S1"}}},
		{"in clear before", url.Values{"return": {"/settings/security/totp?label=Tablet&method=ssh_key"}, "keep": {"label"}, "label": {"Tablet 2"}}, "",
			"/settings/security/totp?method=ssh_key", url.Values{"label": {"Tablet 2"}}},
		{"another session's", url.Values{"return": {"/settings/security/totp?method=ssh_key&kept=" + sealed(theirs, url.Values{"label": {"Theirs"}})}}, "",
			"/settings/security/totp?method=ssh_key", nil},
		{"altered", url.Values{"return": {"/settings/security/totp?method=ssh_key&kept=" + sealed(mine, url.Values{"label": {"Tablet"}})[2:]}}, "",
			"/settings/security/totp?method=ssh_key", nil},
		{"flag once", url.Values{"return": {"/settings/security/totp?method=sms&sent=1"}}, "sent", "/settings/security/totp?method=sms&sent=1", nil},
		{"not kept", url.Values{"return": {"/x?method=totp"}, "label": {"Tablet"}}, "", "/x?method=totp", nil},
		{"machinery", url.Values{"return": {"/x?method=ssh_key"}, "keep": {"method", "elevate_code", "csrf", "kept"}, "method": {"totp"}, "elevate_code": {"123456"}, "csrf": {"t"}, "kept": {"x"}}, "",
			"/x?method=ssh_key", nil},
		{"elsewhere", url.Values{"return": {"//evil.example/"}}, "", "/settings/security", nil},
		// What a form keeps goes along well past a sign-in's next=, and
		// typing too much loses only the typing, never the page.
		{"long", url.Values{"return": {"/settings/security/api-keys?method=sms"}, "keep": {"permits"}, "permits": {strings.Repeat("p", 1000)}}, "sent",
			"/settings/security/api-keys?method=sms&sent=1", url.Values{"permits": {strings.Repeat("p", 1000)}}},
		{"too long", url.Values{"return": {"/settings/security/api-keys?method=sms&name=x"}, "keep": {"permits"}, "permits": {strings.Repeat("p", 5000)}}, "sent",
			"/settings/security/api-keys?method=sms&sent=1", nil},
		// Parsed and printed again, an escaped slash and a character the
		// path may not hold make "//evil.example/…": never sent.
		{"elsewhere once printed", url.Values{"return": {"/%2Fevil.example/<"}}, "sent", "/settings/security", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/settings/security/elevate/ssh", nil)
			r.PostForm = tc.form
			got, err := url.Parse(s.elevationReturn(r, mine, tc.flag))
			if err != nil {
				t.Fatal(err)
			}
			q := got.Query()
			kept := s.openKeep(mine, q.Get(keptParam))
			if q.Has(keptParam) && kept == nil {
				t.Errorf("%s: kept does not open", got)
			}
			q.Del(keptParam)
			if got.RawQuery = q.Encode(); got.String() != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if !cmp.Equal(kept, tc.wantKept, cmpopts.EquateEmpty()) {
				t.Errorf("kept %v, want %v", kept, tc.wantKept)
			}
			if tc.wantKept != nil && s.openKeep(theirs, s.sealKeep(mine, tc.wantKept)) != nil {
				t.Error("what one session kept opens for another")
			}
		})
	}
}
