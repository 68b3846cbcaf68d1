package main_test

// Resource limits of a running plane, measured on `bootgraph serve` in its
// own process: thousands of clients that connect and send nothing, and a
// stop with clients attached.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	gogrpc "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/bootgraph/bootgraph/internal/testutil"
)

// limitsBinary is the bootgraph these tests run: the one TestMain built,
// or $BOOTGRAPH_LIMITS_BINARY (to measure another build, e.g. an older one).
func limitsBinary() string {
	if b := os.Getenv("BOOTGRAPH_LIMITS_BINARY"); b != "" {
		return b
	}
	return binary
}

// plane is a running `bootgraph serve` with the address of each listener.
type plane struct {
	cmd                            *exec.Cmd
	out                            *testutil.SyncBuffer
	dataDir                        string
	grpc, webhook, dns, monitoring string
	roots                          *x509.CertPool
	startedAt                      time.Time
}

// startPlane runs `bootgraph serve` on free loopback ports; with nofile >
// 0, under `ulimit -n nofile`.
func startPlane(t *testing.T, nofile int) *plane {
	t.Helper()
	p := &plane{out: &testutil.SyncBuffer{}, dataDir: t.TempDir(),
		grpc: freeAddr(t), webhook: freeAddr(t), dns: freeAddr(t), monitoring: freeAddr(t)}
	args := []string{"serve", "--data-dir", p.dataDir, "--grpc-addr", p.grpc, "--webhook-addr", p.webhook,
		"--dns-addr", p.dns, "--monitoring-addr", p.monitoring}
	if nofile > 0 {
		p.cmd = exec.Command("sh", append([]string{"-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, nofile), limitsBinary()}, args...)...)
	} else {
		p.cmd = exec.Command(limitsBinary(), args...)
	}
	p.cmd.Env = localEnv()
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	require.NoError(t, p.cmd.Start())
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + p.monitoring + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "serve never became ready:\n%s", p.out)
	rootPEM, err := os.ReadFile(filepath.Join(p.dataDir, "ca", "root-cert.pem"))
	require.NoError(t, err)
	p.roots = x509.NewCertPool()
	require.True(t, p.roots.AppendCertsFromPEM(rootPEM))
	p.startedAt = time.Now()
	return p
}

func (p *plane) tlsConfig(proto string) *tls.Config {
	return &tls.Config{RootCAs: p.roots, ServerName: "localhost", NextProtos: []string{proto}, MinVersion: tls.VersionTLS12}
}

// proc reads a "Name: value kB" line of /proc/<pid>/status, in bytes.
func (p *plane) proc(t *testing.T, name string) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", name, p.cmd.Process.Pid)
	return 0
}

// fds counts the plane's open file descriptors.
func (p *plane) fds(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	require.NoError(t, err)
	return len(entries)
}

// cpu returns the CPU time the plane used so far.
func (p *plane) cpu(t *testing.T) time.Duration {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	require.NoError(t, err)
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, err := strconv.ParseInt(fields[11], 10, 64)
	require.NoError(t, err)
	stime, err := strconv.ParseInt(fields[12], 10, 64)
	require.NoError(t, err)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// metrics returns the plane's /metrics lines that start with prefix.
func (p *plane) metrics(t *testing.T, prefix string) []string {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + p.monitoring + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			lines = append(lines, sc.Text())
		}
	}
	return lines
}

