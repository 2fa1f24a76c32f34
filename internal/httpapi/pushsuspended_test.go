package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/pushdevice"
	"github.com/twofold/twofold/internal/testenv"
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

// TestSuspendedDeviceTokenOnce: a suspended account's device that keeps
// asking costs each instance one take of the event's token in the database
// an hour, not one a request: once an instance took it (or found it taken
// by another), it asks its own memory until the next token is due. The
// database's token stays the authority between instances: the event is
// recorded once an hour, whichever instance the device asks. To see that no
// take is made, the token's row is swept away after the first: a take
// would make it again. On SQLite and PostgreSQL, over two instances on one
// database.
func TestSuspendedDeviceTokenOnce(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f, d := pushEndedFixture(t, dsn)
		s, ctx := f.s, context.Background()
		b := testenv.NewServer(t, dsn, func(c *config.Config) { c.KeyFile = s.Config.KeyFile })
		b.Clock.Set(s.Clock.Now())
		db := *d
		db.Server = b.URL()
		if r := f.opc.Do(t, "POST", "/v1/admin/users/"+f.userID+"/suspend", nil); r.Status != 200 {
			t.Fatalf("suspend: got %d %s", r.Status, r.Body)
		}
		poll := func(c *pushdevice.Client, n int) {
			t.Helper()
			for range n {
				if _, err := c.Challenges(ctx, 0); !isProblem(err, 403, "forbidden") {
					t.Fatalf("poll of a suspended account's device: %v, want 403 forbidden", err)
				}
			}
		}
		key := "push:suspended:" + d.State.DeviceID
		token := func() (bool, time.Time) {
			t.Helper()
			_, at, found, err := s.Store.Bucket(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			return found, at
		}
		events := func(when string, want int) {
			t.Helper()
			if n := countEvents(t, s, f.userID, "push.device_refused"); n != want {
				t.Errorf("%s: %d push.device_refused events, want %d", when, n, want)
			}
		}

		poll(d, 3)   // A takes the token
		poll(&db, 3) // B finds it taken
		events("after polls on both instances", 1)
		if found, at := token(); !found || !at.Equal(s.Clock.Now()) {
			t.Fatalf("the token: found %v at %v, want taken at %v", found, at, s.Clock.Now())
		}
		if err := s.Store.DeleteStaleThrottles(ctx, s.Clock.Now().Add(time.Second), nil); err != nil {
			t.Fatal(err)
		}
		poll(d, 5)
		poll(&db, 5)
		if found, _ := token(); found {
			t.Errorf("after 10 more polls within the hour: the token was taken again, want no take by either instance")
		}
		events("after 10 more polls within the hour", 1)

		s.Clock.Add(time.Hour)
		b.Clock.Add(time.Hour)
		poll(&db, 3) // B's hour is up: it takes the token
		poll(d, 3)   // A's too: it finds it taken
		events("an hour later, after polls on both instances", 2)
		if found, at := token(); !found || !at.Equal(s.Clock.Now()) {
			t.Errorf("an hour later: token found %v at %v, want taken at %v", found, at, s.Clock.Now())
		}
	})
}
