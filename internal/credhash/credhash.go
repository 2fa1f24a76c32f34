// Package credhash hashes credentials: Argon2id for passwords (RFC 9106), and a
// keyed HMAC-SHA256 for high-entropy secrets such as session tokens, recovery
// codes and paper keys, so that a stolen database alone cannot be searched.
package credhash

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are Argon2id cost parameters.
type Params struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
}

// DefaultParams are OWASP's recommended minimum for Argon2id: 19 MiB, 2 passes, 1 lane.
func DefaultParams() Params { return Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1} }

// Validate reports parameters too weak or too large to use.
func (p Params) Validate() error {
	switch {
	case p.Memory < 8*1024 || p.Memory > maxMemory:
		return fmt.Errorf("argon2 memory %d KiB out of range 8192..%d", p.Memory, maxMemory)
	case p.Iterations < 1 || p.Iterations > maxIterations:
		return fmt.Errorf("argon2 iterations %d out of range 1..%d", p.Iterations, maxIterations)
	case p.Parallelism < 1:
		return errors.New("argon2 parallelism must be at least 1")
	}
	return nil
}

const (
	saltLen = 16
	keyLen  = 32

	maxMemory     = 4 * 1024 * 1024 // KiB: 4 GiB, the most a setting allows
	maxIterations = 100
)

// HashPassword returns the PHC string form of an Argon2id hash of password.
func HashPassword(password string, p Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	sum := argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Iterations, p.Parallelism,
		enc.EncodeToString(salt), enc.EncodeToString(sum)), nil
}

