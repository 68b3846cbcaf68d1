package component

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Binding is the skeleton every listener of the plane shares: binding the
// configured address (an error names the listener and the address),
// serving in the background, shutting down within a deadline, the bound
// address, and readiness (bound, and serving a certificate that is valid
// now). A listener embeds it and gets Name, Addr, Ready and ConnStats.
//
// Serve also guards the accept loop (see LimitConnections): at most a
// configured number of connections are open at once, and when the
// listener is full a new connection closes an idle one, the oldest that
// was never answered first (see ConnBusy), so that clients that connect
// and send nothing cannot keep well-behaved ones out; an accept that fails
// for want of file descriptors (EMFILE, ENFILE) is retried with a growing
// delay instead of at once, logged once and counted.
type Binding struct {
	name       string
	configured string
	valid      func(time.Time) error

	mu       sync.Mutex
	bound    string        // the bound address while serving, else ""
	listener net.Listener  // the bound listener while serving
	done     chan struct{} // closed when the serve function returned
	served   error         // what it returned
	maxConns int           // LimitConnections' max; 0: no cap
	log      *zap.Logger   // LimitConnections' logger

	gate  atomic.Pointer[gate] // the accept gate while serving
	stats connCounters
}

// NewBinding describes listener name on addr; valid, when not nil, reports
// whether its certificate is valid at a time (e.g. servingcert.Bundle.Valid).
func NewBinding(name, addr string, valid func(time.Time) error) *Binding {
	return &Binding{name: name, configured: addr, valid: valid}
}

// Listen binds the configured TCP address.
func (b *Binding) Listen() (net.Listener, error) {
	l, err := net.Listen("tcp", b.configured)
	if err != nil {
		return nil, fmt.Errorf("%s listener on %s: %w", b.name, b.configured, err)
	}
	return l, nil
}

// Serve binds the configured address and runs serve on it in the
// background until Shutdown. The error names the listener and the address.
// serve gets the guarded listener: see LimitConnections.
func (b *Binding) Serve(serve func(net.Listener) error) error {
	raw, err := b.Listen()
	if err != nil {
		return err
	}
	b.mu.Lock()
	max, log := b.maxConns, b.log
	b.mu.Unlock()
	if log == nil {
		log = zap.NewNop()
	}
	max = b.effectiveMax(max, log)
	g := newGate(raw, b, max, log)
	var l net.Listener = g
	b.gate.Store(g)
	done := make(chan struct{})
	b.mu.Lock()
	b.bound, b.listener, b.done, b.served = l.Addr().String(), l, done, nil
	b.mu.Unlock()
	go func() {
		err := serve(l)
		b.mu.Lock()
		b.served = err
		b.mu.Unlock()
		close(done)
	}()
	return nil
}

// Done is closed when the serve function returns; nil before Serve.
func (b *Binding) Done() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.done
}

// Shutdown ends what Serve started: it calls stop (a server's own graceful
// shutdown) with ctx, closes the listener (which ends a plain accept loop;
// a server's shutdown has usually closed it already), then waits for serve
// to return. An error of serve that is one of closed (http.ErrServerClosed,
// net.ErrClosed, say) is the normal end. It is safe before Serve and more
// than once.
func (b *Binding) Shutdown(ctx context.Context, stop func(context.Context) error, closed ...error) error {
	b.mu.Lock()
	done, l := b.done, b.listener
	b.done, b.listener = nil, nil
	b.mu.Unlock()
	if done == nil {
		return nil // never started, or already stopped
	}
	defer b.Stopped()
	var stopErr error
	if stop != nil {
		stopErr = stop(ctx)
	}
	_ = l.Close() // closed already by most servers' shutdown
	<-done
	b.gate.Store(nil)
	b.mu.Lock()
	served := b.served
	b.mu.Unlock()
	for _, c := range closed {
		if errors.Is(served, c) {
			served = nil
		}
	}
	if served != nil {
		return fmt.Errorf("%s %s: %w", b.name, b.Addr(), errors.Join(served, stopErr))
	}
	return stopErr
}

// StopHTTP is the stop function of Shutdown for an *http.Server: a
// graceful shutdown until ctx is done, then closing what remains.
func StopHTTP(s *http.Server) func(context.Context) error {
	return func(ctx context.Context) error {
		err := s.Shutdown(ctx)
		if err != nil {
			_ = s.Close() // the deadline passed: drop what remains
		}
		return err
	}
}

