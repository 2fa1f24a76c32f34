// Package lograte lets through at most one log line a period of those that
// something anyone can repeat (a request, a query) would write each time, so
// that a flood neither fills the log nor hides the problem: the first line
// comes at once, and one more each period while it goes on, however long the
// server has run.
package lograte

import (
	"sync"
	"time"
)

// Limiter lets a line through at most once every Every. Its zero value with
// Every set is ready; it is safe for concurrent use.
type Limiter struct {
	Every time.Duration

	mu   sync.Mutex
	last time.Time // when a line was last let through; zero: never
	held int       // lines held back since then
}

// Allow reports whether a line is due at now, and, when it is, how many
// were held back since the last one (for the line to tell). A clock that
// went back lets the line through, as a new period.
func (l *Limiter) Allow(now time.Time) (ok bool, held int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.Every && !now.Before(l.last) {
		l.held++
		return false, 0
	}
	held, l.held, l.last = l.held, 0, now
	return true, held
}
