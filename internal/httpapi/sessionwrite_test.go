package httpapi_test

import (
	"context"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// TestWriteOfSessionSignedOutMeanwhile: over HTTP, a write sent with a
// stolen session that the door let in just before the owner signed out
// everywhere does not land after the sign-out is answered: the write
// waits for the sign-out (it holds the account's row) and is then refused
// as the door refuses the session, 401 problem+json, with no API key made
// and no event of one. On PostgreSQL, where the test can see the write
// wait; the core tests interleave the same on both stores
// (TestSessionWritesOfSessionEndedMeanwhile).
func TestWriteOfSessionSignedOutMeanwhile(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	s := testenv.NewServer(t, dsn)
	ctx := t.Context()
	addUser(t, s, "ann")
	stolen := login(t, s, "ann")
	ann, err := s.Store.AccountByUsername(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}

	// The owner signs out everywhere; the sign-out has moved the
	// account's session epoch on but not yet committed when the stolen
	// session's write comes in.
	signingOut, release, signedOut := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		signedOut <- s.Store.InTx(context.WithoutCancel(ctx), func(ctx context.Context) error {
			if _, err := s.Store.EndSessions(ctx, ann.ID); err != nil {
				return err
			}
			close(signingOut)
			<-release
			return nil
		})
	}()
	select {
	case <-signingOut:
	case err := <-signedOut:
		t.Fatal(err)
	}
	made := make(chan testenv.Response, 1)
	go func() {
		made <- stolen.Do(t, "POST", "/v1/me/api-keys", keyRequest("attacker", nil, "dns * read"))
	}()
	testenv.AwaitLockWaiters(t, testenv.OpenDB(t, dsn), 1, made)
	close(release)
	if err := <-signedOut; err != nil {
		t.Fatal(err)
	}
	wantProblem(t, <-made, 401, "unauthorized")

	keys, err := s.Store.APIKeys(ctx, ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Errorf("API keys after the sign-out everywhere: %v, want none", keys)
	}
	owner := login(t, s, "ann")
	r := owner.Do(t, "GET", "/v1/me/events?type=api_key.created", nil)
	if r.Status != 200 {
		t.Fatalf("events: got %d %s", r.Status, r.Body)
	}
	if evs, _ := r.JSON["events"].([]any); len(evs) != 0 {
		t.Errorf("api_key.created events after the sign-out everywhere: %v, want none", evs)
	}
}
