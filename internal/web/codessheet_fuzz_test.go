package web_test

import (
	"html"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzCodesSheet posts any form to the four buttons that give back the
// recovery codes or the paper key a page has just shown, to keep: as a
// text file (POST /settings/security/recovery-codes.txt and
// /settings/security/paper-key.txt) or as a sheet to print (POST
// …/recovery-codes/print and …/paper-key/print), from the browsers of
// formHolders. The server keeps neither: the page posts them back. Whatever
// the form:
//
//   - the answer is never a server error, and the database is as it was
//     (testenv.Snapshot): nothing is written, whatever is posted;
//   - codes or a key come back only with the browser's CSRF token, and
//     only what reads as recovery codes (one to ten of them) or one paper
//     key, never both in one form: groups of letters and digits joined by
//     hyphens; a file is plain text, an attachment, that holds them in the
//     order posted; a sheet is a page that holds each of them;
//   - no code or key the form posted, and no password or code of alice's
//     app, goes to the log.
//
// In a form, @c0@ to @c9@ stand for alice's recovery codes, and
// placeholders for the passwords and alice's app's codes
// (formHolders.replace). The which byte picks the button (its value mod 4,
// in the order: codes as text, codes to print, key as text, key to print),
// the who byte the browser. On SQLite; FuzzCodesSheetPostgres is the same on
// PostgreSQL.
func FuzzCodesSheet(f *testing.F) { codesSheet(f, testenv.SQLiteDSN(f)) }

// FuzzCodesSheetPostgres is FuzzCodesSheet on PostgreSQL.
func FuzzCodesSheetPostgres(f *testing.F) { codesSheet(f, testenv.PostgresDSN(f)) }

// codesSheets are FuzzCodesSheet's buttons: the path, the field posted back,
// and whether the answer is a file.
var codesSheets = []struct {
	path, field string
	file        bool
}{
	{"/settings/security/recovery-codes.txt", "code", true},
	{"/settings/security/recovery-codes/print", "code", false},
	{"/settings/security/paper-key.txt", "paper_key", true},
	{"/settings/security/paper-key/print", "paper_key", false},
}

func codesSheet(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts := hs.ts

	for _, in := range []struct {
		which uint8
		form  string
		who   uint8
	}{
		{0, "code=@c0@&code=@c1@", 0},
		{0, "code=@c0@&code=@c1@", 1},
		{0, "code=@c0@&code=@c1@", 2},
		{1, "code=@c0@&code=@c1@&code=@c2@&code=@c3@&code=@c4@&code=@c5@&code=@c6@&code=@c7@&code=@c8@&code=@c9@", 0},
		{1, "code=@c0@&code=@c1@&code=@c2@&code=@c3@&code=@c4@&code=@c5@&code=@c6@&code=@c7@&code=@c8@&code=@c9@&code=@c0@", 0},
		{2, "paper_key=abcd-efgh-ijkl-mnop-qrst-uvwx-yz23-4567", 0},
		{3, "paper_key=abcd-efgh-ijkl-mnop-qrst-uvwx-yz23-4567", 2},
		{3, "paper_key=abcd-efgh&code=@c0@", 0},
		{0, "code=<script>alert(1)</script>", 0},
		{1, "code=abcd-efgh%0D%0AX-Injected:+1", 0},
		{0, "code=ABCD-EFGH", 0},
		{0, "code=", 0},
		{0, "code=@c0@&csrf=x", 0},
		{2, "", 0},
	} {
		f.Add(in.which, in.form, in.who)
	}

	f.Fuzz(func(t *testing.T, which uint8, form string, who uint8) {
		hs.ready(t)
		_, c, caller := hs.browser(who)
		alice := hs.list[0]
		var pairs []string
		for i, code := range alice.codes {
			pairs = append(pairs, "@c"+strconv.Itoa(i)+"@", code)
		}
		button := codesSheets[int(which)%len(codesSheets)]
		form = hs.replace(form, c, ts.Clock.Now(), pairs...)
		p := hs.post(t, button.path, form, who)
		if d := p.before.Diff(hs.snaps.Take(t)); d != "" {
			t.Fatalf("%s %q by %d: the database changed:\n%s", button.path, form, caller, d)
		}
		toldNothingDone(t, p, button.path)
		posted := p.sent[button.field]
		for _, v := range append(append([]string{}, p.sent["code"]...), p.sent["paper_key"]...) {
			if len(v) >= 8 && strings.Contains(p.newLog, v) {
				t.Fatalf("%s %q by %d: the log holds what the form posted:\n%s", button.path, form, caller, p.newLog)
			}
		}
		if p.r.status != http.StatusOK {
			return // refused
		}
		wantCount := 1
		if button.field == "code" {
			wantCount = core.RecoveryCodeCount
		}
		other := "paper_key"
		if button.field == "paper_key" {
			other = "code"
		}
		switch {
		case p.parseErr != nil || p.sent.Get("csrf") != c.csrf:
			t.Fatalf("%s %q by %d: answered by a form with another CSRF token", button.path, form, caller)
		case len(posted) == 0 || len(posted) > wantCount || p.sent.Has(other):
			t.Fatalf("%s %q by %d: answered %d values of %s, with %s: %v", button.path, form, caller, len(posted), button.field, other, p.sent.Has(other))
		}
		for _, v := range posted {
			if !looksLikeKey(v) {
				t.Fatalf("%s %q by %d: answered %q, which is no code", button.path, form, caller, v)
			}
		}
		if button.file {
			lines := strings.Split(p.r.body, "\r\n")
			var got []string
			for _, l := range lines {
				for _, v := range posted {
					if strings.HasSuffix(l, " "+v) || l == v {
						got = append(got, v)
						break
					}
				}
			}
			switch {
			case !strings.HasPrefix(p.r.header.Get("Content-Type"), "text/plain") || !strings.HasPrefix(p.r.header.Get("Content-Disposition"), "attachment;"):
				t.Fatalf("%s %q by %d: a file answered as %s, %s", button.path, form, caller, p.r.header.Get("Content-Type"), p.r.header.Get("Content-Disposition"))
			case strings.Join(got, " ") != strings.Join(posted, " "):
				t.Fatalf("%s %q by %d: the file holds %v, the form posted %v:\n%s", button.path, form, caller, got, posted, p.r.body)
			}
			return
		}
		if !strings.HasPrefix(p.r.header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s %q by %d: a sheet answered as %s", button.path, form, caller, p.r.header.Get("Content-Type"))
		}
		for _, v := range posted {
			if !strings.Contains(p.r.body, html.EscapeString(v)) {
				t.Fatalf("%s %q by %d: the sheet does not hold %q", button.path, form, caller, v)
			}
		}
	})
}

// looksLikeKey reports whether s reads as a recovery code or a paper key:
// groups of lower-case letters and digits joined by single hyphens, no
// longer than a paper key.
func looksLikeKey(s string) bool {
	if len(s) == 0 || len(s) > 80 || strings.HasPrefix(s, "-") || strings.HasSuffix(s, "-") || strings.Contains(s, "--") {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
}
