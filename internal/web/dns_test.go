package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestBrowserDNSRecords manages a zone's records in Chromium: the owner
// adds a record, is told when one added again was there already, is told
// what is wrong with a bad one (keeping what was typed), and removes one;
// the change is what the DNS API then serves.
func TestBrowserDNSRecords(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "alice", false, false)
	if _, err := ts.Service.AddZone(context.Background(), "example.com", "alice", core.Meta{}); err != nil {
		t.Fatal(err)
	}
	p := newPage(t, ts.URL())
	p.shots = artifactsDir(t)
	p.signIn("alice", testPassword)
	p.click(`nav a[href="/settings/dns"]`)
	p.wantPath("/settings/dns")
	p.click(`a[href="/settings/dns/example.com"]`)
	p.wantPath("/settings/dns/example.com")
	if !p.exists("#no-records") {
		t.Fatal("a new zone shows records")
	}
	p.fill("#record-host", "www")
	p.fill("#record-data", "192.0.2.1")
	p.click("#add-record-button")
	p.wantPath("/settings/dns/example.com?m=record_added")
	// The same record again adds nothing, and the page says so.
	p.fill("#record-host", "www")
	p.fill("#record-data", "192.0.2.1")
	p.click("#add-record-button")
	p.wantPath("/settings/dns/example.com?m=record_kept")
	if got := p.text(".flash.ok"); !strings.Contains(got, "in the zone already: nothing was added") {
		t.Errorf("adding a record the zone has: notice %q", got)
	}
	if got := p.texts(".record .record-data"); strings.Join(got, "|") != "192.0.2.1" {
		t.Fatalf("records shown after adding one twice: %q", got)
	}
	setSelect(p, "#record-type", "MX")
	p.fill("#record-host", "@")
	p.fill("#record-data", "mail.example.net.")
	p.click("#add-record-button")
	if got := p.text("#error"); got == "" {
		t.Fatal("an MX record without a preference was taken")
	}
	if got := eval[string](p, `document.querySelector("#record-data").value`); got != "mail.example.net." {
		t.Errorf("the data typed was not kept: %q", got)
	}
	p.fill("#record-data", "10 mail.example.net.")
	p.click("#add-record-button")
	if got := p.texts(".record .record-data"); strings.Join(got, "|") != "10 mail.example.net.|192.0.2.1" {
		t.Fatalf("records shown: %q", got)
	}
	p.screenshot("dns-zone")
	p.click(`button[aria-label="Remove www A 192.0.2.1"]`)
	p.wantPath("/settings/dns/example.com?m=record_removed")

	api := testenv.NewClient(ts.URL())
	lr := api.Do(t, "POST", "/v1/login", map[string]string{"username": "alice", "password": testPassword})
	api.Token = lr.String("token")
	r := api.Do(t, "GET", "/dns/v2/zones/example.com/records", nil)
	if recs := r.JSON["records"].([]any); r.Status != 200 || len(recs) != 1 {
		t.Fatalf("records over the API: %d %s", r.Status, r.Body)
	}
}

// TestDNSPagesFollowRoles: a read-only team member sees a shared zone's
// records without the forms and cannot change them by posting; another
// account learns nothing of the zone.
func TestDNSPagesFollowRoles(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	ctx := context.Background()
	for _, n := range []string{"alice", "carol", "eve"} {
		account(t, ts, n, false, false)
	}
	if _, err := ts.Service.AddZone(ctx, "example.com", "alice", core.Meta{}); err != nil {
		t.Fatal(err)
	}
	alice := testenv.NewClient(ts.URL())
	alice.Token = alice.Do(t, "POST", "/v1/login", map[string]string{"username": "alice", "password": testPassword}).String("token")
	team := alice.Do(t, "POST", "/v1/teams", map[string]string{"name": "Acme"}).JSON["team"].(map[string]any)["id"].(string)
	inv := alice.Do(t, "POST", "/v1/teams/"+team+"/invitations", map[string]string{"username": "carol", "role": "read-only"})
	if inv.Status != 201 {
		t.Fatalf("invite carol: %d %s", inv.Status, inv.Body)
	}
	carolAPI := testenv.NewClient(ts.URL())
	carolAPI.Token = carolAPI.Do(t, "POST", "/v1/login", map[string]string{"username": "carol", "password": testPassword}).String("token")
	if r := carolAPI.Do(t, "POST", "/v1/me/invitations/"+inv.JSON["invitation"].(map[string]any)["id"].(string)+"/accept", nil); r.Status != 200 {
		t.Fatalf("carol accepts: %d %s", r.Status, r.Body)
	}
	if r := alice.Do(t, "PUT", "/v1/teams/"+team+"/zones/example.com", nil); r.Status != 200 {
		t.Fatalf("share: %d %s", r.Status, r.Body)
	}
	if r := alice.Do(t, "POST", "/dns/v2/zones/example.com/records", map[string]any{"records": []map[string]any{{"host": "www", "type": "A", "data": "192.0.2.1"}}}); r.Status != 200 {
		t.Fatalf("add a record: %d %s", r.Status, r.Body)
	}

	carol := newClient(t, ts.URL())
	carol.signIn("carol")
	r := carol.get("/settings/dns/example.com")
	if r.status != 200 || !strings.Contains(r.body, "192.0.2.1") || strings.Contains(r.body, `id="add-record"`) {
		t.Fatalf("carol's view: %d, add form shown: %v", r.status, strings.Contains(r.body, `id="add-record"`))
	}
	r = carol.post("/settings/dns/example.com/delete", url.Values{"host": {"www"}, "type": {"A"}, "data": {"192.0.2.1"}})
	if r.status != http.StatusForbidden || !showsError(r.body) {
		t.Fatalf("carol removing a record: %d %q, want 403 with an error", r.status, pageError(r.body))
	}
	eve := newClient(t, ts.URL())
	eve.signIn("eve")
	if r := eve.get("/settings/dns/example.com"); r.status != http.StatusNotFound {
		t.Fatalf("eve on the zone: %d, want 404", r.status)
	}
	if r := eve.get("/settings/dns"); !strings.Contains(r.body, `id="no-zones"`) {
		t.Fatal("eve's zones page lists a zone")
	}
}
