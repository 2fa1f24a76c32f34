package keystone

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/permit"
)

func TestRuleToPermit(t *testing.T) {
	tests := []struct {
		method, path string
		want         string // permit.Format, or "" for refused
	}{
		{"POST", "/zones/example.com/records/_acme-challenge/TXT", "dns example.com/_acme-challenge/TXT add"},
		{"delete", "/zones/Example.COM/records/_acme-challenge/txt", "dns example.com/_acme-challenge/TXT delete"},
		{"GET", "/zones/example.com/records/**", "dns example.com read"},
		{"HEAD", "/zones/example.com/**", "dns example.com read"},
		{"GET", "/zones/**", "dns * read"},
		{"PUT", "/zones/*/records/www/A", "dns */www/A replace"},
		{"PATCH", "/zones/example.com/records/www/A", ""}, // the DNS API has none
		{"GET", "/zones/example.com/records/www", "dns example.com/www read"},
		{"GET", "/zones/example.com", ""},
		{"GET", "/zones/example.com/records", ""},
		{"GET", "/servers", ""},
		{"GET", "/zones/**/records/www/A", ""},
		{"OPTIONS", "/zones/**", ""},
		{"GET", "/zones/example.com/records/www/A/extra", ""},
	}
	for _, tt := range tests {
		p, err := ruleToPermit(accessRule{Service: "dns", Method: tt.method, Path: tt.path})
		got := ""
		if err == nil {
			got = permit.Format(p)
		} else if twofold.ErrorCode(err) != twofold.CodeInvalid {
			t.Errorf("%s %s: error %v, want invalid", tt.method, tt.path, err)
		}
		if got != tt.want {
			t.Errorf("%s %s: got %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
	if _, err := ruleToPermit(accessRule{Service: "compute", Method: "GET", Path: "/zones/**"}); err == nil {
		t.Error("a rule of another service was accepted")
	}
}

func TestPermitRulesRoundTrip(t *testing.T) {
	for _, line := range []string{"dns example.com/_acme-challenge/TXT write", "dns example.com read", "dns * read,write", "dns example.com/www/A add,delete"} {
		p, err := permit.Parse(line)
		if err != nil {
			t.Fatal(err)
		}
		for _, ru := range permitRules([]twofold.Permit{p}) {
			back, err := ruleToPermit(ru)
			if err != nil {
				t.Fatalf("%s: rule %+v: %v", line, ru, err)
			}
			if !permit.Within([]twofold.Permit{back}, []twofold.Permit{p}) || !permit.Within([]twofold.Permit{p}, []twofold.Permit{{Service: back.Service, Resource: back.Resource, Actions: p.Actions}}) {
				t.Errorf("%s: rule %+v reads back as %s", line, ru, permit.Format(back))
			}
		}
	}
}

// TestPermitRulesExact: a permit reads back as the methods it allows and
// no other: a part of write as its one method.
func TestPermitRulesExact(t *testing.T) {
	const path = "/zones/example.com/records/_acme-challenge/TXT"
	for line, want := range map[string][]string{
		"dns example.com/_acme-challenge/TXT add":                {"POST"},
		"dns example.com/_acme-challenge/TXT replace":            {"PUT"},
		"dns example.com/_acme-challenge/TXT add,delete":         {"POST", "DELETE"},
		"dns example.com/_acme-challenge/TXT read,add":           {"POST", "GET", "HEAD"},
		"dns example.com/_acme-challenge/TXT write":              {"POST", "PUT", "DELETE"},
		"dns example.com/_acme-challenge/TXT add,replace,delete": {"POST", "PUT", "DELETE"},
	} {
		p, err := permit.Parse(line)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ru := range permitRules([]twofold.Permit{p}) {
			if ru.Path != path {
				t.Errorf("%s: path %s, want %s", line, ru.Path, path)
			}
			got = append(got, ru.Method)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: methods (-want +got):\n%s", line, diff)
		}
	}
}
