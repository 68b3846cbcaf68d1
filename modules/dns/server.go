package dns

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/modules/dnscert"
	"github.com/bootgraph/bootgraph/modules/plane"
)

// Name is the listener's name in logs, errors and readiness.
const Name = "dns-over-tls"

// ALPN is the DNS-over-TLS ALPN protocol ID (RFC 7858, IANA registry).
const ALPN = "dot"

// Server is the DNS-over-TLS listener.
type Server struct {
	*plane.Binding // Name, Addr, Ready

	opts    Options
	log     *zap.Logger
	tls     *tls.Config
	handler *handler

	mu       sync.Mutex
	dns      *mdns.Server
	listener *batchListener
	serveErr chan error
}

// NewServer computes every answer for opts (defaults filled in) and records;
// it does not listen until Start. An invalid option or record is an error
// that names it.
func NewServer(opts Options, bundle *dnscert.Bundle, log *zap.Logger, records []Record) (*Server, error) {
	opts.SetDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	t, skipped, err := buildTable(opts, records)
	if err != nil {
		return nil, err
	}
	if len(skipped) > 0 {
		log.Info("own names not served: IP addresses or outside every zone",
			zap.Strings("names", skipped), zap.Strings("zones", opts.Zones))
	}
	return &Server{
		Binding: plane.NewBinding(Name, opts.Addr, bundle.Valid),
		opts:    opts,
		log:     log,
		tls: bundle.ServerTLSConfig(&tls.Config{
			MinVersion: tls.VersionTLS12,
			NextProtos: []string{ALPN},
		}),
		handler: &handler{table: t},
	}, nil
}

// Start binds the port and serves in the background. The error names the
// listener and address.
func (s *Server) Start(context.Context) error {
	l, err := s.Listen()
	if err != nil {
		return err
	}
	idle := time.Duration(s.opts.IdleTimeout)
	bl := newBatchListener(l, idle)
	started := make(chan struct{})
	srv := &mdns.Server{
		Listener:          tls.NewListener(bl, s.tls),
		Net:               "tcp-tls",
		Handler:           s.handler,
		MaxTCPQueries:     -1, // unlimited: a pipelining client must not lose queries
		ReadTimeout:       idle,
		IdleTimeout:       func() time.Duration { return idle },
		MsgAcceptFunc:     acceptQuery,
		DecorateReader:    endRunts,
		NotifyStartedFunc: func() { close(started) },
	}
	served := make(chan error, 1)
	go func() { served <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-served: // never started
		_ = l.Close()
		return fmt.Errorf("%s listener on %s: %w", Name, l.Addr(), err)
	}
	s.mu.Lock()
	s.dns, s.listener, s.serveErr = srv, bl, served
	s.mu.Unlock()
	s.Serving(l.Addr().String())
	s.log.Info("serving", zap.String("listener", Name), zap.String("addr", l.Addr().String()))
	return nil
}

// Stop stops accepting, lets each connection finish the query in hand until
// ctx is done, then closes the rest. It is safe before Start and twice.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	srv, bl, served := s.dns, s.listener, s.serveErr
	s.dns, s.listener, s.serveErr = nil, nil, nil
	s.mu.Unlock()
	if srv == nil {
		return nil // never started, or already stopped
	}
	defer s.Stopped()
	if err := srv.ShutdownContext(ctx); err != nil {
		s.log.Warn("drain deadline passed; closing remaining connections",
			zap.String("listener", Name), zap.Int("connections", bl.openConns()))
		bl.closeConns()
	}
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("%s %s: %w", Name, s.Addr(), err)
	}
	return nil
}
