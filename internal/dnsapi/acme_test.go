package dnsapi_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/lego"
	"github.com/go-acme/lego/v5/providers/dns/mythicbeasts"
	"github.com/go-acme/lego/v5/registration"
	"github.com/google/go-cmp/cmp"
	pebbleca "github.com/letsencrypt/pebble/v2/ca"
	pebbledb "github.com/letsencrypt/pebble/v2/db"
	pebbleva "github.com/letsencrypt/pebble/v2/va"
	pebblewfe "github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"github.com/twofold/twofold/internal/testenv"
)

// acmeUser is the ACME account lego registers: an e-mail address and a key.
type acmeUser struct {
	key crypto.Signer
	reg *acme.ExtendedAccount
}

func (u *acmeUser) GetEmail() string                       { return "alice@example.com" }
func (u *acmeUser) GetRegistration() *acme.ExtendedAccount { return u.reg }
func (u *acmeUser) GetPrivateKey() crypto.Signer           { return u.key }

// acmeServer is a Pebble server run by pebble.
type acmeServer struct {
	dir    string            // its directory URL
	client *http.Client      // trusts its TLS certificate
	tls    *x509.Certificate // its TLS certificate, self-signed
	root   *x509.Certificate // the root of the certificates it issues
}

// pebble runs Let's Encrypt's test ACME server Pebble in this process,
// over TLS on loopback, with its validation authority asking resolver (TCP)
// for the challenges' TXT records and not sleeping before it does.
func pebble(t *testing.T, resolver string) acmeServer {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")      // read by pebbleva.New
	t.Setenv("PEBBLE_VA_ALWAYS_VALID", "0") // validate for real whatever the environment says
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0") // no made-up bad nonces: lego retries them, but a loaded CI machine need not wait for that
	// Pebble's validation goroutines may still log after the test has
	// returned, when t.Log would panic: its log is kept and shown only when
	// the test fails.
	logs := &testenv.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Pebble's log:\n%s", logs)
		}
	})
	logger := log.New(logs, "pebble ", log.Lmicroseconds)
	db := pebbledb.NewMemoryStore()
	ca := pebbleca.New(logger, db, "", "ecdsa", 0, 1, map[string]pebbleca.Profile{"default": {Description: "the default profile"}})
	va := pebbleva.New(logger, 0, 0, false, resolver, db)
	wfe := pebblewfe.New(logger, db, va, ca, []string{"pebble.letsencrypt.org"}, false, false, 1, 1) // Retry-After: 1 s, not lego's 5 s default
	srv := httptest.NewTLSServer(wfe.Handler())                                                      // a self-signed certificate for 127.0.0.1, which srv.Client trusts
	t.Cleanup(srv.Close)
	client := srv.Client()
	client.Timeout = time.Minute
	return acmeServer{dir: srv.URL + pebblewfe.DirectoryPath, client: client, tls: srv.Certificate(), root: ca.GetRootCert(0).Cert}
}

// wantChain fails unless bundle, PEM, is a leaf certificate for exactly
// names followed by its issuers, and the leaf verifies for each of hosts
// up to root.
func wantChain(t *testing.T, bundle []byte, root *x509.Certificate, names []string, hosts ...string) {
	t.Helper()
	var chain []*x509.Certificate
	for rest := bundle; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	if len(chain) < 2 {
		t.Fatalf("bundle: got %d certificates, want the leaf and its issuer", len(chain))
	}
	leaf := chain[0]
	got := slices.Sorted(slices.Values(leaf.DNSNames))
	if diff := cmp.Diff(slices.Sorted(slices.Values(names)), got); diff != "" {
		t.Errorf("certificate names (-want +got):\n%s", diff)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	for _, n := range hosts {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: n, Roots: roots, Intermediates: inter}); err != nil {
			t.Errorf("verify for %s: %v", n, err)
		}
	}
}

// legoClient registers a new account with the ACME server whose
// directory is dir and returns lego's client for it.
func legoClient(t *testing.T, dir string, httpClient *http.Client) *lego.Client {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	user := &acmeUser{key: key}
	cfg := lego.NewConfig(user)
	cfg.CADirURL = dir
	cfg.HTTPClient = httpClient
	cfg.Certificate.Timeout = 2 * time.Minute
	client, err := lego.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if user.reg, err = client.Registration.Register(t.Context(), registration.RegisterOptions{TermsOfServiceAgreed: true}); err != nil {
		t.Fatalf("register: %v", err)
	}
	return client
}

// noRecord is a DNS provider that presents nothing.
type noRecord struct{}

func (noRecord) Present(context.Context, string, string, string) error { return nil }
func (noRecord) CleanUp(context.Context, string, string, string) error { return nil }

