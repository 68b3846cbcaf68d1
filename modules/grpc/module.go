package grpc

import (
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/modules/dnscert"
	"github.com/bootgraph/bootgraph/modules/plane"
)

// Module provides *Server, the secure gRPC listener, and adds it to the
// plane's listeners. It needs *dnscert.Bundle and a *zap.Logger.
func Module(opts Options) fx.Option {
	opts.SetDefaults()
	return fx.Module("grpc",
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
	Services  []Service `group:"grpc.services"`
}

func provideServer(p serverParams) plane.ListenerResult[*Server] {
	return plane.Serve(p.Lifecycle, NewServer(p.Options, p.Bundle, p.Log.Named("grpc"), p.Services))
}
