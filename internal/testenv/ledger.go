package testenv

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// Padded returns body with spaces after it up to n bytes: a JSON body
// reads the same, so that the only difference between a body of a bound
// and one over it is one byte of white space.
func Padded(tb testing.TB, body string, n int) string {
	tb.Helper()
	if len(body) > n {
		tb.Fatalf("body of %d bytes, longer than %d", len(body), n)
	}
	return body + strings.Repeat(" ", n-len(body))
}

// Ledger returns, as text to compare, what a refused request must leave as
// it was: every throttle counter of s's store (password and code attempts,
// sends, tokens) and the audit log of account accountID.
func Ledger(tb testing.TB, s *Server, accountID string) string {
	tb.Helper()
	ctx := context.Background()
	cs, err := s.Store.Counters(ctx, "")
	if err != nil {
		tb.Fatal(err)
	}
	evs, err := s.Store.Events(ctx, accountID, 0, 500)
	if err != nil {
		tb.Fatal(err)
	}
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "counter %s %d %s\n", c.Key, c.Failures, c.LockedUntil)
	}
	for _, e := range evs {
		fmt.Fprintf(&b, "event %d %s\n", e.ID, e.Type)
	}
	return b.String()
}
