package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/factor/sshkey"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzSSHKeyForm posts any form to the pages' SSH key forms: add a key
// (POST /settings/security/ssh-keys), confirm a pending one with a
// signature (POST /settings/security/ssh-keys/{id}) and remove one (POST
// …/{id}/remove), with any key id, from the browsers of formHolders (alice's
// elevated, alice's never elevated, bob's, who has no authenticator and so
// no keys). Alice has an active key @k0@ and a pending one @k1@ whose
// challenge waits. Whatever the form:
//
//   - the answer is never a server error;
//   - a key changes only with the browser's CSRF token and only on the
//     browser's own account: an added key is the only one added, pending,
//     named as the form names it, holding the form's public key, and the
//     browser goes to its page; a key is confirmed only when it is the
//     pending one the path names and the form's signature is that key's
//     over its challenge (as the real ssh-keygen -Y verify has it), and
//     then it is the only change; a removal removes only the key the path
//     names. Adding, confirming and removing an active key need an
//     elevated session or fields that confirm it's alice with her app's
//     code not used before; cancelling a pending key does not;
//   - otherwise the database is as it was (testenv.Snapshot) but for the
//     elevation alice's unelevated browser's fields made
//     (formHolders.refusedDiff);
//   - no password or code of alice's app the form sent comes back in the
//     page, and none goes to the log.
//
// The which byte picks the form (its value mod 3, in the order above). In
// the id, @k0@ and @k1@ stand for the keys' ids; in the form, @pub0@,
// @pub1@ and @pub2@ for the public keys of @k0@, @k1@ and a key alice has
// not added, @sig@ for @k1@'s signature over its challenge, @sig2@ for the
// other key's over it, and placeholders for the passwords and alice's
// app's codes (formHolders.replace). Alice's keys are made anew after a
// change. The who byte picks the browser. A path the mux cleans to
// another form's route is skipped (servedSegments). On SQLite;
// FuzzSSHKeyFormPostgres is the same on PostgreSQL.
func FuzzSSHKeyForm(f *testing.F) { sshKeyForm(f, testenv.SQLiteDSN(f)) }

// FuzzSSHKeyFormPostgres is FuzzSSHKeyForm on PostgreSQL.
func FuzzSSHKeyFormPostgres(f *testing.F) { sshKeyForm(f, testenv.PostgresDSN(f)) }

// sshKeysPage is the page of an account's SSH keys.
const sshKeysPage = "/settings/security/ssh-keys"

// sshKeysOfAlice gives formHolders' alice two SSH keys anew, of pairs[0]
// and pairs[1], through her elevated browser's session: the first
// confirmed, the second pending. It returns their ids and the second's
// challenge.
func sshKeysOfAlice(t testing.TB, hs *formHolders, pairs []testenv.SSHKeyPair) (active, pending, challenge string) {
	ts, ctx, alice := hs.ts, context.Background(), hs.list[0]
	a, err := ts.Service.Authenticate(ctx, sessionCookie(t, alice.browsers[0]))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ts.Store.SSHKeys(ctx, alice.id)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := ts.Store.DeleteSSHKey(ctx, alice.id, k.ID, k.Status); err != nil {
			t.Fatal(err)
		}
	}
	for i, label := range []string{"laptop", "desk"} {
		e, err := ts.Service.AddSSHKey(ctx, a, label, pairs[i].Public, core.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			pending, challenge = e.Key.ID, e.Challenge.Text
			break
		}
		s := testenv.SSHSign(t, pairs[0].File, sshkey.Namespace, e.Challenge.Text)
		if _, err := ts.Service.ConfirmSSHKey(ctx, a, e.Key.ID, s, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		active = e.Key.ID
	}
	ts.Service.Wait()
	return active, pending, challenge
}

func sshKeyForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	pairs := []testenv.SSHKeyPair{testenv.SSHKeygen(f, "ed25519", 0), testenv.SSHKeygen(f, "ed25519", 0), testenv.SSHKeygen(f, "ecdsa", 0)}
	var k0, k1, challenge, sig, sig2 string
	// makeKeys gives alice her two keys anew, the second's challenge
	// signed by it and by the third.
	makeKeys := func(t testing.TB) {
		k0, k1, challenge = sshKeysOfAlice(t, hs, pairs)
		sig = testenv.SSHSign(t, pairs[1].File, sshkey.Namespace, challenge)
		sig2 = testenv.SSHSign(t, pairs[2].File, sshkey.Namespace, challenge)
	}
	makeKeys(f)

	for _, in := range []struct {
		which    uint8
		id, form string
		who      uint8
	}{
		{0, "", "label=+work+&public_key=@pub2@", 0},
		{0, "", "label=work&public_key=@pub2@&elevate_method=totp&elevate_code=@next@", 1},
		{0, "", "label=work&public_key=@pub2@", 1},
		{0, "", "label=work&public_key=@pub2@", 2},
		{0, "", "label=work&public_key=@pub0@", 0},
		{0, "", "label=laptop&public_key=@pub2@", 0},
		{0, "", "label=work&public_key=ssh-ed25519+AAAA", 0},
		{0, "", "label=work&public_key=@pub2@&csrf=x", 0},
		{1, "@k1@", "signature=@sig@", 0},
		{1, "@k1@", "signature=@sig@&elevate_method=totp&elevate_code=@next@", 1},
		{1, "@k1@", "signature=@sig@", 1},
		{1, "@k1@", "signature=@sig2@", 0},
		{1, "@k0@", "signature=@sig@", 0},
		{1, "@k1@", "signature=@sig@", 2},
		{2, "@k1@", "", 1},
		{2, "@k0@", "", 0},
		{2, "@k0@", "", 1},
		{2, "@k0@", "elevate_method=totp&elevate_code=@next@", 1},
		{2, "@k0@", "", 2},
		{2, "@k1@/..", "", 0},
	} {
		f.Add(in.which, in.id, in.form, in.who)
	}

	f.Fuzz(func(t *testing.T, which uint8, id, form string, who uint8) {
		if hs.ready(t)[0] {
			makeKeys(t)
		}
		h, c, _ := hs.browser(who)
		alice := hs.list[0]
		id = strings.NewReplacer("@k0@", k0, "@k1@", k1).Replace(id)
		path, named := sshKeysPage, ""
		var shape []string
		switch which % 3 {
		case 1:
			path, shape = sshKeysPage+"/"+id, []string{""}
		case 2:
			path, shape = sshKeysPage+"/"+id+"/remove", []string{"", "remove"}
		}
		req, err := http.NewRequest("POST", ts.URL()+path, nil)
		if err != nil || !testenv.Sendable(req) {
			return // no request a browser could send
		}
		if shape != nil {
			served := servedSegments(req.URL, sshKeysPage+"/", shape...)
			if served == nil {
				return // another form's (a path cleaned to another route)
			}
			named = served[0]
		}
		form = hs.replace(form, c, ts.Clock.Now(), "@pub0@", pairs[0].Public, "@pub1@", pairs[1].Public,
			"@pub2@", pairs[2].Public, "@sig@", sig, "@sig2@", sig2)
		before, err := ts.Store.SSHKeys(ctx, alice.id)
		if err != nil {
			t.Fatal(err)
		}
		p := hs.post(t, path, form, who)
		did, selfElevated := hs.changed(t, p)
		fail := hs.judge(t, p, path, did)
		if fail == nil {
			return // refused, and nothing written
		}
		switch {
		case h != alice:
			fail("the browser's account has no keys and can add none")
		}
		for _, l := range did {
			if !strings.Contains(l, alice.id) && !strings.HasPrefix(l, "+ mail queued") {
				fail("a row not of the browser's account changed: %s", l)
			}
		}
		after, err := ts.Store.SSHKeys(ctx, alice.id)
		if err != nil {
			t.Fatal(err)
		}
		was := map[string]twofold.SSHKey{}
		for _, k := range before {
			was[k.ID] = k
		}
		is := map[string]twofold.SSHKey{}
		for _, k := range after {
			is[k.ID] = k
		}
		at := p.r.url.Path + "?" + p.r.url.RawQuery
		switch which % 3 {
		case 0:
			var added []twofold.SSHKey
			for _, k := range after {
				if _, ok := was[k.ID]; !ok {
					added = append(added, k)
				}
			}
			if len(added) != 1 || len(after) != len(before)+1 {
				fail("the form adds one key (%d added, %d before, %d after)", len(added), len(before), len(after))
			}
			k := added[0]
			pub, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(p.sent.Get("public_key")))
			switch {
			case err != nil || strings.TrimSpace(string(rest)) != "":
				fail("the form's public key does not read as one: %v", err)
			case k.Fingerprint != ssh.FingerprintSHA256(pub):
				fail("the key added is %s, the form's %s", k.Fingerprint, ssh.FingerprintSHA256(pub))
			case k.Status != twofold.FactorPending:
				fail("the key added is %s", k.Status)
			case k.Label != strings.TrimSpace(p.sent.Get("label")):
				fail("the key added is named %q", k.Label)
			case at != sshKeysPage+"/"+k.ID+"?":
				fail("the browser is at %s (%d)", p.r.url, p.r.status)
			}
			hs.mayAct(t, p, "a key added")
		case 1:
			k, ok := is[named]
			switch {
			case named != k1 || !ok || k.Status != twofold.FactorActive || len(after) != len(before):
				fail("only the pending key the path names is confirmed")
			case !testenv.SSHVerify(t, pairs[1].Public, sshkey.Namespace, challenge, p.sent.Get("signature")):
				fail("the form's signature is not the key's over its challenge")
			case at != sshKeysPage+"?m=ssh_key_added":
				fail("the browser is at %s (%d)", p.r.url, p.r.status)
			}
			hs.mayAct(t, p, "a key confirmed")
		case 2:
			k, ok := was[named]
			if _, still := is[named]; !ok || still || len(after) != len(before)-1 {
				fail("only the key the path names is removed")
			}
			want := sshKeysPage + "?m=ssh_key_removed"
			if k.Status == twofold.FactorPending {
				want = sshKeysPage + "?m=ssh_key_cancelled"
			}
			if at != want {
				fail("the browser is at %s (%d)", p.r.url, p.r.status)
			}
			if k.Status == twofold.FactorActive || selfElevated {
				hs.mayAct(t, p, "a key removed")
			}
		}
		if hs.list[0].id != "" {
			makeKeys(t)
		}
	})
}
