package component

import (
	"context"
	"fmt"
	"reflect"

	"go.uber.org/fx"
)

// Value-group names. Join them with the helpers below (ListenerOut,
// Serve, Listen, Announce), not with tags written by hand.
const (
	// GroupListeners collects every Listener; readiness and the CA's Run
	// depend on the whole group, so they come after every listener.
	GroupListeners = "bootgraph.listeners"
	// GroupListenAddrs collects each listener's configured address.
	GroupListenAddrs = "bootgraph.listen-addrs"
)

// Listener is implemented by every network listener of the plane. Readiness
// is the conjunction of every listener's Ready.
type Listener interface {
	// Name identifies the listener in logs and errors, e.g. "secure-grpc".
	Name() string
	// Addr is the bound address once started, else the configured one.
	Addr() string
	// Ready returns nil when the listener is bound and serving a certificate
	// that is valid now, else an error that says why not.
	Ready(ctx context.Context) error
}

// Server is a listener that starts and stops.
type Server interface {
	Listener
	// Start binds and serves in the background; its error names the
	// listener and the address.
	Start(ctx context.Context) error
	// Stop drains until ctx is done, then closes what remains. It is safe
	// before Start and more than once.
	Stop(ctx context.Context) error
}

// ListenerOut adds a Listener to GroupListeners from a constructor.
type ListenerOut struct {
	fx.Out
	Listener Listener `group:"bootgraph.listeners"`
}

// ListenersIn receives every Listener of the plane.
type ListenersIn struct {
	fx.In
	Listeners []Listener `group:"bootgraph.listeners"`
}

// Served is what a listener's constructor provides: the server itself, and
// the server as one of the plane's listeners.
type Served[S Server] struct {
	fx.Out
	Server   S
	Listener Listener `group:"bootgraph.listeners"`
}

// Serve appends s's Start and Stop to the lifecycle and returns s for the
// plane. Call it from a listener's constructor: the listener is then
// started after what the constructor needs, before anything that needs
// every listener, and stopped in reverse.
func Serve[S Server](lc fx.Lifecycle, s S) Served[S] {
	lc.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	return Served[S]{Server: s, Listener: s}
}

// Listen adds a listener of a program's own to the plane. ctor builds it
// from the graph (a *servingcert.Bundle, say) and returns S or (S, error).
// The listener then starts after what ctor needs and before anything that
// needs every listener (the CA's background work), stops in reverse, counts
// in readiness, and starts whether or not anything else needs it.
//
//	component.Listen[*MyServer](func(b *servingcert.Bundle) (*MyServer, error) { ... })
func Listen[S Server](ctor any) fx.Option {
	t := reflect.TypeOf(ctor)
	want := reflect.TypeFor[S]()
	if t == nil || t.Kind() != reflect.Func || t.NumOut() < 1 || t.Out(0) != want {
		return fx.Error(fmt.Errorf("component.Listen[%v]: want a constructor returning %v or (%v, error), got %v", want, want, want, t))
	}
	return fx.Options(
		fx.Provide(fx.Annotate(ctor,
			fx.OnStart(func(ctx context.Context, s S) error { return s.Start(ctx) }),
			fx.OnStop(func(ctx context.Context, s S) error { return s.Stop(ctx) }),
		)),
		fx.Provide(asListener[S]),
		fx.Invoke(func(S) {}), // a listener in the composition always starts
	)
}

func asListener[S Server](s S) ListenerOut { return ListenerOut{Listener: s} }

// ListenAddr is a listener's configured address, announced before the
// listener is built, for parts that must know it earlier: the serving
// certificate names loopback when a listener binds it.
type ListenAddr struct {
	// Listener is the listener's name, e.g. "secure-grpc".
	Listener string
	// Addr is the configured "host:port".
	Addr string
}

// ListenAddrsIn receives every announced ListenAddr.
type ListenAddrsIn struct {
	fx.In
	Addrs []ListenAddr `group:"bootgraph.listen-addrs"`
}

// Announce adds a listener's configured address to GroupListenAddrs.
func Announce(listener, addr string) fx.Option {
	return fx.Supply(fx.Annotate(ListenAddr{Listener: listener, Addr: addr},
		fx.ResultTags(`group:"`+GroupListenAddrs+`"`)))
}

// GroupChecks collects readiness checks of parts that are not listeners
// (the CA's signing certificate, say); /ready reports each.
const GroupChecks = "bootgraph.checks"

// Check is a readiness check of a part that is not a listener.
type Check struct {
	// Name identifies it in /ready, e.g. "ca".
	Name string
	// Ready returns nil when the part can do its work now, else why not.
	Ready func(ctx context.Context) error
}

// ChecksIn receives every Check of the plane.
type ChecksIn struct {
	fx.In
	Checks []Check `group:"bootgraph.checks"`
}

// ProvideCheck adds the check ctor builds from the graph (ctor returns a
// Check) to the plane's readiness.
func ProvideCheck(ctor any) fx.Option {
	return fx.Provide(fx.Annotate(ctor, fx.ResultTags(`group:"`+GroupChecks+`"`)))
}
