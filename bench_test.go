package bootgraph_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/caclient"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/pemutil"
	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/dns"
	"github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/monitoring"
	"github.com/bootgraph/bootgraph/modules/servingcert"
	"github.com/bootgraph/bootgraph/modules/webhook"
)

// BenchmarkBoot builds the full local plane, starts it until ready, and
// stops it, in-process; "generated" makes a new CA each time, "reused"
// loads the persisted one. Each iteration boots the same parts twice: with
// the engine (plan, hook tracking, event recording) and with plain fx, and
// does the least any plane with that CA and those listeners must
// (bootBaseline: the CA's key generated or loaded, a serving certificate
// signed, the listeners bound). It reports all three, the engine's ratio
// to plain fx (engine/fx) and to the bare baseline (ratio).
func BenchmarkBoot(b *testing.B) {
	for _, bc := range []struct {
		name    string
		keyType string
		reuse   bool
	}{
		{"ecdsa-p256/generated", ca.KeyECDSAP256, false},
		{"rsa-2048/generated", ca.KeyRSA2048, false},
		{"ecdsa-p256/reused", ca.KeyECDSAP256, true},
		{"rsa-2048/reused", ca.KeyRSA2048, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			reused := b.TempDir()
			if bc.reuse {
				bootEngine(b, reused, bc.keyType) // persist the CA once
			}
			dir := func() string {
				if bc.reuse {
					return reused
				}
				return b.TempDir()
			}
			var engine, plain, bare time.Duration
			b.ReportAllocs()
			for b.Loop() {
				begin := time.Now()
				bootEngine(b, dir(), bc.keyType)
				engine += time.Since(begin)
				begin = time.Now()
				bootPlainFx(b, dir(), bc.keyType)
				plain += time.Since(begin)
				begin = time.Now()
				bootBaseline(b, dir(), bc.keyType, bc.reuse)
				bare += time.Since(begin)
			}
			reportRatio(b, engine, plain, "boot")
			b.ReportMetric(float64(bare.Microseconds())/float64(b.N), "baseline-µs/boot")
			b.ReportMetric(float64(engine)/float64(bare), "ratio")
		})
	}
}

// reportRatio reports the engine's and plain fx's time per op and their
// ratio.
func reportRatio(b *testing.B, engine, plain time.Duration, op string) {
	b.ReportMetric(float64(engine.Microseconds())/float64(b.N), "engine-µs/"+op)
	b.ReportMetric(float64(plain.Microseconds())/float64(b.N), "fx-µs/"+op)
	b.ReportMetric(float64(engine)/float64(plain), "engine/fx")
}

// bootParts are the parts of the full local plane, on free ports.
func bootParts(dataDir, keyType string) []fx.Option {
	return []fx.Option{
		component.SupplyEnv(component.Env{DataDir: dataDir}),
		ca.Module(ca.Options{KeyType: keyType}),
		servingcert.Module(servingcert.Options{}),
		grpc.Module(grpc.Options{Addr: loopbackAnyPort}),
		webhook.Module(webhook.Options{Addr: loopbackAnyPort}),
		dns.Module(dns.Options{Addr: loopbackAnyPort}),
		monitoring.Module(monitoring.Options{Addr: loopbackAnyPort}),
	}
}

func bootEngine(b *testing.B, dataDir, keyType string) {
	var mon *monitoring.Server
	p, err := bootgraph.New(bootgraph.Options{Logger: zap.NewNop()}, append(bootParts(dataDir, keyType), fx.Populate(&mon))...)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := p.Start(ctx); err != nil {
		b.Fatal(err)
	}
	if err := mon.Ready(ctx); err != nil {
		b.Fatal("not ready after start: ", err)
	}
	if err := p.Stop(ctx); err != nil {
		b.Fatal(err)
	}
}

