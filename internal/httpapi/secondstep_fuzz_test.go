package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/factor/sshkey"
	"github.com/twofold/twofold/internal/pushdevice"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzSecondStep sends any body to POST /v1/login/{id}/verify of a live
// login of alice, who has two authenticator apps (Phone and Tablet), a
// phone that gets codes by text message (Mobile, through a test gateway),
// her address as a factor that gets codes by mail (Mailbox, through a test
// SMTP server), a push device (Pocket, the real device client), a
// security key (Yubi, a software authenticator), recovery codes, a paper
// key and an SSH key, on a real server over HTTP.
// Whatever the body:
//
//   - the answer is never a server error, and every refusal is
//     problem+json of its status;
//   - a session (200) only for a body whose method and proof are one of
//     alice's that stands at that moment: a code of an app within a few
//     steps of now and after that app's last code used (of the app its
//     factor_id names, when it names one), the code last texted to Mobile
//     or mailed to Mailbox for this login, once, the secret of a push
//     sent for this login and approved on Pocket, once, Yubi's assertion
//     of the login's challenge, once, a recovery code not yet used, the
//     paper key, or the SSH key's signature of the login's challenge, each
//     as people type it (README "How two-factor behaves"); and the session
//     is alice's;
//   - a refused proof (401) counts exactly one failure on one of alice's
//     counters, and one more on a factor's own counter only when the body
//     names a factor; a refused push (whose secret is the caller's own) and
//     any other refusal count none;
//   - a refusal writes nothing else (testenv.Snapshot) but one check
//     taken from the code sent for the step by the method it names, and
//     the step's security key ceremony, which an answer one of alice's
//     keys signed uses up (one no key of hers signed uses up nothing); never
//     anything of another sign-in's; and it queues no mail;
//   - no proof sent (code, push secret, recovery code, paper key,
//     signature) comes back in the answer (but as part of a name the body
//     made up, which a 400 quotes: README "Using it"), and none goes to
//     the log, nor the session token made.
//
// In a body, @code@ and @prev@ stand for Phone's code of this step and of
// the one before, @wide@ for this step's in full-width digits with a
// no-break space, @last@ for Phone's code last used, @code2@ for Tablet's
// code of this step, @phone@ and @tablet@ for their ids, @recovery@ for a
// recovery code not used yet, @spent@ for the one used last, @paper@ for
// the paper key, @sig@ for the SSH key's signature of the login's
// challenge (the login asks for it first), @sms@ for the code texted to
// Mobile for it (asked for first, and again when it may be out of checks),
// @email@ for the code mailed to Mailbox alike, @elsewhere@ for a code
// mailed to Mailbox for another sign-in (which must never pass this one),
// @push@ for the secret of a push sent for the login and approved on
// Pocket (sent again when the step's last one went unused), @spentpush@
// for the secret of the push used last, @otherpush@ for one sent for
// another sign-in and approved (which must never pass this one),
// @assertion@ for Yubi's assertion (a JSON object) of the options the
// login's challenge answers, @otherassertion@ for one of another
// sign-in's options (which must never pass this one), and @mobile@,
// @mailbox@, @pocket@ and @yubi@ for their ids. When a send limit
// refuses a code or a push, the clock moves past the wait and the body
// goes to a new step.
//
// Every counter of alice is cleared before each body, so that locks never
// hide what a body does; her count of failed recovery codes and paper keys
// too, which mails her at the fifth after the answer (README "Guessing,
// throttling and lock-outs"), a mail the test could not tell from one the
// refusal queued. On SQLite; FuzzSecondStepPostgres is the same on
// PostgreSQL.
func FuzzSecondStep(f *testing.F) { secondStep(f, testenv.SQLiteDSN(f), atLogin) }

// FuzzSecondStepPostgres is FuzzSecondStep on PostgreSQL.
func FuzzSecondStepPostgres(f *testing.F) { secondStep(f, testenv.PostgresDSN(f), atLogin) }

// FuzzElevate is FuzzSecondStep's bodies sent to POST /v1/me/elevate
// ("confirm it's you") with a session of alice's instead: the same
// proofs stand, counted on the same counters, and a 200 elevates the
// session until ten minutes from now, the same session, with no new
// token; @sig@ signs the challenge of POST /v1/me/elevate/challenge, and
// @sms@, @email@, @push@ and @assertion@ are codes, pushes and
// assertions asked for by it.
func FuzzElevate(f *testing.F) { secondStep(f, testenv.SQLiteDSN(f), toElevate) }

// FuzzElevatePostgres is FuzzElevate on PostgreSQL.
func FuzzElevatePostgres(f *testing.F) { secondStep(f, testenv.PostgresDSN(f), toElevate) }

