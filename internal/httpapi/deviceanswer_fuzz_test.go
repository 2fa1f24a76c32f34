package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/factor/push"
	"github.com/twofold/twofold/internal/pushdevice"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzDeviceAnswer sends any body to any path under POST
// /v1/push/challenges/, the door where a push device answers a sign-in's
// request, signed as a device signs it by alice's device (Pocket), by
// bob's (Bolt), by Pocket over another body than the one sent, or not at
// all. alice and bob each have a sign-in waiting for their device's
// answer, and a session of alice's waits for Pocket's answer to its
// "confirm it's you" (elevation). Whatever the request:
//
//   - the answer is never a server error;
//   - a request is approved (200 "approved") only when its own device
//     signed the answer, asking to approve with the number the sign-in
//     (or the session) shows (two digits, spaces around them aside); an answer of its own
//     device that is not that denies it (200 "denied"); nothing else
//     changes any request;
//   - a refusal changes no request, and writes nothing but the signed
//     request's nonce (each is taken once) and no mail.
//
// In a path or body, @alice@ and @bob@ stand for the ids of the sign-ins'
// requests waiting for Pocket and Bolt, @number@ and @bobnumber@ for the
// numbers their sign-ins show, @up@ and @upnumber@ for the elevation's
// request and number, and @wrong@ for another number. After a request is
// answered, the next input finds a new one waiting (an elevation approved
// is used first, as its session would); after a denial the clock moves on
// two hours, past the count of denials and unapproved requests that
// pauses push or mails the owner, and past the pause of the session's
// elevation by push; when a send limit refuses a push, the clock moves
// past its wait and every request is sent anew. alice's session is
// renewed, signing in with Pocket, before it is ten hours old. On SQLite;
// FuzzDeviceAnswerPostgres is the same on PostgreSQL.
func FuzzDeviceAnswer(f *testing.F) { deviceAnswer(f, testenv.SQLiteDSN(f)) }

// FuzzDeviceAnswerPostgres is FuzzDeviceAnswer on PostgreSQL.
func FuzzDeviceAnswerPostgres(f *testing.F) { deviceAnswer(f, testenv.PostgresDSN(f)) }

// waitingPush is a push request a FuzzDeviceAnswer input may answer.
type waitingPush struct {
	id, number string
	secret     string // the push secret its sign-in or session holds
	owner      string // whose device it waits for
}

