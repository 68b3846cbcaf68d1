package grpc_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	gogrpc "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/testutil"
	grpcmod "github.com/bootgraph/bootgraph/modules/grpc"
)

const healthCheck = "/grpc.health.v1.Health/Check"

// check makes one Health/Check call on conn and returns its error.
func check(conn *gogrpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

// Connections that finish TLS and the HTTP/2 preface and then open no RPC
// are closed after keepalive.maxConnectionIdle (GOAWAY, then close), even
// though they answer pings; a connection with a long-lived stream (a
// Health/Watch, as an xDS stream) is not idle and is not cut; a client
// whose idle connection was closed reconnects on its next call.
func TestSilentConnectionsClosedWhenIdle(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	s, _ := startServer(t, grpcmod.Options{Keepalive: grpcmod.KeepaliveOptions{
		MaxConnectionIdle: component.Duration(300 * time.Millisecond),
	}}, testutil.NewBundle(t, c), nil)

	watchConn := dial(t, s.Addr(), c.Roots(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch, err := healthpb.NewHealthClient(watchConn).Watch(ctx, &healthpb.HealthCheckRequest{Service: "grpc.health.v1.Health"})
	require.NoError(t, err)
	first, err := watch.Recv()
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, first.GetStatus())

	callConn := dial(t, s.Addr(), c.Roots(), nil)
	require.NoError(t, check(callConn))

	var silent []*h2Client
	for range 20 {
		silent = append(silent, dialH2(t, s.Addr(), c.Roots()))
	}
	for i, h := range silent {
		goAway := h.waitClosed(t, 30*time.Second)
		require.NotNil(t, goAway, "silent connection %d: closed with GOAWAY", i)
		assert.Equal(t, http2.ErrCodeNo, goAway.ErrCode)
		assert.Equal(t, "max_idle", string(goAway.DebugData()))
	}

	// The watch outlived many idle periods: it still gets updates.
	s.Health().SetServing("grpc.health.v1.Health", false)
	next, err := watch.Recv()
	require.NoError(t, err, "the stream was cut")
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, next.GetStatus())
	s.Health().SetServing("grpc.health.v1.Health", true)

	// The caller's idle connection was closed too; its next call
	// reconnects without an error.
	require.NoError(t, check(callConn))
}

// A request with megabytes of metadata is refused before any handler or
// interceptor runs, and the server does not read it into memory: a gRPC
// client learns the limit from the server's SETTINGS and fails at once
// with a clear message; a raw client gets its stream reset. Metadata
// within the limit is fine.
func TestMetadataFloodRefused(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	counting := grpcmod.Interceptor{Name: "count", Unary: func(ctx context.Context, req any, _ *gogrpc.UnaryServerInfo, next gogrpc.UnaryHandler) (any, error) {
		calls.Add(1)
		return next(ctx, req)
	}}
	p, s, roots := plane(t, zap.NewNop(), grpcmod.Options{}, grpcmod.Intercept(counting))
	require.NoError(t, p.Start(context.Background()))
	defer func() { require.NoError(t, p.Stop(context.Background())) }()
	conn := dial(t, s.Addr(), roots, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	big := metadata.AppendToOutgoingContext(ctx, "x-junk", strings.Repeat("a", 8<<20))
	_, err := healthpb.NewHealthClient(conn).Check(big, &healthpb.HealthCheckRequest{})
	require.Error(t, err)
	assert.Equal(t, codes.Internal, status.Code(err), "%v", err)
	assert.Contains(t, err.Error(), "header list size to send violates the maximum size (65536 bytes) set by server")

	// Within the limit: 32 KiB of metadata.
	ok := metadata.AppendToOutgoingContext(ctx, "x-fine", strings.Repeat("a", 32<<10))
	_, err = healthpb.NewHealthClient(conn).Check(ok, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, int32(1), calls.Load())

	// A raw client ignores the SETTINGS: one 8 MiB value, then 8 MiB in
	// 2,048 headers of 4 KiB.
	many := make([]hpack.HeaderField, 2048)
	for i := range many {
		many[i] = hpack.HeaderField{Name: "x-junk-" + strconv.Itoa(i), Value: strings.Repeat("b", 4<<10)}
	}
	for name, extra := range map[string][]hpack.HeaderField{
		"one 8 MiB value":       {{Name: "x-junk", Value: strings.Repeat("a", 8<<20)}},
		"2,048 values of 4 KiB": many,
	} {
		h := dialH2(t, s.Addr(), roots)
		id, err := h.open(requestHeaders(healthCheck, extra...))
		if err == nil {
			_, err = h.send(id, append(messageHeader(0), nil...), 10*time.Second)
		}
		code, msg, reset, serr := h.status(id)
		t.Logf("%s: write %v; status %q %q, reset %v, conn %v", name, err, code, msg, reset, serr)
		switch {
		case reset != 0:
			assert.Equal(t, http2.ErrCodeFrameSize, reset, name)
		case code != "":
			t.Errorf("%s: the server answered the request (grpc-status %s %s)", name, code, msg)
		default:
			require.Error(t, serr, "%s: the server closed the connection", name)
		}
	}
	assert.Equal(t, int32(1), calls.Load(), "no handler ran for the oversized requests")
	require.NoError(t, check(conn), "the server goes on")
}

// One client opens 300 streams on one connection, each declaring the
// largest message and sending all of it but a byte, the attack:
// the server's heap grows by at most recvBufferBytes plus a stream window
// (64 KiB) per open stream, where it grew by 1.2 GB; meanwhile a
// well-behaved caller on another connection is served. Not parallel: it
// measures the heap.
func TestStreamFloodMemoryBound(t *testing.T) {
	c := testutil.NewCA(t)
	opts := grpcmod.Options{}
	opts.SetDefaults()
	s, _ := startServer(t, grpcmod.Options{}, testutil.NewBundle(t, c), nil)
	good := dial(t, s.Addr(), c.Roots(), nil)
	require.NoError(t, check(good))
	base := liveHeap()

	const streams = 300
	attacker := dialH2(t, s.Addr(), c.Roots())
	msg := append(messageHeader(opts.MaxRecvMsgBytes), make([]byte, opts.MaxRecvMsgBytes-1)...)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		sent     int
		outcomes = map[string]int{}
		ended    []uint32
	)
	for range streams {
		id, err := attacker.open(requestHeaders(healthCheck))
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Until the server stops granting window (stalled) or ends the
			// stream (a newer one took its slot).
			n, err := attacker.send(id, msg, 2*time.Second)
			mu.Lock()
			defer mu.Unlock()
			sent += n
			switch {
			case errors.Is(err, errStalled):
				outcomes["stalled"]++
			case err == nil:
				outcomes["sent"]++
			default:
				outcomes["ended by the server"]++
				ended = append(ended, id)
			}
		}()
	}
	// A well-behaved caller is served while the attack runs.
	require.NoError(t, check(good), "served during the attack")
	wg.Wait()
	require.NoError(t, check(good), "served after the attack")

	grown := int64(liveHeap()) - int64(base)
	bound := int64(opts.RecvBufferBytes) + streams*64<<10 + 16<<20 // + slack for the test's own buffers
	t.Logf("sent %d MiB on %d streams (%v); live heap grew %d MiB; bound %d MiB",
		sent>>20, streams, outcomes, grown>>20, bound>>20)
	assert.Greater(t, sent, streams*60<<10, "the attack sent at least the initial windows")
	require.NotEmpty(t, ended, "newer requests took the oldest ones' room")
	for _, id := range ended[:min(len(ended), 20)] {
		code, msg, reset, err := attacker.status(id)
		require.NoError(t, err)
		assert.True(t, code == strconv.Itoa(int(codes.DeadlineExceeded)) || reset != 0,
			"stream %d: an ended request gets DEADLINE_EXCEEDED (got status %q %q, reset %v)", id, code, msg, reset)
	}
	assert.LessOrEqual(t, grown, bound, "heap growth within recvBufferBytes + 64 KiB per stream")
}

