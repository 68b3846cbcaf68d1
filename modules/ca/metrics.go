package ca

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the CA's Prometheus metrics, under istiod's names so that
// existing dashboards and alerts work unchanged.
type Metrics struct {
	csrCount      prometheus.Counter
	success       prometheus.Counter
	signErrors    *prometheus.CounterVec
	authnFailures prometheus.Counter
	rootExpiry    prometheus.Gauge
}

// NewMetrics creates the CA metrics and registers them with reg; a nil reg
// keeps them unregistered (counted but not exported).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		csrCount: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "citadel_server_csr_count",
			Help: "The number of CSRs received by Citadel server.",
		}),
		success: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "citadel_server_success_cert_issuance_count",
			Help: "The number of certificates issuances that have succeeded.",
		}),
		signErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "citadel_server_csr_sign_err_count",
			Help: "The number of errors occurred when signing the CSR.",
		}, []string{"error"}),
		authnFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "citadel_server_authentication_failure_count",
			Help: "The number of authentication failures.",
		}),
		rootExpiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "citadel_server_root_cert_expiry_timestamp",
			Help: "The unix timestamp, in seconds, when Citadel root cert will expire.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.csrCount, m.success, m.signErrors, m.authnFailures, m.rootExpiry)
	}
	return m
}

// recordExpiry sets the root expiry gauge to the earliest-expiring root.
func (m *Metrics) recordExpiry(a *authority) {
	m.rootExpiry.Set(float64(a.rootNotAfter.Unix()))
}
