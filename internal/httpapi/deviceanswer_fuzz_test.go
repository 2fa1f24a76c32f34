package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/factor/push"
	"github.com/twofold/twofold/internal/pushdevice"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzDeviceAnswer sends any body to any path under POST
// /v1/push/challenges/, the door where a push device answers a sign-in's
// request, signed as a device signs it by alice's device (Pocket), by
// bob's (Bolt), by Pocket over another body than the one sent, or not at
// all. alice and bob each have a sign-in waiting for their device's
// answer. Whatever the request:
//
//   - the answer is never a server error;
//   - a request is approved (200 "approved") only when its own device
//     signed the answer, asking to approve with the number the sign-in
//     shows (two digits, spaces around them aside); an answer of its own
//     device that is not that denies it (200 "denied"); nothing else
//     changes any request;
//   - a refusal changes no request, and writes nothing but the signed
//     request's nonce (each is taken once) and no mail.
//
// In a path or body, @alice@ and @bob@ stand for the ids of the requests
// waiting for Pocket and Bolt, @number@ and @bobnumber@ for the numbers
// their sign-ins show, and @wrong@ for another number. After a request is
// answered, the next input finds a new sign-in waiting; after a denial the
// clock moves on two hours, past the count of denials and unapproved
// requests that pauses push or mails the owner. On SQLite;
// FuzzDeviceAnswerPostgres is the same on PostgreSQL.
func FuzzDeviceAnswer(f *testing.F) { deviceAnswer(f, testenv.SQLiteDSN(f)) }

// FuzzDeviceAnswerPostgres is FuzzDeviceAnswer on PostgreSQL.
func FuzzDeviceAnswerPostgres(f *testing.F) { deviceAnswer(f, testenv.PostgresDSN(f)) }

// waitingPush is a push request a FuzzDeviceAnswer input may answer.
type waitingPush struct {
	id, number string
}

