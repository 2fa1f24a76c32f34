package otp

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"math"
)

// HOTP returns the HOTP value for counter (RFC 4226 §5.3): HMAC over the 8-byte big-endian
// counter, dynamic truncation, modulo 10^digits, as a decimal string zero-padded to digits.
//
// HOTP panics if alg is not a supported Algorithm or digits is not 6, 7 or 8; validate
// parameters from outside the program with Params.Validate first.
func HOTP(secret []byte, counter uint64, alg Algorithm, digits int) string {
	if !alg.valid() {
		panic(fmt.Sprintf("otp: HOTP with unsupported algorithm %v", alg))
	}
	if !validDigits(digits) {
		panic(fmt.Sprintf("otp: HOTP with %d digits, want 6, 7 or 8", digits))
	}
	var m mac
	m.init(secret, alg)
	v := reduce(m.truncate(counter), digits)
	var buf [8]byte
	for i := digits - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return string(buf[:digits])
}

// VerifyRange reports whether code is the HOTP value (RFC 4226 §5.3) of a counter in
// [first, last], and returns the lowest such counter. It computes the code of every counter in
// the range and compares each in constant time (crypto/subtle), so the time taken does not tell
// which counter matched, or whether any did. Its cost grows linearly with last-first+1.
//
// A code that is not exactly digits ASCII digits, an unsupported algorithm or digits, and
// first > last never match.
func VerifyRange(secret []byte, code string, first, last uint64, alg Algorithm, digits int) (counter uint64, ok bool) {
	if first > last || !alg.valid() || !validDigits(digits) {
		return 0, false
	}
	want, valid := parseCode(code, digits)
	if !valid {
		return 0, false
	}
	var m mac
	m.init(secret, alg)
	var found int // 1 once a counter has matched
	for c := first; ; c++ {
		eq := subtle.ConstantTimeEq(int32(reduce(m.truncate(c), digits)), int32(want))
		mask := -uint64(eq &^ found) // all ones for the first match only
		counter = counter&^mask | c&mask
		found |= eq
		if c == last {
			break
		}
	}
	return counter, found == 1
}

// VerifyHOTP reports whether code is the HOTP value of a counter in next..next+lookahead, the
// look-ahead window of RFC 4226 §7.4, and returns that counter. On success the caller stores
// counter+1 as the next expected counter (RFC 4226 §7.2); the caller also bounds lookahead
// (SPEC §2 allows at most 10). A negative lookahead never matches.
func VerifyHOTP(secret []byte, code string, next uint64, lookahead int, alg Algorithm, digits int) (counter uint64, ok bool) {
	if lookahead < 0 {
		return 0, false
	}
	last := next + uint64(lookahead)
	if last < next {
		last = math.MaxUint64
	}
	return VerifyRange(secret, code, next, last, alg, digits)
}

// reduce returns v mod 10^digits for digits 6, 7 or 8 (RFC 4226 §5.3, step 3). The constant
// divisors compile to multiplications, whose time does not depend on v, unlike a division
// instruction on some processors.
func reduce(v uint32, digits int) uint32 {
	switch digits {
	case 6:
		return v % 1000000
	case 7:
		return v % 10000000
	}
	return v % 100000000
}

// parseCode returns the value of code if it is exactly digits ASCII digits.
func parseCode(code string, digits int) (uint32, bool) {
	if len(code) != digits {
		return 0, false
	}
	var v uint32
	for i := 0; i < len(code); i++ {
		d := code[i] - '0'
		if d > 9 {
			return 0, false
		}
		v = v*10 + uint32(d)
	}
	return v, true
}

// mac computes HMAC (RFC 2104) over an 8-byte counter with the padded keys prepared once. It
// hashes stack buffers with sha1.Sum, sha256.Sum256 and sha512.Sum512 instead of using
// crypto/hmac, whose hmac.New allocates two hash states per call; verification of a window
// then needs no allocation at all.
type mac struct {
	alg  Algorithm
	ipad [sha512.BlockSize]byte // key XOR 0x36, first block-size bytes used
	opad [sha512.BlockSize]byte // key XOR 0x5c
}

