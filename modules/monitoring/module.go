package monitoring

import (
	"reflect"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/component"
)

// Part describes the monitoring listener to the config layer and the engine.
var Part = component.Define[Options](component.Definition[Options]{
	Name:     "monitoring",
	Doc:      "the monitoring listener (istiod's 15014): /metrics, /ready for every listener, /healthz",
	Provides: []reflect.Type{reflect.TypeFor[*Server]()},
	Flags:    []component.Flag[Options]{{Name: "monitoring-addr", Path: "addr", Usage: "monitoring listen address"}},
	Build:    build,
})

func init() { component.Register(Part) }

// Module provides *Server and starts it after every listener of the plane.
func Module(opts Options) fx.Option { return Part.Module(opts) }

func build(Options) []fx.Option {
	return []fx.Option{fx.Provide(provideServer), fx.Invoke(start)}
}

// start asks for the server: a listener in the composition always starts.
func start(*Server) {}

type serverParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Options   Options
	Log       *zap.Logger
	Gatherer  prometheus.Gatherer `optional:"true"`
	component.ListenersIn
	component.ChecksIn
}

func provideServer(p serverParams) *Server {
	s := NewServer(p.Options, p.Log.Named("monitoring"), p.Gatherer, p.Listeners)
	s.checks = p.Checks
	p.Lifecycle.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	return s
}
