package grpc

import (
	"sync"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Health is the secure server's grpc.health.v1 service, per registered
// service: each reports SERVING once the plane is ready (every listener
// started), NOT_SERVING before that and while the plane drains, and
// NOT_SERVING whenever the service itself says so. "" is the server as a
// whole. Check and Watch work as gRPC's health service does.
//
// A service takes *Health from the graph to set its own status.
type Health struct {
	srv *health.Server

	mu       sync.Mutex
	services map[string]bool // registered service -> its own word: serving
	ready    bool            // the plane is ready
	draining bool
}

// NewHealth returns a Health with no service ready.
func NewHealth() *Health {
	h := &Health{srv: health.NewServer(), services: map[string]bool{"": true}}
	h.srv.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	return h
}

// SetServing records whether service (a full gRPC service name, e.g.
// "helloworld.Greeter") can serve. It reports SERVING only while the plane
// is ready and not draining too.
func (h *Health) SetServing(service string, serving bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.services[service] = serving
	h.publishLocked(service)
}

// Status returns what Check answers for service, and false when the
// service is unknown.
func (h *Health) Status(service string) (healthpb.HealthCheckResponse_ServingStatus, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	own, ok := h.services[service]
	if !ok {
		return healthpb.HealthCheckResponse_SERVICE_UNKNOWN, false
	}
	return h.statusLocked(own), true
}

// register adds the services the server registered; each serves by its
// own word until it says otherwise.
func (h *Health) register(names []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range names {
		if _, ok := h.services[n]; !ok {
			h.services[n] = true
		}
		h.publishLocked(n)
	}
}

// setReady marks the plane ready (or not): every service's status follows.
func (h *Health) setReady(ready bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ready = ready
	h.publishAllLocked()
}

// drain reports every service NOT_SERVING from now on.
func (h *Health) drain() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.draining = true
	h.publishAllLocked()
}

func (h *Health) publishAllLocked() {
	for name := range h.services {
		h.publishLocked(name)
	}
}

func (h *Health) publishLocked(name string) {
	h.srv.SetServingStatus(name, h.statusLocked(h.services[name]))
}

func (h *Health) statusLocked(own bool) healthpb.HealthCheckResponse_ServingStatus {
	if own && h.ready && !h.draining {
		return healthpb.HealthCheckResponse_SERVING
	}
	return healthpb.HealthCheckResponse_NOT_SERVING
}