// served checks that a well-behaved client of each listener is served, and
// returns one error per listener that failed it.
func (p *plane) served(t *testing.T) map[string]error {
	t.Helper()
	errs := map[string]error{}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	conn, err := gogrpc.NewClient(p.grpc, gogrpc.WithTransportCredentials(credentials.NewTLS(p.tlsConfig("h2"))))
	if err == nil {
		_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		conn.Close()
	}
	if err != nil {
		errs["secure-grpc"] = err
	}

	transport := &http.Transport{TLSClientConfig: p.tlsConfig("h2"), ForceAttemptHTTP2: true}
	client := &http.Client{Transport: transport, Timeout: 15 * time.Second}
	for name, url := range map[string]string{"https-webhook": "https://" + p.webhook + "/ready", "monitoring": "http://" + p.monitoring + "/ready"} {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %s", resp.Status)
			}
		}
		if err != nil {
			errs[name] = err
		}
	}
	transport.CloseIdleConnections()

	c := &mdns.Client{Net: "tcp-tls", TLSConfig: p.tlsConfig("dot"), Timeout: 15 * time.Second}
	resp, _, err := c.Exchange(new(mdns.Msg).SetQuestion("istiod.istio-system.svc.", mdns.TypeA), p.dns)
	if err == nil && len(resp.Answer) != 1 {
		err = fmt.Errorf("answer %v", resp.Answer)
	}
	if err != nil {
		errs["dns-over-tls"] = err
	}
	return errs
}

// raiseOpenFiles makes this process's open-file limit at least need, or
// skips the test saying why it cannot.
func raiseOpenFiles(t *testing.T, need uint64) {
	t.Helper()
	var rl syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl))
	if rl.Cur >= need {
		return
	}
	if rl.Max < need {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: need, Max: need}); err != nil {
			t.Skipf("needs %d open files and the hard limit is %d, which this user cannot raise (%v): "+
				"run `ulimit -Hn %d` as root first, or run the test as root", need, rl.Max, err, need)
		}
		return
	}
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: need, Max: rl.Max}))
}

var (
	flooderOnce sync.Once
	flooderPath string
	flooderErr  error
)

// flooder builds testdata/flooder once per run.
func flooder(t *testing.T) string {
	t.Helper()
	flooderOnce.Do(func() {
		flooderPath = filepath.Join(filepath.Dir(binary), "flooder")
		if out, err := exec.Command("go", "build", "-o", flooderPath, "./testdata/flooder").CombinedOutput(); err != nil {
			flooderErr = fmt.Errorf("go build ./testdata/flooder: %w\n%s", err, out)
		}
	})
	require.NoError(t, flooderErr)
	return flooderPath
}

// floodFrom opens n TCP connections to addr that send nothing from a child
// process (testdata/flooder), which has an open-file limit of its own; they
// are held until the test ends. It returns how many were opened.
func floodFrom(t *testing.T, addr string, n int) int {
	t.Helper()
	cmd := exec.Command(flooder(t), addr, strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		stdin.Close() // the child closes its connections and exits
		_ = cmd.Wait()
	})
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if v, ok := strings.CutPrefix(lines.Text(), "flood: opened "); ok {
			opened, rest, _ := strings.Cut(v, " ")
			count, err := strconv.Atoi(opened)
			require.NoError(t, err)
			t.Logf("flood of %s: opened %d of %d %s", addr, count, n, rest)
			return count
		}
	}
	t.Fatalf("the flood child for %s ended without a count: %v", addr, lines.Err())
	return 0
}

