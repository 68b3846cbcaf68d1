package dnscert

import (
	"context"

	"go.uber.org/fx"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"

	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/plane"
)

// Module provides *Bundle from the provider opts select. The istiod provider
// needs *ca.CA (the ca module); the kubernetes provider needs
// kubernetes.Interface (the kube module); the files provider needs neither.
func Module(opts Options) fx.Option {
	opts.SetDefaults()
	provide := fx.Provide(provideIstiod)
	switch opts.Provider {
	case ProviderFiles:
		provide = fx.Provide(provideFiles)
	case ProviderKubernetes:
		provide = fx.Provide(provideKubernetes)
	}
	options := []fx.Option{fx.Supply(fx.Private, opts), provide}
	if opts.ExportDir != "" {
		options = append(options, fx.Invoke(exportOnChange))
	}
	return fx.Module("dnscert", options...)
}

func provideIstiod(lc fx.Lifecycle, authority *ca.CA, opts Options, log *zap.Logger) (*Bundle, error) {
	p, err := NewIstiodProvider(authority, opts, log.Named("dnscert"))
	if err != nil {
		return nil, err
	}
	plane.AppendRunner(lc, p.Run)
	return p.Bundle(), nil
}

func provideFiles(lc fx.Lifecycle, opts Options, log *zap.Logger) (*Bundle, error) {
	p, err := NewFilesProvider(opts, log.Named("dnscert"))
	if err != nil {
		return nil, err
	}
	plane.AppendRunner(lc, p.Run)
	return p.Bundle(), nil
}

type kubernetesParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Client    kubernetes.Interface
	Options   Options
	Log       *zap.Logger
	// CA, when the plane has one, gives the roots trusted for client
	// certificates if servingCert.caCertFile is not set.
	CA *ca.CA `optional:"true"`
}

func provideKubernetes(p kubernetesParams) (*Bundle, error) {
	var caRoots func() []byte
	if p.CA != nil {
		caRoots = p.CA.RootPEM
	}
	prov, err := NewKubernetesProviderWithRoots(context.Background(), p.Client, p.Options, caRoots, p.Log.Named("dnscert"))
	if err != nil {
		return nil, err
	}
	plane.AppendRunner(p.Lifecycle, prov.Run)
	return prov.Bundle(), nil
}

func exportOnChange(b *Bundle, opts Options, log *zap.Logger) error {
	if err := Export(b, opts.ExportDir); err != nil {
		return err
	}
	b.Subscribe(func() {
		if err := Export(b, opts.ExportDir); err != nil {
			log.Error("exporting serving certificate failed", zap.Error(err))
		}
	})
	return nil
}
