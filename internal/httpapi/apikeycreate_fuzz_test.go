package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/permit"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzAPIKeyCreate sends any body to POST /v1/me/api-keys by one of six
// callers: alice's elevated session (she is an operator, with an app),
// another of her sessions that is not elevated, three keys of hers (one
// that may make keys and expires in 30 days, one that may not, one with
// admin permits that may make keys), and bob's session (no factor, no
// operator). Whatever the body:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status;
//   - a key is made (201) only for the caller's own account, never by
//     alice's unelevated session or the key that may not make keys; then
//     it is the only key made, its name is the body's (trimmed), its
//     permits the body's (normalized), with admin ones only for the
//     operator, from her elevated session or her admin key; a key made by
//     a key is its child, within its permits and expiring no later than
//     it; its expiry is otherwise the body's; it says whether a second
//     factor made it; the answer's secret signs in as it, is in no log and
//     nowhere in the database;
//   - a refusal writes nothing (testenv.Snapshot).
//
// In a body, @soon@, @late@, @past@ and @far@ stand for times an hour, 60
// days and 11 years from now and an hour ago. A key made is deleted
// before the next body, and the rationing buckets are cleared. The who
// byte picks the caller (its value mod 6). On SQLite;
// FuzzAPIKeyCreatePostgres is the same on PostgreSQL.
func FuzzAPIKeyCreate(f *testing.F) { apiKeyCreate(f, testenv.SQLiteDSN(f)) }

// FuzzAPIKeyCreatePostgres is FuzzAPIKeyCreate on PostgreSQL.
func FuzzAPIKeyCreatePostgres(f *testing.F) { apiKeyCreate(f, testenv.PostgresDSN(f)) }

// keyMaker is a caller of FuzzAPIKeyCreate.
type keyMaker struct {
	c         *testenv.Client
	account   string          // its account's id
	key       *twofold.APIKey // a key caller's own key; nil for a session
	makes     bool            // may make keys at all
	admin     bool            // may make keys with admin permits
	secondOK  bool            // its keys say a second factor made them
	operators bool            // its account is an operator's
}

