package core

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/twofold/twofold"
)

// A form that makes something once sent (an API key, whose secret its
// answer shows once; an authenticator's setup) carries a one-time form
// token, so that sending it twice makes one thing, not two: a double
// click sends the form twice, and the browser shows the answer to the
// second sending only, the first one's dropped (README "Forms sent
// twice"). The token is made for one session and one purpose and works for
// FormTTL; its random part is kept only as a keyed hash, from its first
// sending on, with what that sending made.

// FormStore records the sendings of forms with one-time tokens.
type FormStore interface {
	// ClaimForm records the first sending of the form hash, reporting
	// false, writing nothing, when it was sent before.
	ClaimForm(ctx context.Context, hash []byte, sessionID, purpose string, now, expires time.Time) (bool, error)
	// FormMade returns what the first sending of the form made ("" while
	// it is at work); ok is false when none is recorded.
	FormMade(ctx context.Context, hash []byte, sessionID, purpose string) (made string, ok bool, err error)
	// FormSent returns the purpose of the form hash whose first sending
	// is recorded, and what it made; ok is false when none is recorded.
	FormSent(ctx context.Context, hash []byte, sessionID string) (purpose, made string, ok bool, err error)
	// SetFormMade records what the first sending made.
	SetFormMade(ctx context.Context, hash []byte, sessionID, made string) error
	// ReleaseForm forgets a sending at work that made nothing.
	ReleaseForm(ctx context.Context, hash []byte, sessionID string) error
}

// FormTTL is how long a form token works: a form left open longer is sent
// back to be checked and sent again.
const FormTTL = time.Hour

// formWaits and formPoll bound how long a second sending of a form waits
// for the first one, still at work, to tell what it made: a double click
// sends the second while the first runs.
const (
	formWaits = 50
	formPoll  = 100 * time.Millisecond
)

// NewFormToken returns a one-time token for a form of purpose (a short
// name, such as "api-key") shown to the caller's session: a random part,
// the time it stops working and a keyed hash binding both to the session
// and the purpose. Nothing is stored until the form is sent (TakeForm).
func (s *Service) NewFormToken(a Auth, purpose string) (string, error) {
	if err := person(a); err != nil {
		return "", err
	}
	nonce, err := s.randomString(16)
	if err != nil {
		return "", err
	}
	exp := strconv.FormatInt(s.Now().Add(FormTTL).Unix(), 10)
	return nonce + "." + exp + "." + s.formMAC(a.Session.ID, purpose, nonce, exp), nil
}

// NewSameFormToken returns a one-time token for a form of purpose shown to
// the caller's session, as NewFormToken does, but with the same random
// part on every page that session is shown with the form: a keyed hash of
// the session and the purpose. For a form about one thing (purpose names
// it: removing an authenticator, joining a team by an invitation), the
// form sent from any of those pages (two tabs, a page loaded again) is the
// same form: after its first sending, a later one is told what it did
// (TakeForm) rather than being refused as about a thing gone.
func (s *Service) NewSameFormToken(a Auth, purpose string) (string, error) {
	if err := person(a); err != nil {
		return "", err
	}
	nonce := idEncoding.EncodeToString(s.hasher.Sum("form-nonce", a.Session.ID+"|"+purpose)[:16])
	exp := strconv.FormatInt(s.Now().Add(FormTTL).Unix(), 10)
	return nonce + "." + exp + "." + s.formMAC(a.Session.ID, purpose, nonce, exp), nil
}

func (s *Service) formMAC(sessionID, purpose, nonce, exp string) string {
	return base64.RawURLEncoding.EncodeToString(s.hasher.Sum("form-token", sessionID+"|"+purpose+"|"+nonce+"|"+exp))
}

// errFormStale refuses a form token that is malformed, of another
// session or form, or out of date.
func errFormStale() error {
	return twofold.Errorf(twofold.CodeInvalid, "this form was open for more than an hour, or in another sign-in: check it and send it again")
}

