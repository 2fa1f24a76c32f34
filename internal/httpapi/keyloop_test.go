package httpapi_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestKeyCreateRevokeLoopBounded: a session that makes and revokes API keys
// in a loop never reaches the cap on live keys, and each round writes two
// audit events never held back; the keys made for one account are bounded
// too: APIKeyCreateBurst at once, then one every APIKeyCreateEvery, past
// which making one is 429 throttled (problem+json) with Retry-After, makes
// no key, and is recorded (api_key.create_throttled) once a minute. A key refused for another reason (the cap) uses none of
// it, and the owner's next key waits no longer than a minute. On SQLite
// and PostgreSQL.
func TestKeyCreateRevokeLoopBounded(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "kim")
		c := login(t, s, "kim")
		me := c.Do(t, "GET", "/v1/me", nil)
		if me.Status != 200 {
			t.Fatalf("me: %d %s", me.Status, me.Body)
		}
		userID := me.String("id")
		permit := "dns example.com/_acme-challenge/TXT write"
		for i := range core.APIKeyCreateBurst {
			k := makeKey(t, c, fmt.Sprintf("loop %d", i), nil, permit)
			if r := c.Do(t, "DELETE", "/v1/me/api-keys/"+k.id, nil); r.Status != 204 {
				t.Fatalf("revoke key %d: %d %s", i, r.Status, r.Body)
			}
		}
		count := func() map[string]int {
			t.Helper()
			evs, err := s.Store.Events(t.Context(), userID, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			n := map[string]int{}
			for _, e := range evs {
				n[e.Type]++
			}
			return n
		}
		before := count()
		if before["api_key.created"] != core.APIKeyCreateBurst || before["api_key.revoked"] != core.APIKeyCreateBurst {
			t.Fatalf("events of the loop: %v, want %d keys made and revoked", before, core.APIKeyCreateBurst)
		}

		r := c.Do(t, "POST", "/v1/me/api-keys", keyRequest("one too many", nil, permit))
		wantProblem(t, r, 429, "throttled")
		if n, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || n < 1 || n > int(core.APIKeyCreateEvery/time.Second) {
			t.Errorf("Retry-After %q, want 1 to %d seconds", r.Header.Get("Retry-After"), int(core.APIKeyCreateEvery/time.Second))
		}
		// The refusal is on the record, once a minute however many come:
		// a second at once writes nothing more.
		wantProblem(t, c.Do(t, "POST", "/v1/me/api-keys", keyRequest("and one more", nil, permit)), 429, "throttled")
		after := count()
		if after["api_key.created"] != before["api_key.created"] || after["api_key.create_throttled"] != 1 || len(after) != len(before)+1 {
			t.Errorf("events after two refused keys: %v, want those before, %v, and one api_key.create_throttled", after, before)
		}
		if r := c.Do(t, "GET", "/v1/me/events?type=api_key.create_throttled", nil); r.Status != 200 || len(r.JSON["events"].([]any)) != 1 {
			t.Errorf("the holder's events of the refusal: %d %s, want one", r.Status, r.Body)
		}
		if r := c.Do(t, "GET", "/v1/me/api-keys", nil); r.Status != 200 || len(r.JSON["api_keys"].([]any)) != 0 {
			t.Errorf("keys after the refused one: %d %s, want none", r.Status, r.Body)
		}

		// A minute on, one more, and no second.
		s.Clock.Add(core.APIKeyCreateEvery)
		k := makeKey(t, c, "after a minute", nil, permit, "keys * write")
		// The key just made asks for one more: refused alike, on the
		// same bound, and the record names it.
		wantProblem(t, keyClient(s, k.id, k.secret).Do(t, "POST", "/v1/me/api-keys", keyRequest("and another", nil, permit)), 429, "throttled")
		evs, err := s.Store.Events(t.Context(), userID, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		if want := "key " + k.id + ` "after a minute": too many API keys were made`; len(evs) != 1 || evs[0].Type != "api_key.create_throttled" || !strings.HasPrefix(evs[0].Detail, want) {
			t.Errorf("newest event %+v, want api_key.create_throttled starting %q", evs, want)
		}
	})
}

// TestKeyCapRefusalsUseNoCreation: keys refused because the account has
// MaxAPIKeys live ones use none of the bound on keys made, so the owner
// who tried a few times, then revoked one, makes its replacement at once.
// On SQLite and PostgreSQL.
func TestKeyCapRefusalsUseNoCreation(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "lev")
		c := login(t, s, "lev")
		permit := "dns example.com/_acme-challenge/TXT write"
		var last madeKey
		for i := range core.MaxAPIKeys - 1 {
			last = makeKey(t, c, fmt.Sprintf("server %d", i), nil, permit)
		}
		makeKey(t, c, "the last one", nil, permit)
		s.Clock.Add(3 * core.APIKeyCreateEvery) // three keys' worth
		for range 3 {
			wantProblem(t, c.Do(t, "POST", "/v1/me/api-keys", keyRequest("over the cap", nil, permit)), 409, "conflict")
		}
		if r := c.Do(t, "DELETE", "/v1/me/api-keys/"+last.id, nil); r.Status != 204 {
			t.Fatalf("revoke: %d %s", r.Status, r.Body)
		}
		makeKey(t, c, "replacement", nil, permit)
	})
}
