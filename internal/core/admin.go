package core

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/permit"
)

// The operator API (SPEC §3 "operators (users, resets, audit)"): what the
// operator's pages do, for a control panel that drives Twofold without
// them. Its caller is an operator's session, or an API key with admin
// permits (permit.Admin). A session may write only when elevated, with
// two-factor on the operator's own account, as the pages require. A key
// is never elevated: its admin write permit stands for that check, and
// what weakens another account's protection at once stays with sessions
// (see RequestTwoFactorReset and UnlockAccount).

// adminAllowed refuses a caller who may not take action on resource of
// the operator API: anyone but an operator, and a key without an admin
// permit for it. A permit for users covers their resets too: a key that
// may suspend or sign out an account may also ask for its reset. The account is read afresh with each request, so a key
// of an operator who is one no more grants nothing from then on.
func adminAllowed(a Auth, resource, action string) error {
	if !a.Account.Operator {
		if a.Key != nil && permit.Grants(a.Key.Permits, permit.Admin) {
			return errNoLongerOperator()
		}
		return twofold.Errorf(twofold.CodeForbidden, "only operators may do this")
	}
	if !a.Allows(permit.Admin, resource, action) && !(resource == "resets" && a.Allows(permit.Admin, "users", action)) {
		return twofold.Errorf(twofold.CodeForbidden, "this API key may not do this: it needs the permit %q", permit.Admin+" "+resource+" "+action)
	}
	return nil
}

// errNoLongerOperator refuses an API key with admin permits whose owner
// is no longer an operator.
func errNoLongerOperator() error {
	return twofold.Errorf(twofold.CodeForbidden, "the owner of this API key is no longer an operator: its admin permits grant nothing")
}

// requireAdminWrite refuses a caller who may not change resource through
// the operator API: a session needs requireOperatorElevation, a key an
// admin write permit.
func (s *Service) requireAdminWrite(ctx context.Context, op Auth, resource, what string) error {
	if op.Key == nil {
		return s.requireOperatorElevation(ctx, op, what)
	}
	return adminAllowed(op, resource, permit.Write)
}

// actor names the operator behind op, as audit details and a reset's
// RequestedBy do: "operator carol", with the API key when one was used.
func actor(op Auth) string {
	if op.Key != nil {
		return "operator " + op.Account.Username + " with API key " + quote(op.Key.Name) + " (" + op.Key.ID + ")"
	}
	return "operator " + op.Account.Username
}

// CreateAccountFor creates an account as CreateAccount does, for an
// operator: the same rules for the username, email address and password,
// audited on the new account with who made it. An operator account is
// not made this way, only by `twofold user add --operator` or at first-run
// setup: a key or session that can create accounts must not be able to
// create operators, who could then do everything.
func (s *Service) CreateAccountFor(ctx context.Context, op Auth, n NewAccount, m Meta) (twofold.Account, error) {
	m = m.by(op)
	if err := s.requireAdminWrite(ctx, op, "users", "creating an account"); err != nil {
		return twofold.Account{}, err
	}
	if n.Operator {
		return twofold.Account{}, twofold.Errorf(twofold.CodeForbidden, "operators are made with `twofold user add --operator` or at first-run setup, not through the API")
	}
	a, err := s.newAccount(n)
	if err != nil {
		return twofold.Account{}, err
	}
	err = s.inTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateAccount(ctx, a); err != nil {
			return err
		}
		s.auditOperator(ctx, a.ID, "account.created", m, true, "by "+actor(op), "by an operator")
		return nil
	})
	if err != nil {
		return twofold.Account{}, err
	}
	a.PasswordHash = ""
	return a, nil
}

