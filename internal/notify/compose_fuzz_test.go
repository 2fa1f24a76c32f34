package notify

import (
	"bytes"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twofold/twofold/internal/core"
)

// FuzzCompose: for any address an account may hold (core.ValidEmail) and
// any subject and body, the envelope address Send gives the SMTP server is
// one mailbox with nothing an SMTP command or a header could be split at,
// and the message composed reads back, as a mail client reads it, with
// exactly its own headers (none added by the address or the subject), to
// that one address, with the subject (but for its blanks: net/mail drops
// them at the ends and reads a run of them where a line was folded as one)
// and the body as they were; no line of the header is blank or too long.
func FuzzCompose(f *testing.F) {
	for _, s := range [][3]string{
		{"alice@example.com", "Twofold: a new sign-in", "Hello,\n\nsomeone signed in.\n"},
		{"jürgen@bücher.example", "Zwei-Faktor-Anmeldung für Ihr Konto wurde geändert – bitte prüfen", ".\n..x\r\nend"},
		{"a+tag@sub.example.org", "hello\r\nBcc: mallory@example.net\r\n\r\nforged body", "real body"},
		{`"quoted local"@example.com`, "=?utf-8?q?already_encoded?=", strings.Repeat("long line ", 30)},
	} {
		f.Add(s[0], s[1], s[2])
	}
	from := &mail.Address{Name: "Twofold Security", Address: "twofold@example.com"}
	want := []string{"Auto-Submitted", "Content-Transfer-Encoding", "Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To"}
	f.Fuzz(func(t *testing.T, to, subject, body string) {
		// A subject is the server's: its issuer (at most 64 bytes,
		// config.MaxIssuerLen) and one sentence. A word of nearly 1,000
		// bytes needs no encoding and fits no line (RFC 5322 §2.1.1).
		if core.ValidEmail(to) != nil || !utf8.ValidString(subject) || len(subject) > 900 || !utf8.ValidString(body) {
			return
		}
		parsed, err := mail.ParseAddress(to)
		if err != nil {
			t.Fatalf("ValidEmail took %q, which net/mail does not parse: %v", to, err)
		}
		env, _, err := envelopeAddress(parsed.Address)
		if err != nil {
			return // a domain IDNA refuses: Send says so, and sends nothing
		}
		if strings.ContainsAny(env, "<> \t\r\n\x00") || strings.Count(env, "@") < 1 {
			t.Fatalf("envelope address %q of %q could split an SMTP command", env, to)
		}
		msg, err := (&SMTP{}).compose(from, &mail.Address{Address: env}, Message{To: to, Subject: subject, Body: body, Date: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatalf("compose: %v", err)
		}
		head, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
		for line := range bytes.SplitSeq(head, []byte("\r\n")) {
			if len(bytes.Trim(line, " \t")) == 0 || len(line) > 998 {
				t.Fatalf("subject %q: the header has a line %q: blank, or longer than 998 bytes (RFC 5322 §2.1.1, §3.2.2)", subject, line)
			}
		}
		m, err := mail.ReadMessage(bytes.NewReader(msg))
		if err != nil {
			t.Fatalf("message to %q, subject %q does not read back: %v\n%s", to, subject, err, msg)
		}
		var got []string
		for k := range m.Header {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("message to %q, subject %q has headers %q, want %q", to, subject, got, want)
		}
		for k, vs := range m.Header {
			if len(vs) != 1 {
				t.Fatalf("message to %q, subject %q has %d %s headers", to, subject, len(vs), k)
			}
		}
		rcpt, err := m.Header.AddressList("To")
		if err != nil || len(rcpt) != 1 || rcpt[0].Address != env {
			t.Fatalf("To %q of %q reads back as %v, %v; want %q alone", m.Header.Get("To"), to, rcpt, err, env)
		}
		dec := new(mime.WordDecoder)
		if s, err := dec.DecodeHeader(m.Header.Get("Subject")); err != nil || blanks(s) != blanks(subject) {
			t.Fatalf("subject %q reads back as %q, %v", subject, s, err)
		}
		b, err := io.ReadAll(quotedprintable.NewReader(m.Body))
		wantBody := strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\r", "\n")
		if !strings.HasSuffix(wantBody, "\n") {
			wantBody += "\n"
		}
		if err != nil || string(b) != strings.ReplaceAll(wantBody, "\n", "\r\n") {
			t.Fatalf("body %q reads back as %q, %v", body, b, err)
		}
	})
}

// blanks returns s with each run of spaces and tabs as one space, and
// none at its ends.
func blanks(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' }), " ")
}
