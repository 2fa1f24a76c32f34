package core_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/permit"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// twoInstances returns two services on one fresh database of the dialect
// dsn makes, each with a store (and pool of connections) of its own, as two
// instances behind a load balancer have, and the store of the first.
func twoInstances(t *testing.T, dsn string) (*core.Service, *core.Service, testDB) {
	t.Helper()
	db := openStore(t, dsn)
	st, err := store.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	other := testDB{Store: st, keyFile: db.keyFile}
	return newService(t, db, db, time.Now, nil), newService(t, other, other, time.Now, nil), db
}

// atOnce runs create n times at once, alternately on each of svcs, and
// returns how many succeeded; any failure but a conflict fails the test.
func atOnce(t *testing.T, svcs []*core.Service, n int, create func(svc *core.Service, i int) error) int {
	t.Helper()
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = create(svcs[i%len(svcs)], i)
		})
	}
	close(start)
	wg.Wait()
	made := 0
	for _, err := range errs {
		switch {
		case err == nil:
			made++
		case twofold.ErrorCode(err) == twofold.CodeConflict:
		default:
			t.Errorf("got %v, want success or a conflict", err)
		}
	}
	return made
}

// TestLimitsHoldAcrossInstances: the per-account limits on API keys,
// active factors and SSH keys, and the server's limit on webhooks, hold when many are made at
// once through two instances on one database: each request counts what
// those before it committed (PostgreSQL's READ COMMITTED would otherwise
// let each count the same rows and all add one). On SQLite and PostgreSQL.
func TestLimitsHoldAcrossInstances(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			svc1, svc2, db := twoInstances(t, dsn(t))
			svcs := []*core.Service{svc1, svc2}
			ctx := t.Context()

			t.Run("APIKeys", func(t *testing.T) {
				a := signedIn(t, svc1, "ada")
				const have = core.MaxAPIKeys - 6
				for i := range have {
					k := twofold.APIKey{ID: fmt.Sprintf("key-%03d", i), AccountID: a.Account.ID, Name: fmt.Sprintf("old %d", i),
						SecretHash: []byte{byte(i)}, CreatedAt: time.Now()}
					if err := db.CreateAPIKey(ctx, k); err != nil {
						t.Fatal(err)
					}
				}
				made := atOnce(t, svcs, 20, func(svc *core.Service, i int) error {
					_, _, err := svc.CreateAPIKey(ctx, a, core.NewAPIKey{Name: fmt.Sprintf("new %d", i),
						Permits: []twofold.Permit{{Service: "dns", Resource: "example.com/_acme-challenge/TXT", Actions: []string{"write"}}}}, core.Meta{})
					return err
				})
				keys, err := db.APIKeys(ctx, a.Account.ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(keys) != core.MaxAPIKeys || made != core.MaxAPIKeys-have {
					t.Errorf("%d keys made at once beside %d: %d stored, want %d", made, have, len(keys), core.MaxAPIKeys)
				}
			})

			t.Run("Webhooks", func(t *testing.T) {
				op := signedIn(t, svc1, "olga")
				if _, err := db.SetOperator(ctx, op.Account.ID, true); err != nil {
					t.Fatal(err)
				}
				op.Account.Operator = true
				var permits []twofold.Permit
				for _, line := range []string{"admin webhooks read,write", "admin events read"} {
					p, err := permit.Parse(line)
					if err != nil {
						t.Fatal(err)
					}
					permits = append(permits, p)
				}
				// A stored key: each write of a key checks it again in its
				// transaction.
				op.Key = &twofold.APIKey{ID: "key-hooks", AccountID: op.Account.ID, Name: "hooks", SecretHash: []byte("unused"), Permits: permits, CreatedAt: time.Now().UTC()}
				if err := db.CreateAPIKey(ctx, *op.Key); err != nil {
					t.Fatal(err)
				}
				hook := func(svc *core.Service, i int) error {
					_, _, err := svc.CreateWebhook(ctx, op, core.NewWebhook{URL: fmt.Sprintf("https://panel%d.example.com/hook", i)}, core.Meta{})
					return err
				}
				if err := hook(svc1, 99); err != nil {
					t.Fatal(err)
				}
				made := atOnce(t, svcs, 24, hook)
				ws, err := db.Webhooks(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(ws) != core.MaxWebhooks || made != core.MaxWebhooks-1 {
					t.Errorf("%d webhooks made at once beside 1: %d stored, want %d", made, len(ws), core.MaxWebhooks)
				}
			})

			t.Run("Factors", func(t *testing.T) {
				a := signedIn(t, svc1, "fay")
				a.Session.ElevatedUntil = time.Now().Add(time.Hour)
				enrol := func(label string) core.Enrolment {
					t.Helper()
					e, err := svc1.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorTOTP, Label: label}, core.Meta{})
					if err != nil {
						t.Fatal(err)
					}
					return e
				}
				const have, setups = core.MaxFactors - 3, 5 // 5: the setups an account may have unfinished
				for i := range have {
					e := enrol(fmt.Sprintf("app %d", i))
					if _, err := svc1.ConfirmFactor(ctx, a, e.Factor.ID, testenv.TOTP(t, e.Secret, time.Now()), core.Meta{}); err != nil {
						t.Fatal(err)
					}
				}
				es := make([]core.Enrolment, setups)
				for i := range es {
					es[i] = enrol(fmt.Sprintf("new %d", i))
				}
				made := atOnce(t, svcs, setups, func(svc *core.Service, i int) error {
					_, err := svc.ConfirmFactor(ctx, a, es[i].Factor.ID, testenv.TOTP(t, es[i].Secret, time.Now()), core.Meta{})
					return err
				})
				active := func() int {
					t.Helper()
					fs, err := db.Factors(ctx, a.Account.ID)
					if err != nil {
						t.Fatal(err)
					}
					n := 0
					for _, f := range fs {
						if f.Status == twofold.FactorActive {
							n++
						}
					}
					return n
				}
				if n := active(); n != core.MaxFactors || made != core.MaxFactors-have {
					t.Errorf("%d setups confirmed at once beside %d active: %d active, want %d", made, have, n, core.MaxFactors)
				}
				// Full: a new setup, and a secret given by value (Keystone's
				// TOTP credentials), are refused, and nothing is stored.
				if _, err := svc2.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorTOTP, Label: "one more"}, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeConflict {
					t.Errorf("a setup beyond %d: got %v, want a conflict", core.MaxFactors, err)
				}
				secret := make([]byte, 20)
				rand.Read(secret)
				if _, err := svc2.AddTOTPWithSecret(ctx, a, "by value", secret, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeConflict {
					t.Errorf("a secret given by value beyond %d: got %v, want a conflict", core.MaxFactors, err)
				}
				if n := active(); n != core.MaxFactors {
					t.Errorf("after the refusals: %d active, want %d", n, core.MaxFactors)
				}
			})

			t.Run("SSHKeys", func(t *testing.T) {
				a := signedIn(t, svc1, "sam")
				e, err := svc1.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorTOTP, Label: "phone"}, core.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := svc1.ConfirmFactor(ctx, a, e.Factor.ID, testenv.TOTP(t, e.Secret, time.Now()), core.Meta{}); err != nil {
					t.Fatal(err)
				}
				a.Session.ElevatedUntil = time.Now().Add(time.Hour)
				const n, limit = 16, 10 // core's maxSSHKeys
				lines := make([]string, n)
				for i := range lines {
					pub, _, err := ed25519.GenerateKey(rand.Reader)
					if err != nil {
						t.Fatal(err)
					}
					sp, err := ssh.NewPublicKey(pub)
					if err != nil {
						t.Fatal(err)
					}
					lines[i] = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))
				}
				made := atOnce(t, svcs, n, func(svc *core.Service, i int) error {
					_, err := svc.AddSSHKey(ctx, a, fmt.Sprintf("laptop %d", i), lines[i], core.Meta{})
					return err
				})
				keys, err := db.SSHKeys(ctx, a.Account.ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(keys) != limit || made != limit {
					t.Errorf("%d SSH keys added at once: %d stored, want %d", made, len(keys), limit)
				}
			})
		})
	}
}
