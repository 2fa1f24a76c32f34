package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzTokenGrant sends any form and any Authorization header to POST
// /v1/token, which trades an API key's id and secret (HTTP Basic, or
// client_id and client_secret in the form) for a Bearer token (OAuth 2.0
// client credentials). alice has a key that expires in 30 minutes, bob
// one that never does; a key of alice's was revoked, one expired.
// Whatever the request:
//
//   - the answer is never a server error, and every answer is JSON: a
//     refusal is OAuth's error object ({"error": …}), a 401 with
//     WWW-Authenticate;
//   - a token is given (200) only for a form with grant_type
//     client_credentials and no parameter twice, and exactly one of HTTP
//     Basic or the form's client_id and client_secret, which are a live
//     key's id and secret; then the token signs in as that key, lasts an
//     hour or until the key expires, whichever is sooner, is the one row
//     written (api_tokens), and is in neither the log nor the database;
//   - a refusal writes nothing (testenv.Snapshot, but for a key's last
//     use);
//   - no key's secret reaches the log.
//
// In the form and the header, @aliceid@, @alicesecret@, @bobid@,
// @bobsecret@, @revid@, @revsecret@, @expid@ and @expsecret@ stand for
// the keys' ids and secrets, and @alicebasic@, @bobbasic@ and
// @crossbasic@ for HTTP Basic's credentials of alice's key, bob's, and
// alice's id with bob's secret. The rationing buckets are cleared before
// each request. The plain byte sends the form as text/plain when odd. On
// SQLite; FuzzTokenGrantPostgres is the same on PostgreSQL.
func FuzzTokenGrant(f *testing.F) { tokenGrant(f, testenv.SQLiteDSN(f)) }

// FuzzTokenGrantPostgres is FuzzTokenGrant on PostgreSQL.
func FuzzTokenGrantPostgres(f *testing.F) { tokenGrant(f, testenv.PostgresDSN(f)) }

