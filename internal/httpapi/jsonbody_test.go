package httpapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
)

type inner struct {
	Shared string `json:"shared"`
	Deep   string `json:"deep"`
}

type sample struct {
	inner
	Name    string            `json:"name"`
	Shared  string            `json:"shared"` // wins over inner's
	Count   int32             `json:"count"`
	At      *time.Time        `json:"at"`
	Tags    []string          `json:"tags"`
	Labels  map[string]string `json:"labels"`
	Raw     json.RawMessage   `json:"raw"`
	Skipped string            `json:"-"`
	NoTag   bool
	Key     string `json:"key"`
}

// TestUnmarshalBody checks the rules UnmarshalBody adds to encoding/json:
// exact names, each once at any depth, and errors that name the field.
func TestUnmarshalBody(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		fields     Fields
		want       string // "" for no error; else a part of the message
	}{
		{"exact names", `{"name":"a","shared":"b","deep":"c","count":3,"at":"2027-01-31T12:00:00Z","tags":["x"],"labels":{"k":"v"},"raw":{"A":1,"a":2},"NoTag":true}`, KnownFields, ""},
		{"nulls", `{"name":null,"at":null,"tags":null,"count":null}`, KnownFields, ""},
		{"name in upper case", `{"NAME":"a"}`, KnownFields, `unknown field "NAME": field names are case-sensitive, did you mean "name"?`},
		{"Kelvin sign folds to k", `{"\u212Aey":"a"}`, KnownFields, "case-sensitive"},
		{"long s folds to s", `{"\u017Fhared":"a"}`, KnownFields, "case-sensitive"},
		{"an embedded struct's field in another case", `{"Deep":"a"}`, KnownFields, `did you mean "deep"?`},
		{"a Go name without a tag in another case", `{"notag":true}`, KnownFields, `did you mean "NoTag"?`},
		{"a field tagged -", `{"Skipped":"a"}`, KnownFields, `unknown field "Skipped"`},
		{"a repeated name", `{"name":"a","name":"b"}`, KnownFields, `field "name" appears more than once`},
		{"a repeated name written with an escape", `{"name":"a","n\u0061me":"b"}`, KnownFields, `field "name" appears more than once`},
		{"a repeated map key", `{"labels":{"k":"v","k":"w"}}`, KnownFields, `field "labels.k" appears more than once`},
		{"a repeated name in raw JSON", `{"raw":[{"a":1,"a":2}]}`, KnownFields, `field "raw[0].a" appears more than once`},
		{"a string for an integer", `{"count":"3"}`, KnownFields, `field "count" must be an integer from -2147483648 to 2147483647`},
		{"an integer out of range", `{"count":2147483648}`, KnownFields, `field "count" must be an integer from`},
		{"a fraction for an integer", `{"count":1.5}`, KnownFields, `field "count" must be an integer`},
		{"a date for a time", `{"at":"2027-01-31"}`, KnownFields, `field "at" must be an RFC 3339 time`},
		{"a number for a time", `{"at":1}`, KnownFields, `field "at" must be an RFC 3339 time`},
		{"a string in an array of strings", `{"tags":["x",1]}`, KnownFields, `field "tags[1]" must be a string`},
		{"an object for an array", `{"tags":{}}`, KnownFields, `field "tags" must be an array`},
		{"an unknown field", `{"nme":"a"}`, KnownFields, `unknown field "nme"`},
		{"an unknown field skipped", `{"nme":{"a":1}}`, SkipUnknownFields, ""},
		{"an unknown field's repeated name", `{"nme":{"a":1,"a":2}}`, SkipUnknownFields, `field "nme.a" appears more than once`},
		{"another case is not skipped", `{"Name":"a"}`, SkipUnknownFields, "case-sensitive"},
		{"trailing data", `{"name":"a"} {}`, KnownFields, "a single JSON object"},
		{"cut short", `{"name":"a"`, KnownFields, "ends too soon"},
		{"not JSON", `{"name" "a"}`, KnownFields, "not valid JSON"},
		{"an array", `[]`, KnownFields, "must be a JSON object"},
		{"not UTF-8", "{\"name\":\"\xff\"}", KnownFields, "not valid UTF-8"},
		{"nested as deep as allowed", `{"raw":` + strings.Repeat("[", MaxBodyDepth-1) + strings.Repeat("]", MaxBodyDepth-1) + `}`, KnownFields, ""},
		{"nested a level deeper", `{"raw":` + strings.Repeat("[", MaxBodyDepth) + strings.Repeat("]", MaxBodyDepth) + `}`, KnownFields, "more than 32 deep"},
		{"deep objects in a skipped field", `{"nme":` + strings.Repeat(`{"a":`, MaxBodyDepth) + "1" + strings.Repeat("}", MaxBodyDepth) + `}`, SkipUnknownFields, "more than 32 deep"},
		{"a repeated name among many", `{"labels":{` + manyNames(40) + `,"k7":"again"}}`, KnownFields, `field "labels.k7" appears more than once`},
		{"many names once each", `{"labels":{` + manyNames(40) + `}}`, KnownFields, ""},
		{"an empty name twice", `{"labels":{"":"a","":"b"}}`, KnownFields, `field "labels.\"\"" appears more than once`},
		{"a path through arrays and objects", `{"raw":[{"x":[1,{"b":1,"b":2}]}]}`, KnownFields, `field "raw[0].x[1].b" appears more than once`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var v sample
			err := UnmarshalBody([]byte(tt.body), &v, tt.fields)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tt.want == "":
				return
			case err == nil:
				t.Fatalf("got no error, want one holding %q", tt.want)
			case twofold.ErrorCode(err) != twofold.CodeInvalid || !strings.Contains(twofold.ErrorMessage(err), tt.want):
				t.Fatalf("got %v (%s), want an invalid error holding %q", err, twofold.ErrorCode(err), tt.want)
			}
		})
	}
	var v sample
	if err := UnmarshalBody([]byte(`{"shared":"outer","deep":"inner"}`), &v, KnownFields); err != nil || v.Shared != "outer" || v.inner.Deep != "inner" {
		t.Errorf("got %+v, %v; want shared in the outer field and deep in the embedded one", v, err)
	}
}

