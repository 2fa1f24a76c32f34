package web_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/pushdevice"
	"github.com/twofold/twofold/internal/testenv"
)

// proofs are the ways alice proves it's her in the pages' fuzz targets
// (FuzzElevateForm, FuzzLoginForm, FuzzResetForm): an authenticator app,
// a phone that gets texted codes, her address that gets mailed codes, a
// push device, a security key, recovery codes, a paper key and an SSH
// key, as the targets know them.
type proofs struct {
	phone    *testenv.App
	codes    []*testenv.SentCode // texted to Mobile, mailed to Mailbox, mailed to it for another sign-in
	approved bool                // a push the browser sent for the step was approved on Pocket and not used
	pocket   string              // Pocket's factor id
	// Yubi's answers to the options the page gives for the step
	// (@assertion@) and to another sign-in's (@otherassertion@).
	assertions []*testenv.SentAssertion
	yubi       string   // Yubi's factor id
	never      string   // a method no pass may take (a reset's email)
	recovery   []string // the recovery codes not used yet
	spent      string   // the recovery code used last
	paperKey   string
	sig        string // the SSH key's signature of the challenge waiting, or ""
}

// forget drops the codes sent for the step, the push approved and the
// security key's answer, for a new step. A code mailed for another
// sign-in is kept: it must never pass any step, and asking for it again
// would spend a send of the address's that the step may need. So is the
// key's answer for another sign-in.
func (p *proofs) forget() {
	for _, sc := range p.codes {
		if !sc.Elsewhere {
			sc.Code, sc.Live = "", false
		}
	}
	for _, a := range p.assertions {
		if !a.Elsewhere {
			a.Credential = nil
		}
	}
	p.approved = false
}

// newProofs is alice's proofs from k, with phone her app.
func newProofs(k keys, phone *testenv.App) *proofs {
	return &proofs{phone: phone, recovery: slices.Clone(k.codes), spent: "none yet", paperKey: k.paperKey}
}

// replace puts in form, escaped, what its placeholders stand for at now:
// @code@ and @prev@ for the app's code of this step and of the one before,
// @wide@ for this step's in full-width digits with a no-break space,
// @last@ for the app's code last used, @phone@ for its id, @recovery@ for
// a recovery code not used yet, @spent@ for the one used last, @paper@
// for the paper key, @sig@ for the signature, @sms@ and @email@ for the
// codes texted and mailed, @elsewhere@ for a code mailed for another
// sign-in, @assertion@ for Yubi's answer (JSON) to the options the page
// gives for the step, @otherassertion@ for its answer to another
// sign-in's, @mobile@, @mailbox@ and @yubi@ for their factors' ids, and
// @approved@ for nothing: it asks for a push approved on Pocket before the
// form is sent (pagesTarget.approvePush). It adds csrf, the browser's form
// token, unless the form sends one.
func (p *proofs) replace(form string, now time.Time, csrf string) string {
	esc := url.QueryEscape
	form = strings.NewReplacer("@code@", esc(p.phone.Code(now, 0)), "@prev@", esc(p.phone.Code(now, -1)),
		"@wide@", esc(testenv.Wide(p.phone.Code(now, 0))), "@last@", esc(p.phone.LastCode()), "@phone@", esc(p.phone.ID),
		"@recovery@", esc(p.recovery[0]), "@spent@", esc(p.spent), "@paper@", esc(p.paperKey),
		"@sig@", esc(p.sig), "@mobile@", esc(p.codes[0].FactorID), "@mailbox@", esc(p.codes[1].FactorID),
		"@yubi@", esc(p.yubi), "@approved@", "").Replace(form)
	for _, sc := range p.codes {
		form = strings.ReplaceAll(form, sc.Placeholder, esc(sc.Code))
	}
	for _, a := range p.assertions {
		form = strings.ReplaceAll(form, a.Placeholder, esc(string(a.Credential)))
	}
	if !strings.Contains(form, "csrf=") {
		form = strings.TrimPrefix(form+"&csrf="+csrf, "&")
	}
	return form
}

// nextEchoed is where a sign-in page carries the form's own next (the page
// to go to once signed in) on to its next form and links.
var nextEchoed = regexp.MustCompile(`<input type="hidden" name="next" value="[^"]*">|&amp;next=[^"]*`)

