package store

import (
	"strings"
	"testing"
)

// TestHeldKeyColumns: HoldAPIKey's join reads, of each table, the columns
// its scanner reads in their order (accountColumns, apiKeyColumns).
func TestHeldKeyColumns(t *testing.T) {
	got := strings.NewReplacer("a.", "", "k.", "").Replace(heldKeyColumns)
	if want := accountColumns + ", " + apiKeyColumns; got != want {
		t.Errorf("heldKeyColumns unqualified:\ngot  %s\nwant %s", got, want)
	}
}

// TestHeldSessionColumns: HoldSession's join reads, of each table, the
// columns its scanner reads in their order (accountColumns,
// sessionColumns).
func TestHeldSessionColumns(t *testing.T) {
	got := strings.NewReplacer("a.", "", "s.", "").Replace(heldSessionColumns)
	if want := accountColumns + ", " + sessionColumns; got != want {
		t.Errorf("heldSessionColumns unqualified:\ngot  %s\nwant %s", got, want)
	}
}
