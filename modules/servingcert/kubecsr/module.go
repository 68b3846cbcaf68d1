package kubecsr

import (
	"context"
	"reflect"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/kube/kubeapi"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

func init() {
	servingcert.RegisterProvider(servingcert.ProviderKubernetes, func(servingcert.Options) fx.Option {
		return fx.Provide(provideKubernetes)
	})
	servingcert.Part.AddHint(component.Hint{
		Type:   reflect.TypeFor[*kubeapi.Client](),
		Go:     "Only the kubernetes provider needs a cluster; the istiod and files providers do not",
		Config: "Only servingCert.provider: kubernetes needs a cluster; istiod and files do not",
	})
}

type params struct {
	fx.In
	Lifecycle fx.Lifecycle
	Client    *kubeapi.Client
	Options   servingcert.Options
	Log       *zap.Logger
	Names     servingcert.NamesIn
	// CA, when the plane has one, gives the roots trusted for client
	// certificates if CACertFile is not set.
	CA *ca.CA `optional:"true"`
}

// provideKubernetes is the provider's constructor in the servingCert part's module.
func provideKubernetes(p params) (*servingcert.Bundle, error) {
	var caRoots func() []byte
	if p.CA != nil {
		caRoots = p.CA.RootPEM
	}
	prov, err := NewProviderWithRoots(context.Background(), p.Client, p.Options, p.Names.Names(p.Options), caRoots, p.Log.Named("servingcert"))
	if err != nil {
		return nil, err
	}
	if p.CA != nil && p.Options.CACertFile == "" {
		prov.FollowCA(p.CA.Changed)
	}
	component.AppendRunner(p.Lifecycle, prov.Run)
	return prov.Bundle(), nil
}
