package web_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzSecurityKeyForm posts any form to the pages' security key forms:
// begin adding one (POST /settings/security/webauthn) and finish adding one
// with the credential the browser's key made (POST
// /settings/security/webauthn/{id}), with any key id, from the browsers of
// formHolders (alice's elevated, alice's never elevated, bob's, who has no
// two-factor). Each account has a security key and a passkey waiting,
// begun from its first browser: @ka@ and @pa@ alice's, @kb@ and @pb@
// bob's; each has a software authenticator (testenv.SecurityKey) that
// answered its options. Whatever the form:
//
//   - the answer is never a server error;
//   - something changes only with the browser's CSRF token, only on the
//     browser's own account, and for alice only with an elevated session
//     or fields that confirm it's her with her app's code not used before;
//     then a key begun is the only factor added, waiting, named as the
//     form names it (trimmed), a passkey only when the form asks for one
//     with the account's password, and the page asks the browser's key to
//     answer its options; a key is set up only when it is the one the path
//     names, waiting on the browser's account, from the browser that began
//     it, and the form's credential is its authenticator's answer to its
//     options (the same credential id and signed data); a confirmation
//     refused begins that key's ceremony anew, from that browser only;
//   - otherwise the database is as it was (testenv.Snapshot) but for the
//     elevation alice's unelevated browser's fields made
//     (formHolders.refusedDiff);
//   - no password or code of alice's app the form sent comes back in the
//     page, and none goes to the log.
//
// The which byte picks the form (its value mod 2, in the order above). In
// the id, @ka@, @pa@, @kb@ and @pb@ stand for the waiting keys; in a form,
// @cred@ and @pcred@ for the credentials of the browser's account's
// authenticators, @othercred@ and @otherpcred@ for the other account's,
// @once@ for the one-time token of the add form as
// the browser's security page gives it, and placeholders for the passwords
// and alice's app's codes (formHolders.replace). An account a form changed
// is made anew. The who byte picks the browser. A path the mux cleans to
// another form's route is skipped (servedSegments). On SQLite;
// FuzzSecurityKeyFormPostgres is the same on PostgreSQL.
func FuzzSecurityKeyForm(f *testing.F) { securityKeyForm(f, testenv.SQLiteDSN(f)) }

// FuzzSecurityKeyFormPostgres is FuzzSecurityKeyForm on PostgreSQL.
func FuzzSecurityKeyFormPostgres(f *testing.F) { securityKeyForm(f, testenv.PostgresDSN(f)) }

// waitingKey is a security key FuzzSecurityKeyForm begins for an account.
type waitingKey struct {
	id      string
	passkey bool
	key     *testenv.SecurityKey
	cred    string // its authenticator's answer to its options
	stale   bool   // its options were made anew since
}

// keyOnce finds the one-time token of the security page's form that adds a
// security key.
var keyOnce = onceAfter("/settings/security/webauthn")

func securityKeyForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	_, port, _ := net.SplitHostPort(ts.Addr())
	origin := "http://localhost:" + port // the pages' origin
	// Each account's waiting keys: a security key, then a passkey.
	keys := make([][2]waitingKey, len(hs.list))
	// auth is the session of the first browser of hs.list[i].
	auth := func(t testing.TB, i int) core.Auth {
		a, err := ts.Service.Authenticate(ctx, sessionCookie(t, hs.list[i].browsers[0]))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	// password is what a passkey's ceremony of hs.list[i] is begun with.
	password := func(i, k int) string {
		if keys[i][k].passkey {
			return hs.list[i].password
		}
		return ""
	}
	// begin has the first browser of hs.list[i] begin a security key and
	// a passkey, and their authenticators answer them.
	begin := func(t testing.TB, i int) {
		for k, label := range []string{"Yubi", "Pass"} {
			keys[i][k].passkey = k == 1
			e, err := ts.Service.EnrolFactor(ctx, auth(t, i), core.NewFactor{Type: twofold.FactorWebAuthn, Label: label, Passkey: k == 1, Password: password(i, k)}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			key := testenv.NewSecurityKey(t, origin)
			if k == 1 {
				key = testenv.NewPasskey(t, origin)
			}
			keys[i][k] = waitingKey{id: e.Factor.ID, passkey: k == 1, key: key, cred: string(key.Create(t, e.Options))}
		}
		ts.Service.Wait()
	}
	// answer has the authenticator of a key of hs.list[i] answer its
	// options anew, after a page began the key's ceremony again.
	answer := func(t testing.TB, i, k int) {
		ch, err := ts.Service.ResendConfirmation(ctx, auth(t, i), keys[i][k].id, password(i, k), core.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		keys[i][k].cred, keys[i][k].stale = string(keys[i][k].key.Create(t, ch.Options)), false
	}
	for i := range hs.list {
		begin(f, i)
	}

	for _, in := range []struct {
		which    uint8
		id, form string
		who      uint8
	}{
		{0, "", "label=+Key+&once=@once@", 0},
		{0, "", "label=Key&once=@once@&elevate_method=totp&elevate_code=@next@", 1},
		{0, "", "label=Key", 1},
		{0, "", "label=Key&once=@once@", 2},
		{0, "", "label=Key&passkey=1&current_password=@alicepw@", 0},
		{0, "", "label=Key&passkey=1&current_password=@bobpw@", 0},
		{0, "", "label=Key&passkey=1&current_password=@bobpw@", 2},
		{0, "", "label=Yubi", 0},
		{0, "", "label=Key&once=x", 0},
		{0, "", "label=Key&csrf=x", 2},
		{1, "@ka@", "credential=@cred@", 0},
		{1, "@ka@", "credential=@cred@&elevate_method=totp&elevate_code=@next@", 1},
		{1, "@ka@", "credential=@othercred@", 0},
		{1, "@kb@", "credential=@cred@", 2},
		{1, "@ka@", "credential=@cred@", 2},
		{1, "@kb@", "credential=@othercred@", 0},
		{1, "@ka@", "credential=", 0},
		{1, "@pa@", "credential=@pcred@", 0},
		{1, "@pa@", "credential=@cred@", 0},
		{1, "@pa@", "credential=&current_password=@alicepw@", 0},
		{1, "@pb@", "credential=@pcred@", 2},
		{1, "@pb@", "credential=@otherpcred@", 2},
		{1, "@ka@/..", "credential=@cred@", 0},
	} {
		f.Add(in.which, in.id, in.form, in.who)
	}

	f.Fuzz(func(t *testing.T, which uint8, id, form string, who uint8) {
		for i, made := range hs.ready(t) {
			if made {
				begin(t, i)
				continue
			}
			for k := range keys[i] {
				if keys[i][k].stale {
					answer(t, i, k)
				}
			}
		}
		h, c, caller := hs.browser(who)
		account := h.id // mayAct may mark it to be made anew
		mine := slices.Index(hs.list, h)
		id = strings.NewReplacer("@ka@", keys[0][0].id, "@kb@", keys[1][0].id, "@pa@", keys[0][1].id, "@pb@", keys[1][1].id).Replace(id)
		path, named := "/settings/security/webauthn", ""
		if which%2 == 1 {
			path += "/" + id
			req, err := http.NewRequest("POST", ts.URL()+path, nil)
			if err != nil || !testenv.Sendable(req) {
				return // no request a browser could send
			}
			served := servedSegments(req.URL, "/settings/security/webauthn/", "")
			if served == nil {
				return // another form's (a path cleaned to another route)
			}
			named = served[0]
		}
		once := "none"
		if strings.Contains(form, "@once@") {
			if m := keyOnce.FindStringSubmatch(c.get("/settings/security").body); m != nil {
				once = m[1]
			}
		}
		form = hs.replace(form, c, ts.Clock.Now(), "@once@", once, "@cred@", keys[mine][0].cred, "@pcred@", keys[mine][1].cred,
			"@othercred@", keys[1-mine][0].cred, "@otherpcred@", keys[1-mine][1].cred)
		// Which of the browser's account's waiting keys the path names.
		which2 := slices.IndexFunc(keys[mine][:], func(k waitingKey) bool { return k.id == named })
		before, err := ts.Store.Factors(ctx, account)
		if err != nil {
			t.Fatal(err)
		}
		p := hs.post(t, path, form, who)
		did, _ := hs.changed(t, p)
		// A confirmation refused shows the key's page again, which begins
		// its ceremony anew (new options): by the browser that began the
		// key only, and nothing else.
		// (The one before may have lapsed and been swept: then only the
		// new one shows.)
		ceremony := " webauthn_ceremonies: scope=register:" + named + " "
		added := slices.IndexFunc(did, func(l string) bool { return strings.HasPrefix(l, "+"+ceremony) })
		if which%2 == 1 && added >= 0 && (len(did) == 1 || len(did) == 2 && strings.HasPrefix(did[1-added], "-"+ceremony)) {
			if which2 < 0 || c != h.browsers[0] {
				t.Fatalf("%s %q by %d: the ceremony of a key the browser did not begin was begun anew:\n%s", path, form, caller, strings.Join(did, "\n"))
			}
			keys[mine][which2].stale = true
			return // nothing else changed, and the browser was elevated already
		}
		fail := hs.judge(t, p, path, did)
		if fail == nil {
			return // refused, and nothing written
		}
		switch {
		case p.sent.Get("once") != "" && p.sent.Get("once") != once:
			fail("the form's one-time token is not its page's")
		}
		for _, l := range did {
			if !strings.Contains(l, account) && !strings.HasPrefix(l, "+ mail queued") {
				fail("a row not of the browser's account changed: %s", l)
			}
		}
		hs.mayAct(t, p, "a security key begun or set up")
		after, err := ts.Store.Factors(ctx, account)
		if err != nil {
			t.Fatal(err)
		}
		if which%2 == 0 {
			if len(after) != len(before)+1 {
				fail("the form begins one key (%d factors before, %d after)", len(before), len(after))
			}
			for _, fa := range after {
				if slices.ContainsFunc(before, func(b twofold.Factor) bool { return b.ID == fa.ID }) {
					continue
				}
				passkey := p.sent.Get("passkey") == "1"
				switch {
				case fa.Type != twofold.FactorWebAuthn || fa.Status != twofold.FactorPending:
					fail("the factor begun is a %s %s", fa.Status, fa.Type)
				case fa.Label != strings.TrimSpace(p.sent.Get("label")):
					fail("the key begun is named %q", fa.Label)
				case fa.Passkey != passkey:
					fail("the key begun is a passkey: %v", fa.Passkey)
				case passkey && p.sent.Get("current_password") != h.password:
					fail("a passkey begun without the account's password")
				case p.r.status != 200 || !strings.Contains(p.r.body, "publicKey"):
					fail("the page (%d) does not ask the browser's key to answer", p.r.status)
				}
			}
		} else {
			i := slices.IndexFunc(after, func(fa twofold.Factor) bool { return fa.ID == named })
			switch {
			case which2 < 0 || c != h.browsers[0]:
				fail("a key set up that the browser did not begin")
			case i < 0 || after[i].Status != twofold.FactorActive:
				fail("the key the path names is not set up")
			case !sameCredential(p.sent.Get("credential"), keys[mine][which2].cred):
				fail("the form's credential is not the key's authenticator's answer to its options")
			}
		}
		ts.Service.Wait()
		h.id = "" // made anew, with a key waiting
	})
}

// sameCredential reports whether the credentials (WebAuthn's JSON of a
// PublicKeyCredential) a and b carry the same credential id and signed
// data, however their JSON is written.
func sameCredential(a, b string) bool {
	var x, y struct {
		ID       string         `json:"id"`
		RawID    string         `json:"rawId"`
		Response map[string]any `json:"response"`
	}
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return x.ID == y.ID && x.RawID == y.RawID && reflect.DeepEqual(x.Response, y.Response)
}
