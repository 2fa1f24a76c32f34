package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestTokensImportEveryBadLine: an OATH CSV file with several bad lines is
// refused naming each line and what is wrong with it, one a line, without
// a secret or serial from the file, and nothing of it is imported, its good
// lines neither.
func TestTokensImportEveryBadLine(t *testing.T) {
	for dialect, newDSN := range testenv.DSNs(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			flags, _ := dbAndKey(t, newDSN(t))
			good := fmt.Sprintf("%x", "a hardware token key")
			other := fmt.Sprintf("%x", "another token's key!")
			csv := filepath.Join(t.TempDir(), "batch.csv")
			writeFile(t, csv, "FOB-1,"+good+"\n"+
				"FOB-2,"+other[:8]+"\n"+ // a short secret
				"# comment\n"+
				"FOB-3,"+other+",totp,7\n"+ // 7 digits
				other+",FOB-4\n"+ // columns swapped
				"FOB-1,"+other+"\n") // FOB-1 again
			tm := newTestMain(t, time.Now(), "")
			err := tm.run(t, append([]string{"tokens", "import", csv}, flags...)...)
			if err == nil || exitCode(err) != 1 {
				t.Fatalf("import: got %v, want exit status 1", err)
			}
			msg := err.Error()
			for _, want := range []string{"batch.csv: nothing was imported: 4 lines are wrong:",
				"\n  line 2: the secret (second field): ", "\n  line 4: ", "\n  line 5: ", "\n  line 6: ",
				"secret", "digits", "line 1 has the same serial"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q lacks %q", msg, want)
				}
			}
			if strings.Contains(msg, "otp:") {
				t.Errorf("error %q holds the otp package's text", msg)
			}
			if strings.Contains(msg, "line 1:") || strings.Contains(msg, "line 3:") {
				t.Errorf("error %q names a good line", msg)
			}
			for _, secret := range []string{good, other, other[:8], "FOB-"} {
				if strings.Contains(msg+tm.stdout.String()+tm.stderr.String(), secret) {
					t.Errorf("the output quotes %q: %s", secret, msg)
				}
			}
			tm = newTestMain(t, time.Now(), "")
			if err := tm.run(t, append([]string{"tokens", "list"}, flags...)...); err != nil {
				t.Fatal(err)
			}
			if out := tm.stdout.String(); strings.Count(out, "\n") != 1 {
				t.Errorf("tokens list after the refused import: want the header alone:\n%s", out)
			}
		})
	}
}
