package grpc

import (
	"context"
	"slices"
	"sync"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// Health is the secure server's grpc.health.v1 service, per registered
// service: each reports SERVING once the plane is ready (every listener
// started), NOT_SERVING before that and while the plane drains, and
// NOT_SERVING whenever the service itself says so. "" is the server as a
// whole. Check, List and Watch work as gRPC's health service does; a
// Watch ends with Unavailable, after NOT_SERVING, when the drain begins.
//
// A service takes *Health from the graph to set its own status.
type Health struct {
	mu       sync.Mutex
	services map[string]bool // registered service -> its own word: serving
	ready    bool            // the plane is ready
	draining bool
	watchers map[string][]chan healthpb.HealthCheckResponse_ServingStatus
}

// NewHealth returns a Health with no service ready.
func NewHealth() *Health {
	return &Health{services: map[string]bool{"": true}, watchers: map[string][]chan healthpb.HealthCheckResponse_ServingStatus{}}
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
	return h.statusLocked(service)
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

func (h *Health) statusLocked(service string) (healthpb.HealthCheckResponse_ServingStatus, bool) {
	own, ok := h.services[service]
	switch {
	case !ok:
		return healthpb.HealthCheckResponse_SERVICE_UNKNOWN, false
	case own && h.ready && !h.draining:
		return healthpb.HealthCheckResponse_SERVING, true
	}
	return healthpb.HealthCheckResponse_NOT_SERVING, true
}

func (h *Health) publishAllLocked() {
	for name := range h.services {
		h.publishLocked(name)
	}
}

// publishLocked hands service's status to its watchers; each keeps only
// the latest.
func (h *Health) publishLocked(service string) {
	st, _ := h.statusLocked(service)
	for _, ch := range h.watchers[service] {
		select {
		case <-ch: // drop the stale one
		default:
		}
		ch <- st
	}
}

// watch subscribes to service's status, starting with the current one.
func (h *Health) watch(service string) (<-chan healthpb.HealthCheckResponse_ServingStatus, func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := make(chan healthpb.HealthCheckResponse_ServingStatus, 1)
	st, _ := h.statusLocked(service)
	ch <- st
	h.watchers[service] = append(h.watchers[service], ch)
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.watchers[service] = slices.DeleteFunc(h.watchers[service], func(c chan healthpb.HealthCheckResponse_ServingStatus) bool { return c == ch })
	}
}

// healthService serves grpc.health.v1.Health from a Health.
type healthService struct {
	healthpb.UnimplementedHealthServer
	h     *Health
	drain *Drain
}

// Check implements grpc.health.v1.Health/Check.
func (s healthService) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	st, ok := s.h.Status(req.GetService())
	if !ok {
		return nil, status.Errorf(codes.NotFound, "unknown service %q", req.GetService())
	}
	return &healthpb.HealthCheckResponse{Status: st}, nil
}

// List implements grpc.health.v1.Health/List.
func (s healthService) List(context.Context, *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	out := &healthpb.HealthListResponse{Statuses: map[string]*healthpb.HealthCheckResponse{}}
	for name := range s.h.services {
		st, _ := s.h.statusLocked(name)
		out.Statuses[name] = &healthpb.HealthCheckResponse{Status: st}
	}
	return out, nil
}

// Watch implements grpc.health.v1.Health/Watch: every change of status,
// until the client leaves or the drain begins (then NOT_SERVING, and the
// stream ends with Unavailable so that the client watches elsewhere).
func (s healthService) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	updates, unsubscribe := s.h.watch(req.GetService())
	defer unsubscribe()
	last := healthpb.HealthCheckResponse_ServingStatus(-1)
	send := func(st healthpb.HealthCheckResponse_ServingStatus) error {
		if st == last {
			return nil
		}
		last = st
		return stream.Send(&healthpb.HealthCheckResponse{Status: st})
	}
	for {
		select {
		case st := <-updates:
			if err := send(st); err != nil {
				return err
			}
		case <-s.drain.Done():
			if err := send(healthpb.HealthCheckResponse_NOT_SERVING); err != nil {
				return err
			}
			return ErrDraining
		case <-stream.Context().Done():
			return status.FromContextError(stream.Context().Err()).Err()
		}
	}
}
