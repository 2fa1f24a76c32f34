package dnsapi_test

import (
	"bytes"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"github.com/twofold/twofold/internal/testenv"
)

// certbotHook is the path of the hook script README tells certbot's users
// to run, scripts/certbot-dns-hook.sh, after checking that curl, which it
// runs, is installed.
func certbotHook(t *testing.T) string {
	t.Helper()
	testenv.Program(t, "curl", "curl")
	hook, err := filepath.Abs(filepath.Join("..", "..", "scripts", "certbot-dns-hook.sh"))
	if err != nil {
		t.Fatal(err)
	}
	return hook
}

// hookEnv returns the environment of the hook for Twofold s and the API
// key id:secret, kept in a file of mode 0600, followed by more.
func hookEnv(t *testing.T, s *testenv.Server, id, secret string, more ...string) []string {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "twofold-key")
	if err := os.WriteFile(keyFile, []byte(id+":"+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return append(append(os.Environ(), "TWOFOLD_URL="+s.URL(), "TWOFOLD_KEY_FILE="+keyFile), more...)
}

// noSecret fails when secret is in out, what a program wrote.
func noSecret(t *testing.T, what string, out []byte, secret string) {
	t.Helper()
	if secret != "" && bytes.Contains(out, []byte(secret)) {
		t.Errorf("%s holds the API key's secret", what)
	}
}

// TestCertbotDNS01 issues a certificate as most operators do: the real
// certbot, with its manual plugin, answers DNS-01 challenges through the
// hook script README points to (scripts/certbot-dns-hook.sh: POSIX sh and
// curl) with an API key that may write only TXT records at names starting
// _acme-challenge. certbot registers with Pebble and orders a certificate
// for example.com, *.example.com and www.example.com; the hook adds three
// TXT records (two at _acme-challenge, one at _acme-challenge.www) before
// certbot answers any challenge, Pebble finds them through Twofold's DNS
// listener, and certbot's cleanup hook removes them again.
//
// Not parallel: Pebble reads its settings from the environment.
func TestCertbotDNS01(t *testing.T) {
	certbot := testenv.Program(t, "certbot", "certbot")
	hook := certbotHook(t)
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			s := dnsServer(t, dsn(t))
			token := owner(t, s, "alice", "example.com", "example.net")
			owner(t, s, "bob", "example.org")
			form := "application/x-www-form-urlencoded"
			want(t, "owner's record", call(t, s, "Bearer "+token, "POST", "/dns/v2/zones/example.com/records/www/A", form, "data=192.0.2.1"), 200, nil)
			id, secret := makeKey(t, s, token, "dns example.com/_acme-challenge*/TXT write")
			pb := pebble(t, s.DNSAddr())

			dir := t.TempDir()
			caFile := filepath.Join(dir, "pebble.pem") // Python's requests trusts REQUESTS_CA_BUNDLE
			if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pb.tls.Raw}), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(t.Context(), certbot, "certonly", "--non-interactive",
				"--manual", "--preferred-challenges", "dns",
				"--manual-auth-hook", hook+" add", "--manual-cleanup-hook", hook+" delete",
				"--server", pb.dir, "--agree-tos", "-m", "alice@example.com", "--no-eff-email",
				"--config-dir", filepath.Join(dir, "config"), "--work-dir", filepath.Join(dir, "work"), "--logs-dir", filepath.Join(dir, "logs"),
				"-d", "example.com", "-d", "*.example.com", "-d", "www.example.com")
			cmd.Env = hookEnv(t, s, id, secret, "REQUESTS_CA_BUNDLE="+caFile, "HOME="+dir)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("certbot: %v\n%s", err, out)
			}
			noSecret(t, "certbot's output", out, secret)
			logs, err := os.ReadFile(filepath.Join(dir, "logs", "letsencrypt.log"))
			if err != nil {
				t.Fatal(err)
			}
			noSecret(t, "certbot's log", logs, secret)
			if !bytes.Contains(logs, []byte("certbot-dns-hook: add TXT _acme-challenge.www in example.com")) {
				t.Errorf("certbot's log does not hold the hook's report of its TXT record at _acme-challenge.www")
			}

			fullchain, err := os.ReadFile(filepath.Join(dir, "config", "live", "example.com", "fullchain.pem"))
			if err != nil {
				t.Fatal(err)
			}
			wantChain(t, fullchain, pb.root, []string{"example.com", "*.example.com", "www.example.com"},
				"example.com", "www.example.com", "shop.example.com")

			// The cleanup hook removed every TXT record: the owner's record
			// is all the zone holds, and the listener serves no TXT.
			for _, n := range []string{"_acme-challenge.example.com.", "_acme-challenge.www.example.com."} {
				if rcode, texts := txt(t, s, n); rcode != dns.RcodeNameError || len(texts) != 0 {
					t.Errorf("TXT %s after issuance: got %s %q, want NXDOMAIN", n, dns.RcodeToString[rcode], texts)
				}
			}
			a := call(t, s, "Bearer "+token, "GET", "/dns/v2/zones/example.com/records", "", "")
			if diff := cmp.Diff(map[string]any{"records": []any{rec("www", 3600, "A", "192.0.2.1")}}, a.json); diff != "" {
				t.Errorf("records of example.com after issuance (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCertbotHookErrors runs the hook script as certbot would, for the
// mistakes its users make: each time it exits non-zero, says on standard
// error what Twofold (or the script) found wrong (with the input a problem
// names, and for a name outside the key's permit the permit it needs),
// never shows the key's secret, and changes no record.
func TestCertbotHookErrors(t *testing.T) {
	hook := certbotHook(t)
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		token := owner(t, s, "alice", "example.com", "example.net")
		owner(t, s, "bob", "example.org")
		id, secret := makeKey(t, s, token, "dns example.com/_acme-challenge/TXT write")
		netID, netSecret := makeKey(t, s, token, "dns example.net/_acme-challenge/TXT write")
		for _, tt := range []struct {
			name       string
			id, secret string
			env        []string // after CERTBOT_DOMAIN=example.com and CERTBOT_VALIDATION=tok
			args       []string
			want       string // in standard error
		}{
			{"wrong secret", id, "wrong0secret", nil, []string{"add"},
				"GET /dns/v2/zones: HTTP 401: the API key or token is invalid, expired or revoked"},
			{"a key for another zone", netID, netSecret, nil, []string{"add"},
				"no zone of this API key holds example.com (the key's zones: example.net)"},
			{"another account's zone", id, secret, []string{"CERTBOT_DOMAIN=www.example.org"}, []string{"add"},
				"no zone of this API key holds www.example.org (the key's zones: example.com)"},
			{"a name outside the key's permit", id, secret, []string{"CERTBOT_DOMAIN=www.example.com"}, []string{"add"},
				"POST /dns/v2/zones/example.com/records/_acme-challenge.www/TXT: HTTP 403: this API key may not add records of zone example.com host _acme-challenge.www type TXT; " +
					`the API key needs a permit for TXT records at _acme-challenge.www.example.com, such as "dns example.com/_acme-challenge*/TXT write"`},
			{"a TTL too short", id, secret, []string{"TWOFOLD_TTL=5"}, []string{"add"},
				"HTTP 400: record 1: the TTL of _acme-challenge TXT must be 60 to 604800 seconds, not 5 (refused input: ttl)"},
			{"a TTL not a number", id, secret, []string{"TWOFOLD_TTL=1m"}, []string{"add"},
				`HTTP 400: the TTL "1m" is not a number of seconds (refused input: ttl)`},
			{"a value with a control character", id, secret, []string{"CERTBOT_VALIDATION=a\tb"}, []string{"add"},
				`HTTP 400: record 1: _acme-challenge TXT: text must not hold control characters (line breaks, tabs, NUL, escapes such as \010) (refused input: data)`},
			{"no key", "", "", nil, []string{"add"},
				"no API key: set TWOFOLD_KEY_FILE (a file holding ID:SECRET) or TWOFOLD_KEY"},
			{"no action", id, secret, nil, nil,
				"usage: certbot-dns-hook add|delete"},
			{"Twofold out of reach", id, secret, []string{"TWOFOLD_URL=http://127.0.0.1:1"}, []string{"delete"},
				"GET /dns/v2/zones: curl: (7)"},
		} {
			var env []string
			if tt.id != "" {
				env = hookEnv(t, s, tt.id, tt.secret)
			} else {
				env = append(os.Environ(), "TWOFOLD_URL="+s.URL())
			}
			env = append(append(env, "CERTBOT_DOMAIN=example.com", "CERTBOT_VALIDATION=tok"), tt.env...)
			cmd := exec.CommandContext(t.Context(), hook, tt.args...)
			cmd.Env = env
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 {
				t.Errorf("%s: exit status %d (%v), want 1", tt.name, code, err)
			}
			if got := strings.TrimSpace(stderr.String()); !strings.HasPrefix(got, "certbot-dns-hook: ") || !strings.Contains(got, tt.want) || strings.Count(got, "\n") > 0 {
				t.Errorf("%s: standard error %q, want one line holding %q", tt.name, got, tt.want)
			}
			noSecret(t, tt.name+": the hook's output", append(stdout.Bytes(), stderr.Bytes()...), tt.secret)
		}
		for _, z := range []string{"example.com", "example.net"} {
			a := call(t, s, "Bearer "+token, "GET", "/dns/v2/zones/"+z+"/records", "", "")
			if diff := cmp.Diff(map[string]any{"records": []any{}}, a.json); diff != "" {
				t.Errorf("records of %s after the failed hooks (-want +got):\n%s", z, diff)
			}
		}
	})
}