func tokenGrant(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs)
	ctx := context.Background()
	addUser(f, s, "alice")
	addUser(f, s, "bob")
	alice, bob := login(f, s, "alice"), login(f, s, "bob")
	key := func(c *testenv.Client, name string, expires time.Duration) madeKey {
		extra := map[string]any{}
		if expires > 0 {
			extra["expires_at"] = s.Clock.Now().Add(expires).Format(time.RFC3339)
		}
		r := c.Do(f, "POST", "/v1/me/api-keys", keyRequest(name, extra, "account * read"))
		if r.Status != 201 {
			f.Fatalf("make key %s: %d %s", name, r.Status, r.Body)
		}
		return madeKey{id: r.JSON["api_key"].(map[string]any)["id"].(string), secret: r.String("secret")}
	}
	expired := key(alice, "expired", time.Hour)
	s.Clock.Add(2 * time.Hour)
	mine, bobs, revoked := key(alice, "mine", 30*time.Minute), key(bob, "bob's", 0), key(alice, "revoked", 0)
	if r := alice.Do(f, "DELETE", "/v1/me/api-keys/"+revoked.id, nil); r.Status != 204 {
		f.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	for _, k := range []madeKey{mine, bobs} { // its first use, written once a minute at most: before any snapshot
		if r := keyClient(s, k.id, k.secret).Do(f, "GET", "/v1/me", nil); r.Status != 200 {
			f.Fatalf("key %s: %d %s", k.id, r.Status, r.Body)
		}
	}
	live := map[string]madeKey{mine.id + ":" + mine.secret: mine, bobs.id + ":" + bobs.secret: bobs}
	expiry := map[string]time.Time{mine.id: s.Clock.Now().Add(30 * time.Minute), bobs.id: {}}
	basic := func(id, secret string) string { return base64.StdEncoding.EncodeToString([]byte(id + ":" + secret)) }
	fill := strings.NewReplacer(
		"@aliceid@", mine.id, "@alicesecret@", mine.secret, "@bobid@", bobs.id, "@bobsecret@", bobs.secret,
		"@revid@", revoked.id, "@revsecret@", revoked.secret, "@expid@", expired.id, "@expsecret@", expired.secret,
		"@alicebasic@", basic(mine.id, mine.secret), "@bobbasic@", basic(bobs.id, bobs.secret),
		"@crossbasic@", basic(mine.id, bobs.secret))
	secrets := []string{mine.secret, bobs.secret, revoked.secret, expired.secret}
	snaps := testenv.OpenSnapshots(f, dsn)

	const grant = "grant_type=client_credentials"
	for _, in := range []struct {
		form, auth string
		plain      uint8
	}{
		{grant, "Basic @alicebasic@", 0},
		{grant, "Basic @bobbasic@", 0},
		{grant + "&client_id=@aliceid@&client_secret=@alicesecret@", "", 0},
		{grant + "&client_id=@bobid@&client_secret=@bobsecret@", "", 0},
		{grant + "&client_id=@aliceid@&client_secret=@bobsecret@", "", 0},
		{grant + "&client_id=@revid@&client_secret=@revsecret@", "", 0},
		{grant + "&client_id=@expid@&client_secret=@expsecret@", "", 0},
		{grant, "Basic @crossbasic@", 0},
		{grant + "&client_id=@aliceid@&client_secret=@alicesecret@", "Basic @alicebasic@", 0},
		{grant + "&client_id=@aliceid@", "Basic @alicebasic@", 0},
		{grant + "&" + grant, "Basic @alicebasic@", 0},
		{"grant_type=password", "Basic @alicebasic@", 0},
		{"", "Basic @alicebasic@", 0},
		{grant, "Basic @alicebasic@", 1},
		{grant, "Bearer @aliceid@:@alicesecret@", 0},
		{grant + "&client_id=@aliceid@&client_secret=@alicesecret@&scope=x", "", 0},
		{grant + "&client_id=@aliceid@%00&client_secret=@alicesecret@", "", 0},
		{grant, "", 0},
	} {
		f.Add(in.form, in.auth, in.plain)
	}

	f.Fuzz(func(t *testing.T, form, auth string, plain uint8) {
		form, auth = fill.Replace(form), fill.Replace(auth)
		if !httpguts.ValidHeaderFieldValue(auth) {
			return // no header a client could send
		}
		header := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
		if plain%2 == 1 {
			header.Set("Content-Type", "text/plain")
		}
		if auth != "" {
			header.Set("Authorization", auth)
		}
		testenv.Exec(t, dsn, `DELETE FROM rate_buckets`) // rationing is another test's
		req := testenv.NewRequest(t, "POST", s.URL()+"/v1/token", form, header)
		before := snaps.Take(t)
		logged := len(logs.String())
		r := testenv.Send(t, nil, req)
		input := fmt.Sprintf("%q with %q (plain %d)", form, auth, plain%2)
		if r.Status >= 500 {
			t.Fatalf("%s: %d %s", input, r.Status, r.Body)
		}
		newLog := logs.String()[logged:]
		for _, secret := range secrets {
			if strings.Contains(newLog, secret) {
				t.Fatalf("%s: a key's secret is in the log:\n%s", input, newLog)
			}
		}
		var answer map[string]any
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || json.Unmarshal(r.Body, &answer) != nil {
			t.Fatalf("%s: answered %d %s: %s", input, r.Status, ct, r.Body)
		}
		d := testenv.WithoutLastUse(before.Diff(snaps.Take(t)))
		if r.Status != 200 {
			if e, _ := answer["error"].(string); e == "" {
				t.Fatalf("%s: refused (%d) without OAuth's error: %s", input, r.Status, r.Body)
			}
			if r.Status == 401 && r.Header.Get("WWW-Authenticate") == "" {
				t.Fatalf("%s: 401 without WWW-Authenticate", input)
			}
			if d != "" {
				t.Fatalf("%s: refused (%d %s), but the database changed:\n%s", input, r.Status, r.Body, d)
			}
			return
		}

		values, err := url.ParseQuery(form)
		if err != nil {
			t.Fatalf("%s: a token for a form that does not parse: %v", input, err)
		}
		for name, vs := range values {
			if len(vs) > 1 {
				t.Fatalf("%s: a token for a form with %q twice", input, name)
			}
		}
		id, secret, basicOK := req.BasicAuth()
		formCreds := values.Has("client_id") || values.Has("client_secret")
		if !basicOK {
			id, secret = values.Get("client_id"), values.Get("client_secret")
		}
		k, ok := live[id+":"+secret]
		switch {
		case plain%2 == 1:
			t.Fatalf("%s: a token for a form sent as text/plain", input)
		case values.Get("grant_type") != "client_credentials":
			t.Fatalf("%s: a token for grant_type %q", input, values.Get("grant_type"))
		case basicOK && formCreds:
			t.Fatalf("%s: a token for HTTP Basic and the form's credentials at once", input)
		case !ok:
			t.Fatalf("%s: a token for %q, no live key's id and secret", input, id)
		}
		token, _ := answer["access_token"].(string)
		a, err := s.Service.AuthenticateAPIToken(ctx, token, core.Meta{})
		if err != nil || a.Key == nil || a.Key.ID != k.id {
			t.Fatalf("%s: the token given does not sign in as key %s: %v", input, k.id, err)
		}
		want := time.Hour
		if e := expiry[k.id]; !e.IsZero() && e.Sub(s.Clock.Now()) < want {
			want = e.Sub(s.Clock.Now())
		}
		if answer["token_type"] != "bearer" || answer["expires_in"] != float64(want/time.Second) {
			t.Fatalf("%s: answered %s, want a bearer token for %v", input, r.Body, want)
		}
		if strings.Contains(newLog, token) {
			t.Fatalf("%s: the token is in the log:\n%s", input, newLog)
		}
		lines := strings.Split(strings.TrimSpace(d), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "+ api_tokens:") || !strings.Contains(lines[0], k.id) || strings.Contains(d, token) {
			t.Fatalf("%s: a token given, and the database changed:\n%s", input, d)
		}
	})
}
