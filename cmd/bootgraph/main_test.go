package main_test

// End-to-end tests of the bootgraph binary, run as a user runs it: `serve`
// in one process, `cert` against it from another, signals to stop it.

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/bootgraph/bootgraph/internal/kubetest"
	"github.com/bootgraph/bootgraph/internal/pemutil"
	"github.com/bootgraph/bootgraph/internal/testutil"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bootgraph-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "bootgraph")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic(fmt.Sprintf("go build: %v\n%s", err, out))
	}
	code := kubetest.Main(m, &kenv) // a real API server for the Kubernetes-mode tests
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// localEnv is the environment without what would put a plane in Kubernetes
// mode, so that these tests run in local mode wherever they run.
func localEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBECONFIG=") && !strings.HasPrefix(kv, "KUBERNETES_SERVICE_HOST=") && !strings.HasPrefix(kv, "POD_NAMESPACE=") {
			env = append(env, kv)
		}
	}
	return env
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// server is a running `bootgraph serve`.
type server struct {
	cmd                  *exec.Cmd
	out                  *testutil.SyncBuffer
	dataDir              string
	grpcAddr, monitoring string
}

func startServe(t *testing.T, args ...string) *server {
	t.Helper()
	s := &server{out: &testutil.SyncBuffer{}, dataDir: t.TempDir(), grpcAddr: freeAddr(t), monitoring: freeAddr(t)}
	all := append([]string{"serve", "--data-dir", s.dataDir, "--grpc-addr", s.grpcAddr,
		"--webhook-addr", freeAddr(t), "--dns-addr", freeAddr(t), "--monitoring-addr", s.monitoring}, args...)
	s.cmd = exec.Command(binary, all...)
	s.cmd.Env = localEnv()
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	require.NoError(t, s.cmd.Start())
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			s.cmd.Wait()
		}
	})
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + s.monitoring + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 20*time.Millisecond, "serve never became ready:\n%s", s.out)
	return s
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = localEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestServeCertAndStop(t *testing.T) {
	s := startServe(t)
	root := filepath.Join(s.dataDir, "ca", "root-cert.pem")

	// A new user's flow: the token file that serve created.
	out := filepath.Join(t.TempDir(), "certs")
	msg, err := run(t, "cert", "--addr", s.grpcAddr, "--root", root,
		"--token-file", filepath.Join(s.dataDir, "tokens.csv"), "--out", out, "--ttl", "1h")
	require.NoError(t, err, msg)
	assert.Contains(t, msg, "spiffe://cluster.local/ns/default/sa/default")
	leaf := checkCertDir(t, out, root)
	assert.Equal(t, "spiffe://cluster.local/ns/default/sa/default", leaf.URIs[0].String())
	assert.WithinDuration(t, time.Now().Add(time.Hour), leaf.NotAfter, time.Minute)

	// The issued certificate authenticates the next request by mTLS.
	out2 := filepath.Join(t.TempDir(), "certs")
	msg, err = run(t, "cert", "--addr", s.grpcAddr, "--root", root,
		"--client-cert", filepath.Join(out, "cert-chain.pem"), "--client-key", filepath.Join(out, "key.pem"), "--out", out2)
	require.NoError(t, err, msg)
	assert.Equal(t, leaf.URIs[0].String(), checkCertDir(t, out2, root).URIs[0].String())

	// Bad inputs get clear errors.
	msg, err = run(t, "cert", "--addr", s.grpcAddr, "--root", root, "--token", "not-a-valid-token-at-all", "--out", t.TempDir())
	require.Error(t, err)
	assert.Contains(t, msg, "Unauthenticated")
	msg, err = run(t, "cert", "--addr", s.grpcAddr, "--root", root, "--out", t.TempDir())
	require.Error(t, err)
	assert.Contains(t, msg, "no credentials")
	msg, err = run(t, "cert", "--key-type", "dsa", "--token", "x")
	require.Error(t, err)
	assert.Contains(t, msg, `--key-type "dsa": want ecdsa-p256 or rsa-2048`)
	msg, err = run(t, "cert", "--addr", s.grpcAddr, "--root", root, "--token-file",
		filepath.Join(s.dataDir, "tokens.csv"), "--ttl", "2400h", "--out", t.TempDir())
	require.Error(t, err)
	assert.Contains(t, msg, "InvalidArgument")
	assert.Contains(t, msg, "max allowed TTL")

	// Metrics counted the requests above.
	resp, err := http.Get("http://" + s.monitoring + "/metrics")
	require.NoError(t, err)
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	assert.Contains(t, body.String(), "citadel_server_success_cert_issuance_count 2")
	assert.Contains(t, body.String(), "citadel_server_authentication_failure_count 1")
	assert.Contains(t, body.String(), `citadel_server_csr_sign_err_count{error="TTL_ERROR"} 1`)

	// SIGTERM stops gracefully with exit code 0 and frees the ports.
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, s.cmd.Wait(), s.out.String())
	assert.Contains(t, s.out.String(), "plane stopped")
	l, err := net.Listen("tcp", s.grpcAddr)
	require.NoError(t, err)
	l.Close()
}

