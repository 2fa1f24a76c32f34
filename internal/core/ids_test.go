package core

import (
	"crypto/rand"
	"testing"
	"time"
)

// TestOrderedIDs: session IDs sort as their times do, even a millisecond
// apart, and stay distinct within one millisecond.
func TestOrderedIDs(t *testing.T) {
	s := &Service{rand: rand.Reader}
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	prev := ""
	seen := map[string]bool{}
	for i := range 2000 {
		id, err := s.newOrderedID(at.Add(time.Duration(i/2) * time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 26 {
			t.Fatalf("id %q: %d characters, want 26", id, len(id))
		}
		if seen[id] {
			t.Fatalf("id %q twice", id)
		}
		seen[id] = true
		// Two IDs of one millisecond may come in either order; a later
		// millisecond always sorts after.
		if i%2 == 0 && id <= prev {
			t.Errorf("id %d %q sorts before the previous millisecond's %q", i, id, prev)
		}
		if i%2 == 1 {
			prev = max(prev, id)
		} else {
			prev = id
		}
	}
	// 48 bits of milliseconds last until the year 10889.
	late, err := s.newOrderedID(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || late <= prev {
		t.Errorf("an id of the year 9999 (%q, %v) does not sort after %q", late, err, prev)
	}
}
