package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/server"
	"github.com/twofold/twofold/internal/testenv"
)

// TestMaxHeaderBytes: a request whose header is over MaxHeaderBytes (64
// KiB) is refused with 431 before any handler, on both stores, where
// net/http's default would take up to 1 MiB; one a little under it is
// served.
func TestMaxHeaderBytes(t *testing.T) {
	if server.MaxHeaderBytes != 64<<10 {
		t.Errorf("MaxHeaderBytes = %d, want 65536 (README)", server.MaxHeaderBytes)
	}
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := testenv.NewServer(t, dsn(t))
			for _, tt := range []struct {
				name  string
				bytes int
				want  int
			}{
				{"under", server.MaxHeaderBytes - 8<<10, http.StatusOK},
				{"over", server.MaxHeaderBytes + 8<<10, http.StatusRequestHeaderFieldsTooLarge},
				{"well over", 512 << 10, http.StatusRequestHeaderFieldsTooLarge},
			} {
				req, err := http.NewRequest("GET", "http://"+s.Addr()+"/healthz", nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("X-Padding", strings.Repeat("a", tt.bytes))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.want {
					t.Errorf("%s (%d bytes): got %d, want %d", tt.name, tt.bytes, resp.StatusCode, tt.want)
				}
			}
		})
	}
}
