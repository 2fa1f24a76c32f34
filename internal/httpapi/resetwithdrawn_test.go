package httpapi_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/testenv"
)

// TestOperatorResetWithdrawnAtOnce: on a server without a waiting period,
// an operator's reset whose holder's factor passed a check recorded as
// after the request (by a server whose clock runs ahead) is withdrawn, and
// the answer says "withdrawn", not "carried_out": the holder's second
// factor is still asked for.
func TestOperatorResetWithdrawnAtOnce(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, func(c *config.Config) { c.ResetDelay = 0 })
		testenv.Exec(t, dsn, `UPDATE factors SET last_used_at = `+strconv.FormatInt(f.s.Clock.Now().Add(24*time.Hour).UnixMicro(), 10)+` WHERE account_id = '`+f.userID+`'`)
		r := f.opc.Do(t, "POST", "/v1/admin/users/"+f.userID+"/two-factor-reset", nil)
		if r.Status != 200 || r.JSON["status"] != "withdrawn" {
			t.Fatalf("reset at once, a factor used after it: got %d %s, want 200 withdrawn", r.Status, r.Body)
		}
		if _, lr := startLogin(t, f.s, "dave"); lr.String("status") != "second_factor_required" {
			t.Errorf("dave after the withdrawn reset: %s, want his second factor still asked for", lr.Body)
		}
	})
}
