package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
)

// TestOperatorConfirmTitlesNameTheUser: every page on which an operator
// acts on one account (GET /admin/users/{id}/…, walked from the routes so
// that a page added later is checked too) names that account in its
// <title>, after the action ("Suspend account — ulrike · Twofold"), as its
// heading does, so that tabs and the browser's history tell the same
// action on two accounts apart; and no two such pages share a title.
func TestOperatorConfirmTitlesNameTheUser(t *testing.T) {
	ts, opSecret, op := operatorFixture(t)
	ctx := context.Background()
	// ulrike has two-factor, an API key and a reset waiting, so that every
	// page shows its form rather than sending the operator elsewhere.
	const user = "ulrike"
	secret := account(t, ts, user, false, true)
	id := userID(t, ts, user)
	key, _, err := ts.Service.CreateAPIKey(ctx, sessionOf(t, ts, user, secret), core.NewAPIKey{Name: "deploy", Permits: []twofold.Permit{{Service: "account", Resource: "*", Actions: []string{"read"}}}}, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Service.RequestTwoFactorReset(ctx, sessionOf(t, ts, "opal", opSecret), id, core.Meta{}); err != nil {
		t.Fatal(err)
	}

	titles := map[string]string{} // title → path
	for pattern := range pageRoutes(t, ts) {
		path, ok := strings.CutPrefix(pattern, "GET /admin/users/{id}/")
		if !ok {
			continue
		}
		path = "/admin/users/" + id + "/" + strings.ReplaceAll(path, "{key}", key.ID)
		r := op.get(path)
		if r.status != http.StatusOK || r.url.Path != path {
			t.Errorf("GET %s: status %d at %s, want 200 there", path, r.status, r.url.Path)
			continue
		}
		title, heading := pageTitle(r.body), pageHeading(r.body)
		if !strings.HasSuffix(title, " — "+user+" · Twofold") || strings.HasPrefix(title, " — ") {
			t.Errorf("GET %s: title %q, want the action, then %q", path, title, " — "+user+" · Twofold")
		}
		if !strings.Contains(heading, user) {
			t.Errorf("GET %s: heading %q, want it to name %s", path, heading, user)
		}
		if other, dup := titles[title]; dup {
			t.Errorf("GET %s and GET %s have the same title %q", path, other, title)
		}
		titles[title] = path
	}
	if len(titles) < 8 {
		t.Errorf("walked %d pages of an operator acting on an account, want at least 8", len(titles))
	}
}
