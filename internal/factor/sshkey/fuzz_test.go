package sshkey

import (
	"crypto/ed25519"
	"crypto/rsa"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// FuzzParse: whatever is pasted as a public key, a key taken is of a type
// taken (RSA of at least MinRSABits), its fingerprint is its own, and its
// authorized_keys form, with the comment after it, reads back as the same
// key and comment; a key refused gets an error that quotes nothing of its
// key data.
func FuzzParse(f *testing.F) {
	pub, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public())
	if err != nil {
		f.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	for _, s := range []string{line, line + " alice@laptop", "  " + line + " a b\t", `command="x" ` + line, line + "\n" + line,
		"sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIA== x", "ssh-dss AAAAB3NzaC1kc3M= y", "-----BEGIN OPENSSH PRIVATE KEY-----"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		k, err := Parse(in)
		if err != nil {
			for _, field := range strings.Fields(in) {
				if len(field) >= 16 && strings.Contains(err.Error(), field) {
					t.Fatalf("Parse(%q): the error %q quotes %q", in, err, field)
				}
			}
			return
		}
		if _, ok := types[k.Type]; !ok || k.Type != k.Public.Type() {
			t.Fatalf("Parse(%q): a key of type %q (%q)", in, k.Type, k.Public.Type())
		}
		if rk, ok := k.Public.(ssh.CryptoPublicKey); ok {
			if r, ok := rk.CryptoPublicKey().(*rsa.PublicKey); ok && r.N.BitLen() < MinRSABits {
				t.Fatalf("Parse(%q): an RSA key of %d bits", in, r.N.BitLen())
			}
		}
		if k.Fingerprint != ssh.FingerprintSHA256(k.Public) {
			t.Fatalf("Parse(%q): fingerprint %q, not its key's", in, k.Fingerprint)
		}
		if strings.ContainsAny(k.Comment, "\r\n") {
			t.Fatalf("Parse(%q): comment %q of more than one line", in, k.Comment)
		}
		again := k.AuthorizedKey()
		if k.Comment != "" {
			again += " " + k.Comment
		}
		k2, err := Parse(again)
		if err != nil || k2.Fingerprint != k.Fingerprint || k2.Comment != strings.TrimSpace(k.Comment) {
			t.Fatalf("Parse(%q) = %+v, whose line %q reads back as %+v, %v", in, k, again, k2, err)
		}
	})
}