// CheckPassword reports whether password matches the PHC-encoded Argon2id hash,
// comparing in constant time.
func CheckPassword(password, encoded string) (bool, error) {
	p, salt, want, err := parse(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// NeedsRehash reports whether encoded was made with other parameters than
// p (memory, passes or lanes, stronger or weaker), or cannot be read: after
// the next successful check it should be made again with p, so that checking
// it costs what checking a hash made with p does. Downward too: while a
// hash stronger than the configuration is in store, every refusal is padded
// to its cost (Padding), so a lowered configuration lowers the cost of
// refusals only once no such hash is left. Instances on one database must
// therefore share their Argon2 settings, or each would rewrite the hashes
// of the accounts that sign in on it.
func NeedsRehash(encoded string, p Params) bool {
	have, _, _, err := parse(encoded)
	return err != nil || have != p
}

// ParamsOf returns the parameters that the PHC-encoded Argon2id hash was
// made with.
func ParamsOf(encoded string) (Params, error) {
	p, _, _, err := parse(encoded)
	return p, err
}

// ParseParams reads the parameter field of a PHC-encoded Argon2id hash
// ("m=19456,t=2,p=1"), as store.PasswordParamsInUse lists them.
func ParseParams(field string) (Params, error) {
	var p Params
	var rest string
	n, _ := fmt.Sscanf(field+"$", "m=%d,t=%d,p=%d%s", &p.Memory, &p.Iterations, &p.Parallelism, &rest)
	if n != 4 || rest != "$" {
		return Params{}, fmt.Errorf("argon2 parameters %q are malformed", field)
	}
	return p, nil
}

// Costlier returns whichever of p and q takes more work to check (see
// Padding), p when they take the same.
func Costlier(p, q Params) Params {
	if q.work() > p.work() {
		return q
	}
	return p
}

// Padding returns the parameters of the Argon2id hash that, run (by Spend)
// after a check of encoded, brings the two to about the cost of checking a
// hash made with p, and false when checking encoded costs that already. A
// refused password must take as long whatever the account's hash, as long
// as an unknown username's: p is the costliest of the configured
// parameters and those of every hash in store (core's refusal cost), and
// an unknown username's check of a hash made with the configured ones is
// padded to it too. An account whose hash is weaker, made before the
// parameters were raised and not made again since (NeedsRehash) as its
// owner has not signed in, would otherwise be refused faster, and one
// whose hash is costlier than the configuration, made before they were
// lowered, slower, telling that the username exists.
//
// The time of a hash follows the 1 KiB blocks that each lane fills, memory ×
// passes ÷ lanes (the lanes run at once when cores are free). The padding
// keeps p's passes and lanes and fills the blocks that encoded falls short
// by, so that it never takes more memory than p: the bound on the memory of
// the hashes run at once holds. A hash that cannot be read is padded by a
// whole hash with p, as its check costs nothing. A hash costlier than p is
// not padded: nothing makes a check cheaper, which is why p must be the
// costliest in use.
func Padding(encoded string, p Params) (Params, bool) {
	have, _, _, err := parse(encoded)
	if err != nil || have.Parallelism == 0 {
		return p, true
	}
	haveWork := float64(have.Memory) * float64(have.Iterations) / float64(have.Parallelism)
	short := p.work() - haveWork
	if short <= 0 {
		return Params{}, false
	}
	q := p
	q.Memory = uint32(math.Ceil(short * float64(p.Parallelism) / float64(p.Iterations)))
	q.Memory = max(q.Memory, minMemory(p.Parallelism)) // as argon2 rounds it up
	return q, true
}

// work is the number of 1 KiB blocks that each lane of a hash with p fills.
func (p Params) work() float64 {
	return float64(p.Memory) * float64(p.Iterations) / float64(max(p.Parallelism, 1))
}

// minMemory is the least memory, in KiB, of an Argon2id hash with lanes
// lanes (RFC 9106 §3.1: 8 blocks per lane).
func minMemory(lanes uint8) uint32 { return 8 * uint32(lanes) }

// Spend runs an Argon2id hash with p and throws it away: the padding that
// Padding asks for. Its input does not change its time.
func Spend(p Params) {
	argon2.IDKey([]byte("twofold padding"), []byte("twofold padding salt"), p.Iterations, p.Memory, p.Parallelism, keyLen)
}

// parse splits a PHC-encoded Argon2id hash.
func parse(encoded string) (p Params, salt, sum []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("not an argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, errors.New("unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Iterations, &p.Parallelism); err != nil {
		return p, nil, nil, fmt.Errorf("argon2 parameters: %w", err)
	}
	// A hash written to the database from outside may name anything: no
	// pass (which would panic), no lane, or more memory or passes than any
	// setting allows (terabytes, which would end the process). Such a hash
	// is malformed; a refusal of it is padded as one of no hash at all.
	if p.Iterations < 1 || p.Iterations > maxIterations || p.Parallelism < 1 || p.Memory > maxMemory {
		return p, nil, nil, fmt.Errorf("argon2 parameters m=%d,t=%d,p=%d out of range", p.Memory, p.Iterations, p.Parallelism)
	}
	enc := base64.RawStdEncoding
	if salt, err = enc.DecodeString(parts[4]); err != nil {
		return p, nil, nil, fmt.Errorf("argon2 salt: %w", err)
	}
	if sum, err = enc.DecodeString(parts[5]); err != nil || len(sum) == 0 {
		return p, nil, nil, errors.New("argon2 hash is malformed")
	}
	return p, salt, sum, nil
}

// Hasher computes keyed hashes of high-entropy secrets. The key lives in the
// master key file, not the database.
type Hasher struct {
	key []byte
}

// NewHasher returns a Hasher keyed by key (at least 32 bytes).
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) < 32 {
		return nil, errors.New("hash key must be at least 32 bytes")
	}
	return &Hasher{key: append([]byte(nil), key...)}, nil
}

// Sum returns HMAC-SHA256(key, purpose || 0 || secret). The purpose separates
// domains ("session", "recovery", …) so a hash of one kind never matches another.
func (h *Hasher) Sum(purpose, secret string) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// Equal reports whether a and b are equal, in constant time.
func Equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
