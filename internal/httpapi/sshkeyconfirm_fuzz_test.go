package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/factor/sshkey"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzSSHKeyConfirm sends any key id and body to POST
// /v1/me/ssh-keys/{id}/confirm, where an SSH key added to an account
// becomes a way in once a signature by it of its challenge comes back, by
// one of three sessions: alice's, elevated, another of alice's that is
// not, and bob's, elevated. alice and bob each have an app (two-factor is
// on) and a key waiting, made by the real ssh-keygen. Whatever the id and
// body:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status (or a redirect to the cleaned path);
//   - a key becomes active (200) only when the id is a waiting key of the
//     caller's account, the session is elevated, and the body's signature
//     is one the real `ssh-keygen -Y verify` accepts (space around it
//     aside) as that key's, in Twofold's namespace, of that key's
//     challenge (with or without a line feed after it); then that key is
//     active, and the other is not;
//   - a refusal writes nothing (testenv.Snapshot) and queues no mail.
//
// In an id, @key@ and @bobskey@ stand for alice's and bob's waiting keys'
// ids. In a body, @sig@ stands for alice's key's signature of its
// challenge, @bobsig@ for bob's of his, @crossed@ for alice's key's
// signature of bob's key's challenge, @stranger@ for a key's that was
// never added of alice's key's challenge, @otherns@ for alice's key's of
// its challenge in another namespace, @spent@ for the signature that
// confirmed a key last (its key since removed and added again, with a new
// challenge). A key confirmed is removed and added anew before the next
// input. The who byte picks the session (its value mod 3: alice's
// elevated, alice's other, bob's). On SQLite; FuzzSSHKeyConfirmPostgres is
// the same on PostgreSQL.
func FuzzSSHKeyConfirm(f *testing.F) { sshKeyConfirm(f, testenv.SQLiteDSN(f)) }

// FuzzSSHKeyConfirmPostgres is FuzzSSHKeyConfirm on PostgreSQL.
func FuzzSSHKeyConfirmPostgres(f *testing.F) { sshKeyConfirm(f, testenv.PostgresDSN(f)) }

// waitingSSHKey is an SSH key that FuzzSSHKeyConfirm added and has not
// confirmed.
type waitingSSHKey struct {
	owner     int // the session that adds it
	key       testenv.SSHKeyPair
	id        string // "" until added, and once confirmed
	challenge string
}

