package httpapi_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzKeyReach sends any body to any operation of /v1 and the DNS API
// that changes something and takes a caller (openapi.yaml's POST, PUT,
// PATCH and DELETE under /v1/me, /v1/teams, /v1/admin and /dns), with an
// API key of alice's, an operator with two-factor, a team, a webhook and
// the zone example.com, where bob has an account too. The keys:
//
//	reader   account * read, keys * read, dns example.com read, admin * read
//	certbot  dns example.com/_acme-challenge/TXT write
//
// Whatever the request, the answer is never a server error, and the
// reader writes nothing at all (testenv.Snapshot: but for what counts and
// records attempts, and a key's last use) and queues no mail, whatever it
// reaches; the certbot key writes nothing but the TXT records at
// _acme-challenge.example.com and the zone's serial. A path's {id} is the
// id of what its route names: a factor of alice's, bob's account, the
// webhook, another key of alice's. On SQLite; FuzzKeyReachPostgres is the
// same on PostgreSQL.
func FuzzKeyReach(f *testing.F) { keyReach(f, testenv.SQLiteDSN(f)) }

// FuzzKeyReachPostgres is FuzzKeyReach on PostgreSQL.
func FuzzKeyReachPostgres(f *testing.F) { keyReach(f, testenv.PostgresDSN(f)) }

func keyReach(f *testing.F, dsn string) {
	s := testenv.NewServer(f, dsn)
	ctx := f.Context()
	if _, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: "alice", Email: "alice@example.com", Password: password, Operator: true}, core.Meta{}); err != nil {
		f.Fatal(err)
	}
	addUser(f, s, "bob")
	bob, err := s.Store.AccountByUsername(ctx, "bob")
	if err != nil {
		f.Fatal(err)
	}
	c := login(f, s, "alice")
	e := enrol(f, s, c, map[string]any{"type": "totp", "label": "Phone"}) // elevates c
	if _, err := s.Service.AddZone(ctx, "example.com", "alice", core.Meta{}); err != nil {
		f.Fatal(err)
	}
	team := c.Do(f, "POST", "/v1/teams", map[string]any{"name": "ops"})
	teamID, _ := team.JSON["team"].(map[string]any)["id"].(string)
	if team.Status != 201 || teamID == "" {
		f.Fatalf("a team: %d %s", team.Status, team.Body)
	}
	hook := c.Do(f, "POST", "/v1/admin/webhooks", map[string]any{"url": "https://hooks.example.net/twofold", "events": []string{"*"}})
	hookID, _ := hook.JSON["webhook"].(map[string]any)["id"].(string)
	if hook.Status != 201 || hookID == "" {
		f.Fatalf("a webhook: %d %s", hook.Status, hook.Body)
	}
	key := func(permits ...map[string]any) (id, auth string) {
		r := c.Do(f, "POST", "/v1/me/api-keys", map[string]any{"name": "script", "permits": permits})
		if r.Status != 201 {
			f.Fatalf("a key: %d %s", r.Status, r.Body)
		}
		id = r.JSON["api_key"].(map[string]any)["id"].(string)
		return id, "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+r.String("secret")))
	}
	permit := func(service, resource string, actions ...string) map[string]any {
		return map[string]any{"service": service, "resource": resource, "actions": actions}
	}
	_, reader := key(permit("account", "*", "read"), permit("keys", "*", "read"), permit("dns", "example.com", "read"), permit("admin", "*", "read"))
	spareID, certbot := key(permit("dns", "example.com/_acme-challenge/TXT", "write"))

	ids := strings.NewReplacer("{team_id}", teamID, "{zone}", "example.com", "{username}", "bob", "{invitation_id}", "x",
		"{key_id}", spareID, "{host}", "_acme-challenge", "{type}", "TXT")
	var ops []string
	for _, op := range writeOps(f, ids) {
		_, path, _ := strings.Cut(op, " ")
		id := e.id // a factor's
		switch {
		case !strings.HasPrefix(path, "/v1/me") && !strings.HasPrefix(path, "/v1/teams") && !strings.HasPrefix(path, "/v1/admin") &&
			!strings.HasPrefix(path, "/dns/"),
			path == "/v1/me/email/confirm":
			continue // no caller: what anyone may ask
		case strings.HasPrefix(path, "/v1/admin/users/"):
			id = bob.ID
		case strings.HasPrefix(path, "/v1/admin/webhooks/"):
			id = hookID
		case strings.HasPrefix(path, "/v1/me/api-keys/"):
			id = spareID
		}
		ops = append(ops, strings.ReplaceAll(op, "{id}", id))
	}
	for i, op := range ops {
		f.Add(uint8(0), uint8(i), `{}`)
		if strings.HasPrefix(op, "POST /dns/") || strings.HasPrefix(op, "PUT /dns/") {
			f.Add(uint8(1), uint8(i), `{"records":[{"data":"token"}]}`)
		}
	}
	f.Add(uint8(0), uint8(0), `{"name":"x","permits":[{"service":"dns","resource":"example.com","actions":["read"]}]}`)
	f.Add(uint8(1), uint8(0), `{"name":"x","permits":[{"service":"dns","resource":"example.com/_acme-challenge/TXT","actions":["write"]}]}`)

	snaps := testenv.OpenSnapshots(f, dsn)
	f.Fuzz(func(t *testing.T, which, opIndex uint8, body string) {
		op := ops[int(opIndex)%len(ops)]
		method, path, _ := strings.Cut(op, " ")
		name, auth := "reader", reader
		if which%2 == 1 {
			name, auth = "certbot", certbot
		}
		before := snaps.Take(t)
		h := http.Header{"Content-Type": {"application/json"}, "Authorization": {auth}}
		r := testenv.Send(t, nil, testenv.NewRequest(t, method, s.URL()+path, body, h))
		if r.Status >= 500 {
			t.Fatalf("%s (%s) %s: %d %s", op, name, body, r.Status, r.Body)
		}
		d := testenv.WithoutLastUse(before.Diff(snaps.Take(t)))
		for _, l := range strings.Split(d, "\n") {
			if l == "" || name == "certbot" && (strings.HasPrefix(l[2:], "dns_records: zone=example.com host=_acme-challenge type=TXT ") ||
				strings.HasPrefix(l[2:], "dns_zones: name=example.com ")) {
				continue
			}
			t.Fatalf("%s (%s) %s: %d %s, and the key wrote:\n%s", op, name, body, r.Status, r.Body, d)
		}
	})
}
