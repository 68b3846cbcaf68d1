package bootgraph_test

import (
	"crypto/tls"
	"crypto/x509"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/dns"
	bggrpc "github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/servingcert"
	"github.com/bootgraph/bootgraph/modules/webhook"
)

// The serving certificate is swapped repeatedly while clients keep making
// new TLS connections to every TLS listener: no handshake fails, and each
// listener presents several certificates over the run, without a restart.
func TestServingCertRotationUnderLoad(t *testing.T) {
	cfg := localConfig(t)
	var (
		authority *ca.CA
		bundle    *servingcert.Bundle
		grpcSrv   *bggrpc.Server
		hookSrv   *webhook.Server
		dnsSrv    *dns.Server
	)
	p, err := cfg.Build(fx.Populate(&authority, &bundle, &grpcSrv, &hookSrv, &dnsSrv))
	require.NoError(t, err)
	startPlane(t, p)

	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(authority.RootPEM()))
	listeners := map[string]*tls.Config{
		grpcSrv.Addr(): {RootCAs: roots, ServerName: "localhost", NextProtos: []string{"h2"}},
		hookSrv.Addr(): {RootCAs: roots, ServerName: "localhost", NextProtos: []string{"h2"}},
		dnsSrv.Addr():  {RootCAs: roots, ServerName: "localhost", NextProtos: []string{dns.ALPN}},
	}

	const rotations = 30
	done := make(chan struct{})
	var wg sync.WaitGroup
	var handshakes, failures atomic.Int64
	serials := map[string]*sync.Map{}
	for addr, tlsCfg := range listeners {
		seen := &sync.Map{}
		serials[addr] = seen
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-done:
						return
					default:
					}
					conn, err := tls.Dial("tcp", addr, tlsCfg)
					handshakes.Add(1)
					if err != nil {
						failures.Add(1)
						t.Errorf("handshake with %s: %v", addr, err)
						continue
					}
					seen.Store(conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), true)
					conn.Close()
				}
			}()
		}
	}
	names := bundle.Leaf().DNSNames // the plane's own names, which the DNS listener serves
	for _, ip := range bundle.Leaf().IPAddresses {
		names = append(names, ip.String())
	}
	for range rotations {
		chain, key, err := authority.GenKeyCert(names, time.Hour)
		require.NoError(t, err)
		require.NoError(t, bundle.Set(chain, key, authority.RootPEM()))
		// Every listener presents the new certificate on a later handshake.
		serial := bundle.Leaf().SerialNumber.String()
		require.Eventually(t, func() bool {
			for _, seen := range serials {
				if _, ok := seen.Load(serial); !ok {
					return false
				}
			}
			return true
		}, 10*time.Second, time.Millisecond, "a listener never presented certificate %s", serial)
	}
	close(done)
	wg.Wait()

	t.Logf("%d handshakes during %d rotations", handshakes.Load(), rotations)
	assert.Zero(t, failures.Load())
	for addr, seen := range serials {
		n := 0
		seen.Range(func(any, any) bool { n++; return true })
		assert.GreaterOrEqual(t, n, rotations, "%s presented only %d certificates", addr, n)
	}
}
