package core

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/twofold/twofold"
)

// knownSignInWindow is how far back a sign-in from the same browser and
// network makes a new one familiar, and knownSignInsRead how many of the
// account's latest sign-ins are looked at.
const (
	knownSignInWindow = 90 * 24 * time.Hour
	knownSignInsRead  = 200
)

// signedIn tells the holder, after the sign-in that made session sessionID
// is committed and answered, when it came from a browser or network the
// account was not signed in from lately (SPEC §1 story 10: security-relevant
// events reach the holder out of band). Nothing of it is on the sign-in's
// path: it runs after the answer, and on a server that sends no mail it
// reads nothing at all.
func (s *Service) signedIn(ctx context.Context, accountID, sessionID string, m Meta) {
	if !s.cfg.MailSent || s.notifier == nil {
		return
	}
	run := func(context.Context) {
		s.later(func(ctx context.Context) {
			if err := s.tellNewSignIn(ctx, accountID, sessionID, m); err != nil {
				s.log.Error("new sign-in not checked", "err", err)
			}
		})
	}
	if q, ok := ctx.Value(notesKey{}).(*[]func(context.Context)); ok {
		*q = append(*q, run) // once committed
		return
	}
	run(ctx)
}

// tellNewSignIn mails the holder of accountID when the sign-in that made
// sessionID is the account's first from its browser and network within
// knownSignInWindow; an account's very first sign-in is news to nobody.
func (s *Service) tellNewSignIn(ctx context.Context, accountID, sessionID string, m Meta) error {
	// Bounded: an account's events can be many (failed sign-ins by
	// strangers among them), and this runs after every sign-in.
	ctx, cancel := context.WithTimeout(ctx, noticeTimeout)
	defer cancel()
	a, err := s.store.AccountByID(ctx, accountID)
	if err != nil || a.Email == "" {
		return err
	}
	evs, err := s.store.QueryEvents(ctx, twofold.EventQuery{AccountID: accountID, Types: []string{"login.succeeded"}, Limit: knownSignInsRead})
	if err != nil {
		return err
	}
	since := s.Now().Add(-knownSignInWindow)
	ua, earlier := CleanText(m.UserAgent, 256), false
	for _, e := range evs {
		if e.SessionID == sessionID {
			continue
		}
		earlier = true // of any age: an account quiet for long is news too
		if !e.At.Before(since) && e.UserAgent == ua && sameNetwork(e.Source, m.Source) {
			return nil // a familiar browser and network
		}
	}
	if !earlier {
		return nil
	}
	browser := ClientCalled(ua)
	s.notify(ctx, accountID, "a sign-in from a new browser or place",
		fmt.Sprintf("Your account was signed in to from %s, with %s, which it was not signed in from in the last %d days.",
			CleanText(m.Source, 64), browser, int(knownSignInWindow/(24*time.Hour))),
		"If this was you, there is nothing to do. If not, change your password and sign that session out on your security settings' list of sessions.")
	return nil
}

// sameNetwork reports whether addresses a and b are in one network: the
// same IPv4 /24 or IPv6 /48, where one household's or office's addresses
// commonly change within.
func sameNetwork(a, b string) bool {
	pa, oka := netOf(a)
	pb, okb := netOf(b)
	return oka && okb && pa == pb
}

func netOf(addr string) (netip.Prefix, bool) {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap()
	bits := 24
	if ip.Is6() {
		bits = 48
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}
