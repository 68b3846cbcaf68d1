package dns

import (
	"context"
	"reflect"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

// Part describes the DNS-over-TLS listener to the config layer and the engine.
var Part = component.Define[Options](component.Definition[Options]{
	Name: "dns",
	Doc: "the DNS-over-TLS listener (istiod's 15053, RFC 7858): the plane's own names (its serving " +
		"certificate's) and records that parts contribute",
	Provides: []reflect.Type{reflect.TypeFor[*Server]()},
	Flags:    []component.Flag[Options]{{Name: "dns-addr", Path: "addr", Usage: "DNS-over-TLS listen address"}},
	Build:    build,
})

func init() { component.Register(Part) }

// Module provides *Server, the DNS-over-TLS listener, and adds it to the
// plane's listeners. It needs *servingcert.Bundle and a *zap.Logger;
// records join with Records and ProvideRecords.
func Module(opts Options) fx.Option { return Part.Module(opts) }

func build(opts Options) []fx.Option {
	return []fx.Option{
		component.Announce(Name, opts.Addr),
		fx.Provide(provideServer),
		fx.Invoke(start, beginStop),
	}
}

// start asks for the server: a listener in the composition always starts.
func start(*Server) {}

// beginStop begins the server's drain when the plane's stop begins: its
// hook comes after every listener's, so it stops before them, and the
// listeners drain at once rather than one after another.
func beginStop(lc fx.Lifecycle, s *Server, _ component.ListenersIn) {
	lc.Append(fx.Hook{OnStop: func(context.Context) error { s.BeginStop(); return nil }})
}

// Records adds records the server answers for; each name must lie in one
// of its zones.
func Records(records ...Record) fx.Option {
	return fx.Supply(fx.Annotate(records, fx.ResultTags(`group:"`+GroupRecords+`,flatten"`)))
}

// ProvideRecords adds the records ctor builds from the graph; ctor returns
// []Record, optionally with an error.
func ProvideRecords(ctor any) fx.Option {
	return fx.Provide(fx.Annotate(ctor, fx.ResultTags(`group:"`+GroupRecords+`,flatten"`)))
}

type serverParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Options   Options
	Bundle    *servingcert.Bundle
	Log       *zap.Logger
	Records   []Record `group:"dns.records"`
	component.EnvIn
}

func provideServer(p serverParams) (component.Served[*Server], error) {
	opts := p.Options
	if len(opts.Zones) == 0 {
		opts.Zones = []string{p.Get().Namespace + ".svc."}
	}
	s, err := NewServer(opts, p.Bundle, p.Log.Named("dns"), p.Records)
	if err != nil {
		return component.Served[*Server]{}, err
	}
	return component.Serve(p.Lifecycle, s), nil
}
