// Package sshkey checks SSH public keys that an account holder registers and
// the challenges they sign with them by `ssh-keygen -Y sign` (SPEC §1 story
// 4): OpenSSH's signature format, PROTOCOL.sshsig, parsed and verified by
// github.com/hiddeco/sshsig over golang.org/x/crypto/ssh. No SQL, no HTTP.
package sshkey

import (
	"bytes"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// Namespace is the namespace every challenge is signed in (`ssh-keygen -Y
// sign -n`): a signature made for another use of the key (git commits,
// files) never passes for an answer to a challenge, nor the other way round.
const Namespace = "twofold-challenge@twofold"

// MinRSABits is the smallest RSA modulus a key may have.
const MinRSABits = 2048

// maxKeyLen bounds an authorized_keys line (an RSA key of 16384 bits is
// about 2,800 characters) and maxSignatureLen an armored signature.
const (
	maxKeyLen       = 8192
	maxSignatureLen = 16384
)

// types are the key types taken, with the file name ssh-keygen gives such a
// key by default.
var types = map[string]string{
	ssh.KeyAlgoED25519:    "id_ed25519",
	ssh.KeyAlgoECDSA256:   "id_ecdsa",
	ssh.KeyAlgoECDSA384:   "id_ecdsa",
	ssh.KeyAlgoECDSA521:   "id_ecdsa",
	ssh.KeyAlgoRSA:        "id_rsa",
	ssh.KeyAlgoSKED25519:  "id_ed25519_sk",
	ssh.KeyAlgoSKECDSA256: "id_ecdsa_sk",
}

// Key is a parsed public key.
type Key struct {
	Public      ssh.PublicKey
	Type        string // "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa", "sk-ssh-ed25519@openssh.com"…
	Fingerprint string // "SHA256:…", as ssh-keygen -l prints it
	Comment     string // the line's comment, "alice@laptop"; may be empty
}

// AuthorizedKey returns the key in authorized_keys form without its comment:
// "ssh-ed25519 AAAA…".
func (k Key) AuthorizedKey() string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.Public)))
}

// Parse reads one public key in authorized_keys form ("ssh-ed25519 AAAA…
// comment", as in ~/.ssh/id_ed25519.pub), without options. It takes
// Ed25519, ECDSA, RSA of at least MinRSABits bits and their security-key
// (FIDO) forms; certificates, DSA and short RSA keys are refused. Errors
// never quote the input.
func Parse(line string) (Key, error) {
	line = strings.TrimSpace(line)
	if line == "" {
		return Key{}, errors.New("paste a public key, the line of your .pub file (ssh-ed25519 AAAA…)")
	}
	if len(line) > maxKeyLen {
		return Key{}, fmt.Errorf("a public key is at most %d characters", maxKeyLen)
	}
	if strings.ContainsAny(line, "\r\n") {
		return Key{}, errors.New("paste one public key, on one line")
	}
	if strings.HasPrefix(line, "-----BEGIN") {
		return Key{}, errors.New("that is a private key or a signature: paste the public key, the line of your .pub file")
	}
	pub, comment, options, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return Key{}, errors.New("not an SSH public key: paste the line of your .pub file (ssh-ed25519 AAAA…)")
	}
	if len(options) > 0 || len(bytes.TrimSpace(rest)) > 0 {
		return Key{}, errors.New("paste one public key without options")
	}
	if _, ok := types[pub.Type()]; !ok {
		return Key{}, fmt.Errorf("keys of type %s are not taken: use ed25519, ecdsa, rsa (at least %d bits), or their security-key forms", safeType(pub.Type()), MinRSABits)
	}
	if pub.Type() == ssh.KeyAlgoRSA {
		cpk, ok := pub.(ssh.CryptoPublicKey)
		if !ok {
			return Key{}, errors.New("unreadable rsa key")
		}
		rk, ok := cpk.CryptoPublicKey().(*rsa.PublicKey)
		if !ok || rk.N.BitLen() < MinRSABits {
			return Key{}, fmt.Errorf("an rsa key must have at least %d bits", MinRSABits)
		}
	}
	return Key{Public: pub, Type: pub.Type(), Fingerprint: ssh.FingerprintSHA256(pub), Comment: comment}, nil
}

// safeType returns a key type fit for a message: printable ASCII of a
// sensible length, else a placeholder.
func safeType(t string) string {
	if len(t) > 64 {
		return "(unknown)"
	}
	for _, r := range t {
		if r <= ' ' || r > '~' {
			return "(unknown)"
		}
	}
	return t
}

// DefaultFile returns the file ssh-keygen writes a private key of type t
// to by default, to show in the signing command: "~/.ssh/id_ed25519".
func DefaultFile(t string) string {
	if f, ok := types[t]; ok {
		return "~/.ssh/" + f
	}
	return "~/.ssh/id_ed25519"
}

// Command is the command that signs a challenge saved as challenge.txt with
// the key in file; its signature lands in challenge.txt.sig.
func Command(file string) string {
	return "ssh-keygen -Y sign -f " + file + " -n " + Namespace + " challenge.txt"
}

// Reasons a signature is refused; the caller records them, never the
// signature.
var (
	ErrMalformed = errors.New("not an armored SSH signature")
	ErrNamespace = errors.New("signed in another namespace")
	ErrOtherKey  = errors.New("signed by a key that is not registered")
	ErrMessage   = errors.New("the signature does not match the challenge")
	ErrNoTouch   = errors.New("a security key's signature made without a touch")
)

// userPresent is the flag of a security key's (sk-) signature that says
// it was touched (openssh PROTOCOL.u2f).
const userPresent = 0x01

// untouched reports whether sig is a security key's signature without the
// user-presence flag, which the key's verification refuses: the holder is
// told that, not that the text differs.
func untouched(sig *ssh.Signature, key ssh.PublicKey) bool {
	if !strings.HasPrefix(key.Type(), "sk-") || sig == nil {
		return false
	}
	var fields struct {
		Flags   byte
		Counter uint32
	}
	return ssh.Unmarshal(sig.Rest, &fields) == nil && fields.Flags&userPresent == 0
}

// Verify checks an armored signature ("-----BEGIN SSH SIGNATURE-----…", as
// ssh-keygen -Y sign writes it) over message in Namespace by one of keys,
// and returns the index of that key. The message signed may also carry one
// line feed after message, which an editor or `echo` adds to a file, or a
// carriage return and line feed, as Windows shells add.
func Verify(armored string, message []byte, keys []ssh.PublicKey) (int, error) {
	armored = strings.TrimSpace(armored)
	if armored == "" || len(armored) > maxSignatureLen {
		return -1, ErrMalformed
	}
	sig, err := sshsig.Unarmor([]byte(armored))
	if err != nil {
		return -1, ErrMalformed
	}
	if sig.Namespace != Namespace {
		return -1, ErrNamespace
	}
	fp := ssh.FingerprintSHA256(sig.PublicKey)
	for i, k := range keys {
		if ssh.FingerprintSHA256(k) != fp {
			continue
		}
		if untouched(sig.Signature, k) {
			return -1, ErrNoTouch
		}
		for _, m := range [][]byte{message, append(bytes.Clone(message), '\n'), append(bytes.Clone(message), '\r', '\n')} {
			if sshsig.Verify(bytes.NewReader(m), sig, k, sig.HashAlgorithm, Namespace) == nil {
				return i, nil
			}
		}
		return -1, ErrMessage
	}
	return -1, ErrOtherKey
}
