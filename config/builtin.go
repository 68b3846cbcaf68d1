package config

import (
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/dns"
	"github.com/bootgraph/bootgraph/modules/graphpage"
	"github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/kube"
	"github.com/bootgraph/bootgraph/modules/monitoring"
	"github.com/bootgraph/bootgraph/modules/servingcert"
	_ "github.com/bootgraph/bootgraph/modules/servingcert/kubecsr" // servingCert.provider: kubernetes
	"github.com/bootgraph/bootgraph/modules/webhook"
	"github.com/bootgraph/bootgraph/modules/xds"
)

// Builtin returns bootgraph's own parts, in the order istiod builds them.
// The order is for readers only: the dependency graph, not this list,
// fixes the start order.
func Builtin() []component.Part {
	return []component.Part{
		ca.Part, servingcert.Part, grpc.Part, xds.Part, webhook.Part, dns.Part,
		monitoring.Part, kube.Part, graphpage.Part,
	}
}
