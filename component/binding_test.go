package component_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/component"
)

func TestBinding(t *testing.T) {
	var certErr error
	b := component.NewBinding("test-listener", "127.0.0.1:0", func(time.Time) error { return certErr })
	ctx := context.Background()
	assert.Equal(t, "test-listener", b.Name())
	assert.Equal(t, "127.0.0.1:0", b.Addr())
	require.ErrorContains(t, b.Ready(ctx), "test-listener 127.0.0.1:0: not listening")

	l, err := b.Listen()
	require.NoError(t, err)
	defer l.Close()
	b.Serving(l.Addr().String())
	assert.Equal(t, l.Addr().String(), b.Addr())
	require.NoError(t, b.Ready(ctx))

	certErr = errors.New("serving certificate expired")
	require.ErrorContains(t, b.Ready(ctx), "test-listener "+l.Addr().String()+": serving certificate expired")

	b.Stopped()
	require.ErrorContains(t, b.Ready(ctx), "not listening", "a stopped listener is not ready")
}

func TestBindingListenError(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	_, err = component.NewBinding("x", taken.Addr().String(), nil).Listen()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "x listener on "+taken.Addr().String())
}

// serveHTTP starts an HTTP server on b through Serve and returns it.
func serveHTTP(t *testing.T, b *component.Binding) *http.Server {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }),
		ReadHeaderTimeout: 10 * time.Second}
	require.NoError(t, b.Serve(srv.Serve))
	return srv
}

func TestBindingServeAndShutdown(t *testing.T) {
	t.Parallel()
	b := component.NewBinding("http-test", "127.0.0.1:0", nil)
	ctx := context.Background()
	assert.Nil(t, b.Done(), "Done is nil before Serve")
	srv := serveHTTP(t, b)

	addr := b.Addr()
	assert.NotEqual(t, "127.0.0.1:0", addr, "Addr is the bound address while serving")
	require.NoError(t, b.Ready(ctx), "Serve makes the listener ready")
	resp, err := http.Get("http://" + addr)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	done := b.Done()
	require.NotNil(t, done)
	select {
	case <-done:
		t.Fatal("Done closed while serving")
	default:
	}

	stopped := 0
	stop := func(ctx context.Context) error { stopped++; return srv.Shutdown(ctx) }
	require.NoError(t, b.Shutdown(ctx, stop, http.ErrServerClosed), "http.ErrServerClosed is the normal end")
	assert.Equal(t, 1, stopped)
	<-done // closed once serve returned
	assert.Equal(t, "127.0.0.1:0", b.Addr(), "after Shutdown, Addr is the configured address again")
	require.ErrorContains(t, b.Ready(ctx), "http-test 127.0.0.1:0: not listening")

	require.NoError(t, b.Shutdown(ctx, stop, http.ErrServerClosed), "Shutdown twice")
	assert.Equal(t, 1, stopped, "the second Shutdown does not stop again")

	// A binding serves again after Shutdown.
	srv = serveHTTP(t, b)
	require.NoError(t, b.Ready(ctx))
	require.NoError(t, b.Shutdown(ctx, srv.Shutdown, http.ErrServerClosed))
}

func TestBindingShutdownBeforeServe(t *testing.T) {
	t.Parallel()
	b := component.NewBinding("never", "127.0.0.1:0", nil)
	called := false
	stop := func(context.Context) error { called = true; return nil }
	require.NoError(t, b.Shutdown(context.Background(), stop))
	require.NoError(t, b.Shutdown(context.Background(), stop))
	assert.False(t, called, "nothing to stop before Serve")
	assert.Nil(t, b.Done())
}

func TestBindingServeError(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	b := component.NewBinding("busy", taken.Addr().String(), nil)
	err = b.Serve(func(net.Listener) error { t.Error("serve ran without a listener"); return nil })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "busy listener on "+taken.Addr().String(), "the error names listener and address")
	require.ErrorContains(t, b.Ready(context.Background()), "not listening")
	require.NoError(t, b.Shutdown(context.Background(), nil), "Shutdown after a failed Serve")
}

// An error of the serve function that is not one of closed is reported by
// Shutdown, naming listener and address, with stop's error.
func TestBindingServeFails(t *testing.T) {
	t.Parallel()
	b := component.NewBinding("failing", "127.0.0.1:0", nil)
	broken := errors.New("accept: broken")
	require.NoError(t, b.Serve(func(l net.Listener) error { l.Close(); return broken }))
	addr := b.Addr()
	<-b.Done() // serve returned by itself

	stopErr := errors.New("stop: also broken")
	err := b.Shutdown(context.Background(), func(context.Context) error { return stopErr }, http.ErrServerClosed)
	require.Error(t, err)
	assert.ErrorIs(t, err, broken)
	assert.ErrorIs(t, err, stopErr)
	assert.True(t, strings.HasPrefix(err.Error(), "failing "+addr+": "), err.Error())

	// A stop error alone is returned as it is.
	b = component.NewBinding("stopping", "127.0.0.1:0", nil)
	srv := serveHTTP(t, b)
	err = b.Shutdown(context.Background(), func(ctx context.Context) error {
		_ = srv.Shutdown(ctx)
		return stopErr
	}, http.ErrServerClosed)
	assert.Equal(t, stopErr, err)

	// Without closed, http.ErrServerClosed is an error too.
	b = component.NewBinding("strict", "127.0.0.1:0", nil)
	srv = serveHTTP(t, b)
	err = b.Shutdown(context.Background(), srv.Shutdown)
	assert.ErrorIs(t, err, http.ErrServerClosed)
}

// Shutdown waits for serve to return after stop.
func TestBindingShutdownWaitsForServe(t *testing.T) {
	t.Parallel()
	b := component.NewBinding("slow", "127.0.0.1:0", nil)
	release, returned := make(chan struct{}), make(chan struct{})
	require.NoError(t, b.Serve(func(l net.Listener) error {
		<-release
		l.Close()
		close(returned)
		return nil
	}))
	shutdown := make(chan error, 1)
	go func() {
		shutdown <- b.Shutdown(context.Background(), func(context.Context) error { close(release); return nil })
	}()
	select {
	case err := <-shutdown:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	select {
	case <-returned:
	default:
		t.Fatal("Shutdown returned before serve did")
	}
}
