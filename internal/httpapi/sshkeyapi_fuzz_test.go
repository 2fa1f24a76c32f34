package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/factor/sshkey"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzSSHKeyAPI sends any body to the API's SSH key writes, add one (POST
// /v1/me/ssh-keys) and remove one (DELETE /v1/me/ssh-keys/{id}), with any
// id, by one of four callers: alice's elevated session (she has an app),
// another of her sessions that is not elevated, an API key of hers, and
// bob's session (no factor). alice has an active key and a pending one.
// Whatever the request:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status or a redirect;
//   - a key is added only by a person's session elevated on an account
//     with two-factor on, pending, of the caller's account, with the body's
//     label (trimmed) and public key;
//   - a key is removed only by a person's session of its account, elevated
//     for an active one (and the account told), and it alone;
//   - every row that changed is the caller's account's (or mail queued);
//     a refusal writes nothing (testenv.Snapshot).
//
// The which byte picks the request (its value mod 2: add, remove). In a
// body, @pub@ stands for a new public key; in an id, @active@ and
// @pending@ for alice's keys' ids. alice's keys are made anew after a
// change. The who byte picks the caller (its value mod 4). On SQLite;
// FuzzSSHKeyAPIPostgres is the same on PostgreSQL.
func FuzzSSHKeyAPI(f *testing.F) { sshKeyAPI(f, testenv.SQLiteDSN(f)) }

// FuzzSSHKeyAPIPostgres is FuzzSSHKeyAPI on PostgreSQL.
func FuzzSSHKeyAPIPostgres(f *testing.F) { sshKeyAPI(f, testenv.PostgresDSN(f)) }