// FuzzPasswordReset is FuzzSecondStep's bodies sent to POST
// /v1/password-reset/complete with a link mailed to alice: @token@ stands
// for its token and @newpass@ for a new password, never her current one.
// Only the ways a reset takes (an app's code, a texted code, a recovery
// code, the paper key) pass, never a mailed code (@email@ is one mailed
// for another sign-in: the link came by mail too) nor a push nor a
// security key (@push@ and @assertion@ are for another sign-in), counted
// on the same
// counters; a 200 changes her password to the one sent (it signs in, the
// old one no longer does), ends her session from before and uses the
// link, and the next body goes with a new one; neither the token nor a
// password comes back or reaches the log.
func FuzzPasswordReset(f *testing.F) { secondStep(f, testenv.SQLiteDSN(f), toReset) }

// FuzzPasswordResetPostgres is FuzzPasswordReset on PostgreSQL.
func FuzzPasswordResetPostgres(f *testing.F) {
	secondStep(f, testenv.PostgresDSN(f), toReset)
}

// sentPush is a push sent to alice's device for a second-step fuzz
// target's step and approved there.
type sentPush struct {
	placeholder string // what stands for it in a body
	elsewhere   bool   // sent for another sign-in, not for the step
	secret      string // the approved push's secret; "" until asked for, or once used
	live        string // the secret of the push last sent for the step's login or session, unused
}

// stepKind is where secondStep sends its bodies.
type stepKind int

const (
	atLogin   stepKind = iota // a live login's second step
	toElevate                 // a session's elevation
	toReset                   // a mailed link's new password
)

// resetPasswords are what @newpass@ stands for in FuzzPasswordReset: the
// one that is not alice's password at the time, so that a reset always
// changes it.
var resetPasswords = [2]string{"tall horse battery staple", "quiet copper lantern river"}

