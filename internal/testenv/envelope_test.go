package testenv_test

import (
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// TestEnvelope: an address's domain beyond ASCII goes as its A-labels, an
// ASCII one as written (case kept), and the local part as it is, split at
// the last @.
func TestEnvelope(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"new@example.net", "new@example.net"},
		{"CE@exampleQcom", "CE@exampleQcom"},
		{"new@bücher.example", "new@xn--bcher-kva.example"},
		{"nöe@example.net", "nöe@example.net"},
		{`"a@b"@bücher.example`, `"a@b"@xn--bcher-kva.example`},
		{"no-at-sign", "no-at-sign"},
	} {
		if got := testenv.Envelope(c.in); got != c.want {
			t.Errorf("Envelope(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