// Serving records that the listener serves on addr; Ready can then be
// true. Serve calls it; a listener that binds by itself calls it directly.
func (b *Binding) Serving(addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bound = addr
}

// Stopped records that the listener no longer serves.
func (b *Binding) Stopped() { b.Serving("") }

// Name implements Listener.
func (b *Binding) Name() string { return b.name }

// Addr implements Listener: the bound address while serving, else the
// configured one.
func (b *Binding) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bound != "" {
		return b.bound
	}
	return b.configured
}

// Ready implements Listener.
func (b *Binding) Ready(context.Context) error {
	b.mu.Lock()
	addr, serving := b.bound, b.bound != ""
	b.mu.Unlock()
	if !serving {
		return fmt.Errorf("%s %s: not listening", b.name, b.Addr())
	}
	if b.valid != nil {
		if err := b.valid(time.Now()); err != nil {
			return fmt.Errorf("%s %s: %w", b.name, addr, err)
		}
	}
	return nil
}

// LimitConnections caps the connections the listener holds open at once
// at max (0: no cap), from the next Serve on; log receives what the
// accept gate reports (nil: nothing). The cap is also at most an eighth of
// the process's open-file limit (RLIMIT_NOFILE, `ulimit -n`), so that one
// full listener leaves descriptors for the others, the data files and the
// API server; Serve logs when it lowers the cap.
//
// When the listener is full, a new connection closes an open one that
// has no request in flight (see ConnBusy): first the oldest that was never
// answered (a client that connects and sends nothing, or never finishes
// its handshake), then the one answered least recently; a well-behaved
// client is served. When every open connection has a request in flight,
// the new connection is closed instead. Both are counted (ConnStats) and
// logged at most every ten seconds.
func (b *Binding) LimitConnections(max int, log *zap.Logger) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.maxConns, b.log = max, log
}

// ConnBusy records that a request on the connection from remote (its
// remote address, as http.Request.RemoteAddr or
// net.Conn.RemoteAddr().String() give it) is in flight: the connection is
// not closed to make room until ConnIdle. Servers call it when they start
// answering a request (gRPC: when a stream first sends).
func (b *Binding) ConnBusy(remote string) {
	if g := b.gate.Load(); g != nil {
		g.busy(remote)
	}
}

// ConnIdle records that a request ConnBusy announced has ended, answered
// or not. A connection whose requests were answered is closed to make room
// only after every connection that never was.
func (b *Binding) ConnIdle(remote string, answered bool) {
	if g := b.gate.Load(); g != nil {
		g.idle(remote, answered)
	}
}

// Answering wraps an HTTP handler: a request's connection is busy while
// next runs, and answered when it returns.
func (b *Binding) Answering(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.ConnBusy(r.RemoteAddr)
		defer b.ConnIdle(r.RemoteAddr, true)
		next.ServeHTTP(w, r)
	})
}

// ConnStats are a listener's connection counts.
type ConnStats struct {
	// Open connections now, and the cap (0: none).
	Open, Max int
	// Accepted connections since the binding was made.
	Accepted uint64
	// Evicted: idle connections closed to make room for a new one while
	// the listener was full.
	Evicted uint64
	// Refused: new connections closed at once because every open
	// connection had a request in flight.
	Refused uint64
	// AcceptErrors: accepts that failed for want of file descriptors or
	// memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) and were retried later.
	AcceptErrors uint64
}

// ConnStats returns the listener's connection counts.
func (b *Binding) ConnStats() ConnStats {
	st := ConnStats{
		Accepted:     b.stats.accepted.Load(),
		Evicted:      b.stats.evicted.Load(),
		Refused:      b.stats.refused.Load(),
		AcceptErrors: b.stats.acceptErrors.Load(),
	}
	if g := b.gate.Load(); g != nil {
		g.mu.Lock()
		st.Open, st.Max = len(g.conns), g.max
		g.mu.Unlock()
	}
	return st
}

// EarlyStop runs a listener's drain once per serve, in the background:
// from Begin, which a hook that stops before every listener's calls when
// the plane's stop begins, so that the listeners drain at once instead of
// one after another; or from Wait, the listener's own Stop, which then
// waits for it. The zero value is ready.
type EarlyStop struct {
	mu     sync.Mutex
	done   chan struct{}      // closed when the drain returned; nil: not begun
	cancel context.CancelFunc // ends the drain's context early
}