// init prepares m for secret and alg, hashing a secret longer than the block size first
// (RFC 2104 §2).
func (m *mac) init(secret []byte, alg Algorithm) {
	m.alg = alg
	var key [sha512.BlockSize]byte
	switch alg {
	case SHA1:
		if len(secret) > sha1.BlockSize {
			s := sha1.Sum(secret)
			copy(key[:], s[:])
		} else {
			copy(key[:], secret)
		}
	case SHA256:
		if len(secret) > sha256.BlockSize {
			s := sha256.Sum256(secret)
			copy(key[:], s[:])
		} else {
			copy(key[:], secret)
		}
	case SHA512:
		if len(secret) > sha512.BlockSize {
			s := sha512.Sum512(secret)
			copy(key[:], s[:])
		} else {
			copy(key[:], secret)
		}
	}
	for i, k := range key {
		m.ipad[i] = k ^ 0x36
		m.opad[i] = k ^ 0x5c
	}
}

// truncate returns the 31-bit dynamic truncation (RFC 4226 §5.3) of HMAC(key, counter).
func (m *mac) truncate(counter uint64) uint32 {
	switch m.alg {
	case SHA1:
		var in [sha1.BlockSize + 8]byte
		copy(in[:], m.ipad[:sha1.BlockSize])
		binary.BigEndian.PutUint64(in[sha1.BlockSize:], counter)
		ih := sha1.Sum(in[:])
		var out [sha1.BlockSize + sha1.Size]byte
		copy(out[:], m.opad[:sha1.BlockSize])
		copy(out[sha1.BlockSize:], ih[:])
		h := sha1.Sum(out[:])
		return dynamicTruncate(h[:])
	case SHA256:
		var in [sha256.BlockSize + 8]byte
		copy(in[:], m.ipad[:sha256.BlockSize])
		binary.BigEndian.PutUint64(in[sha256.BlockSize:], counter)
		ih := sha256.Sum256(in[:])
		var out [sha256.BlockSize + sha256.Size]byte
		copy(out[:], m.opad[:sha256.BlockSize])
		copy(out[sha256.BlockSize:], ih[:])
		h := sha256.Sum256(out[:])
		return dynamicTruncate(h[:])
	default:
		var in [sha512.BlockSize + 8]byte
		copy(in[:], m.ipad[:])
		binary.BigEndian.PutUint64(in[sha512.BlockSize:], counter)
		ih := sha512.Sum512(in[:])
		var out [sha512.BlockSize + sha512.Size]byte
		copy(out[:], m.opad[:])
		copy(out[sha512.BlockSize:], ih[:])
		h := sha512.Sum512(out[:])
		return dynamicTruncate(h[:])
	}
}

// dynamicTruncate implements DT of RFC 4226 §5.3: four bytes at the offset given by the low
// nibble of the last byte, with the top bit cleared. RFC 6238 §1.2 applies it unchanged to
// SHA-256 and SHA-512 output.
func dynamicTruncate(h []byte) uint32 {
	off := h[len(h)-1] & 0x0f
	return binary.BigEndian.Uint32(h[off:off+4]) & 0x7fffffff
}

// SameKey reports whether secrets a and b make the same codes under alg:
// HMAC pads a key shorter than the hash's block with zero bytes and hashes a
// longer one first (RFC 2104 §2), so a secret and the same secret with zero
// bytes added, or a long secret and its hash, are one key. The keys are
// compared in constant time.
func SameKey(a, b []byte, alg Algorithm) bool {
	var ma, mb mac
	ma.init(a, alg)
	mb.init(b, alg)
	return subtle.ConstantTimeCompare(ma.ipad[:], mb.ipad[:]) == 1
}
