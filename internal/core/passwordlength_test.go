package core_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestPasswordLengthInCharacters: the cap of 256 is of characters, as the
// error says, not of bytes: a long password in another script, under 256
// characters but over 256 bytes, is taken, signs in, and changes to
// another such one; one character more is refused at setting and is wrong
// at sign-in.
func TestPasswordLengthInCharacters(t *testing.T) {
	phrase := strings.Repeat("съешь же ещё этих мягких французских булок, ", 5)
	long, longer := phrase+"да выпей чаю", phrase+"да выпей же чаю"
	if n := utf8.RuneCountInString(longer); n > 256 || len(long) <= 256 {
		t.Fatalf("fixture: %d characters, %d bytes", n, len(long))
	}
	tooLong := string([]rune(phrase + phrase)[:257])
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st := openStore(t, dsn(t))
			svc := newService(t, st.Store, st, time.Now, nil)
			if _, err := svc.CreateAccount(ctx, core.NewAccount{Username: "olga", Email: "olga@example.com", Password: long}, core.Meta{}); err != nil {
				t.Fatalf("an account with a password of %d characters, %d bytes: %v", utf8.RuneCountInString(long), len(long), err)
			}
			res, err := svc.Login(ctx, "olga", long, core.Meta{})
			if err != nil || !res.Authenticated {
				t.Fatalf("sign in with it: %+v, %v", res, err)
			}
			a, err := svc.Authenticate(ctx, res.Token)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := svc.ChangePassword(ctx, a, long, tooLong, core.Meta{}); err == nil || !strings.Contains(err.Error(), "8 to 256 characters") {
				t.Fatalf("a change to 257 characters: got %v, want the length refused", err)
			}
			if _, err := svc.Login(ctx, "olga", tooLong, core.Meta{}); err == nil {
				t.Fatal("sign in with 257 characters: got nil error")
			}
			if _, _, err := svc.ChangePassword(ctx, a, long, longer, core.Meta{}); err != nil {
				t.Fatalf("a change to another long one: %v", err)
			}
			if res, err := svc.Login(ctx, "olga", longer, core.Meta{}); err != nil || !res.Authenticated {
				t.Fatalf("sign in with the new one: %+v, %v", res, err)
			}
		})
	}
}