// bootPlainFx boots the same parts with fx alone, supplying what the
// engine would: a logger and a metrics registry.
func bootPlainFx(b *testing.B, dataDir, keyType string) {
	var mon *monitoring.Server
	reg := prometheus.NewRegistry()
	app := fx.New(append(bootParts(dataDir, keyType), fx.NopLogger, fx.Supply(zap.NewNop()),
		fx.Supply(fx.Annotate(reg, fx.As(new(prometheus.Registerer)), fx.As(new(prometheus.Gatherer)))),
		fx.Populate(&mon))...)
	if err := app.Err(); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := app.Start(ctx); err != nil {
		b.Fatal(err)
	}
	if err := mon.Ready(ctx); err != nil {
		b.Fatal("not ready after start: ", err)
	}
	if err := app.Stop(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkEngineScale builds, starts and stops synthetic compositions of
// n constructors, with the engine and with plain fx in each iteration, and
// reports both and their ratio.
func BenchmarkEngineScale(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("constructors=%d", n), func(b *testing.B) {
			opts := testutil.Synthetic(n)
			ctx := context.Background()
			var engine, plain time.Duration
			b.ReportAllocs()
			for b.Loop() {
				begin := time.Now()
				p, err := bootgraph.New(bootgraph.Options{Logger: zap.NewNop()}, opts...)
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Start(ctx); err != nil {
					b.Fatal(err)
				}
				if err := p.Stop(ctx); err != nil {
					b.Fatal(err)
				}
				engine += time.Since(begin)
				begin = time.Now()
				app := fx.New(append(opts, fx.NopLogger)...)
				if err := app.Err(); err != nil {
					b.Fatal(err)
				}
				if err := app.Start(ctx); err != nil {
					b.Fatal(err)
				}
				if err := app.Stop(ctx); err != nil {
					b.Fatal(err)
				}
				plain += time.Since(begin)
			}
			reportRatio(b, engine, plain, "op")
		})
	}
}

// BenchmarkCreateCertificate calls CreateCertificate over real TLS gRPC from
// caCallers parallel connections, against `bootgraph serve` in its own
// process so that the server's CPU time and allocations are measured apart
// from the clients'. Client and server share the machine's cores.
//
// Each run has three phases on the same CSRs (P-256 or RSA-2048 ones):
//
//   - load: as many requests as the connections carry, for certs/s and the
//     server's CPU, allocations and bytes per certificate;
//   - crypto: the bare crypto of issuing, measured in this process right
//     after (see bareCrypto), the baseline the server's CPU is divided by;
//   - paced: requests sent on a fixed schedule (open loop) at half the rate
//     the load phase reached, for p99-ms, timed from when each was due.
func BenchmarkCreateCertificate(b *testing.B) {
	srv := startServer(b)
	bare := loadBareCrypto(b, srv)
	for _, kt := range []struct{ name, keyType string }{
		{"p256", caclient.KeyECDSAP256},
		{"rsa2048", caclient.KeyRSA2048},
	} {
		b.Run(kt.name, func(b *testing.B) {
			pool := csrPool(b, kt.keyType)
			clients := srv.clients(b, pool)
			b.ReportAllocs()
			b.ResetTimer()
			load := loadPhase(b, srv, clients, pool)
			b.StopTimer()
			cryptoPhase(b, bare, pool, load.serverCPU)
			pacedPhase(b, clients, pool, load.rate/2, max(b.N/4, 1))
		})
	}
}

// caCallers is how many connections call the CA at once, each from one
// goroutine, whatever GOMAXPROCS is.
const caCallers = 8

// loadResult is what the load phase reached: certificates per second and
// the server's CPU time per certificate.
type loadResult struct {
	rate      float64
	serverCPU time.Duration
}