// checkShown fails t when a proof of alice's that form sent comes back in
// page or is in newLog. The form's next may hold anything, a proof too, and
// a sign-in page carries it on as it came (it is the browser's own, and
// says only where to go): a proof in next alone is not a proof sent, and the
// page is judged without the next it carries on.
func (p *proofs) checkShown(t *testing.T, form string, status int, page, newLog string, now time.Time) {
	t.Helper()
	secrets := append([]string{p.paperKey}, p.recovery...)
	for _, sc := range p.codes {
		if sc.Code != "" {
			secrets = append(secrets, sc.Code)
		}
	}
	for d := int64(-testenv.TypedWindow); d <= testenv.TypedWindow; d++ {
		secrets = append(secrets, p.phone.Code(now, d))
	}
	for _, line := range strings.Split(p.sig, "\n") {
		if line != "" && !strings.HasPrefix(line, "-----") {
			secrets = append(secrets, line) // the form holds each line of the signature as it is
		}
	}
	sent, _ := url.ParseQuery(form)
	var values []string
	for k, vs := range sent {
		if k != "next" {
			values = append(values, vs...)
		}
	}
	page = nextEchoed.ReplaceAllString(page, "")
	for _, sc := range secrets {
		asValue := slices.ContainsFunc(values, func(v string) bool { return strings.Contains(v, sc) })
		if asValue && testenv.HoldsWord(page, sc) {
			t.Fatalf("%q: the page (%d) holds a proof sent", form, status)
		}
		if (asValue || strings.Contains(form, sc)) && testenv.HoldsWord(newLog, sc) {
			t.Fatalf("%q: the log holds a proof sent:\n%s", form, newLog)
		}
	}
}

// passed fails t unless the proof sent, by method with code (or SSH
// signature, or security key's credential), for factor ("" for any), is
// one of alice's that stands at now; it then spends it as the server did.
func (p *proofs) passed(t *testing.T, form, method, code, factor, signature, credential string, now time.Time) {
	t.Helper()
	if method == p.never {
		t.Fatalf("%q: passed by method %q, which it never takes", form, method)
	}
	switch method {
	case "totp":
		if factor != "" && factor != p.phone.ID || !p.phone.Spend(now, code) {
			t.Fatalf("%q: passed without a standing code of the app named", form)
		}
	case "recovery_code":
		i := slices.IndexFunc(p.recovery, func(k string) bool { return testenv.TypedKey(code, k) })
		if i < 0 {
			t.Fatalf("%q: passed without a recovery code not used yet", form)
		}
		p.spent = p.recovery[i]
		p.recovery = slices.Delete(p.recovery, i, i+1)
	case "paper_key":
		if !testenv.TypedKey(code, p.paperKey) {
			t.Fatalf("%q: passed without the paper key", form)
		}
	case "ssh_key":
		got, made := testenv.SignatureBytes(signature), testenv.SignatureBytes(p.sig)
		if got == nil || string(got) != string(made) {
			t.Fatalf("%q: passed without the signature of the challenge waiting", form)
		}
	case "push":
		if !p.approved || factor != "" && factor != p.pocket {
			t.Fatalf("%q: passed by push with no push of the browser's approved on the device named for this step", form)
		}
		p.approved = false
	case "webauthn":
		i := slices.IndexFunc(p.assertions, func(a *testenv.SentAssertion) bool { return !a.Elsewhere })
		if i < 0 || !p.assertions[i].Carried([]byte(credential)) || factor != "" && factor != p.yubi {
			t.Fatalf("%q: passed by a security key without Yubi's answer to the options the page gave for this step", form)
		}
		p.assertions[i].Credential = nil
	case "sms", "email":
		sc := p.codes[slices.IndexFunc(p.codes, func(sc *testenv.SentCode) bool { return sc.Method == method && !sc.Elsewhere })]
		if !sc.Carried(code, factor) {
			t.Fatalf("%q: passed without the code last sent for this step (%q)", form, sc.Code)
		}
		sc.Code, sc.Live = "", false
	default:
		t.Fatalf("%q: passed by method %q, which alice has no factor of", form, method)
	}
}

// jarValue returns the value of cookie name that c sends to path, or "".
func jarValue(tb testing.TB, c *client, path, name string) string {
	tb.Helper()
	u, err := url.Parse(c.base + path)
	if err != nil {
		tb.Fatal(err)
	}
	for _, k := range c.http.Jar.Cookies(u) {
		if k.Name == name {
			return k.Value
		}
	}
	return ""
}

