package blocklist

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// orderedFile writes passwords as the Pwned Passwords SHA-1 file ordered
// by hash, with eol ending each line and hex in the given case.
func orderedFile(t testing.TB, passwords []string, eol string, upper bool) string {
	t.Helper()
	var lines []string
	for i, pw := range passwords {
		sum := sha1.Sum([]byte(pw))
		h := hex.EncodeToString(sum[:])
		if upper {
			h = strings.ToUpper(h)
		}
		lines = append(lines, fmt.Sprintf("%s:%d", h, i*7919%100000+1))
	}
	slices.SortFunc(lines, func(a, b string) int { return strings.Compare(strings.ToUpper(a), strings.ToUpper(b)) })
	path := filepath.Join(t.TempDir(), "pwned.txt")
	if err := os.WriteFile(path, []byte(strings.Join(lines, eol)+eol), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func open(t testing.TB, path string) *List {
	t.Helper()
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func passwords(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// TestOrdered: every password of an ordered SHA-1 file is found, the
// first and the last included, and none that is not, whatever the line
// ends and the case of the hex.
func TestOrdered(t *testing.T) {
	listed, other := passwords("listed", 5000), passwords("other", 5000)
	for _, tc := range []struct {
		name  string
		eol   string
		upper bool
	}{{"CRLF upper", "\r\n", true}, {"LF lower", "\n", false}} {
		t.Run(tc.name, func(t *testing.T) {
			l := open(t, orderedFile(t, listed, tc.eol, tc.upper))
			if l.Len() != -1 {
				t.Errorf("Len = %d, want -1 for the SHA-1 form", l.Len())
			}
			for _, pw := range listed {
				if ok, err := l.Contains(pw); err != nil || !ok {
					t.Fatalf("Contains(%q) = %v, %v; want true", pw, ok, err)
				}
			}
			for _, pw := range append(other, "", "LISTED-1") {
				if ok, err := l.Contains(pw); err != nil || ok {
					t.Fatalf("Contains(%q) = %v, %v; want false", pw, ok, err)
				}
			}
		})
	}
	// Lists of one and two lines, where the search starts at the edges.
	for n := 1; n <= 3; n++ {
		l := open(t, orderedFile(t, listed[:n], "\n", true))
		for _, pw := range listed[:n] {
			if ok, err := l.Contains(pw); err != nil || !ok {
				t.Errorf("%d lines: Contains(%q) = %v, %v", n, pw, ok, err)
			}
		}
		if ok, _ := l.Contains("other"); ok {
			t.Errorf("%d lines: an unlisted password found", n)
		}
	}
}

// TestPlain: a plain list matches without regard to case, skips empty
// lines, and a list with hashes in the wrong order is refused.
func TestPlain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain.txt")
	if err := os.WriteFile(path, []byte("hunter2\r\n\nCorrectHorse\nletmein!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := open(t, path)
	if l.Len() != 3 {
		t.Errorf("Len = %d, want 3", l.Len())
	}
	for pw, want := range map[string]bool{"hunter2": true, "HUNTER2": true, "correcthorse": true, "letmein!": true, "letmein": false, "": false} {
		if ok, err := l.Contains(pw); err != nil || ok != want {
			t.Errorf("Contains(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
}

// TestOpenRefuses: files that cannot be the list they look like, and
// files that hold no password at all.
func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	a, b := strings.Repeat("B", 40), strings.Repeat("A", 40)
	ntlm := func(c string) string { return strings.Repeat(c, 32) }
	for name, body := range map[string]string{
		"out of order":      a + ":1\n" + b + ":2\n",
		"a bad line":        b + ":1\nnot a hash\n",
		"repeated":          b + ":1\n" + b + ":1\n",
		"spaces":            b + " 1\n" + a + " 2\n" + a + "B 3\n",
		"NTLM":              ntlm("C") + ":1\n" + ntlm("D") + ":2\n" + ntlm("E") + ":3\n",
		"a header":          "hash,count\n" + b + ",1\n" + a + ",2\n" + a + "B,3\n",
		"byte order mark":   "\ufeff" + b + ":1\n" + a + ":2\n",
		"a line over 120 B": b + ":1\n" + a + ":" + strings.Repeat("9", 100) + "\n" + strings.Repeat("C", 40) + ":1\n",
		// An operator who names a list expects passwords screened against
		// it: one with nothing in it is refused, not used as none.
		"empty":                   "",
		"blank lines only":        "\n\r\n\n",
		"a byte order mark alone": "\ufeff\n",
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if l, err := Open(path); err == nil {
			l.Close()
			t.Errorf("%s: opened", name)
		}
	}
	if _, err := Open(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file opened")
	}
}

func BenchmarkOrderedContains(b *testing.B) {
	listed := passwords("listed", 200000)
	l := open(b, orderedFile(b, listed, "\r\n", true))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := l.Contains(listed[i%len(listed)]); err != nil {
			b.Fatal(err)
		}
	}
}
