package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/twofold/twofold"
)

// sampleNames are the names a body read into a sample may hold, exactly.
var sampleNames = []string{"shared", "deep", "name", "count", "at", "tags", "labels", "raw", "NoTag", "key"}

// FuzzUnmarshalBody feeds UnmarshalBody any bytes, as a request body is
// anyone's to send, and checks what its callers rely on: it never panics;
// a refusal is an invalid error whose message and pointer are valid text of
// a bounded length (they are sent back and logged); and a body it takes is
// one JSON object of valid UTF-8, without a NUL, with no name twice in any
// object at any depth, nested at most MaxBodyDepth, and (unless unknown
// fields are skipped) only sample's names, exactly, at its top.
func FuzzUnmarshalBody(f *testing.F) {
	for _, seed := range []string{
		`{"name":"a","shared":"b","deep":"c","count":3,"at":"2027-01-31T12:00:00Z","tags":["x"],"labels":{"k":"v"},"raw":{"A":1,"a":2},"NoTag":true}`,
		`{"name":"a","n\u0061me":"b"}`,
		`{"labels":{"":"a","":"b"}}`,
		`{"raw":[{"x":[1,{"b":1,"b":2}]}]}`,
		`{"\u212Aey":"a"}`,
		`{"count":1e3}`,
		`{"at":null,"tags":[null]}`,
		`{"raw":"\u0000"}`,
		"{\"name\":\"\xff\"}",
		`{"nme":{"a":[[[{}]]]}}`,
		` {"key":"v"} `,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, skip bool) {
		fields := KnownFields
		if skip {
			fields = SkipUnknownFields
		}
		var v sample
		err := UnmarshalBody(body, &v, fields)
		if err != nil {
			if twofold.ErrorCode(err) != twofold.CodeInvalid {
				t.Fatalf("UnmarshalBody(%q): %v, want an invalid error", body, err)
			}
			msg := twofold.ErrorMessage(err)
			if !utf8.ValidString(msg) || len(msg) > 400 {
				t.Fatalf("UnmarshalBody(%q): message %q (%d bytes) is not valid text of at most 400 bytes", body, msg, len(msg))
			}
			var e *twofold.Error
			if errors.As(err, &e) && (!utf8.ValidString(e.Input) || len(e.Input) > 2*maxPointer) {
				t.Fatalf("UnmarshalBody(%q): pointer %q is not valid text of a bounded length", body, e.Input)
			}
			return
		}
		if !utf8.Valid(body) || !json.Valid(body) {
			t.Fatalf("UnmarshalBody took %q, which is not valid JSON of UTF-8", body)
		}
		if trimmed := bytes.TrimSpace(body); len(trimmed) == 0 || trimmed[0] != '{' {
			t.Fatalf("UnmarshalBody took %q, which is not an object", body)
		}
		names, wrong := walkJSON(json.NewDecoder(bytes.NewReader(body)), 0)
		if wrong != "" {
			t.Fatalf("UnmarshalBody took %q: %s", body, wrong)
		}
		if fields == KnownFields {
			for _, n := range names {
				if !slices.Contains(sampleNames, n) {
					t.Fatalf("UnmarshalBody took %q with the unknown name %q", body, n)
				}
			}
		}
	})
}

// walkJSON reads one value from dec, depth levels down, and says what is
// wrong with it for a body UnmarshalBody took ("" for nothing): a name twice
// in an object, nesting beyond MaxBodyDepth, a NUL in a string. For an
// object at the top it returns the names of its members.
func walkJSON(dec *json.Decoder, depth int) (names []string, wrong string) {
	tok, err := dec.Token()
	if err != nil {
		return nil, "unreadable: " + err.Error()
	}
	if s, ok := tok.(string); ok && strings.IndexByte(s, 0) >= 0 {
		return nil, "a NUL in a string"
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil, ""
	}
	if depth >= MaxBodyDepth {
		return nil, "nested too deep"
	}
	var seen []string
	for dec.More() {
		if d == '{' {
			tok, err := dec.Token()
			if err != nil {
				return nil, "unreadable name"
			}
			name := tok.(string)
			if slices.Contains(seen, name) {
				return nil, "the name " + name + " twice"
			}
			if strings.IndexByte(name, 0) >= 0 {
				return nil, "a NUL in a name"
			}
			seen = append(seen, name)
		}
		if _, wrong := walkJSON(dec, depth+1); wrong != "" {
			return nil, wrong
		}
	}
	if _, err := dec.Token(); err != nil && err != io.EOF {
		return nil, "unreadable end"
	}
	return seen, ""
}
