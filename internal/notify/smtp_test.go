package notify_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/notify"
	"github.com/twofold/twofold/internal/testenv"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 10, 0, time.UTC)

// parse reads a received message as a mail client would: headers, Q-encoded
// subject and quoted-printable body decoded.
func parse(tb testing.TB, m testenv.SMTPMessage) (*mail.Message, string, string) {
	tb.Helper()
	for i, l := range bytes.SplitAfter(m.Data, []byte("\n")) {
		if len(l) > 0 && !bytes.HasSuffix(l, []byte("\r\n")) {
			tb.Errorf("line %d of the message does not end in CRLF: %q", i+1, l)
		}
		if n := len(bytes.TrimSuffix(l, []byte("\r\n"))); n > 78 {
			tb.Errorf("line %d of the message is %d characters long, want at most 78 (RFC 5322 §2.1.1)", i+1, n)
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		tb.Fatalf("received message does not parse: %v\n%s", err, m.Data)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		tb.Fatalf("Subject %q: %v", msg.Header.Get("Subject"), err)
	}
	if got := msg.Header.Get("Content-Transfer-Encoding"); got != "quoted-printable" {
		tb.Fatalf("Content-Transfer-Encoding: got %q, want quoted-printable", got)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		tb.Fatalf("body is not quoted-printable: %v", err)
	}
	return msg, subject, string(body)
}

func send(tb testing.TB, s *notify.SMTP, m notify.Message) error {
	tb.Helper()
	return s.Send(tb.Context(), m)
}

// TestSMTPMessage sends through the SMTP sender to a real SMTP listener and
// reads the message back as a mail client would.
func TestSMTPMessage(t *testing.T) {
	t.Parallel()
	srv := testenv.NewSMTPServer(t)
	s := &notify.SMTP{Addr: srv.Addr, From: "Twofold Security <twofold@example.com>", Helo: "twofold.example.com"}
	long := strings.Repeat("a long line of text, ", 10)
	body := "Hello Jürgen,\n\n.a line that starts with a dot\n..and two\n.\n" + long + "\nlast line"
	m := notify.Message{To: "jurgen@example.org", Subject: "Twofold: Zwei-Faktor-Anmeldung für Ihr Konto wurde geändert – bitte prüfen Sie die Sicherheitseinstellungen", Body: body, Date: t0}
	if err := send(t, s, m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.Wait(t, 1, time.Minute)[0]
	if got.From != "twofold@example.com" || strings.Join(got.To, ",") != "jurgen@example.org" || got.Helo != "twofold.example.com" {
		t.Errorf("envelope: got HELO %q, MAIL FROM %q, RCPT TO %q; want twofold.example.com, twofold@example.com, jurgen@example.org", got.Helo, got.From, got.To)
	}
	if got.TLS || got.User != "" {
		t.Errorf("got TLS %v, user %q; want neither: the server offers none", got.TLS, got.User)
	}
	msg, subject, gotBody := parse(t, got)
	for _, tc := range []struct{ header, want string }{
		{"From", `"Twofold Security" <twofold@example.com>`},
		{"To", "<jurgen@example.org>"},
		{"Date", "Mon, 23 Nov 2026 12:00:10 +0000"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Auto-Submitted", "auto-generated"},
	} {
		if got := msg.Header.Get(tc.header); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.header, got, tc.want)
		}
	}
	if raw := msg.Header.Get("Subject"); !strings.HasPrefix(strings.ToLower(raw), "=?utf-8?q?") {
		t.Errorf("Subject: got %q, want a Q-encoded word (RFC 2047)", raw)
	}
	if subject != m.Subject {
		t.Errorf("Subject decodes to %q, want %q", subject, m.Subject)
	}
	if id := msg.Header.Get("Message-Id"); !regexp.MustCompile(`^<[0-9a-f]{32}@example\.com>$`).MatchString(id) {
		t.Errorf("Message-ID: got %q, want <32 hex digits@example.com>", id)
	}
	if want := strings.ReplaceAll(body, "\n", "\r\n") + "\r\n"; gotBody != want {
		t.Errorf("body:\ngot  %q\nwant %q", gotBody, want)
	}

	// A second message gets a different Message-ID.
	if err := send(t, s, m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs := srv.Wait(t, 2, time.Minute)
	m1, _, _ := parse(t, msgs[0])
	m2, _, _ := parse(t, msgs[1])
	if m1.Header.Get("Message-Id") == m2.Header.Get("Message-Id") {
		t.Errorf("two messages share Message-ID %s", m1.Header.Get("Message-Id"))
	}
}

// TestSMTPAcceptedThenHungUp: a relay that accepted the message and then
// closes the connection at QUIT instead of answering 221 has it: the send
// succeeds, so that the worker does not send it again.
func TestSMTPAcceptedThenHungUp(t *testing.T) {
	t.Parallel()
	srv := testenv.NewSMTPServer(t, testenv.SMTPHangUpAtQuit())
	s := &notify.SMTP{Addr: srv.Addr, From: "twofold@example.com"}
	if err := send(t, s, notify.Message{To: "alice@example.org", Subject: "Twofold: a notice", Body: "body", Date: t0}); err != nil {
		t.Fatalf("Send to a relay that accepted the message and hung up at QUIT: %v; want nil", err)
	}
	if n := len(srv.Wait(t, 1, time.Minute)); n != 1 {
		t.Errorf("messages accepted: got %d, want 1", n)
	}
}

// TestSMTPHeaderInjection checks that a subject cannot add headers or
// recipients.
func TestSMTPHeaderInjection(t *testing.T) {
	t.Parallel()
	srv := testenv.NewSMTPServer(t)
	s := &notify.SMTP{Addr: srv.Addr, From: "twofold@example.com"}
	subject := "hello\r\nBcc: mallory@example.net\r\n\r\nforged body"
	if err := send(t, s, notify.Message{To: "alice@example.com", Subject: subject, Body: "real body", Date: t0}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.Wait(t, 1, time.Minute)[0]
	msg, gotSubject, body := parse(t, got)
	if len(got.To) != 1 || msg.Header.Get("Bcc") != "" {
		t.Errorf("got recipients %q and Bcc %q, want alice only", got.To, msg.Header.Get("Bcc"))
	}
	if gotSubject != subject || body != "real body\r\n" {
		t.Errorf("got subject %q and body %q, want the subject intact and the real body", gotSubject, body)
	}
	for _, to := range []string{"alice@example.com>\r\nRCPT TO:<mallory@example.net", "not an address"} {
		if err := send(t, s, notify.Message{To: to, Subject: "s", Body: "b"}); err == nil {
			t.Errorf("Send to %q: got no error", to)
		}
	}
}

// TestSMTPStartTLSAuth checks STARTTLS against the server's certificate, then
// AUTH PLAIN, and that a wrong password or an untrusted certificate fail.
func TestSMTPStartTLSAuth(t *testing.T) {
	t.Parallel()
	srv := testenv.NewSMTPServer(t, testenv.SMTPStartTLS(), testenv.SMTPAuth("twofold", "s3cret"))
	trusting := &tls.Config{RootCAs: srv.RootCAs()}
	m := notify.Message{To: "alice@example.com", Subject: "s", Body: "b", Date: t0}
	for _, tc := range []struct {
		name     string
		sender   notify.SMTP
		wantTLS  bool
		wantCode int // 0: delivered
	}{
		{"starttls and auth", notify.SMTP{StartTLS: true, TLSConfig: trusting, Username: "twofold", Password: "s3cret"}, true, 0},
		{"plain to localhost", notify.SMTP{Username: "twofold", Password: "s3cret"}, false, 0},
		{"wrong password", notify.SMTP{StartTLS: true, TLSConfig: trusting, Username: "twofold", Password: "wrong"}, true, 535},
		{"no auth", notify.SMTP{StartTLS: true, TLSConfig: trusting}, true, 530},
		{"untrusted certificate", notify.SMTP{StartTLS: true, Username: "twofold", Password: "s3cret"}, true, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.sender
			s.Addr, s.From = srv.Addr, "twofold@example.com"
			before := len(srv.Messages())
			err := send(t, &s, m)
			switch {
			case tc.wantCode == 0 && err != nil:
				t.Fatalf("Send: %v", err)
			case tc.wantCode == 0:
				got := srv.Messages()
				if len(got) != before+1 {
					t.Fatalf("got %d messages, want %d", len(got), before+1)
				}
				if last := got[len(got)-1]; last.TLS != tc.wantTLS || last.User != "twofold" {
					t.Errorf("got TLS %v as %q, want TLS %v as twofold", last.TLS, last.User, tc.wantTLS)
				}
			case err == nil:
				t.Fatal("Send: got no error")
			case tc.wantCode > 0:
				var pe *textproto.Error
				if !errors.As(err, &pe) || pe.Code != tc.wantCode {
					t.Fatalf("Send: got %v, want SMTP code %d", err, tc.wantCode)
				}
			}
			if tc.wantCode != 0 && len(srv.Messages()) != before {
				t.Error("a refused attempt delivered a message")
			}
		})
	}
}

// TestSMTPImplicitTLS checks that TLS from the first byte (port 465) fails
// against a server that speaks plain SMTP, rather than falling back.
func TestSMTPImplicitTLS(t *testing.T) {
	t.Parallel()
	srv := testenv.NewSMTPServer(t)
	s := &notify.SMTP{Addr: srv.Addr, From: "twofold@example.com", TLS: true, Timeout: time.Minute}
	if err := send(t, s, notify.Message{To: "alice@example.com", Subject: "s", Body: "b"}); err == nil {
		t.Fatal("Send with TLS to a plain server: got no error")
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("got %d messages, want 0", n)
	}
}

// TestLogSender checks that the development sender logs the recipient's
// domain and the subject, never the address or the body, as the worker does.
func TestLogSender(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	l := notify.Log{Logger: newLogger(&logs)}
	if err := l.Send(t.Context(), notify.Message{To: "alice@example.com", Subject: "Twofold: factor confirmed", Body: "the body 1234"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	out := logs.String()
	if !strings.Contains(out, "example.com") || strings.Contains(out, "alice") || !strings.Contains(out, "factor confirmed") || strings.Contains(out, "1234") {
		t.Errorf("got log %q, want the recipient's domain and the subject, without the address or the body", out)
	}
}

// TestSMTPRequireTLS: a mail server that does not offer STARTTLS (or whose
// offer a man in the middle stripped) gets no message when TLS is required;
// without the requirement, as for a relay on loopback, it gets it in the clear.
func TestSMTPRequireTLS(t *testing.T) {
	t.Parallel()
	srv := testenv.NewSMTPServer(t)
	m := notify.Message{To: "alice@example.com", Subject: "s", Body: "b", Date: t0}
	s := &notify.SMTP{Addr: srv.Addr, From: "twofold@example.com", StartTLS: true, RequireTLS: true, Timeout: time.Minute}
	if err := send(t, s, m); err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Fatalf("Send with TLS required to a server without STARTTLS: got %v", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("got %d messages, want 0", n)
	}
	s.RequireTLS = false
	if err := send(t, s, m); err != nil {
		t.Fatalf("Send without the requirement: %v", err)
	}
	if got := srv.Messages(); len(got) != 1 || got[0].TLS {
		t.Fatalf("got %d messages, want 1 in the clear", len(got))
	}
}

// TestSMTPInternationalAddresses sends over TCP to a mail server that offers
// SMTPUTF8 (RFC 6531) and to one that does not, as the fake does unless told,
// refusing any byte beyond ASCII in addresses and headers. A domain beyond
// ASCII goes as IDNA A-labels (punycode) to either; a local part beyond
// ASCII goes, with the SMTPUTF8 parameter and as UTF-8 in the To header
// (RFC 6532), only to the server that offers it: to the other nothing is
// sent, and the error says why without naming the address.
func TestSMTPInternationalAddresses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, from, to string
		utf8Server     bool
		wantErr        error
		wantFrom       string
		wantTo         string // RCPT TO, and the To header's address
		wantUTF8       bool
		wantMessageID  string
	}{
		{name: "local part beyond ASCII, server without SMTPUTF8", to: "jöran@example.com", wantErr: notify.ErrNoSMTPUTF8},
		{name: "local part beyond ASCII, server with SMTPUTF8", to: "jöran@example.com", utf8Server: true,
			wantTo: "jöran@example.com", wantUTF8: true},
		{name: "domain beyond ASCII, server without SMTPUTF8", to: "jo@exämple.com",
			wantTo: "jo@xn--exmple-cua.com"},
		{name: "domain beyond ASCII, server with SMTPUTF8", to: "jo@bücher.example", utf8Server: true,
			wantTo: "jo@xn--bcher-kva.example", wantUTF8: true},
		{name: "sender's domain and name beyond ASCII", from: "Zwei Fäktor <twofold@exämple.com>", to: "jo@example.com",
			wantFrom: "twofold@xn--exmple-cua.com", wantTo: "jo@example.com", wantMessageID: "xn--exmple-cua.com"},
		{name: "sender's local part beyond ASCII, server without SMTPUTF8", from: "zwëi@example.com", to: "jo@example.com",
			wantErr: notify.ErrNoSMTPUTF8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []testenv.SMTPOption
			if tc.utf8Server {
				opts = append(opts, testenv.SMTPUTF8())
			}
			srv := testenv.NewSMTPServer(t, opts...)
			from := cmpOr(tc.from, "Twofold <twofold@example.com>")
			err := send(t, &notify.SMTP{Addr: srv.Addr, From: from}, notify.Message{To: tc.to, Subject: "Twofold: ein Test", Body: "Hallo Jöran", Date: t0})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Send: got %v, want %v", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "jöran") || strings.Contains(err.Error(), "zwëi") {
					t.Errorf("error %q names the address", err)
				}
				if n := len(srv.Messages()); n != 0 {
					t.Errorf("got %d messages at the server, want none", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := srv.Wait(t, 1, time.Minute)[0]
			if wantFrom := cmpOr(tc.wantFrom, "twofold@example.com"); got.From != wantFrom || strings.Join(got.To, ",") != tc.wantTo || got.UTF8 != tc.wantUTF8 {
				t.Errorf("envelope: got MAIL FROM %q, RCPT TO %q, SMTPUTF8 %v; want %q, %q, %v", got.From, got.To, got.UTF8, wantFrom, tc.wantTo, tc.wantUTF8)
			}
			msg, subject, body := parse(t, got)
			if to := msg.Header.Get("To"); to != "<"+tc.wantTo+">" {
				t.Errorf("To: got %q, want <%s>", to, tc.wantTo)
			}
			if subject != "Twofold: ein Test" || body != "Hallo Jöran\r\n" {
				t.Errorf("got subject %q, body %q", subject, body)
			}
			f, err := mail.ParseAddress(msg.Header.Get("From"))
			if err != nil {
				t.Fatalf("From %q: %v", msg.Header.Get("From"), err)
			}
			if wantName, _, _ := strings.Cut(from, " <"); strings.Contains(from, "<") && f.Name != wantName {
				t.Errorf("From's name: got %q, want %q", f.Name, wantName)
			}
			if raw := msg.Header.Get("From"); !isASCII(raw) {
				t.Errorf("From: got %q, want it in ASCII (an RFC 2047 encoded name, an A-label domain)", raw)
			}
			if tc.wantMessageID != "" && !strings.HasSuffix(msg.Header.Get("Message-Id"), "@"+tc.wantMessageID+">") {
				t.Errorf("Message-ID: got %q, want it @%s", msg.Header.Get("Message-Id"), tc.wantMessageID)
			}
		})
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
