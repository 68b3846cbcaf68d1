// Package examples_test builds every example under examples/ and the
// out-of-tree part module (examples/greeter-part, a Go module of its own),
// starts each until ready, and checks it with real clients: the project's
// CA client and a gRPC client, curl with real AdmissionReviews, kdig.
package examples_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	gogrpc "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/bootgraph/bootgraph/caclient"
	"github.com/bootgraph/bootgraph/internal/testutil"
)

var bins = map[string]string{} // example name -> built binary

// TestMain builds the examples once: those in this module and the
// greeter module, which needs its own build (GOWORK off, its go.mod).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bootgraph-examples")
	if err != nil {
		panic(err)
	}
	for _, name := range []string{"ca-only", "webhook-files", "custom-plane", "ca-xds"} {
		bins[name] = filepath.Join(dir, name)
		build(".", bins[name], "./"+name)
	}
	bins["greeter"] = filepath.Join(dir, "greeter-bootgraph")
	build("greeter-part", bins["greeter"], ".")
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func build(dir, out, pkg string) {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if b, err := cmd.CombinedOutput(); err != nil {
		panic(fmt.Sprintf("go build %s in %s: %v\n%s", pkg, dir, err, b))
	}
}

// proc is a running example.
type proc struct {
	cmd   *exec.Cmd
	addrs map[string]string // from its "ready k=v ..." line
	out   *testutil.SyncBuffer
}

// start runs an example in dir and waits for its "ready" line; at the end
// of the test it sends SIGTERM and requires a clean exit.
func start(t *testing.T, dir, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), addrs: map[string]string{}, out: &testutil.SyncBuffer{}}
	p.cmd.Dir = dir
	p.cmd.Env = localEnv()
	p.cmd.Stderr = p.out
	stdout, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready ") {
				ready <- sc.Text()
			}
		}
		close(ready)
	}()
	select {
	case line, ok := <-ready:
		require.True(t, ok, "%s exited before it was ready:\n%s", bin, p.out)
		for _, kv := range strings.Fields(strings.TrimPrefix(line, "ready ")) {
			k, v, _ := strings.Cut(kv, "=")
			p.addrs[k] = v
		}
	case <-time.After(60 * time.Second): // a bound for a hung example, not a wait
		p.cmd.Process.Kill()
		t.Fatalf("%s not ready after 60s:\n%s", bin, p.out)
	}
	t.Cleanup(func() {
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
		assert.NoError(t, p.cmd.Wait(), "exit after SIGTERM:\n%s", p.out)
	})
	return p
}

// localEnv is the environment without what would put a plane in
// Kubernetes mode.
func localEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBECONFIG=") && !strings.HasPrefix(kv, "KUBERNETES_SERVICE_HOST=") {
			env = append(env, kv)
		}
	}
	return env
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// A CA-only signing server hands a workload certificate to the project's CA
// client, authenticated with the local token file, and serves nothing else.
func TestCAOnly(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	p := start(t, t.TempDir(), bins["ca-only"], "--data-dir", data, "--addr", testutil.FreeAddr(t), "--trust-domain", "example.org")

	token := strings.Split(strings.Split(string(readFile(t, filepath.Join(data, "tokens.csv"))), "\n")[1], ",")[0]
	c, err := caclient.Dial(caclient.Config{Addr: p.addrs["grpc"], RootsPEM: readFile(t, filepath.Join(data, "ca", "root-cert.pem")),
		ServerName: "localhost", Token: token})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.Issue(ctx, caclient.KeyECDSAP256, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, "spiffe://example.org/ns/default/sa/default", res.Leaf.URIs[0].String())
}

// admissionReview is a real admission.k8s.io/v1 AdmissionReview for a pod.
func admissionReview(t *testing.T, labels map[string]string) string {
	t.Helper()
	pod, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "web", "labels": labels}})
	require.NoError(t, err)
	review, err := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid": "3c9f1c0e-1f43-4a31-9b8e-0c7e4b4e8f10", "operation": "CREATE",
			"kind":     map[string]string{"group": "", "version": "v1", "kind": "Pod"},
			"resource": map[string]string{"group": "", "version": "v1", "resource": "pods"},
			"object":   json.RawMessage(pod),
		},
	})
	require.NoError(t, err)
	return string(review)
}