// pagesTarget is what the pages' fuzz targets share: a server whose log
// they read, whose texts go to a test gateway and mail to a test SMTP
// server, alice with an authenticator app (Phone), a phone (Mobile), her
// address as a factor (Mailbox), a push device (Pocket, the real device
// client), a security key (Yubi, testenv's software authenticator),
// recovery codes, a paper key and an SSH key, a browser signed in as her,
// and snapshots of the database.
type pagesTarget struct {
	ts     *testenv.Server
	logs   *testenv.Buffer
	alice  twofold.Account
	alices *proofs
	c      *client // the browser
	kp     testenv.SSHKeyPair
	g      *testenv.SMSGateway
	mb     *testenv.SMTPServer
	device *pushdevice.Client // Pocket
	yubi   *testenv.SecurityKey
	snaps  *testenv.Snapshots
}

// mobileNumber is the number of alice's texting phone.
const mobileNumber = "+447400123456"

// newPagesTarget sets up a pages' fuzz target on dsn. The server takes
// every form: no per-address bucket.
func newPagesTarget(f *testing.F, dsn string) *pagesTarget {
	p := &pagesTarget{logs: &testenv.Buffer{}, g: testenv.NewSMSGateway(f), mb: testenv.NewSMTPServer(f)}
	p.ts = testenv.NewLoggedServer(f, dsn, testenv.CodeSafeLogger(p.logs), p.g.Option(), p.mb.Option("Twofold <twofold@example.com>"),
		func(c *config.Config) { c.LoginRate = 0 })
	ctx := context.Background()
	if _, err := p.ts.Service.CreateAccount(ctx, core.NewAccount{Username: "alice", Email: "alice@example.com", Password: testPassword}, core.Meta{}); err != nil {
		f.Fatal(err)
	}
	k := enrolPhone(f, p.ts, "alice")
	alice, err := p.ts.Store.AccountByUsername(ctx, "alice")
	if err != nil {
		f.Fatal(err)
	}
	p.alice = alice
	factors, err := p.ts.Store.Factors(ctx, alice.ID)
	if err != nil || len(factors) != 1 {
		f.Fatalf("alice's factors: %v, %v", factors, err)
	}
	phone := testenv.NewApp(f, factors[0].ID, k.secret)
	phone.Last = uint64(p.ts.Clock.Now().Unix()/30) - 1 // the confirming code's step
	p.alices = newProofs(k, phone)
	p.c = newClient(f, p.ts.URL())
	signInWithApp(f, p.c, p.ts, phone)
	p.kp = testenv.SSHKeygen(f, "ed25519", 0)
	addSSHKey(f, p.ts, sessionCookie(f, p.c), p.kp)
	a, err := p.ts.Service.Authenticate(ctx, sessionCookie(f, p.c))
	if err != nil {
		f.Fatal(err)
	}
	e, err := p.ts.Service.EnrolFactor(ctx, a, core.NewFactor{Type: "sms", Phone: mobileNumber, Label: "Mobile"}, core.Meta{})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := p.ts.Service.ConfirmFactor(ctx, a, e.Factor.ID, p.g.LastCode(f, mobileNumber), core.Meta{}); err != nil {
		f.Fatal(err)
	}
	seen := len(p.mb.Messages())
	m, err := p.ts.Service.EnrolFactor(ctx, a, core.NewFactor{Type: "email", Label: "Mailbox"}, core.Meta{})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := p.ts.Service.ConfirmFactor(ctx, a, m.Factor.ID, p.mb.CodeAfter(f, seen), core.Meta{}); err != nil {
		f.Fatal(err)
	}
	p.alices.codes = []*testenv.SentCode{{Placeholder: "@sms@", Method: "sms", FactorID: e.Factor.ID},
		{Placeholder: "@email@", Method: "email", FactorID: m.Factor.ID},
		{Placeholder: "@elsewhere@", Method: "email", FactorID: m.Factor.ID, Elsewhere: true}}
	pe, err := p.ts.Service.EnrolPush(ctx, a, "Pocket", p.ts.URL(), core.Meta{})
	if err != nil {
		f.Fatal(err)
	}
	st, _, err := pushdevice.Enrol(ctx, http.DefaultClient, pe.URI)
	if err != nil {
		f.Fatal(err)
	}
	p.device, p.alices.pocket = &pushdevice.Client{State: st, HTTP: http.DefaultClient, Now: p.ts.Clock.Now}, pe.Factor.ID
	ke, err := p.ts.Service.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorWebAuthn, Label: "Yubi"}, core.Meta{})
	if err != nil {
		f.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(p.ts.Addr())
	p.yubi = testenv.NewSecurityKey(f, "http://localhost:"+port) // the pages' origin
	if _, err := p.ts.Service.ConfirmSecurityKey(ctx, a, ke.Factor.ID, p.yubi.Create(f, ke.Options), core.Meta{}); err != nil {
		f.Fatal(err)
	}
	p.alices.yubi = ke.Factor.ID
	p.alices.assertions = []*testenv.SentAssertion{{Placeholder: "@assertion@"}, {Placeholder: "@otherassertion@", Elsewhere: true}}
	p.snaps = testenv.OpenSnapshots(f, dsn)
	return p
}

