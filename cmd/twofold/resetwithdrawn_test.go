package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestUserResetTwoFactorWithdrawnAtOnce: a reset asked for with --now that
// is withdrawn instead (a factor of the account passed a check recorded as
// after the request, as a server whose clock is ahead of this machine's
// records it) removes nothing, and the command says so and exits 1,
// rather than report the authenticators removed.
func TestUserResetTwoFactorWithdrawnAtOnce(t *testing.T) {
	for dialect, newDSN := range testenv.DSNs(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			flags, srv := serving(t, newDSN(t))
			withPhone(t, srv, "fay", "")
			// A use of her phone, by a server's clock a day ahead.
			testenv.Exec(t, srv.Config.DB, `UPDATE factors SET last_used_at = `+strconv.FormatInt(time.Now().Add(24*time.Hour).UnixMicro(), 10))
			tm := newTestMain(t, time.Now(), "")
			err := tm.run(t, append([]string{"user", "reset-two-factor", "fay", "--now"}, flags...)...)
			if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "withdrawn, nothing removed") {
				t.Fatalf("reset --now, withdrawn: got %v, want exit status 1 saying it was withdrawn", err)
			}
			if strings.Contains(tm.stdout.String(), "removed") {
				t.Errorf("stdout %q says something was removed", tm.stdout.String())
			}
			r := testenv.NewClient(srv.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "fay", "password": servedPassword})
			if r.Status != http.StatusOK || r.String("status") != "second_factor_required" {
				t.Errorf("fay after the withdrawn reset: got %d %s, want her second factor still asked for", r.Status, r.Body)
			}
		})
	}
}
