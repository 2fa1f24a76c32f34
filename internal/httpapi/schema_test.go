package httpapi

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// This file checks answers against openapi.yaml: the part of JSON Schema
// (2020-12) the file uses, enough to tell whether a real answer matches the
// schema documented for it, and whether each oneOf's branches can be told
// apart (an answer that matches two branches fails a oneOf).

// openAPIDoc is openapi.yaml, decoded.
func openAPIDoc(tb testing.TB) map[string]any {
	tb.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		tb.Fatalf("openapi.yaml: %v", err)
	}
	return doc
}

// child returns m[key] as a map, or nil.
func child(m any, key string) map[string]any {
	mm, _ := m.(map[string]any)
	c, _ := mm[key].(map[string]any)
	return c
}

// resolve follows s's $ref (and the $ref of what it names) in doc.
func resolve(doc, s map[string]any) map[string]any {
	for s != nil {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		var node any = doc
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			node = child(node, part)
		}
		next, _ := node.(map[string]any)
		if len(s) > 1 { // siblings of $ref apply too
			merged := map[string]any{"allOf": []any{next, without(s, "$ref")}}
			return merged
		}
		s = next
	}
	return s
}

func without(m map[string]any, key string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// AnswerMismatches returns how body, the answer with status to method on
// the route path (as openapi.yaml writes it: "/v1/me/factors/{id}"),
// departs from the schema the file documents for it; none when it matches.
// A status the operation does not document (and no default) is a mismatch.
func AnswerMismatches(tb testing.TB, method, path string, status int, body []byte) []string {
	tb.Helper()
	doc := openAPIDoc(tb)
	op := child(child(child(doc, "paths"), path), strings.ToLower(method))
	if op == nil {
		return []string{fmt.Sprintf("%s %s is not documented", method, path)}
	}
	resp := resolve(doc, child(child(op, "responses"), fmt.Sprint(status)))
	if resp == nil {
		return []string{fmt.Sprintf("%s %s: status %d is not documented", method, path, status)}
	}
	content := child(resp, "content")
	if len(content) == 0 {
		return nil
	}
	var schema map[string]any
	for _, media := range content {
		schema = child(media, "schema")
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return []string{fmt.Sprintf("%s %s %d: not JSON: %v", method, path, status, err)}
	}
	return schemaMismatches(doc, schema, v, "")
}

// schemaMismatches returns how v departs from schema s, at where.
func schemaMismatches(doc, s map[string]any, v any, where string) []string {
	s = resolve(doc, s)
	if s == nil {
		return nil
	}
	at := where
	if at == "" {
		at = "(answer)"
	}
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, at+": "+fmt.Sprintf(format, args...)) }
	if t, ok := s["type"]; ok && !typeMatches(t, v) {
		bad("%v is not of type %v", short(v), t)
		return errs
	}
	if c, ok := s["const"]; ok && !jsonEqual(c, v) {
		bad("%v, want %v", short(v), c)
	}
	if e, ok := s["enum"].([]any); ok && !slices.ContainsFunc(e, func(x any) bool { return jsonEqual(x, v) }) {
		bad("%v is not one of %v", short(v), e)
	}
	switch v := v.(type) {
	case map[string]any:
		for _, r := range list(s["required"]) {
			if _, ok := v[r.(string)]; !ok {
				bad("%q is required", r)
			}
		}
		props := child(s, "properties")
		for k, x := range v {
			if p, ok := props[k].(map[string]any); ok {
				errs = append(errs, schemaMismatches(doc, p, x, where+"/"+k)...)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					bad("%q is not allowed", k)
				}
			case map[string]any:
				errs = append(errs, schemaMismatches(doc, ap, x, where+"/"+k)...)
			}
		}
	case []any:
		if it := child(s, "items"); it != nil {
			for i, x := range v {
				errs = append(errs, schemaMismatches(doc, it, x, fmt.Sprintf("%s/%d", where, i))...)
			}
		}
		if n, ok := number(s["minItems"]); ok && float64(len(v)) < n {
			bad("%d items, want at least %v", len(v), n)
		}
		if n, ok := number(s["maxItems"]); ok && float64(len(v)) > n {
			bad("%d items, want at most %v", len(v), n)
		}
	case string:
		if n, ok := number(s["minLength"]); ok && float64(len([]rune(v))) < n {
			bad("%q is shorter than %v", v, n)
		}
		if n, ok := number(s["maxLength"]); ok && float64(len([]rune(v))) > n {
			bad("%q is longer than %v", short(v), n)
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(v) {
			bad("%q does not match %s", short(v), p)
		}
	case float64:
		if n, ok := number(s["minimum"]); ok && v < n {
			bad("%v is below %v", v, n)
		}
		if n, ok := number(s["maximum"]); ok && v > n {
			bad("%v is above %v", v, n)
		}
	}
	for _, sub := range list(s["allOf"]) {
		errs = append(errs, schemaMismatches(doc, sub.(map[string]any), v, where)...)
	}
	if alts := list(s["anyOf"]); len(alts) > 0 && !slices.ContainsFunc(alts, func(sub any) bool {
		return len(schemaMismatches(doc, sub.(map[string]any), v, where)) == 0
	}) {
		bad("matches none of anyOf")
	}
	if one := list(s["oneOf"]); len(one) > 0 {
		var matched []string
		for i, sub := range one {
			if len(schemaMismatches(doc, sub.(map[string]any), v, where)) == 0 {
				name, _ := sub.(map[string]any)["$ref"].(string)
				matched = append(matched, fmt.Sprintf("%d %s", i, name))
			}
		}
		if len(matched) != 1 {
			bad("matches %d branches of oneOf, want exactly 1: %v", len(matched), matched)
		}
	}
	if not := child(s, "not"); not != nil && len(schemaMismatches(doc, not, v, where)) == 0 {
		bad("matches what not forbids")
	}
	return errs
}

