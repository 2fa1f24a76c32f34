package httpapi_test

import "github.com/twofold/twofold/internal/core"

// The webhook tests subscribe to event types of their own (test.a,
// test.b.*, test.*), whose events they write straight into the store so
// that no real event shares them; webhooks refuse a type Twofold does not
// write, so they are added here, before any test runs.
func init() { core.EventTypes = append(core.EventTypes, "test.a", "test.b.x") }