// loadPhase issues b.N certificates from clients at once and reports
// certs/s and the server's CPU, allocations and bytes per certificate.
func loadPhase(b *testing.B, srv *serverProcess, clients []*caclient.Client, pool [][]byte) loadResult {
	cpuBefore, allocsBefore, bytesBefore := srv.cpu(b), srv.metric(b, "go_memstats_mallocs_total"), srv.metric(b, "go_memstats_alloc_bytes_total")
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for _, client := range clients {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				if _, err := client.CreateCertificate(context.Background(), pool[i%int64(len(pool))], 0); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	n := float64(b.N)
	cpu := srv.cpu(b) - cpuBefore
	b.ReportMetric(n/elapsed.Seconds(), "certs/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/n/1e3, "server-cpu-µs/cert")
	b.ReportMetric((srv.metric(b, "go_memstats_mallocs_total")-allocsBefore)/n, "server-allocs/cert")
	b.ReportMetric((srv.metric(b, "go_memstats_alloc_bytes_total")-bytesBefore)/n, "server-B/cert")
	return loadResult{rate: n / elapsed.Seconds(), serverCPU: cpu / time.Duration(b.N)}
}

// cryptoPhase runs bare crypto over the pool, once per two certificates
// the load phase issued, on one goroutine while nothing else runs in this
// process, and reports its CPU time per certificate and the ratio of
// serverCPU (per certificate) to it.
func cryptoPhase(b *testing.B, bare *bareCrypto, pool [][]byte, serverCPU time.Duration) {
	n := max(b.N/2, 1)
	before := processCPU(b)
	for i := range n {
		if err := bare.issue(pool[i%len(pool)]); err != nil {
			b.Fatal(err)
		}
	}
	perCert := float64((processCPU(b) - before).Nanoseconds()) / float64(n)
	b.ReportMetric(perCert/1e3, "crypto-µs/cert")
	b.ReportMetric(float64(serverCPU.Nanoseconds())/perCert, "server/crypto")
}

// pacedPhase sends count requests at rate per second, round robin over the
// clients, each at its due time whether or not the previous ones are
// answered, and reports the 99th percentile of the time from due to
// answered. At most pacedInFlight are outstanding: when the machine stalls
// (other processes), the backlog waits here, its wait counted in its
// latency, rather than in the server, whose receive budget would end the
// oldest requests.
func pacedPhase(b *testing.B, clients []*caclient.Client, pool [][]byte, rate float64, count int) {
	interval := time.Duration(float64(time.Second) / rate)
	latencies := make([]time.Duration, count)
	inFlight := make(chan struct{}, pacedInFlight)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range count {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		inFlight <- struct{}{}
		wg.Go(func() {
			defer func() { <-inFlight }()
			if _, err := clients[i%len(clients)].CreateCertificate(context.Background(), pool[i%len(pool)], 0); err != nil {
				b.Error(err)
			}
			latencies[i] = time.Since(due)
		})
	}
	wg.Wait()
	slices.Sort(latencies)
	p99 := latencies[(len(latencies)*99+99)/100-1]
	b.ReportMetric(float64(p99.Microseconds())/1e3, "p99-ms")
}

// pacedInFlight bounds the paced phase's outstanding requests: twice
// caCallers, as many as the server receives at once by default.
const pacedInFlight = 2 * caCallers

// processCPU is this process's user+system CPU time.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bareCrypto issues a certificate the way the CA does, with nothing
// around it: decode the PEM CSR, parse it, check its signature, and sign a
// leaf of the CA's shape with x509.CreateCertificate, with the CA key that
// the server signs with.
type bareCrypto struct {
	cert *x509.Certificate
	key  crypto.Signer
	id   *url.URL
}

// loadBareCrypto reads the server's own CA certificate and key, so that
// the baseline signs with the same key type.
func loadBareCrypto(b *testing.B, srv *serverProcess) *bareCrypto {
	dir := filepath.Join(srv.dataDir, "ca")
	certPEM, err := os.ReadFile(filepath.Join(dir, ca.CACertFile))
	if err != nil {
		b.Fatal(err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, ca.CAKeyFile))
	if err != nil {
		b.Fatal(err)
	}
	certs, err := pemutil.ParseCerts(certPEM)
	if err != nil {
		b.Fatal(err)
	}
	key, err := pemutil.ParseKey(keyPEM)
	if err != nil {
		b.Fatal(err)
	}
	id, err := url.Parse(ca.SpiffeID(ca.DefaultTrustDomain, "default", "default"))
	if err != nil {
		b.Fatal(err)
	}
	return &bareCrypto{cert: certs[0], key: key, id: id}
}

var serialLimit = new(big.Int).Lsh(big.NewInt(1), 128)

func (c *bareCrypto) issue(csrPEM []byte) error {
	block, _ := pem.Decode(csrPEM)
	if block == nil {
		return errors.New("no PEM CSR")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return err
	}
	if err := csr.CheckSignature(); err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, serialLimit)
	if err != nil {
		return err
	}
	usage := x509.KeyUsageDigitalSignature
	if _, ok := csr.PublicKey.(*rsa.PublicKey); ok {
		usage |= x509.KeyUsageKeyEncipherment
	}
	now := time.Now()
	_, err = x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             now.Add(-2 * time.Minute),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{c.id},
	}, c.cert, csr.PublicKey, c.key)
	return err
}

