package bootgraph_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/bootgraph/bootgraph/internal/kubetest"
	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/kube"
)

// scaleNamespaces is how many namespaces the scale test creates.
const scaleNamespaces = 2000

// Scale on a real API server of its own: a plane (`bootgraph serve`, a
// process of its own so that its memory is its own) distributes the root
// to 2,000 namespaces; then `bootgraph ca rotate --kind rekey` changes the
// bundle and the test measures how long until every namespace's ConfigMap
// holds it, and the plane's memory (RSS, and Go heap in use) idle, with
// the namespaces, and after the change. The writes go through the plane's
// client-side limit (kube.qps, kube.burst): the propagation cannot be
// faster than the limit allows, which the test checks.
func TestKubeScaleRootPropagation(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the 2,000-namespace scale test")
	}
	if _, err := kubetest.Assets(); err != nil {
		kubetest.Need(t, nil)
	}
	ctrllog.SetLogger(logr.Discard()) // envtest logs through controller-runtime's logger; unset, it complains
	e, err := kubetest.Start()        // its own API server: 2,000 namespaces would slow every other test's root distribution
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, e.Stop()) })
	ctx := context.Background()
	_, err = e.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}}, metav1.CreateOptions{})
	require.NoError(t, err)

	bin := buildBootgraph(t)
	kubeconfig := e.Kubeconfig(t)
	mon := testutil.FreeAddr(t)
	plane := exec.Command(bin, "serve", "--kubeconfig", kubeconfig, "--namespace", "istio-system", "--data-dir", t.TempDir(),
		"--grpc-addr", loopbackAnyPort, "--webhook-addr", loopbackAnyPort, "--dns-addr", loopbackAnyPort, "--monitoring-addr", mon,
		"--log-level", "warn")
	out := &testutil.SyncBuffer{}
	plane.Stdout, plane.Stderr = out, out
	require.NoError(t, plane.Start())
	exited := make(chan struct{})
	go func() { _ = plane.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = plane.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("bootgraph serve:\n%s", out)
		}
	})
	waitReady(t, "http://"+mon+"/ready", exited)
	waitRoots(t, e, func(string) bool { return true }, 4) // default, kube-system, kube-public, istio-system
	idle := sampleMemory(t, plane.Process.Pid, mon)

	begin := time.Now()
	createNamespaces(t, e, scaleNamespaces)
	created := time.Since(begin)
	first := waitRoots(t, e, func(string) bool { return true }, scaleNamespaces+4)
	distributed := time.Since(begin)
	loaded := sampleMemory(t, plane.Process.Pid, mon)

	begin = time.Now()
	rotate := exec.Command(bin, "ca", "rotate", "--kind", "rekey", "--kubeconfig", kubeconfig, "--namespace", "istio-system")
	rotateOut, err := rotate.CombinedOutput()
	require.NoError(t, err, "%s", rotateOut)
	waitRoots(t, e, func(root string) bool { return root != first && strings.Count(root, "BEGIN CERTIFICATE") == 2 }, scaleNamespaces+4)
	propagated := time.Since(begin)
	after := sampleMemory(t, plane.Process.Pid, mon)

	qps, burst := float64(kube.DefaultQPS), float64(kube.DefaultBurst)
	floor := time.Duration((float64(scaleNamespaces+4) - burst) / qps * float64(time.Second))
	t.Logf("%d namespaces created in %v; their ConfigMaps written within %v of the first namespace", scaleNamespaces, created.Round(time.Millisecond), distributed.Round(time.Millisecond))
	t.Logf("root change (bootgraph ca rotate --kind rekey) reached all %d ConfigMaps in %v (client limit %g qps, burst %g: at least %v)",
		scaleNamespaces+4, propagated.Round(time.Millisecond), qps, burst, floor.Round(time.Millisecond))
	t.Logf("plane memory: idle %s; with %d namespaces %s (x%.2f); after the root change %s (x%.2f)",
		idle, scaleNamespaces, loaded, loaded.ratio(idle), after, after.ratio(idle))
	assert.GreaterOrEqual(t, propagated, floor*9/10, "the writes went faster than the client-side rate limit allows")
	assert.Less(t, after.ratio(idle), 4.0, "the plane's memory grew far more than its informers' share of 2,000 namespaces")
}

// memory is a process's resident set and its Go heap in use.
type memory struct{ rss, heap int64 }

func (m memory) String() string {
	return fmt.Sprintf("RSS %.1f MiB, heap in use %.1f MiB", float64(m.rss)/(1<<20), float64(m.heap)/(1<<20))
}

func (m memory) ratio(idle memory) float64 { return float64(m.rss) / float64(idle.rss) }

// sampleMemory reads pid's VmRSS and the plane's go_memstats_heap_inuse_bytes.
func sampleMemory(t *testing.T, pid int, mon string) memory {
	t.Helper()
	var m memory
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) >= 2 && fields[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			require.NoError(t, err)
			m.rss = kb << 10
		}
	}
	resp, err := http.Get("http://" + mon + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "go_memstats_heap_inuse_bytes "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			m.heap = int64(f)
		}
	}
	return m
}

// waitReady waits until url answers 200, or the process exits.
func waitReady(t *testing.T, url string, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(rekeyBound)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			t.Fatal("the plane exited before it was ready")
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%s never answered 200", url)
}

// createNamespaces creates n namespaces, eight at a time.
func createNamespaces(t *testing.T, e *kubetest.Env, n int) {
	t.Helper()
	names := make(chan string)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range 8 {
		wg.Go(func() {
			for name := range names {
				_, err := e.Client.CoreV1().Namespaces().Create(context.Background(),
					&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		names <- fmt.Sprintf("scale-%04d", i)
	}
	close(names)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// waitRoots watches the root ConfigMaps until n of them hold a root for
// which ok is true, and returns one such root.
func waitRoots(t *testing.T, e *kubetest.Env, ok func(string) bool, n int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a bound for failure only
	defer cancel()
	selector := "metadata.name=" + kube.RootCertConfigMap
	list, err := e.Client.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{FieldSelector: selector})
	require.NoError(t, err)
	good := map[string]string{}
	note := func(cm *corev1.ConfigMap) {
		if root := cm.Data[kube.RootCertKey]; ok(root) {
			good[cm.Namespace] = root
		} else {
			delete(good, cm.Namespace)
		}
	}
	for i := range list.Items {
		note(&list.Items[i])
	}
	w, err := e.Client.CoreV1().ConfigMaps("").Watch(ctx, metav1.ListOptions{FieldSelector: selector, ResourceVersion: list.ResourceVersion})
	require.NoError(t, err)
	defer w.Stop()
	for len(good) < n {
		select {
		case ev, open := <-w.ResultChan():
			require.True(t, open, "the watch ended at %d of %d", len(good), n)
			if cm, isCM := ev.Object.(*corev1.ConfigMap); isCM {
				note(cm)
			}
		case <-ctx.Done():
			t.Fatalf("%d of %d ConfigMaps got the roots", len(good), n)
		}
	}
	for _, root := range good {
		return root
	}
	return ""
}

// buildBootgraph builds the CLI into a temporary directory.
func buildBootgraph(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bootgraph")
	out, err := exec.Command("go", "build", "-o", bin, "./cmd/bootgraph").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}
