package permit

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
)

func mustParse(t testing.TB, lines ...string) []twofold.Permit {
	t.Helper()
	var ps []twofold.Permit
	for _, l := range lines {
		p, err := Parse(l)
		if err != nil {
			t.Fatalf("Parse(%q): %v", l, err)
		}
		ps = append(ps, p)
	}
	return ps
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want twofold.Permit
	}{
		{"acme", "DNS Example.COM./_ACME-challenge/txt write", twofold.Permit{Service: "dns", Resource: "example.com/_acme-challenge/TXT", Actions: []string{"write"}}},
		{"trailing stars dropped", "dns example.com/*/* read", twofold.Permit{Service: "dns", Resource: "example.com", Actions: []string{"read"}}},
		{"actions sorted once", "dns * write,read,write", twofold.Permit{Service: "dns", Resource: "*", Actions: []string{"read", "write"}}},
		{"apex", "dns example.com/@/CAA read", twofold.Permit{Service: "dns", Resource: "example.com/@/CAA", Actions: []string{"read"}}},
		{"prefix", "dns example.com/_acme-challenge*/TXT write", twofold.Permit{Service: "dns", Resource: "example.com/_acme-challenge*/TXT", Actions: []string{"write"}}},
		{"account", "account * read", twofold.Permit{Service: "account", Resource: "*", Actions: []string{"read"}}},
		{"keys", "keys * read,write", twofold.Permit{Service: "keys", Resource: "*", Actions: []string{"read", "write"}}},
		{"one part of write", "dns example.com/_acme-challenge/TXT Add", twofold.Permit{Service: "dns", Resource: "example.com/_acme-challenge/TXT", Actions: []string{"add"}}},
		{"two parts of write", "dns example.com delete,read,add", twofold.Permit{Service: "dns", Resource: "example.com", Actions: []string{"add", "delete", "read"}}},
		{"every part is write", "dns example.com delete,replace,add", twofold.Permit{Service: "dns", Resource: "example.com", Actions: []string{"write"}}},
		{"write takes in its parts", "dns example.com add,write", twofold.Permit{Service: "dns", Resource: "example.com", Actions: []string{"write"}}},
		{"fully qualified name", "dns example.com/_ACME-challenge.www.Example.com./TXT write", twofold.Permit{Service: "dns", Resource: "example.com/_acme-challenge.www/TXT", Actions: []string{"write"}}},
		{"fully qualified apex", "dns example.com./example.com./CAA read", twofold.Permit{Service: "dns", Resource: "example.com/@/CAA", Actions: []string{"read"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.in, diff)
			}
			if again, err := Parse(Format(got)); err != nil || !cmp.Equal(again, got) {
				t.Errorf("Parse(Format(%v)) = %v, %v", got, again, err)
			}
		})
	}
}

