package monitoring

import (
	"fmt"
	"reflect"
	"slices"

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
	Gatherer  prometheus.Gatherer   `optional:"true"`
	Registry  prometheus.Registerer `optional:"true"`
	component.ListenersIn
	component.ChecksIn
}

func provideServer(p serverParams) (*Server, error) {
	s := NewServer(p.Options, p.Log.Named("monitoring"), p.Gatherer, p.Listeners)
	s.checks = p.Checks
	if p.Registry != nil {
		// Every listener's connection counts, this one's included.
		if err := p.Registry.Register(newListenerCollector(append(slices.Clone(p.Listeners), s)...)); err != nil {
			return nil, fmt.Errorf("monitoring: registering the listeners' connection metrics: %w", err)
		}
	}
	p.Lifecycle.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	return s, nil
}
