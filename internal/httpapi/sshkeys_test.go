package httpapi_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/factor/sshkey"
	"github.com/twofold/twofold/internal/testenv"
)

// sshUser makes an account with a TOTP factor and an active SSH key
// registered over the API, proving possession with the real ssh-keygen,
// and returns its client (elevated), TOTP factor and key pair.
func sshUser(t *testing.T, s *testenv.Server, user, keyType string) (*testenv.Client, enrolled, testenv.SSHKeyPair) {
	t.Helper()
	c, f := phoneUser(t, s, user)
	elevate(t, s, c, f)
	kp := testenv.SSHKeygen(t, keyType, 0)
	registerSSHKey(t, c, kp)
	return c, f, kp
}

// registerSSHKey adds kp's public key to c's account and confirms it with
// the real ssh-keygen's signature over its challenge; c must be elevated.
func registerSSHKey(t testing.TB, c *testenv.Client, kp testenv.SSHKeyPair) {
	t.Helper()
	r := c.Do(t, "POST", "/v1/me/ssh-keys", map[string]string{"label": "laptop", "public_key": kp.Public})
	if r.Status != 201 {
		t.Fatalf("add ssh key: got %d %s", r.Status, r.Body)
	}
	id := r.JSON["ssh_key"].(map[string]any)["id"].(string)
	ch := r.JSON["challenge"].(map[string]any)["challenge"].(string)
	sig := testenv.SSHSign(t, kp.File, sshkey.Namespace, ch)
	if r := c.Do(t, "POST", "/v1/me/ssh-keys/"+id+"/confirm", map[string]string{"signature": sig}); r.Status != 200 {
		t.Fatalf("confirm ssh key: got %d %s", r.Status, r.Body)
	}
}

// elevate elevates c's session with the TOTP factor's next code.
func elevate(t *testing.T, s *testenv.Server, c *testenv.Client, f enrolled) {
	t.Helper()
	s.Clock.Add(30 * time.Second)
	if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, f.secret, s.Clock.Now())}); r.Status != 200 {
		t.Fatalf("elevate: got %d %s", r.Status, r.Body)
	}
}

// loginChallenge starts a login of user and asks for an SSH challenge.
func loginChallenge(t *testing.T, s *testenv.Server, user string) (loginID, text string) {
	t.Helper()
	loginID, _ = startLogin(t, s, user)
	r := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login/"+loginID+"/challenge", map[string]string{"method": "ssh_key"})
	if r.Status != 200 || r.String("status") != "challenge" || r.String("namespace") != sshkey.Namespace {
		t.Fatalf("ssh challenge: got %d %s", r.Status, r.Body)
	}
	return loginID, r.String("challenge")
}

