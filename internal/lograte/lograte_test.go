package lograte

import (
	"testing"
	"time"
)

func TestAllow(t *testing.T) {
	l := &Limiter{Every: time.Minute}
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for _, step := range []struct {
		name     string
		advance  time.Duration
		ok       bool
		wantHeld int
	}{
		{"the first line", 0, true, 0},
		{"again at once", 0, false, 0},
		{"within the minute", 59 * time.Second, false, 0},
		{"a minute after the first", time.Second, true, 2},
		{"again at once", 0, false, 0},
		{"the clock went back", -time.Hour, true, 1},
		{"then on", time.Second, false, 0},
	} {
		now = now.Add(step.advance)
		ok, held := l.Allow(now)
		if ok != step.ok || held != step.wantHeld {
			t.Errorf("%s: got %v with %d held, want %v with %d", step.name, ok, held, step.ok, step.wantHeld)
		}
	}
}
