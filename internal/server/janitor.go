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
	quit   chan struct{}
	cancel context.CancelFunc // ends the work in progress; nil: it runs to its end
	wg     sync.WaitGroup
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

// startWebhooks delivers the audit events waiting for webhooks every
// interval (0: every second), as one instance of its own name, until closed;
// closing lets a batch in flight finish (within core.WebhookTimeout) and
// starts no other.
func startWebhooks(svc *core.Service, log *slog.Logger, every time.Duration, sender core.WebhookSender) (*janitor, error) {
	if every <= 0 {
		every = time.Second
	}
	owner, err := svc.WebhookOwner()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	j := &janitor{quit: make(chan struct{}), cancel: cancel}
	j.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-j.quit:
				return
			case <-t.C:
				if err := svc.DeliverWebhooks(ctx, sender, owner); err != nil && ctx.Err() == nil {
					log.Error("webhook deliveries failed", "err", err)
				}
			}
		}
	})
	return j, nil
}

func (j *janitor) close() {
	if j.cancel != nil {
		j.cancel()
	}
	close(j.quit)
	j.wg.Wait()
}
