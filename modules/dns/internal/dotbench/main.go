// Command dotbench serves DNS over TLS on loopback for load tests
// (scripts/bench-dot.sh): either this module's server or, with -plain, a
// plain miekg/dns server with a trivial handler, for comparison. Both
// present a certificate for localhost from a self-signed CA made in a
// temporary directory; the CA's root is written to <dir>/root-cert.pem.
//
//	dotbench -port 15053 [-plain] [-swap 1s] [-cpuprofile cpu.out]
//
// It prints "ready <addr> <root file>" once serving and runs until SIGINT or
// SIGTERM.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/modules/ca"
	dnsmod "github.com/bootgraph/bootgraph/modules/dns"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dotbench:", err)
		os.Exit(1)
	}
}

func run() error {
	port := flag.Int("port", 15053, "port to listen on, on 127.0.0.1")
	plain := flag.Bool("plain", false, "serve with a plain miekg/dns server and a trivial handler instead")
	plainLimit := flag.Int("plain-max-queries", 0, "with -plain: mdns.Server.MaxTCPQueries (0: miekg's default, 128; -1: unlimited)")
	swap := flag.Duration("swap", 0, "issue and swap in a new serving certificate this often (0: never)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	dir := flag.String("dir", "", "directory for the CA (default: a new temporary directory)")
	flag.Parse()

	if *dir == "" {
		d, err := os.MkdirTemp("", "dotbench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	authority, err := ca.New(ca.Options{DataDir: *dir}, nil, nil)
	if err != nil {
		return err
	}
	var certOpts servingcert.Options
	certOpts.SetDefaults()
	provider, err := servingcert.NewIstiodProvider(authority, certOpts, certOpts.Names("istio-system", true), zap.NewNop())
	if err != nil {
		return err
	}
	bundle := provider.Bundle()
	rootFile := filepath.Join(*dir, "root-cert.pem")
	if err := os.WriteFile(rootFile, authority.RootPEM(), 0o600); err != nil {
		return err
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(*port))
	var stop func(context.Context) error
	if *plain {
		stop, err = servePlain(addr, bundle, *plainLimit)
	} else {
		stop, err = serveOurs(addr, bundle)
	}
	if err != nil {
		return err
	}
	fmt.Println("ready", addr, rootFile)

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	swaps := make(chan int, 1)
	if *swap > 0 {
		go func() { swaps <- swapCerts(ctx, authority, bundle, *swap) }()
	} else {
		swaps <- 0
	}
	<-ctx.Done()
	if n := <-swaps; *swap > 0 {
		fmt.Println("swapped certificates:", n)
	}
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer stopCancel()
	return stop(stopCtx)
}

// serveOurs serves this module's server with one contributed record.
func serveOurs(addr string, bundle *servingcert.Bundle) (func(context.Context) error, error) {
	s, err := dnsmod.NewServer(dnsmod.Options{Addr: addr}, bundle, zap.NewNop(), []dnsmod.Record{{
		Name:  "xds.istio-system.svc",
		Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1")},
		SRV:   []dnsmod.SRV{{Target: "istiod.istio-system.svc", Port: 15012}},
	}})
	if err != nil {
		return nil, err
	}
	if err := s.Start(context.Background()); err != nil {
		return nil, err
	}
	return s.Stop, nil
}

// servePlain serves a plain miekg/dns DNS-over-TLS server whose handler
// answers every query with one A record.
func servePlain(addr string, bundle *servingcert.Bundle, maxQueries int) (func(context.Context) error, error) {
	cert, err := tls.X509KeyPair(bundle.CertChainPEM(), bundle.KeyPEM())
	if err != nil {
		return nil, err
	}
	a := net.ParseIP("127.0.0.1")
	started := make(chan struct{})
	srv := &mdns.Server{
		Addr:          addr,
		Net:           "tcp-tls",
		TLSConfig:     &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		MaxTCPQueries: maxQueries,
		Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
			m := new(mdns.Msg).SetReply(r)
			m.Authoritative = true
			m.Answer = []mdns.RR{&mdns.A{
				Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 30},
				A:   a,
			}}
			_ = w.WriteMsg(m)
		}),
		NotifyStartedFunc: func() { close(started) },
	}
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	select {
	case <-started:
	case err := <-served:
		return nil, err
	}
	return srv.ShutdownContext, nil
}

// swapCerts swaps a newly issued serving certificate into bundle every
// interval until ctx is done, and returns how many it swapped.
func swapCerts(ctx context.Context, authority *ca.CA, bundle *servingcert.Bundle, interval time.Duration) int {
	t := time.NewTicker(interval)
	defer t.Stop()
	for swaps := 0; ; swaps++ {
		select {
		case <-ctx.Done():
			return swaps
		case <-t.C:
			chain, key, err := authority.GenKeyCert([]string{"istiod.istio-system.svc", "localhost", "127.0.0.1"}, time.Hour)
			if err == nil {
				err = bundle.Set(chain, key, authority.RootPEM())
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "dotbench: swapping certificate:", err)
			}
		}
	}
}
