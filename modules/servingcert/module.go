package servingcert

import (
	"context"
	"reflect"

	"go.uber.org/fx"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"

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
		{
			Type:   reflect.TypeFor[kubernetes.Interface](),
			Go:     "Only the kubernetes provider needs a cluster; the istiod and files providers do not",
			Config: "Only servingCert.provider: kubernetes needs a cluster; istiod and files do not",
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
// kubernetes.Interface (the kube part); the files provider needs neither.
func Module(opts Options) fx.Option { return Part.Module(opts) }

func build(opts Options) []fx.Option {
	provide := fx.Provide(provideIstiod)
	switch opts.Provider {
	case ProviderFiles:
		provide = fx.Provide(provideFiles)
	case ProviderKubernetes:
		provide = fx.Provide(provideKubernetes)
	}
	options := []fx.Option{provide}
	if opts.ExportDir != "" {
		options = append(options, fx.Invoke(exportOnChange))
	}
	return options
}

// namesParams are the facts the certificate's names come from.
type namesParams struct {
	fx.In
	component.EnvIn
	component.ClusterIn
	component.ListenAddrsIn
}

// names are the certificate's names: the plane's own in its namespace, the
// extra ones, and loopback in local mode or when a listener binds it.
func (p namesParams) names(opts Options) []string {
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
	Names     namesParams
}

func provideIstiod(p istiodParams) (*Bundle, error) {
	prov, err := NewIstiodProvider(p.CA, p.Options, p.Names.names(p.Options), p.Log.Named("servingcert"))
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

type kubernetesParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Client    kubernetes.Interface
	Options   Options
	Log       *zap.Logger
	Names     namesParams
	// CA, when the plane has one, gives the roots trusted for client
	// certificates if CACertFile is not set.
	CA *ca.CA `optional:"true"`
}

func provideKubernetes(p kubernetesParams) (*Bundle, error) {
	var caRoots func() []byte
	if p.CA != nil {
		caRoots = p.CA.RootPEM
	}
	prov, err := NewKubernetesProviderWithRoots(context.Background(), p.Client, p.Options, p.Names.names(p.Options), caRoots, p.Log.Named("servingcert"))
	if err != nil {
		return nil, err
	}
	if p.CA != nil && p.Options.CACertFile == "" {
		prov.FollowCA(p.CA.Changed)
	}
	component.AppendRunner(p.Lifecycle, prov.Run)
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
