package httpapi_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/testenv"
)

// eventsTotal returns twofold_events_total of type typ on /metrics, every
// cause together.
func eventsTotal(t *testing.T, s *testenv.Server, typ string) int {
	t.Helper()
	n := 0.0
	if f, ok := scrape(t, s)["twofold_events_total"]; ok {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "type" && l.GetValue() == typ {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return int(n)
}

// TestRefusalsRecordedOncePerMinute: requests refused by a limit on a
// client address (sign-ins, password-reset requests, codes sent) write one
// audit event a minute per address and limit, not one each, so that a
// flood cannot fill the audit log, its webhooks and the database; /metrics
// counts every refusal.
func TestRefusalsRecordedOncePerMinute(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := testenv.NewSMSGateway(t)
			mb := testenv.NewSMTPServer(t)
			s := testenv.NewServer(t, dsn(t), g.Option(), mb.Option("Twofold <twofold@example.com>"), behindProxy,
				func(c *config.Config) { c.LoginBurst, c.LoginRate = 10, 0.001 })
			want := func(typ string, stored, counted int) {
				t.Helper()
				if got := countEvents(t, s, "", typ); got != stored {
					t.Errorf("%s events stored: got %d, want %d", typ, got, stored)
				}
				if got := eventsTotal(t, s, typ); got != counted {
					t.Errorf("%s on /metrics: got %d, want %d", typ, got, counted)
				}
			}
			// flood sends n sign-ins from addr and returns how many were refused.
			flood := func(addr string, n int) int {
				t.Helper()
				c, refused := from(testenv.NewClient(s.URL()), addr), 0
				for i := range n {
					r := c.Do(t, "POST", "/v1/login", map[string]string{"username": fmt.Sprint("x", i), "password": "whatever12"})
					switch r.Status {
					case 401:
					case 429:
						refused++
					default:
						t.Fatalf("sign-in %d from %s: got %d %s", i, addr, r.Status, r.Body)
					}
				}
				return refused
			}
			if n := flood("192.0.2.9", 30); n != 20 {
				t.Fatalf("refused %d of 30 sign-ins, want 20", n)
			}
			want("login.throttled", 1, 20)
			if n := flood("192.0.2.10", 13); n != 3 {
				t.Fatalf("refused %d of 13 sign-ins, want 3", n)
			}
			want("login.throttled", 2, 23)
			s.Clock.Add(time.Minute)
			flood("192.0.2.9", 1)
			want("login.throttled", 3, 24)

			asker := from(testenv.NewClient(s.URL()), "192.0.2.20")
			for i := range 9 { // 5 at once, then one a minute
				r := asker.Do(t, "POST", "/v1/password-reset", map[string]string{"username": "nobody"})
				if st := map[bool]int{true: 202, false: 429}[i < 5]; r.Status != st {
					t.Fatalf("password-reset request %d: got %d %s, want %d", i, r.Status, r.Body, st)
				}
			}
			want("password.reset_throttled", 1, 4)

			addUser(t, s, "vic")
			id, _ := enrolPhone(t, login(t, s, "vic"), g, phone, phoneE164, "mobile")
			loginID, _ := startLogin(t, s, "vic")
			c := from(testenv.NewClient(s.URL()), "192.0.2.30")
			sec := ""          // resends carry the first send's code_secret
			for i := range 9 { // 5 codes to one number at once
				r := c.Do(t, "POST", "/v1/login/"+loginID+"/challenge", map[string]string{"method": "sms", "factor_id": id, "code_secret": sec})
				if st := map[bool]int{true: 202, false: 429}[i < 5]; r.Status != st {
					t.Fatalf("challenge %d: got %d %s, want %d", i, r.Status, r.Body, st)
				}
				if i == 0 {
					sec = r.String("code_secret")
				}
			}
			want("code.send_throttled", 1, 4)
			s.Service.Wait()
		})
	}
}

// TestSuppressedNotesUncounted: past its bound on an account's events of
// one type, the log notes audit.suppressed, which only an account's
// events ever make; /metrics, which anyone may read, does not count it, or
// a burst of wrong passwords for a name would tell whether it is an
// account's.
func TestSuppressedNotesUncounted(t *testing.T) {
	s := testenv.NewServer(t, testenv.SQLiteDSN(t), behindProxy)
	addUser(t, s, "sue")
	a, err := s.Store.AccountByUsername(t.Context(), "sue")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		c := from(testenv.NewClient(s.URL()), fmt.Sprintf("192.0.2.%d", i+1))
		for _, name := range []string{"sue", "nobody-at-all"} {
			if r := c.Do(t, "POST", "/v1/login", map[string]string{"username": name, "password": "wrong password 1"}); r.Status != 401 && r.Status != 429 {
				t.Fatalf("a wrong password for %s: %d %s", name, r.Status, r.Body)
			}
		}
	}
	if n := countEvents(t, s, a.ID, "audit.suppressed"); n != 1 {
		t.Fatalf("sue's log holds %d audit.suppressed notes, want 1 (the premise)", n)
	}
	if n := eventsTotal(t, s, "audit.suppressed"); n != 0 {
		t.Errorf("/metrics counts %d audit.suppressed, want 0", n)
	}
}