// TestNoSuchZoneSaysWhere: a script that gives the name a certificate is
// for as the zone (www.example.com for example.com's name www) is told
// which of its zones holds the name and at which host to write, in a 404
// problem; a name in no zone the caller can reach (its owner's zone the
// key has no permit in, another account's, none) is answered "no such
// zone" alike, and another account's zone below the caller's own is
// answered as a name of the caller's zone, as one that does not exist.
func TestNoSuchZoneSaysWhere(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		token := owner(t, s, "alice", "example.com", "example.net")
		owner(t, s, "bob", "example.org", "shop.example.com")
		key := keyAuth(t, s, token, "dns example.com/_acme-challenge*/TXT write")
		form := "application/x-www-form-urlencoded"
		for _, tt := range []struct {
			name, auth, method, path, detail string
		}{
			{"the certificate's name as the zone", key, "POST", "/dns/v2/zones/www.example.com/records/_acme-challenge/TXT",
				"no such zone www.example.com: that name is in zone example.com, at host _acme-challenge.www"},
			{"a deeper name", key, "DELETE", "/dns/v2/zones/a.b.example.com/records/_acme-challenge/TXT",
				"no such zone a.b.example.com: that name is in zone example.com, at host _acme-challenge.a.b"},
			{"another account's zone below the caller's", key, "POST", "/dns/v2/zones/shop.example.com/records/_acme-challenge/TXT",
				"no such zone shop.example.com: that name is in zone example.com, at host _acme-challenge.shop"},
			{"a person, the zone's apex", "Bearer " + token, "GET", "/dns/v2/zones/WWW.example.com./records/@",
				"no such zone www.example.com: that name is in zone example.com, at host www"},
			{"a person, the whole zone", "Bearer " + token, "GET", "/dns/v2/zones/www.example.com/records",
				"no such zone www.example.com: that name is in zone example.com, at host www"},
			{"its owner's zone the key may not reach", key, "POST", "/dns/v2/zones/www.example.net/records/_acme-challenge/TXT", "no such zone"},
			{"another account's zone", key, "POST", "/dns/v2/zones/www.example.org/records/_acme-challenge/TXT", "no such zone"},
			{"no zone at all", key, "POST", "/dns/v2/zones/www.example.info/records/_acme-challenge/TXT", "no such zone"},
		} {
			ct, body := form, "data=tok"
			if tt.method == "GET" {
				ct, body = "", ""
			}
			a := call(t, s, tt.auth, tt.method, tt.path, ct, body)
			if a.status != 404 || a.header.Get("Content-Type") != "application/problem+json" || a.problem() != "not-found" || a.detail() != tt.detail {
				t.Errorf("%s: got %d %s %s, want 404 application/problem+json not-found with detail %q", tt.name, a.status, a.header.Get("Content-Type"), a.body, tt.detail)
			}
		}
	})
}

