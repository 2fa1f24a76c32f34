package email

import "testing"

func TestParse(t *testing.T) {
	tests := []struct{ in, want string }{
		{"alice@example.com", "alice@example.com"},
		{" Alice@Example.COM ", "Alice@example.com"},
		{"Alice <alice@example.com>", ""},
		{"alice", ""},
		{"alice@localhost", ""},
		{"", ""},
		{"a@b.c\r\nBcc: x@y.z", ""},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("Parse(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{"alice@example.com": "a•••@example.com", "ö@example.com": "ö•••@example.com", "bad": "•••"} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}
