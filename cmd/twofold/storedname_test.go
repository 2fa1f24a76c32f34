package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// TestUserCommandsNameAccountAsStored: the commands that find an account by
// the name typed (user reset-two-factor, with and without --cancel and
// --now; user operator, with and without --remove; dns add-zone --owner)
// find it as sign-in does, whatever the case typed, and then name it as
// stored, as user add does: "alice", never the "ALICE" typed, in what they
// print and in the errors they end with once the account is found. A name
// that finds no account is quoted as typed. On SQLite and PostgreSQL.
func TestUserCommandsNameAccountAsStored(t *testing.T) {
	for dialect, newDSN := range testenv.DSNs(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			flags, srv := serving(t, newDSN(t))
			withPhone(t, srv, "alice", "")

			for _, tt := range []struct {
				args     []string
				wantOut  string       // the start of what is printed, for a success
				wantCode twofold.Code // the error's code, for a failure ("" for a success)
				wantName string       // the account as the error names it, for a failure
			}{
				{args: []string{"user", "reset-two-factor", "ALICE", "--reset-delay", "24h"}, wantOut: "reset of alice's two-factor scheduled for "},
				{args: []string{"user", "reset-two-factor", "ALICE"}, wantCode: twofold.CodeConflict, wantName: "alice"}, // one waits already
				{args: []string{"user", "reset-two-factor", "Alice", "--cancel"}, wantOut: "cancelled the reset of alice's two-factor"},
				{args: []string{"user", "reset-two-factor", "ALICE", "--cancel"}, wantCode: twofold.CodeNotFound, wantName: "alice"}, // none waits
				{args: []string{"user", "operator", "ALICE"}, wantOut: "alice is an operator"},
				{args: []string{"user", "operator", "ALICE"}, wantOut: "alice was an operator already"},
				{args: []string{"user", "operator", "ALICE", "--remove"}, wantOut: "alice is no longer an operator"},
				{args: []string{"user", "operator", "ALICE", "--remove"}, wantOut: "alice was not an operator"},
				{args: []string{"dns", "add-zone", "example.com", "--owner", "ALICE"}, wantOut: "added zone example.com for alice"},
				{args: []string{"user", "reset-two-factor", "ALICE", "--now"}, wantOut: "reset two-factor of alice: "},
				{args: []string{"user", "reset-two-factor", "ALICE"}, wantCode: twofold.CodeInvalid, wantName: "alice"}, // no two-factor left
				{args: []string{"user", "operator", "NOBODY"}, wantCode: twofold.CodeNotFound, wantName: "NOBODY"},
				{args: []string{"user", "reset-two-factor", "NOBODY", "--cancel"}, wantCode: twofold.CodeNotFound, wantName: "NOBODY"},
			} {
				tm := newTestMain(t, time.Now(), "")
				err := tm.run(t, append(tt.args, flags...)...)
				out := tm.stdout.String()
				if tt.wantCode == "" {
					if err != nil || !strings.HasPrefix(out, tt.wantOut) {
						t.Errorf("%v: got %q, %v; want %q…", tt.args, out, err, tt.wantOut)
					}
				} else if err == nil || twofold.ErrorCode(err) != tt.wantCode || !strings.Contains(err.Error(), tt.wantName) {
					t.Errorf("%v: got error %v (%s); want a %s error naming %s", tt.args, err, twofold.ErrorCode(err), tt.wantCode, tt.wantName)
				}
				if strings.Contains(out+fmt.Sprint(err), "ALICE") {
					t.Errorf("%v: %q, %v: names the account as typed, ALICE, want alice", tt.args, out, err)
				}
			}
		})
	}
}