// TestNoBodySaysWhatToSend: a POST or PUT with no body at all, as curl -X
// POST without -d sends, is told what a body holds, rather than that it
// is not JSON, and writes nothing; so is one whose body is chunked
// (Transfer-Encoding: chunked, no Content-Length) and ends at once, as a
// client streaming an empty file sends.
func TestNoBodySaysWhatToSend(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		token := owner(t, s, "alice", "example.com")
		key := keyAuth(t, s, token, "dns example.com/_acme-challenge/TXT write")
		const detail = `the request has no body: send the records as form parameters (data=…, ttl=…), as JSON ({"records":[…]}) or in zone-file form (Content-Type: text/dns)`
		for _, method := range []string{"POST", "PUT"} {
			a := call(t, s, key, method, "/dns/v2/zones/example.com/records/_acme-challenge/TXT", "", "")
			if a.status != 400 || a.header.Get("Content-Type") != "application/problem+json" || a.problem() != "invalid" || a.detail() != detail {
				t.Errorf("%s without a body: got %d %s %s, want 400 application/problem+json invalid with detail %q", method, a.status, a.header.Get("Content-Type"), a.body, detail)
			}
			req, err := http.NewRequest(method, s.URL()+"/dns/v2/zones/example.com/records/_acme-challenge/TXT", nil)
			if err != nil {
				t.Fatal(err)
			}
			// A body of unknown length that is not http.NoBody: net/http
			// sends a POST's or PUT's chunked, here as its last chunk only.
			req.Body = io.NopCloser(strings.NewReader(""))
			req.Header.Set("Authorization", key)
			a = send(t, req)
			if a.status != 400 || a.header.Get("Content-Type") != "application/problem+json" || a.problem() != "invalid" || a.detail() != detail {
				t.Errorf("%s with an empty chunked body: got %d %s %s, want 400 application/problem+json invalid with detail %q", method, a.status, a.header.Get("Content-Type"), a.body, detail)
			}
		}
		a := call(t, s, "Bearer "+token, "GET", "/dns/v2/zones/example.com/records", "", "")
		if diff := cmp.Diff(map[string]any{"records": []any{}}, a.json); diff != "" {
			t.Errorf("records of example.com (-want +got):\n%s", diff)
		}
	})
}