func secondStep(f *testing.F, dsn string, kind stepKind) {
	var logs testenv.Buffer
	opts := []testenv.ServerOption{func(c *config.Config) { c.LoginRate = 0 }} // no per-address bucket: every body is answered
	g := testenv.NewSMSGateway(f)
	opts = append(opts, g.Option())
	mb := testenv.NewSMTPServer(f)
	opts = append(opts, mb.Option("Twofold <twofold@example.com>"))
	s := testenv.NewLoggedServer(f, dsn, testenv.CodeSafeLogger(&logs), opts...)
	addUser(f, s, "alice")
	c := login(f, s, "alice")
	phone := enrol(f, s, c, map[string]any{"type": "totp", "label": "Phone"})
	tablet := enrol(f, s, c, map[string]any{"type": "totp", "label": "Tablet"})
	mobile, _ := enrolPhone(f, c, g, phoneE164, phoneE164, "Mobile")
	seen := len(mb.Messages())
	r := c.Do(f, "POST", "/v1/me/factors", map[string]any{"type": "email", "label": "Mailbox"})
	if r.Status != 201 {
		f.Fatalf("enrol email: %d %s", r.Status, r.Body)
	}
	mailbox := r.JSON["factor"].(map[string]any)["id"].(string)
	if r := c.Do(f, "POST", "/v1/me/factors/"+mailbox+"/confirm", map[string]string{"code": mb.CodeAfter(f, seen)}); r.Status != 200 {
		f.Fatalf("confirm email: %d %s", r.Status, r.Body)
	}
	device, _ := enrolPush(f, s, c, "Pocket")
	yubi := testenv.NewSecurityKey(f, keyOrigin(f, s))
	r = c.Do(f, "POST", "/v1/me/factors", map[string]any{"type": "webauthn", "label": "Yubi"})
	if r.Status != 201 {
		f.Fatalf("enrol a security key: %d %s", r.Status, r.Body)
	}
	yubiID := r.JSON["factor"].(map[string]any)["id"].(string)
	if r := c.Do(f, "POST", "/v1/me/factors/"+yubiID+"/confirm", map[string]any{"credential": yubi.Create(f, options(f, r))}); r.Status != 200 {
		f.Fatalf("confirm the security key: %d %s", r.Status, r.Body)
	}
	kp := testenv.SSHKeygen(f, "ed25519", 0)
	registerSSHKey(f, c, kp)
	alice, err := s.Store.AccountByUsername(f.Context(), "alice")
	if err != nil {
		f.Fatal(err)
	}
	apps := []*testenv.App{testenv.NewApp(f, phone.id, phone.secret), testenv.NewApp(f, tablet.id, tablet.secret)}
	recovery := slices.Clone(phone.codes)
	if len(recovery) != 10 || phone.paperKey == "" {
		f.Fatalf("alice's first factor gave %d recovery codes and paper key %q", len(recovery), phone.paperKey)
	}
	snaps := testenv.OpenSnapshots(f, dsn)

	for _, body := range []string{
		`{"method":"totp","code":"@code@"}`,
		`{"method":"totp","code":"@prev@","factor_id":"@phone@"}`,
		`{"method":"totp","code":"@code2@","factor_id":"@phone@"}`,
		`{"method":"totp","code":"@code@","factor_id":"nope"}`,
		`{"method":"totp","code":" @wide@ "}`,
		`{"method":"totp","code":"@last@"}`,
		`{"method":"hotp","code":"@code@"}`,
		`{"method":"sms","code":"@code2@","factor_id":"@tablet@"}`,
		`{"method":"email","code":"@code@"}`,
		`{"method":"totp","code":"@email@"}`,
		`{"method":"email","code":"@code@","factor_id":"@mailbox@"}`,
		`{"method":"sms","code":"@email@"}`,
		`{"method":"email","code":" @email@ "}`,
		`{"method":"email","code":"@email@","factor_id":"@mailbox@"}`,
		`{"method":"email","code":"@elsewhere@"}`,
		`{"method":"sms","code":"@sms@","factor_id":"@tablet@"}`,
		`{"method":"sms","code":"@code@"}`,
		`{"method":"totp","code":"@sms@"}`,
		`{"method":"sms","code":" @sms@ "}`,
		`{"method":"sms","code":"@sms@","factor_id":"@mobile@"}`,
		// Four more texts in a few minutes: the send limits refuse the
		// sixth, at sign-in.
		`{"method":"sms","code":"@sms@"}`,
		`{"method":"sms","code":"@sms@ "}`,
		`{"method":"sms","code":" @sms@"}`,
		`{"method":"sms","code":"\t@sms@"}`,
		`{"method":"recovery_code","code":"@recovery@"}`,
		`{"method":"recovery_code","code":" 3. @recovery@\n"}`,
		`{"method":"recovery_code","code":"@spent@"}`,
		`{"method":"totp","code":"@recovery@"}`,
		`{"method":"paper_key","code":"@paper@"}`,
		`{"method":"recovery_code","code":"@paper@"}`,
		`{"method":"paper_key","code":"@recovery@"}`,
		`{"method":"ssh_key","signature":"@sig@"}`,
		`{"method":"ssh_key","signature":"-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"}`,
		`{"method":"push","push_secret":"@code@"}`,
		`{"method":"push","push_secret":"@push@"}`,
		`{"method":"push","push_secret":"@push@","factor_id":"@pocket@"}`,
		`{"method":"push","push_secret":"@push@","factor_id":"@phone@"}`,
		`{"method":"push","push_secret":" @push@"}`,
		`{"method":"push","push_secret":"@push@x"}`,
		`{"method":"push","push_secret":"@push@","code":"@code@"}`,
		`{"method":"push","push_secret":"@otherpush@"}`,
		`{"method":"push","push_secret":"@spentpush@"}`,
		`{"method":"totp","code":"@push@"}`,
		`{"method":"webauthn","credential":{"id":"x","rawId":"x","type":"public-key","response":{}}}`,
		`{"method":"webauthn","credential":@assertion@}`,
		`{"method":"webauthn","credential":@assertion@,"factor_id":"@yubi@"}`,
		`{"method":"webauthn","credential":@assertion@,"factor_id":"@phone@"}`,
		`{"method":"webauthn","credential":@otherassertion@}`,
		`{"method":"webauthn","credential":@assertion@,"code":"@code@"}`,
		`{"method":"totp","code":"@code@","credential":@assertion@}`,
		`{"method":"totp","code":"- -"}`,
		`{"method":"totp","code":"@code@","code":"@code@"}`,
		`{"method":"totp","code":"@code@","extra":1}`,
	} {
		if kind == toReset {
			body = strings.Replace(body, "{", `{"token":"@token@","password":"@newpass@",`, 1)
		}
		f.Add(body)
	}

	var loginID, sig, resetToken string
	codes := []*testenv.SentCode{
		{Placeholder: "@sms@", Method: "sms", FactorID: mobile},
		{Placeholder: "@email@", Method: "email", FactorID: mailbox, Elsewhere: kind == toReset},
		{Placeholder: "@elsewhere@", Method: "email", FactorID: mailbox, Elsewhere: true},
	}
	pushes := []*sentPush{
		{placeholder: "@push@", elsewhere: kind == toReset},
		{placeholder: "@otherpush@", elsewhere: true},
	}
	assertions := []*testenv.SentAssertion{
		{Placeholder: "@assertion@", Elsewhere: kind == toReset},
		{Placeholder: "@otherassertion@", Elsewhere: true},
	}
	pass := password // alice's password
	newPass := resetPasswords[0]
	spent := "none yet"     // the recovery code used last
	spentPush := "none yet" // the secret of the push used last
	used := true            // the last body passed: the next needs a new step
	session, sessionMade := c, s.Clock.Now()
	// newStep starts what the next body goes to: a new login, link or
	// (when the one it has grows old) session, a step later.
	newStep := func(t *testing.T) {
		s.Clock.Add(30 * time.Second) // a new step: the last one may be spent
		sig = ""
		// What was sent for another sign-in is kept: it must never pass
		// any step, and asking for it again would spend a send the step
		// may need.
		for _, sc := range codes {
			if !sc.Elsewhere {
				sc.Code = ""
			}
		}
		for _, p := range pushes {
			if !p.elsewhere {
				p.secret = ""
			}
		}
		for _, a := range assertions {
			if !a.Elsewhere {
				a.Credential = nil
			}
		}
		switch {
		case kind == atLogin:
			loginID, _ = startLogin(t, s, "alice")
			for _, sc := range codes {
				sc.Secret, sc.Live = "", false
			}
			for _, p := range pushes {
				p.live = ""
			}
		case kind == toReset:
			s.Clock.Add(15 * time.Minute) // past the account's and the address's pace of links
			resetToken = mailedReset(t, s, mb, resetToken)
			for _, sc := range codes {
				sc.Live = false
			}
		case s.Clock.Now().Sub(sessionMade) > 11*time.Hour:
			session, sessionMade = signIn(t, s, apps[0], pass), s.Clock.Now()
			for _, sc := range codes {
				sc.Secret, sc.Live = "", false
			}
			for _, p := range pushes {
				p.live = ""
			}
		}
		// What lapsed as the clock moved goes now, not in the server's
		// next sweep while a body is judged.
		if err := s.Service.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// proofsSent asks for the codes and pushes body's placeholders stand
	// for and have none, and reports whether they all have one now: after
	// a send limit refused one, the clock has moved past it and the step
	// is new, and they are asked for again.
	proofsSent := func(t *testing.T, body string) bool {
		// throttled moves the clock past a send limit's refusal r, if it
		// is one, and starts a new step. Twice the wait: a step may need
		// two codes whose sends share a bucket (the account's), and the
		// wait is for one.
		throttled := func(r testenv.Response) bool {
			wait, err := strconv.Atoi(r.Header.Get("Retry-After"))
			if r.Status != http.StatusTooManyRequests || err != nil {
				return false
			}
			s.Clock.Add(2 * time.Duration(wait) * time.Second)
			newStep(t)
			return true
		}
		// elsewhere starts another sign-in of alice and returns the path
		// to ask for its code or push.
		elsewhere := func() string {
			r := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "alice", "password": pass})
			if r.Status != 200 || r.String("login_id") == "" {
				t.Fatalf("a sign-in to send a code or push for: %d %s", r.Status, r.Body)
			}
			return "/v1/login/" + r.String("login_id") + "/challenge"
		}
		for _, sc := range codes {
			if !strings.Contains(body, sc.Placeholder) || sc.Code != "" && sc.Checks < 4 {
				continue
			}
			path, asker := "/v1/login/"+loginID+"/challenge", testenv.NewClient(s.URL())
			ask := map[string]string{"method": sc.Method, "factor_id": sc.FactorID}
			switch {
			case sc.Elsewhere:
				path = elsewhere()
			case kind == toElevate:
				path, asker = "/v1/me/elevate/challenge", session
			case kind == toReset:
				path, ask["token"] = "/v1/password-reset/challenge", resetToken
			}
			if sc.Secret != "" {
				ask["code_secret"] = sc.Secret
			}
			seen := len(mb.Messages())
			r := asker.Do(t, "POST", path, ask)
			if throttled(r) {
				return false
			}
			if r.Status != http.StatusAccepted {
				t.Fatalf("%s challenge: %d %s", sc.Method, r.Status, r.Body)
			}
			if secret := r.String("code_secret"); secret != "" && kind != toReset && !sc.Elsewhere {
				sc.Secret = secret
			}
			sc.Live = !sc.Elsewhere
			if sc.Checks = 0; sc.Method == "sms" {
				sc.Code = g.LastCode(t, phoneE164)
			} else {
				sc.Code = mb.CodeAfter(t, seen)
			}
		}
		for _, p := range pushes {
			if !strings.Contains(body, p.placeholder) || p.secret != "" {
				continue
			}
			path, asker := "/v1/login/"+loginID+"/challenge", testenv.NewClient(s.URL())
			ask := map[string]string{"method": "push"}
			switch {
			case p.elsewhere:
				path = elsewhere()
			case kind == toElevate:
				path, asker = "/v1/me/elevate/challenge", session
			}
			if p.live != "" {
				ask["push_secret"] = p.live // sent again: it replaces the one unused
			}
			r := asker.Do(t, "POST", path, ask)
			if throttled(r) {
				return false
			}
			if r.Status != http.StatusAccepted || r.String("push_secret") == "" {
				t.Fatalf("push challenge: %d %s", r.Status, r.Body)
			}
			waiting, err := device.Challenges(t.Context(), 0)
			i := slices.IndexFunc(waiting, func(c pushdevice.Challenge) bool { return c.ID == r.String("challenge_id") })
			if err != nil || i < 0 {
				t.Fatalf("Pocket sees %+v (%v), not the push sent: %s", waiting, err, r.Body)
			}
			if st, err := device.Approve(t.Context(), waiting[i].ID, r.String("number")); err != nil || st != "approved" {
				t.Fatalf("Pocket's approval: %q, %v", st, err)
			}
			p.secret = r.String("push_secret")
			if !p.elsewhere {
				p.live = p.secret
			}
		}
		for _, a := range assertions {
			if !strings.Contains(body, a.Placeholder) || a.Credential != nil {
				continue
			}
			path, asker := "/v1/login/"+loginID+"/challenge", testenv.NewClient(s.URL())
			switch {
			case a.Elsewhere:
				path = elsewhere()
			case kind == toElevate:
				path, asker = "/v1/me/elevate/challenge", session
			}
			r := asker.Do(t, "POST", path, map[string]string{"method": "webauthn"})
			if r.Status != http.StatusOK {
				t.Fatalf("security key challenge: %d %s", r.Status, r.Body)
			}
			a.Answer(t, yubi, options(t, r))
		}
		return true
	}
	f.Fuzz(func(t *testing.T, body string) {
		ctx := context.Background()
		if used {
			newStep(t)
			used = false
		}
		// A code texted to Mobile or mailed to Mailbox, asked for as the
		// step's endpoint does, anew when the one sent may be out of
		// checks, and a push approved on Pocket; when a send limit
		// refuses, a new step once it allows one again. @elsewhere@ is a
		// code mailed for another sign-in, @otherpush@ a push sent for
		// one, and so are @email@ and @push@ for a reset, which takes
		// neither.
		for !proofsSent(t, body) {
		}
		if strings.Contains(body, "@sig@") && sig == "" && kind != toReset {
			path := "/v1/login/" + loginID + "/challenge"
			asker := testenv.NewClient(s.URL())
			if kind == toElevate {
				path, asker = "/v1/me/elevate/challenge", session
			}
			r := asker.Do(t, "POST", path, map[string]string{"method": "ssh_key"})
			if r.Status != 200 {
				t.Fatalf("ssh challenge: %d %s", r.Status, r.Body)
			}
			sig = testenv.SSHSign(t, kp.File, sshkey.Namespace, r.String("challenge"))
		}
		now := s.Clock.Now()
		for _, sc := range codes {
			body = strings.ReplaceAll(body, sc.Placeholder, sc.Code)
		}
		for _, p := range pushes {
			body = strings.ReplaceAll(body, p.placeholder, p.secret)
		}
		for _, a := range assertions {
			body = strings.ReplaceAll(body, a.Placeholder, string(a.Credential))
		}
		body = strings.NewReplacer(
			"@code@", apps[0].Code(now, 0), "@prev@", apps[0].Code(now, -1), "@code2@", apps[1].Code(now, 0),
			"@wide@", testenv.Wide(apps[0].Code(now, 0)), "@last@", apps[0].LastCode(),
			"@phone@", phone.id, "@tablet@", tablet.id, "@recovery@", recovery[0], "@spent@", spent, "@paper@", phone.paperKey,
			"@sig@", strings.ReplaceAll(sig, "\n", `\n`), "@token@", resetToken, "@newpass@", newPass,
			"@mobile@", mobile, "@mailbox@", mailbox, "@pocket@", device.State.DeviceID, "@spentpush@", spentPush, "@yubi@", yubiID).Replace(body)

		for _, prefix := range []string{"2fa:" + alice.ID + ":", "recovery-failures:" + alice.ID} {
			if _, err := s.Store.ResetThrottlePrefix(ctx, prefix); err != nil {
				t.Fatal(err)
			}
		}
		before := snaps.Take(t)
		logged := len(logs.String())
		h := http.Header{"Content-Type": {"application/json"}}
		url := s.URL() + "/v1/login/" + loginID + "/verify"
		switch kind {
		case toElevate:
			url = s.URL() + "/v1/me/elevate"
			h.Set("Authorization", "Bearer "+session.Token)
		case toReset:
			url = s.URL() + "/v1/password-reset/complete"
		}
		r := testenv.Send(t, nil, testenv.NewRequest(t, "POST", url, body, h))
		newLog := logs.String()[logged:]
		used = r.Status == 200 // a login is spent; a challenge too

		var sent struct {
			Method     string          `json:"method"`
			Code       string          `json:"code"`
			FactorID   string          `json:"factor_id"`
			Signature  string          `json:"signature"`
			PushSecret string          `json:"push_secret"`
			Credential json.RawMessage `json:"credential"`
			Password   string          `json:"password"`
		}
		decodeErr := json.Unmarshal([]byte(body), &sent)

		// What the body could reveal: every proof of alice's it may hold.
		secrets := []string{phone.paperKey}
		if kind == toReset {
			secrets = append(secrets, resetToken, newPass, pass)
		}
		secrets = append(secrets, recovery...)
		if spentPush != "none yet" {
			secrets = append(secrets, spentPush)
		}
		for _, sc := range codes {
			if sc.Code != "" {
				secrets = append(secrets, sc.Code)
			}
		}
		for _, p := range pushes {
			if p.secret != "" {
				secrets = append(secrets, p.secret)
			}
		}
		for _, a := range apps {
			for d := int64(-testenv.TypedWindow); d <= testenv.TypedWindow; d++ {
				secrets = append(secrets, a.Code(now, d))
			}
		}
		for _, line := range strings.Split(sig, "\n") {
			if !strings.HasPrefix(line, "-----") {
				secrets = append(secrets, line) // the body holds each line of the signature as it is
			}
		}
		names, values := partsOf(body)
		for _, sc := range secrets {
			holds := func(v string) bool { return strings.Contains(v, sc) }
			asValue := sc != "" && slices.ContainsFunc(values, holds)
			if asValue && !slices.ContainsFunc(names, holds) && testenv.HoldsWord(string(r.Body), sc) {
				t.Fatalf("%s: the answer (%d) holds a proof sent: %s", body, r.Status, r.Body)
			}
			if (asValue || sc != "" && strings.Contains(body, sc)) && testenv.HoldsWord(newLog, sc) {
				t.Fatalf("%s: the log holds a proof sent:\n%s", body, newLog)
			}
		}
		me := session
		if r.Status == 200 && kind == atLogin {
			me = testenv.NewClient(s.URL())
			if me.Token = r.String("token"); me.Token == "" || strings.Contains(newLog, me.Token) {
				t.Fatalf("%s: 200 without a token, or the token logged: %s\n%s", body, r.Body, newLog)
			}
		}
		if r.Status == 200 && kind == toElevate {
			until, err := time.Parse(time.RFC3339Nano, r.String("elevated_until"))
			if err != nil || !until.Equal(now.Add(core.DefaultConfig().ElevationTTL)) || r.JSON["token"] != nil {
				t.Fatalf("%s: elevated, but the answer says %s", body, r.Body)
			}
			if got := elevatedUntil(t, session); !got.Equal(until) {
				t.Fatalf("%s: elevated until %s, but the session says %s", body, until, got)
			}
		}

		switch r.Status {
		case 200:
			if decodeErr != nil {
				t.Fatalf("%s: passed a body that is no JSON object: %s", body, r.Body)
			}
			switch sent.Method {
			case "totp":
				ok := false
				for _, a := range apps {
					if (sent.FactorID == "" || sent.FactorID == a.ID) && a.Spend(now, sent.Code) {
						ok = true
						break
					}
				}
				if !ok {
					t.Fatalf("%s: passed without a standing code of the app named", body)
				}
			case "recovery_code":
				i := slices.IndexFunc(recovery, func(k string) bool { return testenv.TypedKey(sent.Code, k) })
				if i < 0 {
					t.Fatalf("%s: passed without a recovery code not used yet", body)
				}
				spent = recovery[i]
				recovery = slices.Delete(recovery, i, i+1)
				if left := r.JSON["recovery_codes_remaining"]; kind != toReset && left != float64(len(recovery)) {
					t.Fatalf("%s: %v recovery codes left, want %d", body, left, len(recovery))
				}
			case "paper_key":
				if !testenv.TypedKey(sent.Code, phone.paperKey) {
					t.Fatalf("%s: passed without the paper key", body)
				}
			case "ssh_key":
				got, made := testenv.SignatureBytes(sent.Signature), testenv.SignatureBytes(sig)
				if got == nil || !bytes.Equal(got, made) {
					t.Fatalf("%s: passed without the signature of the login's challenge", body)
				}
			case "sms", "email":
				i := slices.IndexFunc(codes, func(sc *testenv.SentCode) bool { return sc.Method == sent.Method && !sc.Elsewhere })
				if i < 0 {
					t.Fatalf("%s: a reset passed by a mailed code", body)
				}
				if sc := codes[i]; !sc.Carried(sent.Code, sent.FactorID) {
					t.Fatalf("%s: passed without the code last sent for this step (%q)", body, sc.Code)
				}
				codes[i].Code, codes[i].Live = "", false
			case "push":
				i := slices.IndexFunc(pushes, func(p *sentPush) bool { return !p.elsewhere })
				if i < 0 {
					t.Fatalf("%s: a reset passed by a push", body)
				}
				if p := pushes[i]; p.secret == "" || sent.PushSecret != p.secret || sent.FactorID != "" && sent.FactorID != device.State.DeviceID {
					t.Fatalf("%s: passed without the secret of the push approved for this step", body)
				}
				spentPush = pushes[i].secret
				pushes[i].secret, pushes[i].live = "", ""
			case "webauthn":
				i := slices.IndexFunc(assertions, func(a *testenv.SentAssertion) bool { return !a.Elsewhere })
				if i < 0 {
					t.Fatalf("%s: a reset passed by a security key", body)
				}
				a := assertions[i]
				if !a.Carried(sent.Credential) || sent.FactorID != "" && sent.FactorID != yubiID {
					t.Fatalf("%s: passed without Yubi's assertion of the step's challenge", body)
				}
				a.Credential = nil
			default:
				t.Fatalf("%s: passed by method %q, which alice has no factor of", body, sent.Method)
			}
			if kind == toReset {
				if r.String("status") != "password_changed" {
					t.Fatalf("%s: 200 %s", body, r.Body)
				}
				// The old password no longer signs in, and the reset
				// signed alice out everywhere.
				if r := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "alice", "password": pass}); r.Status != 401 {
					t.Fatalf("%s: after the reset, the old password: %d %s", body, r.Status, r.Body)
				}
				if r := session.Do(t, "GET", "/v1/me", nil); r.Status != 401 {
					t.Fatalf("%s: after the reset, a session from before it: %d %s", body, r.Status, r.Body)
				}
				pass = sent.Password
				newPass = resetPasswords[0]
				if pass == newPass {
					newPass = resetPasswords[1]
				}
				me = signIn(t, s, apps[0], pass) // with the new password
				session = me
			}
			if m := me.Do(t, "GET", "/v1/me", nil); m.Status != 200 || !strings.Contains(string(m.Body), `"alice"`) {
				t.Fatalf("%s: the session made is not alice's: %d %s", body, m.Status, m.Body)
			}
			if len(recovery) < 4 {
				n := me.Do(t, "POST", "/v1/me/recovery-codes", nil)
				codes, _ := n.JSON["codes"].([]any)
				if n.Status != 200 || len(codes) != 10 {
					t.Fatalf("new recovery codes: %d %s", n.Status, n.Body)
				}
				recovery = recovery[:0]
				for _, k := range codes {
					recovery = append(recovery, k.(string))
				}
			}
			return
		case 400, 401, 413:
		case 410: // a link that is not alice's, or lapsed
			if kind != toReset {
				t.Fatalf("%s: %d %s", body, r.Status, r.Body)
			}
		default:
			t.Fatalf("%s: %d %s", body, r.Status, r.Body)
		}

		if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" || r.JSON["status"] != float64(r.Status) {
			t.Fatalf("%s: %d answered as %q: %s", body, r.Status, ct, r.Body)
		}
		if r.Status == 401 && r.Problem() != "invalid-code" {
			t.Fatalf("%s: 401 of type %q", body, r.Problem())
		}
		// A push's secret is the caller's own, no guess at alice's: a wrong
		// one counts nothing (README "Push approval").
		wantCounted := 1
		if decodeErr == nil && sent.Method == "push" {
			wantCounted = 0
		}
		own, factors, counted := testenv.CountedFailures(t, s, alice.ID)
		switch {
		case r.Status != 401 && own+factors > 0:
			t.Fatalf("%s: refused %d, yet counted: %v", body, r.Status, counted)
		case r.Status == 401 && own != wantCounted:
			t.Fatalf("%s: a refused proof counted on %d of alice's counters, want %d: %v", body, own, wantCounted, counted)
		case r.Status == 401 && factors > 0 && (factors > 1 || decodeErr != nil || sent.FactorID == ""):
			t.Fatalf("%s: a refused proof counted on %d factors' counters: %v", body, factors, counted)
		}
		d := before.Diff(snaps.Take(t))
		for _, sc := range codes {
			if decodeErr == nil {
				// A code sent for the step and checked loses one of its
				// checks, and nothing else: that is written whatever the
				// answer. (One sent elsewhere, or for an earlier login or
				// link, is not checked.)
				d = sc.Refused(d, sent.Method)
			}
		}
		for _, a := range assertions {
			if decodeErr == nil && sent.Method == "webauthn" && !a.Elsewhere {
				// An answer one of alice's keys signed, right or
				// wrong after that, uses the step's ceremony up: its
				// row may go, and the next body asks anew.
				// Another sign-in's is never taken.
				d = a.WithoutCeremony(d)
			}
		}
		if d != "" {
			t.Fatalf("%s: refused (%d %s), but the database changed:\n%s", body, r.Status, r.Body, d)
		}
	})
}

