// Package blocklist answers whether a password is in a list of passwords
// known to attackers, which NIST SP 800-63B §3.1.1.2 asks a verifier to
// refuse. The list is a file the operator provides, in one of two forms:
//
//   - the Pwned Passwords SHA-1 file ordered by hash: lines "HASH:COUNT",
//     HASH forty hexadecimal digits, in ascending order. It is searched on
//     disk (a binary search of a few dozen small reads) and never loaded,
//     so a list of hundreds of millions of passwords costs no memory;
//   - plain passwords, one per line, compared without regard to case. They
//     are held in memory as 64-bit keyed hashes, about 40 bytes each.
//
// The form is told from the first line; a list of hashes in another form
// (NTLM, other separators) is refused rather than read as passwords that
// would never match. The file is read as it was when opened: a new list
// takes a restart. Standard library only.
package blocklist

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"strings"
)

// MaxPlain is the most passwords a plain list may hold: beyond it, the
// ordered SHA-1 form serves without memory.
const MaxPlain = 5_000_000

// maxLine is the longest line of the ordered SHA-1 form: a hash, a colon
// and a count.
const maxLine = 100

// checkedLines is how many lines of an ordered SHA-1 file Open reads to
// check its form and order.
const checkedLines = 1000

// List is an open list of passwords. It is safe for concurrent use.
type List struct {
	// The ordered SHA-1 form.
	f    *os.File
	size int64
	// The plain form.
	seed maphash.Seed
	set  map[uint64]struct{}
}

// Open opens the list at path. A file in neither form, an ordered SHA-1
// file out of order, a file holding no password (empty, or blank lines
// only), or a plain list of more than MaxPlain passwords is an error
// saying which.
func Open(path string) (*List, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("password blocklist: %w", err)
	}
	first, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, fmt.Errorf("password blocklist %s: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("password blocklist %s: %w", path, err)
	}
	if _, ok := hashLine([]byte(strings.TrimRight(strings.TrimPrefix(first, bom), "\r\n"))); ok {
		if strings.HasPrefix(first, bom) {
			f.Close()
			return nil, fmt.Errorf("password blocklist %s: the SHA-1 list starts with a byte order mark: remove it", path)
		}
		return openOrdered(f, path)
	}
	defer f.Close()
	return readPlain(f, path)
}

// bom is the byte order mark some tools put at the start of a text file.
const bom = "\ufeff"

// hashLike reports whether line starts like a hash list in a form Open
// does not read: 32 (NTLM) or 40 hexadecimal digits followed by anything
// but the SHA-1 form's colon.
func hashLike(line string) bool {
	n := 0
	for n < len(line) && strings.IndexByte("0123456789abcdefABCDEF", line[n]) >= 0 {
		n++
	}
	return n == 32 || n == 40 && (len(line) == 40 || line[40] != ':') || n > 40
}

// openOrdered checks the first lines of an ordered SHA-1 file and keeps it
// open for searching.
func openOrdered(f *os.File, path string) (*List, error) {
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("password blocklist %s: %w", path, err)
	}
	sc := bufio.NewScanner(f)
	var prev []byte
	for n := 1; n <= checkedLines && sc.Scan(); n++ {
		line := bytes.TrimRight(sc.Bytes(), "\r")
		key, ok := hashLine(line)
		if !ok || len(line) > maxLine || len(line) > 41 && bytes.IndexFunc(line[41:], func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
			f.Close()
			return nil, fmt.Errorf("password blocklist %s: line %d is not HASH:COUNT with a SHA-1 hash of 40 hexadecimal digits", path, n)
		}
		if prev != nil && bytes.Compare(prev, key) >= 0 {
			f.Close()
			return nil, fmt.Errorf("password blocklist %s: line %d is out of order: the SHA-1 list must be the one ordered by hash", path, n)
		}
		prev = key
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return nil, fmt.Errorf("password blocklist %s: %w", path, err)
	}
	return &List{f: f, size: st.Size()}, nil
}

