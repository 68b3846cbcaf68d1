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
	drain     time.Duration
	early     component.EarlyStop
}

// NewServer builds the server. gatherer may be nil (no /metrics content).
// Options left empty take their defaults.
func NewServer(opts Options, log *zap.Logger, gatherer prometheus.Gatherer, listeners []component.Listener) *Server {
	opts.SetDefaults()
	s := &Server{Binding: component.NewBinding(Name, opts.Addr, nil), log: log, listeners: listeners,
		mux: http.NewServeMux(), drain: time.Duration(opts.DrainTimeout)}
	s.LimitConnections(opts.MaxConnections, log)
	if gatherer == nil {
		gatherer = prometheus.NewRegistry()
	}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /ready", s.serveReady)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	s.http = &http.Server{
		// A connection is busy while a request on it runs, and answered
		// after: when the listener is full, idle ones make room, those
		// never answered first.
		Handler:           s.Answering(s.mux),
		ReadHeaderTimeout: time.Duration(opts.ReadHeaderTimeout),
		ReadTimeout:       time.Duration(opts.ReadTimeout),
		IdleTimeout:       time.Duration(opts.IdleTimeout),
		MaxHeaderBytes:    64 << 10,
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

// Stop lets requests in flight finish for the drain timeout (or until ctx
// is done, if sooner), then closes what remains. It is safe before Start
// and more than once.
func (s *Server) Stop(ctx context.Context) error {
	return s.Shutdown(ctx, func(ctx context.Context) error {
		s.early.Wait(ctx, s.drain, component.ShutdownHTTP(s.http, func() {
			s.log.Warn("drain deadline passed; closing remaining connections", zap.String("listener", Name),
				zap.Duration("drainTimeout", s.drain))
		}))
		return nil
	}, http.ErrServerClosed)
}
