// Package monitoring is the plane's monitoring HTTP listener (istiod's port
// 15014): Prometheus metrics at /metrics, readiness at /ready (true only when
// every listener of the plane is bound and serving a valid certificate) and
// liveness at /healthz. Other parts add pages with Handle (graphpage adds
// /debug/graph).
package monitoring
