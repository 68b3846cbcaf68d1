package plane_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/modules/plane"
)

func TestBinding(t *testing.T) {
	var certErr error
	b := plane.NewBinding("test-listener", "127.0.0.1:0", func(time.Time) error { return certErr })
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
	_, err = plane.NewBinding("x", taken.Addr().String(), nil).Listen()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "x listener on "+taken.Addr().String())
}
