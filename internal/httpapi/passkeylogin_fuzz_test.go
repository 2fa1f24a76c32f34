package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// FuzzPasskeyLogin sends any body to POST /v1/login/passkey/finish, the
// door that signs in with a passkey alone, no username, no password, on a
// real server over HTTP. alice has a passkey (Phone) and a security key
// that keeps a resident credential and verifies its user but was enrolled
// plainly (Yubi: a second factor, never a way in on its own); bob has a
// passkey (Laptop). Whatever the body:
//
//   - the answer is never a server error, and every refusal is
//     problem+json of its status (401 invalid-credentials, 410
//     login-expired, 400, 413);
//   - a session (200) only for a body that names a sign-in begun and not
//     used (its login_id, as the server reads it: the first 64 bytes) and
//     carries a passkey's answer to that sign-in's options (the same
//     signature), once; and the session is the passkey holder's;
//   - a refusal writes nothing (testenv.Snapshot) but the end of the
//     sign-in it names, which any answer uses up (README "Passkeys"), and
//     queues no mail; it counts at most one failure, on the counter of
//     passkey sign-ins from its address and claimed account, and only a
//     401 counts;
//   - neither a sign-in's id nor the session's token goes to the log.
//
// In a body, @login@ stands for the id of a sign-in begun (POST
// /v1/login/passkey), @otherlogin@ for another's, @spentlogin@ for the
// one used last; @alice@, @bob@ and @plain@ for the answers of Phone,
// Laptop and Yubi to @login@'s options (JSON objects, made when the body
// asks for them), @otheralice@ for Phone's answer to @otherlogin@'s, and
// @spent@ for the answer that was used last. Each answer is made afresh
// after a sign-in, so that every one a body holds moves its key's counter
// forward; passkey counters are cleared before each body. On SQLite;
// FuzzPasskeyLoginPostgres is the same on PostgreSQL.
func FuzzPasskeyLogin(f *testing.F) { passkeyLogin(f, testenv.SQLiteDSN(f)) }

// FuzzPasskeyLoginPostgres is FuzzPasskeyLogin on PostgreSQL.
func FuzzPasskeyLoginPostgres(f *testing.F) { passkeyLogin(f, testenv.PostgresDSN(f)) }

// passkeySignIn is a sign-in with a passkey begun by a passkey fuzz
// target.
type passkeySignIn struct {
	id        string
	challenge string
	options   json.RawMessage
}

// passkeyAnswer is a key's answer to a sign-in's options, as a
// FuzzPasskeyLogin body may carry it.
type passkeyAnswer struct {
	sent    testenv.SentAssertion
	key     *testenv.SecurityKey
	holder  string          // the key's account's username
	passkey bool            // enrolled as a passkey: its answer may sign in
	of      **passkeySignIn // the sign-in whose options it answers (@login@'s or @otherlogin@'s)
	to      *passkeySignIn  // the one it answered, once made
}

