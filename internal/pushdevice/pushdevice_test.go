package pushdevice

import (
	"net/http"
	"testing"
	"time"
)

func TestErrorWait(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 10, 0, time.UTC)
	for _, tc := range []struct {
		name, retryAfter string
		want             time.Duration
	}{
		{"none", "", 0},
		{"seconds", "7", 7 * time.Second},
		{"seconds with spaces", " 120 ", 2 * time.Minute},
		{"zero", "0", 0},
		{"date ahead", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"date past", now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"negative", "-5", 0},
		{"fraction", "1.5", 0},
		{"garbage", "soon", 0},
		{"too large", "99999999999999999999", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &Error{Status: 503, RetryAfter: tc.retryAfter}
			if got := e.Wait(now); got != tc.want {
				t.Errorf("Wait with Retry-After %q = %v, want %v", tc.retryAfter, got, tc.want)
			}
		})
	}
}

func TestErrorWithoutProblem(t *testing.T) {
	e := &Error{Status: 502}
	if got, want := e.Error(), "server answered 502: Bad Gateway"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