// csrPools holds the CSRs of each key type, made once per process (an
// RSA key takes tens of milliseconds).
var csrPools = struct {
	sync.Mutex
	m map[string][][]byte
}{m: map[string][][]byte{}}

func csrPool(b *testing.B, keyType string) [][]byte {
	const size = 32
	csrPools.Lock()
	defer csrPools.Unlock()
	if pool, ok := csrPools.m[keyType]; ok {
		return pool
	}
	pool := make([][]byte, size)
	errs := make([]error, size)
	var wg sync.WaitGroup
	for i := range pool {
		wg.Go(func() {
			key, err := caclient.NewKey(keyType)
			if err == nil {
				pool[i], err = caclient.NewCSR(key)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	csrPools.m[keyType] = pool
	return pool
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// serverProcess is `bootgraph serve` running in its own process.
type serverProcess struct {
	cmd              *exec.Cmd
	dataDir          string
	grpc, monitoring string
}

func startServer(b *testing.B) *serverProcess {
	buildOnce.Do(func() {
		removeStaleBinaries()
		binPath = filepath.Join(os.TempDir(), fmt.Sprintf("bootgraph-bench-%d", os.Getpid()))
		out, err := exec.Command("go", "build", "-o", binPath, "./cmd/bootgraph").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	s := &serverProcess{dataDir: b.TempDir(), grpc: freeAddrB(b), monitoring: freeAddrB(b)}
	s.cmd = exec.Command(binPath, "serve", "--data-dir", s.dataDir, "--grpc-addr", s.grpc,
		"--webhook-addr", freeAddrB(b), "--dns-addr", freeAddrB(b), "--monitoring-addr", s.monitoring, "--log-level", "warn")
	s.cmd.Stderr = os.Stderr
	s.cmd.Env = append(os.Environ(), "KUBECONFIG=", "KUBERNETES_SERVICE_HOST=") // local mode
	if err := s.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.cmd.Process.Signal(os.Interrupt); s.cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get("http://" + s.monitoring + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("server not ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// removeStaleBinaries removes the binaries that earlier benchmark processes
// built (one each, tens of MB) once those processes are gone: nothing runs
// at the end of a test binary to remove its own.
func removeStaleBinaries() {
	stale, _ := filepath.Glob(filepath.Join(os.TempDir(), "bootgraph-bench-*"))
	for _, path := range stale {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(path), "bootgraph-bench-"))
		if err != nil {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
			_ = os.Remove(path)
		}
	}
}

func freeAddrB(b *testing.B) string {
	l, err := net.Listen("tcp", loopbackAnyPort)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (s *serverProcess) client(b *testing.B) *caclient.Client {
	root, err := os.ReadFile(filepath.Join(s.dataDir, "ca", ca.RootCertFile))
	if err != nil {
		b.Fatal(err)
	}
	tokens, err := os.ReadFile(filepath.Join(s.dataDir, "tokens.csv"))
	if err != nil {
		b.Fatal(err)
	}
	var token string
	for _, line := range strings.Split(string(tokens), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			token = strings.SplitN(line, ",", 2)[0]
			break
		}
	}
	c, err := caclient.Dial(caclient.Config{Addr: s.grpc, RootsPEM: root, Token: token})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// clients dials caCallers connections and makes one call on each, so that
// connections and TLS sessions exist before the measurement.
func (s *serverProcess) clients(b *testing.B, pool [][]byte) []*caclient.Client {
	clients := make([]*caclient.Client, caCallers)
	for i := range clients {
		clients[i] = s.client(b)
		b.Cleanup(func() { clients[i].Close() })
		if _, err := clients[i].CreateCertificate(context.Background(), pool[i%len(pool)], 0); err != nil {
			b.Fatal(err)
		}
	}
	return clients
}

// cpu returns the server process's user+system CPU time from /proc.
func (s *serverProcess) cpu(b *testing.B) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the ")" that closes the command name; utime and stime
	// are fields 14 and 15 of the whole line, in clock ticks.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}

// metric reads one unlabelled sample from the server's /metrics.
func (s *serverProcess) metric(b *testing.B, name string) float64 {
	resp, err := http.Get("http://" + s.monitoring + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatal(err)
			}
			return f
		}
	}
	b.Fatalf("metric %s not found", name)
	return 0
}
