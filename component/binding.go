package component

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Binding is the skeleton every listener of the plane shares: binding the
// configured address (an error names the listener and the address),
// serving in the background, shutting down within a deadline, the bound
// address, and readiness (bound, and serving a certificate that is valid
// now). A listener embeds it and gets Name, Addr and Ready.
type Binding struct {
	name       string
	configured string
	valid      func(time.Time) error

	mu       sync.Mutex
	bound    string        // the bound address while serving, else ""
	listener net.Listener  // the bound listener while serving
	done     chan struct{} // closed when the serve function returned
	served   error         // what it returned
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
func (b *Binding) Serve(serve func(net.Listener) error) error {
	l, err := b.Listen()
	if err != nil {
		return err
	}
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
