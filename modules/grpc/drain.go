package grpc

import (
	"context"
	"sync"

	gogrpc "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Drain tells the secure server's services that it is stopping. A service
// with long-lived streams (xDS, watches) takes *Drain from the graph and
// ends its streams when Context is done, with codes.Unavailable so that its
// clients reconnect elsewhere; the server then stops within its drain
// deadline instead of waiting for the whole stop timeout.
//
// While draining, the server refuses new RPCs with codes.Unavailable.
type Drain struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	hooks []func()
}

// NewDrain returns a Drain that has not begun.
func NewDrain() *Drain {
	ctx, cancel := context.WithCancel(context.Background())
	return &Drain{ctx: ctx, cancel: cancel}
}

// Context is done once the drain has begun.
func (d *Drain) Context() context.Context { return d.ctx }

// Done is closed once the drain has begun.
func (d *Drain) Done() <-chan struct{} { return d.ctx.Done() }

// Draining reports whether the drain has begun.
func (d *Drain) Draining() bool { return d.ctx.Err() != nil }

// OnDrain runs f when the drain begins (at once if it has).
func (d *Drain) OnDrain(f func()) {
	d.mu.Lock()
	if !d.Draining() {
		d.hooks = append(d.hooks, f)
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()
	f()
}

// begin starts the drain, once.
func (d *Drain) begin() {
	d.mu.Lock()
	if d.Draining() {
		d.mu.Unlock()
		return
	}
	d.cancel()
	hooks := d.hooks
	d.hooks = nil
	d.mu.Unlock()
	for _, f := range hooks {
		f()
	}
}

// ErrDraining is the status of an RPC refused while the server drains.
var ErrDraining = status.Error(codes.Unavailable, "the server is shutting down; retry on another connection")

// unary refuses new unary RPCs while draining.
func (d *Drain) unary(ctx context.Context, req any, _ *gogrpc.UnaryServerInfo, next gogrpc.UnaryHandler) (any, error) {
	if d.Draining() {
		return nil, ErrDraining
	}
	return next(ctx, req)
}

// stream refuses new streams while draining.
func (d *Drain) stream(srv any, ss gogrpc.ServerStream, _ *gogrpc.StreamServerInfo, next gogrpc.StreamHandler) error {
	if d.Draining() {
		return ErrDraining
	}
	return next(srv, ss)
}