// AuditEvents returns the audit events q selects, of every account or of
// account q.AccountID when it is not "", for an operator (SPEC §1 story
// 10: "the operator (all)"): newest first with ids below q.Before, or
// oldest first with ids above q.After (see checkEventQuery). Paging by
// the last id seen returns each event once, however many are added
// meanwhile, in either direction: so a control panel polls for what is
// new.
func (s *Service) AuditEvents(ctx context.Context, op Auth, q twofold.EventQuery) ([]twofold.AuditEvent, error) {
	if err := adminAllowed(op, "events", permit.Read); err != nil {
		return nil, err
	}
	if err := checkEventQuery(&q); err != nil {
		return nil, err
	}
	if len(q.AccountID) > 64 {
		return nil, nil // no id is longer
	}
	evs, err := s.store.QueryEvents(ctx, q)
	return shownEvents(evs), err
}

// SetOperatorByName makes the account named username an operator, or with
// on false no longer one (ChangeOperator), reporting false, recording
// nothing, when the account already was as asked.
func (s *Service) SetOperatorByName(ctx context.Context, username string, on bool, m Meta) (bool, error) {
	c, err := s.ChangeOperator(ctx, username, on, m)
	return c.Changed, err
}

// OperatorChange is what ChangeOperator did.
type OperatorChange struct {
	// Username is the account's username as stored, which the name it was
	// asked for by may differ from (accountNamed).
	Username string
	Changed  bool // false: the account already was as asked, and nothing was done
	// KeysRevoked names the account's API keys with admin permits revoked.
	KeysRevoked []string
	// WebhooksDisabled names the webhooks the account answered for
	// ("webhook ID to https://host"), disabled.
	WebhooksDisabled []string
}

// ChangeOperator makes the account named username an operator, or with on
// false no longer one, for whoever runs the command line. One no longer
// an operator loses, in the same transaction, its API keys with admin
// permits (revokeAdminKeys) and the webhooks it answers for, each
// disabled on the record (webhook.disabled, error class
// owner-not-operator) and logged at WARN: a webhook hands out the whole
// audit log. Making the account an operator again turns none of them back
// on; another operator does (POST /v1/admin/webhooks/{id}/enable).
func (s *Service) ChangeOperator(ctx context.Context, username string, on bool, m Meta) (OperatorChange, error) {
	var c OperatorChange
	a, err := s.accountNamed(ctx, username)
	if err != nil {
		return c, err
	}
	err = s.inTx(ctx, func(ctx context.Context) error {
		c = OperatorChange{Username: a.Username}
		if c.Changed, err = s.store.SetOperator(ctx, a.ID, on); err != nil || !c.Changed {
			return err
		}
		if on {
			s.audit(ctx, a.ID, "account.operator_granted", m, "by the command line")
			s.notifyEnd(ctx, a.ID, "your account was made an operator", footerOperator, "Your account may now manage every account of this server.")
			return nil
		}
		s.audit(ctx, a.ID, "account.operator_removed", m, "by the command line")
		if c.KeysRevoked, err = s.revokeAdminKeys(ctx, a.ID, m); err != nil {
			return err
		}
		hooks, err := s.store.DisableWebhooksBy(ctx, a.ID, s.Now(), twofold.WebhookDisabledNotOperator)
		if err != nil {
			return err
		}
		if err := s.openWebhookURLs(ctx, hooks); err != nil {
			return err
		}
		for _, w := range hooks {
			s.webhookOrphaned(ctx, w, twofold.WebhookDisabledNotOperator, m)
			c.WebhooksDisabled = append(c.WebhooksDisabled, webhookDetail(w))
		}
		body := "Your account may no longer manage other accounts."
		if len(c.KeysRevoked) > 0 {
			body += " Its API keys with admin permits were revoked, with the keys they made: " + strings.Join(c.KeysRevoked, ", ") + "."
		}
		if len(c.WebhooksDisabled) > 0 {
			body += " The webhooks it answered for were disabled: " + strings.Join(c.WebhooksDisabled, ", ") + "."
		}
		s.notifyEnd(ctx, a.ID, "your account is no longer an operator", footerOperator, body)
		return nil
	})
	if err != nil {
		return OperatorChange{}, err
	}
	return c, nil
}