// formSent returns what the first sending of the form whose one-time token
// is token, of session sessionID, did: its purpose and what it made ("",
// when it had not finished after the wait TakeForm allows a second
// sending), with ok false when token is not a working token of that
// session's, or its form was not sent (or made nothing). For a request
// that opens no session, sent with the token from before the session's
// renewal (EndLostRenewal): only the browser the form was shown in holds
// its token.
func (s *Service) formSent(ctx context.Context, sessionID, token string) (purpose, made string, ok bool, err error) {
	parts := strings.Split(token, ".")
	if token == "" || len(token) > 200 || len(parts) != 3 {
		return "", "", false, nil
	}
	nonce, exp := parts[0], parts[1]
	unix, perr := strconv.ParseInt(exp, 10, 64)
	if perr != nil || !s.Now().Before(time.Unix(unix, 0)) {
		return "", "", false, nil
	}
	hash := s.hasher.Sum("form", nonce)
	for i := 0; ; i++ {
		purpose, made, ok, err = s.store.FormSent(ctx, hash, sessionID)
		if err != nil || !ok {
			return "", "", false, err
		}
		if subtle.ConstantTimeCompare([]byte(parts[2]), []byte(s.formMAC(sessionID, purpose, nonce, exp))) != 1 {
			return "", "", false, nil
		}
		if made != "" || i >= formWaits {
			return purpose, made, true, nil
		}
		t := time.NewTimer(formPoll) // the first sending is at work
		select {
		case <-ctx.Done():
			t.Stop()
			return "", "", false, ctx.Err()
		case <-t.C:
		}
	}
}

// FormUse is what TakeForm found of a form sent with a one-time token.
type FormUse struct {
	s         *Service
	hash      []byte
	sessionID string
	// Again reports whether the form was sent before: this sending must
	// make nothing. Made is the id of what the first sending made, or ""
	// when it had not finished (or was cut short) by the time this one
	// stopped waiting for it.
	Again   bool
	Made    string
	done    bool
	purpose string
}

// The purposes of the forms whose later sendings core answers itself
// (ConfirmSentAgain): the forms that confirm an authenticator or claim a
// hardware token, whose first sending may answer with the account's
// recovery codes and paper key.
const (
	FormConfirm = "confirm" // confirming a pending factor with a code from it
	FormClaim   = "claim"   // claiming a hardware token an operator imported
)

// TakeForm takes the one-time token of a form of purpose sent by the
// caller's session. On the form's first sending it returns a FormUse whose
// Again is false: the caller goes ahead and then tells what it made
// (Done). On a later sending Again is true and Made tells what the first
// one made, once it has (waiting a few seconds for a first sending still
// at work). A first sending that made nothing is forgotten, so that a
// second one goes ahead in its turn. A token that is not one of this
// session's for purpose, or out of date, is refused as invalid.
func (s *Service) TakeForm(ctx context.Context, a Auth, purpose, token string) (*FormUse, error) {
	if err := person(a); err != nil {
		return nil, err
	}
	parts := strings.Split(token, ".")
	if len(token) > 200 || len(parts) != 3 {
		return nil, errFormStale()
	}
	nonce, exp, mac := parts[0], parts[1], parts[2]
	if subtle.ConstantTimeCompare([]byte(mac), []byte(s.formMAC(a.Session.ID, purpose, nonce, exp))) != 1 {
		return nil, errFormStale()
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	now := s.Now()
	if err != nil || !now.Before(time.Unix(unix, 0)) {
		return nil, errFormStale()
	}
	u := &FormUse{s: s, hash: s.hasher.Sum("form", nonce), sessionID: a.Session.ID, purpose: purpose}
	for i := 0; ; i++ {
		first, err := s.store.ClaimForm(ctx, u.hash, u.sessionID, purpose, now, time.Unix(unix, 0))
		if err != nil {
			return nil, err
		}
		if first {
			return u, nil
		}
		made, ok, err := s.store.FormMade(ctx, u.hash, u.sessionID, purpose)
		if err != nil {
			return nil, err
		}
		if ok && made != "" || i >= formWaits {
			u.Again, u.Made = true, made
			return u, nil
		}
		if ok { // the first sending is at work
			t := time.NewTimer(formPoll)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
	}
}

// Done records made, the id of what the form's first sending made, so that
// a later sending of it tells of it; made "" says it made nothing, and the
// form may be sent again. It does nothing on a later sending, after the
// first call, or on a nil FormUse (a form sent without a token). It runs on
// when the caller has gone: what was made is made.
func (u *FormUse) Done(ctx context.Context, made string) {
	if u == nil || u.Again || u.done {
		return
	}
	u.done = true
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var err error
	if made == "" {
		err = u.s.store.ReleaseForm(ctx, u.hash, u.sessionID)
	} else {
		err = u.s.store.SetFormMade(ctx, u.hash, u.sessionID, made)
	}
	if err != nil {
		u.s.log.Error("form use not recorded", "err", err)
	}
}
