package bootgraph_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/bootgraph/bootgraph/caclient"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/config"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/dns"
	bggrpc "github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/webhook"
)

// Timing of the re-key under load: leaves live leafTTL and their agents
// renew them (refreshing their roots from the response, as Istio's agent
// does) every leafTTL/3; the new root propagates for longer than that, so
// every workload trusts it before it signs; the old root retires
// leafTTL (+ the reload interval) after the switch.
const (
	rekeyLeafTTL     = 9 * time.Second
	rekeyPropagation = 6 * time.Second
	rekeyBound       = 3 * time.Minute // a bound for failure only
)

// A re-key rotation under load: workloads whose leaves come from the old
// root and from the new one keep doing mTLS with each other, and
// handshakes with all three TLS listeners (presenting their leaves), in
// every phase; their agents keep renewing through CreateCertificate, by
// token and by client certificate. Zero handshakes and zero
// CreateCertificate calls fail, and each phase sees traffic.
func TestRekeyRotationUnderLoad(t *testing.T) {
	cfg := localConfig(t)
	off := false
	caOpts := config.Options[ca.Options](cfg, "ca")
	caOpts.DefaultCertTTL = component.Duration(rekeyLeafTTL)
	caOpts.MaxCertTTL = component.Duration(rekeyLeafTTL)
	caOpts.ReloadInterval = component.Duration(200 * time.Millisecond)
	caOpts.Rotation = ca.RotationOptions{Auto: &off, PropagationDelay: component.Duration(rekeyPropagation)}
	var (
		authority *ca.CA
		grpcSrv   *bggrpc.Server
		hookSrv   *webhook.Server
		dnsSrv    *dns.Server
	)
	p, err := cfg.Build(fx.Populate(&authority, &grpcSrv, &hookSrv, &dnsSrv))
	require.NoError(t, err)
	startPlane(t, p)
	token := readLocalToken(t, cfg.DataDir)

	var phase atomic.Value
	phase.Store(string(ca.PhaseIdle) + "-before")
	stats := newPhaseStats()
	fail := func(kind string, err error) {
		stats.fail(kind)
		t.Errorf("%s in phase %s: %v", kind, phase.Load(), err)
	}

	// The workloads: each gets its first certificate with the token, then
	// renews with its token or its current certificate.
	const n = 4
	workloads := make([]*workload, n)
	for i := range workloads {
		w := &workload{name: fmt.Sprintf("w%d", i), caAddr: grpcSrv.Addr(), byCert: i%2 == 1, token: token}
		w.trustPEM = authority.RootPEM()
		require.NoError(t, w.renew(context.Background()))
		w.serve(t)
		workloads[i] = w
	}
	listeners := map[string]string{"grpc": grpcSrv.Addr(), "webhook": hookSrv.Addr(), "dns": dnsSrv.Addr()}
	alpn := map[string]string{"grpc": "h2", "webhook": "h2", "dns": dns.ALPN}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	pace := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(10 * time.Millisecond): // pacing, so the plane gets the CPU too
			return true
		}
	}
	for _, w := range workloads {
		wg.Go(func() { // the agent
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(w.renewAt())):
				}
				if err := w.renew(ctx); err != nil && ctx.Err() == nil {
					fail("CreateCertificate", err)
					continue
				}
				stats.ok(phase.Load().(string), "CreateCertificate")
			}
		})
		wg.Go(func() { // mTLS with the other workloads
			for pace() {
				peer := workloads[rand.IntN(n)]
				if err := w.dialPeer(peer); err != nil {
					fail("mTLS "+w.name+"->"+peer.name, err)
					continue
				}
				stats.ok(phase.Load().(string), "mTLS")
			}
		})
		wg.Go(func() { // handshakes with the plane's listeners
			for pace() {
				for name, addr := range listeners {
					if err := w.handshake(addr, alpn[name]); err != nil {
						fail("handshake with "+name, err)
						continue
					}
					stats.ok(phase.Load().(string), name)
				}
			}
		})
	}

	// Warm up: every agent renews once from the old root.
	stats.waitFor(t, string(ca.PhaseIdle)+"-before", "CreateCertificate", 2*n)
	r1 := ca.Fingerprint(authority.SigningCert())
	require.NoError(t, authority.Rotate(context.Background(), ca.RotateRekey))
	for _, want := range []ca.Phase{ca.PhasePropagating, ca.PhaseRetiring, ca.PhaseIdle} {
		st := waitCAStatus(t, authority, func(st ca.Status) bool { return st.Rotation.Phase == want })
		phase.Store(string(want))
		t.Logf("phase %s: signer %s, roots %d", want, st.Signer.Fingerprint[:16], len(st.Roots))
		if want != ca.PhaseIdle {
			// Traffic of every kind in this phase before the next one.
			for _, kind := range []string{"mTLS", "grpc", "webhook", "dns"} {
				stats.waitFor(t, string(want), kind, 1)
			}
		}
	}
	r2 := ca.Fingerprint(authority.SigningCert())
	assert.NotEqual(t, r1, r2)
	assert.Len(t, authority.TrustBundle(), 1)
	// After the rotation: every agent renews from the new root, and the
	// traffic goes on.
	stats.waitFor(t, string(ca.PhaseIdle), "CreateCertificate", 2*n)
	for _, kind := range []string{"mTLS", "grpc", "webhook", "dns"} {
		stats.waitFor(t, string(ca.PhaseIdle), kind, 10)
	}
	cancel()
	wg.Wait()
	t.Logf("traffic by phase: %s", stats)
	assert.Zero(t, stats.failures.Load(), "failed handshakes or CreateCertificate calls")
}

