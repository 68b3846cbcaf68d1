package ca

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the CA's Prometheus metrics, under istiod's names so that
// existing dashboards and alerts work unchanged, and bootgraph_ca_* for
// what istiod does not have: each root's expiry, rotation events, reload
// failures and the reason of each authentication failure.
type Metrics struct {
	csrCount      prometheus.Counter
	success       prometheus.Counter
	signErrors    *prometheus.CounterVec
	authnFailures prometheus.Counter
	rootExpiry    prometheus.Gauge

	authnReasons   *prometheus.CounterVec
	rootsExpiry    *prometheus.GaugeVec
	rotationPhase  *prometheus.GaugeVec
	rotationEvents *prometheus.CounterVec
	reloadFailures *prometheus.CounterVec
	reloadOK       *prometheus.GaugeVec
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
		authnReasons: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootgraph_ca_authentication_failures_total",
			Help: "CA requests refused as unauthenticated, by reason: the authenticator that refused the credential, " +
				"no_credentials, or impersonation.",
		}, []string{"reason"}),
		rootsExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bootgraph_ca_root_expiry_timestamp_seconds",
			Help: "When each root of the CA's trust bundle expires (unix seconds), by SHA-256 fingerprint and role " +
				"(signing, incoming, retiring).",
		}, []string{"fingerprint", "subject", "role"}),
		rotationPhase: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bootgraph_ca_rotation_phase",
			Help: "1 for the CA's current rotation phase (idle, propagating, retiring), 0 for the others.",
		}, []string{"phase"}),
		rotationEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootgraph_ca_rotation_events_total",
			Help: "Rotation events: started, renewed, switched, retired, adopted (another writer's change), refused.",
		}, []string{"event"}),
		reloadFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootgraph_ca_reload_failures_total",
			Help: "Changes of the CA's sources refused (a plugged-in set that does not verify, a stored root that does not parse), by source.",
		}, []string{"source"}),
		reloadOK: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bootgraph_ca_reload_ok",
			Help: "0 while the last change of a source was refused (the CA serves with the previous set), else 1.",
		}, []string{"source"}),
	}
	if reg != nil {
		reg.MustRegister(m.csrCount, m.success, m.signErrors, m.authnFailures, m.rootExpiry,
			m.authnReasons, m.rootsExpiry, m.rotationPhase, m.rotationEvents, m.reloadFailures, m.reloadOK)
	}
	return m
}

// recordExpiry sets the root expiry gauge to the earliest-expiring root.
func (m *Metrics) recordExpiry(a *authority) {
	m.rootExpiry.Set(float64(a.rootNotAfter.Unix()))
}

// recordTrust sets the per-root and phase gauges to t's.
func (m *Metrics) recordTrust(t, prev *trust) {
	if prev != nil {
		for _, r := range prev.rootInfos() {
			m.rootsExpiry.DeleteLabelValues(r.Fingerprint, r.Subject, roleOf(r))
		}
	}
	for _, r := range t.rootInfos() {
		m.rootsExpiry.WithLabelValues(r.Fingerprint, r.Subject, roleOf(r)).Set(float64(r.NotAfter.Unix()))
	}
	for _, p := range []Phase{PhaseIdle, PhasePropagating, PhaseRetiring} {
		v := 0.0
		if t.state.Phase == p {
			v = 1
		}
		m.rotationPhase.WithLabelValues(string(p)).Set(v)
	}
	a := t.signer.withBundle(t.roots)
	m.recordExpiry(a)
}

func roleOf(r RootInfo) string {
	switch {
	case r.Signing:
		return "signing"
	case r.Incoming:
		return "incoming"
	case r.Retiring:
		return "retiring"
	}
	return "trusted"
}
