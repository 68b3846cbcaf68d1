package dns

import (
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/modules/dnscert"
	"github.com/bootgraph/bootgraph/modules/plane"
)

// Module provides *Server, the DNS-over-TLS listener, and adds it to the
// plane's listeners. It needs *dnscert.Bundle and a *zap.Logger; records
// join through the "dns.records" group (RecordOut).
func Module(opts Options) fx.Option {
	opts.SetDefaults()
	return fx.Module("dns",
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
	Records   []Record `group:"dns.records"`
}

func provideServer(p serverParams) (plane.ListenerResult[*Server], error) {
	s, err := NewServer(p.Options, p.Bundle, p.Log.Named("dns"), p.Records)
	if err != nil {
		return plane.ListenerResult[*Server]{}, err
	}
	return plane.Serve(p.Lifecycle, s), nil
}
