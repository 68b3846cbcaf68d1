package bootgraph

import (
	"go.uber.org/fx"

	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/dns"
	"github.com/bootgraph/bootgraph/modules/dnscert"
	"github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/kube"
	"github.com/bootgraph/bootgraph/modules/monitoring"
	"github.com/bootgraph/bootgraph/modules/webhook"
)

// Modules returns the fx options of the modules cfg selects, in the order
// istiod builds them. The order is for readers only: the dependency graph,
// not this list, fixes the start order. cfg must have its defaults set.
func Modules(cfg Config) []fx.Option {
	var opts []fx.Option
	if enabled(cfg.CA.Enabled) {
		opts = append(opts, ca.Module(cfg.CA.Options))
	}
	opts = append(opts, dnscert.Module(cfg.ServingCert))
	if enabled(cfg.GRPC.Enabled) {
		opts = append(opts, grpc.Module(cfg.GRPC.Options))
	}
	if enabled(cfg.Webhook.Enabled) {
		opts = append(opts, webhook.Module(cfg.Webhook.Options))
	}
	if enabled(cfg.DNS.Enabled) {
		opts = append(opts, dns.Module(cfg.DNS.Options))
	}
	if enabled(cfg.Monitoring.Enabled) {
		opts = append(opts, monitoring.Module(cfg.Monitoring.Options))
	}
	if cfg.KubeMode() {
		opts = append(opts, kube.Module(cfg.Kube.Options))
	}
	return opts
}
