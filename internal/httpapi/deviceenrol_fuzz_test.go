package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/factor/push"
	"github.com/twofold/twofold/internal/pushdevice"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzDeviceEnrol sends any body to POST /v1/push/enrol, where a push
// device registers its key with the code of an enrolment URI, while alice
// and bob each have a push device waiting to be enrolled (made by an
// elevated session, two-factor on). Whatever the body:
//
//   - the answer is never a server error;
//   - a device is enrolled (200, the factor active) only by a body with a
//     waiting device's id and its own token, and a public key whose
//     signature of that device's challenge the body carries; then the
//     device's requests are accepted under that key;
//   - a refusal writes nothing (testenv.Snapshot) and queues no mail.
//
// In a body, @device@, @token@, @key@ and @sig@ stand for alice's waiting
// device's id and token, a new key and its signature of the device's
// challenge, and @otherdevice@, @othertoken@, @otherkey@ and @othersig@
// for bob's; @spent@ for the token used last. The enrolment counters are
// cleared before each body; a device enrolled is removed, and the next
// body finds a new one waiting. On SQLite; FuzzDeviceEnrolPostgres is the
// same on PostgreSQL.
func FuzzDeviceEnrol(f *testing.F) { deviceEnrol(f, testenv.SQLiteDSN(f)) }

// FuzzDeviceEnrolPostgres is FuzzDeviceEnrol on PostgreSQL.
func FuzzDeviceEnrolPostgres(f *testing.F) { deviceEnrol(f, testenv.PostgresDSN(f)) }

// waitingDevice is a push device made and not yet enrolled, with a key
// made for it and its signature of the device's challenge.
type waitingDevice struct {
	push.Enrolment
	key ed25519.PrivateKey
	sig []byte
}

