package ca

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/modules/plane"
)

// Module provides *CA and *Metrics, adds the CA's gRPC service to the secure
// server's service group, and starts the CA's Run after every listener.
//
// It needs a *zap.Logger; a prometheus.Registerer is optional.
func Module(opts Options) fx.Option {
	opts.SetDefaults()
	options := []fx.Option{
		fx.Supply(fx.Private, opts),
		fx.Provide(provideMetrics, provideCA, provideService),
		fx.Invoke(registerRun),
	}
	if opts.TokenFile != "" {
		options = append(options, fx.Provide(fx.Annotate(provideTokenFileAuthenticator,
			fx.ResultTags(`group:"`+GroupAuthenticators+`"`))))
	}
	return fx.Module("ca", options...)
}

type metricsParams struct {
	fx.In
	Registerer prometheus.Registerer `optional:"true"`
}

func provideMetrics(p metricsParams) *Metrics { return NewMetrics(p.Registerer) }

type caParams struct {
	fx.In
	Options Options
	Log     *zap.Logger
	Metrics *Metrics
	// Store is where the root lives; without one, the local data directory.
	Store Store `optional:"true"`
}

func provideCA(p caParams) (*CA, error) {
	if p.Store == nil {
		p.Store = FileStore{Dir: p.Options.DataDir}
	}
	return NewFromStore(p.Options, p.Store, p.Log.Named("ca"), p.Metrics)
}

func provideTokenFileAuthenticator(opts Options, log *zap.Logger) (Authenticator, error) {
	log = log.Named("ca")
	if opts.CreateTokenFile {
		created, err := EnsureTokenFile(opts.TokenFile)
		if err != nil {
			return nil, err
		}
		if created {
			log.Info("created token file for local clients", zap.String("path", opts.TokenFile))
		}
	}
	return NewTokenFileAuthenticator(opts.TokenFile, opts.TrustDomain)
}

type serviceParams struct {
	fx.In
	CA             *CA
	Log            *zap.Logger
	Authenticators []Authenticator `group:"ca.authenticators"`
}

func provideService(p serviceParams) plane.GRPCServiceOut {
	return plane.GRPCServiceOut{Service: NewService(p.CA, p.Log.Named("ca.server"), p.Authenticators)}
}

// registerRun appends the CA's Run. It depends on every listener, so its hook
// is appended after theirs: it starts last and stops first.
func registerRun(lc fx.Lifecycle, ca *CA, _ plane.ListenersIn) {
	plane.AppendRunner(lc, ca.Run)
}
