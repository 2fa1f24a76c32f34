package httpapi_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// basic is the HTTP Basic Authorization value of a key.
func basic(k madeKey) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(k.id+":"+k.secret))
}

// wantOAuthError checks an error answer of the token endpoint: status, and
// RFC 6749 §5.2's form with code.
func wantOAuthError(t *testing.T, what string, r testenv.Response, status int, code string) {
	t.Helper()
	if r.Status != status || r.String("error") != code {
		t.Errorf("%s: got %d %s, want %d {\"error\":%q}", what, r.Status, r.Body, status, code)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: got Content-Type %q, want application/json (RFC 6749 §5.2)", what, ct)
	}
}

// TestTokenParametersOnce: a token request with any parameter more than
// once is 400 invalid_request (RFC 6749 §3.2), whichever copy is good, and
// so is one that carries a credential beside HTTP Basic: an X-Auth-Token,
// or a second Authorization (RFC 6749 §2.3: one method a request).
func TestTokenParametersOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "ida")
		c := login(t, s, "ida")
		k := makeKey(t, c, "ci", nil, "account * read")
		send := func(h http.Header, form string) testenv.Response {
			t.Helper()
			tc := testenv.NewClient(s.URL())
			tc.Header = mergeHeader(h, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
			return tc.Do(t, "POST", "/v1/token", form)
		}
		withBasic := http.Header{"Authorization": {basic(k)}}
		good := "grant_type=client_credentials&client_id=" + url.QueryEscape(k.id) + "&client_secret=" + url.QueryEscape(k.secret)
		if r := send(nil, good); r.Status != 200 {
			t.Fatalf("the key in the form: got %d %s", r.Status, r.Body)
		}
		if r := send(withBasic, "grant_type=client_credentials"); r.Status != 200 {
			t.Fatalf("the key as HTTP Basic: got %d %s", r.Status, r.Body)
		}
		for name, tc := range map[string]struct {
			h    http.Header
			form string
		}{
			"grant_type twice":                    {withBasic, "grant_type=client_credentials&grant_type=client_credentials"},
			"grant_type twice, the second other":  {withBasic, "grant_type=client_credentials&grant_type=password"},
			"client_id twice":                     {nil, good + "&client_id=" + url.QueryEscape(k.id)},
			"client_id twice, the second unknown": {nil, good + "&client_id=nobody"},
			"client_secret twice":                 {nil, good + "&client_secret=wrong"},
			"scope twice":                         {withBasic, "grant_type=client_credentials&scope=a&scope=b"},
			"HTTP Basic and an X-Auth-Token":      {http.Header{"Authorization": {basic(k)}, "X-Auth-Token": {c.Token}}, "grant_type=client_credentials"},
			"two Authorization fields":            {http.Header{"Authorization": {basic(k), "Bearer " + c.Token}}, "grant_type=client_credentials"},
		} {
			wantOAuthError(t, name, send(tc.h, tc.form), 400, "invalid_request")
		}
	})
}

