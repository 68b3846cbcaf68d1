package ca_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/caclient"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/ca"
	grpcmod "github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

// benchKeyTypes are the CSR key types the benchmarks issue for.
var benchKeyTypes = []struct{ name, keyType string }{
	{"p256", caclient.KeyECDSAP256},
	{"rsa2048", caclient.KeyRSA2048},
}

// benchCallers is how many connections the serving benchmark calls from.
const benchCallers = 8

// BenchmarkSign measures CA.Sign alone, and in the same run the bare
// crypto it cannot avoid (see bareIssue), and reports their ratio.
func BenchmarkSign(b *testing.B) {
	c := benchCA(b)
	for _, kt := range benchKeyTypes {
		b.Run(kt.name, func(b *testing.B) {
			pool := benchCSRs(b, kt.keyType, 16)
			ids := []string{ca.SpiffeID(c.TrustDomain(), "default", "default")}
			b.ReportAllocs()
			signCPU := cpuTime(func() {
				for i := 0; b.Loop(); i++ {
					if _, err := c.Sign(pool[i%len(pool)], ids, 0); err != nil {
						b.Fatal(err)
					}
				}
			})
			reportBaseline(b, c, pool, signCPU)
		})
	}
}

// BenchmarkServeCreateCertificate serves the CA as `bootgraph serve` does
// (the CA, serving certificate and secure gRPC parts, in this process) and
// calls CreateCertificate from benchCallers connections in a child process
// (TestCABenchClient), so that this process's CPU time, allocations and
// profiles (-cpuprofile, -memprofile) are the server's alone. It reports
// them per certificate, with the bare crypto measured in the same run.
// scripts/profile-ca.sh profiles it.
func BenchmarkServeCreateCertificate(b *testing.B) {
	dataDir := b.TempDir()
	var (
		c *ca.CA
		s *grpcmod.Server
	)
	app := fxtest.New(b, fx.NopLogger, fx.Provide(zap.NewNop),
		component.SupplyEnv(component.Env{DataDir: dataDir}),
		ca.Module(ca.Options{}),
		servingcert.Module(servingcert.Options{}),
		grpcmod.Module(grpcmod.Options{Addr: "127.0.0.1:0"}),
		fx.Populate(&c, &s))
	app.RequireStart()
	b.Cleanup(app.RequireStop)
	roots := filepath.Join(dataDir, "roots.pem")
	if err := os.WriteFile(roots, c.RootPEM(), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, kt := range benchKeyTypes {
		b.Run(kt.name, func(b *testing.B) {
			client := startBenchClient(b, s.Addr(), roots, filepath.Join(dataDir, ca.TokenFileName), kt.keyType)
			b.ReportAllocs()
			b.ResetTimer()
			serverCPU := cpuTime(func() { client.run(b, b.N) })
			b.StopTimer()
			reportBaseline(b, c, benchCSRs(b, kt.keyType, 16), serverCPU)
		})
	}
}

// benchClient is a TestCABenchClient child process, ready to issue.
type benchClient struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines *bufio.Scanner
}

func startBenchClient(b *testing.B, addr, rootsFile, tokenFile, keyType string) *benchClient {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCABenchClient$", "-test.count=1")
	cmd.Env = append(os.Environ(), "CA_BENCH_ADDR="+addr, "CA_BENCH_ROOTS="+rootsFile,
		"CA_BENCH_TOKENS="+tokenFile, "CA_BENCH_KEY_TYPE="+keyType)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	c := &benchClient{cmd: cmd, in: in, lines: bufio.NewScanner(out)}
	b.Cleanup(func() { _ = in.Close(); _ = cmd.Wait() })
	c.expect(b, "ready")
	return c
}

// run has the child issue n certificates and waits until it has.
func (c *benchClient) run(b *testing.B, n int) {
	if _, err := fmt.Fprintln(c.in, n); err != nil {
		b.Fatal(err)
	}
	c.expect(b, "done")
}

func (c *benchClient) expect(b *testing.B, want string) {
	for c.lines.Scan() {
		if c.lines.Text() == want {
			return
		}
	}
	b.Fatalf("the benchmark client stopped before %q", want)
}

