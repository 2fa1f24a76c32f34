package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/store"
)

func testDataKeys(t *testing.T, s *store.Store) {
	ctx := t.Context()
	got, err := s.DataKeys(ctx)
	if err != nil {
		t.Fatalf("DataKeys: %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("DataKeys of a fresh store: got %d keys, want 0", len(got))
	}
	keys := []keyring.WrappedKey{
		{ID: "key-c", MasterID: "master-2", Wrapped: []byte{3, 0, 0xff}, Created: t0.Add(time.Hour)},
		{ID: "key-b", MasterID: "master-1", Wrapped: []byte{2}, Created: t0},
		{ID: "key-a", MasterID: "master-1", Wrapped: []byte{1}, Created: t0},
	}
	for _, k := range keys {
		if err := s.AddDataKey(ctx, k); err != nil {
			t.Fatalf("AddDataKey(%q): %v", k.ID, err)
		}
	}
	if err := s.AddDataKey(ctx, keyring.WrappedKey{ID: "key-a", MasterID: "master-9", Wrapped: []byte{9}, Created: t0}); err == nil {
		t.Errorf("AddDataKey of a taken id: got no error, want one")
	}
	got, err = s.DataKeys(ctx)
	if err != nil {
		t.Fatalf("DataKeys: %v", err)
	}
	// Oldest first; equal times by id.
	want := []keyring.WrappedKey{keys[2], keys[1], keys[0]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DataKeys (-want +got):\n%s", diff)
	}
}

func addEvents(tb testing.TB, s *store.Store, events []twofold.AuditEvent) {
	tb.Helper()
	for _, e := range events {
		if err := s.AddEvent(tb.Context(), e); err != nil {
			tb.Fatalf("AddEvent(%q): %v", e.Type, err)
		}
	}
}

func events(tb testing.TB, s *store.Store, accountID string, before int64, limit int) []twofold.AuditEvent {
	tb.Helper()
	es, err := s.Events(tb.Context(), accountID, before, limit)
	if err != nil {
		tb.Fatalf("Events(%q, %d, %d): %v", accountID, before, limit, err)
	}
	return es
}

func testEventRoundTrip(t *testing.T, s *store.Store) {
	want := []twofold.AuditEvent{
		{AccountID: "acct-alice", Type: "login.failed", At: t0, Source: "192.0.2.1", UserAgent: "curl/8.0", Detail: "wrong code"},
		{AccountID: "", Type: "server.start", At: t0.Add(time.Microsecond)},
		{AccountID: "acct-alice", Type: "account.unlocked", At: t0.Add(time.Minute), Source: "192.0.2.9", Detail: "by operator carol",
			ByOperator: true, HolderDetail: "by an operator"},
		{AccountID: "acct-bob", Type: "factor.added", At: t0.Add(time.Hour), Source: "2001:db8::1", UserAgent: "Mozilla/5.0 «ü»", Detail: `it's "quoted"`},
	}
	addEvents(t, s, want)
	got := events(t, s, "", 0, 10)
	if len(got) != len(want) {
		t.Fatalf("Events: got %d events, want %d", len(got), len(want))
	}
	for i := range got {
		if i > 0 && got[i].ID >= got[i-1].ID {
			t.Errorf("Events: ids %d then %d, want newest (highest) first", got[i-1].ID, got[i].ID)
		}
	}
	// Newest first: reverse of insertion; ids are the store's.
	rev := make([]twofold.AuditEvent, len(want))
	for i, e := range want {
		rev[len(want)-1-i] = e
	}
	if diff := cmp.Diff(rev, got, cmpopts.IgnoreFields(twofold.AuditEvent{}, "ID")); diff != "" {
		t.Errorf("Events (-want +got):\n%s", diff)
	}
}

func testEventPages(t *testing.T, s *store.Store) {
	var in []twofold.AuditEvent
	for i := range 12 {
		account := []string{"acct-alice", "acct-bob", ""}[i%3]
		in = append(in, twofold.AuditEvent{AccountID: account, Type: fmt.Sprintf("event-%02d", i), At: t0.Add(time.Duration(i) * time.Second)})
	}
	addEvents(t, s, in)
	all := events(t, s, "", 0, 100)
	if len(all) != len(in) {
		t.Fatalf("Events: got %d, want %d", len(all), len(in))
	}
	of := func(account string) []twofold.AuditEvent {
		var out []twofold.AuditEvent
		for _, e := range all {
			if account == "" || e.AccountID == account {
				out = append(out, e)
			}
		}
		return out
	}
	types := func(es []twofold.AuditEvent) []string {
		out := []string{}
		for _, e := range es {
			out = append(out, e.Type)
		}
		return out
	}
	if diff := cmp.Diff([]string{"event-10", "event-07", "event-04", "event-01"}, types(of("acct-bob"))); diff != "" {
		t.Fatalf("bob's events (-want +got):\n%s", diff)
	}

	tests := []struct {
		name    string
		account string
		limit   int
	}{
		{"AllOneByOne", "", 1},
		{"AllByFive", "", 5},
		{"AllAtOnce", "", 12},
		{"AliceByThree", "acct-alice", 3},
		{"BobByTwo", "acct-bob", 2},
		{"BobByHundred", "acct-bob", 100},
		{"Nobody", "acct-nobody", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []twofold.AuditEvent
			before := int64(0)
			for pages := 0; ; pages++ {
				if pages > len(all)+1 {
					t.Fatalf("paging does not end")
				}
				page := events(t, s, tt.account, before, tt.limit)
				if len(page) > tt.limit {
					t.Fatalf("page of %d events, want at most %d", len(page), tt.limit)
				}
				if len(page) == 0 {
					break
				}
				got = append(got, page...)
				before = page[len(page)-1].ID
			}
			if diff := cmp.Diff(types(of(tt.account)), types(got)); diff != "" {
				t.Errorf("events over all pages (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("BeforeBeyondNewest", func(t *testing.T) {
		for _, before := range []int64{all[0].ID + 1, 1 << 40} {
			if diff := cmp.Diff(all, events(t, s, "", before, 100)); diff != "" {
				t.Errorf("Events before %d (-want +got):\n%s", before, diff)
			}
		}
	})
	t.Run("BeforeOldest", func(t *testing.T) {
		if got := events(t, s, "", all[len(all)-1].ID, 100); len(got) != 0 {
			t.Errorf("Events before the oldest: got %d, want 0", len(got))
		}
	})
}

// testLiveSessions: an account's sessions that still work are found through
// the events that made them, newest first; ended, expired or signed-out
// sessions, other events and other accounts' are not, however many events
// came between. The events read go back to the oldest session that still
// works, however long ago it was made: a session given a longer lifetime
// than later ones is listed as long as it works.
func testLiveSessions(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a, b := newAccount(t, s, "alice"), newAccount(t, s, "bob")
	now := t0.Add(3 * time.Hour)
	session := func(id, account string, epoch int64, created, expires time.Time) {
		t.Helper()
		if err := s.CreateSession(ctx, twofold.Session{ID: id, AccountID: account, TokenHash: []byte("h-" + id), CreatedAt: created,
			ExpiresAt: expires, ElevatedUntil: t0.Add(10 * time.Minute), Epoch: epoch}); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.LiveSessions(ctx, a.ID, 0, now, 10); err != nil || len(got) != 0 {
		t.Fatalf("no sessions at all: got %+v, %v", got, err)
	}
	// Session ids sort by the time they were made, as core's do.
	year, day := t0.Add(-365*24*time.Hour), t0.Add(24*time.Hour)
	session("s0-gone", b.ID, 0, year.Add(-24*time.Hour), now)  // expired: widens nothing
	session("s0-long", a.ID, 0, year, t0.Add(30*24*time.Hour)) // made under a year-long lifetime
	session("s1", a.ID, 0, t0, day)
	session("s1-expired", a.ID, 0, t0, now)
	session("s1-epoch", a.ID, 1, t0, day)
	session("s1-bob", b.ID, 0, t0, day)
	session("s1-old", a.ID, 0, t0, day)
	session("s2", a.ID, 0, t0, day)
	var evs []twofold.AuditEvent
	add := func(e twofold.AuditEvent) { evs = append(evs, e) }
	add(twofold.AuditEvent{AccountID: b.ID, Type: "login.succeeded", At: year.Add(-24 * time.Hour), SessionID: "s0-gone"})
	add(twofold.AuditEvent{AccountID: a.ID, Type: "login.succeeded", At: year, SessionID: "s0-long", Detail: "long"})
	for i := range 30 { // events between, of both accounts, over the year
		add(twofold.AuditEvent{AccountID: []string{a.ID, b.ID}[i%2], Type: "factor.created", At: year.Add(time.Duration(i) * 12 * 24 * time.Hour)})
	}
	add(twofold.AuditEvent{AccountID: a.ID, Type: "login.succeeded", At: t0, SessionID: "s1-old"})
	add(twofold.AuditEvent{AccountID: a.ID, Type: "login.succeeded", At: t0.Add(time.Hour), SessionID: "s1", Source: "192.0.2.1", UserAgent: "laptop", Detail: "password only"})
	add(twofold.AuditEvent{AccountID: a.ID, Type: "login.succeeded", At: t0.Add(time.Hour), SessionID: "s-ended"})
	add(twofold.AuditEvent{AccountID: a.ID, Type: "login.succeeded", At: t0.Add(time.Hour), SessionID: "s1-expired"})
	add(twofold.AuditEvent{AccountID: a.ID, Type: "login.succeeded", At: t0.Add(time.Hour), SessionID: "s1-epoch"})
	add(twofold.AuditEvent{AccountID: b.ID, Type: "login.succeeded", At: t0.Add(time.Hour), SessionID: "s1-bob"})
	add(twofold.AuditEvent{AccountID: a.ID, Type: "password.changed", At: t0.Add(2 * time.Hour), SessionID: "s2"})
	for i, e := range evs {
		if err := s.AddEvent(ctx, e); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	got, err := s.LiveSessions(ctx, a.ID, 0, now, 10)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, l := range got {
		ids = append(ids, l.Session.ID)
	}
	if diff := cmp.Diff([]string{"s2", "s1", "s1-old", "s0-long"}, ids); diff != "" {
		t.Fatalf("live sessions (-want +got):\n%s", diff)
	}
	if l := got[1]; l.Made.Source != "192.0.2.1" || l.Made.UserAgent != "laptop" || l.Made.Detail != "password only" ||
		!l.Session.ExpiresAt.Equal(day) || !l.Session.ElevatedUntil.Equal(t0.Add(10*time.Minute)) || got[0].Made.Type != "password.changed" {
		t.Fatalf("s1 as listed: %+v", l)
	}
	if l := got[3]; l.Made.Detail != "long" || !l.Session.CreatedAt.Equal(year) {
		t.Fatalf("s0-long as listed: %+v", l)
	}
	if got, _ := s.LiveSessions(ctx, a.ID, 0, now, 1); len(got) != 1 || got[0].Session.ID != "s2" {
		t.Fatalf("limit 1: got %+v", got)
	}
	if got, _ := s.LiveSessions(ctx, a.ID, 0, t0.Add(30*24*time.Hour), 10); len(got) != 0 {
		t.Fatalf("once all have expired: got %+v", got)
	}
	if all, _ := s.Events(ctx, a.ID, 0, 100); all[0].SessionID != "s2" || all[1].SessionID != "s1-epoch" {
		t.Fatalf("Events: got %+v, want the session ids kept", all[:2])
	}
}

// testLiveSessionsClockBack: a session is listed while it works however
// the times of the events recorded after it go back, as they do when a
// clock is stepped back or the instances' clocks disagree: here by two
// minutes and by most of a session's lifetime.
func testLiveSessionsClockBack(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a, b := newAccount(t, s, "carol"), newAccount(t, s, "dave")
	lifetime := 12 * time.Hour
	for round, back := range []time.Duration{2 * time.Minute, lifetime - time.Minute} {
		made := t0.Add(time.Duration(round) * 24 * time.Hour)
		id := fmt.Sprintf("s-%d", made.Unix())
		if err := s.CreateSession(ctx, twofold.Session{ID: id, AccountID: a.ID, TokenHash: []byte("h-" + id), CreatedAt: made,
			ExpiresAt: made.Add(lifetime), ElevatedUntil: made}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddEvent(ctx, twofold.AuditEvent{AccountID: a.ID, Type: "login.succeeded", At: made, SessionID: id}); err != nil {
			t.Fatal(err)
		}
		for i := range 7 { // failed logins recorded by a clock stepped back
			if err := s.AddEvent(ctx, twofold.AuditEvent{AccountID: []string{a.ID, b.ID}[i%2], Type: "login.failed", At: made.Add(-back)}); err != nil {
				t.Fatal(err)
			}
		}
		for _, now := range []time.Time{made.Add(-back), made.Add(time.Hour)} { // the clock still back, then right again
			got, err := s.LiveSessions(ctx, a.ID, 0, now, 10)
			if err != nil || len(got) == 0 || got[0].Session.ID != id {
				t.Fatalf("clock back %v, now %v: got %+v, %v; want %s first", back, now.Sub(made), got, err, id)
			}
		}
	}
}

// testLiveSessionsAnySkew: a session that works is listed however far off
// the clocks of the instances that recorded the events after it were, many
// lifetimes behind or ahead: the events are read from the sessions' event
// floors, which come from the database, not from their times.
func testLiveSessionsAnySkew(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a, b := newAccount(t, s, "erin"), newAccount(t, s, "frank")
	lifetime := 12 * time.Hour
	far := 3 * lifetime
	// Session ids sort by the time they were made, as core's do.
	session := func(made time.Time) string {
		t.Helper()
		id := fmt.Sprintf("s-%d", made.Unix())
		if err := s.CreateSession(ctx, twofold.Session{ID: id, AccountID: a.ID, TokenHash: []byte("h-" + id), CreatedAt: made,
			ExpiresAt: made.Add(lifetime), ElevatedUntil: made}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddEvent(ctx, twofold.AuditEvent{AccountID: a.ID, Type: "login.succeeded", At: made, SessionID: id, Detail: "made " + id}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	noise := func(at time.Time, n int) { // failed logins of both accounts
		t.Helper()
		for i := range n {
			if err := s.AddEvent(ctx, twofold.AuditEvent{AccountID: []string{a.ID, b.ID}[i%2], Type: "login.failed", At: at}); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := func(what string, now time.Time, ids ...string) {
		t.Helper()
		got, err := s.LiveSessions(ctx, a.ID, 0, now, 10)
		if err != nil {
			t.Fatal(err)
		}
		gotIDs := []string{}
		for _, l := range got {
			gotIDs = append(gotIDs, l.Session.ID)
			if l.Made.Detail != "made "+l.Session.ID {
				t.Errorf("%s: %s listed with the event %+v", what, l.Session.ID, l.Made)
			}
		}
		if diff := cmp.Diff(ids, gotIDs); diff != "" {
			t.Errorf("%s: live sessions (-want +got):\n%s", what, diff)
		}
	}

	// A clock far behind records events after a session made by a clock
	// that is right: the session is listed by either.
	right := session(t0)
	noise(t0.Add(-far), 7)
	want("clock behind, listed by it", t0.Add(-far), right)
	want("clock behind, listed by the clock right", t0.Add(time.Hour), right)

	// A clock far ahead makes a session; the clock right records events
	// and, two lifetimes and a half later, a session of its own, which
	// sorts first by its id: the one made ahead still works, and is listed.
	r1 := t0.Add(10 * 24 * time.Hour)
	ahead := session(r1.Add(far))
	noise(r1, 20)
	r2 := r1.Add(5 * lifetime / 2)
	later := session(r2)
	want("clock ahead, listed by the clock right", r2.Add(time.Hour), later, ahead)
	want("clock ahead, listed by it", r1.Add(far+time.Hour), later, ahead)
}

// testEventFilter: a type filter keeps only events of those types, paging
// newest first by Before or oldest first from After, of one account or all;
// reading forward from the last id seen returns each event once while more
// are added between the reads.
func testEventFilter(t *testing.T, s *store.Store) {
	ctx := t.Context()
	kinds := []string{"login.succeeded", "login.failed", "account.suspended"}
	n := 0 // events added: event i has detail i
	add := func() {
		addEvents(t, s, []twofold.AuditEvent{{AccountID: []string{"acct-alice", "acct-bob"}[n%2], Type: kinds[n%3], At: t0.Add(time.Duration(n) * time.Second), Detail: fmt.Sprint(n)}})
		n++
	}
	query := func(t *testing.T, q twofold.EventQuery) []twofold.AuditEvent {
		t.Helper()
		es, err := s.QueryEvents(ctx, q)
		if err != nil {
			t.Fatalf("QueryEvents(%+v): %v", q, err)
		}
		return es
	}
	details := func(es []twofold.AuditEvent) []string {
		out := []string{}
		for _, e := range es {
			out = append(out, e.Detail)
		}
		return out
	}
	for range 12 {
		add()
	}
	all := query(t, twofold.EventQuery{Limit: 100}) // newest first: all[11-i] has detail i
	id := func(i int) int64 { return all[len(all)-1-i].ID }
	tests := []struct {
		name string
		q    twofold.EventQuery
		want []string
	}{
		{"OneType", twofold.EventQuery{Types: []string{"login.failed"}, Limit: 10}, []string{"10", "7", "4", "1"}},
		{"TwoTypes", twofold.EventQuery{Types: []string{"login.failed", "account.suspended"}, Limit: 5}, []string{"11", "10", "8", "7", "5"}},
		{"TypeOfAccount", twofold.EventQuery{AccountID: "acct-bob", Types: []string{"login.failed"}, Limit: 10}, []string{"7", "1"}},
		{"TypeBefore", twofold.EventQuery{Types: []string{"login.succeeded"}, Before: id(6), Limit: 10}, []string{"3", "0"}},
		{"UnknownType", twofold.EventQuery{Types: []string{"no.such"}, Limit: 10}, []string{}},
		{"TypeIsExact", twofold.EventQuery{Types: []string{"login"}, Limit: 10}, []string{}},
		{"ForwardFromStart", twofold.EventQuery{Forward: true, Limit: 4}, []string{"0", "1", "2", "3"}},
		{"ForwardAfter", twofold.EventQuery{Forward: true, After: id(8), Limit: 10}, []string{"9", "10", "11"}},
		{"ForwardTypeOfAccount", twofold.EventQuery{AccountID: "acct-alice", Types: []string{"login.succeeded", "account.suspended"}, Forward: true, After: id(0), Limit: 3}, []string{"2", "6", "8"}},
		{"ForwardPastNewest", twofold.EventQuery{Forward: true, After: id(11) + 1<<40, Limit: 10}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, details(query(t, tt.q))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	for name, account := range map[string]string{"Polling/All": "", "Polling/Bob": "acct-bob"} {
		t.Run(name, func(t *testing.T) {
			q := twofold.EventQuery{AccountID: account, Types: []string{"login.failed", "login.succeeded"}, Forward: true, Limit: 2}
			var got []string
			stop := n + 12
			for polls := 0; ; polls++ {
				if polls > 40 {
					t.Fatal("polling does not end")
				}
				page := query(t, q)
				if len(page) > q.Limit {
					t.Fatalf("page of %d, want at most %d", len(page), q.Limit)
				}
				for i, e := range page {
					if i > 0 && e.ID <= page[i-1].ID {
						t.Fatalf("ids %d then %d, want oldest first", page[i-1].ID, e.ID)
					}
					got = append(got, e.Detail)
				}
				if len(page) > 0 {
					q.After = page[len(page)-1].ID
				} else if n >= stop {
					break
				}
				if n < stop { // an event arrives between two polls
					add()
				}
			}
			want := details(query(t, twofold.EventQuery{AccountID: account, Types: q.Types, Limit: 100}))
			slices.Reverse(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("polled (-want +got):\n%s", diff)
			}
		})
	}
}

// testEventsForwardNeverSkip: polling forward from an id never passes over
// an event. On PostgreSQL a transaction that took a lower id and commits
// later holds the page back until it commits (SQLite's one writer commits
// in id order, so the same polls simply see each event as it commits).
func testEventsForwardNeverSkip(t *testing.T, s *store.Store) {
	ctx := t.Context()
	add := func(ctx context.Context, typ string) {
		t.Helper()
		if err := s.AddEvent(ctx, twofold.AuditEvent{Type: typ, At: t0}); err != nil {
			t.Fatal(err)
		}
	}
	poll := func(after int64) []string {
		t.Helper()
		evs, err := s.QueryEvents(ctx, twofold.EventQuery{Forward: true, After: after, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, e := range evs {
			types = append(types, e.Type)
		}
		return types
	}
	add(ctx, "test.first")
	evs, err := s.QueryEvents(ctx, twofold.EventQuery{Limit: 1})
	if err != nil || len(evs) != 1 {
		t.Fatalf("the first event: %v, %v", evs, err)
	}
	first := evs[0].ID
	if s.Dialect() == store.Postgres {
		held, wrote, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			done <- s.InTx(ctx, func(ctx context.Context) error {
				add(ctx, "test.held")
				close(wrote)
				<-held
				return nil
			})
		}()
		<-wrote
		add(ctx, "test.later") // a higher id, committed first
		if got := poll(first); len(got) != 0 {
			t.Fatalf("a poll while an older transaction is open: %v, want nothing (it would pass over test.held)", got)
		}
		close(held)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	} else {
		add(ctx, "test.held")
		add(ctx, "test.later")
	}
	if got := poll(first); !slices.Equal(got, []string{"test.held", "test.later"}) {
		t.Errorf("a poll after both committed: %v, want test.held, test.later", got)
	}
	if s.Dialect() != store.Postgres {
		return
	}
	// Under steady load, where transactions always overlap (each one
	// commits only once three newer ones have written, and they start a
	// couple of milliseconds apart), polls still move on: they wait for
	// the transactions open as they look, not for a moment with none open
	// below the newest, which never comes.
	stop, chained := make(chan struct{}), make(chan error, 1)
	var written atomic.Int64 // transactions of the load that have written their event
	go func() {
		var open []chan struct{} // a release for each transaction still open, oldest first
		var wg sync.WaitGroup
		defer func() {
			for _, c := range open {
				close(c)
			}
			wg.Wait()
			chained <- nil
		}()
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond): // the pace of the load, not a time step
			}
			release, wrote := make(chan struct{}), make(chan struct{})
			wg.Go(func() {
				err := s.InTx(ctx, func(ctx context.Context) error {
					if err := s.AddEvent(ctx, twofold.AuditEvent{Type: "test.load", At: t0}); err != nil {
						return err
					}
					close(wrote)
					<-release
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			})
			<-wrote
			written.Add(1)
			if open = append(open, release); len(open) > 3 {
				close(open[0])
				open = open[1:]
			}
		}
	}()
	// Polled until one moves on, or until the load has written 200 events
	// (a count, not a time: on a busy machine the load may have written
	// only a few when the first polls look).
	moved := 0
	for polls := 0; moved == 0 && (polls < 10 || written.Load() < 200); polls++ {
		if len(poll(first)) > 2 {
			moved++
		}
	}
	close(stop)
	<-chained
	if moved == 0 {
		t.Error("no poll moved on while transactions kept overlapping")
	}
}