// curlReview posts review to url with curl, trusting caFile, and decodes
// the answer.
func curlReview(t *testing.T, url, caFile, review string) *admissionv1.AdmissionResponse {
	t.Helper()
	curl := testutil.Tool(t, "curl", "curl")
	out, err := exec.Command(curl, "-sS", "--fail-with-body", "--cacert", caFile, "-H", "Content-Type: application/json",
		"--data-binary", review, url).CombinedOutput()
	require.NoError(t, err, "curl: %s", out)
	var got admissionv1.AdmissionReview
	require.NoError(t, json.Unmarshal(out, &got), "%s", out)
	require.NotNil(t, got.Response, "%s", out)
	return got.Response
}

// A webhook server on certificate files of its own, with no CA part: curl
// (verifying the certificate) posts AdmissionReviews and gets the handler's
// verdicts; nothing is written to a data directory.
func TestWebhookFiles(t *testing.T) {
	t.Parallel()
	issuer := testutil.NewCA(t)
	chain, key, err := issuer.GenKeyCert([]string{"localhost"}, time.Hour)
	require.NoError(t, err)
	dir := t.TempDir()
	for name, data := range map[string][]byte{"tls.crt": chain, "tls.key": key, "ca.crt": issuer.RootPEM()} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
	}
	cwd := t.TempDir()
	p := start(t, cwd, bins["webhook-files"], "--cert", filepath.Join(dir, "tls.crt"), "--key", filepath.Join(dir, "tls.key"),
		"--addr", testutil.FreeAddr(t))
	url := "https://localhost:" + port(p.addrs["webhook"]) + "/validate"

	resp := curlReview(t, url, filepath.Join(dir, "ca.crt"), admissionReview(t, nil))
	assert.False(t, resp.Allowed)
	assert.Equal(t, "pod web has no team label", resp.Result.Message)
	assert.Equal(t, "3c9f1c0e-1f43-4a31-9b8e-0c7e4b4e8f10", string(resp.UID))

	resp = curlReview(t, url, filepath.Join(dir, "ca.crt"), admissionReview(t, map[string]string{"team": "web"}))
	assert.True(t, resp.Allowed)

	entries, err := os.ReadDir(cwd)
	require.NoError(t, err)
	assert.Empty(t, entries, "a plane without a CA keeps no state")
}

func port(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }

// grpcConn dials addr over TLS trusting rootPEM, as "localhost".
func grpcConn(t *testing.T, addr string, rootPEM []byte) *gogrpc.ClientConn {
	t.Helper()
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(rootPEM))
	conn, err := gogrpc.NewClient(addr, gogrpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: "localhost"})))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// A plane with a gRPC service, an admission handler and a DNS record of its
// own, monitoring left out: a gRPC client, curl and kdig each reach what the
// program added.
func TestCustomPlane(t *testing.T) {
	t.Parallel()
	kdig := testutil.Tool(t, "kdig", "knot-dnsutils")
	data := t.TempDir()
	p := start(t, t.TempDir(), bins["custom-plane"], "--data-dir", data,
		"--grpc-addr", testutil.FreeAddr(t), "--webhook-addr", testutil.FreeAddr(t), "--dns-addr", testutil.FreeAddr(t))
	rootFile := filepath.Join(data, "ca", "root-cert.pem")

	var now wrapperspb.StringValue
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, grpcConn(t, p.addrs["grpc"], readFile(t, rootFile)).Invoke(ctx, "/example.v1.Clock/Now", wrapperspb.String(""), &now))
	at, err := time.Parse(time.RFC3339, now.GetValue())
	require.NoError(t, err, "Clock/Now answered %q", now.GetValue())
	assert.WithinDuration(t, time.Now(), at, time.Minute)

	resp := curlReview(t, "https://localhost:"+port(p.addrs["webhook"])+"/mutate", rootFile, admissionReview(t, map[string]string{"app": "web"}))
	assert.True(t, resp.Allowed)
	assert.JSONEq(t, `[{"op":"add","path":"/metadata/labels/managed-by","value":"custom-plane"}]`, string(resp.Patch))

	out, err := exec.Command(kdig, "@127.0.0.1", "-p", port(p.addrs["dns"]), "+tls-ca="+rootFile, "+tls-hostname=localhost",
		"xds.istio-system.svc", "A").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Regexp(t, `(?m)^xds\.istio-system\.svc\.\s+\d+\s+IN\s+A\s+10\.0\.0\.7$`, string(out))
}

