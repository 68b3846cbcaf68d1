package webhook

import (
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/modules/dnscert"
	"github.com/bootgraph/bootgraph/modules/plane"
)

// Module provides *Server, the HTTPS webhook listener, and adds it to the
// plane's listeners. It needs *dnscert.Bundle and a *zap.Logger; handlers
// join through the "webhook.handlers" group.
func Module(opts Options) fx.Option {
	opts.SetDefaults()
	return fx.Module("webhook",
		fx.Supply(fx.Private, opts),
		fx.Provide(provideServer),
		fx.Invoke(func(*Server) {}), // a listener in the composition always starts
	)
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