func TestNormalizeRejects(t *testing.T) {
	for name, in := range map[string]twofold.Permit{
		"unknown service":            {Service: "ftp", Resource: "*", Actions: []string{"read"}},
		"too many parts":             {Service: "dns", Resource: "a.com/b/TXT/x", Actions: []string{"read"}},
		"star inside":                {Service: "dns", Resource: "*.example.com", Actions: []string{"read"}},
		"space in name":              {Service: "dns", Resource: "example.com/a b", Actions: []string{"read"}},
		"empty part":                 {Service: "dns", Resource: "example.com//TXT", Actions: []string{"read"}},
		"no actions":                 {Service: "dns", Resource: "example.com"},
		"no resource":                {Service: "dns", Actions: []string{"write"}},
		"blank resource":             {Service: "dns", Resource: "  ", Actions: []string{"write"}},
		"no resource of account":     {Service: "account", Actions: []string{"read"}},
		"unknown action":             {Service: "dns", Resource: "example.com", Actions: []string{"patch"}},
		"a part of write elsewhere":  {Service: "keys", Resource: "*", Actions: []string{"delete"}},
		"account resource":           {Service: "account", Resource: "alice", Actions: []string{"read"}},
		"account write":              {Service: "account", Resource: "*", Actions: []string{"write"}},
		"account read and write":     {Service: "Account", Resource: "*", Actions: []string{"read", "WRITE"}},
		"bad type":                   {Service: "dns", Resource: "example.com/www/T-XT", Actions: []string{"read"}},
		"at sign in zone":            {Service: "dns", Resource: "@", Actions: []string{"read"}},
		"at sign in long name":       {Service: "dns", Resource: "example.com/@www", Actions: []string{"read"}},
		"qualified name elsewhere":   {Service: "dns", Resource: "example.com/www.example.net./TXT", Actions: []string{"read"}},
		"qualified name of a suffix": {Service: "dns", Resource: "example.com/www.badexample.com.", Actions: []string{"read"}},
		"qualified name, zone *":     {Service: "dns", Resource: "*/www.example.com./TXT", Actions: []string{"read"}},
		"qualified name pattern":     {Service: "dns", Resource: "example.com/_acme*.example.com.", Actions: []string{"read"}},
		"the root zone":              {Service: "dns", Resource: "..", Actions: []string{"write"}},
		"zone of two dots":           {Service: "dns", Resource: "example.com..", Actions: []string{"write"}},
		"zone of an empty label":     {Service: "dns", Resource: ".example.com", Actions: []string{"write"}},
		"name of an empty label":     {Service: "dns", Resource: "example.com/www..a/TXT", Actions: []string{"write"}},
		"name pattern of two dots":   {Service: "dns", Resource: "example.com/_acme..*", Actions: []string{"write"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Normalize(in); twofold.ErrorCode(err) != twofold.CodeInvalid {
				t.Errorf("Normalize(%+v) error %v, want invalid", in, err)
			}
		})
	}
	if _, err := NormalizeAll(nil); twofold.ErrorCode(err) != twofold.CodeInvalid {
		t.Errorf("NormalizeAll(nil) error %v, want invalid", err)
	}
	if _, err := Parse("dns example.com"); twofold.ErrorCode(err) != twofold.CodeInvalid {
		t.Errorf("Parse of two fields: error %v, want invalid", err)
	}
	// A long part is cut between characters, not inside one.
	long := strings.Repeat("a", 63) + "é"
	if _, err := Parse("dns " + long + " read"); !strings.Contains(twofold.ErrorMessage(err), `"`+strings.Repeat("a", 63)+`…"`) {
		t.Errorf("Parse of a long zone: error %v, want it cut before the é", err)
	}
}

func TestAllows(t *testing.T) {
	acme := mustParse(t, "dns example.com/_acme-challenge/TXT write", "dns example.org/_acme-challenge*/TXT read,write")
	tests := []struct {
		name                      string
		service, resource, action string
		want                      bool
	}{
		{"the record", "dns", "example.com/_acme-challenge/TXT", "write", true},
		{"case of the record", "dns", "EXAMPLE.com/_Acme-Challenge/TXT", "write", true},
		{"not read", "dns", "example.com/_acme-challenge/TXT", "read", false},
		{"another type", "dns", "example.com/_acme-challenge/A", "write", false},
		{"another name", "dns", "example.com/www/TXT", "write", false},
		{"a longer name", "dns", "example.com/_acme-challenge.www/TXT", "write", false},
		{"another zone", "dns", "example.net/_acme-challenge/TXT", "write", false},
		{"a zone ending alike", "dns", "badexample.com/_acme-challenge/TXT", "write", false},
		{"the whole zone", "dns", "example.com", "write", false},
		{"every type of the name", "dns", "example.com/_acme-challenge", "write", false},
		{"prefix: a longer name", "dns", "example.org/_acme-challenge.www/TXT", "write", true},
		{"prefix: the name", "dns", "example.org/_acme-challenge/TXT", "read", true},
		{"prefix: not another", "dns", "example.org/www/TXT", "read", false},
		{"a wildcard record needs a star", "dns", "example.org/_acme-challenge*/TXT", "read", false},
		{"another service", "account", "*", "read", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Allows(acme, tt.service, tt.resource, tt.action); got != tt.want {
				t.Errorf("Allows(%s %s %s) = %v, want %v", tt.service, tt.resource, tt.action, got, tt.want)
			}
		})
	}
	all := mustParse(t, "dns * read,write")
	if !Allows(all, "dns", "example.com", "write") || !Allows(all, "dns", "example.com/*/TXT", "write") {
		t.Error("dns * does not allow a whole zone or a wildcard record")
	}
	zone := mustParse(t, "dns example.com read")
	if !Allows(zone, "dns", "example.com", "read") || !Allows(zone, "dns", "example.com/www/A", "read") {
		t.Error("a zone's permit does not allow the zone and its records")
	}
}

