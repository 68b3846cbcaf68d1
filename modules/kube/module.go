package kube

import (
	"go.uber.org/fx"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Module provides kubernetes.Interface and *rest.Config, and Kubernetes
// mode's parts (see the package doc). It needs a *zap.Logger.
func Module(opts Options) fx.Option {
	opts.SetDefaults()
	return fx.Module("kube",
		fx.Supply(fx.Private, opts),
		fx.Provide(provideConfig, provideClient),
		// Connect at build time, whatever uses the client: an API server
		// that does not answer fails the plane before anything starts.
		fx.Invoke(func(kubernetes.Interface) {}),
		caStoreOption(),
		tokenReviewOption(),
		rootDistributionOption(opts),
	)
}

func provideConfig(opts Options) (*rest.Config, error) { return RESTConfig(opts) }

func provideClient(cfg *rest.Config, opts Options, log *zap.Logger) (kubernetes.Interface, error) {
	return Connect(cfg, opts, log.Named("kube"))
}