// runGreeter runs the out-of-tree CLI once and returns its output.
func runGreeter(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bins["greeter"], args...)
	cmd.Dir = dir
	cmd.Env = localEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// serveGreeter runs `serve` of the out-of-tree CLI until "plane started".
func serveGreeter(t *testing.T, dir string, args ...string) map[string]string {
	t.Helper()
	addrs := map[string]string{"grpc": testutil.FreeAddr(t), "webhook": testutil.FreeAddr(t)}
	cmd := exec.Command(bins["greeter"], append([]string{"serve", "--data-dir", filepath.Join(dir, "data"),
		"--grpc-addr", addrs["grpc"], "--webhook-addr", addrs["webhook"], "--dns-addr", testutil.FreeAddr(t),
		"--monitoring-addr", testutil.FreeAddr(t)}, args...)...)
	cmd.Dir = dir
	cmd.Env = localEnv()
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	started := make(chan bool, 1)
	var log testutil.SyncBuffer
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(&log, sc.Text())
			if strings.Contains(sc.Text(), "plane started") {
				started <- true
			}
		}
		close(started)
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case ok := <-started:
		require.True(t, ok, "serve exited:\n%s", log.String())
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("serve not started after 60s:\n%s", log.String())
	}
	t.Cleanup(func() {
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		assert.NoError(t, cmd.Wait(), "exit after SIGTERM:\n%s", log.String())
	})
	return addrs
}

// A part defined in a separate Go module works as a built-in one does: its
// config section with strict errors, its flag and variable, --enable and
// --disable, a row in `modules`, its nodes in the graph, its name in the
// hints of a plane that lacks it, and its service and handler serving.
func TestOutOfTreePart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
		return path
	}

	out, err := runGreeter(t, dir, "modules", "greeter")
	require.NoError(t, err, out)
	for _, want := range []string{"a gRPC greeting service", "greeter.greeting", "hello", "greeter.maxNameLength", "64",
		"flag --greeting", "env $GREETER_GREETING", "greeter.Module (example.com/greeter/greeter)", "*greeter.Greeter"} {
		assert.Contains(t, out, want)
	}
	out, err = runGreeter(t, dir, "modules", "--format", "yaml")
	require.NoError(t, err, out)
	assert.Contains(t, out, "\ngreeter:\n  enabled: true")
	assert.Contains(t, out, "greeting: hello")

	typo := write("typo.yaml", "greeter:\n  greting: hi\n")
	out, err = runGreeter(t, dir, "graph", "--config", typo)
	require.Error(t, err)
	assert.Contains(t, out, `unknown field "greeter.greting" (valid here: enabled, greeting, maxNameLength)`)
	assert.Contains(t, out, typo)

	out, err = runGreeter(t, dir, "graph", "--greeting", " ")
	require.Error(t, err)
	assert.Contains(t, out, "greeter.greeting (--greeting, $GREETER_GREETING): must not be blank")

	out, err = runGreeter(t, dir, "graph", "--disable", "greeter", "--data-dir", filepath.Join(dir, "none"))
	require.Error(t, err)
	assert.Contains(t, out, `composition is missing *greeter.Greeter, provided by the "greeter" part (greeter.enabled: true, or --enable greeter)`)
	assert.Contains(t, out, "greeterweb.newHandler needs it")

	out, err = runGreeter(t, dir, "graph", "--format", "json", "--data-dir", filepath.Join(dir, "none"))
	require.NoError(t, err, out)
	var g struct {
		Modules []struct{ ID string }
		Nodes   []struct{ Name, Module string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &g))
	var nodes []string
	for _, n := range g.Nodes {
		if n.Module == "greeter" || n.Module == "greeterweb" {
			nodes = append(nodes, n.Name)
		}
	}
	assert.Contains(t, nodes, "greeter.New")
	assert.Contains(t, nodes, "greeter.newService")
	_, err = os.Stat(filepath.Join(dir, "none"))
	assert.True(t, os.IsNotExist(err), "graph wrote state")

	// Served: the greeting from the file, the service on the secure
	// listener, the handler on the webhook listener.
	cfg := write("plane.yaml", "greeter:\n  greeting: hi\n")
	addrs := serveGreeter(t, dir, "--config", cfg)
	root := readFile(t, filepath.Join(dir, "data", "ca", "root-cert.pem"))
	var hello wrapperspb.StringValue
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := grpcConn(t, addrs["grpc"], root)
	require.NoError(t, conn.Invoke(ctx, "/greeter.v1.Greeter/Hello", wrapperspb.String("bob"), &hello))
	assert.Equal(t, "hi bob", hello.GetValue())
	err = conn.Invoke(ctx, "/greeter.v1.Greeter/Hello", wrapperspb.String(""), &hello)
	assert.Equal(t, codes.InvalidArgument, status.Code(err))

	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(root))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := client.Get("https://localhost:" + port(addrs["webhook"]) + "/greet?name=ann")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "hi ann\n", string(body))

	// --disable both: the plane runs without them.
	dir2 := t.TempDir()
	addrs = serveGreeter(t, dir2, "--disable", "greeter,greeterweb")
	err = grpcConn(t, addrs["grpc"], readFile(t, filepath.Join(dir2, "data", "ca", "root-cert.pem"))).
		Invoke(ctx, "/greeter.v1.Greeter/Hello", wrapperspb.String("bob"), &hello)
	assert.Equal(t, codes.Unimplemented, status.Code(err))
}

