package httpapi_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// countOf counts the events of type typ in types.
func countOf(types []string, typ string) int {
	n := 0
	for _, t := range types {
		if t == typ {
			n++
		}
	}
	return n
}

// TestRecoveryFailuresMailed: wrong recovery codes and paper keys sent to
// the second step from two addresses get the same 401 as ever, and at the
// fifth the holder is mailed once, naming both addresses and no code
// (README "Notifications").
func TestRecoveryFailuresMailed(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mb := testenv.NewSMTPServer(t)
			s := testenv.NewServer(t, dsn(t), mb.Option("Twofold <twofold@example.com>"), behindProxy)
			c, f := phoneUser(t, s, "rita")
			const wrongCode, wrongKey = "aaaa-bbbb-cccc-dddd", "aaaa-bbbb-cccc-dddd-eeee-ffff-gggg-hhhh"
			code := func(string) map[string]any { return map[string]any{"method": "recovery_code", "code": wrongCode} }
			key := func(string) map[string]any { return map[string]any{"method": "paper_key", "code": wrongKey} }
			failFrom(t, s, "rita", "203.0.113.5", 3, code)
			failFrom(t, s, "rita", "198.51.100.23", core.GuessNoticeAfter-3, key)
			body := mailWith(t, mb, "failed attempts with recovery codes or your paper key")
			for _, want := range []string{"failed 5 times", "203.0.113.5", "198.51.100.23"} {
				if !strings.Contains(body, want) {
					t.Errorf("notice %q lacks %q", body, want)
				}
			}
			for _, secret := range append([]string{wrongCode, wrongKey, f.paperKey}, f.codes...) {
				if strings.Contains(body, secret) {
					t.Errorf("notice carries a code: %q", body)
				}
			}
			failFrom(t, s, "rita", "203.0.113.5", 3, code) // within the day: no more notices
			s.Clock.Add(time.Minute)
			if n := countOf(eventTypes(t, c), "recovery.failures_reported"); n != 1 {
				t.Errorf("recovery.failures_reported events: %d, want 1", n)
			}
		})
	}
}

// TestUnapprovedPushesMailed: push requests for five sign-ins that went
// without an approval (one denied, the rest unanswered) mail the holder,
// when the next one is sent, telling them not to approve what they did
// not start (README "Push approval").
func TestUnapprovedPushesMailed(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		c, d := pushUser(t, s, "pia")
		for i := range core.PushFatigueLimit {
			loginID, _ := startLogin(t, s, "pia")
			ch := pushChallenge(t, s, loginID)
			if i == 0 {
				if _, err := d.Deny(context.Background(), ch.String("challenge_id")); err != nil {
					t.Fatalf("deny: %v", err)
				}
			}
			s.Clock.Add(time.Minute)
		}
		s.Clock.Add(core.PushTTL) // the last ones expire unanswered
		loginID, _ := startLogin(t, s, "pia")
		pushChallenge(t, s, loginID)
		body := mailWith(t, mb, "sign-in requests you did not approve")
		for _, want := range []string{"Do not approve", "change your password"} {
			if !strings.Contains(body, want) {
				t.Errorf("notice %q lacks %q", body, want)
			}
		}
		if ev := eventTypes(t, c); !slices.Contains(ev, "push.unapproved_reported") {
			t.Errorf("events %v lack push.unapproved_reported", ev)
		}
	})
}
