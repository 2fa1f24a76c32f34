package httpapi

import (
	_ "embed"
	"fmt"
	"net/http"
	"strings"
)

// OpenAPI is the OpenAPI 3.1 description of the JSON API (SPEC §3), served at
// GET /v1/openapi.yaml. A test checks that it documents exactly Routes().
//
//go:embed openapi.yaml
var OpenAPI []byte

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(OpenAPI)
}

// httpMethods are the operation keys of an OpenAPI path item.
var httpMethods = map[string]bool{
	"get": true, "put": true, "post": true, "delete": true, "options": true, "head": true, "patch": true, "trace": true,
}

// pathItemFields are the other keys a path item may hold.
var pathItemFields = map[string]bool{"summary": true, "description": true, "servers": true, "parameters": true, "$ref": true}

// yamlKey returns the key of a "key:" or "key: value" line (already trimmed
// of indentation), unquoted.
func yamlKey(s string) (string, bool) {
	k, _, ok := strings.Cut(s, ": ")
	if !ok {
		if !strings.HasSuffix(s, ":") {
			return "", false
		}
		k = strings.TrimSuffix(s, ":")
	}
	if len(k) >= 2 && (k[0] == '"' || k[0] == '\'') && k[len(k)-1] == k[0] {
		k = k[1 : len(k)-1]
	}
	return k, k != ""
}

// DocumentedRoutes returns the operations an OpenAPI document in this
// project's layout documents under "paths:", as "METHOD /path", reading the file's regular layout line by line: paths are
// keys indented by 2 spaces, their operations lower case HTTP methods indented
// by 4. Anything that breaks the layout is an error, so that the reader can
// never silently miss an operation.
func DocumentedRoutes(doc []byte) (map[string]bool, error) {
	routes := map[string]bool{}
	paths := map[string]bool{}
	in, seen := false, false
	path := ""
	for i, line := range strings.Split(string(doc), "\n") {
		n := i + 1
		line = strings.TrimRight(line, " \r")
		trimmed := strings.TrimLeft(line, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.ContainsRune(line, '\t') {
			return nil, fmt.Errorf("line %d: tab character", n)
		}
		indent := len(line) - len(trimmed)
		if indent == 0 {
			in = line == "paths:"
			if in && seen {
				return nil, fmt.Errorf("line %d: second paths: section", n)
			}
			seen = seen || in
			continue
		}
		if !in {
			continue
		}
		switch indent {
		case 2:
			key, ok := yamlKey(trimmed)
			if !ok || !strings.HasPrefix(key, "/") {
				return nil, fmt.Errorf("line %d: want a path key such as \"  /v1/x:\", got %q", n, line)
			}
			if paths[key] {
				return nil, fmt.Errorf("line %d: path %s documented twice", n, key)
			}
			paths[key], path = true, key
		case 4:
			key, ok := yamlKey(trimmed)
			switch {
			case !ok || path == "":
				return nil, fmt.Errorf("line %d: want an operation key under a path, got %q", n, line)
			case httpMethods[key]:
				r := strings.ToUpper(key) + " " + path
				if routes[r] {
					return nil, fmt.Errorf("line %d: %s documented twice", n, r)
				}
				routes[r] = true
			case !pathItemFields[key]:
				return nil, fmt.Errorf("line %d: %q is neither a lower case HTTP method nor a path item field", n, key)
			}
		default:
			if indent < 4 || indent%2 != 0 {
				return nil, fmt.Errorf("line %d: indentation %d under paths: is not a multiple of 2", n, indent)
			}
		}
	}
	if !seen {
		return nil, fmt.Errorf("no paths: section")
	}
	return routes, nil
}
