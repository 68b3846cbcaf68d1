package grpc

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
	"time"

	gogrpc "google.golang.org/grpc"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/tap"

	"github.com/bootgraph/bootgraph/component"
)

// connUse tells the listener's accept gate (see component.Binding.ConnBusy)
// which connections are in use, through interceptors that run before the
// client can see an answer: a streaming RPC makes its connection busy from
// its first message sent until its handler returns, so that a proxy's xDS
// stream is never closed to make room for a new connection; a unary RPC
// that succeeds makes it answered. RPCs that never send (refused, or whose
// request never arrives) leave their connection among the first to go.
type connUse struct{ b *component.Binding }

func (u connUse) unary(ctx context.Context, req any, _ *gogrpc.UnaryServerInfo, next gogrpc.UnaryHandler) (any, error) {
	resp, err := next(ctx, req)
	if err == nil {
		r := remote(ctx)
		u.b.ConnBusy(r)
		u.b.ConnIdle(r, true)
	}
	return resp, err
}

func (u connUse) stream(srv any, ss gogrpc.ServerStream, _ *gogrpc.StreamServerInfo, next gogrpc.StreamHandler) error {
	s := &usedStream{ServerStream: ss, b: u.b, remote: remote(ss.Context())}
	defer s.done()
	return next(srv, s)
}

// usedStream makes its connection busy at its first message sent.
type usedStream struct {
	gogrpc.ServerStream
	b      *component.Binding
	remote string
	busy   atomic.Bool
}

func (s *usedStream) SendMsg(m any) error {
	if s.busy.CompareAndSwap(false, true) {
		s.b.ConnBusy(s.remote)
	}
	return s.ServerStream.SendMsg(m)
}

func (s *usedStream) done() {
	if s.busy.Load() {
		s.b.ConnIdle(s.remote, true)
	}
}