// TestAmbiguousCredentialsRefused: a /v1 request that carries two
// credentials (HTTP Basic and an X-Auth-Token, a Bearer and an
// X-Auth-Token, two Authorization fields, two X-Auth-Tokens) is a 400
// invalid problem, on routes for keys and people and for people only,
// rather than one of them winning unsaid.
func TestAmbiguousCredentialsRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "jan")
		c := login(t, s, "jan")
		k := makeKey(t, c, "ci", nil, "account * read")
		do := func(path string, h http.Header) testenv.Response {
			t.Helper()
			dc := testenv.NewClient(s.URL())
			dc.Header = h
			return dc.Do(t, "GET", path, nil)
		}
		for name, h := range map[string]http.Header{
			"HTTP Basic":   {"Authorization": {basic(k)}},
			"Bearer":       {"Authorization": {"Bearer " + c.Token}},
			"X-Auth-Token": {"X-Auth-Token": {c.Token}},
		} {
			if r := do("/v1/me", h); r.Status != 200 {
				t.Fatalf("%s alone: got %d %s", name, r.Status, r.Body)
			}
		}
		for name, h := range map[string]http.Header{
			"HTTP Basic and X-Auth-Token":      {"Authorization": {basic(k)}, "X-Auth-Token": {c.Token}},
			"Bearer and X-Auth-Token":          {"Authorization": {"Bearer " + c.Token}, "X-Auth-Token": {c.Token}},
			"HTTP Basic and Bearer":            {"Authorization": {basic(k), "Bearer " + c.Token}},
			"Bearer and HTTP Basic":            {"Authorization": {"Bearer " + c.Token, basic(k)}},
			"two X-Auth-Tokens":                {"X-Auth-Token": {c.Token, c.Token}},
			"a key's Bearer and X-Auth-Token":  {"Authorization": {"Bearer " + k.id + ":" + k.secret}, "X-Auth-Token": {c.Token}},
			"X-Auth-Token and an empty Bearer": {"Authorization": {"Bearer "}, "X-Auth-Token": {c.Token}},
		} {
			for _, path := range []string{"/v1/me", "/v1/me/sessions"} {
				t.Run(name+" "+path, func(t *testing.T) {
					wantProblem(t, do(path, h), 400, "invalid")
				})
			}
		}
	})
}

// TestAPITokensAreRationed: a key gets 30 tokens at once, then one each
// 10 seconds, so that a script looping on /v1/token cannot write without
// end; the one refused is answered in OAuth's form (RFC 6749 §5.2) with
// Retry-After, as every error of the token endpoint is.
func TestAPITokensAreRationed(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "rex")
		c := login(t, s, "rex")
		k := makeKey(t, c, "loop", nil, "account * read")
		form := url.Values{"grant_type": {"client_credentials"}}
		for i := range 30 {
			if status, _, body := token(t, s, k.id, k.secret, form); status != 200 {
				t.Fatalf("token %d: %d %v", i+1, status, body)
			}
		}
		tc := testenv.NewClient(s.URL())
		tc.Header = http.Header{"Authorization": {basic(k)}, "Content-Type": {"application/x-www-form-urlencoded"}}
		r := tc.Do(t, "POST", "/v1/token", form.Encode())
		wantOAuthError(t, "token 31 at once", r, 429, "temporarily_unavailable")
		if r.String("error_description") == "" {
			t.Errorf("token 31 at once: no error_description in %s", r.Body)
		}
		if got := r.Header.Get("Retry-After"); got != "10" {
			t.Errorf("token 31 at once: Retry-After %q, want 10", got)
		}
		s.Clock.Add(10 * time.Second)
		if status, _, _ := token(t, s, k.id, k.secret, form); status != 200 {
			t.Fatalf("a token 10 s later: %d, want 200", status)
		}
	})
}

// TestRevokedKeyCountsTheKeysItMade: revoking a key that made keys, which
// go with it, records in api_key.revoked how many went.
func TestRevokedKeyCountsTheKeysItMade(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "kai")
		c := login(t, s, "kai")
		a := makeKey(t, c, "maker", nil, "account * read", "keys * write")
		b := makeKey(t, keyClient(s, a.id, a.secret), "made", nil, "account * read", "keys * write")
		cc := makeKey(t, keyClient(s, b.id, b.secret), "made again", nil, "account * read")
		lone := makeKey(t, c, "lone", nil, "account * read")
		for _, k := range []madeKey{lone, a} {
			if r := c.Do(t, "DELETE", "/v1/me/api-keys/"+k.id, nil); r.Status != 204 {
				t.Fatalf("revoke %s: got %d %s", k.id, r.Status, r.Body)
			}
		}
		wantProblem(t, keyClient(s, cc.id, cc.secret).Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
		r := c.Do(t, "GET", "/v1/me/events?type=api_key.revoked", nil)
		if r.Status != 200 {
			t.Fatalf("events: got %d %s", r.Status, r.Body)
		}
		var details []string
		for _, e := range r.JSON["events"].([]any) {
			details = append(details, e.(map[string]any)["detail"].(string))
		}
		if len(details) != 2 {
			t.Fatalf("api_key.revoked events: got %q, want 2", details)
		}
		if d := details[0]; !strings.Contains(d, a.id) || !strings.HasSuffix(d, `"maker" and the 2 keys it made`) {
			t.Errorf("the maker's event: got %q, want it to say the 2 keys it made went too", d)
		}
		if d := details[1]; !strings.HasSuffix(d, lone.id+` "lone"`) {
			t.Errorf("the lone key's event: got %q, want no keys it made", d)
		}
	})
}

