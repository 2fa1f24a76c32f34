package credhash

import (
	"bytes"
	"strings"
	"testing"
)

func fastParams() Params { return Params{Memory: 8 * 1024, Iterations: 1, Parallelism: 1} }

func TestPasswordRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse", fastParams())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=8192,t=1,p=1$") {
		t.Fatalf("got %q, want PHC argon2id prefix", h)
	}
	for _, tc := range []struct {
		name, password string
		want           bool
	}{
		{"right", "correct horse", true},
		{"wrong", "correct horsE", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CheckPassword(tc.password, h)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCheckPasswordMalformed(t *testing.T) {
	for _, enc := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=18$m=8192,t=1,p=1$AA$AA", "$argon2id$v=19$m=8192,t=1,p=1$!!$AA", "$argon2id$v=19$m=8192,t=1,p=1$AAAA$"} {
		if ok, err := CheckPassword("x", enc); ok || err == nil {
			t.Errorf("CheckPassword(%q) = %v, %v; want false and an error", enc, ok, err)
		}
	}
}

// TestCheckPasswordOutOfRange: a hash written from outside that names no
// pass or no lane (which would panic the Argon2 code), or terabytes of
// memory or a thousand passes (which would end the process or hold it for
// hours), is refused as malformed without being run, and its refusal is
// padded as one of no hash at all.
func TestCheckPasswordOutOfRange(t *testing.T) {
	sum := "$c2FsdHNhbHRzYWx0c2FsdA$c3Vtc3Vtc3Vtc3Vtc3Vtc3Vtc3Vtc3Vtc3Vtc3U"
	for _, params := range []string{"m=8192,t=0,p=1", "m=8192,t=1,p=0", "m=4294967295,t=1,p=1", "m=8192,t=1000,p=1"} {
		enc := "$argon2id$v=19$" + params + sum
		if ok, err := CheckPassword("x", enc); ok || err == nil {
			t.Errorf("CheckPassword with %s = %v, %v; want false and an error", params, ok, err)
		}
		if got, padded := Padding(enc, fastParams()); got != fastParams() || !padded {
			t.Errorf("Padding of a hash with %s: got %v, %v; want the whole cost, %v", params, got, padded, fastParams())
		}
	}
}

func TestHasherSeparatesPurposes(t *testing.T) {
	h, err := NewHasher(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	a, b := h.Sum("session", "tok"), h.Sum("recovery", "tok")
	if Equal(a, b) {
		t.Fatal("hashes of different purposes are equal")
	}
	if !Equal(a, h.Sum("session", "tok")) {
		t.Fatal("hash is not deterministic")
	}
	if _, err := NewHasher(make([]byte, 31)); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestDefaultParamsValid(t *testing.T) {
	if err := DefaultParams().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Params{Memory: 1, Iterations: 1, Parallelism: 1}).Validate(); err == nil {
		t.Fatal("tiny memory accepted")
	}
}

func BenchmarkHashPasswordDefault(b *testing.B) {
	for b.Loop() {
		if _, err := HashPassword("correct horse", DefaultParams()); err != nil {
			b.Fatal(err)
		}
	}
}

// mustHash returns a hash of a password made with p.
func mustHash(t *testing.T, p Params) string {
	t.Helper()
	h, err := HashPassword("correct horse", p)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestNeedsRehash: a hash made with other parameters than the configured
// ones, whichever way they differ, is to be made again.
func TestNeedsRehash(t *testing.T) {
	h, err := HashPassword("correct horse", fastParams())
	if err != nil {
		t.Fatal(err)
	}
	other := fastParams()
	other.Iterations = 2
	for _, tc := range []struct {
		name    string
		encoded string
		p       Params
		want    bool
	}{
		{"same parameters", h, fastParams(), false},
		{"other parameters", h, other, true},
		{"default parameters", h, DefaultParams(), true},
		{"weaker parameters", h, Params{Memory: 4 * 1024, Iterations: 1, Parallelism: 1}, true},
		{"fewer iterations", mustHash(t, Params{Memory: 8 * 1024, Iterations: 3, Parallelism: 1}), fastParams(), true},
		{"less memory", mustHash(t, Params{Memory: 16 * 1024, Iterations: 1, Parallelism: 1}), fastParams(), true},
		{"more lanes", h, Params{Memory: 8 * 1024, Iterations: 1, Parallelism: 2}, true},
		{"fewer lanes", mustHash(t, Params{Memory: 8 * 1024, Iterations: 1, Parallelism: 2}), fastParams(), true},
		{"not a hash", "plain", fastParams(), true},
	} {
		if got := NeedsRehash(tc.encoded, tc.p); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestPadding: a check of a hash weaker than p is padded by the blocks per
// lane it falls short by, with p's passes and lanes and no more memory than
// p; one as costly or costlier is not padded; one that cannot be read is
// padded by a whole hash with p.
func TestPadding(t *testing.T) {
	p := Params{Memory: 16 * 1024, Iterations: 2, Parallelism: 2}
	for _, tc := range []struct {
		name    string
		encoded string
		want    Params
		padded  bool
	}{
		{"same parameters", mustHash(t, p), Params{}, false},
		{"stronger", mustHash(t, Params{Memory: 32 * 1024, Iterations: 2, Parallelism: 2}), Params{}, false},
		{"fewer lanes, same work", mustHash(t, Params{Memory: 8 * 1024, Iterations: 2, Parallelism: 1}), Params{}, false},
		{"half the memory", mustHash(t, Params{Memory: 8 * 1024, Iterations: 2, Parallelism: 2}), Params{Memory: 8 * 1024, Iterations: 2, Parallelism: 2}, true},
		{"one pass", mustHash(t, Params{Memory: 16 * 1024, Iterations: 1, Parallelism: 2}), Params{Memory: 8 * 1024, Iterations: 2, Parallelism: 2}, true},
		{"four lanes", mustHash(t, Params{Memory: 16 * 1024, Iterations: 2, Parallelism: 4}), Params{Memory: 8 * 1024, Iterations: 2, Parallelism: 2}, true},
		{"all but a block", mustHash(t, Params{Memory: 16*1024 - 4, Iterations: 2, Parallelism: 2}), Params{Memory: 16, Iterations: 2, Parallelism: 2}, true},
		{"not a hash", "plain", p, true},
	} {
		got, padded := Padding(tc.encoded, p)
		if got != tc.want || padded != tc.padded {
			t.Errorf("%s: got %v, %v, want %v, %v", tc.name, got, padded, tc.want, tc.padded)
		}
	}
}

// TestParseParams reads the parameter field of a PHC hash, as the store
// lists them, and refuses anything else.
func TestParseParams(t *testing.T) {
	for _, tc := range []struct {
		field string
		want  Params
		ok    bool
	}{
		{"m=19456,t=2,p=1", Params{Memory: 19456, Iterations: 2, Parallelism: 1}, true},
		{"m=65536,t=3,p=4", Params{Memory: 65536, Iterations: 3, Parallelism: 4}, true},
		{"m=65536,t=3", Params{}, false},
		{"m=65536,t=3,p=4x", Params{}, false},
		{"m=65536,t=3,p=4$salt", Params{}, false},
		{"m=-1,t=3,p=4", Params{}, false},
		{"", Params{}, false},
	} {
		got, err := ParseParams(tc.field)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseParams(%q) = %v, %v; want %v, ok %v", tc.field, got, err, tc.want, tc.ok)
		}
	}
	h := mustHash(t, fastParams())
	p, err := ParamsOf(h)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ParseParams(strings.Split(h, "$")[3]); err != nil || got != p {
		t.Errorf("ParseParams of a hash's field: %v, %v, want %v", got, err, p)
	}
}

// TestCostlier picks the parameters of more work per lane.
func TestCostlier(t *testing.T) {
	a := Params{Memory: 16384, Iterations: 2, Parallelism: 1} // 32768 blocks per lane
	b := Params{Memory: 65536, Iterations: 1, Parallelism: 4} // 16384
	c := Params{Memory: 8192, Iterations: 4, Parallelism: 1}  // 32768, as a
	for _, tc := range []struct {
		name       string
		p, q, want Params
	}{
		{"more passes beat more memory over more lanes", b, a, a},
		{"the first of the same work", a, c, a},
		{"the first of the same work, the other way", c, a, c},
		{"stronger first", a, b, a},
	} {
		if got := Costlier(tc.p, tc.q); got != tc.want {
			t.Errorf("%s: Costlier(%v, %v) = %v, want %v", tc.name, tc.p, tc.q, got, tc.want)
		}
	}
}