// manyNames is n members "k0":"v" … of a JSON object, without its braces.
func manyNames(n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf(`"k%d":"v"`, i)
	}
	return strings.Join(names, ",")
}

// TestUnmarshalBodyDeepIsCheap: a body of nothing but brackets is refused
// at the bound without first walking (and naming) every level: before the
// bound, each level cost an allocation and the names grew with the depth,
// so that 64 KB took gigabytes. Counted in allocations, not timed.
func TestUnmarshalBodyDeepIsCheap(t *testing.T) {
	const depth = 30000
	body := []byte(`{"raw":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`)
	var v sample
	if err := UnmarshalBody(body, &v, KnownFields); twofold.ErrorCode(err) != twofold.CodeInvalid {
		t.Fatalf("got %v, want invalid", err)
	}
	allocs := testing.AllocsPerRun(3, func() {
		var v sample
		_ = UnmarshalBody(body, &v, KnownFields)
	})
	if allocs > 500 {
		t.Errorf("a body nested %d deep took %.0f allocations to refuse, want a few hundred at most", depth, allocs)
	}
}

// BenchmarkDecodeVerifyBody is the cost of reading a second step's body
// (POST /v1/login/{id}/verify) with UnmarshalBody's checks, beside
// encoding/json alone (BenchmarkDecodeVerifyBodyPlain).
func BenchmarkDecodeVerifyBody(b *testing.B) {
	body := []byte(`{"method":"totp","code":"123456"}`)
	b.ReportAllocs()
	for b.Loop() {
		var req secondFactorRequest
		if err := UnmarshalBody(body, &req, KnownFields); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeVerifyBodyPlain(b *testing.B) {
	body := []byte(`{"method":"totp","code":"123456"}`)
	b.ReportAllocs()
	for b.Loop() {
		var req secondFactorRequest
		if err := json.Unmarshal(body, &req); err != nil {
			b.Fatal(err)
		}
	}
}
