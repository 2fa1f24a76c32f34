package notify

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempts int
		want     time.Duration
	}{
		{1, 30 * time.Second},
		{2, time.Minute},
		{3, 2 * time.Minute},
		{7, 32 * time.Minute},
		{8, time.Hour},
		{9, time.Hour},
		{1000, time.Hour},
	} {
		if got := Backoff(tc.attempts); got != tc.want {
			t.Errorf("Backoff(%d): got %s, want %s", tc.attempts, got, tc.want)
		}
	}
	// Over a day at most every hour: about 30 attempts before giving up.
	var n int
	for d := time.Duration(0); d < DefaultGiveUp; n++ {
		d += Backoff(n + 1)
	}
	if n < 20 || n > 40 {
		t.Errorf("got %d attempts in %s, want 20..40", n, DefaultGiveUp)
	}
}

func TestRedact(t *testing.T) {
	const alice = "alice@example.com"
	for _, tc := range []struct{ name, to, in, want string }{
		{"as sent", alice, "550 5.1.1 <alice@example.com>: Recipient address rejected", "550 5.1.1 <…@example.com>: Recipient address rejected"},
		{"other case", alice, "550 5.1.1 ALICE@Example.COM unknown", "550 5.1.1 …@example.com unknown"},
		{"twice", alice, "alice@example.com alice@example.com", "…@example.com …@example.com"},
		{"absent", alice, "451 4.3.0 try again later", "451 4.3.0 try again later"},
		{"as sent to a non-ASCII domain", "Erin.Private@exämple.com", "550 5.1.1 <Erin.Private@xn--exmple-cua.com>: Recipient address rejected", "550 5.1.1 <…@exämple.com>: Recipient address rejected"},
		{"regexp characters", "a+b.c@example.com", "a+b.c@example.com and aab.c@example.com", "…@example.com and aab.c@example.com"},
	} {
		if got := redact(tc.in, tc.to); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
