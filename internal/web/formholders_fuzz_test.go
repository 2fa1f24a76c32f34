package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
	"github.com/twofold/twofold/internal/web"
)

// formHolder is an account whose browsers post a pages' fuzz target's
// forms about the account itself (FuzzCloseForm, FuzzEmailForm).
type formHolder struct {
	name, password string
	withApp        bool
	made           int       // accounts made for it so far
	id             string    // "" once it is to be made anew
	last           string    // the id of the account made last
	email          string    // its address now
	browsers       []*client // the who values that are its, from first
	first          int
	app            *testenv.App // alice's authenticator app
	codes          []string     // alice's recovery codes
}

// formHolders is such a target's server and its two accounts: alice,
// with an app, a browser signed in with it (so elevated) and one signed
// in before she added it (so never elevated, though its form's "confirm
// it's you" fields may elevate it); and bob, with no authenticator and
// one browser. They have passwords of their own. The server's log goes
// to logs, its mail to mb (which offers SMTPUTF8, so that mail to any
// address a form may give arrives), its texts to sms, and it takes every
// form (no per-address bucket).
type formHolders struct {
	ts    *testenv.Server
	logs  *testenv.Buffer
	mb    *testenv.SMTPServer
	sms   *testenv.SMSGateway
	list  []*formHolder // alice, bob
	snaps *testenv.Snapshots
}

func newFormHolders(f *testing.F, dsn string) *formHolders {
	hs := &formHolders{logs: &testenv.Buffer{}, mb: testenv.NewSMTPServer(f, testenv.SMTPUTF8()), sms: testenv.NewSMSGateway(f)}
	hs.ts = testenv.NewLoggedServer(f, dsn, testenv.CodeSafeLogger(hs.logs), hs.mb.Option("Twofold <twofold@example.com>"), hs.sms.Option(),
		func(c *config.Config) { c.LoginRate = 0 })
	hs.list = []*formHolder{
		{name: "alice", password: testPassword, withApp: true},
		{name: "bob", password: "bob own long passphrase 42", first: 2},
	}
	for _, h := range hs.list {
		hs.open(f, h)
	}
	hs.snaps = testenv.OpenSnapshots(f, dsn)
	return hs
}

