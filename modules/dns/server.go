package dns

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"slices"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

// Name is the listener's name in logs, errors and readiness.
const Name = "dns-over-tls"

// ALPN is the DNS-over-TLS ALPN protocol ID (RFC 7858, IANA registry).
const ALPN = "dot"

// Server is the DNS-over-TLS listener.
type Server struct {
	*component.Binding // Name, Addr, Ready

	opts    Options
	log     *zap.Logger
	tls     *tls.Config
	handler *handler
	records []Record

	mu        sync.Mutex
	selfNames []string // the names answered now
	dns       *mdns.Server
	listener  *batchListener
	early     component.EarlyStop
}

// NewServer computes every answer for opts (defaults filled in), the
// plane's own names (those of the bundle's certificate, recomputed when it
// changes names) and records; it does not listen until Start. An invalid
// option or record is an error that names it.
func NewServer(opts Options, bundle *servingcert.Bundle, log *zap.Logger, records []Record) (*Server, error) {
	opts.SetDefaults()
	if len(opts.Zones) == 0 {
		opts.Zones = []string{DefaultZone}
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		Binding: component.NewBinding(Name, opts.Addr, bundle.Valid),
		opts:    opts,
		log:     log,
		tls: bundle.ServerTLSConfig(&tls.Config{
			MinVersion: tls.VersionTLS12,
			NextProtos: []string{ALPN},
		}),
		handler: &handler{},
		records: records,
	}
	s.LimitConnections(opts.MaxConnections, log)
	if err := s.answerFor(bundle.Leaf); err != nil {
		return nil, err
	}
	bundle.Subscribe(func() {
		if err := s.answerFor(bundle.Leaf); err != nil {
			log.Error("serving the new certificate's names failed; keeping the old answers", zap.Error(err))
		}
	})
	return s, nil
}

// answerFor computes the answers for the names of the current certificate,
// unless they are the names answered already. It reads the certificate
// under s.mu, so that of two bundle changes notified at once, the later
// certificate's names win.
func (s *Server) answerFor(current func() *x509.Certificate) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var self []string
	if leaf := current(); leaf != nil {
		self = leaf.DNSNames
	}
	if s.handler.table.Load() != nil && slices.Equal(self, s.selfNames) {
		return nil
	}
	t, skipped, err := buildTable(s.opts, self, s.records)
	if err != nil {
		return err
	}
	if len(skipped) > 0 {
		s.log.Info("own names not served: outside every zone",
			zap.Strings("names", skipped), zap.Strings("zones", s.opts.Zones))
	}
	s.handler.table.Store(t)
	s.selfNames = self
	return nil
}

// Start binds the port and serves in the background. The error names the
// listener and address.
func (s *Server) Start(ctx context.Context) error {
	idle := time.Duration(s.opts.IdleTimeout)
	started := make(chan struct{})
	srv := &mdns.Server{
		Net:               "tcp-tls",
		Handler:           mdns.HandlerFunc(s.serveDNS),
		MaxTCPQueries:     -1, // unlimited: a pipelining client must not lose queries
		ReadTimeout:       idle,
		IdleTimeout:       func() time.Duration { return idle },
		MsgAcceptFunc:     acceptQuery,
		DecorateReader:    endRunts,
		NotifyStartedFunc: func() { close(started) },
	}
	var bl *batchListener
	err := s.Serve(func(l net.Listener) error {
		bl = newBatchListener(l, idle)
		srv.Listener = tls.NewListener(bl, s.tls)
		return srv.ActivateAndServe()
	})
	if err != nil {
		return err
	}
	select {
	case <-started:
	case <-s.Done(): // never started
		return s.Shutdown(ctx, nil)
	}
	s.mu.Lock()
	s.dns, s.listener = srv, bl
	s.mu.Unlock()
	s.log.Info("serving", zap.String("listener", Name), zap.String("addr", s.Addr()))
	return nil
}

// serveDNS answers a query; its connection is busy meanwhile, and
// answered after: when the listener is full, idle connections make room,
// those never answered first.
func (s *Server) serveDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	remote := w.RemoteAddr().String()
	s.ConnBusy(remote)
	defer s.ConnIdle(remote, true)
	s.handler.ServeDNS(w, r)
}

// BeginStop begins the drain Stop waits for, if the server serves: the
// module calls it when the plane's stop begins, so that every listener
// drains at once.
func (s *Server) BeginStop() {
	if s.Done() != nil {
		s.early.Begin(time.Duration(s.opts.DrainTimeout), s.drain)
	}
}

// Stop stops accepting, lets each connection finish the query in hand for
// the drain timeout from BeginStop or from now (or until ctx is done, if
// sooner), then closes the rest. It is safe before Start and twice.
func (s *Server) Stop(ctx context.Context) error {
	err := s.Shutdown(ctx, func(ctx context.Context) error {
		s.early.Wait(ctx, time.Duration(s.opts.DrainTimeout), s.drain)
		return nil
	}, net.ErrClosed)
	s.mu.Lock()
	s.dns, s.listener = nil, nil
	s.mu.Unlock()
	return err
}

// drain shuts the DNS server down until ctx is done, then closes the
// connections that remain.
func (s *Server) drain(ctx context.Context) {
	s.mu.Lock()
	srv, bl := s.dns, s.listener
	s.mu.Unlock()
	if srv == nil {
		return
	}
	if err := srv.ShutdownContext(ctx); err != nil {
		s.log.Warn("drain deadline passed; closing remaining connections",
			zap.String("listener", Name), zap.Int("connections", bl.openConns()))
		bl.closeConns()
	}
}
