package xds

import (
	"fmt"
	"reflect"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/ca"
	grpcmod "github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

// Part describes the xDS server to the config layer and the engine.
var Part = component.Define[Options](component.Definition[Options]{
	Name: "xds",
	Doc: "the xDS server on the secure gRPC listener, as istiod's: ADS (state of the world and delta) from " +
		"go-control-plane's snapshot cache, per node from Go and for all from a resources file",
	DefaultOn:    func(*Options, func(string) (string, bool)) bool { return false },
	DefaultOnDoc: "only when asked: --enable xds or xds.enabled: true",
	Provides:     []reflect.Type{reflect.TypeFor[*Snapshots](), reflect.TypeFor[*Server](), reflect.TypeFor[*Metrics]()},
	Flags: []component.Flag[Options]{
		{Name: "xds-resources", Path: "resourcesFile", Usage: "YAML or JSON file of xDS resources served to every node"},
	},
	Build: build,
})

func init() { component.Register(Part) }

// Module provides *Snapshots (publish resources per node), *Server and
// *Metrics, and registers ADS on the secure gRPC listener. It needs the
// grpc part (its *grpc.Drain) and a *zap.Logger; a *ca.CA (for the trust
// domain), the CA's authenticators and a prometheus.Registerer are used
// when the graph has them.
func Module(opts Options) fx.Option { return Part.Module(opts) }

func build(Options) []fx.Option {
	return []fx.Option{
		fx.Provide(provideMetrics, provideSnapshots, provideServer),
		grpcmod.ProvideService(func(s *Server) *Server { return s }),
		fx.Invoke(registerFile),
	}
}

type metricsParams struct {
	fx.In
	Registerer prometheus.Registerer `optional:"true"`
}

func provideMetrics(p metricsParams) *Metrics { return NewMetrics(p.Registerer) }

// snapshotsOut is the Snapshots and, with a resources file, its source.
type snapshotsOut struct {
	fx.Out
	Snapshots *Snapshots
	File      *FileSource
}

func provideSnapshots(opts Options, log *zap.Logger) (snapshotsOut, error) {
	log = log.Named("xds")
	snaps := NewSnapshots(log)
	out := snapshotsOut{Snapshots: snaps}
	if opts.ResourcesFile != "" {
		f, err := NewFileSource(opts.ResourcesFile, time.Duration(opts.ReloadInterval), snaps, log)
		if err != nil {
			return out, err
		}
		out.File = f
	}
	return out, nil
}

// registerFile re-reads the resources file while the plane runs.
func registerFile(lc fx.Lifecycle, f *FileSource) {
	if f != nil {
		component.AppendRunner(lc, f.Run)
	}
}

type serverParams struct {
	fx.In
	Options   Options
	Snapshots *Snapshots
	Drain     *grpcmod.Drain
	Log       *zap.Logger
	Metrics   *Metrics
	CA        *ca.CA `optional:"true"`
	// Bundle's roots are the listener's client-CA roots: what verifies a
	// caller's certificate.
	Bundle *servingcert.Bundle
	ca.AuthenticatorsIn
}

func provideServer(p serverParams) (*Server, error) {
	td, err := trustDomain(p.Options.TrustDomain, p.CA)
	if err != nil {
		return nil, err
	}
	return NewServer(p.Drain.Context(), p.Snapshots, ServerConfig{
		TrustDomain:    td,
		Roots:          p.Bundle.Roots,
		Authenticators: p.Authenticators,
		Log:            p.Log.Named("xds"),
		Metrics:        p.Metrics,
	}), nil
}

// trustDomain is the CA's, else the option's, else the default; an option
// that differs from the CA's is an error.
func trustDomain(opt string, c *ca.CA) (string, error) {
	switch {
	case c == nil && opt == "":
		return DefaultTrustDomain, nil
	case c == nil:
		return opt, nil
	case opt != "" && opt != c.TrustDomain():
		return "", fmt.Errorf("trust domain %q differs from the CA's %q: leave the option empty to use the CA's", opt, c.TrustDomain())
	}
	return c.TrustDomain(), nil
}