// The CA and xDS on one listener: a workload gets its certificate from the
// CA with the project's CA client (authenticated with the local token),
// then opens an ADS stream with that certificate and its identity as its
// node ID, and is served the resources file's cluster and the one main.go
// publishes for it in Go; another node ID is refused.
func TestCAXDS(t *testing.T) {
	t.Parallel()
	data, work := t.TempDir(), t.TempDir()
	resourcesFile := filepath.Join(work, "resources.yaml")
	require.NoError(t, os.WriteFile(resourcesFile, []byte("clusters:\n- {name: from-file, type: STATIC, connectTimeout: 1s}\n"), 0o600))
	p := start(t, work, bins["ca-xds"], "--data-dir", data, "--addr", testutil.FreeAddr(t), "--resources", resourcesFile)

	root := readFile(t, filepath.Join(data, "ca", "root-cert.pem"))
	token := strings.Split(strings.Split(string(readFile(t, filepath.Join(data, "tokens.csv"))), "\n")[1], ",")[0]
	c, err := caclient.Dial(caclient.Config{Addr: p.addrs["grpc"], RootsPEM: root, ServerName: "localhost", Token: token})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.Issue(ctx, caclient.KeyECDSAP256, time.Hour)
	require.NoError(t, err)
	identity := res.Leaf.URIs[0].String()
	require.Equal(t, "spiffe://cluster.local/ns/default/sa/default", identity)

	cert, err := tls.X509KeyPair(res.CertChainPEM, res.KeyPEM)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(root))
	conn, err := gogrpc.NewClient(p.addrs["grpc"], gogrpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: roots, ServerName: "localhost", Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
	require.NoError(t, err)
	defer conn.Close()
	ads := discovery.NewAggregatedDiscoveryServiceClient(conn)

	st, err := ads.StreamAggregatedResources(ctx)
	require.NoError(t, err)
	require.NoError(t, st.Send(&discovery.DiscoveryRequest{Node: &corev3.Node{Id: identity}, TypeUrl: resource.ClusterType}))
	resp, err := st.Recv()
	require.NoError(t, err)
	assert.Equal(t, resource.ClusterType, resp.GetTypeUrl())
	var names []string
	for _, a := range resp.GetResources() {
		var cl clusterv3.Cluster
		require.NoError(t, a.UnmarshalTo(&cl))
		names = append(names, cl.GetName())
	}
	assert.ElementsMatch(t, []string{"from-file", "default-only"}, names)

	other, err := ads.StreamAggregatedResources(ctx)
	require.NoError(t, err)
	require.NoError(t, other.Send(&discovery.DiscoveryRequest{Node: &corev3.Node{Id: "spiffe://cluster.local/ns/default/sa/someone-else"},
		TypeUrl: resource.ClusterType}))
	_, err = other.Recv()
	assert.Equal(t, codes.PermissionDenied, status.Code(err), "%v", err)
}
