package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// SSHKeyPair is a key pair the real ssh-keygen made in a test's temporary
// folder: the private key's file and the public key's authorized_keys line.
type SSHKeyPair struct {
	File   string // private key, no passphrase
	Public string // "ssh-ed25519 AAAA… comment"
}

// SSHKeygen makes a key pair with the real `ssh-keygen -t typ` with an empty passphrase (and
// -b bits when bits > 0) in a fresh folder of tb.TempDir().
func SSHKeygen(tb testing.TB, typ string, bits int) SSHKeyPair {
	tb.Helper()
	file := filepath.Join(tb.TempDir(), "id_"+typ)
	args := []string{"-q", "-t", typ, "-N", "", "-C", "test@" + typ, "-f", file}
	if bits > 0 {
		args = append(args, "-b", strconv.Itoa(bits))
	}
	if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
		tb.Fatalf("ssh-keygen %v: %v: %s (install it: apt-get install openssh-client)", args, err, out)
	}
	pub, err := os.ReadFile(file + ".pub")
	if err != nil {
		tb.Fatal(err)
	}
	return SSHKeyPair{File: file, Public: strings.TrimSpace(string(pub))}
}

// SSHSign signs message as a user would: it saves message as challenge.txt
// and runs the real `ssh-keygen -Y sign -f key -n namespace challenge.txt`
// (with extra options before the file, such as "-O", "hashalg=sha256"), and
// returns the armored signature it wrote to challenge.txt.sig.
func SSHSign(tb testing.TB, key, namespace, message string, extra ...string) string {
	tb.Helper()
	file := filepath.Join(tb.TempDir(), "challenge.txt")
	if err := os.WriteFile(file, []byte(message), 0o600); err != nil {
		tb.Fatal(err)
	}
	args := append([]string{"-Y", "sign", "-f", key, "-n", namespace}, extra...)
	args = append(args, file)
	if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
		tb.Fatalf("ssh-keygen %v: %v: %s", args, err, out)
	}
	sig, err := os.ReadFile(file + ".sig")
	if err != nil {
		tb.Fatal(err)
	}
	return string(sig)
}

// SSHVerify checks an armored signature with the real `ssh-keygen -Y
// verify`, the principal "test" allowed the public key, and reports whether
// ssh-keygen accepted it.
func SSHVerify(tb testing.TB, public, namespace, message, signature string) bool {
	tb.Helper()
	dir := tb.TempDir()
	allowed, sig := filepath.Join(dir, "allowed_signers"), filepath.Join(dir, "msg.sig")
	if err := os.WriteFile(allowed, []byte("test "+public+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(sig, []byte(signature), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "test", "-n", namespace, "-s", sig)
	cmd.Stdin = strings.NewReader(message)
	return cmd.Run() == nil
}

// SSHFingerprint returns the SHA256 fingerprint the real `ssh-keygen -l`
// prints for a public key file.
func SSHFingerprint(tb testing.TB, pubFile string) string {
	tb.Helper()
	out, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", pubFile).Output()
	if err != nil {
		tb.Fatalf("ssh-keygen -l: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		tb.Fatalf("ssh-keygen -l printed %q", out)
	}
	return f[1]
}