// Begin runs drain in the background with a context that is done after
// timeout, unless a drain was begun already. drain lets what is in flight
// finish until its context is done, then closes what remains.
func (e *EarlyStop) Begin(timeout time.Duration, drain func(ctx context.Context)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	done := make(chan struct{})
	e.done, e.cancel = done, cancel
	go func() {
		defer close(done)
		defer cancel()
		drain(ctx)
	}()
}

// Wait begins the drain unless it was begun, and waits until it returned;
// when ctx is done first, the drain's context is ended so that it closes
// what remains at once. The next Begin or Wait drains again (a listener
// may serve again after a stop).
func (e *EarlyStop) Wait(ctx context.Context, timeout time.Duration, drain func(ctx context.Context)) {
	e.Begin(timeout, drain)
	e.mu.Lock()
	done, cancel := e.done, e.cancel
	e.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		cancel()
		<-done
	}
	e.mu.Lock()
	if e.done == done {
		e.done, e.cancel = nil, nil
	}
	e.mu.Unlock()
}

// ShutdownHTTP is a drain for EarlyStop: s's graceful shutdown until ctx
// is done, then closing what remains (and calling forced, if not nil, to
// say so). Idle connections are closed at once.
func ShutdownHTTP(s *http.Server, forced func()) func(ctx context.Context) {
	return func(ctx context.Context) {
		if err := s.Shutdown(ctx); err != nil {
			if forced != nil {
				forced()
			}
			_ = s.Close()
		}
	}
}

type connCounters struct {
	accepted, evicted, refused, acceptErrors atomic.Uint64
}

// fdShare: one listener may hold at most 1/fdShare of the open-file limit.
const fdShare = 8

// fileLimitForTest, when not 0, is what openFileLimit returns.
var fileLimitForTest atomic.Uint64

// openFileLimit returns the process's soft RLIMIT_NOFILE.
func openFileLimit() (uint64, error) {
	if v := fileLimitForTest.Load(); v != 0 {
		return v, nil
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	return rl.Cur, nil
}

// effectiveMax is max, lowered to a share of the open-file limit.
func (b *Binding) effectiveMax(max int, log *zap.Logger) int {
	if max <= 0 {
		return 0
	}
	limit, err := openFileLimit()
	if err != nil || limit == 0 || limit >= uint64(1)<<40 { // unknown or unlimited
		return max
	}
	share := int(max64(limit/fdShare, 1))
	if max > share {
		log.Info("connection cap lowered to fit the open-file limit; raise it (ulimit -n) for more",
			zap.String("listener", b.name), zap.String("addr", b.configured),
			zap.Int("maxConnections", max), zap.Int("lowered", share), zap.Uint64("openFileLimit", limit))
		return share
	}
	return max
}

func max64(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// Backoff of an accept that failed for want of descriptors: from
// minAcceptBackoff, doubling up to maxAcceptBackoff (net/http's values).
const (
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = time.Second
)

// logEvery is how often the gate logs evictions and refusals at most.
const logEvery = 10 * time.Second

// gate is the listener a Binding serves on: it caps and tracks the open
// connections and retries accepts that fail for want of resources.
type gate struct {
	net.Listener
	b      *Binding
	max    int
	log    *zap.Logger
	closed chan struct{}
	once   sync.Once

	mu       sync.Mutex
	conns    map[string]*gatedConn // open connections by remote address
	unserved list.List             // idle, never answered: oldest accepted first
	served   list.List             // idle, answered: least recently answered first
	evicts   logLimit
	refusals logLimit
}

// logLimit lets one kind of message through at most every logEvery.
type logLimit struct {
	last  time.Time // logged last
	quiet int       // not logged since
}

func newGate(l net.Listener, b *Binding, max int, log *zap.Logger) *gate {
	return &gate{Listener: l, b: b, max: max, log: log, closed: make(chan struct{}), conns: map[string]*gatedConn{}}
}

// Close closes the listener and ends a pending backoff.
func (g *gate) Close() error {
	g.once.Do(func() { close(g.closed) })
	return g.Listener.Close()
}

// Accept returns the next connection admitted. An accept that fails for
// want of resources is retried after a growing delay (logged once per
// episode, counted); another error is returned.
func (g *gate) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			if !exhausted(err) {
				return nil, err
			}
			g.b.stats.acceptErrors.Add(1)
			if delay == 0 {
				g.log.Warn("accept failed for want of resources; retrying with backoff until connections close",
					zap.String("listener", g.b.name), zap.String("addr", g.Addr().String()), zap.Error(err))
				delay = minAcceptBackoff
			} else {
				delay = min(2*delay, maxAcceptBackoff)
			}
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-g.closed:
				t.Stop()
				return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: g.Addr(), Err: net.ErrClosed}
			}
			continue
		}
		if delay > 0 {
			g.log.Info("accepting again", zap.String("listener", g.b.name), zap.String("addr", g.Addr().String()))
			delay = 0
		}
		if gc := g.admit(c); gc != nil {
			return gc, nil
		}
	}
}