// TestAllowsParts: write allows each of its parts; a part allows itself
// only, never write or another part.
func TestAllowsParts(t *testing.T) {
	const rec = "example.com/_acme-challenge/TXT"
	for _, tt := range []struct {
		permit string
		allows []string
	}{
		{"dns " + rec + " write", []string{"write", "add", "replace", "delete"}},
		{"dns " + rec + " add", []string{"add"}},
		{"dns " + rec + " replace", []string{"replace"}},
		{"dns " + rec + " delete,read", []string{"delete", "read"}},
		{"dns " + rec + " add,delete", []string{"add", "delete"}},
	} {
		ps := mustParse(t, tt.permit)
		for _, action := range []string{"read", "write", "add", "replace", "delete"} {
			want := slices.Contains(tt.allows, action)
			if got := Allows(ps, "dns", rec, action); got != want {
				t.Errorf("%s: Allows(%s) = %v, want %v", tt.permit, action, got, want)
			}
			if got := AllowsSome(ps, "dns", "example.com", action); got != want {
				t.Errorf("%s: AllowsSome(example.com, %s) = %v, want %v", tt.permit, action, got, want)
			}
		}
	}
}

func TestAllowsSome(t *testing.T) {
	acme := mustParse(t, "dns example.com/_acme-challenge/TXT write")
	for _, tt := range []struct {
		resource, action string
		want             bool
	}{
		{"example.com", "write", true},
		{"example.com", "read", false},
		{"example.org", "write", false},
		{"example.com/_acme-challenge", "write", true},
		{"example.com/www", "write", false},
	} {
		if got := AllowsSome(acme, "dns", tt.resource, tt.action); got != tt.want {
			t.Errorf("AllowsSome(%s %s) = %v, want %v", tt.resource, tt.action, got, tt.want)
		}
	}
}

func TestWithin(t *testing.T) {
	outer := mustParse(t, "dns example.com read", "dns example.org/_acme-challenge*/TXT write", "keys * write")
	tests := []struct {
		name  string
		inner []string
		want  bool
	}{
		{"same", []string{"dns example.com read"}, true},
		{"narrower name", []string{"dns example.com/www/A read"}, true},
		{"narrower prefix", []string{"dns example.org/_acme-challenge.www*/TXT write"}, true},
		{"the prefix's literal", []string{"dns example.org/_acme-challenge/TXT write"}, true},
		{"wider action", []string{"dns example.com write"}, false},
		{"wider zone", []string{"dns * read"}, false},
		{"wider prefix", []string{"dns example.org/_acme*/TXT write"}, false},
		{"every name", []string{"dns example.org/*/TXT write"}, false},
		{"every type", []string{"dns example.org/_acme-challenge write"}, false},
		{"another service", []string{"account * read"}, false},
		{"one of two outside", []string{"dns example.com read", "dns example.net read"}, false},
		{"keys", []string{"keys * write"}, true},
		{"a part of write", []string{"dns example.org/_acme-challenge/TXT add"}, true},
		{"every part of write", []string{"dns example.org/_acme-challenge/TXT add", "dns example.org/_acme-challenge/TXT replace,delete"}, true},
		{"a part where only read", []string{"dns example.com/www/A delete"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Within(mustParse(t, tt.inner...), outer); got != tt.want {
				t.Errorf("Within(%v) = %v, want %v", tt.inner, got, tt.want)
			}
			// Beyond names the first permit outside: the last, in these cases.
			want := -1
			if !tt.want {
				want = len(tt.inner) - 1
			}
			if got := Beyond(mustParse(t, tt.inner...), outer); got != want {
				t.Errorf("Beyond(%v) = %d, want %d", tt.inner, got, want)
			}
		})
	}
}