func deviceAnswer(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs)
	devices := map[string]*pushdevice.Client{}
	for name, label := range map[string]string{"alice": "Pocket", "bob": "Bolt"} {
		addUser(f, s, name)
		devices[name], _ = enrolPush(f, s, login(f, s, name), label)
	}
	// session is alice's session whose elevation waits for Pocket, made
	// when the input needs one and renewed before it expires.
	var session *testenv.Client
	var sessionMade time.Time
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
		{byPocket, "@up@", `{"decision":"approve","number":"@upnumber@"}`},
		{byPocket, "@up@", `{"decision":"approve","number":"@number@"}`},
		{byPocket, "@up@", `{"decision":"deny"}`},
		{byBolt, "@up@", `{"decision":"approve","number":"@upnumber@"}`},
		{tampered, "@up@", `{"decision":"approve","number":"@upnumber@"}`},
		{byPocket, "@alice@", `{"decision":"approve","number":"@upnumber@"}`},
	} {
		f.Add(in.signer, in.path, in.body)
	}

	waiting := map[string]*waitingPush{} // "alice" and "bob" (sign-ins), "up" (alice's elevation); nil once answered
	// wait returns the request name waits on, sending it when none does; a
	// push refused by a send limit returns nil and the limit's wait.
	wait := func(t *testing.T, name string) (*waitingPush, time.Duration) {
		if waiting[name] != nil {
			return waiting[name], 0
		}
		if name == "up" {
			if session == nil || s.Clock.Now().Sub(sessionMade) > 10*time.Hour {
				c, limited := pushSession(t, s, devices["alice"], "alice")
				if c == nil {
					return nil, limited
				}
				session, sessionMade = c, s.Clock.Now()
			}
			r, limited := pushSent(t, session.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "push"}))
			if limited > 0 {
				return nil, limited
			}
			waiting[name] = &waitingPush{id: r.String("challenge_id"), number: r.String("number"), secret: r.String("push_secret"), owner: "alice"}
			return waiting[name], 0
		}
		loginID, _ := startLogin(t, s, name)
		r, limited := pushSent(t, challenge(t, s, loginID, map[string]string{"method": "push"}))
		if limited > 0 {
			return nil, limited
		}
		waiting[name] = &waitingPush{id: r.String("challenge_id"), number: r.String("number"), owner: name}
		return waiting[name], 0
	}
	f.Fuzz(func(t *testing.T, signer uint8, path, body string) {
		var alice, bob, up *waitingPush
		for {
			var limited time.Duration
			if alice, limited = wait(t, "alice"); limited == 0 {
				if bob, limited = wait(t, "bob"); limited == 0 && (strings.Contains(path, "@up") || strings.Contains(body, "@up")) {
					up, limited = wait(t, "up")
				}
			}
			if limited == 0 {
				break
			}
			// Past the send limit, with the requests sent so far lapsed and
			// deleted, and every one asked for anew.
			s.Clock.Add(limited + 3*time.Minute)
			if err := s.Service.Sweep(context.Background()); err != nil {
				t.Fatal(err)
			}
			clear(waiting)
		}
		if up == nil {
			up = waiting["up"]
		}
		upID, upNumber := "no elevation waits", "no elevation waits"
		if up != nil {
			upID, upNumber = up.id, up.number
		}
		wrong := "00"
		if alice.number == wrong {
			wrong = "01"
		}
		fill := strings.NewReplacer("@alice@", alice.id, "@bob@", bob.id, "@number@", alice.number, "@bobnumber@", bob.number,
			"@up@", upID, "@upnumber@", upNumber, "@wrong@", wrong)
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
			for n, w := range waiting {
				if w != nil && w.id == id {
					name = n
				}
			}
			switch {
			case name == "" || signer%4 > byBolt || waiting[name].owner != signedBy || decodeErr != nil:
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
			if name == "up" && r.String("status") == "approved" {
				// Used, as its session would: a session's next push waits
				// while one of its own is approved and unused.
				if r := session.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "push", "push_secret": up.secret}); r.Status != 200 {
					t.Fatalf("elevating with the push approved: %d %s", r.Status, r.Body)
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
				clear(waiting)
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

// pushSent returns r, the answer to a push sent, when it was sent, or the
// wait a send limit's refusal (429) asks for.
func pushSent(t *testing.T, r testenv.Response) (testenv.Response, time.Duration) {
	t.Helper()
	if r.Status == 429 {
		secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || secs <= 0 {
			t.Fatalf("a push refused with Retry-After %q: %s", r.Header.Get("Retry-After"), r.Body)
		}
		return r, time.Duration(secs) * time.Second
	}
	return wantPushSent(t, r), 0
}

// pushSession signs username in with a push approved on d, the account's
// only factor, and returns the session, or nil and the wait of a send
// limit that refused the push.
func pushSession(t *testing.T, s *testenv.Server, d *pushdevice.Client, username string) (*testenv.Client, time.Duration) {
	t.Helper()
	loginID, _ := startLogin(t, s, username)
	ch, limited := pushSent(t, challenge(t, s, loginID, map[string]string{"method": "push"}))
	if limited > 0 {
		return nil, limited
	}
	if st, err := d.Approve(context.Background(), ch.String("challenge_id"), ch.String("number")); err != nil || st != "approved" {
		t.Fatalf("approve the sign-in: %q, %v", st, err)
	}
	r := verify(t, s, loginID, pushProof(ch))
	if r.Status != 200 || r.String("token") == "" {
		t.Fatalf("sign in with the push approved: %d %s", r.Status, r.Body)
	}
	c := testenv.NewClient(s.URL())
	c.Token = r.String("token")
	return c, 0
}