// TestSSHKeyStory: an SSH key is registered with proof of possession, signs
// in at the second step and elevates a session with signatures the real
// ssh-keygen -Y sign made, and is refused whenever the signature is not
// its own over this very challenge (SPEC §1 story 4).
func TestSSHKeyStory(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		kp := testenv.SSHKeygen(t, "ed25519", 0)
		// Without an authenticator there is nothing to recover: no key.
		addUser(t, s, "nora")
		wantProblem(t, login(t, s, "nora").Do(t, "POST", "/v1/me/ssh-keys", map[string]string{"label": "laptop", "public_key": kp.Public}), 400, "invalid")
		c, f := phoneUser(t, s, "sally")

		// Registering: a fresh second factor first, a key worth taking.
		s.Clock.Add(11 * time.Minute)
		wantProblem(t, c.Do(t, "POST", "/v1/me/ssh-keys", map[string]string{"label": "laptop", "public_key": kp.Public}), 403, "elevation-required")
		elevate(t, s, c, f)
		short := testenv.SSHKeygen(t, "rsa", 1024)
		for _, bad := range []map[string]string{
			{"label": "laptop", "public_key": short.Public},
			{"label": "laptop", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAnot"},
			{"label": "", "public_key": kp.Public},
			{"label": "laptop"},
		} {
			wantProblem(t, c.Do(t, "POST", "/v1/me/ssh-keys", bad), 400, "invalid")
		}
		r := c.Do(t, "POST", "/v1/me/ssh-keys", map[string]string{"label": "laptop", "public_key": kp.Public})
		if r.Status != 201 {
			t.Fatalf("add: got %d %s", r.Status, r.Body)
		}
		key := r.JSON["ssh_key"].(map[string]any)
		id := key["id"].(string)
		if key["status"] != "pending" || key["type"] != "ssh-ed25519" || key["fingerprint"] != testenv.SSHFingerprint(t, kp.File+".pub") {
			t.Fatalf("added key %v, want a pending ssh-ed25519 key with ssh-keygen's fingerprint", key)
		}
		ch := r.JSON["challenge"].(map[string]any)
		text := ch["challenge"].(string)
		if want := "ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n " + sshkey.Namespace + " challenge.txt"; ch["command"] != want {
			t.Errorf("command %q, want %q", ch["command"], want)
		}
		wantProblem(t, c.Do(t, "POST", "/v1/me/ssh-keys", map[string]string{"label": "again", "public_key": kp.Public}), 409, "conflict")
		// A pending key does not sign in.
		loginID, _ := startLogin(t, s, "sally")
		wantProblem(t, testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login/"+loginID+"/challenge", map[string]string{"method": "ssh_key"}), 404, "not-found")
		// Proof of possession: only this key, this namespace, this text.
		other := testenv.SSHKeygen(t, "ed25519", 0)
		for _, sig := range []string{
			testenv.SSHSign(t, other.File, sshkey.Namespace, text),
			testenv.SSHSign(t, kp.File, "file", text),
			testenv.SSHSign(t, kp.File, sshkey.Namespace, text+" and more"),
			"-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n",
		} {
			wantProblem(t, c.Do(t, "POST", "/v1/me/ssh-keys/"+id+"/confirm", map[string]string{"signature": sig}), 400, "invalid")
		}
		if r := c.Do(t, "POST", "/v1/me/ssh-keys/"+id+"/confirm", map[string]string{"signature": testenv.SSHSign(t, kp.File, sshkey.Namespace, text)}); r.Status != 200 ||
			r.JSON["ssh_key"].(map[string]any)["status"] != "active" {
			t.Fatalf("confirm: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, c.Do(t, "POST", "/v1/me/ssh-keys/"+id+"/confirm", map[string]string{"signature": testenv.SSHSign(t, kp.File, sshkey.Namespace, text)}), 409, "conflict")
		mb.Wait(t, 1, time.Minute)

		// Another account with its own key: its signatures are no use here.
		_, _, bobKey := sshUser(t, s, "bob", "ecdsa")

		// The second step offers the key; a challenge is bound to its login.
		loginID, lr := startLogin(t, s, "sally")
		if !hasMethod(lr, "ssh_key") {
			t.Fatalf("methods %v lack ssh_key", lr.JSON["methods"])
		}
		wantProblem(t, patientVerify(t, s, loginID, map[string]string{"method": "ssh_key", "signature": testenv.SSHSign(t, kp.File, sshkey.Namespace, text)}), 401, "invalid-code") // no challenge asked for
		cr := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login/"+loginID+"/challenge", map[string]string{"method": "ssh_key"})
		loginText := cr.String("challenge")
		// It names the login by the key the login is stored under, never by
		// its login_id, which the database never holds.
		if cr.Status != 200 || !strings.Contains(loginText, " login=") || strings.Contains(loginText, loginID) || !strings.Contains(cr.String("command"), "ssh-keygen -Y sign") {
			t.Fatalf("challenge: got %d %s", cr.Status, cr.Body)
		}
		if cr.String("expires_at") != lr.String("expires_at") {
			t.Errorf("a login's challenge expires at %s, want with its login at %s", cr.String("expires_at"), lr.String("expires_at"))
		}
		otherLogin, otherText := loginChallenge(t, s, "sally")
		for name, sig := range map[string]string{
			"unregistered key":        testenv.SSHSign(t, other.File, sshkey.Namespace, loginText),
			"another account's key":   testenv.SSHSign(t, bobKey.File, sshkey.Namespace, loginText),
			"another login's text":    testenv.SSHSign(t, kp.File, sshkey.Namespace, otherText),
			"the registration's text": testenv.SSHSign(t, kp.File, sshkey.Namespace, text),
			"wrong namespace":         testenv.SSHSign(t, kp.File, "git", loginText),
			"garbage":                 "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----",
		} {
			r := patientVerify(t, s, loginID, map[string]string{"method": "ssh_key", "signature": sig})
			if r.Status != 401 || r.Problem() != "invalid-code" {
				t.Fatalf("%s: got %d %s, want 401 invalid-code", name, r.Status, r.Body)
			}
		}
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "ssh_key"}), 400, "invalid")
		good := testenv.SSHSign(t, kp.File, sshkey.Namespace, loginText)
		v := patientVerify(t, s, loginID, map[string]string{"method": "ssh_key", "signature": good})
		if v.Status != 200 || v.String("status") != "authenticated" {
			t.Fatalf("verify: got %d %s", v.Status, v.Body)
		}
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "ssh_key", "signature": good}), 410, "login-expired")
		c.Token = v.String("token") // the recovery ended c's session: go on with the new one
		// A sign-in by SSH key is a recovery: it voided the account's other
		// login waiting for its second step, whose challenge is now refused.
		wantProblem(t, verify(t, s, otherLogin, map[string]string{"method": "ssh_key", "signature": testenv.SSHSign(t, kp.File, sshkey.Namespace, otherText+"\n")}), 410, "login-expired")

		// Elevation: one challenge, one use; an expired one is refused.
		sc := testenv.NewClient(s.URL())
		sc.Token = v.String("token")
		s.Clock.Add(11 * time.Minute)
		er := sc.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "ssh_key"})
		if er.Status != 200 {
			t.Fatalf("elevation challenge: got %d %s", er.Status, er.Body)
		}
		esig := testenv.SSHSign(t, kp.File, sshkey.Namespace, er.String("challenge"))
		if r := sc.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "ssh_key", "signature": esig}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, sc.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "ssh_key", "signature": esig}), 401, "invalid-code") // replayed
		er = sc.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "ssh_key"})
		s.Clock.Add(core.SSHChallengeTTL + time.Second)
		wantProblem(t, sc.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "ssh_key", "signature": testenv.SSHSign(t, kp.File, sshkey.Namespace, er.String("challenge"))}), 401, "invalid-code")

		// The list says when the key was last used.
		lst := c.Do(t, "GET", "/v1/me/ssh-keys", nil)
		keys := lst.JSON["ssh_keys"].([]any)
		if lst.Status != 200 || len(keys) != 1 || keys[0].(map[string]any)["last_used_at"] == nil || keys[0].(map[string]any)["label"] != "laptop" {
			t.Fatalf("list: got %d %s", lst.Status, lst.Body)
		}

		// Removing needs a fresh second factor; a challenge asked for
		// before is then of no use.
		pending, pendingText := loginChallenge(t, s, "sally")
		wantProblem(t, c.Do(t, "DELETE", "/v1/me/ssh-keys/"+id, nil), 403, "elevation-required")
		elevate(t, s, c, f)
		if r := c.Do(t, "DELETE", "/v1/me/ssh-keys/"+id, nil); r.Status != 204 {
			t.Fatalf("remove: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, c.Do(t, "DELETE", "/v1/me/ssh-keys/"+id, nil), 404, "not-found")
		wantProblem(t, verify(t, s, pending, map[string]string{"method": "ssh_key", "signature": testenv.SSHSign(t, kp.File, sshkey.Namespace, pendingText)}), 401, "invalid-code")
		if _, lr := startLogin(t, s, "sally"); hasMethod(lr, "ssh_key") {
			t.Fatalf("methods %v still offer ssh_key", lr.JSON["methods"])
		}

		// On the record, and the owner was told.
		evs := c.Do(t, "GET", "/v1/me/events?limit=200", nil).Body
		for _, typ := range []string{"ssh_key.created", "ssh_key.confirm_failed", "ssh_key.added", "ssh_key.used", "ssh_key.removed", "login.second_factor_failed", "session.elevation_failed"} {
			if !strings.Contains(string(evs), `"`+typ+`"`) {
				t.Errorf("events lack %s", typ)
			}
		}
		if strings.Contains(string(evs), "BEGIN SSH SIGNATURE") || strings.Contains(string(evs), "U1NIU0lH") {
			t.Error("an event holds a signature")
		}
		// Mails to others may come first: wait for more until sally's three
		// are in (Wait fails the test when none comes).
		wants := []string{"an SSH key was added", "your SSH key was used", "an SSH key was removed"}
		for n := 6; ; n++ {
			var subjects []string
			for _, m := range mb.Wait(t, n, time.Minute) {
				subj, body := mailText(t, m)
				if strings.HasPrefix(m.To[0], "sally") {
					subjects = append(subjects, subj)
				}
				if strings.Contains(body, "BEGIN SSH") {
					t.Fatal("a mail holds a signature")
				}
			}
			joined := strings.Join(subjects, "|")
			if !slices.ContainsFunc(wants, func(w string) bool { return !strings.Contains(joined, w) }) {
				break
			}
		}
	})
}