// revokeAdminKeys deletes the account's API keys that have an admin
// permit, and with them the keys they made, returning their names. An
// operator no more keeps no key that would come back to life, unseen, were
// the account made an operator again.
func (s *Service) revokeAdminKeys(ctx context.Context, accountID string, m Meta) ([]string, error) {
	keys, err := s.store.APIKeys(ctx, accountID)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, k := range keys {
		// A key made by a key holds its maker's permits at most, so an
		// admin key made by a key goes with its maker.
		if !permit.Grants(k.Permits, permit.Admin) || k.ParentID != "" {
			continue
		}
		if _, err := s.store.DeleteAPIKey(ctx, accountID, k.ID); err != nil {
			return nil, err
		}
		s.audit(ctx, accountID, "api_key.revoked", m, revokedDetail(k, len(lineOf(keys, k.ID))-1)+": its owner is no longer an operator")
		names = append(names, quote(k.Name))
	}
	return names, nil
}

// keyUnlocks bounds how often API keys may unlock one account: unlocking
// lifts the cap on guesses at its second factor, and a key, unlike a
// session, has no fresh second factor behind it.
const (
	keyUnlocks     = 3
	keyUnlockEvery = 8 * time.Hour
)

// keyActions bounds how often one API key may sign one account out or
// revoke its keys: each mails the holder, and a leaked key must not be
// able to keep an account from ever finishing a sign-in. The bound is each
// key's own, so that a leaked key cannot use up the control panel's.
const (
	keyActions     = 5
	keyActionEvery = time.Hour
)

// keyMayTouch refuses an API key's action on account a when a is an
// operator's: a leaked key must not sign operators out, revoke their keys,
// unlock them for more guesses nor ask for their resets (an operator's
// elevated session may). A session passes.
func (s *Service) keyMayTouch(ctx context.Context, op Auth, a twofold.Account, what string, m Meta) error {
	if op.Key == nil || !a.Operator {
		return nil
	}
	s.keyRefused(ctx, op, a, what+": the account is an operator's", m)
	return twofold.Errorf(twofold.CodeForbidden, "an API key cannot do this to an operator's account (%s): an operator signed in with a fresh second factor can", what)
}

// keyMayActOn is keyMayTouch, and rations the actions on any one account
// of a key and the keys made from it (keyActions): a key that may make
// keys must not get round the bound by making new ones. Call it once the
// action's target is known to exist, so that a miss costs nothing.
func (s *Service) keyMayActOn(ctx context.Context, op Auth, a twofold.Account, what string, m Meta) error {
	if err := s.keyMayTouch(ctx, op, a, what, m); err != nil || op.Key == nil {
		return err
	}
	ok, err := s.store.TakeToken(ctx, "key-action:"+s.rootKey(ctx, *op.Key)+":"+a.ID, keyActions, keyActions/keyActionEvery.Seconds(), s.Now())
	if err != nil {
		return err
	}
	if !ok {
		s.keyRefused(ctx, op, a, what+": too many actions of the key on the account", m)
		return throttled(keyActionEvery/keyActions, fmt.Sprintf("an API key and the keys made from it may act on one account at most %d times an hour", keyActions))
	}
	return nil
}

// rootKey returns the ID of the key k was made from, through any number of
// keys made from keys: k's own when a person made it.
func (s *Service) rootKey(ctx context.Context, k twofold.APIKey) string {
	for range 32 {
		if k.ParentID == "" {
			break
		}
		parent, err := s.store.APIKey(ctx, k.ParentID)
		if err != nil {
			return k.ParentID // gone: so is k, once the revocation commits
		}
		k = parent
	}
	return k.ID
}

