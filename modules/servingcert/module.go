package servingcert

import (
	"fmt"
	"reflect"
	"sync"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/ca"
)

// Part describes the serving certificate to the config layer and the engine.
var Part = component.Define[Options](component.Definition[Options]{
	Name: "servingCert",
	Doc: "the plane's serving certificate (istiod's \"DNS cert\") that every TLS listener presents, " +
		"from the CA (istiod), your files, or the Kubernetes CSR API",
	Provides: []reflect.Type{reflect.TypeFor[*Bundle]()},
	Hints: []component.Hint{
		{
			Type: reflect.TypeFor[*ca.CA](),
			Go: "Without a CA, the files provider serves a certificate of your own: " +
				"servingcert.Module(servingcert.Options{CertFile: ..., KeyFile: ...})",
			Config: "Without a CA, the files provider serves a certificate of your own: " +
				"servingCert.certFile and servingCert.keyFile (--tlsCertFile, --tlsKeyFile)",
		},
	},
	Flags: []component.Flag[Options]{
		{Name: "tlsCertFile", Path: "certFile", Usage: "istiod's serving certificate chain file; selects the files provider",
			Then: func(o *Options) { o.Provider = ProviderFiles }},
		{Name: "tlsKeyFile", Path: "keyFile", Usage: "istiod's serving key file; selects the files provider",
			Then: func(o *Options) { o.Provider = ProviderFiles }},
		{Name: "caCertFile", Path: "caCertFile", Usage: "istiod's roots trusted for client certificates"},
	},
	Env:   []component.EnvVar{{Name: "PILOT_CERT_PROVIDER", Path: "provider"}},
	Build: build,
})

func init() { component.Register(Part) }

// Module provides *Bundle from the provider opts select. The istiod
// provider needs *ca.CA (the ca part); the kubernetes provider needs
// *kubeapi.Client (the kube part) and its package,
// modules/servingcert/kubecsr, linked in; the files provider needs
// neither.
func Module(opts Options) fx.Option { return Part.Module(opts) }

// registered are the providers other packages add with RegisterProvider.
var registered sync.Map // provider name -> func(Options) fx.Option

// RegisterProvider makes the provider name build with provide, which
// returns the fx options that provide *Bundle. The package of a provider
// that needs heavy dependencies calls it from init, so that only programs
// that import it link them: the kubernetes provider lives in
// modules/servingcert/kubecsr, which config.Builtin imports, and a
// CA-only plane links no client-go.
func RegisterProvider(name string, provide func(Options) fx.Option) {
	registered.Store(name, provide)
}

func build(opts Options) []fx.Option {
	provide := fx.Provide(provideIstiod)
	switch opts.Provider {
	case ProviderFiles:
		provide = fx.Provide(provideFiles)
	case ProviderKubernetes:
		provide = registeredProvider(opts)
	}
	options := []fx.Option{provide}
	if opts.ExportDir != "" {
		options = append(options, fx.Invoke(exportOnChange))
	}
	return options
}

// registeredProvider is the module of a provider another package
// registered, or an error that names the package to import.
func registeredProvider(opts Options) fx.Option {
	provide, ok := registered.Load(opts.Provider)
	if !ok {
		return fx.Error(fmt.Errorf("servingCert provider %q is not linked into this program: "+
			"import _ \"github.com/bootgraph/bootgraph/modules/servingcert/kubecsr\" (config.Builtin does)", opts.Provider))
	}
	return provide.(func(Options) fx.Option)(opts)
}

// NamesIn are the facts the certificate's names come from, for a
// provider's constructor to take.
type NamesIn struct {
	fx.In
	component.EnvIn
	component.ClusterIn
	component.ListenAddrsIn
}

// Names are the certificate's names: the plane's own in its namespace, the
// extra ones, and loopback in local mode or when a listener binds it.
func (p NamesIn) Names(opts Options) []string {
	loopback := p.Cluster == nil
	for _, a := range p.Addrs {
		loopback = loopback || component.IsLoopback(a.Addr)
	}
	return opts.Names(p.Get().Namespace, loopback)
}

type istiodParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	CA        *ca.CA
	Options   Options
	Log       *zap.Logger
	Names     NamesIn
}

func provideIstiod(p istiodParams) (*Bundle, error) {
	prov, err := NewIstiodProvider(p.CA, p.Options, p.Names.Names(p.Options), p.Log.Named("servingcert"))
	if err != nil {
		return nil, err
	}
	component.AppendRunner(p.Lifecycle, prov.Run)
	return prov.Bundle(), nil
}

func provideFiles(lc fx.Lifecycle, opts Options, log *zap.Logger) (*Bundle, error) {
	p, err := NewFilesProvider(opts, log.Named("servingcert"))
	if err != nil {
		return nil, err
	}
	component.AppendRunner(lc, p.Run)
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