func deviceAnswer(f *testing.F, dsn string) {
	mb := testenv.NewSMTPServer(f)
	s := testenv.NewServer(f, dsn, mb.Option("Twofold <twofold@example.com>"), func(c *config.Config) { c.LoginRate = 0 })
	devices := map[string]*pushdevice.Client{}
	for name, label := range map[string]string{"alice": "Pocket", "bob": "Bolt"} {
		addUser(f, s, name)
		devices[name], _ = enrolPush(f, s, login(f, s, name), label)
	}
	keys := map[string]ed25519.PrivateKey{}
	for name, d := range devices {
		seed, err := push.Decode(d.State.Key)
		if err != nil || len(seed) != ed25519.SeedSize {
			f.Fatalf("%s's device key: %v", name, err)
		}
		keys[name] = ed25519.NewKeyFromSeed(seed)
	}
	snaps := testenv.OpenSnapshots(f, dsn)

	const (
		byPocket = iota
		byBolt
		tampered // signed by Pocket over an empty body
		unsigned
	)
	for _, in := range []struct {
		signer     uint8
		path, body string
	}{
		{byPocket, "@alice@", `{"decision":"approve","number":"@number@"}`},
		{byPocket, "@alice@", `{"decision":"approve","number":"@wrong@"}`},
		{byPocket, "@alice@", `{"decision":"deny"}`},
		{byPocket, "@alice@", `{"decision":"approve","number":" @number@ "}`},
		{byPocket, "@alice@", `{"decision":"approve","number":"@number@0"}`},
		{byPocket, "@alice@", `{"decision":"approve","number":"@bobnumber@"}`},
		{byPocket, "@alice@", `{"decision":"Approve","number":"@number@"}`},
		{byPocket, "@alice@", `{"decision":"approve"}`},
		{byPocket, "@alice@", `{"decision":"approve","number":"@number@","decision":"deny"}`},
		{byPocket, "@alice@", `{"decision":"approve","number":"@number@","x":1}`},
		{byPocket, "@bob@", `{"decision":"approve","number":"@bobnumber@"}`},
		{byPocket, "@bob@", `{"decision":"deny"}`},
		{byBolt, "@alice@", `{"decision":"approve","number":"@number@"}`},
		{byBolt, "@bob@", `{"decision":"approve","number":"@bobnumber@"}`},
		{tampered, "@alice@", `{"decision":"approve","number":"@number@"}`},
		{unsigned, "@alice@", `{"decision":"approve","number":"@number@"}`},
		{byPocket, "@alice@/", `{"decision":"approve","number":"@number@"}`},
		{byPocket, "@alice@?x=1", `{"decision":"approve","number":"@number@"}`},
		{byPocket, "x/../@alice@", `{"decision":"approve","number":"@number@"}`},
		{byPocket, "", `{"decision":"approve","number":"@number@"}`},
		{byPocket, "@alice@", ``},
	} {
		f.Add(in.signer, in.path, in.body)
	}

	waiting := map[string]*waitingPush{} // by account; nil once answered
	wait := func(t *testing.T, name string) *waitingPush {
		if waiting[name] == nil {
			loginID, _ := startLogin(t, s, name)
			r := pushChallenge(t, s, loginID)
			waiting[name] = &waitingPush{id: r.String("challenge_id"), number: r.String("number")}
		}
		return waiting[name]
	}
	f.Fuzz(func(t *testing.T, signer uint8, path, body string) {
		alice, bob := wait(t, "alice"), wait(t, "bob")
		wrong := "00"
		if alice.number == wrong {
			wrong = "01"
		}
		fill := strings.NewReplacer("@alice@", alice.id, "@bob@", bob.id, "@number@", alice.number, "@bobnumber@", bob.number, "@wrong@", wrong)
		path, body = fill.Replace(path), fill.Replace(body)
		req, err := http.NewRequest("POST", s.URL()+"/v1/push/challenges/"+path, strings.NewReader(body))
		if err != nil {
			return // not a request a device could send
		}
		signedBy := "alice"
		switch signer % 4 {
		case byBolt:
			signedBy = "bob"
			fallthrough
		case byPocket, tampered:
			signed := []byte(body)
			if signer%4 == tampered {
				signed = nil
			}
			nonce := make([]byte, 16)
			rand.Read(nonce)
			req.Header.Set("Authorization", push.Sign(keys[signedBy], devices[signedBy].State.DeviceID, "POST", req.URL.RequestURI(),
				s.Clock.Now(), push.Encode(nonce), signed))
		}
		req.Header.Set("Content-Type", "application/json")

		before := snaps.Take(t)
		r := testenv.Send(t, nil, req)
		if r.Status >= 500 {
			t.Fatalf("%d %q %s: %d %s", signer%4, path, body, r.Status, r.Body)
		}
		d := before.Diff(snaps.Take(t))

		var sent struct{ Decision, Number string }
		decodeErr := json.Unmarshal([]byte(body), &sent)
		id := strings.TrimPrefix(req.URL.Path, "/v1/push/challenges/")
		if r.Status == 200 {
			name := ""
			for n, w := range map[string]*waitingPush{"alice": alice, "bob": bob} {
				if w.id == id {
					name = n
				}
			}
			switch {
			case name == "" || signer%4 > byBolt || name != signedBy || decodeErr != nil:
				t.Fatalf("%d %q %s: answered %s, yet no device answered its own request", signer%4, path, body, r.Body)
			case r.String("status") == "approved" && (sent.Decision != "approve" || strings.TrimSpace(sent.Number) != waiting[name].number):
				t.Fatalf("%d %q %s: approved without the number %s", signer%4, path, body, waiting[name].number)
			case r.String("status") == "denied" && sent.Decision == "approve" && strings.TrimSpace(sent.Number) == waiting[name].number:
				t.Fatalf("%d %q %s: denied with the number", signer%4, path, body)
			case r.String("status") != "approved" && r.String("status") != "denied":
				t.Fatalf("%d %q %s: 200 %s", signer%4, path, body, r.Body)
			}
			if !strings.Contains(d, "- push_challenges: id="+waiting[name].id+" ") {
				t.Fatalf("%d %q %s: answered %s, but the request did not change:\n%s", signer%4, path, body, r.Body, d)
			}
			for _, l := range strings.Split(d, "\n") {
				if !strings.HasPrefix(l[2:], "push_challenges: id="+waiting[name].id+" ") && !strings.HasPrefix(l, "+ push_nonces:") {
					t.Fatalf("%d %q %s: answered %s, and wrote more than the request's answer:\n%s", signer%4, path, body, r.Body, d)
				}
			}
			waiting[name] = nil
			if r.String("status") == "denied" {
				// Past the counts of denials and unapproved requests, with
				// what lapsed meanwhile deleted now, not by the server's
				// next sweep while an input is judged.
				s.Clock.Add(2 * time.Hour)
				if err := s.Service.Sweep(context.Background()); err != nil {
					t.Fatal(err)
				}
				waiting["alice"], waiting["bob"] = nil, nil
			}
			return
		}
		for _, l := range strings.Split(d, "\n") {
			if l != "" && !strings.HasPrefix(l, "+ push_nonces:") {
				t.Fatalf("%d %q %s: refused %d %s, but the database changed:\n%s", signer%4, path, body, r.Status, r.Body, d)
			}
		}
	})
}