// readPlain reads a plain list into memory.
func readPlain(r io.Reader, path string) (*List, error) {
	l := &List{seed: maphash.MakeSeed(), set: make(map[uint64]struct{})}
	sc := bufio.NewScanner(r)
	hashes, lines := 0, 0
	for sc.Scan() {
		pw := strings.TrimRight(sc.Text(), "\r")
		if lines == 0 {
			pw = strings.TrimPrefix(pw, bom)
		}
		if pw == "" {
			continue
		}
		if lines++; lines <= checkedLines && hashLike(pw) {
			hashes++
		}
		if len(l.set) >= MaxPlain {
			return nil, fmt.Errorf("password blocklist %s: more than %d passwords; use the Pwned Passwords SHA-1 file ordered by hash, which is searched on disk", path, MaxPlain)
		}
		l.set[maphash.String(l.seed, strings.ToLower(pw))] = struct{}{}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("password blocklist %s: %w", path, err)
	}
	if lines == 0 {
		// An operator who named a list expects new passwords screened
		// against it: a file with nothing in it (a download cut short, the
		// wrong file) would screen against none, unseen.
		return nil, fmt.Errorf("password blocklist %s: holds no password (the file is empty, or blank lines only): give the list's file, or leave --password-blocklist out to screen against none", path)
	}
	if hashes*2 > min(lines, checkedLines) {
		// A list of hashes read as passwords would never match.
		return nil, fmt.Errorf("password blocklist %s: its lines look like hashes, but not the Pwned Passwords SHA-1 form HASH:COUNT ordered by hash (NTLM hashes cannot be checked)", path)
	}
	return l, nil
}

// hashLine returns the upper-case hash of a line "HASH" or "HASH:COUNT".
func hashLine(line []byte) ([]byte, bool) {
	if len(line) < 40 || len(line) > 40 && line[40] != ':' {
		return nil, false
	}
	key := bytes.ToUpper(line[:40])
	if _, err := hex.DecodeString(string(key)); err != nil {
		return nil, false
	}
	return key, true
}

// Len returns how many passwords a plain list holds, and -1 for an
// ordered SHA-1 file, whose count is not read.
func (l *List) Len() int {
	if l.f != nil {
		return -1
	}
	return len(l.set)
}

// Contains reports whether password is in the list: exactly, for the SHA-1
// form; without regard to case, for the plain form. An error is a failed
// read of the file.
func (l *List) Contains(password string) (bool, error) {
	if l.f == nil {
		_, ok := l.set[maphash.String(l.seed, strings.ToLower(password))]
		return ok, nil
	}
	sum := sha1.Sum([]byte(password))
	want := []byte(strings.ToUpper(hex.EncodeToString(sum[:])))
	// Only lines that start in [lo, hi) may still hold want: those that
	// start before lo hold smaller hashes, those at hi or after larger ones.
	lo, hi := int64(0), l.size
	for lo < hi {
		mid := lo + (hi-lo)/2
		start, key, err := l.lineAt(mid)
		if err != nil {
			return false, err
		}
		if key == nil || start >= hi {
			hi = mid
			continue
		}
		switch c := bytes.Compare(key, want); {
		case c == 0:
			return true, nil
		case c < 0:
			lo = start + 1
		default:
			hi = mid
		}
	}
	return false, nil
}

// lineAt returns the offset and the hash of the first line that starts at
// or after off; a nil key when none does.
func (l *List) lineAt(off int64) (int64, []byte, error) {
	var buf [160]byte
	from := max(off-1, 0)
	n, err := l.f.ReadAt(buf[:], from)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, nil, fmt.Errorf("read password blocklist: %w", err)
	}
	b := buf[:n]
	start := from
	if off > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if n < len(buf) {
				return off, nil, nil // the last line began before off
			}
			return 0, nil, errors.New("read password blocklist: a line longer than the SHA-1 form's")
		}
		b, start = b[i+1:], from+int64(i)+1
	}
	if len(b) < 40 {
		if n == len(buf) {
			return 0, nil, errors.New("read password blocklist: a line longer than the SHA-1 form's")
		}
		return start, nil, nil // a truncated last line
	}
	key, ok := hashLine(b[:40])
	if !ok {
		return 0, nil, fmt.Errorf("read password blocklist: the line at byte %d is not HASH:COUNT", start)
	}
	return start, key, nil
}

// Close closes the list's file, if it has one.
func (l *List) Close() error {
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}
