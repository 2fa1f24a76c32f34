package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
)

// Fields says what a JSON body may hold besides the fields of the value it
// is decoded into.
type Fields int

const (
	// KnownFields refuses a field the value has no field for, so that a
	// misspelt option cannot pass for its default (/v1, the DNS API).
	KnownFields Fields = iota
	// SkipUnknownFields passes over a field the value has no field for:
	// the Identity API's clients send fields Twofold has no use for.
	SkipUnknownFields
)

// UnmarshalBody decodes body, which must be one JSON object of UTF-8 text
// without NUL characters (see JSONText), into v, a pointer. Unlike
// encoding/json alone, a field's name must match its json tag exactly (not
// in another case: "Permits" is not "permits"), no object at any depth may
// name a field twice (encoding/json would keep the last, so that two
// readers of one body could see two different requests), and a value of
// the wrong kind is refused naming the field and what it takes (an
// integer, an RFC 3339 time…). Each refusal is an invalid error that says
// what is wrong.
func UnmarshalBody(body []byte, v any, fields Fields) error {
	if err := JSONText(body); err != nil {
		return err
	}
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return twofold.Errorf(twofold.CodeInvalid, "request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	c := checker{dec: dec, skipUnknown: fields == SkipUnknownFields}
	if err := c.value(reflect.TypeOf(v), nil, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return twofold.Errorf(twofold.CodeInvalid, "request body must hold a single JSON object")
	}
	// The checks above leave encoding/json only bodies whose names match
	// exactly, once each, with values of the right kinds, and no field a
	// struct lacks unless fields allows it: json.Unmarshal, which needs no
	// Decoder and its buffer, reads the rest.
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return twofold.Errorf(twofold.CodeInvalid, "field %q must be %s", core.CleanText(te.Field, 80), kindName(te.Type)).
				At(twofold.InBody, core.CleanText(twofold.JSONPointer(strings.Split(te.Field, ".")...), maxPointer))
		}
		return twofold.Errorf(twofold.CodeInvalid, "request body does not hold the fields expected: %s", core.CleanText(strings.TrimPrefix(err.Error(), "json: "), 120))
	}
	return nil
}

// checker walks a JSON body token by token beside the Go type it is to be
// decoded into.
type checker struct {
	dec         *json.Decoder
	skipUnknown bool
}

// MaxBodyDepth is how deep objects and arrays may nest in a request body.
// The bodies Twofold reads nest a few levels (a security key's credential,
// the Identity API's auth); without a bound, a body of nothing but "[" would
// cost time and memory in the depth squared before encoding/json's own
// bound of 10,000 levels is reached.
const MaxBodyDepth = 32

// jsonPath is where a value sits in a body: a field's name or an array's
// index under its parent (nil: the body itself). It is written out only
// for an error message, so that a value checked costs no string.
type jsonPath struct {
	parent *jsonPath
	name   string // a member's, "" too (an empty name is a name)
	index  int    // when elem is set
	elem   bool   // an array's element, at index
}

// String writes p as the errors name it: "auth.identity.methods[0]".
func (p *jsonPath) String() string {
	if p == nil {
		return ""
	}
	var parts []*jsonPath
	for q := p; q != nil; q = q.parent {
		parts = append(parts, q)
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		q := parts[i]
		if q.elem {
			fmt.Fprintf(&b, "[%d]", q.index)
			continue
		}
		if i != len(parts)-1 {
			b.WriteByte('.')
		}
		if q.name == "" {
			b.WriteString(`""`) // the message names the empty name so
			continue
		}
		b.WriteString(q.name)
	}
	return b.String()
}

// maxPointer bounds the JSON Pointer an error names, as its message
// bounds the field's name: a body's names are the client's to choose.
const maxPointer = 120

