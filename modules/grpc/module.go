package grpc

import (
	"context"
	"reflect"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

// Part describes the secure gRPC listener to the config layer and the engine.
var Part = component.Define[Options](component.Definition[Options]{
	Name: "grpc",
	Doc: "the secure gRPC listener (istiod's 15012): TLS with the serving certificate, client certificates " +
		"verified if given; every service registered before it serves",
	Provides: []reflect.Type{reflect.TypeFor[*Server](), reflect.TypeFor[*Health](), reflect.TypeFor[*Drain]()},
	Flags:    []component.Flag[Options]{{Name: "grpc-addr", Path: "addr", Usage: "secure gRPC listen address"}},
	Build:    build,
})

func init() { component.Register(Part) }

// Module provides *Server, the secure gRPC listener, and adds it to the
// plane's listeners. It needs *servingcert.Bundle and a *zap.Logger;
// services join with Register and ProvideService.
func Module(opts Options) fx.Option { return Part.Module(opts) }

func build(opts Options) []fx.Option {
	return []fx.Option{
		component.Announce(Name, opts.Addr),
		fx.Provide(NewHealth, NewDrain, provideServer),
		fx.Invoke(start, registerReadiness),
	}
}

// registerReadiness reports every service SERVING once every listener of
// the plane serves, and begins the drain before any listener stops: its
// hook comes after every listener's, so it starts after them and stops
// before them.
func registerReadiness(lc fx.Lifecycle, h *Health, d *Drain, _ component.ListenersIn) {
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { h.setReady(true); return nil },
		OnStop: func(context.Context) error {
			h.drain()
			d.begin()
			return nil
		},
	})
}

// start asks for the server: a listener in the composition always starts.
func start(*Server) {}

type serverParams struct {
	fx.In
	Lifecycle    fx.Lifecycle
	Options      Options
	Bundle       *servingcert.Bundle
	Log          *zap.Logger
	Services     []Service `group:"grpc.services"`
	Health       *Health
	Drain        *Drain
	Interceptors []Interceptor `group:"grpc.interceptors"`
}

func provideServer(p serverParams) component.Served[*Server] {
	return component.Serve(p.Lifecycle, newServer(p.Options, p.Bundle, p.Log.Named("grpc"), p.Services, p.Health, p.Drain, p.Interceptors))
}
