package core

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twofold/twofold"
)

// The answer to the form that confirms an account's first authenticator
// (or claims a hardware token as its first) holds its recovery codes and
// paper key, once: the server keeps only their hashes. Sent twice, by a
// double click, the form confirms the authenticator once (a one-time form
// token, TakeForm), and the browser shows the answer to the second sending
// only, dropping the first's. The second answer cannot show the codes and
// key again. Recovery codes are made anew as ever (RegenerateRecoveryCodes,
// elevated). A paper key is made only with the first authenticator, so
// ConfirmSentAgain makes a new one in place of the dropped one, when that
// is as safe as the first: for the session whose form confirmed the
// authenticator (the form token is that session's, and records what its
// first sending made), within PaperKeyAgainWindow of the confirmation,
// while the key made then was never used (nobody is known to hold it), a
// few times at most. Else the key is gone, and the page says so.

// PaperKeyAgainWindow is how long after the confirmation of an account's
// first factor a later sending of the form that confirmed it may get a new
// paper key in place of the one in the answer the browser dropped.
const PaperKeyAgainWindow = 10 * time.Minute

// paperKeyAgainMax bounds the new paper keys made for one confirmation.
const paperKeyAgainMax = 3

// NoPaperKey says why a later sending of a confirming form got no new
// paper key, though the first one's answer held one.
type NoPaperKey string

// Why no new paper key was made.
const (
	// NoPaperKeyLate: PaperKeyAgainWindow has passed since the
	// confirmation.
	NoPaperKeyLate NoPaperKey = "late"
	// NoPaperKeyUsed: the paper key was used since it was made, so
	// someone holds it: it stays as it is.
	NoPaperKeyUsed NoPaperKey = "used"
	// NoPaperKeyOften: paperKeyAgainMax new keys were made already, or
	// another sending made one at the same moment.
	NoPaperKeyOften NoPaperKey = "often"
	// NoPaperKeySentAgain: the request for a new paper key was sent
	// again (a reload): the one its first sending made stays.
	NoPaperKeySentAgain NoPaperKey = "sent-again"
)

// ConfirmAgain is what a later sending of a form that confirmed a factor
// finds (ConfirmSentAgain).
type ConfirmAgain struct {
	// Factor is the factor the first sending confirmed, without its
	// secret.
	Factor twofold.Factor
	// First reports whether it was the account's first factor, whose
	// confirmation was answered with recovery codes and a paper key.
	First bool
	// PaperKey is, when First, a new paper key made in place of the one
	// in the first sending's answer, which stopped working; "" when none
	// was made, NoPaperKey saying why.
	PaperKey   string
	NoPaperKey NoPaperKey
	// Reissued counts the paper keys made in place of the first one since
	// the factor was confirmed (ConfirmFound, NewPaperKeyAgain).
	Reissued int
}

// firstMark follows the factor's id in what the first sending of a
// confirming form made (DoneConfirm) when its confirmation was the
// account's first, and so answered with recovery codes and a paper key.
const firstMark = "+first"

// DoneConfirm is Done for the first sending of a confirming form (purpose
// FormConfirm or FormClaim) whose confirmation c succeeded: it records c's
// factor, and whether c held the account's recovery codes and paper key,
// for ConfirmSentAgain.
func (u *FormUse) DoneConfirm(ctx context.Context, c Confirmation) {
	made := c.Factor.ID
	if c.PaperKey != "" {
		made += firstMark
	}
	u.Done(ctx, made)
}

// ConfirmSentAgain answers a later sending of a form that confirmed a
// factor (purpose FormConfirm or FormClaim) whose first sending made it
// active: u is what TakeForm found of it, for the caller's session. On the
// account's first factor, it makes a new paper key in place of the one in
// the first sending's answer when that is safe (see above): the old key
// stops working, in one conditional write, and the change is audited
// (paper_key.reissued) and mailed to the holder. It makes no recovery
// codes: RegenerateRecoveryCodes does, with its own rules. A factor
// removed since is not found. The pages make a new key only when asked
// (ConfirmFound, then NewPaperKeyAgain): a reload sends the form again
// too, and its first answer may well have been seen and saved.
func (s *Service) ConfirmSentAgain(ctx context.Context, a Auth, u *FormUse, m Meta) (ConfirmAgain, error) {
	return s.confirmAgain(ctx, a, u, m, true, -1)
}

// ConfirmFound is ConfirmSentAgain making no new paper key: the recovery
// codes and paper key of the first sending's answer stay as they are.
// Reissued tells how many paper keys were made since in place of the first
// one, for NewPaperKeyAgain.
func (s *Service) ConfirmFound(ctx context.Context, a Auth, u *FormUse) (ConfirmAgain, error) {
	return s.confirmAgain(ctx, a, u, Meta{}, false, -1)
}

