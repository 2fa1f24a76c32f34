package httpapi_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/twofold/twofold/internal/testenv"
)

// FuzzAuthorization sends GET /v1/me with any Authorization header, the
// door every request of the API comes through. alice has a session, a
// session she signed out of, an API key that may read her account, the
// hour's Bearer token of that key (POST /v1/token), a key she revoked (and
// a token it had), and a key that expired; bob has a session, a key and
// its token. Whatever the header:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status;
//   - an account answers (200) only to a header that carries, in a form the
//     README names, a credential of that account that stands: a session
//     token or a key's token as Bearer, a key as Bearer id:secret or as
//     HTTP Basic (base64 of id:secret, with or without its padding); and
//     the account is the credential's;
//   - nothing is written but a key's last use (testenv.WithoutLastUse),
//     and no mail queued;
//   - no token or key secret reaches the log.
//
// In the header, @session@, @bobsession@ and @ended@ stand for the session
// tokens (alice's, bob's, the one signed out of); @keyid@ and @keysecret@
// for alice's key, @bobkeyid@ and @bobkeysecret@ for bob's, @revid@ and
// @revsecret@ for the revoked key, @expid@ and @expsecret@ for the expired
// one; @keytoken@, @bobkeytoken@ and @revtoken@ for the keys' tokens;
// @basic@, @bobbasic@, @revbasic@ and @expbasic@ for the keys' id:secret in
// base64, and @crossbasic@ for alice's key id with bob's key's secret. On
// SQLite; FuzzAuthorizationPostgres is the same on PostgreSQL.
func FuzzAuthorization(f *testing.F) { authorization(f, testenv.SQLiteDSN(f)) }

// FuzzAuthorizationPostgres is FuzzAuthorization on PostgreSQL.
func FuzzAuthorizationPostgres(f *testing.F) { authorization(f, testenv.PostgresDSN(f)) }

