package dnsapi_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/providers/dns/mythicbeasts"
	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/testenv"
)

// dnsServer starts a server that answers DNS on loopback too.
func dnsServer(t *testing.T, dsn string) *testenv.Server {
	t.Helper()
	return testenv.NewServer(t, dsn, func(c *config.Config) {
		c.DNSAddr = "127.0.0.1:0"
		c.DNSNameservers = []string{"ns1.example.net", "ns2.example.net"}
	})
}

// makeKey makes an API key of the account whose session token is token,
// with permits such as "dns example.com/_acme-challenge/TXT write", through
// POST /v1/me/api-keys, and returns its id and secret.
func makeKey(t testing.TB, s *testenv.Server, token string, permits ...string) (id, secret string) {
	t.Helper()
	c := testenv.NewClient(s.URL())
	c.Token = token
	var ps []map[string]any
	for _, p := range permits {
		f := strings.Fields(p)
		ps = append(ps, map[string]any{"service": f[0], "resource": f[1], "actions": strings.Split(f[2], ",")})
	}
	r := c.Do(t, "POST", "/v1/me/api-keys", map[string]any{"name": "acme", "permits": ps})
	if r.Status != 201 {
		t.Fatalf("make key: got %d %s, want 201", r.Status, r.Body)
	}
	return r.JSON["api_key"].(map[string]any)["id"].(string), r.String("secret")
}

// txt asks Twofold's DNS listener for the TXT records of name.
func txt(t *testing.T, s *testenv.Server, name string) (rcode int, texts []string) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeTXT)
	r, _, err := (&dns.Client{Timeout: time.Minute}).Exchange(m, s.DNSAddr()) // the default 2 s is short for a loaded machine
	if err != nil {
		t.Fatal(err)
	}
	for _, rr := range r.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			texts = append(texts, strings.Join(t.Txt, ""))
		}
	}
	return r.Rcode, texts
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// legoProvider points lego's DNS client (one for the process) at s's DNS
// listener until the test ends and returns lego's mythicbeasts provider
// for the API key id and secret at s. tune, when not nil, changes the
// provider's configuration before it is made.
func legoProvider(t *testing.T, s *testenv.Server, id, secret string, tune func(*mythicbeasts.Config)) *mythicbeasts.DNSProvider {
	t.Helper()
	prev := dns01.DefaultClient()
	t.Cleanup(func() { dns01.SetDefaultClient(prev) })
	dns01.SetDefaultClient(dns01.NewClient(&dns01.Options{RecursiveNameservers: []string{s.DNSAddr()}, Timeout: time.Minute}))
	cfg := &mythicbeasts.Config{
		UserName:        id,
		Password:        secret,
		APIEndpoint:     mustURL(t, s.URL()+"/dns/v2"),
		AuthAPIEndpoint: mustURL(t, s.URL()+"/v1/token"),
		TTL:             120,
		HTTPClient:      &http.Client{Timeout: 30 * time.Second},
	}
	if tune != nil {
		tune(cfg)
	}
	provider, err := mythicbeasts.NewDNSProviderConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return provider
}

// TestLegoDNS01 runs lego's mythicbeasts provider, as a library, against
// Twofold: with an API key restricted to TXT records at _acme-challenge in
// example.com, it finds the zone through Twofold's own DNS listener, logs
// in at /v1/token, presents the challenge's TXT record, which Twofold then
// answers over DNS, presents it again (held once), and cleans it up (SPEC §1 story 6, the DNS-01 case).
// The same key is refused everything else.
//
// Not parallel: lego's DNS client is one for the process.
func TestLegoDNS01(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			s := dnsServer(t, dsn(t))
			token := owner(t, s, "alice", "example.com", "example.net")
			owner(t, s, "bob", "example.org")
			id, secret := makeKey(t, s, token, "dns example.com/_acme-challenge/TXT write")

			provider := legoProvider(t, s, id, secret, nil)
			const keyAuth = "token-from-the-ca.thumbprint-of-the-account-key"
			info := dns01.GetChallengeInfo(ctx, "example.com", keyAuth)
			if info.EffectiveFQDN != "_acme-challenge.example.com." {
				t.Fatalf("lego asks for %q, want _acme-challenge.example.com.", info.EffectiveFQDN)
			}
			if err := provider.Present(ctx, "example.com", "token-from-the-ca", keyAuth); err != nil {
				t.Fatalf("Present: %v", err)
			}
			rcode, texts := txt(t, s, "_acme-challenge.example.com.")
			if rcode != dns.RcodeSuccess || !cmp.Equal(texts, []string{info.Value}) {
				t.Fatalf("TXT after Present: got %s %q, want %q", dns.RcodeToString[rcode], texts, info.Value)
			}
			// The same value presented again (a retried order) succeeds,
			// and the zone holds it once.
			if err := provider.Present(ctx, "example.com", "token-from-the-ca", keyAuth); err != nil {
				t.Fatalf("Present again: %v", err)
			}
			if rcode, texts := txt(t, s, "_acme-challenge.example.com."); rcode != dns.RcodeSuccess || !cmp.Equal(texts, []string{info.Value}) {
				t.Fatalf("TXT after Present again: got %s %q, want %q once", dns.RcodeToString[rcode], texts, info.Value)
			}
			if err := provider.CleanUp(ctx, "example.com", "token-from-the-ca", keyAuth); err != nil {
				t.Fatalf("CleanUp: %v", err)
			}
			if rcode, texts := txt(t, s, "_acme-challenge.example.com."); rcode != dns.RcodeNameError || len(texts) != 0 {
				t.Fatalf("TXT after CleanUp: got %s %q, want NXDOMAIN", dns.RcodeToString[rcode], texts)
			}

			keyDoesNothingElse(t, s, id, secret)
			// The owner's records are untouched by all of it.
			a := call(t, s, "Bearer "+token, "GET", "/dns/v2/zones/example.com/records", "", "")
			if diff := cmp.Diff(map[string]any{"records": []any{}}, a.json); diff != "" {
				t.Errorf("records of example.com (-want +got):\n%s", diff)
			}
		})
	}
}