// pointer writes p as the JSON Pointer (RFC 6901) to it, cleaned and
// shortened as the errors' messages quote a name (core.CleanText):
// "/auth/identity/methods/0"; a member of the empty name is "/", as RFC
// 6901 §5 has it.
func (p *jsonPath) pointer() string {
	var tokens []string
	for q := p; q != nil; q = q.parent {
		t := q.name
		if q.elem {
			t = strconv.Itoa(q.index)
		}
		tokens = append(tokens, t)
	}
	slices.Reverse(tokens)
	return core.CleanText(twofold.JSONPointer(tokens...), maxPointer)
}

// errDeep refuses a body that nests deeper than MaxBodyDepth.
func errDeep() error {
	return twofold.Errorf(twofold.CodeInvalid, "request body nests objects and arrays more than %d deep", MaxBodyDepth)
}

var (
	timeType        = reflect.TypeFor[time.Time]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textType        = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// value checks the next value, to be decoded into a t (nil: into anything,
// whose objects are checked only for repeated names) at path, depth
// objects and arrays down.
func (c *checker) value(t reflect.Type, path *jsonPath, depth int) error {
	tok, err := c.dec.Token()
	if err != nil {
		return syntaxError(err)
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && t != timeType && (reflect.PointerTo(t).Implements(unmarshalerType) || t.Kind() == reflect.Interface) {
		t = nil // json.RawMessage and the like: any JSON at all
	}
	if tok == nil {
		return nil // null leaves the field as it is, whatever its type
	}
	if t != nil && !fits(t, tok) {
		return twofold.Errorf(twofold.CodeInvalid, "field %q must be %s", core.CleanText(path.String(), 80), kindName(t)).At(twofold.InBody, path.pointer())
	}
	switch tok {
	case json.Delim('{'):
		if depth >= MaxBodyDepth {
			return errDeep()
		}
		return c.object(t, path, depth+1)
	case json.Delim('['):
		if depth >= MaxBodyDepth {
			return errDeep()
		}
		var elem reflect.Type
		if t != nil {
			elem = t.Elem()
		}
		for i := 0; c.dec.More(); i++ {
			if err := c.value(elem, &jsonPath{parent: path, index: i, elem: true}, depth+1); err != nil {
				return err
			}
		}
		_, err := c.dec.Token()
		return syntaxError(err)
	}
	return nil
}

// object checks the members of an object that has begun, to be decoded
// into a t (a struct, a map or nil) at path, depth levels down.
func (c *checker) object(t reflect.Type, path *jsonPath, depth int) error {
	var fields map[string]reflect.Type
	if t != nil && t.Kind() == reflect.Struct {
		fields = structFields(t)
	}
	var seen []string            // few names: a slice beats a map…
	var many map[string]struct{} // …until there are many
	for c.dec.More() {
		tok, err := c.dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		name, _ := tok.(string)
		at := &jsonPath{parent: path, name: name}
		repeated := false
		switch {
		case many != nil:
			_, repeated = many[name]
			many[name] = struct{}{}
		case len(seen) < 16:
			repeated = slices.Contains(seen, name)
			seen = append(seen, name)
		default:
			many = make(map[string]struct{}, 2*len(seen))
			for _, n := range seen {
				many[n] = struct{}{}
			}
			_, repeated = many[name]
			many[name] = struct{}{}
		}
		if repeated {
			return twofold.Errorf(twofold.CodeInvalid, "field %q appears more than once", core.CleanText(at.String(), 80)).At(twofold.InBody, at.pointer())
		}
		var ft reflect.Type
		switch {
		case fields != nil:
			var ok bool
			if ft, ok = fields[name]; ok {
				break
			}
			for known := range fields {
				if strings.EqualFold(known, name) { // as encoding/json would match it
					return twofold.Errorf(twofold.CodeInvalid, "unknown field %q: field names are case-sensitive, did you mean %q?", core.CleanText(at.String(), 80), known).At(twofold.InBody, at.pointer())
				}
			}
			if !c.skipUnknown {
				return twofold.Errorf(twofold.CodeInvalid, "unknown field %q", core.CleanText(at.String(), 80)).At(twofold.InBody, at.pointer())
			}
		case t != nil && t.Kind() == reflect.Map:
			ft = t.Elem()
		}
		if err := c.value(ft, at, depth); err != nil {
			return err
		}
	}
	_, err := c.dec.Token()
	return syntaxError(err)
}

// fieldsOf holds structFields' answers, by type: a type's fields do not
// change, and a request's body is checked against the same few types.
var fieldsOf sync.Map // reflect.Type → map[string]reflect.Type

// structFields is jsonFields of struct t, made once per type. The map is
// shared: it is only read.
func structFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldsOf.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	jsonFields(t, m)
	fieldsOf.Store(t, m)
	return m
}

// jsonFields adds to out each field of struct t by its JSON name, as
// encoding/json names them: the tag's name or else the Go name; fields of
// an embedded struct without a tag as if they were t's own, unless t has
// one of that name.
func jsonFields(t reflect.Type, out map[string]reflect.Type) {
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, ft)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if strings.Contains(","+opts+",", ",string,") {
			ft = nil // a number or bool written as a string: left to encoding/json
		}
		out[name] = ft
	}
	for _, e := range embedded {
		inner := map[string]reflect.Type{}
		jsonFields(e, inner)
		for name, ft := range inner {
			if _, ok := out[name]; !ok {
				out[name] = ft
			}
		}
	}
}