// open makes h's account anew under a new name (a closed account's name
// stays taken) and signs its browsers in: for alice one with her password
// before she adds her app, then one with the app.
func (hs *formHolders) open(t testing.TB, h *formHolder) {
	t.Helper()
	ts, ctx := hs.ts, context.Background()
	// The account made before goes, with every row of it (not found: a
	// form deleted it), so that the database, which every form snapshots
	// twice, stays as small as at the start: left in place, the accounts of
	// a few thousand forms made each form take seconds.
	if h.last != "" {
		if err := ts.Store.DeleteAccount(ctx, h.last, ts.Clock.Now()); err != nil && twofold.ErrorCode(err) != twofold.CodeNotFound {
			t.Fatal(err)
		}
	}
	h.made++
	name := fmt.Sprintf("%s%d", h.name, h.made)
	h.email = name + "@example.com"
	if _, err := ts.Service.CreateAccount(ctx, core.NewAccount{Username: name, Email: h.email, Password: h.password}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	a, err := ts.Store.AccountByUsername(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	h.id, h.last = a.ID, a.ID
	signIn := func() *client {
		c := newClient(t, ts.URL())
		c.post("/login", url.Values{"username": {name}, "password": {h.password}})
		return c
	}
	first := signIn()
	if r := first.get("/settings/security"); r.url.Path != "/settings/security" {
		t.Fatalf("sign %s in: at %s: %s", name, r.url, pageError(r.body))
	}
	h.browsers = []*client{first}
	if !h.withApp {
		return
	}
	k := enrolPhone(t, ts, name)
	factors, err := ts.Store.Factors(ctx, h.id)
	if err != nil || len(factors) != 1 {
		t.Fatalf("%s's factors: %v, %v", name, factors, err)
	}
	h.app, h.codes = testenv.NewApp(t, factors[0].ID, k.secret), k.codes
	h.app.Last = uint64(ts.Clock.Now().Unix()/30) - 1 // the confirming code's step
	elevated := signIn()
	for !h.app.Spend(ts.Clock.Now(), h.app.Code(ts.Clock.Now(), 0)) {
		ts.Clock.Add(30 * time.Second)
	}
	r := elevated.post("/login/verify", url.Values{"method": {"totp"}, "code": {h.app.Code(ts.Clock.Now(), 0)}})
	if r.url.Path != "/settings/security" {
		t.Fatalf("%s's second step: at %s: %s", name, r.url, pageError(r.body))
	}
	h.browsers = []*client{elevated, first}
}

// elevated reports whether the session of c's cookie is elevated now.
func (hs *formHolders) elevated(t testing.TB, c *client) bool {
	a, err := hs.ts.Service.Authenticate(context.Background(), sessionCookie(t, c))
	return err == nil && a.Elevated(hs.ts.Clock.Now())
}

// ready readies both accounts for t's form: an account whose browser's
// session lapsed or was signed out, or whose elevated browser is no longer
// elevated, or that is to be made anew, is made anew with its browsers. It
// returns whether each was. What lapsed by then is swept.
func (hs *formHolders) ready(t *testing.T) []bool {
	var made []bool
	for _, h := range hs.list {
		for _, c := range h.browsers {
			c.t = t
			if token := jarValue(t, c, "/", "twofold_session"); h.id != "" && (token == "" || !signsIn(hs.ts, token)) {
				h.id = ""
			}
		}
		if h.id != "" && h.withApp && !hs.elevated(t, h.browsers[0]) {
			h.id = ""
		}
		made = append(made, h.id == "")
		if h.id == "" {
			hs.open(t, h)
		}
	}
	hs.ts.Service.Wait() // the mail of an account made
	// Making an account moves the clock: what lapsed is swept now, not by
	// the server's own sweep while a form is judged.
	if err := hs.ts.Service.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	return made
}

// browser is the account and browser the who byte picks (its value mod
// 3: alice's elevated, alice's other, bob's), and the browser's index.
func (hs *formHolders) browser(who uint8) (*formHolder, *client, int) {
	i := int(who % 3)
	h := hs.list[0]
	if i >= hs.list[1].first {
		h = hs.list[1]
	}
	return h, h.browsers[i-h.first], i
}

// replace puts in form, escaped, the passwords (@alicepw@, @bobpw@),
// alice's app's code of now (@code@; her elevated browser used it), of the
// step after (@next@) and the one last used (@last@), then what more
// stands for, and the browser c's CSRF token unless the form sends one.
func (hs *formHolders) replace(form string, c *client, now time.Time, more ...string) string {
	esc, alice := url.QueryEscape, hs.list[0]
	pairs := []string{"@alicepw@", esc(alice.password), "@bobpw@", esc(hs.list[1].password),
		"@code@", alice.app.Code(now, 0), "@next@", alice.app.Code(now, 1), "@last@", alice.app.LastCode()}
	for i := 0; i+1 < len(more); i += 2 {
		pairs = append(pairs, more[i], esc(more[i+1]))
	}
	form = strings.NewReplacer(pairs...).Replace(form)
	if !strings.Contains(form, "csrf=") {
		form = strings.TrimPrefix(form+"&csrf="+esc(c.csrf), "&")
	}
	return form
}

// onceTokens returns the one-time token of the page at path as the
// browser of who gets it, when form holds @once@, and as the next
// browser's does (who plus one), when it holds @theirs@; "none" for each
// the form does not hold.
func (hs *formHolders) onceTokens(form string, who uint8, path string) (once, theirs string) {
	once, theirs = "none", "none"
	if strings.Contains(form, "@once@") {
		_, c, _ := hs.browser(who)
		once = pageOnce(c, path)
	}
	if strings.Contains(form, "@theirs@") {
		_, other, _ := hs.browser(who + 1)
		theirs = pageOnce(other, path)
	}
	return once, theirs
}

// addressEchoed is where a page carries the address a form gave on: its
// field, and the query of a link.
var addressEchoed = regexp.MustCompile(`<input[^>]*name="email"[^>]*>|[?&;]email=[^"&]*`)

// posted is a form a formHolders target posted, and what came of it.
type posted struct {
	form        string
	sent        url.Values // the form parsed, or nil
	parseErr    error
	r           reply
	caller      int
	h           *formHolder
	c           *client
	wasElevated bool   // the browser's session before the form
	cookie      string // the browser's session cookie before the form
	before      testenv.Snapshot
	now         time.Time // the clock when the form was sent
	newLog      string
}

// post clears every counter and posts form (its placeholders put in) to
// path from the browser of who, waits for the server's work after the
// answer, and fails t for a server error and for a password, an app's
// code or another of secrets that the form sent and that comes back in the
// page or goes to the log.
func (hs *formHolders) post(t *testing.T, path, form string, who uint8, secrets ...string) posted {
	t.Helper()
	ts := hs.ts
	if _, err := ts.Store.ResetThrottlePrefix(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	h, c, caller := hs.browser(who)
	p := posted{form: form, caller: caller, h: h, c: c, wasElevated: hs.elevated(t, c), cookie: sessionCookie(t, c),
		before: hs.snaps.Take(t), now: ts.Clock.Now()}
	logged := len(hs.logs.String())
	hdr := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {ts.URL()}}
	p.r = c.do(testenv.NewRequest(t, "POST", ts.URL()+path, form, hdr))
	ts.Service.Wait()
	p.newLog = hs.logs.String()[logged:]
	if p.r.status >= 500 {
		t.Fatalf("%q by %d: %d %s", form, caller, p.r.status, pageError(p.r.body))
	}
	p.sent, p.parseErr = url.ParseQuery(form)
	var values []string
	for _, vs := range p.sent {
		values = append(values, vs...)
	}
	// The address the form gave comes back as it was typed, in its field,
	// and in the links that switch the "confirm it's you" method: the
	// page is judged without it.
	page := p.r.body
	if p.sent.Has("email") {
		page = addressEchoed.ReplaceAllString(page, "")
	}
	alice := hs.list[0]
	secrets = append(secrets, alice.password, hs.list[1].password)
	for d := int64(-testenv.TypedWindow); d <= testenv.TypedWindow; d++ {
		secrets = append(secrets, alice.app.Code(p.now, d))
	}
	for _, s := range secrets {
		if !slices.ContainsFunc(values, func(v string) bool { return strings.Contains(v, s) }) {
			continue
		}
		if testenv.HoldsWord(p.newLog, s) {
			t.Fatalf("%q by %d: the log holds a password or code the form sent:\n%s", form, caller, p.newLog)
		}
		if testenv.HoldsWord(page, s) {
			t.Fatalf("%q by %d: the page (%d) holds a password or code the form sent", form, caller, p.r.status)
		}
	}
	return p
}

// mayAct fails t unless the browser of p may do what the form did: its
// CSRF token, and for alice an elevated session or "confirm it's you"
// fields with a code of her app not used before, which it then spends
// (and her account is made anew for the next form, with a browser not
// elevated).
func (hs *formHolders) mayAct(t *testing.T, p posted, what string) {
	t.Helper()
	switch {
	case p.parseErr != nil:
		t.Fatalf("%q by %d: %s by a form that does not parse: %v", p.form, p.caller, what, p.parseErr)
	case p.sent.Get("csrf") != p.c.csrf:
		t.Fatalf("%q by %d: %s by a form with another CSRF token", p.form, p.caller, what)
	case p.h.withApp && !p.wasElevated && !p.h.app.Spend(p.now, p.sent.Get("elevate_code")):
		t.Fatalf("%q by %d: %s from a session not elevated, with no code of her app", p.form, p.caller, what)
	case p.h.withApp && !p.wasElevated:
		p.h.id = "" // made anew, with a browser not elevated
	}
}

// changed returns what p's form did to the database, a line of
// testenv.Snapshot's diff each, leaving out the form's one-time token and
// the elevation the browser's own "confirm it's you" fields made (its
// account's sessions and factors); and whether those fields elevated it.
func (hs *formHolders) changed(t *testing.T, p posted) (did []string, selfElevated bool) {
	t.Helper()
	selfElevated = !p.wasElevated && hs.elevated(t, p.c)
	for _, l := range strings.Split(p.before.Diff(hs.snaps.Take(t)), "\n") {
		kind, _, _ := strings.Cut(l, ":")
		switch {
		case l == "":
		case kind == "+ form_uses" || kind == "- form_uses":
		case selfElevated && strings.Contains(l, p.h.id) && (strings.HasSuffix(kind, " sessions") || strings.HasSuffix(kind, " factors")):
		default:
			did = append(did, l)
		}
	}
	return did, selfElevated
}

// judge fails t for p's form to path when did (hs.changed) is empty but
// the refusal changed the database (refusedDiff) or the browser is told
// that something was done (doneNotices), and then returns nil.
// Otherwise it fails t for a form without the browser's CSRF token, and
// returns fail, which fails t saying what the form did and what is wrong
// with that.
func (hs *formHolders) judge(t *testing.T, p posted, path string, did []string) (fail func(format string, args ...any)) {
	t.Helper()
	if len(did) == 0 {
		hs.refused(t, p, path)
		return nil
	}
	fail = func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s %q by %d: changed, but %s:\n%s", path, p.form, p.caller, fmt.Sprintf(format, args...), strings.Join(did, "\n"))
	}
	if p.parseErr != nil || p.sent.Get("csrf") != p.c.csrf {
		fail("the form has another CSRF token")
	}
	return fail
}

// refused fails t for p's form to path ("" for a target's one form),
// which the target found to have done nothing, when the refusal changed
// the database (refusedDiff) or the browser is told that something was
// done (doneNotices).
func (hs *formHolders) refused(t *testing.T, p posted, path string) {
	t.Helper()
	if d := hs.refusedDiff(t, p); d != "" {
		t.Fatalf("%s: refused (%d %s), but the database changed:\n%s", p.named(path), p.r.status, pageError(p.r.body), d)
	}
	toldNothingDone(t, p, path)
}

// toldNothingDone fails t when the browser, after p's form to path wrote
// nothing, is told that something was done (doneNotices).
func toldNothingDone(t *testing.T, p posted, path string) {
	t.Helper()
	if m := p.r.url.Query().Get("m"); slices.Contains(doneNotices, m) {
		t.Fatalf("%s: nothing written, yet the browser is told %q (%s)", p.named(path), m, p.r.url)
	}
}

// named is p's form for a failure's message: to path ("" for a target's
// one form), and by which browser.
func (p posted) named(path string) string {
	form := fmt.Sprintf("%q by %d", p.form, p.caller)
	if path != "" {
		form = path + " " + form
	}
	return form
}

// doneNotices are the pages' notices (the m parameter) that tell the
// browser something was done; a form that wrote nothing never leads to
// one.
var doneNotices = []string{"factor_added", "factor_removed", "setup_cancelled", "renamed", "resynchronised",
	"required_on", "required_off", "unlocked", "reset_requested", "reset_done", "reset_cancelled", "suspended",
	"unsuspended", "account_created", "password_changed", "api_key_revoked_for_user", "signed_out_everywhere",
	"email_changed_for_user", "session_ended", "email_changed", "password_reset", "logged_out_everywhere",
	"api_key_revoked", "code_sent", "ssh_key_added", "ssh_key_removed", "ssh_key_cancelled", "account_closed", "account_closed_mailed",
	"account_deleted", "logged_out", "team_created", "team_left", "team_deleted", "member_removed",
	"invitation_accepted", "invitation_declined", "record_added", "record_removed", "webhook_enabled", "webhook_deleted",
	"team_updated", "role_changed", "invited", "invitation_revoked", "zone_shared", "zone_unshared"}

// otherNotices are the pages' notices that a form which wrote nothing may
// lead to: those that say nothing was done or why, those of signing in
// (judged by the sign-in pages' targets), and "elevated", whose writes
// the form targets leave out of what a form did (formHolders.changed).
var otherNotices = []string{"name_same", "required_on_already", "required_off_already", "role_same", "team_same",
	"zone_shared_already", "record_kept", "factor_gone", "session_gone", "team_gone", "ssh_key_gone", "webhook_gone", "already_member", "nothing_locked", "nothing_signed_in", "email_same", "already_suspended",
	"already_unsuspended", "ssh_key_confirmed", "ssh_key_unknown", "enrol_gone", "enrol_ended", "enrol_elsewhere",
	"logout_stale", "signin", "expired_session", "expired", "welcome", "recovery_used", "paper_key_used",
	"sms_recovery_used", "email_recovery_used", "ssh_key_used", "elevated"}

// TestNoticesSayWhetherDone checks that each of the pages' notices is in
// one of doneNotices and otherNotices: a notice added to the pages is
// judged by the form targets once it is put in one.
func TestNoticesSayWhetherDone(t *testing.T) {
	keys := web.NoticeKeys()
	for _, m := range keys {
		if slices.Contains(doneNotices, m) == slices.Contains(otherNotices, m) {
			t.Errorf("notice %q: in doneNotices %v, in otherNotices %v; want it in one", m, slices.Contains(doneNotices, m), slices.Contains(otherNotices, m))
		}
	}
	for _, m := range slices.Concat(doneNotices, otherNotices) {
		if !slices.Contains(keys, m) {
			t.Errorf("%q is no notice of the pages", m)
		}
	}
}

// refusedDiff is what a refused form changed in the database but the
// elevation its own "confirm it's you" fields made: alice's browser not
// elevated may be, with a code of her app not used before, under a new
// cookie (her account is then made anew for the next form, with a browser
// not elevated).
func (hs *formHolders) refusedDiff(t *testing.T, p posted) string {
	t.Helper()
	d := p.before.Diff(hs.snaps.Take(t))
	if p.wasElevated || !hs.elevated(t, p.c) {
		return d
	}
	if p.caller != 1 || !p.h.app.Spend(p.now, p.sent.Get("elevate_code")) {
		t.Fatalf("%q by %d: the session was elevated without a code of alice's app", p.form, p.caller)
	}
	if sessionCookie(t, p.c) == p.cookie || signsIn(hs.ts, p.cookie) {
		t.Fatalf("%q by %d: the session was elevated under the cookie it had", p.form, p.caller)
	}
	var rest []string
	for _, l := range strings.Split(d, "\n") {
		if !strings.HasPrefix(l, "- sessions:") && !strings.HasPrefix(l, "+ sessions:") &&
			!strings.HasPrefix(l, "- factors:") && !strings.HasPrefix(l, "+ factors:") && l != "" {
			rest = append(rest, l)
		}
	}
	p.h.id = ""
	return strings.Join(rest, "\n")
}

// servedSegments returns the segments of the path the mux serves u at
// (testenv.ServedPath), after prefix and unescaped, when they are as many
// as shape's and each that shape gives ("" for any but none) is its own:
// the request is then one to the form of that shape. Else it returns nil:
// a path cleaned to another form's route (through "..") is that form's,
// which another target judges.
func servedSegments(u *url.URL, prefix string, shape ...string) []string {
	rest, ok := strings.CutPrefix(testenv.ServedPath(u), prefix)
	if !ok {
		return nil
	}
	segments := strings.Split(rest, "/")
	if len(segments) != len(shape) {
		return nil
	}
	for i, s := range segments {
		v, err := url.PathUnescape(s)
		if err != nil || v == "" || shape[i] != "" && v != shape[i] {
			return nil
		}
		segments[i] = v
	}
	return segments
}