func passkeyLogin(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs)
	addUser(f, s, "alice")
	addUser(f, s, "bob")
	phone, c := enrolPasskey(f, s, "alice")
	yubi := testenv.NewPasskey(f, keyOrigin(f, s)) // resident and verifying, enrolled plainly
	if _, r := addKey(f, c, "Yubi", false, yubi); r.Status != 200 {
		f.Fatalf("add Yubi: %d %s", r.Status, r.Body)
	}
	laptop, _ := enrolPasskey(f, s, "bob")
	snaps := testenv.OpenSnapshots(f, dsn)

	for _, body := range []string{
		`{"login_id":"@login@","credential":@alice@}`,
		`{"login_id":"@login@","credential":@bob@}`,
		`{"login_id":"@login@","credential":@plain@}`,
		`{"login_id":"@otherlogin@","credential":@otheralice@}`,
		`{"login_id":"@login@","credential":@otheralice@}`,
		`{"login_id":"@otherlogin@","credential":@alice@}`,
		`{"login_id":"@spentlogin@","credential":@spent@}`,
		`{"login_id":"@login@","credential":@spent@}`,
		`{"login_id":"@login@ ","credential":@alice@}`,
		`{"login_id":"@login@x","credential":@alice@}`,
		`{"login_id":"@login@"}`,
		`{"login_id":"@login@","credential":{}}`,
		`{"login_id":"@login@","credential":"@alice@"}`,
		`{"login_id":"@login@","credential":@alice@,"x":1}`,
		`{"login_id":"@login@","credential":@alice@,"login_id":"@otherlogin@"}`,
		`{"credential":@alice@}`,
		`{"login_id":"@login@","credential":{"id":"x","rawId":"x","type":"public-key","response":{}}}`,
		`[]`,
		``,
	} {
		f.Add(body)
	}

	var current, other *passkeySignIn // @login@'s and @otherlogin@'s; nil once used
	spentLogin, spent := "none yet", json.RawMessage(`{}`)
	answers := map[string]*passkeyAnswer{
		"@alice@":      {key: phone, holder: "alice", passkey: true, of: &current},
		"@bob@":        {key: laptop, holder: "bob", passkey: true, of: &current},
		"@plain@":      {key: yubi, holder: "alice", of: &current},
		"@otheralice@": {key: phone, holder: "alice", passkey: true, of: &other},
	}
	names := []string{"@alice@", "@bob@", "@plain@", "@otheralice@"}
	begin := func(t *testing.T) *passkeySignIn {
		id, options := passkeyOptions(t, testenv.NewClient(s.URL()))
		var o struct {
			PublicKey struct {
				Challenge string `json:"challenge"`
			} `json:"publicKey"`
		}
		if err := json.Unmarshal(options, &o); err != nil || o.PublicKey.Challenge == "" {
			t.Fatalf("passkey options without a challenge: %s", options)
		}
		return &passkeySignIn{id: id, challenge: o.PublicKey.Challenge, options: options}
	}
	f.Fuzz(func(t *testing.T, body string) {
		ctx := context.Background()
		if current == nil {
			current = begin(t)
		}
		if other == nil && (strings.Contains(body, "@otherlogin@") || strings.Contains(body, "@otheralice@")) {
			other = begin(t)
		}
		for _, name := range names {
			a := answers[name]
			if strings.Contains(body, name) && (a.sent.Credential == nil || a.to != *a.of) {
				a.sent.Answer(t, a.key, (*a.of).options)
				a.to = *a.of
			}
		}
		otherID := ""
		if other != nil {
			otherID = other.id
		}
		body = strings.NewReplacer("@login@", current.id, "@otherlogin@", otherID, "@spentlogin@", spentLogin,
			"@spent@", string(spent)).Replace(body)
		for _, name := range names {
			body = strings.ReplaceAll(body, name, string(answers[name].sent.Credential))
		}

		if _, err := s.Store.ResetThrottlePrefix(ctx, "passkey:"); err != nil {
			t.Fatal(err)
		}
		before := snaps.Take(t)
		logged := len(logs.String())
		r := testenv.Send(t, nil, testenv.NewRequest(t, "POST", s.URL()+"/v1/login/passkey/finish", body,
			http.Header{"Content-Type": {"application/json"}}))
		newLog := logs.String()[logged:]
		if r.Status >= 500 {
			t.Fatalf("%s: %d %s", body, r.Status, r.Body)
		}
		for _, l := range []*passkeySignIn{current, other} {
			if l != nil && strings.Contains(newLog, l.id) {
				t.Fatalf("%s: the log holds a sign-in's id:\n%s", body, newLog)
			}
		}

		var sent struct {
			LoginID    string          `json:"login_id"`
			Credential json.RawMessage `json:"credential"`
		}
		decodeErr := json.Unmarshal([]byte(body), &sent)
		named := current // the sign-in the body names, as the server reads the id
		if id := sent.LoginID[:min(len(sent.LoginID), 64)]; decodeErr != nil || id != current.id {
			named = nil
			if decodeErr == nil && other != nil && id == other.id {
				named = other
			}
		}
		// used forgets the sign-in l, used up: the next body finds another
		// begun, and the answers it asks for made to that one.
		used := func(l *passkeySignIn) {
			if current == l {
				current = nil
			}
			if other == l {
				other = nil
			}
			spentLogin = l.id
		}

		if r.Status == 200 {
			i := slices.IndexFunc(names, func(n string) bool {
				a := answers[n]
				return a.passkey && a.to == named && a.sent.Carried(sent.Credential)
			})
			if named == nil || i < 0 {
				t.Fatalf("%s: signed in without a passkey's answer to the options of the sign-in it names: %s", body, r.Body)
			}
			token := r.String("token")
			if token == "" || strings.Contains(newLog, token) {
				t.Fatalf("%s: 200 without a token, or the token logged: %s\n%s", body, r.Body, newLog)
			}
			me := testenv.NewClient(s.URL())
			me.Token = token
			if m := me.Do(t, "GET", "/v1/me", nil); m.Status != 200 || !strings.Contains(string(m.Body), `"`+answers[names[i]].holder+`"`) {
				t.Fatalf("%s: the session made is not %s's: %d %s", body, answers[names[i]].holder, m.Status, m.Body)
			}
			used(named)
			spent = answers[names[i]].sent.Credential
			// Every answer is made anew, after the counter the sign-in
			// stored: an older one would be a copied key's.
			for _, a := range answers {
				a.sent.Credential = nil
			}
			return
		}

		want := map[int]string{401: "invalid-credentials", 410: "login-expired", 400: "", 413: ""}
		problem, ok := want[r.Status]
		if ct := r.Header.Get("Content-Type"); !ok || ct != "application/problem+json" || r.JSON["status"] != float64(r.Status) ||
			problem != "" && r.Problem() != problem {
			t.Fatalf("%s: refused as %d %q (%s): %s", body, r.Status, r.Problem(), ct, r.Body)
		}
		if failures, counters := testenv.PasskeyFailures(t, s); failures > 1 || failures == 1 && r.Status != 401 {
			t.Fatalf("%s: refused %d, counted %d failures: %v", body, r.Status, failures, counters)
		}
		d := before.Diff(snaps.Take(t))
		if named != nil {
			var gone bool
			if d, gone = testenv.WithoutRowGone(d, "passkey_logins", "challenge", named.challenge); gone {
				used(named)
			}
		}
		if d != "" {
			t.Fatalf("%s: refused (%d %s), but the database changed:\n%s", body, r.Status, r.Body, d)
		}
	})
}