// TestCABenchClient is the child process of BenchmarkServeCreateCertificate:
// it dials benchCallers connections, says "ready", then for each count n
// read from stdin issues n certificates from all connections at once and
// says "done".
func TestCABenchClient(t *testing.T) {
	addr := os.Getenv("CA_BENCH_ADDR")
	if addr == "" {
		t.Skip("the child process of BenchmarkServeCreateCertificate")
	}
	roots, err := os.ReadFile(os.Getenv("CA_BENCH_ROOTS"))
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := os.ReadFile(os.Getenv("CA_BENCH_TOKENS"))
	if err != nil {
		t.Fatal(err)
	}
	pool := benchCSRs(t, os.Getenv("CA_BENCH_KEY_TYPE"), 16)
	clients := make([]*caclient.Client, benchCallers)
	for i := range clients {
		clients[i], err = caclient.Dial(caclient.Config{Addr: addr, RootsPEM: roots, ServerName: "localhost", Token: firstToken(string(tokens))})
		if err != nil {
			t.Fatal(err)
		}
		defer clients[i].Close()
		if _, err := clients[i].CreateCertificate(context.Background(), pool[i%len(pool)], 0); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		n, err := strconv.Atoi(in.Text())
		if err != nil {
			t.Fatal(err)
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		for _, client := range clients {
			wg.Go(func() {
				for i := next.Add(1); i <= int64(n); i = next.Add(1) {
					if _, err := client.CreateCertificate(context.Background(), pool[i%int64(len(pool))], 0); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		fmt.Println("done")
	}
}

func firstToken(tokens string) string {
	for _, line := range strings.Split(tokens, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			tok, _, _ := strings.Cut(line, ",")
			return tok
		}
	}
	return ""
}

// benchCA is a CA with default options (a P-256 self-signed root, as
// `bootgraph serve` makes).
func benchCA(b *testing.B) *ca.CA {
	c, err := ca.New(ca.Options{DataDir: filepath.Join(b.TempDir(), "ca")}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// benchCSRs makes n PEM CSRs for new keys of keyType.
func benchCSRs(tb testing.TB, keyType string, n int) [][]byte {
	pool := make([][]byte, n)
	errs := make([]error, n)
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
		tb.Fatal(err)
	}
	return pool
}

// reportBaseline runs the bare crypto over pool with c's signing key, half
// as many times as the benchmark issued, and reports its CPU time per
// certificate and the ratio of measured (the CPU time of b.N
// certificates) to it.
func reportBaseline(b *testing.B, c *ca.CA, pool [][]byte, measured time.Duration) {
	cert, key := c.SigningMaterial()
	id, err := url.Parse(ca.SpiffeID(c.TrustDomain(), "default", "default"))
	if err != nil {
		b.Fatal(err)
	}
	n := max(b.N/2, 1)
	bare := cpuTime(func() {
		for i := range n {
			if err := bareIssue(pool[i%len(pool)], cert, key, id); err != nil {
				b.Fatal(err)
			}
		}
	})
	perCert := float64(measured.Nanoseconds()) / float64(b.N)
	bareCert := float64(bare.Nanoseconds()) / float64(n)
	b.ReportMetric(perCert/1e3, "cpu-µs/cert")
	b.ReportMetric(bareCert/1e3, "crypto-µs/cert")
	b.ReportMetric(perCert/bareCert, "cpu/crypto")
}

var benchSerialLimit = new(big.Int).Lsh(big.NewInt(1), 128)

// bareIssue is the crypto of issuing with nothing around it: decode and
// parse the CSR, check its signature, and x509.CreateCertificate a leaf of
// the CA's shape.
func bareIssue(csrPEM []byte, caCert *x509.Certificate, caKey any, id *url.URL) error {
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
	serial, err := rand.Int(rand.Reader, benchSerialLimit)
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
		URIs:                  []*url.URL{id},
	}, caCert, csr.PublicKey, caKey)
	return err
}

// cpuTime is the user+system CPU time this process spends while f runs.
func cpuTime(f func()) time.Duration {
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	f()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	return time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
}
