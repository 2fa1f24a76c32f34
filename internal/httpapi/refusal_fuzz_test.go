package httpapi_test

import (
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzRefusalWritesNothing sends any body to any operation of /v1 and the
// DNS API that changes something (openapi.yaml's POST, PUT, PATCH and
// DELETE), as alice, signed in with her app and elevated, with a team and
// the zone example.com: the answer is never a server error, a refusal
// (4xx) is problem+json of its status, and a refusal leaves the database
// as it was (testenv.Snapshot: but for what counts and records attempts)
// and queues no mail. Operations that end alice's session or account are
// left out, so that the rest keep being reached. On SQLite;
// FuzzRefusalWritesNothingPostgres is the same on PostgreSQL.
func FuzzRefusalWritesNothing(f *testing.F) { refusalWritesNothing(f, testenv.SQLiteDSN(f)) }

// FuzzRefusalWritesNothingPostgres is FuzzRefusalWritesNothing on
// PostgreSQL.
func FuzzRefusalWritesNothingPostgres(f *testing.F) { refusalWritesNothing(f, testenv.PostgresDSN(f)) }

func refusalWritesNothing(f *testing.F, dsn string) {
	s := testenv.NewServer(f, dsn)
	addUser(f, s, "alice")
	c := login(f, s, "alice")
	e := enrol(f, s, c, map[string]any{"type": "totp", "label": "Phone"}) // elevates c
	if _, err := s.Service.AddZone(f.Context(), "example.com", "alice", core.Meta{}); err != nil {
		f.Fatal(err)
	}
	team := c.Do(f, "POST", "/v1/teams", map[string]any{"name": "ops"})
	teamID, _ := team.JSON["team"].(map[string]any)["id"].(string)
	if team.Status != 201 || teamID == "" {
		f.Fatalf("a team: %d %s", team.Status, team.Body)
	}

	ids := strings.NewReplacer("{id}", e.id, "{team_id}", teamID, "{zone}", "example.com", "{login_id}", "x", "{username}", "alice",
		"{invitation_id}", "x", "{key_id}", "x", "{host}", "www", "{type}", "A")
	ops := writeOps(f, ids)
	for i, op := range ops {
		f.Add(uint8(i), `{}`)
		if strings.Contains(op, "/factors") {
			f.Add(uint8(i), `{"type":"totp","label":"Phone","code":"000000"}`)
		}
	}
	f.Add(uint8(0), `{"name":"x","permits":[{"service":"dns","resource":"example.com","actions":["write"]}],"expires_at":"2020-01-01T00:00:00Z"}`)
	f.Add(uint8(1), `{"records":[{"host":"www","type":"A","ttl":300,"data":"192.0.2.1"},{"host":"www","type":"A","ttl":1,"data":"x"}]}`)

	snaps := testenv.OpenSnapshots(f, dsn)
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		op := ops[int(which)%len(ops)]
		method, path, _ := strings.Cut(op, " ")
		before := snaps.Take(t)
		h := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + c.Token}}
		r := testenv.Send(t, nil, testenv.NewRequest(t, method, s.URL()+path, body, h))
		if r.Status >= 500 {
			t.Fatalf("%s %s: %d %s", op, body, r.Status, r.Body)
		}
		if r.Status < 400 {
			return
		}
		// /v1/token answers as OAuth 2.0 does (RFC 6749 §5.2).
		if ct := r.Header.Get("Content-Type"); path != "/v1/token" && (ct != "application/problem+json" || r.JSON["status"] != float64(r.Status)) {
			t.Fatalf("%s %s: %d answered as %q: %s", op, body, r.Status, ct, r.Body)
		}
		if d := before.Diff(snaps.Take(t)); d != "" {
			t.Fatalf("%s %s: refused (%d %s), but the database changed:\n%s", op, body, r.Status, r.Body, d)
		}
	})
}

// writeOps returns openapi.yaml's operations that change something
// (POST, PUT, PATCH and DELETE) as "METHOD path", their path parameters
// put in by ids, sorted; but those that end the caller's session or
// account or change its password, so that a fuzz target keeps reaching
// the rest.
func writeOps(f *testing.F, ids *strings.Replacer) []string {
	spec, err := os.ReadFile("openapi.yaml")
	if err != nil {
		f.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(spec, &doc); err != nil {
		f.Fatal(err)
	}
	var ops []string
	for path, methods := range doc.Paths {
		for m := range methods {
			m = strings.ToUpper(m)
			op := m + " " + path
			switch {
			case m != "POST" && m != "PUT" && m != "PATCH" && m != "DELETE",
				strings.HasPrefix(path, "/v1/logout"), op == "DELETE /v1/me", strings.HasPrefix(op, "DELETE /v1/me/sessions"),
				op == "PUT /v1/me/password", op == "POST /v1/me/password":
				continue
			}
			ops = append(ops, m+" "+ids.Replace(path))
		}
	}
	slices.Sort(ops)
	if len(ops) < 40 {
		f.Fatalf("only %d operations in openapi.yaml", len(ops))
	}
	return ops
}