// patientVerify is verify that waits out the short locks of the recovery
// counter, which the refusals this test means to see take slots of.
func patientVerify(t *testing.T, s *testenv.Server, loginID string, body map[string]string) testenv.Response {
	t.Helper()
	for {
		r := verify(t, s, loginID, body)
		if r.Status != 429 {
			return r
		}
		s.Clock.Add(time.Duration(retryAfter(t, r)) * time.Second)
	}
}

func hasMethod(r testenv.Response, method string) bool {
	ms, _ := r.JSON["methods"].([]any)
	for _, m := range ms {
		if m.(map[string]any)["method"] == method {
			return true
		}
	}
	return false
}

// TestSSHKeyThrottle: wrong signatures count on the account's recovery
// counter, whose locks stay short, and leave the code counter alone: the
// authenticator app still signs in at once.
func TestSSHKeyThrottle(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		_, f, kp := sshUser(t, s, "tess", "rsa")
		other := testenv.SSHKeygen(t, "ed25519", 0)
		failures, locked := 0, false
		for failures < core.HardCap+3 {
			loginID, text := loginChallenge(t, s, "tess")
			r := verify(t, s, loginID, map[string]string{"method": "ssh_key", "signature": testenv.SSHSign(t, other.File, sshkey.Namespace, text)})
			if r.Status == 429 {
				locked = true
				wait := retryAfter(t, r)
				if wait > 15*60 {
					t.Fatalf("after %d wrong signatures: Retry-After %d s, more than 15 minutes", failures, wait)
				}
				// The right signature is refused too while locked.
				wantProblem(t, verify(t, s, loginID, map[string]string{"method": "ssh_key", "signature": testenv.SSHSign(t, kp.File, sshkey.Namespace, text)}), 429, "throttled")
				// The code counter is another: the app signs in now.
				l2, _ := startLogin(t, s, "tess")
				s.Clock.Add(30 * time.Second)
				if v := verify(t, s, l2, map[string]string{"method": "totp", "code": testenv.TOTP(t, f.secret, s.Clock.Now())}); v.Status != 200 {
					t.Fatalf("totp while ssh signatures are locked: got %d %s", v.Status, v.Body)
				}
				s.Clock.Add(time.Duration(wait) * time.Second)
				continue
			}
			wantProblem(t, r, 401, "invalid-code")
			failures++
		}
		if !locked {
			t.Fatalf("%d wrong signatures and never a 429", failures)
		}
		ctrs, err := s.Store.Counters(context.Background(), "2fa:")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range ctrs {
			if strings.Contains(c.Key, ":recovery:") && c.Failures == 0 {
				t.Errorf("recovery counter %s holds no failures", c.Key)
			}
		}
		s.Clock.Add(15 * time.Minute)
		loginID, text := loginChallenge(t, s, "tess")
		if r := verify(t, s, loginID, map[string]string{"method": "ssh_key", "signature": testenv.SSHSign(t, kp.File, sshkey.Namespace, text)}); r.Status != 200 {
			t.Fatalf("right signature after the lock: got %d %s", r.Status, r.Body)
		}
	})
}

