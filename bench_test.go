package bootgraph_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/caclient"
	"github.com/bootgraph/bootgraph/component"
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

// BenchmarkCreateCertificate calls CreateCertificate over real TLS gRPC with
// P-256 CSRs from parallel clients, against `bootgraph serve` in its own
// process so that the server's CPU time and allocations are measured apart
// from the clients'. Client and server share the machine's cores.
func BenchmarkCreateCertificate(b *testing.B) {
	srv := startServer(b)
	const csrs = 64
	var pool [][]byte
	for range csrs {
		key, err := caclient.NewKey(caclient.KeyECDSAP256)
		if err != nil {
			b.Fatal(err)
		}
		csr, err := caclient.NewCSR(key)
		if err != nil {
			b.Fatal(err)
		}
		pool = append(pool, csr)
	}
	// Warm up the server (connections, TLS sessions, lazily built state).
	warm := srv.client(b)
	for _, csr := range pool[:8] {
		if _, err := warm.CreateCertificate(context.Background(), csr, 0); err != nil {
			b.Fatal(err)
		}
	}
	warm.Close()

	b.SetParallelism(4) // 4 × GOMAXPROCS client goroutines, one connection each
	cpuBefore, allocsBefore, bytesBefore := srv.cpu(b), srv.metric(b, "go_memstats_mallocs_total"), srv.metric(b, "go_memstats_alloc_bytes_total")
	var next atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		client := srv.client(b)
		defer client.Close()
		for pb.Next() {
			csr := pool[next.Add(1)%csrs]
			if _, err := client.CreateCertificate(context.Background(), csr, 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(n/elapsed.Seconds(), "certs/s")
	b.ReportMetric(float64((srv.cpu(b)-cpuBefore).Microseconds())/n, "server-cpu-µs/cert")
	b.ReportMetric((srv.metric(b, "go_memstats_mallocs_total")-allocsBefore)/n, "server-allocs/cert")
	b.ReportMetric((srv.metric(b, "go_memstats_alloc_bytes_total")-bytesBefore)/n, "server-B/cert")
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