func deviceEnrol(f *testing.F, dsn string) {
	s := testenv.NewServer(f, dsn, func(c *config.Config) { c.LoginRate = 0 })
	sessions := map[string]*testenv.Client{}
	var counters []string // the prefixes of the accounts' enrolment counters
	for _, name := range []string{"alice", "bob"} {
		addUser(f, s, name)
		sessions[name] = login(f, s, name)
		enrol(f, s, sessions[name], map[string]any{"type": "totp", "label": "Phone"})
		counters = append(counters, "2fa:"+accountID(f, s, name)+":confirm:")
	}
	snaps := testenv.OpenSnapshots(f, dsn)

	for _, body := range []string{
		`{"device_id":"@device@","token":"@token@","public_key":"@key@","signature":"@sig@"}`,
		`{"device_id":"@otherdevice@","token":"@othertoken@","public_key":"@otherkey@","signature":"@othersig@"}`,
		`{"device_id":"@device@","token":"@othertoken@","public_key":"@key@","signature":"@sig@"}`,
		`{"device_id":"@otherdevice@","token":"@token@","public_key":"@key@","signature":"@sig@"}`,
		`{"device_id":"@device@","token":"@token@","public_key":"@otherkey@","signature":"@othersig@"}`,
		`{"device_id":"@device@","token":"@token@","public_key":"@key@","signature":"@othersig@"}`,
		`{"device_id":"@device@","token":"@spent@","public_key":"@key@","signature":"@sig@"}`,
		`{"device_id":"@device@","token":" @token@","public_key":"@key@","signature":"@sig@"}`,
		`{"device_id":"@device@","token":"@token@","public_key":"@key@=","signature":"@sig@"}`,
		`{"device_id":"@device@","token":"@token@","public_key":"@key@"}`,
		`{"device_id":"@device@","token":"@token@","public_key":"@key@","signature":"@sig@","x":1}`,
		`{"token":"@token@","public_key":"@key@","signature":"@sig@"}`,
		``,
	} {
		f.Add(body)
	}

	waiting := map[string]*waitingDevice{} // by account; nil once enrolled
	spent := "none yet"
	wait := func(t *testing.T, name string) *waitingDevice {
		if waiting[name] == nil {
			e, err := push.ParseURI(startPush(t, sessions[name], "Pocket").String("enrolment_uri"))
			if err != nil {
				t.Fatal(err)
			}
			_, key, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			pub := key.Public().(ed25519.PublicKey)
			waiting[name] = &waitingDevice{Enrolment: e, key: key, sig: ed25519.Sign(key, push.EnrolMessage(e.DeviceID, e.Challenge, pub))}
		}
		return waiting[name]
	}
	f.Fuzz(func(t *testing.T, body string) {
		ctx := context.Background()
		alice, bob := wait(t, "alice"), wait(t, "bob")
		pubOf := func(w *waitingDevice) string { return push.Encode(w.key.Public().(ed25519.PublicKey)) }
		body = strings.NewReplacer("@device@", alice.DeviceID, "@token@", alice.Token, "@key@", pubOf(alice), "@sig@", push.Encode(alice.sig),
			"@otherdevice@", bob.DeviceID, "@othertoken@", bob.Token, "@otherkey@", pubOf(bob), "@othersig@", push.Encode(bob.sig),
			"@spent@", spent).Replace(body)
		for _, prefix := range counters {
			if _, err := s.Store.ResetThrottlePrefix(ctx, prefix); err != nil {
				t.Fatal(err)
			}
		}

		before := snaps.Take(t)
		r := testenv.Send(t, nil, testenv.NewRequest(t, "POST", s.URL()+"/v1/push/enrol", body, http.Header{"Content-Type": {"application/json"}}))
		if r.Status >= 500 {
			t.Fatalf("%s: %d %s", body, r.Status, r.Body)
		}
		if r.Status != 200 {
			if d := before.Diff(snaps.Take(t)); d != "" {
				t.Fatalf("%s: refused %d %s, but the database changed:\n%s", body, r.Status, r.Body, d)
			}
			return
		}

		var sent struct {
			DeviceID  string `json:"device_id"`
			Token     string `json:"token"`
			PublicKey string `json:"public_key"`
			Signature string `json:"signature"`
		}
		if err := json.Unmarshal([]byte(body), &sent); err != nil {
			t.Fatalf("%s: enrolled with a body that is not JSON: %s", body, r.Body)
		}
		name := ""
		for n, w := range waiting {
			pub, err1 := push.Decode(sent.PublicKey)
			sig, err2 := push.Decode(sent.Signature)
			if w.DeviceID == sent.DeviceID && w.Token == sent.Token && err1 == nil && err2 == nil && len(pub) == ed25519.PublicKeySize &&
				ed25519.Verify(pub, push.EnrolMessage(w.DeviceID, w.Challenge, pub), sig) {
				name = n
			}
		}
		if name == "" {
			t.Fatalf("%s: enrolled without a waiting device's id, token and a key's signature of its challenge: %s", body, r.Body)
		}
		w := waiting[name]
		var out struct {
			Factor struct{ ID, Status string }
		}
		if err := json.Unmarshal(r.Body, &out); err != nil || out.Factor.ID != w.DeviceID || out.Factor.Status != "active" {
			t.Fatalf("%s: enrolled as %s", body, r.Body)
		}
		// The device's requests are accepted under the key sent.
		if pub, _ := push.Decode(sent.PublicKey); !ed25519.PublicKey(pub).Equal(w.key.Public()) {
			t.Fatalf("%s: enrolled a key that is not the waiting device's new one", body)
		}
		d := pushDevice(t, s, pushdevice.State{Server: s.URL(), DeviceID: w.DeviceID, Key: push.Encode(w.key.Seed())})
		if _, err := d.Challenges(ctx, 0); err != nil {
			t.Fatalf("%s: enrolled, but the device's poll is refused: %v", body, err)
		}
		// Room for the next: the device goes.
		if r := sessions[name].Do(t, "DELETE", "/v1/me/factors/"+w.DeviceID, nil); r.Status != 204 && r.Status != 200 {
			t.Fatalf("removing the device enrolled: %d %s", r.Status, r.Body)
		}
		spent, waiting[name] = w.Token, nil
	})
}