// liveHeap returns the bytes of live heap objects after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// A request whose message does not arrive in full within recvTimeout ends
// with DEADLINE_EXCEEDED; a stream whose first message arrived stays open
// past it; a message that arrives in time is served.
func TestRecvTimeoutEndsUnfinishedRequest(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	s, _ := startServer(t, grpcmod.Options{RecvTimeout: component.Duration(300 * time.Millisecond)},
		testutil.NewBundle(t, c), nil, echoService())

	watchConn := dial(t, s.Addr(), c.Roots(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch, err := healthpb.NewHealthClient(watchConn).Watch(ctx, &healthpb.HealthCheckRequest{Service: "grpc.health.v1.Health"})
	require.NoError(t, err)
	_, err = watch.Recv()
	require.NoError(t, err)

	h := dialH2(t, s.Addr(), c.Roots())
	for name, body := range map[string][]byte{
		"declares 100 bytes, sends 10":           append(messageHeader(100), make([]byte, 10)...),
		"sends 3 bytes of the message header":    {0, 0, 0},
		"declares 1 MiB, sends 64 KiB and waits": append(messageHeader(1<<20), make([]byte, 64<<10-5)...),
	} {
		id, err := h.open(requestHeaders(echoMethod))
		require.NoError(t, err)
		_, err = h.send(id, body, 10*time.Second)
		require.NoError(t, err, name)
		code, msg, reset, err := h.status(id)
		require.NoError(t, err, name)
		require.Zero(t, reset, name)
		assert.Equal(t, strconv.Itoa(int(codes.DeadlineExceeded)), code, "%s: %s", name, msg)
	}

	// In time: served.
	var out wrapperspb.StringValue
	callCtx, callCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer callCancel()
	require.NoError(t, watchConn.Invoke(callCtx, echoMethod, wrapperspb.String("on time"), &out))
	assert.Equal(t, "on time", out.GetValue())

	// The watch, older than recvTimeout many times over, is still open.
	s.Health().SetServing("grpc.health.v1.Health", false)
	next, err := watch.Recv()
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, next.GetStatus())
	s.Health().SetServing("grpc.health.v1.Health", true)
}

// A full listener closes the oldest connection that was never answered:
// raw TCP clients that never start TLS go first, and a caller that was
// answered keeps its connection; a new caller is served at once.
func TestConnectionCapEvictsUnanswered(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	s, _ := startServer(t, grpcmod.Options{MaxConnections: 4}, testutil.NewBundle(t, c), nil)
	served := dial(t, s.Addr(), c.Roots(), nil)
	require.NoError(t, check(served))

	var idle []net.Conn
	for range 6 {
		conn, err := net.DialTimeout("tcp", s.Addr(), 10*time.Second)
		require.NoError(t, err)
		defer conn.Close()
		idle = append(idle, conn)
	}
	// Six idle connections in four places, one of them taken by the
	// served caller: the first three make room for the last three.
	for i, conn := range idle[:3] {
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
		_, err := conn.Read(make([]byte, 1))
		require.Error(t, err, "idle connection %d", i)
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "idle connection %d is still open", i)
	}
	require.NoError(t, check(dial(t, s.Addr(), c.Roots(), nil)), "a newcomer is served")
	require.NoError(t, check(served), "the answered caller kept its connection")
	st := s.ConnStats()
	assert.Equal(t, 4, st.Max)
	assert.GreaterOrEqual(t, st.Evicted, uint64(4))
}

