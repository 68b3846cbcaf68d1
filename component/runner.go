package component

import (
	"context"

	"go.uber.org/fx"
)

// AppendRunner runs run in a goroutine from OnStart until OnStop, which
// cancels run's context and waits for it to return (or for the stop
// deadline). Use it for a module's background work: watchers, renewers.
func AppendRunner(lc fx.Lifecycle, run func(ctx context.Context)) {
	var cancel context.CancelFunc
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			var ctx context.Context
			ctx, cancel = context.WithCancel(context.Background())
			go func() {
				defer close(done)
				run(ctx)
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			cancel()
			select {
			case <-done:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
}
