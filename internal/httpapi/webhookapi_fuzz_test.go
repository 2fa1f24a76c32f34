package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzWebhookAPI sends any body to the operator API's webhooks: add one
// (POST /v1/admin/webhooks), delete one, a new secret, enable one (DELETE
// /v1/admin/webhooks/{id}, POST …/rotate-secret, POST …/enable) and read
// one (GET /v1/admin/webhooks/{id}), with any id, by one of six callers:
// alice's elevated session (she is an operator, with an app), another of
// her sessions that is not elevated, three keys of hers (admin webhooks
// read,write with admin events read; admin webhooks read,write alone;
// admin webhooks read) and bob's session (no operator). Two webhooks: w0,
// and w1, disabled, whose URL holds a token. Whatever the request:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status or a redirect;
//   - a webhook changes only by alice's elevated session or her key that
//     may write webhooks and read events (a webhook receives the audit
//     log), and only the webhooks change: an added one has the body's
//     URL, events and description; a new secret is the named webhook's;
//     only the disabled one is enabled; only the named one is deleted; a
//     secret answered is the one stored (sealed), and in neither the log
//     nor the database's clear text;
//   - a webhook is read only by alice's sessions and keys, in full only by
//     a caller that may write webhooks and read events: the others see its
//     URL's scheme and host alone;
//   - a refusal writes nothing (testenv.Snapshot).
//
// The which byte picks the request (its value mod 5, in the order above).
// In an id, @w0@ and @w1@ stand for the webhooks' ids. The webhooks are
// made anew after a change. The who byte picks the caller (its value mod
// 6). On SQLite; FuzzWebhookAPIPostgres is the same on PostgreSQL.
func FuzzWebhookAPI(f *testing.F) { webhookAPI(f, testenv.SQLiteDSN(f)) }

// FuzzWebhookAPIPostgres is FuzzWebhookAPI on PostgreSQL.
func FuzzWebhookAPIPostgres(f *testing.F) { webhookAPI(f, testenv.PostgresDSN(f)) }

