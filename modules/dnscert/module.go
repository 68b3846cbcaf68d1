package dnscert

import (
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/plane"
)

// Module provides *Bundle from the provider opts select. The istiod provider
// needs *ca.CA (the ca module); the files provider needs no CA.
func Module(opts Options) fx.Option {
	opts.SetDefaults()
	provide := fx.Provide(provideIstiod)
	if opts.Provider == ProviderFiles {
		provide = fx.Provide(provideFiles)
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