// exhausted reports an accept error that more descriptors or memory would
// have avoided.
func exhausted(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// admit tracks c; when the listener is full it first closes an idle
// connection (never answered first, then least recently answered) or, if
// every one is busy, closes c and returns nil.
func (g *gate) admit(c net.Conn) *gatedConn {
	gc := &gatedConn{Conn: c, g: g, key: c.RemoteAddr().String()}
	var victim *gatedConn
	g.mu.Lock()
	if g.max > 0 && len(g.conns) >= g.max {
		front := g.unserved.Front()
		if front == nil {
			front = g.served.Front()
		}
		if front == nil {
			g.mu.Unlock()
			g.b.stats.refused.Add(1)
			g.report(&g.refusals, "listener full of connections with requests in flight: closing a new one", gc.key)
			_ = c.Close()
			return nil
		}
		victim = front.Value.(*gatedConn)
		g.forgetLocked(victim)
	}
	gc.list, gc.elem = &g.unserved, g.unserved.PushBack(gc)
	g.conns[gc.key] = gc
	g.mu.Unlock()
	g.b.stats.accepted.Add(1)
	if victim != nil {
		g.b.stats.evicted.Add(1)
		g.report(&g.evicts, "listener full: closing an idle connection, the oldest never answered first", victim.key)
		_ = victim.Conn.Close()
	}
	return gc
}

// report logs an eviction or a refusal, each kind at most every logEvery.
func (g *gate) report(limit *logLimit, msg, remote string) {
	g.mu.Lock()
	now := time.Now()
	if now.Sub(limit.last) < logEvery {
		limit.quiet++
		g.mu.Unlock()
		return
	}
	quiet := limit.quiet
	limit.last, limit.quiet = now, 0
	g.mu.Unlock()
	g.log.Warn(msg, zap.String("listener", g.b.name), zap.String("addr", g.Addr().String()),
		zap.Int("maxConnections", g.max), zap.String("closed", remote), zap.Int("moreSinceLastLog", quiet))
}

// unlistLocked takes c off the idle lists.
func (c *gatedConn) unlistLocked() {
	if c.elem != nil {
		c.list.Remove(c.elem)
		c.list, c.elem = nil, nil
	}
}

// forgetLocked stops tracking c.
func (g *gate) forgetLocked(c *gatedConn) {
	if g.conns[c.key] == c {
		delete(g.conns, c.key)
	}
	c.unlistLocked()
}

func (g *gate) busy(remote string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c := g.conns[remote]; c != nil {
		c.inFlight++
		c.unlistLocked()
	}
}

func (g *gate) idle(remote string, answered bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.conns[remote]
	if c == nil || c.inFlight == 0 {
		return
	}
	c.answered = c.answered || answered
	if c.inFlight--; c.inFlight > 0 {
		return
	}
	if c.answered {
		c.list, c.elem = &g.served, g.served.PushBack(c) // the most recently answered last
	} else {
		c.list, c.elem = &g.unserved, g.unserved.PushBack(c)
	}
}

// gatedConn is a connection the gate tracks until it is closed.
type gatedConn struct {
	net.Conn
	g   *gate
	key string

	// Guarded by g.mu.
	inFlight int           // requests in flight (ConnBusy)
	answered bool          // a request was answered
	list     *list.List    // the idle list it is on, nil while busy or closed
	elem     *list.Element // its element there
}

// Close stops tracking c and closes it.
func (c *gatedConn) Close() error {
	c.g.mu.Lock()
	c.g.forgetLocked(c)
	c.g.mu.Unlock()
	return c.Conn.Close()
}
