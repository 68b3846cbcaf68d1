// Package monitoring is the plane's monitoring HTTP listener (istiod's port
// 15014): Prometheus metrics at /metrics, readiness at /ready (true only when
// every listener of the plane is bound and serving a valid certificate) and
// liveness at /healthz.
package monitoring

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/modules/plane"
)

// DefaultAddr is istiod's monitoring port, on loopback for local use.
const DefaultAddr = "127.0.0.1:15014"

// Name is the listener's name in logs and errors.
const Name = "monitoring"

// Options configure the monitoring listener ("monitoring" in the config file).
type Options struct {
	// Addr to listen on. Default "127.0.0.1:15014".
	Addr string `json:"addr,omitempty"`
}

// SetDefaults fills every empty field with its default.
func (o *Options) SetDefaults() {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
}

// Server is the monitoring listener.
type Server struct {
	opts      Options
	log       *zap.Logger
	listeners []plane.Listener
	http      *http.Server
	mux       *http.ServeMux

	mu       sync.Mutex
	listener net.Listener
	served   chan error
}

// NewServer builds the server. gatherer may be nil (no /metrics content).
func NewServer(opts Options, log *zap.Logger, gatherer prometheus.Gatherer, listeners []plane.Listener) *Server {
	s := &Server{opts: opts, log: log, listeners: listeners, mux: http.NewServeMux()}
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

// Addr is the bound address once started, else the configured one.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener != nil {
		return s.listener.Addr().String()
	}
	return s.opts.Addr
}

// Ready returns nil when every listener of the plane is ready, else an
// error listing each one that is not.
func (s *Server) Ready(ctx context.Context) error {
	var errs []error
	for _, l := range s.listeners {
		if err := l.Ready(ctx); err != nil {
			errs = append(errs, err)
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
	l, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("%s listener on %s: %w", Name, s.opts.Addr, err)
	}
	served := make(chan error, 1)
	s.mu.Lock()
	s.listener, s.served = l, served
	s.mu.Unlock()
	go func() { served <- s.http.Serve(l) }()
	s.log.Info("serving", zap.String("listener", Name), zap.String("addr", l.Addr().String()))
	return nil
}

// Stop shuts the server down gracefully until ctx is done.
func (s *Server) Stop(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		s.http.Close()
	}
	s.mu.Lock()
	served := s.served
	s.served = nil
	s.mu.Unlock()
	if served == nil {
		return err // never started, or already stopped
	}
	if serveErr := <-served; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("%s %s: %w", Name, s.Addr(), serveErr)
	}
	return err
}

// Module provides *Server and starts it after every listener of the plane.
func Module(opts Options) fx.Option {
	opts.SetDefaults()
	return fx.Module("monitoring",
		fx.Supply(fx.Private, opts),
		fx.Provide(provideServer),
		fx.Invoke(func(*Server) {}),
	)
}

type serverParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Options   Options
	Log       *zap.Logger
	Gatherer  prometheus.Gatherer `optional:"true"`
	plane.ListenersIn
}

func provideServer(p serverParams) *Server {
	s := NewServer(p.Options, p.Log.Named("monitoring"), p.Gatherer, p.Listeners)
	p.Lifecycle.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	return s
}
