package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSuspendedDeviceRecorded: a push device that keeps asking while its
// account is suspended is refused (403) and recorded as
// push.device_refused, naming the device: its first request, and then
// one an hour at most however often it asks, so that a device left
// polling does not fill the log. On SQLite and PostgreSQL, over the
// device's HTTP API.
func TestSuspendedDeviceRecorded(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f, d := pushEndedFixture(t, dsn)
		s, ctx := f.s, context.Background()
		if r := f.opc.Do(t, "POST", "/v1/admin/users/"+f.userID+"/suspend", nil); r.Status != 200 {
			t.Fatalf("suspend: got %d %s", r.Status, r.Body)
		}
		poll := func(n int) {
			t.Helper()
			for range n {
				if _, err := d.Challenges(ctx, 0); !isProblem(err, 403, "forbidden") {
					t.Fatalf("poll of a suspended account's device: %v, want 403 forbidden", err)
				}
			}
		}
		poll(5)
		if n := countEvents(t, s, f.userID, "push.device_refused"); n != 1 {
			t.Errorf("after 5 polls: %d push.device_refused events, want 1", n)
		}
		evs, err := s.Store.Events(ctx, f.userID, 0, 200)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Type == "push.device_refused" && (!strings.Contains(e.Detail, d.State.DeviceID) || e.Source == "") {
				t.Errorf("push.device_refused: detail %q from %q, want the device named and the source address", e.Detail, e.Source)
			}
		}

		s.Clock.Add(time.Hour)
		poll(3)
		if n := countEvents(t, s, f.userID, "push.device_refused"); n != 2 {
			t.Errorf("an hour later, after 3 more polls: %d push.device_refused events, want 2", n)
		}
	})
}
