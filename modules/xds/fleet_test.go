package xds_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/stretchr/testify/require"
	gogrpc "google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/ca"
)

// The test plane binary (internal/testplane), built once, without the
// race detector: its memory and CPU are measured.
var testplane struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func testplaneBinary(t testing.TB) string {
	t.Helper()
	testplane.once.Do(func() {
		testplane.dir, testplane.err = os.MkdirTemp("", "xds-testplane")
		if testplane.err != nil {
			return
		}
		testplane.path = filepath.Join(testplane.dir, "testplane")
		out, err := exec.Command("go", "build", "-o", testplane.path, "./internal/testplane").CombinedOutput()
		if err != nil {
			testplane.err = fmt.Errorf("go build ./internal/testplane: %w\n%s", err, out)
		}
	})
	require.NoError(t, testplane.err)
	return testplane.path
}

// planeProc is a running test plane.
type planeProc struct {
	cmd    *exec.Cmd
	addr   string
	ca     *ca.CA // the plane's CA, loaded from its data directory
	stderr *testutil.SyncBuffer
	exited chan error
	ctl    *gogrpc.ClientConn // for bootgraph.test.Plane
}

// startTestPlane runs the test plane until the test ends. Its CA is made
// here first, in its data directory, so that the test can issue client
// certificates the plane trusts.
func startTestPlane(t testing.TB, args ...string) *planeProc {
	t.Helper()
	data := t.TempDir()
	c, err := ca.New(ca.Options{DataDir: filepath.Join(data, "ca")}, nil, nil)
	require.NoError(t, err)
	p := &planeProc{ca: c, stderr: &testutil.SyncBuffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(testplaneBinary(t), append([]string{"--data-dir", data}, args...)...)
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "ready grpc="); ok {
				ready <- addr
			}
		}
		close(ready)
		p.exited <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	select {
	case addr, ok := <-ready:
		require.True(t, ok, "the test plane exited before it was ready:\n%s", p.stderr)
		p.addr = addr
	case <-time.After(bound):
		t.Fatalf("the test plane was not ready in %v:\n%s", bound, p.stderr)
	}
	cert, _, _ := workloadCert(t, c, "spiffe://cluster.local/ns/test/sa/control")
	p.ctl = dial(t, p.addr, c.Roots(), &cert)
	return p
}

func (p *planeProc) call(t testing.TB, method string, in, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	require.NoError(t, p.ctl.Invoke(ctx, "/bootgraph.test.Plane/"+method, in, out))
}

// publish makes the shared resources one cluster named version.
func (p *planeProc) publish(t testing.TB, version string) {
	t.Helper()
	p.call(t, "Publish", wrapperspb.String(version), &emptypb.Empty{})
}

// planeStats is the test plane's Stats answer.
type planeStats struct {
	HeapInuse  uint64 `json:"heapInuse"`
	Sys        uint64 `json:"sys"`
	Goroutines int    `json:"goroutines"`
	CPUNanos   int64  `json:"cpuNanos"`
	RSS        uint64 `json:"-"` // from /proc
}

func (p *planeProc) stats(t testing.TB, gc bool) planeStats {
	t.Helper()
	var out wrapperspb.StringValue
	p.call(t, "Stats", wrapperspb.Bool(gc), &out)
	var s planeStats
	require.NoError(t, json.Unmarshal([]byte(out.GetValue()), &s))
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				var kb uint64
				_, _ = fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
				s.RSS = kb << 10
			}
		}
	}
	return s
}

// terminate sends SIGTERM.
func (p *planeProc) terminate(t testing.TB) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
}

// fleet is many xDS clients, each with an identity and a connection of its
// own, each holding one ADS stream (state of the world or delta) that
// subscribes to every cluster and ACKs what it gets. It tracks when the
// last of them has received a given cluster.
type fleet struct {
	members []*member

	mu      sync.Mutex
	want    string
	pending int
	last    time.Time
	done    chan struct{}
}

type member struct {
	conn  *gogrpc.ClientConn
	ended chan error // how the stream ended
}

// newFleet connects n clients, the ith a delta client when delta(i). The
// plane must already serve a cluster named first: newFleet returns once
// every client has it.
func newFleet(t testing.TB, addr string, c *ca.CA, n int, delta func(i int) bool, first string) *fleet {
	t.Helper()
	f := &fleet{}
	f.expect(first, n)
	certs := make([]tls.Certificate, n)
	for i := range n {
		certs[i], _, _ = workloadCert(t, c, fmt.Sprintf("spiffe://cluster.local/ns/fleet/sa/client-%d", i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for i := range n {
		m := &member{conn: dial(t, addr, c.Roots(), &certs[i]), ended: make(chan error, 1)}
		f.members = append(f.members, m)
		node := fmt.Sprintf("spiffe://cluster.local/ns/fleet/sa/client-%d", i)
		if delta(i) {
			go m.runDelta(ctx, node, f)
		} else {
			go m.runSotW(ctx, node, f)
		}
	}
	f.wait(t, "every client's first response")
	return f
}

// expect starts waiting for n clients to receive the cluster v.
func (f *fleet) expect(v string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.want, f.pending, f.done = v, n, make(chan struct{})
}

// seen records that a client received the clusters names.
func (f *fleet) seen(names []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range names {
		if n == f.want && f.pending > 0 {
			f.pending--
			f.last = time.Now()
			if f.pending == 0 {
				close(f.done)
			}
		}
	}
}

// wait returns when every client has what was expected, and when the last
// got it.
func (f *fleet) wait(t testing.TB, what string) time.Time {
	t.Helper()
	f.mu.Lock()
	done := f.done
	f.mu.Unlock()
	select {
	case <-done:
	case <-time.After(2 * bound):
		f.mu.Lock()
		defer f.mu.Unlock()
		t.Fatalf("%s: %d clients still waiting for %q", what, f.pending, f.want)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func (m *member) runSotW(ctx context.Context, node string, f *fleet) {
	st, err := discovery.NewAggregatedDiscoveryServiceClient(m.conn).StreamAggregatedResources(ctx)
	if err == nil {
		err = st.Send(&discovery.DiscoveryRequest{Node: nodeOf(node), TypeUrl: resource.ClusterType})
	}
	for err == nil {
		var resp *discovery.DiscoveryResponse
		if resp, err = st.Recv(); err != nil {
			break
		}
		var got []string
		for _, a := range resp.GetResources() {
			var c clusterType
			if a.UnmarshalTo(&c) == nil {
				got = append(got, c.GetName())
			}
		}
		f.seen(got)
		err = st.Send(&discovery.DiscoveryRequest{TypeUrl: resource.ClusterType, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()})
	}
	m.ended <- err
}

func (m *member) runDelta(ctx context.Context, node string, f *fleet) {
	st, err := discovery.NewAggregatedDiscoveryServiceClient(m.conn).DeltaAggregatedResources(ctx)
	if err == nil {
		err = st.Send(&discovery.DeltaDiscoveryRequest{Node: nodeOf(node), TypeUrl: resource.ClusterType, ResourceNamesSubscribe: []string{"*"}})
	}
	for err == nil {
		var resp *discovery.DeltaDiscoveryResponse
		if resp, err = st.Recv(); err != nil {
			break
		}
		var got []string
		for _, r := range resp.GetResources() {
			got = append(got, r.GetName())
		}
		f.seen(got)
		err = st.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.ClusterType, ResponseNonce: resp.GetNonce()})
	}
	m.ended <- err
}