func sshKeyConfirm(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs)
	alice, other, _ := holderWithApp(f, s, "alice")
	bob, _, _ := holderWithApp(f, s, "bob")
	sessions := []*testenv.Client{alice, other, bob}
	keys := []*waitingSSHKey{{owner: 0, key: testenv.SSHKeygen(f, "ed25519", 0)}, {owner: 2, key: testenv.SSHKeygen(f, "ed25519", 0)}}
	stranger := testenv.SSHKeygen(f, "ed25519", 0)
	snaps := testenv.OpenSnapshots(f, dsn)

	for _, in := range []struct {
		id, body string
		who      uint8
	}{
		{"@key@", `{"signature":"@sig@"}`, 0},
		{"@key@", `{"signature":"@sig@"}`, 1},
		{"@key@", `{"signature":"@sig@"}`, 2},
		{"@bobskey@", `{"signature":"@bobsig@"}`, 2},
		{"@bobskey@", `{"signature":"@bobsig@"}`, 0},
		{"@key@", `{"signature":"@bobsig@"}`, 0},
		{"@key@", `{"signature":"@crossed@"}`, 0},
		{"@bobskey@", `{"signature":"@crossed@"}`, 2},
		{"@key@", `{"signature":"@stranger@"}`, 0},
		{"@key@", `{"signature":"@otherns@"}`, 0},
		{"@key@", `{"signature":"@spent@"}`, 0},
		{"@key@", `{"signature":" @sig@ "}`, 0},
		{"@key@", `{"signature":"@sig@","x":1}`, 0},
		{"@key@", `{"signature":""}`, 0},
		{"@key@", ``, 0},
		{"@key@x", `{"signature":"@sig@"}`, 0},
		{"@key@/..", `{"signature":"@sig@"}`, 0},
	} {
		f.Add(in.id, in.body, in.who)
	}

	spent := "none yet"
	add := func(t testing.TB, k *waitingSSHKey) {
		r := sessions[k.owner].Do(t, "POST", "/v1/me/ssh-keys", map[string]string{"label": "laptop", "public_key": k.key.Public})
		if r.Status != 201 {
			t.Fatalf("add an ssh key: %d %s", r.Status, r.Body)
		}
		k.id = r.JSON["ssh_key"].(map[string]any)["id"].(string)
		k.challenge = r.JSON["challenge"].(map[string]any)["challenge"].(string)
	}
	f.Fuzz(func(t *testing.T, id, body string, who uint8) {
		for _, k := range keys {
			if k.id == "" {
				add(t, k)
			}
		}
		mine, bobs := keys[0], keys[1]
		// Each signature is made only when the input asks for it: ssh-keygen
		// is a process a signature.
		signed := map[string]func() string{
			"@sig@":      func() string { return testenv.SSHSign(t, mine.key.File, sshkey.Namespace, mine.challenge) },
			"@bobsig@":   func() string { return testenv.SSHSign(t, bobs.key.File, sshkey.Namespace, bobs.challenge) },
			"@crossed@":  func() string { return testenv.SSHSign(t, mine.key.File, sshkey.Namespace, bobs.challenge) },
			"@stranger@": func() string { return testenv.SSHSign(t, stranger.File, sshkey.Namespace, mine.challenge) },
			"@otherns@":  func() string { return testenv.SSHSign(t, mine.key.File, "file", mine.challenge) },
		}
		// A signature goes in a JSON string as its armor's lines.
		quoted := func(sig string) string { j, _ := json.Marshal(sig); return string(j[1 : len(j)-1]) }
		for p, sign := range signed {
			if strings.Contains(body, p) {
				body = strings.ReplaceAll(body, p, quoted(sign()))
			}
		}
		body = strings.ReplaceAll(body, "@spent@", quoted(spent))
		id = strings.NewReplacer("@key@", mine.id, "@bobskey@", bobs.id).Replace(id)
		caller := int(who % 3)

		req, named, ok := idRequest(s, "/v1/me/ssh-keys/", id, "/confirm", body, sessions[caller].Token)
		if !ok {
			return // no request a client could send
		}

		before := snaps.Take(t)
		r := testenv.Send(t, unredirected, req)
		if r.Status >= 500 {
			t.Fatalf("%s %s: %d %s", id, body, r.Status, r.Body)
		}

		if r.Status == 200 {
			var sent struct {
				Signature string `json:"signature"`
			}
			var k *waitingSSHKey
			for _, x := range keys {
				if x.id == named {
					k = x
				}
			}
			if k == nil || json.Unmarshal([]byte(body), &sent) != nil {
				t.Fatalf("%s %s: confirmed what is not a waiting key, or by a body that is not JSON: %s", id, body, r.Body)
			}
			if caller == 1 || caller != k.owner {
				t.Fatalf("%s %s: a key confirmed by session %d, added by %d", id, body, caller, k.owner)
			}
			// Space around the armor is no part of the signature.
			armor := strings.TrimSpace(sent.Signature) + "\n"
			if !testenv.SSHVerify(t, k.key.Public, sshkey.Namespace, k.challenge, armor) &&
				!testenv.SSHVerify(t, k.key.Public, sshkey.Namespace, k.challenge+"\n", armor) {
				t.Fatalf("%s %s: confirmed without the key's signature of its challenge", id, body)
			}
			if got, _ := r.JSON["ssh_key"].(map[string]any); got["id"] != k.id || got["status"] != "active" {
				t.Fatalf("%s %s: confirmed as %s", id, body, r.Body)
			}
			for _, x := range keys {
				list := sessions[x.owner].Do(t, "GET", "/v1/me/ssh-keys", nil)
				active := strings.Contains(string(list.Body), `"status":"active"`)
				if list.Status != 200 || active != (x == k) {
					t.Fatalf("%s %s: after confirming %s, the keys of session %d are %s", id, body, k.id, x.owner, list.Body)
				}
			}
			if r := sessions[k.owner].Do(t, "DELETE", "/v1/me/ssh-keys/"+k.id, nil); r.Status != 204 && r.Status != 200 {
				t.Fatalf("removing the key confirmed: %d %s", r.Status, r.Body)
			}
			spent, k.id = sent.Signature, ""
			return
		}

		wantRefusal(t, r, id+" "+body)
		if d := before.Diff(snaps.Take(t)); d != "" {
			t.Fatalf("%s %s: refused (%d %s), but the database changed:\n%s", id, body, r.Status, r.Body, d)
		}
	})
}