// signIn signs alice in with her password pass and a's code of now, the
// next step that a has not used, and returns her session.
func signIn(t *testing.T, s *testenv.Server, a *testenv.App, pass string) *testenv.Client {
	t.Helper()
	r := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "alice", "password": pass})
	if r.Status != 200 || r.String("status") != "second_factor_required" {
		t.Fatalf("sign-in: got %d %s, want second_factor_required", r.Status, r.Body)
	}
	loginID := r.String("login_id")
	for !a.Spend(s.Clock.Now(), a.Code(s.Clock.Now(), 0)) {
		s.Clock.Add(30 * time.Second)
	}
	r = verify(t, s, loginID, map[string]string{"method": "totp", "code": a.Code(s.Clock.Now(), 0), "factor_id": a.ID})
	if r.Status != 200 {
		t.Fatalf("sign-in: %d %s", r.Status, r.Body)
	}
	me := testenv.NewClient(s.URL())
	me.Token = r.String("token")
	return me
}

// mailedReset asks for a link to reset alice's password and returns its
// token, once it is mailed: the first link in a mail that came after the
// one with the token last (the mails of a reset done come between).
func mailedReset(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer, last string) string {
	t.Helper()
	seen := len(mb.Messages())
	if r := askReset(t, s, "alice"); r.Status != 202 {
		t.Fatalf("asking for a reset: %d %s", r.Status, r.Body)
	}
	link := regexp.MustCompile(regexp.QuoteMeta(s.BrowserURL()) + `/password-reset/([a-z2-7]+\.[a-z2-7]+)\b`)
	for n := seen + 1; ; n++ {
		for _, m := range mb.Wait(t, n, time.Minute)[seen:] {
			if _, text := mailText(t, m); link.MatchString(text) {
				if token := link.FindStringSubmatch(text)[1]; token != last {
					return token
				}
			}
		}
	}
}