func TestLimitOptions(t *testing.T) {
	t.Parallel()
	var o grpcmod.Options
	o.SetDefaults()
	assert.Equal(t, 4096, o.MaxConnections)
	assert.Equal(t, uint32(64<<10), o.MaxHeaderListBytes)
	assert.Equal(t, 64<<20, o.RecvBufferBytes)
	assert.Equal(t, component.Duration(10*time.Second), o.RecvTimeout)
	assert.Equal(t, component.Duration(time.Minute), o.Keepalive.MaxConnectionIdle)
	require.NoError(t, o.Validate())

	bad := o
	bad.MaxConnections = -1
	bad.RecvBufferBytes = 1 << 20
	bad.RecvTimeout = -1
	bad.Keepalive.MaxConnectionIdle = -1
	err := bad.Validate()
	require.Error(t, err)
	for _, want := range []string{
		"maxConnections: -1 must be positive",
		"recvBufferBytes: 1048576 is below maxRecvMsgBytes (4194304): not one request would fit",
		"recvTimeout: -1ns must be positive",
		"keepalive.maxConnectionIdle: -1ns must be positive",
	} {
		assert.Contains(t, err.Error(), want)
	}
}

// A connection with a stream that has sent (a Health/Watch, as a proxy's
// xDS stream) is busy: a full listener never closes it to make room, while
// idle ones go, even answered ones, least recently answered first.
func TestBusyStreamNeverEvicted(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	s, _ := startServer(t, grpcmod.Options{MaxConnections: 2}, testutil.NewBundle(t, c), nil)
	watchConn := dial(t, s.Addr(), c.Roots(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch, err := healthpb.NewHealthClient(watchConn).Watch(ctx, &healthpb.HealthCheckRequest{Service: "grpc.health.v1.Health"})
	require.NoError(t, err)
	_, err = watch.Recv()
	require.NoError(t, err)

	for i := range 5 {
		caller := dial(t, s.Addr(), c.Roots(), nil)
		require.NoError(t, check(caller), "caller %d is served: it takes the idle place", i)
		conn, err := net.DialTimeout("tcp", s.Addr(), 10*time.Second)
		require.NoError(t, err)
		defer conn.Close()
	}
	s.Health().SetServing("grpc.health.v1.Health", false)
	next, err := watch.Recv()
	require.NoError(t, err, "the busy watch was closed")
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, next.GetStatus())
	s.Health().SetServing("grpc.health.v1.Health", true)
	assert.GreaterOrEqual(t, s.ConnStats().Evicted, uint64(9))
}
