package core

import (
	"slices"
	"testing"

	"github.com/twofold/twofold/internal/testenv/eventscan"
)

// TestEventTypesCoverCore fails when core's sources write an audit event
// type missing from EventTypes (a webhook could not subscribe to it), or
// when EventTypes is not sorted. Literals spelled as event types
// (words of a-z and _ joined by one dot) are taken for them
// (eventscan.Types), as the web package's TestEventTextsCoverCore takes
// them.
func TestEventTypesCoverCore(t *testing.T) {
	written, err := eventscan.Types(".")
	if err != nil {
		t.Fatalf("core sources: %v", err)
	}
	if !written["login.password_failed"] || !written["dns.records_changed"] {
		t.Fatal("core's sources parsed without login.password_failed or dns.records_changed: the parse is broken")
	}
	for typ := range written {
		if !slices.Contains(EventTypes, typ) {
			t.Errorf("core writes %s, missing from EventTypes", typ)
		}
	}
	if !slices.IsSorted(EventTypes) {
		t.Error("EventTypes is not sorted")
	}
}

// TestWebhookEventsKnown: a webhook takes only event types Twofold writes
// and prefixes of them, so that a misspelt name cannot select nothing.
func TestWebhookEventsKnown(t *testing.T) {
	for _, in := range [][]string{{"login.failed"}, {"Login.*"}, {"nonsense"}, {"login.password_failed", "logn.*"}, {"LOGIN.PASSWORD_FAILED"}, {"login.password.*"}, {"login.password_fail.*"}} {
		if got, err := checkWebhookEvents(in); err == nil {
			t.Errorf("checkWebhookEvents(%q) = %q, want an error", in, got)
		}
	}
	for _, in := range [][]string{{"login.password_failed", "webhook.*"}, {"login.*", " dns.records_changed "}, {"*"}, nil} {
		if _, err := checkWebhookEvents(in); err != nil {
			t.Errorf("checkWebhookEvents(%q): %v", in, err)
		}
	}
}
