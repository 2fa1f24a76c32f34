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

// TestSessionsBelow: the bound the sweep walks sessions' IDs up to lies
// after the ID of every session expired before the sweep's time (made a
// session lifetime earlier, to the microsecond, in the same millisecond
// too), and before the IDs of sessions made later than a millisecond
// after that, which cannot have expired.
func TestSessionsBelow(t *testing.T) {
	s := &Service{rand: rand.Reader}
	const ttl = 12 * time.Hour
	before := time.Date(2026, 12, 3, 12, 0, 0, 500_000, time.UTC)
	for _, c := range []struct {
		name    string
		made    time.Time
		expired bool
	}{
		{"a day before", before.Add(-24 * time.Hour), true},
		{"expired a microsecond before", before.Add(-ttl - time.Microsecond), true},
		{"same millisecond, expired", before.Add(-ttl).Truncate(time.Millisecond), true},
		{"expires at the sweep's time", before.Add(-ttl), false},
		{"two milliseconds later", before.Add(-ttl + 2*time.Millisecond), false},
		{"an hour ago", before.Add(-time.Hour), false},
	} {
		for range 50 {
			id, err := s.newOrderedID(c.made)
			if err != nil {
				t.Fatal(err)
			}
			expired := c.made.Add(ttl).Before(before)
			if expired != c.expired {
				t.Fatalf("%s: the case's session expired: %v, want %v", c.name, expired, c.expired)
			}
			below := id < sessionsBelow(before, ttl)
			if c.expired && !below {
				t.Errorf("%s: id %s, made %s, does not sort below %s", c.name, id, c.made, sessionsBelow(before, ttl))
			}
			if c.name != "expires at the sweep's time" && !c.expired && below {
				t.Errorf("%s: id %s, made %s, sorts below %s: the walk goes further than it need", c.name, id, c.made, sessionsBelow(before, ttl))
			}
		}
	}
}
