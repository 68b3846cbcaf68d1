package webhook

import (
	"go.uber.org/fx"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"

	"github.com/bootgraph/bootgraph/modules/dnscert"
	"github.com/bootgraph/bootgraph/modules/plane"
)

// Module provides *Server, the HTTPS webhook listener, and adds it to the
// plane's listeners. It needs *dnscert.Bundle and a *zap.Logger; handlers
// join through the "webhook.handlers" group. When the graph has a
// kubernetes.Interface (the kube module) and opts.Patch selects webhook
// configurations, it also runs a Patcher of their caBundle.
func Module(opts Options) fx.Option {
	opts.SetDefaults()
	options := []fx.Option{
		fx.Supply(fx.Private, opts),
		fx.Provide(provideServer),
		fx.Invoke(func(*Server) {}), // a listener in the composition always starts
	}
	if opts.Patch.Enabled() {
		options = append(options, fx.Invoke(registerPatcher))
	}
	return fx.Module("webhook", options...)
}

type patcherParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Options   Options
	Bundle    *dnscert.Bundle
	Log       *zap.Logger
	// Server orders the patcher's hook after the listener's: the caBundle
	// is published once the server serves.
	Server *Server
	// Client comes from the kube module (Kubernetes mode).
	Client kubernetes.Interface
}

// registerPatcher runs a Patcher of the configurations opts select. It
// needs a Kubernetes client: patch targets in a plane without the kube
// module fail the composition, naming it.
func registerPatcher(p patcherParams) error {
	patcher, err := NewPatcher(p.Client, p.Bundle, p.Options.Patch, p.Log.Named("webhook.patch"))
	if err != nil {
		return err
	}
	plane.AppendRunner(p.Lifecycle, patcher.Run)
	return nil
}

type serverParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Options   Options
	Bundle    *dnscert.Bundle
	Log       *zap.Logger
	Handlers  []Handler `group:"webhook.handlers"`
}

func provideServer(p serverParams) (plane.ListenerResult[*Server], error) {
	s, err := NewServer(p.Options, p.Bundle, p.Log.Named("webhook"), p.Handlers)
	if err != nil {
		return plane.ListenerResult[*Server]{}, err
	}
	return plane.Serve(p.Lifecycle, s), nil
}
