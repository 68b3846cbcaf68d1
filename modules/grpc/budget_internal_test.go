package grpc

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/peer"
)

// streamFrom is a new stream's ticket from the connection at addr, its
// headers in (holding or waiting for a slot).
func streamFrom(t *testing.T, b *recvBudget, addr string) (*recvTicket, context.Context) {
	t.Helper()
	tcp, err := net.ResolveTCPAddr("tcp", addr)
	require.NoError(t, err)
	ctx, err := b.tap(peer.NewContext(context.Background(), &peer.Peer{Addr: tcp}), nil)
	require.NoError(t, err)
	tk := ticketOf(ctx)
	require.NotNil(t, tk)
	tk.acquire()
	return tk, ctx
}

// A flood of unfinished requests on one connection makes room from its own
// streams: a request of another connection that is read late (a busy
// machine) keeps its slot however many the flood opens, and the flood's
// oldest stream is the one ended each time.
func TestRecvBudgetEndsTheFloodsOwnStreams(t *testing.T) {
	b := newRecvBudget(4, time.Hour)
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for e := b.holders.Front(); e != nil; e = e.Next() {
			e.Value.(*recvTicket).timer.Stop()
		}
	})
	_, first := streamFrom(t, b, "127.0.0.1:1000") // the flood's first
	_, good := streamFrom(t, b, "127.0.0.1:2000")  // a well-behaved request, not read yet
	var flood []context.Context
	for range 50 {
		_, ctx := streamFrom(t, b, "127.0.0.1:1000")
		flood = append(flood, ctx)
	}
	require.NoError(t, good.Err(), "the well-behaved request kept its slot")
	require.ErrorIs(t, first.Err(), context.DeadlineExceeded, "the flood's oldest stream was ended first")
	for _, ctx := range flood[:len(flood)-3] {
		assert.ErrorIs(t, ctx.Err(), context.DeadlineExceeded)
	}
	for _, ctx := range flood[len(flood)-3:] {
		assert.NoError(t, ctx.Err(), "the newest of the flood hold the other slots")
	}
	assert.EqualValues(t, 48, b.evicted.Load())
}

// With every slot held by a different connection, the oldest holder is
// ended, as before: no connection is favoured.
func TestRecvBudgetEndsTheOldestAmongEquals(t *testing.T) {
	b := newRecvBudget(2, time.Hour)
	_, a := streamFrom(t, b, "127.0.0.1:1001")
	_, c := streamFrom(t, b, "127.0.0.1:1002")
	tk, d := streamFrom(t, b, "127.0.0.1:1003")
	require.ErrorIs(t, a.Err(), context.DeadlineExceeded)
	require.NoError(t, c.Err())
	require.NoError(t, d.Err())
	for _, ctx := range []context.Context{c, d} {
		ticketOf(ctx).end()
	}
	assert.False(t, tk.end(), "ended once")
}