// TestResetAndSSHKeys: an SSH key used while an operator's reset waits
// withdraws it, as a used factor does; a reset carried out removes the keys
// with the authenticators.
func TestResetAndSSHKeys(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn)
		s, ctx := f.s, context.Background()
		elevate(t, s, f.user, f.phone)
		kp := testenv.SSHKeygen(t, "ed25519", 0)
		registerSSHKey(t, f.user, kp)

		if _, err := s.Service.RequestTwoFactorReset(ctx, f.op, f.userID, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		s.Clock.Add(time.Minute)
		loginID, text := loginChallenge(t, s, "dave")
		if v := verify(t, s, loginID, map[string]string{"method": "ssh_key", "signature": testenv.SSHSign(t, kp.File, sshkey.Namespace, text)}); v.Status != 200 {
			t.Fatalf("ssh key while the reset waits: got %d %s", v.Status, v.Body)
		}
		s.Clock.Add(core.DefaultResetDelay)
		if err := s.Service.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if countEvents(t, s, f.userID, "two_factor.reset") != 0 || countEvents(t, s, f.userID, "two_factor.reset_cancelled") != 1 {
			t.Fatal("want the reset withdrawn after the key's use")
		}

		// Asked again (by the operator, as if elevated afresh) and not
		// withdrawn: the keys go with the rest.
		op := f.op
		op.Session.ElevatedUntil = s.Clock.Now().Add(time.Minute)
		if _, err := s.Service.RequestTwoFactorReset(ctx, op, f.userID, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		s.Clock.Add(core.DefaultResetDelay)
		if err := s.Service.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if countEvents(t, s, f.userID, "two_factor.reset") != 1 {
			t.Fatal("want the reset carried out")
		}
		if keys, err := s.Store.SSHKeys(ctx, f.userID); err != nil || len(keys) != 0 {
			t.Fatalf("ssh keys after the reset: %v, %v; want none", keys, err)
		}
	})
}

