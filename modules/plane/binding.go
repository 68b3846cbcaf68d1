package plane

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"go.uber.org/fx"
)

// Binding is what the plane's listeners share: binding the configured
// address (an error names the listener and the address), the bound address,
// and readiness — bound, and serving a certificate that is valid now. A
// listener embeds it and gets Name, Addr and Ready.
type Binding struct {
	name       string
	configured string
	valid      func(time.Time) error

	mu    sync.Mutex
	bound string // the bound address while serving, else ""
}

// NewBinding describes listener name on addr; valid, when not nil, reports
// whether its certificate is valid at a time (e.g. dnscert.Bundle.Valid).
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

// Serving records that the listener serves on addr; Ready can then be true.
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
	addr := b.Addr()
	b.mu.Lock()
	serving := b.bound != ""
	b.mu.Unlock()
	if !serving {
		return fmt.Errorf("%s %s: not listening", b.name, addr)
	}
	if b.valid != nil {
		if err := b.valid(time.Now()); err != nil {
			return fmt.Errorf("%s %s: %w", b.name, addr, err)
		}
	}
	return nil
}

// Server is a listener that starts and stops.
type Server interface {
	Listener
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// ListenerResult is what a listener module's constructor provides: the
// server, and the server as one of the plane's listeners.
type ListenerResult[S Server] struct {
	fx.Out
	Server   S
	Listener Listener `group:"bootgraph.listeners"`
}

// Serve appends s's Start and Stop to the lifecycle and returns it for the
// plane: constructed after what it needs, started in that order, stopped in
// reverse.
func Serve[S Server](lc fx.Lifecycle, s S) ListenerResult[S] {
	lc.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	return ListenerResult[S]{Server: s, Listener: s}
}
