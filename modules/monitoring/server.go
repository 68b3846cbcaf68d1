package monitoring

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/component"
)

// Name is the listener's name in logs and errors.
const Name = "monitoring"

// Server is the monitoring listener.
type Server struct {
	*component.Binding // Name, Addr

	log       *zap.Logger
	listeners []component.Listener
	checks    []component.Check
	http      *http.Server
	mux       *http.ServeMux
}

// NewServer builds the server. gatherer may be nil (no /metrics content).
func NewServer(opts Options, log *zap.Logger, gatherer prometheus.Gatherer, listeners []component.Listener) *Server {
	s := &Server{Binding: component.NewBinding(Name, opts.Addr, nil), log: log, listeners: listeners, mux: http.NewServeMux()}
	if gatherer == nil {
		gatherer = prometheus.NewRegistry()
	}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /ready", s.serveReady)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	s.http = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
	}
	return s
}

// Handle adds a handler to the monitoring mux, e.g. a debug page.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Ready returns nil when every listener of the plane is ready and every
// readiness check (component.Check) passes, else an error listing each one
// that is not.
func (s *Server) Ready(ctx context.Context) error {
	var errs []error
	for _, l := range s.listeners {
		if err := l.Ready(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	for _, c := range s.checks {
		if err := c.Ready(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	if err := s.Ready(r.Context()); err != nil {
		http.Error(w, "not ready: "+strings.ReplaceAll(err.Error(), "\n", "; "), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// Start binds the port and serves in the background.
func (s *Server) Start(context.Context) error {
	if err := s.Serve(s.http.Serve); err != nil {
		return err
	}
	s.log.Info("serving", zap.String("listener", Name), zap.String("addr", s.Addr()))
	return nil
}

// Stop shuts the server down gracefully until ctx is done, then closes
// what remains. It is safe before Start and more than once.
func (s *Server) Stop(ctx context.Context) error {
	return s.Shutdown(ctx, component.StopHTTP(s.http), http.ErrServerClosed)
}
