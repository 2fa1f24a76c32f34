package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/factor/sshkey"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzSSHChallengeForm posts any form to the page's button that asks for a
// new challenge for an SSH key waiting to be confirmed (POST
// /settings/security/ssh-keys/{id}/challenge), with any key id, from the
// browsers of formHolders (alice's elevated, alice's never elevated, bob's,
// who has no authenticator and so no keys). alice has a key confirmed, @k0@,
// and one waiting, @k1@. Whatever the form:
//
//   - the answer is never a server error;
//   - a challenge is made only with the browser's CSRF token, for the
//     waiting key of the browser's own account the path names (no
//     elevation asked: confirming the key asks for it); then every row
//     that changed is alice's, the browser goes to the key's page, the
//     challenge waiting is a new one, the key's signature of it confirms
//     the key, and its signature of the challenge before no longer does;
//   - otherwise the database is as it was (testenv.Snapshot) but for the
//     elevation alice's unelevated browser's fields made
//     (formHolders.refusedDiff);
//   - no password or code of alice's app the form sent comes back in the
//     page, and none goes to the log.
//
// In the id, @k0@ and @k1@ stand for the keys' ids; in the form,
// placeholders for the passwords and alice's app's codes
// (formHolders.replace). Alice's keys are made anew after a challenge. The
// who byte picks the browser. A path the mux cleans to another form's route
// is skipped (servedSegments). On SQLite; FuzzSSHChallengeFormPostgres is
// the same on PostgreSQL.
func FuzzSSHChallengeForm(f *testing.F) { sshChallengeForm(f, testenv.SQLiteDSN(f)) }

// FuzzSSHChallengeFormPostgres is FuzzSSHChallengeForm on PostgreSQL.
func FuzzSSHChallengeFormPostgres(f *testing.F) { sshChallengeForm(f, testenv.PostgresDSN(f)) }

func sshChallengeForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	pairs := []testenv.SSHKeyPair{testenv.SSHKeygen(f, "ed25519", 0), testenv.SSHKeygen(f, "ed25519", 0)}
	var k0, k1, challenge string
	k0, k1, challenge = sshKeysOfAlice(f, hs, pairs)

	for _, in := range []struct {
		id, form string
		who      uint8
	}{
		{"@k1@", "", 0},
		{"@k1@", "", 1},
		{"@k1@", "", 2},
		{"@k0@", "", 0},
		{"@k1@", "csrf=x", 0},
		{"@k1@", "elevate_method=totp&elevate_code=@next@", 1},
		{"@k1@x", "", 0},
		{"nosuch", "", 0},
		{"@k1@/..", "", 0},
	} {
		f.Add(in.id, in.form, in.who)
	}

	f.Fuzz(func(t *testing.T, id, form string, who uint8) {
		if hs.ready(t)[0] {
			k0, k1, challenge = sshKeysOfAlice(t, hs, pairs)
		}
		h, c, _ := hs.browser(who)
		alice := hs.list[0]
		id = strings.NewReplacer("@k0@", k0, "@k1@", k1).Replace(id)
		path := sshKeysPage + "/" + id + "/challenge"
		req, err := http.NewRequest("POST", ts.URL()+path, nil)
		if err != nil || !testenv.Sendable(req) {
			return // no request a browser could send
		}
		served := servedSegments(req.URL, sshKeysPage+"/", "", "challenge")
		if served == nil {
			return // another form's (a path cleaned to another route)
		}
		form = hs.replace(form, c, ts.Clock.Now())
		p := hs.post(t, path, form, who)
		did, _ := hs.changed(t, p)
		fail := hs.judge(t, p, path, did)
		if fail == nil {
			return // refused, and nothing written
		}
		a, err := ts.Service.Authenticate(ctx, sessionCookie(t, alice.browsers[0]))
		if err != nil {
			t.Fatal(err)
		}
		now, _, err := ts.Service.PendingSSHKeyChallenge(ctx, a, k1)
		switch {
		case h != alice || served[0] != k1:
			fail("the path names no waiting key of the browser's account")
		case p.r.url.Path != sshKeysPage+"/"+k1:
			fail("the browser is at %s (%d)", p.r.url, p.r.status)
		case err != nil || now.Text == "" || now.Text == challenge:
			fail("the challenge waiting is %q (%v), the one before %q", now.Text, err, challenge)
		}
		for _, l := range did {
			if !strings.Contains(l, alice.id) && !strings.Contains(l, k1) {
				fail("a row not of the browser's account changed: %s", l)
			}
		}
		old := testenv.SSHSign(t, pairs[1].File, sshkey.Namespace, challenge)
		if _, err := ts.Service.ConfirmSSHKey(ctx, a, k1, old, core.Meta{}); err == nil {
			fail("the key's signature of the challenge before still confirms it")
		}
		sig := testenv.SSHSign(t, pairs[1].File, sshkey.Namespace, now.Text)
		if _, err := ts.Service.ConfirmSSHKey(ctx, a, k1, sig, core.Meta{}); err != nil {
			fail("the key's signature of the new challenge does not confirm it: %v", err)
		}
		k0, k1, challenge = sshKeysOfAlice(t, hs, pairs)
	})
}