// elevatedUntil returns until when c's session is elevated, as the
// list of alice's sessions says (the zero time for not at all).
func elevatedUntil(t *testing.T, c *testenv.Client) time.Time {
	t.Helper()
	r := c.Do(t, "GET", "/v1/me/sessions", nil)
	list, _ := r.JSON["sessions"].([]any)
	for _, x := range list {
		if m, _ := x.(map[string]any); m["current"] == true {
			text, _ := m["elevated_until"].(string)
			until, _ := time.Parse(time.RFC3339Nano, text)
			return until
		}
	}
	t.Fatalf("no current session in %d %s", r.Status, r.Body)
	return time.Time{}
}

// partsOf returns the names and the string values of the JSON text body,
// decoded, as far as body reads as JSON.
func partsOf(body string) (names, values []string) {
	dec := json.NewDecoder(strings.NewReader(body))
	var objects []bool // the open containers, true for an object
	nameNext := false  // in an object, the next token is a name
	for {
		tok, err := dec.Token()
		if err != nil {
			return names, values
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				objects = append(objects, d == '{')
				nameNext = d == '{'
			} else {
				objects = objects[:len(objects)-1]
				nameNext = len(objects) > 0 && objects[len(objects)-1]
			}
			continue
		}
		v, _ := tok.(string)
		if nameNext {
			names = append(names, v)
			nameNext = false
			continue
		}
		if v != "" {
			values = append(values, v)
		}
		nameNext = len(objects) > 0 && objects[len(objects)-1]
	}
}
