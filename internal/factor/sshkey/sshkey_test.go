package sshkey_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"

	"github.com/twofold/twofold/internal/factor/sshkey"
	"github.com/twofold/twofold/internal/testenv"
)

func parse(tb testing.TB, line string) sshkey.Key {
	tb.Helper()
	k, err := sshkey.Parse(line)
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return k
}

// TestVerifyRealSignatures verifies signatures the real ssh-keygen -Y sign
// made, with each kind of key, and refuses every way one can be wrong.
func TestVerifyRealSignatures(t *testing.T) {
	const msg = "twofold-ssh-challenge v1 purpose=login nonce=ABC"
	ed := testenv.SSHKeygen(t, "ed25519", 0)
	ec := testenv.SSHKeygen(t, "ecdsa", 384)
	rs := testenv.SSHKeygen(t, "rsa", 2048)
	other := testenv.SSHKeygen(t, "ed25519", 0)
	keys := []ssh.PublicKey{parse(t, ed.Public).Public, parse(t, ec.Public).Public, parse(t, rs.Public).Public}
	good := testenv.SSHSign(t, ed.File, sshkey.Namespace, msg)
	tests := []struct {
		name    string
		sig     string
		message string
		want    int
		err     error
	}{
		{"ed25519", good, msg, 0, nil},
		{"ecdsa p-384", testenv.SSHSign(t, ec.File, sshkey.Namespace, msg), msg, 1, nil},
		{"rsa, sha512", testenv.SSHSign(t, rs.File, sshkey.Namespace, msg), msg, 2, nil},
		{"rsa, sha256 hash", testenv.SSHSign(t, rs.File, sshkey.Namespace, msg, "-O", "hashalg=sha256"), msg, 2, nil},
		{"file saved with a line feed", testenv.SSHSign(t, ed.File, sshkey.Namespace, msg+"\n"), msg, 0, nil},
		{"piped by a Windows shell (CR LF)", testenv.SSHSign(t, ed.File, sshkey.Namespace, msg+"\r\n"), msg, 0, nil},
		{"carriage return alone", testenv.SSHSign(t, ed.File, sshkey.Namespace, msg+"\r"), msg, -1, sshkey.ErrMessage},
		{"crlf armor with spaces around", "  " + strings.ReplaceAll(good, "\n", "\r\n") + "\n\n", msg, 0, nil},
		{"two line feeds", testenv.SSHSign(t, ed.File, sshkey.Namespace, msg+"\n\n"), msg, -1, sshkey.ErrMessage},
		{"wrong namespace", testenv.SSHSign(t, ed.File, "git", msg), msg, -1, sshkey.ErrNamespace},
		{"file namespace", testenv.SSHSign(t, ed.File, "file", msg), msg, -1, sshkey.ErrNamespace},
		{"wrong message", good, msg + "x", -1, sshkey.ErrMessage},
		{"other challenge", testenv.SSHSign(t, ed.File, sshkey.Namespace, "twofold-ssh-challenge v1 purpose=login nonce=XYZ"), msg, -1, sshkey.ErrMessage},
		{"unregistered key", testenv.SSHSign(t, other.File, sshkey.Namespace, msg), msg, -1, sshkey.ErrOtherKey},
		{"truncated armor", good[:len(good)/2], msg, -1, sshkey.ErrMalformed},
		{"no end line", strings.Replace(good, "-----END SSH SIGNATURE-----", "", 1), msg, -1, sshkey.ErrMalformed},
		{"garbage", "-----BEGIN SSH SIGNATURE-----\nbm90IGEgc2lnbmF0dXJl\n-----END SSH SIGNATURE-----\n", msg, -1, sshkey.ErrMalformed},
		{"another pem type", strings.ReplaceAll(good, "SSH SIGNATURE", "PGP SIGNATURE"), msg, -1, sshkey.ErrMalformed},
		{"empty", "", msg, -1, sshkey.ErrMalformed},
		{"too long", good + strings.Repeat("A", 20000), msg, -1, sshkey.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sshkey.Verify(tt.sig, []byte(tt.message), keys)
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Fatalf("Verify = %d, %v; want %d, %v", got, err, tt.want, tt.err)
			}
		})
	}
	// A flipped bit in the signature itself: parsed, refused.
	lines := strings.Split(strings.TrimSpace(good), "\n")
	mid := lines[len(lines)-2]
	flip := byte('A')
	if mid[0] == 'A' {
		flip = 'B'
	}
	lines[len(lines)-2] = string(flip) + mid[1:]
	if i, err := sshkey.Verify(strings.Join(lines, "\n"), []byte(msg), keys); err == nil {
		t.Fatalf("a signature with a changed byte was accepted as key %d", i)
	}
	// The real ssh-keygen agrees with the accepting cases.
	if !testenv.SSHVerify(t, ed.Public, sshkey.Namespace, msg, good) {
		t.Fatal("ssh-keygen -Y verify refused the signature Verify accepted")
	}
}

// skSigner signs as a security key does (openssh PROTOCOL.u2f), an
// sk-ssh-ed25519 key whose flags say whether it was touched.
type skSigner struct {
	pub   ssh.PublicKey
	priv  ed25519.PrivateKey
	flags byte
}

