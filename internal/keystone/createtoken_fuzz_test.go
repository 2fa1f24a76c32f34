package keystone_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// FuzzCreateToken sends whatever body an Identity API client (or anyone)
// may send to POST /v3/auth/tokens, on a real server over HTTP: alice must
// pass a TOTP code after her password, bob signs in with his password
// alone or with his application credential. Whatever the body, the answer
// is a token (201) or a refusal in the Identity API's error form with a
// client's status, never a server error; a token only for a body that
// holds the user's secrets (alice's password, unless a receipt stands for
// it, and her current code; bob's password or his credential's secret);
// and no secret sent (password, code, credential secret, receipt) is
// written back in the answer or to the log.
//
// In a body, @code@ stands for alice's code of the moment, @alice@ and
// @bob@ for their ids, @app@ and @appsecret@ for bob's credential; with
// receipt set, the request carries the receipt of alice's password step,
// made just before.
func FuzzCreateToken(f *testing.F) {
	var logs testenv.Buffer
	s := testenv.NewLoggedServer(f, testenv.SQLiteDSN(f), slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	aliceID, secret := account(f, s, "alice", true)
	bobID, _ := account(f, s, "bob", false)
	bobToken := send(f, s, passwordBody("bob"), "").Header.Get("X-Subject-Token")
	c := testenv.NewClient(s.URL())
	c.Header.Set("X-Auth-Token", bobToken)
	r := c.Do(f, "POST", "/v3/users/"+bobID+"/application_credentials", `{"application_credential":{"name":"deploy"}}`)
	ac, _ := r.JSON["application_credential"].(map[string]any)
	appID, _ := ac["id"].(string)
	appSecret, _ := ac["secret"].(string)
	if r.Status != 201 || appID == "" || len(appSecret) < 16 {
		f.Fatalf("bob's application credential: %d %s", r.Status, r.Body)
	}

	user := func(ref, pw string) string {
		return `{"user":{` + ref + `,"password":"` + pw + `"}}`
	}
	byName := `"name":"alice","domain":{"id":"default"}`
	f.Add(`{"auth":{"identity":{"methods":["password"],"password":`+user(byName, password)+`}}}`, false)
	f.Add(`{"auth":{"identity":{"methods":["password","totp"],"password":`+user(byName, password)+`,"totp":{"user":{`+byName+`,"passcode":"@code@"}}}}}`, false)
	f.Add(`{"auth":{"identity":{"methods":["totp"],"totp":{"user":{"id":"@alice@","passcode":"@code@"}}}}}`, true)
	f.Add(`{"auth":{"identity":{"methods":["password","totp"],"password":`+user(`"id":"@alice@"`, password)+`,"totp":{"user":{"id":"@alice@","passcode":"@code@"}}}}}`, true)
	f.Add(`{"auth":{"identity":{"methods":["password"],"password":`+user(`"id":"@bob@"`, password)+`},"scope":"unscoped"}}`, false)
	f.Add(`{"auth":{"identity":{"methods":["password"],"password":`+user(`"name":"bob","domain":{"name":"Default"}`, password)+`},"scope":{"project":{"id":"p"}}}}`, false)
	f.Add(`{"auth":{"identity":{"methods":["application_credential"],"application_credential":{"id":"@app@","secret":"@appsecret@"}}}}`, false)
	f.Add(`{"auth":{"identity":{"methods":["application_credential"],"application_credential":{"name":"deploy","secret":"@appsecret@","user":{"name":"bob","domain":{"id":"default"}}}}}}`, false)
	f.Add(`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"bob","password":"x"}},"Methods":[]}}}`, false)
	f.Add(`{"auth":{"identity":{"methods":["password","password"],"password":`+user(byName, "wrong")+`,"password":null}}}`, true)
	f.Add(`{"auth":{"identity":{"methods":["totp"],"totp":{"user":{"id":"@alice@","passcode":"@code@"}}},"nocatalog":[1,{"a":[]}]}}`, true)

	f.Fuzz(func(t *testing.T, body string, withReceipt bool) {
		s.Clock.Add(30 * time.Second) // a new code, not yet spent
		code := testenv.TOTP(t, secret, s.Clock.Now())
		body = strings.NewReplacer("@code@", code, "@alice@", aliceID, "@bob@", bobID, "@app@", appID, "@appsecret@", appSecret).Replace(body)
		receipt := ""
		if withReceipt {
			r := send(t, s, `{"auth":{"identity":{"methods":["password"],"password":`+user(byName, password)+`}}}`, "")
			if receipt = r.Header.Get("Openstack-Auth-Receipt"); r.Status != 401 || receipt == "" {
				return // alice's password step is throttled for now
			}
		}
		before := len(logs.String())
		r := send(t, s, body, receipt)
		answer := r.Body
		logged := logs.String()[before:]

		switch r.Status {
		case 201, 400, 401, 413, 415, 429:
		default:
			t.Fatalf("%s (receipt %v): %d %s", body, withReceipt, r.Status, answer)
		}
		tok := r.Header.Get("X-Subject-Token")
		if (tok != "") != (r.Status == 201) {
			t.Fatalf("%s: %d with X-Subject-Token %q", body, r.Status, tok)
		}
		var v struct {
			Error *struct {
				Code int `json:"code"`
			} `json:"error"`
			Token *struct {
				User struct {
					ID string `json:"id"`
				} `json:"user"`
			} `json:"token"`
		}
		if err := json.Unmarshal(answer, &v); err != nil {
			t.Fatalf("%s: %d answer is not JSON: %v: %s", body, r.Status, err, answer)
		}
		if r.Status != 201 && (v.Error == nil || v.Error.Code != r.Status) {
			t.Fatalf("%s: %d answer is not an Identity API error of that status: %s", body, r.Status, answer)
		}

		sent := stringsOf(body)
		if r.Status == 201 {
			if v.Token == nil {
				t.Fatalf("%s: 201 without a token: %s", body, answer)
			}
			switch v.Token.User.ID {
			case aliceID:
				if !slices.Contains(sent, code) || receipt == "" && !slices.Contains(sent, password) {
					t.Fatalf("%s (receipt %v): a token for alice without her password and code", body, withReceipt)
				}
			case bobID:
				if !slices.Contains(sent, password) && !slices.Contains(sent, appSecret) {
					t.Fatalf("%s: a token for bob without his password or credential's secret", body)
				}
			default:
				t.Fatalf("%s: a token for %q", body, v.Token.User.ID)
			}
		}

		secrets := []string{password, appSecret}
		if code != "000000" { // the only run of six digits in an answer's times
			secrets = append(secrets, code)
		}
		if receipt != "" {
			secrets = append(secrets, receipt)
		}
		if tok != "" {
			secrets = append(secrets, tok)
		}
		for _, sc := range secrets {
			if bytes.Contains(answer, []byte(sc)) {
				t.Fatalf("%s: the answer (%d) holds a secret sent: %s", body, r.Status, answer)
			}
			if strings.Contains(logged, sc) {
				t.Fatalf("%s: the log holds a secret sent: %s", body, logged)
			}
		}
	})
}

// send posts body to /v3/auth/tokens as JSON, with receipt as the
// Openstack-Auth-Receipt unless it is empty.
func send(tb testing.TB, s *testenv.Server, body, receipt string) testenv.Response {
	tb.Helper()
	h := http.Header{"Content-Type": {"application/json"}}
	if receipt != "" {
		h.Set("Openstack-Auth-Receipt", receipt)
	}
	return testenv.Send(tb, nil, testenv.NewRequest(tb, "POST", s.URL()+"/v3/auth/tokens", body, h))
}

// stringsOf returns every string of the JSON text b, names and values,
// decoded (none if b is not JSON).
func stringsOf(b string) []string {
	var out []string
	dec := json.NewDecoder(strings.NewReader(b))
	for {
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		if s, ok := tok.(string); ok {
			out = append(out, s)
		}
	}
}
