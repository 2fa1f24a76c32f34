package core

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twofold/twofold"
)

// Notices of guessing at the ways back in, and of push fatigue (SPEC §1
// story 10: security-relevant events reach the holder out of band).
//
// Failed recovery codes and paper keys are throttled per account and
// client address only (checkSecondFactor), so that a stranger can never
// lock the owner out of them; nor does anything here lock anything. But
// whoever fails at them repeatedly knows the password (or holds a session,
// or a reset link), and the holder must hear of it. So each such failure
// also counts on one counter of the account, shared by every address and
// instance, and at GuessNoticeAfter the holder is mailed, at most once
// every GuessNoticeEvery. The same for push requests that nobody
// approves: someone with the password who sends request after request,
// hoping the owner approves one by mistake.

// GuessNoticeAfter is how many failed recovery codes and paper keys
// (together, from any address, on any instance) make the account's holder
// be told; the count starts again after a day without one (the sweep of
// stale counters, StaleAfter).
const GuessNoticeAfter = 5

// GuessNoticeEvery bounds the notices of failed recovery codes and paper
// keys, and those of unapproved push requests: one of each kind per
// account in this time, so that whoever keeps guessing or sending cannot
// flood the holder's mailbox.
const GuessNoticeEvery = 24 * time.Hour

// PushFatigueLimit and PushFatigueWindow: push requests for
// PushFatigueLimit sign-ins or elevations within PushFatigueWindow that
// all went without an approval (denied, or unanswered until they expired
// or their login ended) make the account's holder be told, at most once
// every GuessNoticeEvery. Requests still waiting do not count: the
// owner's own, on the way to their phone, is no sign of anything.
const (
	PushFatigueLimit  = 5
	PushFatigueWindow = time.Hour
)

// Subjects of the two notices.
const (
	recoveryFailuresSubject = "failed attempts with recovery codes or your paper key"
	pushUnapprovedSubject   = "sign-in requests you did not approve"
)

// recoveryFailuresKey names the account's counter of failed recovery codes
// and paper keys from every address. It is apart from the "2fa:" counters:
// it locks nothing, is not an operator's lock to see or clear, and goes
// with the sweep after a quiet day.
func recoveryFailuresKey(accountID string) string { return "recovery-failures:" + accountID }

// noDelay is the delay of a counter that never locks.
func noDelay(int) time.Duration { return 0 }

// countRecoveryFailure counts a failed recovery code or paper key of the
// account, whose failure was just recorded (refuseCode), and from
// GuessNoticeAfter on tells the holder, at most once every
// GuessNoticeEvery. The answer to the attempt is the same whatever
// happens here: the count and the notice are not the guesser's to see,
// and the mail, with what it reads from the audit log, is made after the
// answer.
func (s *Service) countRecoveryFailure(ctx context.Context, accountID, purpose string, m Meta) {
	n, err := s.takeSlot(ctx, recoveryFailuresKey(accountID), noDelay)
	if err != nil {
		s.log.Error("recovery failure not counted", "err", err)
		return
	}
	if n < GuessNoticeAfter {
		return
	}
	ok, err := s.store.TakeToken(ctx, "notice-recovery-failures:"+accountID, 1, 1/GuessNoticeEvery.Seconds(), s.Now())
	if err != nil {
		s.log.Error("recovery failure notice bound unreadable", "err", err)
		return
	}
	if !ok {
		return
	}
	s.audit(ctx, accountID, "recovery.failures_reported", m, fmt.Sprintf("%d failed recovery codes or paper keys: the holder is told", n))
	run := func(context.Context) {
		s.later(func(ctx context.Context) {
			if err := s.tellRecoveryFailures(ctx, accountID, purpose, n); err != nil {
				s.log.Error("recovery failure notice not queued", "err", err)
			}
		})
	}
	if q, ok := ctx.Value(notesKey{}).(*[]func(context.Context)); ok {
		*q = append(*q, run) // once the failure is committed
		return
	}
	run(ctx)
}

// recoveryFailureTypes are the audit events of a failed second step, in
// which refuseCode records the method first ("recovery_code: …").
var recoveryFailureTypes = []string{"login.second_factor_failed", "session.elevation_failed", "password.reset_failed"}

// maxNoticeSources is how many client addresses a notice names.
const maxNoticeSources = 5