// Thousands of clients that connect and send nothing, 5,000 on each
// listener at once, do not stop a well-behaved client from being served on
// every listener, and the plane stays within a stated memory bound. Each
// full listener closes its oldest unanswered connections for new ones, and
// holds at most its cap, so that the process keeps descriptors for the
// others. Under `ulimit -n 1024` (the setting: 1,010 connections
// made every listener unreachable) the caps shrink to an eighth of the
// limit each.
func TestIdleFloodEveryListener(t *testing.T) {
	const perListener = 5000
	// Each listener's flood comes from a child process of its own (whose
	// limit it raises); the plane holds at most its caps, 4096+3*1024.
	raiseOpenFiles(t, 8192+1024)
	for _, tc := range []struct {
		name   string
		nofile int
		// rssBound bounds the plane's peak resident memory (VmHWM).
		rssBound int64
	}{
		{"own open-file limit", 0, 256 << 20},
		{"ulimit -n 1024", 1024, 160 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startPlane(t, tc.nofile)
			require.Empty(t, p.served(t), "before the flood")
			before := p.proc(t, "VmRSS")

			begin := time.Now()
			var wg sync.WaitGroup
			opened := map[string]int{}
			var mu sync.Mutex
			for name, addr := range map[string]string{"secure-grpc": p.grpc, "https-webhook": p.webhook, "dns-over-tls": p.dns, "monitoring": p.monitoring} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n := floodFrom(t, addr, perListener)
					mu.Lock()
					opened[name] = n
					mu.Unlock()
				}()
			}
			wg.Wait()
			for _, name := range []string{"secure-grpc", "https-webhook", "dns-over-tls", "monitoring"} {
				assert.Equal(t, perListener, opened[name], "%s: connections the kernel completed", name)
			}
			t.Logf("%d idle connections opened in %v", 4*perListener, time.Since(begin).Round(time.Millisecond))

			// Served on every listener, three times over, while the flood
			// is attached.
			for round := range 3 {
				errs := p.served(t)
				assert.Empty(t, errs, "round %d: listeners that did not serve a well-behaved client", round)
			}
			cpuBefore, wallBefore := p.cpu(t), time.Now()
			for time.Since(wallBefore) < 2*time.Second { // a quiet window: the plane should be idle
				time.Sleep(100 * time.Millisecond)
			}
			cpuUsed, wall := p.cpu(t)-cpuBefore, time.Since(wallBefore)
			rss, peak, fds := p.proc(t, "VmRSS"), p.proc(t, "VmHWM"), p.fds(t)
			t.Logf("plane: RSS %d MiB before, %d MiB with the flood, peak %d MiB (bound %d MiB); %d open files; CPU %v in %v while the flood idles",
				before>>20, rss>>20, peak>>20, tc.rssBound>>20, fds, cpuUsed, wall.Round(time.Millisecond))
			for _, line := range p.metrics(t, "bootgraph_listener_") {
				t.Log(line)
			}
			assert.LessOrEqual(t, peak, tc.rssBound, "peak RSS")
			assert.Less(t, cpuUsed, wall/4, "the accept loops do not spin")
			if tc.nofile > 0 {
				assert.LessOrEqual(t, fds, tc.nofile/2+64, "four listeners hold at most an eighth of the limit each")
			}
			for _, l := range []string{"secure-grpc", "https-webhook", "dns-over-tls", "monitoring"} {
				assert.Contains(t, strings.Join(p.metrics(t, "bootgraph_listener_evicted_connections_total{listener=\""+l+"\"}"), "\n"), "bootgraph_listener_evicted", l)
			}

			require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
			require.NoError(t, p.cmd.Wait(), "exit status; output:\n%s", p.out)
		})
	}
}

// 2,000 idle DoT connections against 1,024 descriptors made the CA and
// monitoring unreachable for 30–60 s while the DoT accept loop spun at 1.3
// cores: now the DoT listener holds at most its share, the CA issues a
// certificate and monitoring answers at once, and the plane is idle.
func TestIdleDoTFloodLeavesOthersReachable(t *testing.T) {
	p := startPlane(t, 1024)
	require.Equal(t, 2000, floodFrom(t, p.dns, 2000))

	msg, err := run(t, "cert", "--addr", p.grpc, "--root", filepath.Join(p.dataDir, "ca", "root-cert.pem"),
		"--token-file", filepath.Join(p.dataDir, "tokens.csv"), "--out", filepath.Join(t.TempDir(), "certs"))
	require.NoError(t, err, "the CA issues a certificate: %s", msg)
	assert.Empty(t, p.served(t), "every listener serves")

	cpuBefore, wallBefore := p.cpu(t), time.Now()
	for time.Since(wallBefore) < 2*time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	cpuUsed, wall := p.cpu(t)-cpuBefore, time.Since(wallBefore)
	fds := p.fds(t)
	t.Logf("plane: %d open files, CPU %v in %v with 2,000 idle DoT connections", fds, cpuUsed, wall.Round(time.Millisecond))
	assert.Less(t, cpuUsed, wall/4, "the DoT accept loop does not spin")
	assert.LessOrEqual(t, fds, 1024/8+128, "the DoT listener holds at most its share of the descriptors")
	accepted := p.metrics(t, `bootgraph_listener_accept_errors_total{listener="dns-over-tls"}`)
	assert.Equal(t, []string{`bootgraph_listener_accept_errors_total{listener="dns-over-tls"} 0`}, accepted, "no accept ran out of descriptors")

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, p.cmd.Wait(), "exit status; output:\n%s", p.out)
}