// sweep moves the clock by d and deletes what lapsed then, not in the
// server's next sweep while a form is judged.
func (p *pagesTarget) sweep(t *testing.T, d time.Duration) {
	t.Helper()
	p.ts.Clock.Add(d)
	if err := p.ts.Service.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// post clears alice's counters and posts form, its placeholders put in
// (proofs.replace), to path from the browser, as its page would. It
// fails t for a server error and for a proof sent that comes back in the
// page or goes to the log, and returns the form sent, the reply, what the
// log got and the database before.
func (p *pagesTarget) post(t *testing.T, path, form string) (string, reply, string, testenv.Snapshot) {
	t.Helper()
	ctx := context.Background()
	now := p.ts.Clock.Now()
	form = p.alices.replace(form, now, p.c.csrf)
	for _, prefix := range []string{"2fa:" + p.alice.ID + ":", "recovery-failures:" + p.alice.ID} {
		if _, err := p.ts.Store.ResetThrottlePrefix(ctx, prefix); err != nil {
			t.Fatal(err)
		}
	}
	before := p.snaps.Take(t)
	logged := len(p.logs.String())
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {p.ts.URL()}}
	r := p.c.do(testenv.NewRequest(t, "POST", p.ts.URL()+path, form, h))
	newLog := p.logs.String()[logged:]
	if r.status >= 500 {
		t.Fatalf("%q: %d %s", form, r.status, pageError(r.body))
	}
	p.alices.checkShown(t, form, r.status, r.body, newLog, now)
	return form, r, newLog, before
}

// sendCodes asks for the codes whose placeholders form holds and that
// have none, or may be out of checks: those for the step by the send that
// button gives (the page's "Send a code"), those for another sign-in as
// otherSignInMail does with alice's password pass. It reports false when
// a send limit refused one (askCode): the caller starts a new step and
// asks again.
func (p *pagesTarget) sendCodes(t *testing.T, form, pass string, button func(sc *testenv.SentCode) func() (int, string, string)) bool {
	t.Helper()
	for _, sc := range p.alices.codes {
		if !strings.Contains(form, sc.Placeholder) || sc.Code != "" && sc.Checks < 4 {
			continue
		}
		send := otherSignInMail(t, p.ts, sc.FactorID, pass)
		if !sc.Elsewhere {
			send = button(sc)
		}
		if !p.askCode(t, sc, send) {
			return false
		}
	}
	return true
}

// askCode asks for sc's code by send, which answers a status and its
// Retry-After. When the send limits refuse, it moves the clock by twice
// the wait and reports false: the caller starts a new step and asks again.
// Twice, since a step may need two codes whose sends share a bucket (the
// account's), and the wait is for one.
func (p *pagesTarget) askCode(t *testing.T, sc *testenv.SentCode, send func() (status int, retry, page string)) bool {
	t.Helper()
	seen := len(p.mb.Messages())
	status, retry, page := send()
	if wait, err := strconv.Atoi(retry); status == http.StatusTooManyRequests && err == nil {
		p.ts.Clock.Add(2 * time.Duration(wait) * time.Second)
		return false
	}
	if status != http.StatusOK && status != http.StatusAccepted {
		t.Fatalf("asking for a %s code: %d %s", sc.Method, status, page)
	}
	sc.Live = !sc.Elsewhere
	if sc.Checks = 0; sc.Method == "sms" {
		sc.Code = p.g.LastCode(t, mobileNumber)
	} else {
		sc.Code = p.mb.CodeAfter(t, seen)
	}
	return true
}