// BenchmarkAllows is the check every request of an API key makes: a key
// with a few permits asked about one record set.
func BenchmarkAllows(b *testing.B) {
	ps := mustParse(b, "dns example.org read", "dns example.net/www*/A write", "dns example.com/_acme-challenge/TXT write", "account * read")
	b.ReportAllocs()
	for b.Loop() {
		if !Allows(ps, DNS, "example.com/_acme-challenge/TXT", Write) {
			b.Fatal("not allowed")
		}
	}
}

// TestAdminPermits: the operator API's permits name one of its resources or
// all of them, read and write apart, and stay within each other as any
// permit does.
func TestAdminPermits(t *testing.T) {
	for _, in := range []string{"admin users read", "admin TEAMS read", "admin events read", "admin resets read,write", "admin * write"} {
		if _, err := Parse(in); err != nil {
			t.Errorf("Parse(%q): %v", in, err)
		}
	}
	for _, in := range []string{"admin zones read", "admin users/x read", "admin us* read", "admin users delete", "admin teams write", "admin events read,write"} {
		if p, err := Parse(in); twofold.ErrorCode(err) != twofold.CodeInvalid {
			t.Errorf("Parse(%q) = %v, %v; want invalid", in, p, err)
		}
	}
	readUsers := mustParse(t, "admin users read", "dns * read,write")
	for _, tt := range []struct {
		resource, action string
		want             bool
	}{
		{"users", "read", true},
		{"users", "write", false},
		{"teams", "read", false},
		{"events", "read", false},
	} {
		if got := Allows(readUsers, Admin, tt.resource, tt.action); got != tt.want {
			t.Errorf("Allows(admin users read; admin %s %s) = %v, want %v", tt.resource, tt.action, got, tt.want)
		}
	}
	all := mustParse(t, "admin * read,write")
	for _, res := range AdminResources {
		if !Allows(all, Admin, res, Write) || !Allows(all, Admin, res, Read) {
			t.Errorf("admin * read,write does not allow %s", res)
		}
	}
	if Allows(mustParse(t, "dns * read,write", "keys * write", "account * read"), Admin, "users", Read) {
		t.Error("permits of other services allow admin users read")
	}
	if !Within(mustParse(t, "admin users read"), all) || Within(all, readUsers) || Within(mustParse(t, "admin teams read"), readUsers) {
		t.Error("Within does not hold admin permits within their own")
	}
	if !Grants(readUsers, Admin) || Grants(mustParse(t, "dns * read"), Admin) {
		t.Error("Grants does not tell the permits naming admin")
	}
}

// TestWithinParts: a key that may only add makes no key that may write,
// replace or delete.
func TestWithinParts(t *testing.T) {
	outer := mustParse(t, "dns example.com/_acme-challenge/TXT add")
	for _, inner := range []string{"dns example.com/_acme-challenge/TXT write", "dns example.com/_acme-challenge/TXT replace", "dns example.com/_acme-challenge/TXT delete", "dns example.com/_acme-challenge/TXT add,delete"} {
		if Within(mustParse(t, inner), outer) {
			t.Errorf("Within(%s) under an add-only key = true, want false", inner)
		}
	}
	if !Within(mustParse(t, "dns example.com/_acme-challenge/TXT add"), outer) {
		t.Error("an add-only key cannot make its like")
	}
}
