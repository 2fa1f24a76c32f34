package httpapi

import (
	_ "embed"
	"net/http"
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
