package webhook

import (
	"context"
	"crypto/tls"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

// Name is the listener's name in logs, errors and readiness.
const Name = "https-webhook"

// GroupHandlers is the value group through which handlers join the server.
const GroupHandlers = "webhook.handlers"

// Handler is an HTTP handler mounted at Path on the webhook server.
type Handler struct {
	// Path is an http.ServeMux pattern without method, e.g. "/validate".
	Path    string
	Handler http.Handler
}

// Server is the HTTPS webhook listener.
type Server struct {
	*component.Binding // Name, Addr, Ready

	log    *zap.Logger
	http   *http.Server
	tls    *tls.Config
	drain  time.Duration
	early  component.EarlyStop
	bodies *bodyBudget
}

// NewServer builds the server and mounts handlers; it does not listen until
// Start. Two handlers on one path, a path without a leading "/", or a handler
// on /ready is an error naming the path.
// Options left empty take their defaults.
func NewServer(opts Options, bundle *servingcert.Bundle, log *zap.Logger, handlers []Handler) (*Server, error) {
	opts.SetDefaults()
	s := &Server{Binding: component.NewBinding(Name, opts.Addr, bundle.Valid), log: log, drain: time.Duration(opts.DrainTimeout),
		bodies: &bodyBudget{max: max(opts.BodyBufferBytes, opts.MaxRequestBytes)}}
	s.LimitConnections(opts.MaxConnections, log)
	handlerTimeout := time.Duration(opts.HandlerTimeout)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", s.serveReady)
	seen := map[string]bool{"/ready": true}
	for _, h := range handlers {
		if !strings.HasPrefix(h.Path, "/") || h.Handler == nil {
			return nil, fmt.Errorf("webhook handler %q: want a path starting with \"/\" and a non-nil handler", h.Path)
		}
		if seen[h.Path] {
			return nil, fmt.Errorf("webhook handler %q: path already taken", h.Path)
		}
		seen[h.Path] = true
		// The body is read (within the read timeout and the body buffer)
		// before the handler timeout starts.
		mux.Handle(h.Path, readBody(http.TimeoutHandler(h.Handler, handlerTimeout, "webhook handler timed out\n"),
			opts.MaxRequestBytes, time.Duration(opts.ReadTimeout), s.bodies))
	}
	s.tls = bundle.ServerTLSConfig(&tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
	})
	s.http = &http.Server{
		// A connection is busy while a request on it runs, and answered
		// after: when the listener is full, idle ones make room, those
		// never answered first.
		Handler: s.Answering(mux),
		// The TLS handshake is bounded by the smaller of the two read
		// timeouts; ReadTimeout bounds the body over HTTP/1.1 and HTTP/2.
		ReadHeaderTimeout: time.Duration(opts.ReadHeaderTimeout),
		ReadTimeout:       time.Duration(opts.ReadTimeout),
		IdleTimeout:       time.Duration(opts.IdleTimeout),
		MaxHeaderBytes:    64 << 10,
		// TLS handshake errors (port scanners, probes) are noise: debug.
		ErrorLog: errorLog(log),
	}
	return s, nil
}

// errorLog sends net/http's own messages (mostly TLS handshake errors from
// scanners and probes) to log at debug level.
func errorLog(log *zap.Logger) *stdlog.Logger {
	l, err := zap.NewStdLogAt(log.With(zap.String("listener", Name)), zap.DebugLevel)
	if err != nil {
		return zap.NewStdLog(log) // only for an invalid level, which DebugLevel is not
	}
	return l
}

func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	if err := s.Ready(r.Context()); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// Start binds the port and serves TLS in the background.
func (s *Server) Start(context.Context) error {
	if err := s.Serve(func(l net.Listener) error { return s.http.Serve(tls.NewListener(l, s.tls)) }); err != nil {
		return err
	}
	s.log.Info("serving", zap.String("listener", Name), zap.String("addr", s.Addr()))
	return nil
}

// BeginStop begins the drain Stop waits for, if the server serves: the
// module calls it when the plane's stop begins, so that every listener
// drains at once.
func (s *Server) BeginStop() {
	if s.Done() != nil {
		s.early.Begin(s.drain, s.shutdown)
	}
}

// Stop lets in-flight requests finish for the drain timeout from
// BeginStop or from now (or until ctx is done, if sooner), then closes the
// rest. It is safe before Start and more than once.
func (s *Server) Stop(ctx context.Context) error {
	return s.Shutdown(ctx, func(ctx context.Context) error {
		s.early.Wait(ctx, s.drain, s.shutdown)
		return nil
	}, http.ErrServerClosed)
}

func (s *Server) shutdown(ctx context.Context) {
	component.ShutdownHTTP(s.http, func() {
		s.log.Warn("drain deadline passed; closing remaining connections", zap.String("listener", Name),
			zap.Duration("drainTimeout", s.drain))
	})(ctx)
}
