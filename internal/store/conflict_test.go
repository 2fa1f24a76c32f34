package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twofold/twofold"
)

// TestTxConflict: PostgreSQL's deadlock, serialization failure and aborted
// transaction errors are marked to be run again; nothing else is.
func TestTxConflict(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{errors.New("ERROR: deadlock detected (SQLSTATE 40P01)"), true},
		{fmt.Errorf("complete second step: %w", errors.New("ERROR: could not serialize access (SQLSTATE 40001)")), true},
		{errors.New("ERROR: current transaction is aborted, commands ignored until end of transaction block (SQLSTATE 25P02)"), true},
		{errors.New("ERROR: duplicate key value violates unique constraint (SQLSTATE 23505)"), false},
		{twofold.Errorf(twofold.CodeConflict, "the factor changed meanwhile"), false},
		{nil, false},
	} {
		if got := errors.Is(txConflict(tc.err), twofold.ErrTxConflict); got != tc.want {
			t.Errorf("txConflict(%v): marked %v, want %v", tc.err, got, tc.want)
		}
	}
}