func apiKeyCreate(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs)
	ctx := context.Background()
	snaps := testenv.OpenSnapshots(f, dsn)

	elevated, other, aliceID := operatorWithApp(f, s, "alice")
	addUser(f, s, "bob")
	bobs := login(f, s, "bob")
	bob, err := s.Store.AccountByUsername(ctx, "bob")
	if err != nil {
		f.Fatal(err)
	}
	ownKey := func(name string, extra map[string]any, permits ...string) (*testenv.Client, *twofold.APIKey) {
		r := elevated.Do(f, "POST", "/v1/me/api-keys", keyRequest(name, extra, permits...))
		if r.Status != 201 {
			f.Fatalf("make alice's key %s: %d %s", name, r.Status, r.Body)
		}
		id := r.JSON["api_key"].(map[string]any)["id"].(string)
		ks, err := s.Store.APIKeys(ctx, aliceID)
		if err != nil {
			f.Fatal(err)
		}
		c := keyClient(s, id, r.String("secret"))
		if r := c.Do(f, "GET", "/v1/me", nil); r.Status == 401 { // its first use, written once a minute at most: before any snapshot
			f.Fatalf("alice's key %s: GET /v1/me answers %d %s", name, r.Status, r.Body)
		}
		for _, k := range ks {
			if k.ID == id {
				return c, &k
			}
		}
		f.Fatalf("alice's key %s is not stored", name)
		return nil, nil
	}
	maker, makerKey := ownKey("maker", map[string]any{"expires_at": s.Clock.Now().Add(30 * 24 * time.Hour)},
		"keys * write", "dns example.com read,write")
	acme, acmeKey := ownKey("acme", nil, "dns example.com/_acme-challenge/TXT read,write")
	panel, panelKey := ownKey("panel", nil, "admin * read", "keys * write", "account * read")
	callers := []keyMaker{
		{c: elevated, account: aliceID, makes: true, admin: true, secondOK: true, operators: true},
		{c: other, account: aliceID, operators: true},
		{c: maker, account: aliceID, key: makerKey, makes: true, secondOK: true, operators: true},
		{c: acme, account: aliceID, key: acmeKey, secondOK: true, operators: true},
		{c: panel, account: aliceID, key: panelKey, makes: true, admin: true, secondOK: true, operators: true},
		{c: bobs, account: bob.ID, makes: true},
	}

	const txt = `{"service":"dns","resource":"example.com/_acme-challenge/TXT","actions":["read","write"]}`
	for _, in := range []struct {
		body string
		who  uint8
	}{
		{`{"name":"ci","permits":[` + txt + `]}`, 0},
		{`{"name":" ci ","permits":[` + txt + `],"expires_at":"@soon@"}`, 0},
		{`{"name":"ci","permits":[` + txt + `]}`, 1},
		{`{"name":"ci","permits":[` + txt + `]}`, 2},
		{`{"name":"ci","permits":[` + txt + `],"expires_at":"@late@"}`, 2},
		{`{"name":"ci","permits":[` + txt + `],"expires_at":"@soon@"}`, 2},
		{`{"name":"ci","permits":[{"service":"dns","resource":"example.org/*/*","actions":["read"]}]}`, 2},
		{`{"name":"ci","permits":[{"service":"keys","resource":"*","actions":["write"]}]}`, 2},
		{`{"name":"ci","permits":[` + txt + `]}`, 3},
		{`{"name":"ci","permits":[{"service":"admin","resource":"users","actions":["read"]}]}`, 4},
		{`{"name":"ci","permits":[{"service":"admin","resource":"users","actions":["read","write"]}]}`, 4},
		{`{"name":"ci","permits":[{"service":"admin","resource":"*","actions":["read","write"]}]}`, 0},
		{`{"name":"ci","permits":[{"service":"admin","resource":"*","actions":["read"]}]}`, 5},
		{`{"name":"ci","permits":[` + txt + `],"expires_at":"@past@"}`, 5},
		{`{"name":"ci","permits":[` + txt + `],"expires_at":"@far@"}`, 5},
		{`{"name":"ci","permits":[` + txt + `,` + txt + `]}`, 5},
		{`{"name":"","permits":[` + txt + `]}`, 5},
		{`{"name":"ci","permits":[]}`, 5},
		{`{"name":"ci","permits":[` + txt + `],"x":1}`, 0},
		{`{"name":"ci","name":"cd","permits":[` + txt + `]}`, 0},
		{``, 0},
	} {
		f.Add(in.body, in.who)
	}

	keysOf := func(t *testing.T) map[string]twofold.APIKey {
		keys := map[string]twofold.APIKey{}
		for _, id := range []string{aliceID, bob.ID} {
			ks, err := s.Store.APIKeys(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range ks {
				keys[k.ID] = k
			}
		}
		return keys
	}
	formatted := func(ps []twofold.Permit) []string {
		var out []string
		for _, p := range ps {
			out = append(out, permit.Format(p))
		}
		return out
	}

	f.Fuzz(func(t *testing.T, body string, who uint8) {
		caller := int(who % uint8(len(callers)))
		m := callers[caller]
		now := s.Clock.Now()
		stamp := func(d time.Duration) string { return now.Add(d).UTC().Format(time.RFC3339Nano) }
		body = strings.NewReplacer("@soon@", stamp(time.Hour), "@late@", stamp(60*24*time.Hour),
			"@past@", stamp(-time.Hour), "@far@", stamp(11*365*24*time.Hour)).Replace(body)

		keys := keysOf(t)
		req := testenv.NewRequest(t, "POST", s.URL()+"/v1/me/api-keys", body, nil)
		asCaller(req, m.c)
		logged := len(logs.String())
		input := fmt.Sprintf("%s by %d", body, caller)
		r, d, done := sendJudged(t, s, snaps, dsn, req, input)
		var made []twofold.APIKey
		for id, k := range keysOf(t) {
			if _, ok := keys[id]; !ok {
				made = append(made, k)
			}
		}
		if !done {
			return // refused, and nothing written
		}
		if len(made) != 1 {
			t.Fatalf("%s: answered 201, and %d keys were made", input, len(made))
		}
		k := made[0]
		defer func() {
			if _, err := s.Store.DeleteAPIKey(ctx, k.AccountID, k.ID); err != nil {
				t.Fatal(err)
			}
		}()
		var sent struct {
			Name    string `json:"name"`
			Permits []struct {
				Service  string   `json:"service"`
				Resource string   `json:"resource"`
				Actions  []string `json:"actions"`
			} `json:"permits"`
			ExpiresAt *time.Time `json:"expires_at"`
		}
		if err := json.Unmarshal([]byte(body), &sent); err != nil {
			t.Fatalf("%s: a key made of a body that is no JSON object: %v", input, err)
		}
		var permits []twofold.Permit
		for _, p := range sent.Permits {
			permits = append(permits, twofold.Permit{Service: p.Service, Resource: p.Resource, Actions: p.Actions})
		}
		permits, err := permit.NormalizeAll(permits)
		if err != nil {
			t.Fatalf("%s: a key made with permits that do not normalize: %v", input, err)
		}
		want := time.Time{}
		if sent.ExpiresAt != nil {
			want = sent.ExpiresAt.UTC().Truncate(time.Microsecond)
		}
		if m.key != nil && !m.key.ExpiresAt.IsZero() && (want.IsZero() || want.After(m.key.ExpiresAt)) {
			want = m.key.ExpiresAt
		}
		admin := permit.Grants(k.Permits, permit.Admin)
		switch {
		case !m.makes:
			t.Fatalf("%s: a key made by a caller that may not make one", input)
		case k.AccountID != m.account:
			t.Fatalf("%s: a key made for another account than the caller's", input)
		case k.Name != strings.TrimSpace(sent.Name):
			t.Fatalf("%s: the key is named %q", input, k.Name)
		case !slices.Equal(formatted(k.Permits), formatted(permits)):
			t.Fatalf("%s: the key's permits are %q, the body's %q", input, formatted(k.Permits), formatted(permits))
		case admin && (!m.admin || !m.operators):
			t.Fatalf("%s: a key with admin permits made by a caller that may not make one", input)
		case m.key != nil && permit.Beyond(k.Permits, m.key.Permits) >= 0:
			t.Fatalf("%s: a key made by a key beyond its permits: %q", input, formatted(k.Permits))
		case m.key != nil && k.ParentID != m.key.ID, m.key == nil && k.ParentID != "":
			t.Fatalf("%s: the key's parent is %q", input, k.ParentID)
		case !k.ExpiresAt.Equal(want):
			t.Fatalf("%s: the key expires at %v, not %v", input, k.ExpiresAt, want)
		case k.SecondFactor != m.secondOK:
			t.Fatalf("%s: the key says a second factor made it: %v", input, k.SecondFactor)
		}
		secret := r.String("secret")
		if got, _ := r.JSON["api_key"].(map[string]any)["id"].(string); got != k.ID || secret == "" {
			t.Fatalf("%s: answered %s, not the key made (%s) with its secret", input, r.Body, k.ID)
		}
		if testenv.HoldsWord(logs.String()[logged:], secret) {
			t.Fatalf("%s: the new key's secret went to the log", input)
		}
		if strings.Contains(d, secret) {
			t.Fatalf("%s: the new key's secret is in the database:\n%s", input, d)
		}
		a, err := s.Service.AuthenticateAPIKey(ctx, k.ID, secret, core.Meta{})
		if err != nil || a.Key == nil || a.Key.ID != k.ID || a.Account.ID != k.AccountID {
			t.Fatalf("%s: the secret answered does not sign in as the key made: %v", input, err)
		}
	})
}
