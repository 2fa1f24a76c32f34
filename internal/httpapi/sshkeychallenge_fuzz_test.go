package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/factor/sshkey"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzSSHKeyChallenge sends any body to POST
// /v1/me/ssh-keys/{id}/challenge, which gives a new challenge for an SSH
// key waiting to be confirmed, replacing the one before, with any id, by
// one of four callers: alice's elevated session (she has an app), another
// of hers that is not elevated (a challenge asks for none: confirming it
// does), an API key of hers, and bob's elevated session. alice has a key
// waiting and one confirmed, bob a key waiting, made by the real
// ssh-keygen. Whatever the request:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status or a redirect;
//   - a challenge is made (200) only by a person's session (never a key)
//     for a key of its own account the path names that is waiting; then
//     every row that changed is the key's or its account's, the challenge
//     is a new one, its key's signature of it confirms the key, and a
//     signature of the challenge before no longer does;
//   - a refusal writes nothing (testenv.Snapshot).
//
// In an id, @key@, @active@ and @bobskey@ stand for alice's waiting key,
// her confirmed one and bob's waiting key. A key confirmed is removed and
// added anew. The who byte picks the caller (its value mod 4). On SQLite;
// FuzzSSHKeyChallengePostgres is the same on PostgreSQL.
func FuzzSSHKeyChallenge(f *testing.F) { sshKeyChallenge(f, testenv.SQLiteDSN(f)) }

// FuzzSSHKeyChallengePostgres is FuzzSSHKeyChallenge on PostgreSQL.
func FuzzSSHKeyChallengePostgres(f *testing.F) { sshKeyChallenge(f, testenv.PostgresDSN(f)) }

func sshKeyChallenge(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs)
	snaps := testenv.OpenSnapshots(f, dsn)
	alice, other, _ := holderWithApp(f, s, "alice")
	key, _ := fuzzKey(f, s, alice, "account * read", "keys * write")
	bob, _, _ := holderWithApp(f, s, "bob")
	callers := []*testenv.Client{alice, other, key, bob}
	ids := accountIDs(f, s, "alice", "bob")
	keys := []*waitingSSHKey{{owner: 0, key: testenv.SSHKeygen(f, "ed25519", 0)}, {owner: 3, key: testenv.SSHKeygen(f, "ed25519", 0)}}
	added := 0
	add := func(t testing.TB, k *waitingSSHKey) {
		added++
		r := callers[k.owner].Do(t, "POST", "/v1/me/ssh-keys", map[string]string{"label": fmt.Sprintf("laptop %d", added), "public_key": k.key.Public})
		if r.Status != 201 {
			t.Fatalf("add an ssh key: %d %s", r.Status, r.Body)
		}
		k.id = r.JSON["ssh_key"].(map[string]any)["id"].(string)
		k.challenge = r.JSON["challenge"].(map[string]any)["challenge"].(string)
	}
	// confirm sends k's key's signature of challenge back, by the session
	// that added it.
	confirm := func(t testing.TB, k *waitingSSHKey, challenge string) testenv.Response {
		sig := testenv.SSHSign(t, k.key.File, sshkey.Namespace, challenge)
		return callers[k.owner].Do(t, "POST", "/v1/me/ssh-keys/"+k.id+"/confirm", map[string]string{"signature": sig})
	}
	active := &waitingSSHKey{owner: 0, key: testenv.SSHKeygen(f, "ed25519", 0)}
	add(f, active)
	if r := confirm(f, active, active.challenge); r.Status != 200 {
		f.Fatalf("confirm alice's key: %d %s", r.Status, r.Body)
	}
	for _, k := range keys {
		add(f, k)
	}
	s.Service.Wait()

	for _, in := range []struct {
		id, body string
		who      uint8
	}{
		{"@key@", "", 0},
		{"@key@", "", 1},
		{"@key@", "", 2},
		{"@key@", "", 3},
		{"@bobskey@", "", 3},
		{"@bobskey@", "", 0},
		{"@active@", "", 0},
		{"@key@", "{}", 0},
		{"@key@", `{"x":1}`, 1},
		{"@key@x", "", 0},
		{"nosuch", "", 0},
		{"@key@/..", "", 0},
	} {
		f.Add(in.id, in.body, in.who)
	}

	f.Fuzz(func(t *testing.T, id, body string, who uint8) {
		caller := int(who % 4)
		owner := ids["alice"]
		if caller == 3 {
			owner = ids["bob"]
		}
		id = strings.NewReplacer("@key@", keys[0].id, "@active@", active.id, "@bobskey@", keys[1].id).Replace(id)
		req, named, ok := pathRequest(s, "POST", "/v1/me/ssh-keys/{id}/challenge", id, body, callers[caller])
		if !ok {
			return // no request a client could send, or another route's
		}
		input := fmt.Sprintf("%s %q by %d", req.URL.EscapedPath(), body, caller)
		r, d, done := sendJudged(t, s, snaps, dsn, req, input)
		if !done {
			return // refused, and nothing written
		}
		var k *waitingSSHKey
		for _, x := range keys {
			if x.id == named {
				k = x
			}
		}
		challenge := r.String("challenge")
		switch {
		case caller == 2:
			t.Fatalf("%s: answered %d %s to an API key:\n%s", input, r.Status, r.Body, d)
		case k == nil || owner != ids[[]string{"alice", "bob"}[k.owner/3]]:
			t.Fatalf("%s: a challenge for %s, not a waiting key of the caller's account: %s", input, named, r.Body)
		case r.Status != 200 || challenge == "" || challenge == k.challenge:
			t.Fatalf("%s: answered %d %s; the challenge before was %q", input, r.Status, r.Body, k.challenge)
		}
		rowsOf(t, input, d, owner, named)
		if c := confirm(t, k, k.challenge); c.Status < 400 {
			t.Fatalf("%s: the challenge before still confirms the key: %d %s", input, c.Status, c.Body)
		}
		if c := confirm(t, k, challenge); c.Status != 200 {
			t.Fatalf("%s: the new challenge does not confirm the key: %d %s", input, c.Status, c.Body)
		}
		if r := callers[k.owner].Do(t, "DELETE", "/v1/me/ssh-keys/"+k.id, nil); r.Status != 204 && r.Status != 200 {
			t.Fatalf("removing the key confirmed: %d %s", r.Status, r.Body)
		}
		add(t, k)
		s.Service.Wait()
	})
}