// TestSSHChallengeRace: one signed challenge sent by several requests at
// once elevates exactly one of them, on any store.
func TestSSHChallengeRace(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, _, kp := sshUser(t, s, "rita", "ed25519")
		s.Clock.Add(11 * time.Minute)
		r := c.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "ssh_key"})
		sig := testenv.SSHSign(t, kp.File, sshkey.Namespace, r.String("challenge"))
		const n = 6
		statuses := make(chan int, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				<-start
				statuses <- c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "ssh_key", "signature": sig}).Status
			})
		}
		close(start)
		wg.Wait()
		close(statuses)
		ok := 0
		for st := range statuses {
			switch st {
			case 200:
				ok++
			case 401, 429:
			default:
				t.Errorf("a racing elevation got %d", st)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of %d racing elevations with one signature passed, want 1", ok, n)
		}
	})
}

// TestSSHSignatureForAnotherServer: one person with the same SSH key
// registered on two servers (two deployments, each with its database): a
// signature over one server's challenge, for a sign-in or an elevation, is
// refused by the other, which never made that text, and the right one then
// passes on each. Every server's challenge has its own nonce, and names
// the server (the host of its public URL). On both
// stores (the other server on SQLite).
func TestSSHSignatureForAnotherServer(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, _, kp := sshUser(t, s, "sam", "ed25519")
		other := testenv.NewServer(t, testenv.SQLiteDSN(t))
		oc, of := phoneUser(t, other, "sam")
		elevate(t, other, oc, of)
		registerSSHKey(t, oc, kp)

		sign := func(text string) string { return testenv.SSHSign(t, kp.File, sshkey.Namespace, text) }
		s.Clock.Add(11 * time.Minute) // c's elevation lapses
		e1 := c.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "ssh_key"})
		e2 := oc.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "ssh_key"})
		if e1.Status != 200 || e2.Status != 200 {
			t.Fatalf("elevation challenges: got %d %s and %d %s", e1.Status, e1.Body, e2.Status, e2.Body)
		}
		wantProblem(t, c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "ssh_key", "signature": sign(e2.String("challenge"))}), 401, "invalid-code")
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "ssh_key", "signature": sign(e1.String("challenge"))}); r.Status != 200 {
			t.Fatalf("the right signature for the elevation: got %d %s", r.Status, r.Body)
		}

		l1, t1 := loginChallenge(t, s, "sam")
		l2, t2 := loginChallenge(t, other, "sam")
		if t1 == t2 {
			t.Fatalf("two servers made the same challenge %q", t1)
		}
		// Each names the server it is for, as its public URL does, so
		// that whoever signs it can see which that is.
		for text, srv := range map[string]*testenv.Server{t1: s, t2: other} {
			u, err := url.Parse(srv.BrowserURL())
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text, " server="+u.Host+" nonce=") {
				t.Errorf("challenge %q does not name its server %s", text, u.Host)
			}
		}
		wantProblem(t, verify(t, s, l1, map[string]string{"method": "ssh_key", "signature": sign(t2)}), 401, "invalid-code")
		wantProblem(t, verify(t, other, l2, map[string]string{"method": "ssh_key", "signature": sign(t1)}), 401, "invalid-code")

		// Each server's own text passes on it.
		if r := verify(t, s, l1, map[string]string{"method": "ssh_key", "signature": sign(t1)}); r.Status != 200 {
			t.Fatalf("the right signature on the first server: got %d %s", r.Status, r.Body)
		}
		if r := verify(t, other, l2, map[string]string{"method": "ssh_key", "signature": sign(t2)}); r.Status != 200 {
			t.Fatalf("the right signature on the other server: got %d %s", r.Status, r.Body)
		}
	})
}