// TestKeyEventsNeverHeld: api_key.created and api_key.revoked are never
// held back by the bound on one type's events (core.EventBurst): a stolen
// key making keys cannot hide them.
func TestKeyEventsNeverHeld(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "lev")
		c := login(t, s, "lev")
		maker := makeKey(t, c, "maker", nil, "account * read", "keys * write")
		kc := keyClient(s, maker.id, maker.secret)
		n := core.EventBurst + 5
		var made []madeKey
		for range n {
			made = append(made, makeKey(t, kc, "made", nil, "account * read"))
		}
		for _, k := range made {
			if r := kc.Do(t, "DELETE", "/v1/me/api-keys/"+k.id, nil); r.Status != 204 {
				t.Fatalf("revoke: got %d %s", r.Status, r.Body)
			}
		}
		a := accountID(t, s, "lev")
		if got := countEvents(t, s, a, "api_key.created"); got != n+1 {
			t.Errorf("api_key.created events: got %d, want %d", got, n+1)
		}
		if got := countEvents(t, s, a, "api_key.revoked"); got != n {
			t.Errorf("api_key.revoked events: got %d, want %d", got, n)
		}
		if got := countEvents(t, s, a, "audit.suppressed"); got != 0 {
			t.Errorf("audit.suppressed events: got %d, want none", got)
		}
	})
}

// TestKeyCreatedSummaryOfItsOwn: past the notice bound, the first API key
// made in the hour still gets a summary mail, even when other notices took
// the hour's summary before it; later ones in the hour do not.
func TestKeyCreatedSummaryOfItsOwn(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "mo")
		c := login(t, s, "mo")
		var others []*testenv.Client
		for range core.NoticeBurst + 1 {
			others = append(others, login(t, s, "mo"))
		}
		r := c.Do(t, "GET", "/v1/me/sessions", nil)
		if r.Status != 200 {
			t.Fatalf("sessions: got %d %s", r.Status, r.Body)
		}
		ended := 0
		for _, x := range r.JSON["sessions"].([]any) {
			if m := x.(map[string]any); m["current"] != true {
				if r := c.Do(t, "DELETE", "/v1/me/sessions/"+m["id"].(string), nil); r.Status != 204 && r.Status != 200 {
					t.Fatalf("sign out: got %d %s", r.Status, r.Body)
				}
				ended++
			}
		}
		if ended != len(others) {
			t.Fatalf("signed out %d sessions, want %d", ended, len(others))
		}
		sent := mailedAll(t, s, mb)
		if got := countSubjects(sent, "more security changes"); got != 1 {
			t.Fatalf("summaries after the sign-outs: got %d %q, want 1", got, sent)
		}
		makeKey(t, c, "stolen", nil, "account * read")
		makeKey(t, c, "stolen too", nil, "account * read")
		sent = mailedAll(t, s, mb)
		if got := countSubjects(sent, "more security changes"); got != 2 {
			t.Fatalf("summaries after two keys made: got %d %q, want 2 (one of the keys' own)", got, sent)
		}
		if got := countSubjects(sent, "an API key was created"); got != 0 {
			t.Errorf("key notices past the bound: got %d, want none", got)
		}
		named := 0
		for _, m := range mb.Messages() {
			if subject, body := mailText(t, m); strings.Contains(subject, "more security changes") && strings.Contains(body, "The latest: an API key was created.") {
				named++
			}
		}
		if named != 1 {
			t.Errorf("summaries naming a key made: got %d, want 1", named)
		}
	})
}