func list(v any) []any { l, _ := v.([]any); return l }

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// jsonEqual reports whether a (from YAML) and b (from JSON) are the same value.
func jsonEqual(a, b any) bool {
	if n, ok := number(a); ok {
		m, ok := b.(float64)
		return ok && n == m
	}
	return a == b
}

func typeMatches(t, v any) bool {
	types, ok := t.([]any)
	if !ok {
		types = []any{t}
	}
	for _, t := range types {
		switch t {
		case "object":
			_, ok = v.(map[string]any)
		case "array":
			_, ok = v.([]any)
		case "string":
			_, ok = v.(string)
		case "boolean":
			_, ok = v.(bool)
		case "number":
			_, ok = v.(float64)
		case "integer":
			n, isNum := v.(float64)
			ok = isNum && n == math.Trunc(n)
		case "null":
			ok = v == nil
		}
		if ok {
			return true
		}
	}
	return false
}

func short(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// flat is a schema with its $ref followed and its allOf merged in: what
// branchesDisjoint needs of it.
type flat struct {
	required   []string
	properties map[string][]map[string]any // each property's schemas, all of which apply
	values     []any                       // const or enum, when given
	excluded   []string                    // properties it forbids (not: required, additionalProperties false)
	closed     bool
}

func flatten(doc, s map[string]any) flat {
	var f flat
	f.properties = map[string][]map[string]any{}
	var add func(s map[string]any)
	add = func(s map[string]any) {
		s = resolve(doc, s)
		if s == nil {
			return
		}
		for _, r := range list(s["required"]) {
			f.required = append(f.required, r.(string))
		}
		for k, p := range child(s, "properties") {
			f.properties[k] = append(f.properties[k], p.(map[string]any))
		}
		if c, ok := s["const"]; ok {
			f.values = []any{c}
		} else if e := list(s["enum"]); len(e) > 0 && f.values == nil {
			f.values = e
		}
		if not := child(s, "not"); not != nil {
			for _, r := range list(not["required"]) {
				f.excluded = append(f.excluded, r.(string))
			}
			for _, alt := range list(not["anyOf"]) {
				for _, r := range list(alt.(map[string]any)["required"]) {
					f.excluded = append(f.excluded, r.(string))
				}
			}
		}
		if ap, ok := s["additionalProperties"].(bool); ok && !ap {
			f.closed = true
		}
		for _, sub := range list(s["allOf"]) {
			add(sub.(map[string]any))
		}
	}
	add(s)
	return f
}

// forbids reports whether f allows no object with property p.
func (f flat) forbids(p string) bool {
	_, listed := f.properties[p]
	return slices.Contains(f.excluded, p) || f.closed && !listed
}

// branchesDisjoint reports whether no value can match both a and b: they
// require one property with values that cannot meet (two consts, or enums
// with nothing in common, at any depth of properties both require), or one
// requires a property the other forbids.
func branchesDisjoint(doc, a, b map[string]any) bool {
	fa, fb := flatten(doc, a), flatten(doc, b)
	if fa.values != nil && fb.values != nil && !slices.ContainsFunc(fa.values, func(x any) bool { return slices.Contains(fb.values, x) }) {
		return true
	}
	for _, p := range fa.required {
		if fb.forbids(p) {
			return true
		}
	}
	for _, p := range fb.required {
		if fa.forbids(p) {
			return true
		}
	}
	for _, p := range fa.required {
		if !slices.Contains(fb.required, p) {
			continue
		}
		pa := map[string]any{"allOf": anys(fa.properties[p])}
		pb := map[string]any{"allOf": anys(fb.properties[p])}
		if branchesDisjoint(doc, pa, pb) {
			return true
		}
	}
	return false
}

func anys(ms []map[string]any) []any {
	out := make([]any, len(ms))
	for i, m := range ms {
		out[i] = m
	}
	return out
}

// TestOpenAPIOneOfBranchesAreDisjoint: every oneOf in openapi.yaml has
// branches no value can match two of: else a real answer (or request)
// fails it. (The 201 of POST /v1/me/factors was oneOf two schemas that
// required only factor: every answer matched both.) Branches are told
// apart by a const or enum of a property both require, at any depth (a
// discriminator), or by a property one requires and the other forbids;
// where that cannot be said, the file should use anyOf.
func TestOpenAPIOneOfBranchesAreDisjoint(t *testing.T) {
	doc := openAPIDoc(t)
	var walk func(where string, v any)
	found := 0
	walk = func(where string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if one := list(v["oneOf"]); len(one) > 0 {
				found++
				for i := range one {
					for j := i + 1; j < len(one); j++ {
						a, b := one[i].(map[string]any), one[j].(map[string]any)
						if !branchesDisjoint(doc, a, b) {
							t.Errorf("%s: oneOf branches %d %v and %d %v can both match one value: give them a discriminator, or use anyOf", where, i, a["$ref"], j, b["$ref"])
						}
					}
				}
			}
			for _, k := range sortedKeys(v) {
				walk(where+"/"+k, v[k])
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s/%d", where, i), x)
			}
		}
	}
	walk("#", doc)
	if found == 0 {
		t.Fatal("no oneOf found: is the walk broken?")
	}
}

