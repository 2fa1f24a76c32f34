package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/twofold/twofold/internal/core"
)

// janitor runs the service's Sweep every interval until closed, logging a
// failed sweep and trying again at the next tick.
type janitor struct {
	quit chan struct{}
	wg   sync.WaitGroup
}

func startJanitor(svc *core.Service, log *slog.Logger, every time.Duration) *janitor {
	j := &janitor{quit: make(chan struct{})}
	j.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-j.quit:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), every)
				if err := svc.Sweep(ctx); err != nil {
					log.Error("sweep of expired sessions, logins and counters failed", "err", err)
				}
				cancel()
			}
		}
	})
	return j
}

func (j *janitor) close() {
	close(j.quit)
	j.wg.Wait()
}