func sshKeyAPI(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs)
	snaps := testenv.OpenSnapshots(f, dsn)
	ctx := context.Background()
	elevated, other, _ := holderWithApp(f, s, "alice")
	addUser(f, s, "bob")
	key, _ := fuzzKey(f, s, elevated, "account * read", "keys * write")
	callers := []*testenv.Client{elevated, other, key, login(f, s, "bob")}
	accounts := accountIDs(f, s, "alice", "bob")
	pairs := []testenv.SSHKeyPair{testenv.SSHKeygen(f, "ed25519", 0), testenv.SSHKeygen(f, "ed25519", 0)}
	fresh := testenv.SSHKeygen(f, "ed25519", 0)
	var active, pending string
	add := func(t testing.TB, k testenv.SSHKeyPair, label string) (id, challenge string) {
		r := elevated.Do(t, "POST", "/v1/me/ssh-keys", map[string]string{"label": label, "public_key": k.Public})
		if r.Status != 201 {
			t.Fatalf("add an ssh key: %d %s", r.Status, r.Body)
		}
		return r.JSON["ssh_key"].(map[string]any)["id"].(string), r.JSON["challenge"].(map[string]any)["challenge"].(string)
	}
	makeKeys := func(t testing.TB) {
		testenv.Exec(t, dsn, fmt.Sprintf(`DELETE FROM ssh_keys WHERE account_id = '%s'`, accounts["alice"]))
		id, challenge := add(t, pairs[0], "laptop")
		sig := testenv.SSHSign(t, pairs[0].File, sshkey.Namespace, challenge)
		if r := elevated.Do(t, "POST", "/v1/me/ssh-keys/"+id+"/confirm", map[string]string{"signature": sig}); r.Status != 200 {
			t.Fatalf("confirm an ssh key: %d %s", r.Status, r.Body)
		}
		active = id
		pending, _ = add(t, pairs[1], "desktop")
		s.Service.Wait()
	}
	makeKeys(f)

	for _, in := range []struct {
		which    uint8
		id, body string
		who      uint8
	}{
		{0, "", `{"label":" work ","public_key":"@pub@"}`, 0},
		{0, "", `{"label":"work","public_key":"@pub@"}`, 1},
		{0, "", `{"label":"work","public_key":"@pub@"}`, 2},
		{0, "", `{"label":"work","public_key":"@pub@"}`, 3},
		{0, "", `{"label":"laptop","public_key":"@pub@"}`, 0},
		{0, "", `{"label":"work","public_key":"ssh-ed25519 AAAA"}`, 0},
		{0, "", `{"label":"","public_key":"@pub@"}`, 0},
		{0, "", `{"label":"work","public_key":"@pub@","x":1}`, 0},
		{1, "@active@", "", 0},
		{1, "@active@", "", 1},
		{1, "@active@", "", 2},
		{1, "@active@", "", 3},
		{1, "@pending@", "", 1},
		{1, "@pending@", "", 0},
		{1, "@pending@", "", 3},
		{1, "@active@/..", "", 0},
		{1, "nosuch", "", 0},
	} {
		f.Add(in.which, in.id, in.body, in.who)
	}

	f.Fuzz(func(t *testing.T, which uint8, id, body string, who uint8) {
		caller := int(who % 4)
		c := callers[caller]
		owner := accounts["alice"]
		if caller == 3 {
			owner = accounts["bob"]
		}
		quoted, _ := json.Marshal(fresh.Public)
		body = strings.ReplaceAll(body, "@pub@", string(quoted[1:len(quoted)-1]))
		id = strings.NewReplacer("@active@", active, "@pending@", pending).Replace(id)
		method, pattern := "POST", "/v1/me/ssh-keys"
		if which%2 == 1 {
			method, pattern = "DELETE", "/v1/me/ssh-keys/{id}"
		}
		req, named, ok := pathRequest(s, method, pattern, id, body, c)
		if !ok {
			return // no request a client could send, or another route's
		}
		was := map[string]twofold.SSHKey{}
		for _, acct := range accounts {
			ks, err := s.Store.SSHKeys(ctx, acct)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range ks {
				was[k.ID] = k
			}
		}

		input := fmt.Sprintf("%s %s %q by %d", method, req.URL.EscapedPath(), body, caller)
		r, d, done := sendJudged(t, s, snaps, dsn, req, input)
		if !done {
			return // refused, and nothing written
		}
		is := map[string]twofold.SSHKey{}
		for _, acct := range accounts {
			ks, err := s.Store.SSHKeys(ctx, acct)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range ks {
				is[k.ID] = k
			}
		}
		if caller == 2 {
			t.Fatalf("%s: answered %d %s to an API key:\n%s", input, r.Status, r.Body, d)
		}
		rowsOf(t, input, d, owner)
		if method == "POST" {
			var added []twofold.SSHKey
			for kid, k := range is {
				if _, ok := was[kid]; !ok {
					added = append(added, k)
				}
			}
			var sent struct {
				Label     string `json:"label"`
				PublicKey string `json:"public_key"`
			}
			_ = json.Unmarshal([]byte(body), &sent)
			pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(sent.PublicKey))
			switch {
			case caller != 0:
				t.Fatalf("%s: a key added by a session not elevated, or on an account without two-factor", input)
			case len(added) != 1 || len(is) != len(was)+1:
				t.Fatalf("%s: %d keys added", input, len(added))
			case added[0].AccountID != owner || added[0].Status != twofold.FactorPending:
				t.Fatalf("%s: the key added is %s, of account %s", input, added[0].Status, added[0].AccountID)
			case added[0].Label != strings.TrimSpace(sent.Label):
				t.Fatalf("%s: the key added is named %q", input, added[0].Label)
			case err != nil || added[0].Fingerprint != ssh.FingerprintSHA256(pub):
				t.Fatalf("%s: the key added is %s, not the body's (%v)", input, added[0].Fingerprint, err)
			}
		} else {
			k, ok := was[named]
			_, still := is[named]
			switch {
			case !ok || still || len(is) != len(was)-1:
				t.Fatalf("%s: not only the named key was removed", input)
			case k.AccountID != owner:
				t.Fatalf("%s: another account's key removed", input)
			case k.Status == twofold.FactorActive && caller != 0:
				t.Fatalf("%s: an active key removed by a session not elevated", input)
			case k.Status == twofold.FactorActive && !strings.Contains(d, "+ mail queued"):
				t.Fatalf("%s: an active key removed, and the account not told", input)
			}
		}
		makeKeys(t)
	})
}