// workload is a mesh workload with an agent: its certificate, the roots it
// trusts (the last response's root element), and an mTLS server.
type workload struct {
	name, caAddr, token string
	byCert              bool // renew with the current certificate rather than the token

	mu       sync.Mutex
	cert     *tls.Certificate
	trustPEM []byte
	trust    *x509.CertPool
	renewBy  time.Time
	addr     string // of its mTLS server
}

func (w *workload) state() (*tls.Certificate, *x509.CertPool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cert, w.trust
}

func (w *workload) renewAt() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.renewBy
}

// renew gets a new certificate as Istio's agent does, and takes the
// response's roots as its trust.
func (w *workload) renew(ctx context.Context) error {
	w.mu.Lock()
	cfg := caclient.Config{Addr: w.caAddr, RootsPEM: w.trustPEM, ServerName: "localhost", Token: w.token}
	if w.byCert && w.cert != nil {
		cfg.Token, cfg.ClientCert = "", w.cert
	}
	w.mu.Unlock()
	cl, err := caclient.Dial(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	issued := time.Now()
	res, err := cl.Issue(ctx, caclient.KeyECDSAP256, 0)
	if err != nil {
		return err
	}
	pair, err := tls.X509KeyPair(res.CertChainPEM, res.KeyPEM)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(res.RootPEM) {
		return errors.New("no root in the response")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cert, w.trustPEM, w.trust = &pair, res.RootPEM, pool
	w.renewBy = issued.Add(res.Leaf.NotAfter.Sub(issued) / 3)
	return nil
}

// serve runs w's mTLS server: its current certificate, clients verified
// against its current roots.
func (w *workload) serve(t *testing.T) {
	base := &tls.Config{MinVersion: tls.VersionTLS13, ClientAuth: tls.RequireAndVerifyClientCert}
	cfg := base.Clone()
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cert, trust := w.state()
		c := base.Clone()
		c.Certificates, c.ClientCAs = []tls.Certificate{*cert}, trust
		return c, nil
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(time.Minute))
				_, _ = io.Copy(conn, conn) // echo until the client closes
			})
		}
	})
	w.mu.Lock()
	w.addr = ln.Addr().String()
	w.mu.Unlock()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
}

// dialPeer does mTLS with peer and exchanges a byte.
func (w *workload) dialPeer(peer *workload) error {
	cert, trust := w.state()
	peer.mu.Lock()
	addr := peer.addr
	peer.mu.Unlock()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: trust, Certificates: []tls.Certificate{*cert},
		ServerName: "localhost", MinVersion: tls.VersionTLS13,
		// Workload certificates name SPIFFE IDs, not hosts: verify the
		// chain, as Envoy does with a SAN matcher.
		InsecureSkipVerify: true, VerifyPeerCertificate: verifyChain(trust)})
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	if _, err := conn.Write([]byte{1}); err != nil {
		return err
	}
	_, err = io.ReadFull(conn, make([]byte, 1))
	return err
}

// handshake connects to a plane listener presenting w's certificate.
func (w *workload) handshake(addr, alpn string) error {
	cert, trust := w.state()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: trust, Certificates: []tls.Certificate{*cert},
		ServerName: "localhost", NextProtos: []string{alpn}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return err
	}
	return conn.Close()
}

// verifyChain verifies a peer's chain to roots, for client authentication.
func verifyChain(roots *x509.CertPool) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		var certs []*x509.Certificate
		for _, der := range raw {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return err
			}
			certs = append(certs, c)
		}
		if len(certs) == 0 {
			return errors.New("no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		return err
	}
}

// phaseStats counts successes by phase and kind, and failures.
type phaseStats struct {
	mu       sync.Mutex
	counts   map[string]map[string]int
	changed  chan struct{}
	failures atomic.Int64
}

func newPhaseStats() *phaseStats {
	return &phaseStats{counts: map[string]map[string]int{}, changed: make(chan struct{})}
}

func (s *phaseStats) ok(phase, kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts[phase] == nil {
		s.counts[phase] = map[string]int{}
	}
	s.counts[phase][kind]++
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *phaseStats) fail(string) { s.failures.Add(1) }

// waitFor waits, count by count, until phase has n successes of kind.
func (s *phaseStats) waitFor(t *testing.T, phase, kind string, n int) {
	t.Helper()
	deadline := time.NewTimer(rekeyBound)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, changed := s.counts[phase][kind], s.changed
		s.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("phase %s: %d of %d %s within %v", phase, got, n, kind, rekeyBound)
		}
	}
}

func (s *phaseStats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	for phase, kinds := range s.counts {
		parts = append(parts, fmt.Sprintf("%s %v", phase, kinds))
	}
	return strings.Join(parts, "; ")
}

// waitCAStatus waits, CA event by CA event, until cond holds.
func waitCAStatus(t *testing.T, c *ca.CA, cond func(ca.Status) bool) ca.Status {
	t.Helper()
	deadline := time.NewTimer(rekeyBound)
	defer deadline.Stop()
	for {
		changed := c.Changed()
		if st := c.Status(); cond(st) {
			return st
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("the CA did not get there within %v: %+v", rekeyBound, c.Status())
		}
	}
}

// readLocalToken is the first token of the plane's local token file.
func readLocalToken(t *testing.T, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, ca.TokenFileName))
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			return strings.TrimSpace(strings.Split(line, ",")[0])
		}
	}
	t.Fatalf("no token in %s", dataDir)
	return ""
}
