package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Program returns the path of the third-party program name a test drives,
// which Debian's package pkg installs (scripts/test.sh installs it). Without
// it the test skips, except under CI, where it fails: CI must run it.
func Program(tb testing.TB, name, pkg string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("%s is not installed, and under CI the tests that drive it must run (apt-get install -y %s)", name, pkg)
	}
	tb.Skipf("%s is not installed; test skipped (apt-get install -y %s)", name, pkg)
	return ""
}