// approvePush, when form holds @approved@ and no push is approved for the
// step, has the browser send a push to Pocket by posting fields to path,
// as the page's "Send a push" does, and approves it on the device with
// the number that number reads from the answer. When the send limit
// refuses, it moves the clock by the wait and reports false: the caller
// starts a new step and asks again (a step needs one push at most).
func (p *pagesTarget) approvePush(t *testing.T, form, path string, fields url.Values, number func(reply) string) bool {
	t.Helper()
	if !strings.Contains(form, "@approved@") || p.alices.approved {
		return true
	}
	r := p.c.post(path, fields)
	if wait, err := strconv.Atoi(r.header.Get("Retry-After")); r.status == http.StatusTooManyRequests && err == nil {
		p.ts.Clock.Add(time.Duration(wait) * time.Second)
		return false
	}
	n := number(r)
	if r.status != http.StatusOK || n == "" {
		t.Fatalf("sending a push: %d at %s: %s", r.status, r.url, pageError(r.body))
	}
	approveOnly(t, p.device, n)
	p.alices.approved = true
	return true
}

// askAssertions has Yubi answer, for each of its placeholders form holds
// with no answer, the options step gives (the page's own POST, as its
// script makes when "Use my security key" is pressed), or, for
// @otherassertion@, those of another sign-in of alice's with password
// pass.
func (p *pagesTarget) askAssertions(t *testing.T, form, pass string, step func() reply) {
	t.Helper()
	for _, a := range p.alices.assertions {
		if !strings.Contains(form, a.Placeholder) || a.Credential != nil {
			continue
		}
		if a.Elsewhere {
			a.Answer(t, p.yubi, otherSignInOptions(t, p.ts, pass))
			continue
		}
		r := step()
		if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Fatalf("the security key's options: %d %s", r.status, r.body)
		}
		a.Answer(t, p.yubi, []byte(r.body))
	}
}

// byButton is a send of askCode: the browser posts form to path, as the
// page's "Send a code" does.
func (p *pagesTarget) byButton(path string, form url.Values) func() (int, string, string) {
	return func() (int, string, string) {
		r := p.c.post(path, form)
		return r.status, r.header.Get("Retry-After"), pageError(r.body)
	}
}

// refused fails t unless r, the answer to form, sent by method and naming
// factor or not, is a refusal that wrote nothing since before and counted
// as it should on alice's counters: a refused proof (401) exactly one
// failure on one of her own, and one more on a factor's only when the
// form names a factor; a push not sent and any other refusal none. A form
// by method sms or email may also take one check from the code sent for
// the step by that method, and from no other; one by webauthn may use up
// the ceremony of the options the page gave for the step, as an answer
// Yubi signed does, and no other.
func (p *pagesTarget) refused(t *testing.T, form string, r reply, method, factor string, before testenv.Snapshot) {
	t.Helper()
	if r.status < 400 {
		t.Fatalf("%q: neither passed nor refused: %d at %s: %s", form, r.status, r.url, pageError(r.body))
	}
	want := 0
	if r.status == http.StatusUnauthorized && method != "push" {
		want = 1
	}
	own, byFactor, counted := testenv.CountedFailures(t, p.ts, p.alice.ID)
	switch {
	case own != want:
		t.Fatalf("%q: refused (%d %s), counted on %d of alice's counters, want %d: %v", form, r.status, pageError(r.body), own, want, counted)
	case byFactor > 0 && (own == 0 || byFactor > 1 || factor == ""):
		t.Fatalf("%q: refused (%d), counted on %d factors' counters: %v", form, r.status, byFactor, counted)
	}
	d := before.Diff(p.snaps.Take(t))
	for _, sc := range p.alices.codes {
		d = sc.Refused(d, method)
	}
	for _, a := range p.alices.assertions {
		if method == "webauthn" && !a.Elsewhere {
			d = a.WithoutCeremony(d)
		}
	}
	if d != "" {
		t.Fatalf("%q: refused (%d %s), but the database changed:\n%s", form, r.status, pageError(r.body), d)
	}
}

// refillRecovery gives alice a new set of recovery codes by the session
// token when fewer than 4 of hers are left.
func (p *pagesTarget) refillRecovery(t *testing.T, token string) {
	t.Helper()
	if len(p.alices.recovery) >= 4 {
		return
	}
	ctx := context.Background()
	a, err := p.ts.Service.Authenticate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if p.alices.recovery, err = p.ts.Service.RegenerateRecoveryCodes(ctx, a, core.Meta{}); err != nil {
		t.Fatal(err)
	}
}
