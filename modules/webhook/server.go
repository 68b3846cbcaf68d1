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

	log  *zap.Logger
	http *http.Server
	tls  *tls.Config
}

// NewServer builds the server and mounts handlers; it does not listen until
// Start. Two handlers on one path, a path without a leading "/", or a handler
// on /ready is an error naming the path.
func NewServer(opts Options, bundle *servingcert.Bundle, log *zap.Logger, handlers []Handler) (*Server, error) {
	s := &Server{Binding: component.NewBinding(Name, opts.Addr, bundle.Valid), log: log}
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
		mux.Handle(h.Path, h.Handler)
	}
	s.tls = bundle.ServerTLSConfig(&tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
	})
	handlerTimeout := time.Duration(opts.HandlerTimeout)
	s.http = &http.Server{
		Handler:           http.TimeoutHandler(limitBody(mux, opts.MaxRequestBytes), handlerTimeout, "webhook handler timed out\n"),
		ReadHeaderTimeout: time.Duration(opts.ReadHeaderTimeout),
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

// limitBody caps every request body at max bytes.
func limitBody(next http.Handler, max int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, max)
		next.ServeHTTP(w, r)
	})
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

// Stop finishes in-flight requests until ctx is done, then closes the rest.
// It is safe before Start and more than once.
func (s *Server) Stop(ctx context.Context) error {
	return s.Shutdown(ctx, component.StopHTTP(s.http), http.ErrServerClosed)
}