func remote(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// recvBudget bounds the memory of requests being received, over every
// connection together. gRPC reads a request's 5-byte message header and
// then opens the stream's flow-control window for the whole message, up to
// the largest message allowed, before any handler or interceptor can look
// at the caller: 300 streams of one client that each sent most of a 4 MiB
// message and never finished it held 1.2 GB. Here a stream takes one of a
// fixed number of slots, each worth the largest message, before gRPC reads
// its message; until then the client can send no more than the stream's
// initial window (64 KiB, the dynamic window being off). When every slot is
// taken, a stream of the connection that holds the most slots is ended, the
// one that has held its slot longest (a request arrives in a millisecond;
// one that takes longer is most likely never finished), so that a new one
// is read at once: a flood of unfinished messages makes room from its own
// streams and cannot keep a well-behaved request of another connection
// out, however slowly that one is read on a busy machine. A stream whose first
// message has not arrived within the receive timeout is ended too. Both
// end with DEADLINE_EXCEEDED.
type recvBudget struct {
	slots   int
	timeout time.Duration

	mu      sync.Mutex
	holders list.List // *recvTicket holding a slot, oldest first

	evicted, timedOut atomic.Uint64
}

func newRecvBudget(slots int, timeout time.Duration) *recvBudget {
	return &recvBudget{slots: max(slots, 1), timeout: timeout}
}

// ticketKey is the context key of a stream's recvTicket.
type ticketKey struct{}

// recvTicket is one stream's claim on the budget, until its first message
// arrived or it ended. Its fields after cancel are guarded by b.mu.
type recvTicket struct {
	b        *recvBudget
	conn     string // the peer's address: the connection it came on
	cancel   context.CancelFunc
	timer    *time.Timer
	timedOut atomic.Bool

	slot     *list.Element // in b.holders while it holds a slot
	released bool          // the first message arrived, or the stream ended
}

// recvCtx is a stream's context: done when the stream ends or its first
// message is late, which Err then reports as context.DeadlineExceeded
// (gRPC answers DEADLINE_EXCEEDED).
type recvCtx struct {
	context.Context
	t *recvTicket
}

func (c recvCtx) Err() error {
	if err := c.Context.Err(); err != nil && c.t.timedOut.Load() {
		return context.DeadlineExceeded
	}
	return c.Context.Err()
}

func (c recvCtx) Value(key any) any {
	if key == (ticketKey{}) {
		return c.t
	}
	return c.Context.Value(key)
}

// tap gives every new stream a ticket, before gRPC reads anything of it:
// the stream's context is done when the ticket expires or is taken.
func (b *recvBudget) tap(ctx context.Context, _ *tap.Info) (context.Context, error) {
	inner, cancel := context.WithCancel(ctx)
	t := &recvTicket{b: b, conn: remote(ctx), cancel: cancel}
	t.timer = time.AfterFunc(b.timeout, func() {
		if t.end() {
			b.timedOut.Add(1)
			t.stop()
		}
	})
	context.AfterFunc(inner, func() { t.end() }) // the stream ended
	return recvCtx{inner, t}, nil
}

// acquire takes a slot; when every slot is taken, it ends the stream that
// has held one longest among those of the connection holding the most
// (this one's included).
func (t *recvTicket) acquire() {
	b := t.b
	b.mu.Lock()
	if t.released || t.slot != nil {
		b.mu.Unlock()
		return
	}
	var victim *recvTicket
	if b.holders.Len() >= b.slots {
		e := b.victim(t.conn)
		victim = b.holders.Remove(e).(*recvTicket)
		victim.slot, victim.released = nil, true
	}
	t.slot = b.holders.PushBack(t)
	b.mu.Unlock()
	if victim != nil {
		b.evicted.Add(1)
		victim.timer.Stop()
		victim.stop()
	}
}

// victim returns the oldest holder of the connection holding the most
// slots, counting the newcomer from conn; ties go to the connection whose
// oldest holder is older. It scans the holders, at most slots of them
// (16 with the defaults). b.mu is held.
func (b *recvBudget) victim(conn string) *list.Element {
	held := map[string]int{conn: 1}
	oldest := map[string]*list.Element{}
	var order []string // connections by their oldest holder, oldest first
	for e := b.holders.Front(); e != nil; e = e.Next() {
		c := e.Value.(*recvTicket).conn
		if oldest[c] == nil {
			oldest[c] = e
			order = append(order, c)
		}
		held[c]++
	}
	pick := order[0]
	for _, c := range order[1:] {
		if held[c] > held[pick] {
			pick = c
		}
	}
	return oldest[pick]
}

// end gives the slot back and stops the timer, once; it reports whether
// this call ended the ticket.
func (t *recvTicket) end() bool {
	b := t.b
	b.mu.Lock()
	if t.released {
		b.mu.Unlock()
		return false
	}
	t.released = true
	if t.slot != nil {
		b.holders.Remove(t.slot)
		t.slot = nil
	}
	b.mu.Unlock()
	t.timer.Stop()
	return true
}

// stop ends the stream: its reads fail with DEADLINE_EXCEEDED.
func (t *recvTicket) stop() {
	t.timedOut.Store(true)
	t.cancel()
}

func ticketOf(ctx context.Context) *recvTicket {
	t, _ := ctx.Value(ticketKey{}).(*recvTicket)
	return t
}

func (*recvBudget) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (*recvBudget) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (*recvBudget) HandleConn(context.Context, stats.ConnStats)                       {}

// HandleRPC takes a slot when a stream's headers are in, which gRPC
// reports in the stream's goroutine before it reads the message, and gives
// it back when the first message arrived or the RPC ended.
func (*recvBudget) HandleRPC(ctx context.Context, s stats.RPCStats) {
	t := ticketOf(ctx)
	if t == nil {
		return
	}
	switch s.(type) {
	case *stats.InHeader:
		t.acquire()
	case *stats.InPayload, *stats.End:
		t.end()
	}
}

// stream gives the slot back when a streaming RPC's first RecvMsg returns,
// with a message or without (the client sent none).
func (*recvBudget) stream(srv any, ss gogrpc.ServerStream, _ *gogrpc.StreamServerInfo, next gogrpc.StreamHandler) error {
	t := ticketOf(ss.Context())
	if t == nil {
		return next(srv, ss)
	}
	return next(srv, &firstRecv{ServerStream: ss, t: t})
}

type firstRecv struct {
	gogrpc.ServerStream
	t *recvTicket
}

func (s *firstRecv) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	s.t.end()
	return err
}
