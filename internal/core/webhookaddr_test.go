package core

import (
	"net/netip"
	"testing"

	"github.com/twofold/twofold"
)

// TestWebhookAddrAllowed: the addresses a webhook may reach, without and
// with private targets allowed.
func TestWebhookAddrAllowed(t *testing.T) {
	for _, tc := range []struct {
		addr            string
		public, private bool
	}{
		{"203.0.114.7", true, true},
		{"2a00:1450:4001:80b::200e", true, true},
		{"127.0.0.1", false, true},
		{"::1", false, true},
		{"10.0.0.1", false, true},
		{"192.168.1.1", false, true},
		{"fd12:3456::1", false, true},
		{"100.64.0.1", false, true}, // shared address space
		{"::ffff:127.0.0.1", false, true},
		{"64:ff9b::a00:1", false, true},    // NAT64 of 10.0.0.1
		{"64:ff9b::cb00:7207", true, true}, // NAT64 of 203.0.114.7
		{"64:ff9b:1::1", false, true},
		{"2002:a00:1::1", false, true}, // 6to4
		{"2001:0:4136:e378::1", false, true},
		{"198.18.0.1", false, true},
		{"2001:2::1", false, true},      // benchmarking
		{"3fff:abc::1", false, true},    // documentation (RFC 9637)
		{"192.88.99.1", false, true},    // 6to4 relays
		{"2001:4860::8888", true, true}, // just past benchmarking and Teredo
		{"192.0.0.8", false, true},
		{"240.0.0.1", false, true},
		{"::a00:1", false, true},
		{"fec0::1", false, true},            // site-local, deprecated
		{"feff:ffff::1", false, true},       // the end of site-local
		{"::ffff:0:a00:1", false, true},     // IPv4-translated 10.0.0.1
		{"::ffff:0:cb00:7207", false, true}, // IPv4-translated 203.0.114.7: refused all the same
		{"ff00::1", false, false},           // multicast, just past site-local
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"224.0.0.1", false, false},
		{"255.255.255.255", false, false},
		{"169.254.169.254", false, false}, // metadata: never
		{"fe80::1", false, false},
		{"fd00:ec2::254", false, false},
		{"168.63.129.16", false, false},
		{"100.100.100.200", false, false}, // Alibaba Cloud metadata, inside shared address space
		{"fd20:ce::254", false, false},
		{"64:ff9b::a9fe:a9fe", false, false}, // NAT64 of 169.254.169.254
	} {
		a := netip.MustParseAddr(tc.addr)
		if got := WebhookAddrAllowed(a, false); got != tc.public {
			t.Errorf("WebhookAddrAllowed(%s, false) = %v, want %v", tc.addr, got, tc.public)
		}
		if got := WebhookAddrAllowed(a, true); got != tc.private {
			t.Errorf("WebhookAddrAllowed(%s, true) = %v, want %v", tc.addr, got, tc.private)
		}
	}
}

// TestCheckWebhookURL: what an endpoint's URL may be when it is added; a
// port that is no port is refused then, not at each delivery.
func TestCheckWebhookURL(t *testing.T) {
	s := &Service{}
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://example.com/hook", true},
		{"https://example.com:8443/hook", true},
		{"https://example.com:1/", true},
		{"https://example.com:65535/", true},
		{"https://[2a00:1450:4001:80b::200e]:443/", true},
		{"https://example.com:99999/", false},
		{"https://example.com:65536/", false},
		{"https://example.com:0/", false},
		{"https://example.com:00000/", false},
		{"https://203.0.114.7:123456789012345678901234567890/", false},
		{"https://[fec0::1]/hook", false},
		{"https://[::ffff:0:a00:1]/hook", false},
		{"https://example.com/hook?who=caf%C3%A9&t=1", true},
		{"https://example.com/hook?x=\u202egnp.exe", false},
		{"https://example.com/hook?x=a\u200bb", false},
		{"https://example.com/hook?x=%E2%80%AE", false},
		{"https://example.com/h?a=%E2%80%AE&b=%zz", false}, // a bad escape beside a hidden one
		{"https://example.com/h?a=100%", false},
		{"https://example.com/h?a=100%25", true},
		{"https://example.com/ho%C2%ADok", false},
		{"https://example.com/hook?x=\xff", false},
		{"https://%80/", false},
		{"https://exa%E2%80%AEmple.com/", false},
		{"https://b%C3%BCcher.example/", true}, // the host bücher.example
	} {
		_, err := s.checkWebhookURL(tc.url)
		if tc.ok && err != nil || !tc.ok && twofold.ErrorCode(err) != twofold.CodeInvalid {
			t.Errorf("checkWebhookURL(%s): got %v, want ok=%v (else invalid)", tc.url, err, tc.ok)
		}
	}
}
