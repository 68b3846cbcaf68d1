package bootgraph_test

import (
	"context"
	"os"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph"
)

// signalPlane is a plane of two hooks: the first starts at once, the
// second blocks its start until release is closed or its context ends.
func signalPlane(t *testing.T, entered, release chan struct{}, firstStopped *atomic.Bool) *bootgraph.Plane {
	t.Helper()
	p, err := bootgraph.New(bootgraph.Options{Logger: zap.NewNop()}, fx.Invoke(func(lc fx.Lifecycle) {
		lc.Append(fx.Hook{
			OnStart: func(context.Context) error { return nil },
			OnStop:  func(context.Context) error { firstStopped.Store(true); return nil },
		})
		lc.Append(fx.Hook{OnStart: func(ctx context.Context) error {
			close(entered)
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}})
	}))
	require.NoError(t, err)
	return p
}

// A SIGTERM while the plane starts ends the start: Run returns an error
// naming the signal, what had started is stopped, and the process lives
// (the signal is caught from before the start).
func TestRunSignalDuringStart(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var firstStopped atomic.Bool
	p := signalPlane(t, entered, release, &firstStopped)
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	<-entered
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	err := <-done
	require.ErrorContains(t, err, "start interrupted by terminated")
	require.True(t, firstStopped.Load(), "the hook that had started was not stopped")
}

// A SIGTERM the moment the plane is ready stops it cleanly.
func TestRunSignalAfterStart(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var firstStopped atomic.Bool
	p := signalPlane(t, entered, release, &firstStopped)
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	<-entered
	close(release)
	// The signal may land before or after Start has returned: either way
	// it is caught, and the plane ends stopped.
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	err := <-done
	if err != nil {
		require.ErrorContains(t, err, "start interrupted by terminated")
	}
	require.True(t, firstStopped.Load())
}