// keyRefused puts a key's refused action on a's record, so that operators
// see a key probing accounts, once an hour per key and account: refusals
// must not push the account's other events out of sight. It is the one
// event of the refusal: the request is noted as recorded
// (WatchKeyRefusals), so no api_key.refused is written for it too.
func (s *Service) keyRefused(ctx context.Context, op Auth, a twofold.Account, why string, m Meta) {
	noteKeyRefusal(ctx)
	const more = "; further refusals of this key on the account within the hour are not recorded)"
	e := s.operatorEvent(a.ID, "admin.key_refused", m, true, why+" (by "+actor(op)+more, why+" (by an operator's API key"+more)
	s.recordRationed(ctx, "key-refused:"+op.Key.ID+":"+a.ID, 1, time.Hour, e, m)
}

// SetSuspended suspends account accountID, or with on false lifts its
// suspension, for an operator, and returns the account as it is now and
// whether this call changed it (false when it already was so). A
// suspended account cannot sign in, every session of it ends at once
// (pending second steps included), and its API keys and their tokens stop
// working; lifting the suspension lets its holder sign in again and its
// keys work again, but brings no session back. Suspending also cancels a
// waiting reset of two-factor and voids a password-reset link. The holder
// is told either way. Neither the caller's own account nor an operator's is suspended: an
// operator stops being one first (`twofold user operator --remove`), so
// that no key or session can lock every operator out. Asking for what
// already holds changes and records nothing. An API key neither suspends
// nor lifts the suspension of an operator's account, and acts on one
// account within keyActions (keyMayActOn).
func (s *Service) SetSuspended(ctx context.Context, op Auth, accountID string, on bool, m Meta) (twofold.Account, bool, error) {
	m = m.by(op)
	what := "suspending an account"
	if !on {
		what = "lifting a suspension"
	}
	if err := s.requireAdminWrite(ctx, op, "users", what); err != nil {
		return twofold.Account{}, false, err
	}
	if accountID == op.Account.ID {
		return twofold.Account{}, false, twofold.Errorf(twofold.CodeForbidden, "you cannot suspend your own account")
	}
	a, err := s.store.AccountByID(ctx, accountID)
	if err != nil {
		return twofold.Account{}, false, err
	}
	// A key suspends customers only, and each suspension or lifting takes
	// from the bound it shares with signing out (keyMayActOn): each mails
	// the holder and a suspension ends every session, so a leaked key
	// suspending and lifting in a loop must not keep the holder out. Asking
	// for what already holds takes nothing from the bound.
	if a.Suspended == on {
		err = s.keyMayTouch(ctx, op, a, what, m)
	} else {
		err = s.keyMayActOn(ctx, op, a, what, m)
	}
	if err != nil {
		return twofold.Account{}, false, err
	}
	if a.Operator && on {
		return twofold.Account{}, false, errOperatorNotSuspended()
	}
	changed := false
	err = s.inTx(locksAccount(ctx, a.ID), func(ctx context.Context) error {
		var err error
		changed, err = s.store.SetSuspended(ctx, a.ID, on)
		if err != nil || !changed {
			return err
		}
		if on {
			// Read again once the update holds the row: an account made an
			// operator (from the command line) since the check above is
			// not suspended either.
			cur, err := s.store.AccountByID(ctx, a.ID)
			if err != nil {
				return err
			}
			if cur.Operator {
				return errOperatorNotSuspended()
			}
		}
		if !on {
			s.auditOperator(ctx, a.ID, "account.unsuspended", m, true, "by "+actor(op), "by an operator")
			s.notifyEnd(ctx, a.ID, "your account's suspension was lifted", footerOperator, "You can sign in again, and your API keys work again.")
			return nil
		}
		if _, err := s.store.EndSessions(ctx, a.ID); err != nil {
			return err
		}
		// A suspended holder cannot sign in to cancel a waiting reset of
		// two-factor, nor be the one who answers a password-reset link: a
		// suspension must not let a reset pass unopposed (a key that asks
		// for a reset and then suspends the holder until it is due).
		// The reset as it was, for the addresses an operator replaced that
		// were told of it: they hear of its end too (tellSuspendedReset).
		r, _, err := s.store.TwoFactorReset(ctx, a.ID)
		if err != nil {
			return err
		}
		cancelled, err := s.store.CancelTwoFactorReset(ctx, a.ID)
		if err != nil {
			return err
		}
		if err := s.store.DeletePasswordResets(ctx, a.ID); err != nil {
			return err
		}
		// Nor is a change of address waiting for its code left to be
		// confirmed meanwhile, by whoever got it started.
		if err := s.store.DeleteEmailChange(ctx, a.ID); err != nil {
			return err
		}
		// Nor are the invitations the account made: a suspension is the
		// answer to an account taken over, and whoever took it could have
		// invited an account of their own into its teams, to be accepted
		// once it is suspended.
		withdrawn, err := s.store.DeleteInvitationsBy(ctx, a.ID)
		if err != nil {
			return err
		}
		s.auditOperator(ctx, a.ID, "account.suspended", m, true, "by "+actor(op), "by an operator")
		lines := []string{"An operator suspended your account: you were signed out everywhere, and until the suspension is lifted you cannot sign in and your API keys do not work."}
		if withdrawn > 0 {
			n := int(withdrawn)
			lines = append(lines, fmt.Sprintf("%d %s you made to join a team %s withdrawn.", n, plural(n, "invitation", "invitations"), plural(n, "was", "were")))
		}
		if cancelled {
			const why = "the account was suspended, so its holder could not have cancelled it"
			s.auditOperator(ctx, a.ID, "two_factor.reset_cancelled", m, true, why, why)
			lines = append(lines, "The reset of your two-factor that was waiting is cancelled.")
		}
		s.warn(ctx, a.ID, "your account was suspended", footerSuspended, lines...)
		if cancelled {
			return s.tellSuspendedReset(ctx, a.ID, r)
		}
		return nil
	})
	if err != nil {
		return twofold.Account{}, false, err
	}
	a.Suspended, a.PasswordHash = on, ""
	return a, changed, nil
}

