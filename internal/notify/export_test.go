package notify

import "time"

// SetBookkeeping bounds each of w's outbox updates after an attempt by d,
// before Start.
func SetBookkeeping(w *Worker, d time.Duration) { w.bookkeeping = d }