// TestACMEIssuance issues a certificate as a user of Let's Encrypt does,
// end to end: lego's ACME client registers with Pebble, orders one for
// example.com, *.example.com and shop.example.com, and answers the three
// DNS-01 challenges with its mythicbeasts provider and an API key that may
// write only TXT records at _acme-challenge. The first two want a TXT
// record at the same name, and the owner's CNAME at _acme-challenge.shop
// sends the third there too (lego follows it), so Twofold holds three
// values there at once. lego checks they are served through Twofold's DNS
// listener, Pebble finds them there too (over TCP, through the CNAME for
// shop), and then issues; lego removes the records, and the key can do
// nothing else (SPEC §1 story 6).
//
// lego checks propagation through its recursive resolvers only, here
// Twofold's listener: its check at the zone's authoritative servers asks
// the NS names on port 53, which a test on loopback cannot serve.
//
// Not parallel: lego's DNS client is one for the process, and Pebble reads
// its settings from the environment.
func TestACMEIssuance(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			s := dnsServer(t, dsn(t))
			token := owner(t, s, "alice", "example.com", "example.net")
			owner(t, s, "bob", "example.org")
			form := "application/x-www-form-urlencoded"
			want(t, "owner's record", call(t, s, "Bearer "+token, "POST", "/dns/v2/zones/example.com/records/www/A", form, "data=192.0.2.1"), 200, nil)
			// A wildcard, as many zones have: the key may still make
			// _acme-challenge exist and vanish (an attribute leaf, RFC 8552).
			want(t, "owner's wildcard", call(t, s, "Bearer "+token, "POST", "/dns/v2/zones/example.com/records/*/A", form, "data=192.0.2.7"), 200, nil)
			// shop's challenges go where the key may write.
			want(t, "owner's CNAME", call(t, s, "Bearer "+token, "POST", "/dns/v2/zones/example.com/records/_acme-challenge.shop/CNAME", form, "data=_acme-challenge.example.com."), 200, nil)
			id, secret := makeKey(t, s, token, "dns example.com/_acme-challenge/TXT write")

			provider := legoProvider(t, s, id, secret, func(c *mythicbeasts.Config) {
				c.PropagationTimeout = 2 * time.Minute
				c.PollingInterval = 100 * time.Millisecond
			})

			pb := pebble(t, s.DNSAddr())

			client := legoClient(t, pb.dir, pb.client)
			// What Twofold serves at _acme-challenge each time lego checks a
			// challenge: lego presents all three before it checks any.
			var (
				mu   sync.Mutex
				seen [][]string
			)
			check := func(ctx context.Context, domain, fqdn, value string, check dns01.PreCheckFunc) (bool, error) {
				rcode, texts := txt(t, s, fqdn)
				if rcode != dns.RcodeSuccess {
					t.Errorf("TXT %s while lego checks: got %s, want NOERROR", fqdn, dns.RcodeToString[rcode])
				}
				slices.Sort(texts)
				mu.Lock()
				seen = append(seen, texts)
				mu.Unlock()
				return check(ctx, fqdn, value)
			}
			if err := client.Challenge.SetDNS01Provider(provider,
				dns01.DisableAuthoritativeNssPropagationRequirement(),
				dns01.WrapPreCheck(check)); err != nil {
				t.Fatal(err)
			}

			res, err := client.Certificate.Obtain(ctx, certificate.ObtainRequest{
				Domains: []string{"example.com", "*.example.com", "shop.example.com"},
				KeyType: certcrypto.EC256,
				Bundle:  true,
			})
			if err != nil {
				t.Fatalf("obtain: %v", err)
			}

			// The certificate names all three, and chains to Pebble's root.
			wantChain(t, res.Certificate, pb.root, []string{"*.example.com", "example.com", "shop.example.com"},
				"example.com", "www.example.com", "shop.example.com")

			// The three values were served at once. (Not necessarily at the
			// first check: a query may get the zone as it was for a moment
			// while the listener reads it again, see README "Serving the
			// zones".)
			mu.Lock()
			views := seen
			mu.Unlock()
			if !slices.ContainsFunc(views, func(texts []string) bool { return len(texts) == 3 }) {
				t.Errorf("TXT values served while lego checked: got %q, want three at once", views)
			}

			// lego cleaned up: no TXT record left (the wildcard answers for
			// the name again, with no TXT), the owner's records kept.
			if rcode, texts := txt(t, s, "_acme-challenge.example.com."); rcode != dns.RcodeSuccess || len(texts) != 0 {
				t.Errorf("TXT after issuance: got %s %q, want NOERROR and none", dns.RcodeToString[rcode], texts)
			}
			a := call(t, s, "Bearer "+token, "GET", "/dns/v2/zones/example.com/records", "", "")
			wantRecs := []any{rec("*", 3600, "A", "192.0.2.7"), rec("_acme-challenge.shop", 3600, "CNAME", "_acme-challenge.example.com."), rec("www", 3600, "A", "192.0.2.1")}
			if diff := cmp.Diff(map[string]any{"records": wantRecs}, a.json); diff != "" {
				t.Errorf("records of example.com after issuance (-want +got):\n%s", diff)
			}

			keyDoesNothingElse(t, s, id, secret)

			// Pebble validates for real, through Twofold: an account whose
			// challenge nobody presents gets no certificate.
			other := legoClient(t, pb.dir, pb.client)
			skip := func(context.Context, string, string, string, dns01.PreCheckFunc) (bool, error) { return true, nil }
			if err := other.Challenge.SetDNS01Provider(noRecord{}, dns01.WrapPreCheck(skip)); err != nil {
				t.Fatal(err)
			}
			_, err = other.Certificate.Obtain(ctx, certificate.ObtainRequest{Domains: []string{"example.com"}, KeyType: certcrypto.EC256})
			var problem *acme.ProblemDetails
			if !errors.As(err, &problem) || problem.Type != "urn:ietf:params:acme:error:unauthorized" {
				t.Errorf("obtain with no TXT record: got %v, want an unauthorized problem", err)
			}
		})
	}
}