// tellRecoveryFailures mails the holder of accountID that n recovery codes
// or paper keys failed: from which addresses and when, as the audit log of
// the last GuessNoticeEvery says, and what to do. purpose is what the
// latest was typed for, which says what its sender had (warnOwner). The
// mail names no code.
func (s *Service) tellRecoveryFailures(ctx context.Context, accountID, purpose string, n int) error {
	ctx, cancel := context.WithTimeout(ctx, noticeTimeout)
	defer cancel()
	evs, err := s.store.QueryEvents(ctx, twofold.EventQuery{AccountID: accountID, Types: recoveryFailureTypes, Limit: 200})
	if err != nil {
		return err
	}
	since := s.Now().Add(-GuessNoticeEvery)
	type seen struct {
		n           int
		first, last time.Time
	}
	by := map[string]*seen{}
	var order []string
	for _, e := range evs {
		if e.At.Before(since) || !(strings.HasPrefix(e.Detail, string(twofold.MethodRecoveryCode)+":") || strings.HasPrefix(e.Detail, string(twofold.MethodPaperKey)+":")) {
			continue
		}
		src := CleanText(e.Source, 64)
		if src == "" {
			src = "an unknown address"
		}
		x := by[src]
		if x == nil {
			x = &seen{first: e.At, last: e.At}
			by[src] = x
			order = append(order, src)
		}
		x.n++
		x.first, x.last = minTime(x.first, e.At), maxTime(x.last, e.At)
	}
	slices.SortStableFunc(order, func(a, b string) int { return by[b].last.Compare(by[a].last) }) // latest first
	const when = "2006-01-02 15:04 MST"
	var from []string
	for i, src := range order {
		if i == maxNoticeSources {
			from = append(from, fmt.Sprintf("  and %d more %s", len(order)-i, plural(len(order)-i, "address", "addresses")))
			break
		}
		x := by[src]
		span := x.last.Format(when)
		if x.n > 1 {
			span = x.first.Format(when) + " to " + x.last.Format(when)
		}
		from = append(from, fmt.Sprintf("  %s: %d %s, %s", src, x.n, plural(x.n, "time", "times"), span))
	}
	who, change := "Someone who knows your password", "change your password now"
	switch purpose {
	case "login":
	case "password reset":
		who, change = "Someone with a password-reset link mailed to you", "secure your email account, then change your password"
	default:
		who, change = "Someone signed in to your account", "change your password now, which signs out every other session"
	}
	lines := []string{fmt.Sprintf("%s tried to pass the second step with recovery codes or your paper key, and failed %d %s.", who, n, plural(n, "time", "times"))}
	if len(from) > 0 {
		lines = append(lines, "", "From:")
		lines = append(lines, from...)
		lines = append(lines, "")
	}
	lines = append(lines,
		fmt.Sprintf("Your recovery codes and paper key still work, and nothing was locked. If this was not you, %s. If it was you, check that you are typing a code that was not used before (each works once) or the paper key as written; you will hear of this again at most once a day.", change))
	s.notify(ctx, accountID, recoveryFailuresSubject, lines...)
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// checkPushFatigue tells the holder, at most once every GuessNoticeEvery,
// when push requests for PushFatigueLimit sign-ins or elevations within
// PushFatigueWindow went without an approval: someone with the password is
// sending them, hoping the owner approves one by mistake. It is called
// when a request is sent (m is its sender's) or denied (m is the denied
// request's sender), and runs after the answer; requests that expire
// unanswered are looked at by the sweep (sweepPushFatigue).
func (s *Service) checkPushFatigue(accountID string, m Meta) {
	s.later(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, noticeTimeout)
		defer cancel()
		s.pushFatigue(ctx, accountID, m)
	})
}

// expiredPushesRead bounds the expired push requests one sweep looks at.
const expiredPushesRead = 1000

// sweepPushFatigue runs the check of checkPushFatigue for every account
// with a push request that expired unanswered within PushFatigueWindow,
// with the latest such request's sender: requests sent at once and then
// left unanswered count as those denied do, though nothing is sent or
// denied after them. Every instance's sweep may run it; the notice's bound
// is one token in the database (TakeToken), so it is mailed once.
func (s *Service) sweepPushFatigue(ctx context.Context, now time.Time) error {
	cs, err := s.store.PushExpiredUnanswered(ctx, now.Add(-PushFatigueWindow), now, expiredPushesRead)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, c := range cs {
		if seen[c.AccountID] {
			continue
		}
		seen[c.AccountID] = true
		s.pushFatigue(ctx, c.AccountID, Meta{Source: c.Source, UserAgent: c.UserAgent})
	}
	return nil
}

// pushFatigue is the check of checkPushFatigue, m the latest request's
// sender.
func (s *Service) pushFatigue(ctx context.Context, accountID string, m Meta) {
	now := s.Now()
	n, err := s.store.PushUnapproved(ctx, accountID, now.Add(-PushFatigueWindow), now)
	if err != nil {
		s.log.Error("unapproved push requests not counted", "err", err)
		return
	}
	if n < PushFatigueLimit {
		return
	}
	ok, err := s.store.TakeToken(ctx, "notice-push-unapproved:"+accountID, 1, 1/GuessNoticeEvery.Seconds(), now)
	if err != nil || !ok {
		if err != nil {
			s.log.Error("push notice bound unreadable", "err", err)
		}
		return
	}
	s.audit(ctx, accountID, "push.unapproved_reported", m, fmt.Sprintf("push requests for %d sign-ins or elevations within %s, none approved: the holder is told", n, PushFatigueWindow))
	latest := "the latest request came from " + CleanText(m.Source, 64)
	if CleanText(m.Source, 64) == "" {
		latest = "the latest request came just now"
	}
	s.notify(ctx, accountID, pushUnapprovedSubject,
		fmt.Sprintf("Push requests for %d sign-ins to your account (or confirmations that it's you) were sent to your device within the last %d minutes, and none was approved: each was denied or went unanswered (%s, at %s).",
			n, int(PushFatigueWindow.Minutes()), latest, now.Format("15:04 MST")),
		"Whoever sends them knows your password, and may be hoping you approve one by mistake. Do not approve a request you did not start yourself: deny it.",
		"If this was not you, change your password now, which stops them. If it was you, nothing is wrong; you will hear of this at most once a day.")
}
