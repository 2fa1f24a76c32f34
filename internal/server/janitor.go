package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/store"
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

// startWebhooks starts, every interval (0: every second), a delivery to
// each webhook that is due and has none in flight, as one instance of its
// own name, without waiting for any: a slow receiver holds back no other
// endpoint. Closing starts no other delivery and waits for those in flight,
// each finishing the batch it is sending (within core.WebhookTimeout).
func startWebhooks(svc *core.Service, log *slog.Logger, every time.Duration, sender core.WebhookSender) (*janitor, error) {
	if every <= 0 {
		every = time.Second
	}
	owner, err := svc.WebhookOwner()
	if err != nil {
		return nil, err
	}
	d := svc.NewWebhookDispatcher(sender, owner)
	ctx, cancel := context.WithCancel(context.Background())
	j := &janitor{quit: make(chan struct{}), cancel: cancel}
	j.wg.Go(func() {
		defer d.Wait() // after the last Start
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-j.quit:
				return
			case <-t.C:
				if err := d.Start(ctx); err != nil && ctx.Err() == nil {
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

// startHeartbeat records the heartbeat of this instance, in, once now and
// then every store.HeartbeatEvery until closed, logging a beat that
// failed (the next one tries again); closing ends the heartbeat, so that
// `twofold restore` sees at once that this server stopped.
func startHeartbeat(ctx context.Context, st *store.Store, log *slog.Logger, in store.Instance) *janitor {
	beat := func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, store.HeartbeatEvery)
		defer cancel()
		if err := st.Beat(ctx, in); err != nil {
			log.Error("heartbeat failed: twofold restore may not see that this server runs", "err", err)
		}
	}
	beat(context.WithoutCancel(ctx))
	j := &janitor{quit: make(chan struct{})}
	j.wg.Go(func() {
		t := time.NewTicker(store.HeartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-j.quit:
				ctx, cancel := context.WithTimeout(context.Background(), store.HeartbeatEvery)
				defer cancel()
				if err := st.EndInstance(ctx, in.ID); err != nil {
					log.Error("ending the heartbeat failed: twofold restore counts this server as running until it was not seen for "+store.HeartbeatFresh.String(), "err", err)
				}
				return
			case <-t.C:
				beat(context.Background())
			}
		}
	})
	return j
}