// NewPaperKeyAgain is ConfirmSentAgain asked for by the holder, who did
// not save the paper key: seen is ConfirmAgain.Reissued of the page that
// offered it, so that the same request sent again (a reload) makes no
// other key, reporting NoPaperKeySentAgain.
func (s *Service) NewPaperKeyAgain(ctx context.Context, a Auth, u *FormUse, m Meta, seen int) (ConfirmAgain, error) {
	if seen < 0 {
		return ConfirmAgain{}, twofold.Errorf(twofold.CodeInvalid, "the count of paper keys made is out of range")
	}
	return s.confirmAgain(ctx, a, u, m, true, seen)
}

func (s *Service) confirmAgain(ctx context.Context, a Auth, u *FormUse, m Meta, reissue bool, seen int) (ConfirmAgain, error) {
	if err := person(a); err != nil {
		return ConfirmAgain{}, err
	}
	if u == nil || !u.Again || u.Made == "" || u.sessionID != a.Session.ID || u.purpose != FormConfirm && u.purpose != FormClaim {
		return ConfirmAgain{}, twofold.Errorf(twofold.CodeInvalid, "this is not a form sent again that confirmed an authenticator")
	}
	id, first := strings.CutSuffix(u.Made, firstMark)
	if !wellFormedID(id) {
		return ConfirmAgain{}, twofold.Errorf(twofold.CodeNotFound, "factor not found")
	}
	f, err := s.store.Factor(ctx, a.Account.ID, id)
	if err != nil {
		return ConfirmAgain{}, err
	}
	f.SecretKeyID, f.SealedSecret = "", nil
	if f.Status != twofold.FactorActive || f.ConfirmedAt == nil {
		return ConfirmAgain{}, twofold.Errorf(twofold.CodeNotFound, "factor not found")
	}
	out := ConfirmAgain{Factor: f, First: first}
	if !first {
		return out, nil
	}
	if !reissue {
		evs, err := s.store.QueryEvents(ctx, twofold.EventQuery{AccountID: a.Account.ID,
			Types: []string{"paper_key.reissued"}, Limit: paperKeyAgainMax + 1})
		if err != nil {
			return ConfirmAgain{}, err
		}
		for _, e := range evs {
			if !e.At.Before(*f.ConfirmedAt) {
				out.Reissued++
			}
		}
		return out, nil
	}
	now := s.Now()
	if !now.Before(f.ConfirmedAt.Add(PaperKeyAgainWindow)) {
		out.NoPaperKey = NoPaperKeyLate
		return out, nil
	}
	old, made, err := s.store.PaperKey(ctx, a.Account.ID)
	if err != nil {
		return ConfirmAgain{}, err
	}
	if old == nil || made.Before(*f.ConfirmedAt) {
		// Not the key made with the factor (nor made again here): the
		// factor's was voided meanwhile (all factors removed, and another
		// made first since).
		out.NoPaperKey = NoPaperKeyOften
		return out, nil
	}
	evs, err := s.store.QueryEvents(ctx, twofold.EventQuery{AccountID: a.Account.ID,
		Types: []string{"paper_key.used", "paper_key.reissued"}, Limit: paperKeyAgainMax + 1})
	if err != nil {
		return ConfirmAgain{}, err
	}
	again := 0
	for _, e := range evs {
		switch {
		case e.Type == "paper_key.used" && !e.At.Before(made):
			out.NoPaperKey = NoPaperKeyUsed
			return out, nil
		case e.Type == "paper_key.reissued" && !e.At.Before(*f.ConfirmedAt):
			again++
		}
	}
	out.Reissued = again
	if seen >= 0 && again != seen {
		out.NoPaperKey = NoPaperKeySentAgain
		return out, nil
	}
	if again >= paperKeyAgainMax {
		out.NoPaperKey = NoPaperKeyOften
		return out, nil
	}
	key, err := s.newPaperKey()
	if err != nil {
		return ConfirmAgain{}, err
	}
	// The key, its event and its notice in one transaction, which checks
	// first that the session still stands (WithCaller): a session signed
	// out meanwhile makes no way in.
	var ok bool
	err = s.inTx(ctx, func(ctx context.Context) error {
		var err error
		ok, err = s.store.ReplacePaperKey(ctx, a.Account.ID, f.ID, old, s.hasher.Sum("paper", normaliseKey(key)), now)
		if err != nil || !ok {
			return err
		}
		s.audit(ctx, a.Account.ID, "paper_key.reissued", m, fmt.Sprintf("in place of the one made with %s %s, asked for on the page of its form sent again", kindOf(f), f.ID))
		s.notify(ctx, a.Account.ID, "a new paper key was made",
			fmt.Sprintf("The form that set up %q was sent again, and a new paper key was asked for on its page: the paper key shown before no longer works, and a new one was shown in its place.", f.Label), origin(m))
		return nil
	})
	if err != nil {
		return ConfirmAgain{}, err
	}
	if !ok {
		// Another sending replaced it meanwhile, or the factor went: this
		// one's key would not work.
		out.NoPaperKey = NoPaperKeyOften
		return out, nil
	}
	out.PaperKey, out.Reissued = key, again+1
	return out, nil
}
