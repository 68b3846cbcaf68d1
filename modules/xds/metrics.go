package xds

import (
	"context"
	"errors"
	"io"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Metrics are the xDS server's Prometheus metrics, under istiod's names
// (pilot/pkg/xds/monitoring.go) and with its labels, so that dashboards
// and alerts written for istiod work unchanged:
//
//   - pilot_xds{version}: gauge, the clients connected now (streams whose
//     node is known), by the client's version (the node's ISTIO_VERSION
//     metadata, else its user_agent_version);
//   - pilot_xds_pushes{type}: counter, responses sent, by type ("cds",
//     "eds", "lds", "rds"); a send that fails for another reason than the
//     stream ending counts as "<type>_senderr", as istiod counts its push
//     errors;
//   - pilot_total_xds_rejects{type}: counter, responses a client rejected
//     (NACKs), by type.
type Metrics struct {
	clients *prometheus.GaugeVec
	pushes  *prometheus.CounterVec
	rejects *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg; a nil reg
// keeps them unregistered.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		clients: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pilot_xds",
			Help: "Number of endpoints connected to this pilot using XDS.",
		}, []string{"version"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilot_xds_pushes",
			Help: "Pilot build and send errors for lds, rds, cds and eds.",
		}, []string{"type"}),
		rejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilot_total_xds_rejects",
			Help: "Total number of XDS responses from pilot rejected by proxy.",
		}, []string{"type"}),
	}
	if reg != nil {
		reg.MustRegister(m.clients, m.pushes, m.rejects)
	}
	return m
}

// metricType is istiod's short name of a type URL (v3.GetMetricType):
// "cds", "eds", "lds", "rds", "sds", "ecds"; any other type is its URL.
func metricType(typeURL string) string {
	for k := range numKinds {
		if kinds[k].typeURL == typeURL {
			return kinds[k].metric
		}
	}
	switch typeURL {
	case resource.SecretType:
		return "sds"
	case resource.ExtensionConfigType:
		return "ecds"
	}
	return typeURL
}

// push counts a response sent (err nil) or failed to send.
func (m *Metrics) push(typeURL string, err error) {
	t := metricType(typeURL)
	if err == nil {
		m.pushes.WithLabelValues(t).Inc()
		return
	}
	// A stream that ends (the client went away, the plane drains) fails
	// its send with Unavailable or Canceled: that is no push error.
	if c := status.Code(err); c != codes.Unavailable && c != codes.Canceled &&
		!errors.Is(err, io.EOF) && !errors.Is(err, context.Canceled) {
		m.pushes.WithLabelValues(t + "_senderr").Inc()
	}
}

func (m *Metrics) reject(typeURL string) { m.rejects.WithLabelValues(metricType(typeURL)).Inc() }

func (m *Metrics) connected(version string, delta float64) {
	m.clients.WithLabelValues(version).Add(delta)
}