// keyDoesNothingElse checks that the key id:secret, with the permit
// "dns example.com/_acme-challenge/TXT write" of alice, who owns example.com
// and example.net (bob owns example.org), may write TXT records at
// _acme-challenge in example.com and nothing else, as HTTP Basic and as a
// token alike, and that alice's audit log holds its changes and refusals.
func keyDoesNothingElse(t *testing.T, s *testenv.Server, id, secret string) {
	t.Helper()
	ctx := t.Context()
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	tok := call(t, s, basic, "POST", "/v1/token", "application/x-www-form-urlencoded", "grant_type=client_credentials")
	want(t, "token", tok, 200, nil)
	bearer := "Bearer " + tok.json["access_token"].(string)
	form := "application/x-www-form-urlencoded"
	for _, auth := range []string{basic, bearer} {
		for _, tt := range []struct {
			name, method, path, ct, body string
			status                       int
		}{
			{"its own TXT", "POST", "/dns/v2/zones/example.com/records/_acme-challenge/TXT", form, "data=by+hand", 200},
			{"its own TXT, removed", "DELETE", "/dns/v2/zones/example.com/records/_acme-challenge/TXT?data=by+hand", "", "", 200},
			{"another type", "POST", "/dns/v2/zones/example.com/records/_acme-challenge/A", form, "data=192.0.2.1", 403},
			{"another name", "POST", "/dns/v2/zones/example.com/records/www/TXT", form, "data=x", 403},
			{"another name through the zone", "POST", "/dns/v2/zones/example.com/records", "application/json", `{"records":[{"host":"www","type":"TXT","data":"x"}]}`, 403},
			{"the whole host", "DELETE", "/dns/v2/zones/example.com/records/_acme-challenge", "", "", 403},
			{"reading", "GET", "/dns/v2/zones/example.com/records/_acme-challenge/TXT", "", "", 403},
			{"its owner's other zone: not told it exists", "POST", "/dns/v2/zones/example.net/records/_acme-challenge/TXT", form, "data=x", 404},
			{"another account's zone", "POST", "/dns/v2/zones/example.org/records/_acme-challenge/TXT", form, "data=x", 404},
			{"an unknown zone", "POST", "/dns/v2/zones/example.info/records/_acme-challenge/TXT", form, "data=x", 404},
		} {
			if a := call(t, s, auth, tt.method, tt.path, tt.ct, tt.body); a.status != tt.status {
				t.Errorf("%s with %s: got %d %s, want %d", tt.name, strings.Fields(auth)[0], a.status, a.body, tt.status)
			}
		}
		a := call(t, s, auth, "GET", "/dns/v2/zones", "", "")
		if diff := cmp.Diff(map[string]any{"zones": []any{"example.com"}}, a.json); diff != "" {
			t.Errorf("zones the key sees (-want +got):\n%s", diff)
		}
	}
	// The owner's audit log has the changes and the refusals.
	acct, err := s.Store.AccountByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	events, err := s.Store.Events(ctx, acct.ID, 0, 200)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range events {
		if e.Type == "dns.records_changed" && strings.Contains(e.Detail, "API key "+id) || e.Type == "api_key.refused" && strings.Contains(e.Detail, "DNS API") {
			seen[e.Type] = true
		}
		if strings.Contains(e.Detail, secret) {
			t.Errorf("event %s holds the key's secret", e.Type)
		}
	}
	if !seen["dns.records_changed"] || !seen["api_key.refused"] {
		t.Errorf("audit events: got %v, want dns.records_changed by the key and api_key.refused", seen)
	}
}

// TestCurlNetrc: the tutorial's curl -n with a .netrc holding the key id
// and secret adds a record with form parameters.
func TestCurlNetrc(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("curl is required (apt-get install curl): %v", err)
	}
	s := dnsServer(t, testenv.SQLiteDSN(t))
	token := owner(t, s, "alice", "example.com")
	id, secret := makeKey(t, s, token, "dns example.com/www write", "dns example.com read")
	u := mustURL(t, s.URL())
	netrc := filepath.Join(t.TempDir(), "netrc")
	if err := os.WriteFile(netrc, []byte("machine "+u.Hostname()+"\nlogin "+id+"\npassword "+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	curl := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(t.Context(), "curl", append([]string{"-sS", "--fail-with-body", "-n", "--netrc-file", netrc}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	if out := curl("-X", "POST", s.URL()+"/dns/v2/zones/example.com/records/www/A", "-d", "data=192.0.2.1"); !strings.Contains(out, `"records_added":1`) {
		t.Errorf("curl POST: got %s", out)
	}
	if out := curl("-X", "PUT", s.URL()+"/dns/v2/zones/example.com/records/www/A", "-d", "data=192.0.2.2", "-d", "ttl=300"); !strings.Contains(out, `"records_removed":1`) {
		t.Errorf("curl PUT: got %s", out)
	}
	if out, want := curl("-H", "Accept: text/dns", s.URL()+"/dns/v2/zones/example.com/records"), "www 300 A 192.0.2.2\n"; out != want {
		t.Errorf("curl GET text/dns: got %q, want %q", out, want)
	}
	recs, err := s.Service.AllZones(context.Background())
	if err != nil || len(recs) != 1 || recs[0].Serial != 3 {
		t.Errorf("zones: got %+v, %v; want example.com at serial 3", recs, err)
	}
}