// fits reports whether tok can begin a value of type t (not a pointer).
func fits(t reflect.Type, tok json.Token) bool {
	if t == timeType {
		s, ok := tok.(string)
		if !ok {
			return false
		}
		_, err := time.Parse(time.RFC3339, s)
		return err == nil
	}
	if reflect.PointerTo(t).Implements(textType) {
		_, ok := tok.(string)
		return ok
	}
	switch t.Kind() {
	case reflect.String:
		_, ok := tok.(string)
		return ok
	case reflect.Bool:
		_, ok := tok.(bool)
		return ok
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := tok.(json.Number)
		if ok {
			_, err := strconv.ParseInt(string(n), 10, t.Bits())
			ok = err == nil
		}
		return ok
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := tok.(json.Number)
		if ok {
			_, err := strconv.ParseUint(string(n), 10, t.Bits())
			ok = err == nil
		}
		return ok
	case reflect.Float32, reflect.Float64:
		n, ok := tok.(json.Number)
		if ok {
			_, err := strconv.ParseFloat(string(n), t.Bits())
			ok = err == nil
		}
		return ok
	case reflect.Struct, reflect.Map:
		return tok == json.Delim('{')
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 { // base64 text
			_, ok := tok.(string)
			return ok
		}
		return tok == json.Delim('[')
	case reflect.Array:
		return tok == json.Delim('[')
	}
	return true
}

// kindName names what a value of type t is written as in JSON, for an error
// message.
func kindName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timeType {
		return "an RFC 3339 time, such as \"2027-01-31T12:00:00Z\""
	}
	if reflect.PointerTo(t).Implements(textType) {
		return "a string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if t.Bits() == 64 {
			return "an integer"
		}
		hi := int64(1)<<(t.Bits()-1) - 1
		return fmt.Sprintf("an integer from %d to %d", -hi-1, hi)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if t.Bits() == 64 {
			return "an integer of 0 or more"
		}
		return fmt.Sprintf("an integer from 0 to %d", uint64(1)<<t.Bits()-1)
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64 string"
		}
		return "an array"
	case reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}

// syntaxError turns an error of json.Decoder.Token into an invalid error;
// nil stays nil.
func syntaxError(err error) error {
	if err == nil {
		return nil // before se, which errors.As moves to the heap
	}
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return twofold.Errorf(twofold.CodeInvalid, "request body is not valid JSON (at byte %d)", se.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return twofold.Errorf(twofold.CodeInvalid, "request body is not valid JSON (it ends too soon)")
	}
	return twofold.Errorf(twofold.CodeInvalid, "request body is not valid JSON")
}