// TestSSHKeyAddedWhole: a key whose challenge cannot be stored (here a
// trigger refuses it, as a full disk would) is not stored either, nor its
// event: the request fails whole, and the same request sent again, once
// the cause is gone, adds the key rather than call it registered already.
func TestSSHKeyAddedWhole(t *testing.T) {
	dsn := testenv.SQLiteDSN(t)
	s := testenv.NewServer(t, dsn)
	addUser(t, s, "alice")
	c := login(t, s, "alice")
	e := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
	elevateWith(t, c, e.codes[0])
	a := accountID(t, s, "alice")
	testenv.Exec(t, dsn, `CREATE TRIGGER refuse_challenges BEFORE INSERT ON ssh_challenges BEGIN SELECT RAISE(ABORT, 'disk full'); END`)
	kp := testenv.SSHKeygen(t, "ed25519", 0)
	add := map[string]string{"label": "laptop", "public_key": kp.Public}
	if r := c.Do(t, "POST", "/v1/me/ssh-keys", add); r.Status != 500 {
		t.Fatalf("add with the challenge refused: got %d %s, want 500", r.Status, r.Body)
	}
	if keys, err := s.Store.SSHKeys(context.Background(), a); err != nil || len(keys) != 0 {
		t.Fatalf("keys after the failed add: %v, %v; want none", keys, err)
	}
	if n := countEvents(t, s, a, "ssh_key.created"); n != 0 {
		t.Errorf("ssh_key.created events after the failed add: %d, want none", n)
	}
	testenv.Exec(t, dsn, `DROP TRIGGER refuse_challenges`)
	r := c.Do(t, "POST", "/v1/me/ssh-keys", add)
	ch, _ := r.JSON["challenge"].(map[string]any)
	if r.Status != 201 || !strings.HasPrefix(fmt.Sprint(ch["challenge"]), "twofold-ssh-challenge") {
		t.Fatalf("the same add again: got %d %s, want 201 with a challenge", r.Status, r.Body)
	}
}