const skApplication = "ssh:"

func newSKSigner(t *testing.T, flags byte) skSigner {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	wire := ssh.Marshal(struct {
		Name, Key, Application string
	}{ssh.KeyAlgoSKED25519, string(pub), skApplication})
	k, err := ssh.ParsePublicKey(wire)
	if err != nil {
		t.Fatal(err)
	}
	return skSigner{k, priv, flags}
}

func (s skSigner) PublicKey() ssh.PublicKey { return s.pub }

func (s skSigner) Sign(_ io.Reader, data []byte) (*ssh.Signature, error) {
	app := sha256.Sum256([]byte(skApplication))
	msg := sha256.Sum256(data)
	rest := []byte{s.flags, 0, 0, 0, 7} // flags, counter
	signed := slices.Concat(app[:], rest, msg[:])
	return &ssh.Signature{Format: ssh.KeyAlgoSKED25519, Blob: ed25519.Sign(s.priv, signed), Rest: rest}, nil
}

// TestVerifySecurityKeyTouch: a security key's signature with the
// user-presence flag passes; without it (a key made with -O
// no-touch-required) it is refused as untouched, not as over another text.
func TestVerifySecurityKeyTouch(t *testing.T) {
	const msg = "twofold-ssh-challenge v1 purpose=login nonce=ABC"
	for _, tt := range []struct {
		name  string
		flags byte
		want  int
		err   error
	}{
		{"touched", 0x01, 0, nil},
		{"touched and verified", 0x05, 0, nil},
		{"not touched", 0x00, -1, sshkey.ErrNoTouch},
		{"verified without a touch", 0x04, -1, sshkey.ErrNoTouch},
	} {
		t.Run(tt.name, func(t *testing.T) {
			signer := newSKSigner(t, tt.flags)
			sig, err := sshsig.Sign(strings.NewReader(msg), signer, sshsig.HashSHA512, sshkey.Namespace)
			if err != nil {
				t.Fatal(err)
			}
			got, err := sshkey.Verify(string(sshsig.Armor(sig)), []byte(msg), []ssh.PublicKey{signer.PublicKey()})
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Fatalf("Verify = %d, %v; want %d, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestParse(t *testing.T) {
	ed := testenv.SSHKeygen(t, "ed25519", 0)
	ec := testenv.SSHKeygen(t, "ecdsa", 256)
	rs := testenv.SSHKeygen(t, "rsa", 3072)
	short := testenv.SSHKeygen(t, "rsa", 1024)
	fields := strings.Fields(ed.Public)
	tests := []struct {
		name     string
		line     string
		wantType string
		wantErr  bool
	}{
		{"ed25519", ed.Public, ssh.KeyAlgoED25519, false},
		{"ed25519 without comment", fields[0] + " " + fields[1], ssh.KeyAlgoED25519, false},
		{"surrounding space", "  " + ed.Public + "\n", ssh.KeyAlgoED25519, false},
		{"ecdsa", ec.Public, ssh.KeyAlgoECDSA256, false},
		{"rsa 3072", rs.Public, ssh.KeyAlgoRSA, false},
		{"rsa 1024", short.Public, "", true},
		{"options", `command="ls" ` + ed.Public, "", true},
		{"two keys", ed.Public + "\n" + ec.Public, "", true},
		{"empty", "  ", "", true},
		{"garbage", "ssh-ed25519 AAAAnotbase64!!", "", true},
		{"private key", "-----BEGIN OPENSSH PRIVATE KEY-----", "", true},
		{"too long", "ssh-rsa " + strings.Repeat("A", 9000), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := sshkey.Parse(tt.line)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Parse err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if strings.Contains(err.Error(), "notbase64") || strings.Contains(err.Error(), "AAAAA") || strings.Contains(err.Error(), "ls") {
					t.Fatalf("error quotes the input: %v", err)
				}
				return
			}
			if k.Type != tt.wantType {
				t.Fatalf("Type = %q, want %q", k.Type, tt.wantType)
			}
			if !strings.HasPrefix(k.Fingerprint, "SHA256:") || k.AuthorizedKey() != fields[0]+" "+fields[1] && tt.wantType == ssh.KeyAlgoED25519 {
				t.Fatalf("Fingerprint %q, AuthorizedKey %q", k.Fingerprint, k.AuthorizedKey())
			}
		})
	}
	// The fingerprint is the one ssh-keygen -l prints.
	k := parse(t, ed.Public)
	if out := testenv.SSHFingerprint(t, ed.File+".pub"); out != k.Fingerprint {
		t.Fatalf("Fingerprint = %q, ssh-keygen -l says %q", k.Fingerprint, out)
	}
}

func TestCommand(t *testing.T) {
	if got, want := sshkey.Command(sshkey.DefaultFile(ssh.KeyAlgoECDSA256)), "ssh-keygen -Y sign -f ~/.ssh/id_ecdsa -n "+sshkey.Namespace+" challenge.txt"; got != want {
		t.Fatalf("Command = %q, want %q", got, want)
	}
}