// TestSchemaMismatches checks the checker itself on small schemas.
func TestSchemaMismatches(t *testing.T) {
	doc := map[string]any{"components": map[string]any{"schemas": map[string]any{
		"A": map[string]any{"type": "object", "required": []any{"factor"}},
		"B": map[string]any{"type": "object", "required": []any{"factor"}, "properties": map[string]any{"n": map[string]any{"type": "integer", "minimum": 0}}},
	}}}
	a := map[string]any{"$ref": "#/components/schemas/A"}
	b := map[string]any{"$ref": "#/components/schemas/B"}
	for name, tt := range map[string]struct {
		schema map[string]any
		body   string
		ok     bool
	}{
		"matches":                 {b, `{"factor":{},"n":2}`, true},
		"missing required":        {b, `{"n":2}`, false},
		"not an integer":          {b, `{"factor":{},"n":2.5}`, false},
		"below minimum":           {b, `{"factor":{},"n":-1}`, false},
		"oneOf matching both":     {map[string]any{"oneOf": []any{a, b}}, `{"factor":{}}`, false},
		"anyOf matching both":     {map[string]any{"anyOf": []any{a, b}}, `{"factor":{}}`, true},
		"oneOf matching only one": {map[string]any{"oneOf": []any{a, b}}, `{"factor":{},"n":-1}`, true},
	} {
		t.Run(name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(tt.body), &v); err != nil {
				t.Fatal(err)
			}
			errs := schemaMismatches(doc, tt.schema, v, "")
			if ok := len(errs) == 0; ok != tt.ok {
				t.Errorf("%s: got %v, want ok %v", tt.body, errs, tt.ok)
			}
		})
	}
	if branchesDisjoint(doc, a, b) {
		t.Error("A and B both require only factor: not disjoint")
	}
	c := map[string]any{"properties": map[string]any{"factor": map[string]any{"properties": map[string]any{"status": map[string]any{"const": "active"}}}}, "required": []any{"factor"}}
	d := map[string]any{"properties": map[string]any{"factor": map[string]any{"required": []any{"status"}, "properties": map[string]any{"status": map[string]any{"const": "pending"}}}}, "required": []any{"factor"}}
	if branchesDisjoint(doc, c, d) {
		t.Error("status is not required in both: not disjoint")
	}
	c["properties"].(map[string]any)["factor"].(map[string]any)["required"] = []any{"status"}
	if !branchesDisjoint(doc, c, d) {
		t.Error("factor.status const active and const pending: disjoint")
	}
}