// SIGTERM while clients hold every listener: a Health/Watch stream on
// gRPC, a client trickling a request body to the webhook, an idle DoT
// client, and a monitoring client whose declared body never comes. The
// plane exits 0 within its stop timeout (15s), each listener having
// stopped within its drain deadline; the watch ends with UNAVAILABLE.
func TestStopWithClientsAttached(t *testing.T) {
	p := startPlane(t, 0)

	// gRPC: a Health/Watch stream, as grpcurl holds one.
	conn, err := gogrpc.NewClient(p.grpc, gogrpc.WithTransportCredentials(credentials.NewTLS(p.tlsConfig("h2"))))
	require.NoError(t, err)
	defer conn.Close()
	watch, err := healthpb.NewHealthClient(conn).Watch(context.Background(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	first, err := watch.Recv()
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, first.GetStatus())

	// Webhook: a request whose body comes a byte at a time.
	hook, err := tls.Dial("tcp", p.webhook, p.tlsConfig("http/1.1"))
	require.NoError(t, err)
	defer hook.Close()
	_, err = io.WriteString(hook, "POST /ready HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
	require.NoError(t, err)
	trickling := make(chan struct{})
	go func() {
		defer close(trickling)
		for {
			if _, err := hook.Write([]byte("{")); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	// DoT: a client that was answered and stays idle.
	dot, err := tls.Dial("tcp", p.dns, p.tlsConfig("dot"))
	require.NoError(t, err)
	defer dot.Close()
	q, err := new(mdns.Msg).SetQuestion("istiod.istio-system.svc.", mdns.TypeA).Pack()
	require.NoError(t, err)
	_, err = dot.Write(append([]byte{byte(len(q) >> 8), byte(len(q))}, q...))
	require.NoError(t, err)
	require.NoError(t, dot.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = io.ReadFull(dot, make([]byte, 2))
	require.NoError(t, err)

	// Monitoring: a request whose declared body never comes.
	mon, err := net.Dial("tcp", p.monitoring)
	require.NoError(t, err)
	defer mon.Close()
	_, err = io.WriteString(mon, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
	require.NoError(t, err)

	begin := time.Now()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err = <-exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not exit within 60s of SIGTERM:\n%s", p.out)
	}
	took := time.Since(begin)
	t.Logf("SIGTERM to exit: %v", took.Round(time.Millisecond))
	require.NoError(t, err, "exit status; output:\n%s", p.out)
	assert.Less(t, took, 15*time.Second, "within the plane's stop timeout")
	assert.NotContains(t, p.out.String(), "stop timed out")
	assert.Contains(t, p.out.String(), "plane stopped")

	var last *healthpb.HealthCheckResponse
	for {
		resp, err := watch.Recv()
		if err != nil {
			assert.Equal(t, codes.Unavailable, status.Code(err), "the watch ends with a status a client retries: %v", err)
			break
		}
		last = resp
	}
	require.NotNil(t, last, "the watch was told")
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, last.GetStatus(), "NOT_SERVING before it ended")
	<-trickling // the webhook connection was closed
	for name, c := range map[string]net.Conn{"dns-over-tls": dot, "monitoring": mon} {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
		_, err := io.ReadAll(c)
		var ne net.Error
		assert.False(t, errors.As(err, &ne) && ne.Timeout(), "%s: the connection outlived the plane", name)
	}
}
