package plane

import (
	"context"

	"go.uber.org/fx"
)

// Value-group names. A module joins a group by providing a value with
// fx.ResultTags(`group:"<name>"`) or an fx.Out field tagged with it.
const (
	// GroupListeners collects every Listener; readiness and the CA's Run
	// depend on the whole group, so they come after every listener.
	GroupListeners = "bootgraph.listeners"
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

// ListenerOut adds a Listener to GroupListeners.
type ListenerOut struct {
	fx.Out
	Listener Listener `group:"bootgraph.listeners"`
}

// ListenersIn receives every Listener of the plane.
type ListenersIn struct {
	fx.In
	Listeners []Listener `group:"bootgraph.listeners"`
}
