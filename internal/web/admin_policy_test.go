package web_test

import (
	"context"
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// TestOperatorSeesTeamPolicy: a member of a team that requires two-factor,
// who turned it off for themselves, is asked for the second step at login;
// the operator's user list says "Password + code" for them, and their page
// "Yes: required by the team …", not the member's own setting.
func TestOperatorSeesTeamPolicy(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	_, alice := teamsFixture(t, ts)
	if _, err := ts.Store.SetTwoFactorRequired(context.Background(), alice.ID, false); err != nil {
		t.Fatal(err)
	}
	account(t, ts, "opal", true, false)
	op := newClient(t, ts.URL())
	op.signIn("opal")

	r := op.get("/admin/users?q=alice")
	row := regexp.MustCompile(`(?s)<tr>\s*<td><a href="/admin/users/` + alice.ID + `">alice</a>.*?</tr>`).FindString(r.body)
	if !strings.Contains(row, "Password + code") {
		t.Errorf("alice's row in the list: %q, want Password + code", row)
	}
	r = op.get("/admin/users/" + alice.ID)
	body := html.UnescapeString(r.body)
	if want := `<dd id="two-factor-required">Yes: required by the team Acme hosting</dd>`; !strings.Contains(body, want) {
		t.Errorf("alice's page lacks %q: %s", want, regexp.MustCompile(`<dd id="two-factor-required">.*?</dd>`).FindString(body))
	}
}
