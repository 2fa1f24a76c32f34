package dnsapi_test

import (
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold/internal/dnsapi"
	"github.com/twofold/twofold/internal/httpapi"
)

// TestOpenAPIDocumentsEveryRoute checks that the project's OpenAPI file
// documents under /dns/v2/ exactly the routes of the DNS API.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	documented, err := httpapi.DocumentedRoutes(httpapi.OpenAPI)
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	var got, want []string
	for r := range documented {
		if _, path, _ := strings.Cut(r, " "); strings.HasPrefix(path, dnsapi.Prefix) {
			got = append(got, r)
		}
	}
	log := slog.New(slog.DiscardHandler)
	for r := range dnsapi.New(nil, httpapi.New(nil, nil, log), log).Routes() {
		want = append(want, r)
	}
	slices.Sort(got)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DNS API routes documented in openapi.yaml (-served +documented):\n%s", diff)
	}
}