func webhookAPI(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs)
	snaps := testenv.OpenSnapshots(f, dsn)
	ctx := context.Background()
	callers := operatorCallers(f, s, [][]string{{"admin webhooks read,write", "admin events read"}, {"admin webhooks read,write"}, {"admin webhooks read"}})
	aliceAuth, err := s.Service.Authenticate(ctx, callers[0].Token)
	if err != nil {
		f.Fatal(err)
	}
	secretOf := func(t testing.TB, id string) string {
		w, err := s.Store.Webhook(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		secret, err := s.Keys.Open(ctx, w.SecretKeyID, w.SealedSecret, keyring.AAD("webhooks", "secret", id))
		if err != nil {
			t.Fatal(err)
		}
		return string(secret)
	}
	urls := []string{"https://panel.example.com/hook", "https://audit.example.net/in?token=abcdefgh"}
	var w0, w1 string
	makeWebhooks := func(t testing.TB) {
		testenv.Exec(t, dsn, `DELETE FROM webhooks`)
		var ids []string
		for i, u := range urls {
			w, _, err := s.Service.CreateWebhook(ctx, aliceAuth, core.NewWebhook{URL: u, Description: fmt.Sprintf("hook %d", i)}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, w.ID)
		}
		if ok, err := s.Store.DisableWebhook(ctx, ids[1], "", s.Clock.Now(), twofold.WebhookDisabledNotOperator); err != nil || !ok {
			t.Fatalf("disable %s: %v, %v", ids[1], ok, err)
		}
		w0, w1 = ids[0], ids[1]
	}
	makeWebhooks(f)

	ops := []struct{ method, suffix string }{
		{"POST", ""}, {"DELETE", "/{id}"}, {"POST", "/{id}/rotate-secret"}, {"POST", "/{id}/enable"}, {"GET", "/{id}"},
	}
	const hook = `"url":"https://hooks.example.com/a"`
	for _, in := range []struct {
		which    uint8
		id, body string
		who      uint8
	}{
		{0, "", `{` + hook + `,"events":["login.*","account.suspended"],"description":" the panel "}`, 0},
		{0, "", `{` + hook + `}`, 1},
		{0, "", `{` + hook + `,"events":["*"]}`, 2},
		{0, "", `{` + hook + `}`, 3},
		{0, "", `{` + hook + `}`, 4},
		{0, "", `{` + hook + `}`, 5},
		{0, "", `{"url":"http://127.0.0.1/a"}`, 0},
		{0, "", `{` + hook + `,"events":["frob"]}`, 0},
		{0, "", `{` + hook + `,"events":["login.*","login.*"]}`, 2},
		{1, "@w0@", "", 0},
		{1, "@w1@", "", 2},
		{1, "@w0@", "", 3},
		{1, "@w0@", "", 1},
		{2, "@w0@", "", 0},
		{2, "@w1@", "", 2},
		{2, "@w0@", "", 3},
		{2, "@w0@", "", 4},
		{3, "@w1@", "", 0},
		{3, "@w0@", "", 0},
		{3, "@w1@", "", 3},
		{3, "@w1@", "", 5},
		{4, "@w1@", "", 0},
		{4, "@w1@", "", 1},
		{4, "@w1@", "", 2},
		{4, "@w1@", "", 3},
		{4, "@w1@", "", 4},
		{4, "@w1@", "", 5},
		{1, "@w0@/..", "", 0},
	} {
		f.Add(in.which, in.id, in.body, in.who)
	}

	f.Fuzz(func(t *testing.T, which uint8, id, body string, who uint8) {
		caller := int(who % 6)
		c := callers[caller]
		op := ops[int(which)%len(ops)]
		id = strings.NewReplacer("@w0@", w0, "@w1@", w1).Replace(id)
		path := "/v1/admin/webhooks" + strings.Replace(op.suffix, "{id}", id, 1)
		req, err := http.NewRequest(op.method, s.URL()+path, strings.NewReader(body))
		if err != nil || !testenv.Sendable(req) {
			return // no request a client could send
		}
		named := ""
		if op.suffix != "" {
			shape := []string{""}
			if tail := strings.TrimPrefix(op.suffix, "/{id}"); tail != "" {
				shape = append(shape, tail[1:])
			}
			var ok bool
			if named, ok = adminSegment(req.URL, "/v1/admin/webhooks/", shape); !ok {
				return // another route's
			}
		}
		asCaller(req, c)
		secrets := map[string]string{w0: secretOf(t, w0), w1: secretOf(t, w1)}

		logged := len(logs.String())
		input := fmt.Sprintf("%s %s %q by %d", op.method, req.URL.EscapedPath(), body, caller)
		r, d, done := sendJudged(t, s, snaps, dsn, req, input)
		if !done {
			return // refused, and nothing written
		}
		if op.method == "GET" {
			if d != "" {
				t.Fatalf("%s: a read changed the database:\n%s", input, d)
			}
			if caller == 5 {
				t.Fatalf("%s: a webhook read by an account that is no operator's: %s", input, r.Body)
			}
			got, _ := r.JSON["webhook"].(map[string]any)["url"].(string)
			want := map[string]string{w0: urls[0], w1: urls[1]}[named]
			if caller >= 3 {
				u, _ := url.Parse(want)
				want = u.Scheme + "://" + u.Host
			}
			if got != want {
				t.Fatalf("%s: the URL read is %q, want %q", input, got, want)
			}
			return
		}
		if caller != 0 && caller != 2 {
			t.Fatalf("%s: answered %d %s to a caller that may not change webhooks:\n%s", input, r.Status, r.Body, d)
		}
		for _, l := range strings.Split(strings.TrimSpace(d), "\n") {
			if kind, _, _ := strings.Cut(l, ":"); kind != "+ webhooks" && kind != "- webhooks" {
				t.Fatalf("%s: more than the webhooks changed: %s", input, l)
			}
			if named != "" && !strings.Contains(l, "id="+named+" ") {
				t.Fatalf("%s: a webhook the path does not name changed: %s", input, l)
			}
		}
		after, err := s.Store.Webhooks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		has := func(id string) bool {
			return slices.ContainsFunc(after, func(w twofold.Webhook) bool { return w.ID == id })
		}
		secretFor := ""
		switch int(which) % len(ops) {
		case 0:
			if len(after) != 3 || !has(w0) || !has(w1) {
				t.Fatalf("%s: %d webhooks after adding one to two", input, len(after))
			}
			var added twofold.Webhook
			for _, w := range after {
				if w.ID != w0 && w.ID != w1 {
					if added, err = s.Service.Webhook(ctx, aliceAuth, w.ID); err != nil {
						t.Fatal(err)
					}
				}
			}
			var sent struct {
				URL         string   `json:"url"`
				Events      []string `json:"events"`
				Description string   `json:"description"`
			}
			if err := json.Unmarshal([]byte(body), &sent); err != nil {
				t.Fatalf("%s: a webhook added from a body that is no JSON object: %v", input, err)
			}
			wantURL, err := url.Parse(strings.TrimSpace(sent.URL))
			if err != nil || added.URL != wantURL.String() {
				t.Fatalf("%s: its URL is %q, the body's %q", input, added.URL, sent.URL)
			}
			var events []string
			for _, e := range sent.Events {
				if e = strings.TrimSpace(e); e == "*" {
					events = nil
					break
				}
				if !slices.Contains(events, e) {
					events = append(events, e)
				}
			}
			if !slices.Equal(added.Events, events) {
				t.Fatalf("%s: its events are %q, the body's %q", input, added.Events, sent.Events)
			}
			if added.Description != strings.TrimSpace(sent.Description) {
				t.Fatalf("%s: its description is %q, the body's %q", input, added.Description, sent.Description)
			}
			secretFor = added.ID
		case 1:
			if has(named) || len(after) != 1 {
				t.Fatalf("%s: not only the named webhook was deleted", input)
			}
		case 2:
			if secretOf(t, named) == secrets[named] {
				t.Fatalf("%s: the named webhook's secret is the one it had", input)
			}
			secretFor = named
		case 3:
			for _, w := range after {
				if w.ID == named && (named != w1 || !w.DisabledAt.IsZero()) {
					t.Fatalf("%s: enabled %s, not only the disabled webhook", input, named)
				}
			}
		}
		if secretFor != "" {
			secret := r.String("secret")
			switch {
			case secret == "" || secret != secretOf(t, secretFor):
				t.Fatalf("%s: answered a secret that is not the webhook's: %s", input, r.Body)
			case testenv.HoldsWord(logs.String()[logged:], secret):
				t.Fatalf("%s: the secret went to the log", input)
			case strings.Contains(d, secret):
				t.Fatalf("%s: the secret is in the database's clear text:\n%s", input, d)
			}
		}
		makeWebhooks(t)
	})
}