// checkCertDir checks the files `cert` wrote: permissions, and that the
// chain verifies to the server's root.
func checkCertDir(t *testing.T, dir, rootFile string) *x509.Certificate {
	t.Helper()
	info, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), info.Mode().Perm())
	for _, f := range []string{"key.pem", "cert-chain.pem", "root-cert.pem"} {
		info, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), f)
	}
	chainPEM, err := os.ReadFile(filepath.Join(dir, "cert-chain.pem"))
	require.NoError(t, err)
	certs, err := pemutil.ParseCerts(chainPEM)
	require.NoError(t, err)
	rootPEM, err := os.ReadFile(rootFile)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(rootPEM))
	_, err = certs[0].Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err)
	return certs[0]
}

// A restart reuses the persisted root.
func TestServeReusesRoot(t *testing.T) {
	s := startServe(t)
	first, err := os.ReadFile(filepath.Join(s.dataDir, "ca", "root-cert.pem"))
	require.NoError(t, err)
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, s.cmd.Wait())

	s2 := startServe(t, "--data-dir", s.dataDir)
	second, err := os.ReadFile(filepath.Join(s.dataDir, "ca", "root-cert.pem"))
	require.NoError(t, err)
	assert.Equal(t, string(first), string(second))
	assert.Contains(t, s2.out.String(), "reusing stored root")
}

// Failures at start exit non-zero with a message naming the part, and leave
// nothing running or half-written.
func TestServeFailures(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()

	plugged := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(plugged, "ca-cert.pem"), []byte("x"), 0o600))
	pluggedCfg := filepath.Join(t.TempDir(), "plane.yaml")
	require.NoError(t, os.WriteFile(pluggedCfg, []byte("ca:\n  pluggedCertsDir: "+plugged+"\n"), 0o600))

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"gRPC port taken", []string{"--grpc-addr", taken.Addr().String()}, []string{"secure-grpc", taken.Addr().String(), "address already in use"}},
		{"monitoring port taken", []string{"--monitoring-addr", taken.Addr().String()}, []string{"monitoring", taken.Addr().String()}},
		{"plugged-in CA incomplete", []string{"--config", pluggedCfg}, []string{"plugged-in CA", "ca-key.pem", "cert-chain.pem", "root-cert.pem"}},
		{"files provider, missing key", []string{"--tlsCertFile", "/nonexistent/tls.crt", "--tlsKeyFile", "/nonexistent/tls.key"}, []string{"serving certificate file: open /nonexistent/tls.crt"}},
		{"unknown flag value", []string{"--log-level", "loud"}, []string{"log.level"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			grpcAddr := freeAddr(t)
			args := append([]string{"serve", "--data-dir", t.TempDir(), "--grpc-addr", grpcAddr,
				"--webhook-addr", freeAddr(t), "--dns-addr", freeAddr(t), "--monitoring-addr", freeAddr(t)}, tt.args...)
			out, err := run(t, args...)
			require.Error(t, err, out)
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit)
			assert.NotEqual(t, 0, exit.ExitCode())
			for _, w := range tt.want {
				assert.Contains(t, out, w)
			}
			if !strings.Contains(strings.Join(tt.args, " "), "--grpc-addr") {
				l, err := net.Listen("tcp", grpcAddr)
				require.NoError(t, err, "secure gRPC port left bound")
				l.Close()
			}
		})
	}
}

func TestVersion(t *testing.T) {
	out, err := run(t, "version")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(out, "bootgraph "), out)
}

// Precedence: flags > env > file > defaults.
func TestServePrecedence(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "plane.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte("grpc:\n  addr: 127.0.0.1:1\nservingCert:\n  provider: istiod\n"), 0o600))

	// The flag's address wins over the file's (port 1 would fail to bind).
	s := startServe(t, "--config", cfgFile)
	conn, err := net.Dial("tcp", s.grpcAddr)
	require.NoError(t, err)
	conn.Close()

	// The env var wins over the file: the files provider then needs its files.
	cmd := exec.Command(binary, "serve", "--config", cfgFile, "--data-dir", t.TempDir())
	cmd.Env = append(localEnv(), "PILOT_CERT_PROVIDER=files")
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "servingCert.certFile (--tlsCertFile): required by the files provider")
	assert.Contains(t, string(out), "servingCert.keyFile (--tlsKeyFile): required by the files provider")

	// istiod's flags win over the env var and the file.
	cmd = exec.Command(binary, "serve", "--config", cfgFile, "--data-dir", t.TempDir(),
		"--grpc-addr", freeAddr(t), "--webhook-addr", freeAddr(t), "--dns-addr", freeAddr(t), "--monitoring-addr", freeAddr(t),
		"--tlsCertFile", "/nonexistent/cert.pem", "--tlsKeyFile", "/nonexistent/key.pem")
	cmd.Env = append(localEnv(), "PILOT_CERT_PROVIDER=istiod")
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "serving certificate file: open /nonexistent/cert.pem")
}

