package kube

import (
	"reflect"

	"go.uber.org/fx"
	"go.uber.org/zap"
	"k8s.io/client-go/rest"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/kube/kubeapi"
)

// EnvInCluster is set in every pod; with it the kube part is on by default.
const EnvInCluster = "KUBERNETES_SERVICE_HOST"

// Part describes Kubernetes mode to the config layer and the engine.
var Part = component.Define[Options](component.Definition[Options]{
	Name: "kube",
	Doc: "Kubernetes mode: the API client; the CA root in a Secret shared by replicas, TokenReview " +
		"authentication, the istio-ca-root-cert ConfigMaps",
	DefaultOn: func(o *Options, lookupEnv func(string) (string, bool)) bool {
		inPod, _ := lookupEnv(EnvInCluster)
		return o.Kubeconfig != "" || inPod != ""
	},
	DefaultOnDoc: "when a kubeconfig is given (kube.kubeconfig, --kubeconfig, $KUBECONFIG) or in a pod ($KUBERNETES_SERVICE_HOST)",
	Provides: []reflect.Type{reflect.TypeFor[*kubeapi.Client](), reflect.TypeFor[*rest.Config](),
		reflect.TypeFor[*component.Cluster](), reflect.TypeFor[ca.Store](), reflect.TypeFor[ca.NodeAuthorizer]()},
	Flags: []component.Flag[Options]{{Name: "kubeconfig", Path: "kubeconfig", Usage: "kubeconfig file: Kubernetes mode"}},
	Env:   []component.EnvVar{{Name: "KUBECONFIG", Path: "kubeconfig", Fallback: true}},
	Build: build,
})

func init() { component.Register(Part) }

// Module provides the API client (*kubeapi.Client), *rest.Config and the
// *component.Cluster that tells other parts the plane runs in a cluster,
// and Kubernetes mode's parts (see the package doc). It needs a
// *zap.Logger; the plane's namespace comes from component.Env.
func Module(opts Options) fx.Option { return Part.Module(opts) }

func build(opts Options) []fx.Option {
	return []fx.Option{
		fx.Provide(provideConfig, provideClient, provideCluster, provideSecretStore),
		// Connect at build time, whatever uses the client: an API server
		// that does not answer fails the plane before anything starts.
		fx.Invoke(connect),
		ca.ProvideAuthenticator(newTokenReviewAuthenticator),
		fx.Provide(newNodeAuthorizer),
		rootDistribution(opts),
	}
}

// connect asks for the client, which connects.
func connect(*kubeapi.Client) {}

func provideConfig(opts Options) (*rest.Config, error) { return RESTConfig(opts) }

func provideClient(cfg *rest.Config, opts Options, log *zap.Logger) (*kubeapi.Client, error) {
	return Connect(cfg, opts, log.Named("kube"))
}

type clusterParams struct {
	fx.In
	Options Options
	component.EnvIn
}

func provideCluster(p clusterParams) *component.Cluster {
	return &component.Cluster{ID: p.Options.ClusterID, Namespace: p.Get().Namespace}
}
