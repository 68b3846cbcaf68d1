package ca

import (
	"fmt"
	"reflect"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/component/grpcservice"
)

// Part describes the CA to the config layer and the engine.
var Part = component.Define[Options](component.Definition[Options]{
	Name: "ca",
	Doc: "the certificate authority: a self-signed root (or a plugged-in CA) that signs workload " +
		"certificates through istio.v1.auth.IstioCertificateService on the secure gRPC server",
	Provides: []reflect.Type{reflect.TypeFor[*CA](), reflect.TypeFor[*Metrics]()},
	// istiod's variable, in its format: "ns/sa,ns/sa".
	Env:   []component.EnvVar{{Name: "CA_TRUSTED_NODE_ACCOUNTS", Path: "trustedNodeAccounts"}},
	Build: build,
})

func init() { component.Register(Part) }

// Module provides *CA and *Metrics, adds the CA's gRPC service to the secure
// server (grpcservice), and starts the CA's Run after every listener. It
// needs a *zap.Logger; a prometheus.Registerer, a component.Env, a
// component.Cluster and a Store are used when the graph has them.
func Module(opts Options) fx.Option { return Part.Module(opts) }

func build(Options) []fx.Option {
	return []fx.Option{
		fx.Decorate(resolveOptions),
		fx.Provide(provideMetrics, provideCA, provideService, provideLocalTokens),
		component.ProvideCheck(readiness),
		component.ProvideCheck(reloadReadiness),
		fx.Invoke(registerRun),
	}
}

type resolveParams struct {
	fx.In
	Options Options
	component.EnvIn
	component.ClusterIn
}

// resolveOptions fills the options that depend on where the plane runs.
func resolveOptions(p resolveParams) Options { return p.Options.resolve(p.Get(), p.Cluster != nil) }

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
		p.Store = FileStore{Dir: p.Options.DataDir, Log: p.Log.Named("ca")}
	}
	return NewFromStore(p.Options, p.Store, p.Log.Named("ca"), p.Metrics)
}

// readiness is the CA's check in /ready: it fails while the signing
// certificate (or an issuer) has expired or is not valid yet.
func readiness(c *CA) component.Check { return component.Check{Name: "ca", Ready: c.Ready} }

// reloadReadiness is the CA's second check in /ready ("ca-reload"): it
// fails while the last change of a plugged-in CA (or of the stored root)
// was refused, saying why; the CA keeps signing with the previous set.
func reloadReadiness(c *CA) component.Check {
	return component.Check{Name: "ca-reload", Ready: c.ReloadReady}
}

// localTokens is the token-file authenticator, when the options have a
// token file.
type localTokens struct {
	fx.Out
	Authenticators []Authenticator `group:"ca.authenticators,flatten"`
}

func provideLocalTokens(opts Options, log *zap.Logger) (localTokens, error) {
	if opts.TokenFile == "" {
		return localTokens{}, nil
	}
	if opts.CreateTokenFile {
		created, err := EnsureTokenFile(opts.TokenFile)
		if err != nil {
			return localTokens{}, err
		}
		if created {
			log.Named("ca").Info("created token file for local clients", zap.String("path", opts.TokenFile))
		}
	}
	a, err := NewTokenFileAuthenticator(opts.TokenFile, opts.TrustDomain)
	if err != nil {
		return localTokens{}, err
	}
	return localTokens{Authenticators: []Authenticator{a}}, nil
}

// AuthenticatorsIn receives every Authenticator added with Authenticate
// or ProvideAuthenticator (the client certificate is not among them: the
// service always tries it first).
type AuthenticatorsIn struct {
	fx.In
	Authenticators []Authenticator `group:"ca.authenticators"`
}

type serviceParams struct {
	fx.In
	CA  *CA
	Log *zap.Logger
	AuthenticatorsIn
	// Nodes checks impersonation against pods' nodes (the kube part).
	Nodes NodeAuthorizer `optional:"true"`
}

func provideService(p serviceParams) grpcservice.Out {
	svc := NewService(p.CA, p.Log.Named("ca.server"), p.Authenticators)
	if p.Nodes != nil {
		svc.WithNodeAuthorizer(p.Nodes)
	}
	return grpcservice.Out{Service: svc}
}

// registerRun appends the CA's Run. It depends on every listener, so its hook
// is appended after theirs: it starts last and stops first. The listeners
// come first among its parameters: a listener that cannot be built (a
// missing certificate file, say) fails the plane before a CA key is made.
func registerRun(lc fx.Lifecycle, _ component.ListenersIn, ca *CA) {
	component.AppendRunner(lc, ca.Run)
}

// Authenticate adds a of a program's own to the CA's authenticators, tried
// after the client certificate in Name order.
func Authenticate(a Authenticator) fx.Option {
	return fx.Supply(fx.Annotate(a, fx.As(new(Authenticator)), fx.ResultTags(`group:"`+GroupAuthenticators+`"`)))
}

// ProvideAuthenticator adds the authenticator ctor builds from the graph
// (the kube part's TokenReview needs a Kubernetes client). ctor returns an
// Authenticator, or something that implements it, and optionally an error.
func ProvideAuthenticator(ctor any) fx.Option {
	t := reflect.TypeOf(ctor)
	if t == nil || t.Kind() != reflect.Func || t.NumOut() < 1 || !t.Out(0).Implements(reflect.TypeFor[Authenticator]()) {
		return fx.Error(fmt.Errorf("ca.ProvideAuthenticator: want a constructor whose first result implements ca.Authenticator, got %v", t))
	}
	return fx.Provide(fx.Annotate(ctor, fx.As(new(Authenticator)), fx.ResultTags(`group:"`+GroupAuthenticators+`"`)))
}