// `bootgraph graph` draws the plane in every format without building it.
func TestGraphFormats(t *testing.T) {
	for format, want := range map[string]string{
		"dot":     "digraph",
		"mermaid": "flowchart LR",
		"json":    `"schema": "bootgraph.dev/graph/v1"`,
		"svg":     "<svg",
		"html":    "<!DOCTYPE html>",
	} {
		t.Run(format, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "state")
			out := filepath.Join(t.TempDir(), "plane."+format)
			msg, err := run(t, "graph", "--format", format, "-o", out, "--data-dir", dataDir)
			require.NoError(t, err, msg)
			body, err := os.ReadFile(out)
			require.NoError(t, err)
			assert.Contains(t, string(body), want)
			assert.Contains(t, string(body), "ca.provideCA")
			_, err = os.Stat(dataDir)
			assert.True(t, os.IsNotExist(err), "planning created %s: it must not generate keys", dataDir)
		})
	}
}

// A composition missing a part is drawn with the missing node marked, and
// the problem is said in words with exit code 1.
func TestGraphMissingPart(t *testing.T) {
	out := filepath.Join(t.TempDir(), "broken.json")
	msg, err := run(t, "graph", "--format", "json", "--disable", "ca", "-o", out, "--data-dir", t.TempDir())
	require.Error(t, err)
	assert.Contains(t, msg, `composition is missing *ca.CA, provided by the "ca" part (ca.enabled: true, or --enable ca)`)
	assert.Contains(t, msg, "servingcert.provideIstiod needs it")
	assert.Contains(t, msg, "--tlsCertFile", "the CA-free alternative, in the CLI's words")
	body, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Contains(t, string(body), `"kind": "missing"`)
	assert.Contains(t, string(body), `"status": "needs-missing"`)
}

// --run starts and stops the plane and draws it with that run's timings.
func TestGraphRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run.json")
	msg, err := run(t, "graph", "--run", "--format", "json", "-o", out, "--data-dir", t.TempDir(),
		"--grpc-addr", freeAddr(t), "--webhook-addr", freeAddr(t), "--dns-addr", freeAddr(t), "--monitoring-addr", freeAddr(t))
	require.NoError(t, err, msg)
	body, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Contains(t, string(body), `"run": {`)
	assert.Contains(t, string(body), `"startNs"`)
	assert.Contains(t, string(body), `"ran": true`)

	msg, err = run(t, "graph", "--format", "png")
	require.Error(t, err)
	assert.Contains(t, msg, `--format "png": want one of dot, mermaid, json, svg, html`)
}

// `bootgraph modules` lists every built-in part with its options and
// defaults; --format yaml is the config reference, which serve reads back.
func TestModules(t *testing.T) {
	out, err := run(t, "modules")
	require.NoError(t, err, out)
	for _, want := range []string{"ca ", "servingCert ", "grpc ", "webhook ", "dns ", "monitoring ", "kube ", "graphpage ",
		"ca.keyType", "ecdsa-p256", "grpc.addr", "127.0.0.1:15012", "flag --tlsCertFile", "env $PILOT_CERT_PROVIDER",
		"ca.Module (github.com/bootgraph/bootgraph/modules/ca)", "*servingcert.Bundle"} {
		assert.Contains(t, out, want)
	}

	out, err = run(t, "modules", "--format", "json", "grpc")
	require.NoError(t, err, out)
	var parts []struct {
		Name    string
		Options []struct {
			Path    string
			Default json.RawMessage
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &parts), out)
	require.Len(t, parts, 1)
	assert.Equal(t, "grpc", parts[0].Name)
	assert.Equal(t, `"127.0.0.1:15012"`, string(parts[0].Options[0].Default))

	ref, err := run(t, "modules", "--format", "yaml")
	require.NoError(t, err, ref)
	file := filepath.Join(t.TempDir(), "reference.yaml")
	require.NoError(t, os.WriteFile(file, []byte(ref), 0o600))
	out, err = run(t, "graph", "--config", file, "--format", "dot", "--data-dir", t.TempDir())
	require.NoError(t, err, "the reference is a valid config: %s", out)

	out, err = run(t, "modules", "nope")
	require.Error(t, err)
	assert.Contains(t, out, `unknown part "nope", want one of ca, servingCert, grpc`)
}