// tellSuspendedReset mails the addresses an operator replaced on the
// account that reset r was told to (see scheduleReset) that the suspension
// of the account cancelled it, as the holder's address is told, after the
// transaction commits. Whoever talked an operator into a new address would
// otherwise be the only one to hear of the reset's end, and could ask for
// another once the suspension is lifted.
func (s *Service) tellSuspendedReset(ctx context.Context, accountID string, r twofold.TwoFactorReset) error {
	if s.notifier == nil {
		return nil
	}
	a, err := s.store.AccountByID(ctx, accountID)
	if err != nil {
		return err
	}
	// r is zero only if the reset came between its read and its
	// cancellation: then every address still kept is told.
	asked, requested := r.RequestedAt, ""
	if asked.IsZero() {
		asked = s.Now()
	}
	if r.RequestedBy != "" {
		requested = " that " + publicName(r.RequestedBy) + " requested"
	}
	former, err := s.formerAddresses(ctx, a, asked.Add(-s.ReplacedEmailKeep()))
	if err != nil {
		return err
	}
	return s.tellFormer(ctx, a, former, false, "the reset of your two-factor was cancelled", formerFooterSuspended,
		"The reset of two-factor on your account"+requested+" was cancelled: an operator suspended the account, so its holder could not have cancelled the reset. Your authenticators, recovery codes and paper key stay as they are. Until the suspension is lifted, nobody can sign in to the account.")
}

// errSuspended is the answer to the holder of a suspended account who
// signs in with the right password.
func errSuspended() error {
	return twofold.Errorf(twofold.CodeForbidden, "this account is suspended: ask your operator")
}

func errOperatorNotSuspended() error {
	return twofold.Errorf(twofold.CodeForbidden, "an operator's account is not suspended: make it no longer an operator first (`twofold user operator USERNAME --remove`)")
}