func authorization(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs)
	addUser(f, s, "alice")
	addUser(f, s, "bob")
	alice, bob := login(f, s, "alice"), login(f, s, "bob")
	ended := login(f, s, "alice")
	if r := ended.Do(f, "POST", "/v1/logout", nil); r.Status != 204 && r.Status != 200 {
		f.Fatalf("sign out: %d %s", r.Status, r.Body)
	}
	key := func(c *testenv.Client, name string, extra map[string]any) madeKey {
		r := c.Do(f, "POST", "/v1/me/api-keys", keyRequest(name, extra, "account * read"))
		if r.Status != 201 {
			f.Fatalf("make key %s: %d %s", name, r.Status, r.Body)
		}
		return madeKey{id: r.JSON["api_key"].(map[string]any)["id"].(string), secret: r.String("secret")}
	}
	bearer := func(k madeKey) string {
		c := keyClient(s, k.id, k.secret)
		c.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r := c.Do(f, "POST", "/v1/token", url.Values{"grant_type": {"client_credentials"}}.Encode())
		if r.Status != 200 || r.String("access_token") == "" {
			f.Fatalf("a token for key %s: %d %s", k.id, r.Status, r.Body)
		}
		return r.String("access_token")
	}
	expired := key(alice, "expired", map[string]any{"expires_at": s.Clock.Now().Add(time.Hour).Format(time.RFC3339)})
	s.Clock.Add(2 * time.Hour)
	mine, bobs, revoked := key(alice, "mine", nil), key(bob, "bob's", nil), key(alice, "revoked", nil)
	mineToken, bobsToken, revokedToken := bearer(mine), bearer(bobs), bearer(revoked)
	if r := alice.Do(f, "DELETE", "/v1/me/api-keys/"+revoked.id, nil); r.Status != 204 {
		f.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	basic := func(id, secret string) string { return base64.StdEncoding.EncodeToString([]byte(id + ":" + secret)) }
	fill := strings.NewReplacer(
		"@session@", alice.Token, "@bobsession@", bob.Token, "@ended@", ended.Token,
		"@keyid@", mine.id, "@keysecret@", mine.secret, "@bobkeyid@", bobs.id, "@bobkeysecret@", bobs.secret,
		"@revid@", revoked.id, "@revsecret@", revoked.secret, "@expid@", expired.id, "@expsecret@", expired.secret,
		"@keytoken@", mineToken, "@bobkeytoken@", bobsToken, "@revtoken@", revokedToken,
		"@basic@", basic(mine.id, mine.secret), "@bobbasic@", basic(bobs.id, bobs.secret),
		"@revbasic@", basic(revoked.id, revoked.secret), "@expbasic@", basic(expired.id, expired.secret),
		"@crossbasic@", basic(mine.id, bobs.secret))
	// The credentials that stand, by the account they are of, as a Bearer
	// sends them and as Basic's user and password.
	bearers := map[string]string{alice.Token: "alice", bob.Token: "bob", mineToken: "alice", bobsToken: "bob",
		mine.id + ":" + mine.secret: "alice", bobs.id + ":" + bobs.secret: "bob"}
	basics := map[string]string{mine.id + ":" + mine.secret: "alice", bobs.id + ":" + bobs.secret: "bob"}
	secrets := []string{alice.Token, bob.Token, ended.Token, mine.secret, bobs.secret, revoked.secret, expired.secret,
		mineToken, bobsToken, revokedToken}
	snaps := testenv.OpenSnapshots(f, dsn)

	for _, auth := range []string{
		"Bearer @session@", "Bearer @bobsession@", "Bearer @ended@", "bearer  @session@", "Bearer @session@x",
		"Bearer @keytoken@", "Bearer @bobkeytoken@", "Bearer @revtoken@",
		"Bearer @keyid@:@keysecret@", "Bearer @keyid@:@bobkeysecret@", "Bearer @revid@:@revsecret@", "Bearer @expid@:@expsecret@",
		"Basic @basic@", "Basic @bobbasic@", "Basic @crossbasic@", "Basic @revbasic@", "Basic @expbasic@", "BASIC @basic@",
		"Basic @keyid@:@keysecret@", "Basic @session@", "Bearer @basic@", "@session@", "Bearer", "Basic", "",
		"Bearer @session@, Bearer @bobsession@", "Basic @basic@ Bearer @bobsession@",
	} {
		f.Add(auth)
	}

	f.Fuzz(func(t *testing.T, auth string) {
		auth = fill.Replace(auth)
		if !httpguts.ValidHeaderFieldValue(auth) {
			return // no header a client could send
		}
		header := http.Header{}
		if auth != "" {
			header.Set("Authorization", auth)
		}
		before := snaps.Take(t)
		logged := len(logs.String())
		r := testenv.Send(t, nil, testenv.NewRequest(t, "GET", s.URL()+"/v1/me", nil, header))
		newLog := logs.String()[logged:]
		if r.Status >= 500 {
			t.Fatalf("%q: %d %s", auth, r.Status, r.Body)
		}
		for _, secret := range secrets {
			if strings.Contains(newLog, secret) {
				t.Fatalf("%q: a token or secret is in the log:\n%s", auth, newLog)
			}
		}
		if d := testenv.WithoutLastUse(before.Diff(snaps.Take(t))); d != "" {
			t.Fatalf("%q: answered %d, and the database changed:\n%s", auth, r.Status, d)
		}

		if r.Status == 200 {
			// Header values come without the spaces around them; the
			// scheme is any case, and spaces separate it from the rest.
			scheme, rest, _ := strings.Cut(strings.Trim(auth, " \t"), " ")
			rest = strings.TrimLeft(rest, " \t")
			owner := ""
			switch strings.ToLower(scheme) {
			case "bearer":
				owner = bearers[rest]
			case "basic":
				for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
					if plain, err := enc.DecodeString(rest); err == nil && basics[string(plain)] != "" {
						owner = basics[string(plain)]
					}
				}
			}
			if owner == "" {
				t.Fatalf("%q: answered 200 %s without a credential that stands", auth, r.Body)
			}
			if r.String("username") != owner {
				t.Fatalf("%q: a credential of %s answered as %s", auth, owner, r.Body)
			}
			return
		}
		wantRefusal(t, r, strconv.Quote(auth))
		if r.Status == 401 && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer ") {
			t.Fatalf("%q: a 401 with WWW-Authenticate %q", auth, r.Header.Get("WWW-Authenticate"))
		}
	})
}
