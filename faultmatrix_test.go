package bootgraph_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	gogrpc "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/bootgraph/bootgraph/caclient"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/config"
	"github.com/bootgraph/bootgraph/internal/pemutil"
	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/dns"
	bggrpc "github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/kube"
	"github.com/bootgraph/bootgraph/modules/monitoring"
	"github.com/bootgraph/bootgraph/modules/servingcert"
	"github.com/bootgraph/bootgraph/modules/webhook"
)

// fmBound bounds every wait of the fault matrix: it only says how long
// before a wait counts as a failure (the machine may be busy), never how
// long anything is expected to take.
const fmBound = 90 * time.Second

// TestFaultMatrix injects each fault into a real plane (in this process,
// or a built `bootgraph serve`) and asserts the outcome the plane
// promises. One row per fault; want says the outcome in words.
func TestFaultMatrix(t *testing.T) {
	bin := fmBuild(t)
	rows := []struct {
		fault, want string
		run         func(t *testing.T)
	}{
		{"port taken: secure gRPC", "Start fails naming the listener and the address; every hook that started is stopped",
			fmPortTaken(bggrpc.Name, func(c *config.Config, a string) { config.Options[bggrpc.Options](c, "grpc").Addr = a })},
		{"port taken: webhook", "Start fails naming the listener and the address; every hook that started is stopped",
			fmPortTaken(webhook.Name, func(c *config.Config, a string) { config.Options[webhook.Options](c, "webhook").Addr = a })},
		{"port taken: DNS over TLS", "Start fails naming the listener and the address; every hook that started is stopped",
			fmPortTaken(dns.Name, func(c *config.Config, a string) { config.Options[dns.Options](c, "dns").Addr = a })},
		{"port taken: monitoring", "Start fails naming the listener and the address; every hook that started is stopped",
			fmPortTaken(monitoring.Name, func(c *config.Config, a string) { config.Options[monitoring.Options](c, "monitoring").Addr = a })},
		{"API server away at boot", "Build fails after the connect timeout, saying so; nothing started, nothing written",
			fmAPIServerAway},
		{"data dir read-only at first start", "serve exits 1 naming the directory it cannot write; nothing is left in it, nothing listened",
			fmReadOnlyFirstStart(bin)},
		{"data dir read-only with a stored CA", "serve starts from the stored CA and issues certificates from it; SIGTERM exits 0",
			fmReadOnlyRestart(bin)},
		{"disk full at first start (file size limit 0)", "serve exits 1 naming the file it could not write; no key or half-written generation is left; the next start is clean",
			fmDiskFull(bin, 0, "")},
		{"disk full mid-write (file size limit 1 KiB, RSA-2048 root)", "serve exits 1 naming the file it could not write; no key or half-written generation is left; the next start is clean",
			fmDiskFull(bin, 1, "ca:\n  keyType: rsa-2048\n")},
		{"disk full, a fresh HOME and TMPDIR: the commands that write nothing", "version, modules and graph run and exit 0: nothing is written before the plane's own state (no renderer cache), so nothing panics",
			fmDiskFullNoWrites(bin)},
		{"serving cert files swapped mid-run (files provider)", "a good new pair is served by every TLS listener; a torn, garbled or missing file is logged and the last good pair stays",
			fmFilesSwapped},
		{"CA root expires at run time", "CreateCertificate is refused with FailedPrecondition saying the root expired; /ready says why; the refusal is counted",
			fmRootExpires},
		{"SIGTERM under load (clients hammering the CA, streams and idle connections on every listener)", "serve exits 0 within its stop timeout; no client waits forever; every port is free",
			fmSIGTERMUnderLoad(bin)},
		{"SIGKILL during first start: at once", "the next start is clean: one consistent root, the only private key on disk, the one it issues from",
			fmSIGKILLFirstStart(bin, "", fmKillAtOnce)},
		{"SIGKILL during first start: when the CA directory appears", "the next start is clean: one consistent root, the only private key on disk, the one it issues from",
			fmSIGKILLFirstStart(bin, "", fmKillWhenCADir)},
		{"SIGKILL during first start: when the first CA file appears", "the next start is clean: one consistent root, the only private key on disk, the one it issues from",
			fmSIGKILLFirstStart(bin, "", fmKillWhenCAFile)},
		{"SIGKILL during first start: generating an RSA-4096 root", "the next start is clean: one consistent root, the only private key on disk, the one it issues from",
			fmSIGKILLFirstStart(bin, "ca:\n  keyType: rsa-4096\n", fmKillBeforeCA)},
	}
	for _, r := range rows {
		t.Run(r.fault, func(t *testing.T) {
			t.Logf("fault: %s; expected: %s", r.fault, r.want)
			r.run(t)
		})
	}
}

// --- rows run in this process ---

func fmPortTaken(listener string, set func(*config.Config, string)) func(*testing.T) {
	return func(t *testing.T) {
		taken, err := net.Listen("tcp", loopbackAnyPort)
		require.NoError(t, err)
		defer taken.Close()
		cfg := localConfig(t)
		set(cfg, taken.Addr().String())
		p, err := cfg.Build()
		require.NoError(t, err)
		err = p.Start(context.Background())
		require.Error(t, err, "started with %s's port taken", listener)
		assert.Contains(t, err.Error(), listener)
		assert.Contains(t, err.Error(), taken.Addr().String())
		assert.Contains(t, err.Error(), "address already in use")
		assertAllStartedHooksStopped(t, p)
	}
}

func fmAPIServerAway(t *testing.T) {
	cfg := localConfig(t)
	addr := testutil.FreeAddr(t)
	kc := config.Options[kube.Options](cfg, "kube")
	kc.Kubeconfig = unreachableKubeconfig(t, addr)
	kc.ConnectTimeout = component.Duration(1500 * time.Millisecond)
	_, err := cfg.Build()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "did not answer within 1.5s")
	entries, _ := os.ReadDir(cfg.DataDir)
	assert.Empty(t, entries, "a failed boot left state behind")
}

// fmFilesSwapped replaces the files provider's files under a running
// plane: a good pair, then a key that does not match, a garbled chain, a
// missing key, then a pair from another issuer.
func fmFilesSwapped(t *testing.T) {
	issuer := testutil.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile, rootFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt")
	write := func(name string, data []byte) { // as a tool replacing a file does: atomically
		tmp := name + ".new"
		require.NoError(t, os.WriteFile(tmp, data, 0o600))
		require.NoError(t, os.Rename(tmp, name))
	}
	issue := func(c *ca.CA) (chain, key []byte, serial string) {
		chain, key, err := c.GenKeyCert([]string{"localhost", "127.0.0.1"}, time.Hour)
		require.NoError(t, err)
		certs, err := pemutil.ParseCerts(chain)
		require.NoError(t, err)
		return chain, key, certs[0].SerialNumber.String()
	}
	chain1, key1, serial1 := issue(issuer)
	write(certFile, chain1)
	write(keyFile, key1)
	write(rootFile, issuer.RootPEM())

	cfg := localConfig(t)
	core, logs := observer.New(zapcore.InfoLevel)
	cfg.Logger = zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))
	sc := config.Options[servingcert.Options](cfg, "servingCert")
	sc.CertFile, sc.KeyFile, sc.CACertFile = certFile, keyFile, rootFile
	sc.ReloadInterval = component.Duration(50 * time.Millisecond)
	var (
		bundle  *servingcert.Bundle
		grpcSrv *bggrpc.Server
		hookSrv *webhook.Server
		dnsSrv  *dns.Server
	)
	p, err := cfg.Build(fx.Populate(&bundle, &grpcSrv, &hookSrv, &dnsSrv))
	require.NoError(t, err)
	startPlane(t, p)
	changed := make(chan string, 100)
	bundle.Subscribe(func() {
		select {
		case changed <- bundle.Leaf().SerialNumber.String():
		default:
		}
	})
	listeners := map[string]string{grpcSrv.Addr(): "h2", hookSrv.Addr(): "h2", dnsSrv.Addr(): dns.ALPN}
	served := func(roots []byte, want string) {
		t.Helper()
		for addr, alpn := range listeners {
			assert.Equal(t, want, fmServedSerial(t, addr, roots, alpn), "certificate served by %s", addr)
		}
	}
	waitServing := func(want string) {
		t.Helper()
		timeout := time.After(fmBound)
		for {
			select {
			case s := <-changed:
				if s == want {
					return
				}
			case <-timeout:
				t.Fatalf("the bundle never took serial %s", want)
			}
		}
	}
	// waitRefused waits for a reload that fails naming one of the files.
	waitRefused := func(file string) {
		t.Helper()
		seen := logs.Len()
		require.Eventually(t, func() bool {
			for _, e := range logs.All()[seen:] {
				if e.Level >= zapcore.WarnLevel && strings.Contains(fmt.Sprint(e.ContextMap()), file) {
					return true
				}
			}
			return false
		}, fmBound, 10*time.Millisecond, "no reload failure naming %s was logged", file)
	}
	served(issuer.RootPEM(), serial1)

	chain2, key2, serial2 := issue(issuer)
	steps := []struct {
		name string
		do   func()
	}{
		{"a good new pair", func() {
			write(certFile, chain2)
			write(keyFile, key2)
			waitServing(serial2)
		}},
		{"a key that does not match the chain", func() {
			_, otherKey, _ := issue(issuer)
			write(keyFile, otherKey)
			waitRefused(keyFile)
			write(keyFile, key2)
		}},
		{"a garbled chain", func() {
			write(certFile, []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"))
			waitRefused(certFile)
			write(certFile, chain2)
		}},
		{"a missing key file", func() {
			require.NoError(t, os.Remove(keyFile))
			waitRefused(keyFile)
			write(keyFile, key2)
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do()
			served(issuer.RootPEM(), serial2)
			assert.Equal(t, serial2, bundle.Leaf().SerialNumber.String())
		})
	}
	t.Run("a pair from another issuer", func(t *testing.T) {
		other := testutil.NewCA(t)
		chain3, key3, serial3 := issue(other)
		write(rootFile, other.RootPEM())
		write(certFile, chain3)
		write(keyFile, key3)
		waitServing(serial3)
		served(other.RootPEM(), serial3)
	})
}

// fmServedSerial handshakes with addr, trusting roots, and returns the
// serial of the certificate it presents.
func fmServedSerial(t *testing.T, addr string, roots []byte, alpn string) string {
	t.Helper()
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(roots))
	d := &net.Dialer{Timeout: fmBound}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: []string{alpn}, MinVersion: tls.VersionTLS12})
	require.NoError(t, err, "handshake with %s", addr)
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// fmRootExpires runs a plane whose self-signed root lives a few seconds
// (its serving certificate comes from files, so that TLS outlives the
// root) and asks for a certificate before and after the root expires.
func fmRootExpires(t *testing.T) {
	files := writeServingFiles(t)
	cfg := localConfig(t)
	sc := config.Options[servingcert.Options](cfg, "servingCert")
	sc.CertFile, sc.KeyFile, sc.CACertFile = files.cert, files.key, files.root
	config.Options[ca.Options](cfg, "ca").RootTTL = component.Duration(8 * time.Second)
	var (
		authority *ca.CA
		grpcSrv   *bggrpc.Server
		mon       *monitoring.Server
	)
	p, err := cfg.Build(fx.Populate(&authority, &grpcSrv, &mon))
	require.NoError(t, err)
	startPlane(t, p)
	notAfter := authority.SigningCert().NotAfter
	client, err := caclient.Dial(caclient.Config{
		Addr: grpcSrv.Addr(), ServerName: "localhost", Token: fmToken(t, cfg.DataDir),
		RootsPEM: append(append([]byte{}, files.rootPEM...), authority.RootPEM()...),
	})
	require.NoError(t, err)
	defer client.Close()
	issue := func() (*caclient.Result, error) {
		ctx, cancel := context.WithTimeout(context.Background(), fmBound)
		defer cancel()
		return client.Issue(ctx, caclient.KeyECDSAP256, time.Hour)
	}

	// Before: issued within the root's life, or (on a machine too busy to
	// get here in time) refused because it has ended.
	res, err := issue()
	if err == nil {
		assert.False(t, res.Leaf.NotAfter.After(notAfter), "issued past the root's NotAfter")
	} else {
		require.Equal(t, codes.FailedPrecondition, status.Code(err), "%v", err)
		require.False(t, time.Now().Before(notAfter), "refused while the root was valid: %v", err)
	}

	// The event: the root's NotAfter passing (X.509 times are whole seconds).
	time.Sleep(time.Until(notAfter.Add(time.Second)))
	_, err = issue()
	require.Error(t, err, "issued after the root expired")
	assert.Equal(t, codes.FailedPrecondition, status.Code(err), "%v", err)
	assert.Contains(t, err.Error(), "expired")

	code, body := fmGet(t, "http://"+mon.Addr()+"/ready")
	assert.Equal(t, http.StatusServiceUnavailable, code, body)
	assert.Contains(t, body, "ca")
	assert.Contains(t, body, "expired")
	_, metrics := fmGet(t, "http://"+mon.Addr()+"/metrics")
	assert.Contains(t, metrics, `citadel_server_csr_sign_err_count{error="CA_CERT_NOT_VALID"}`)
}

// --- rows that run `bootgraph serve` ---

func fmReadOnlyFirstStart(bin string) func(*testing.T) {
	return func(t *testing.T) {
		data := fmDataDir(t)
		require.NoError(t, os.Chmod(data, 0o500))
		p := fmServe(t, bin, fmServeOpts{dataDir: data})
		code := p.wait(t)
		out := p.out.String()
		assert.Equal(t, 1, code, out)
		assert.Contains(t, out, "permission denied", "the error says why")
		assert.Contains(t, out, data, "the error names the directory")
		assert.NotContains(t, out, `"msg":"serving"`, "a listener was started")
		entries, err := os.ReadDir(data)
		require.NoError(t, err)
		assert.Empty(t, entries)
	}
}

func fmReadOnlyRestart(bin string) func(*testing.T) {
	return func(t *testing.T) {
		data := fmDataDir(t)
		first := fmServe(t, bin, fmServeOpts{dataDir: data})
		first.waitReady(t)
		first.stop(t, syscall.SIGTERM)
		root, err := os.ReadFile(filepath.Join(data, "ca", ca.RootCertFile))
		require.NoError(t, err)
		for _, d := range []string{data, filepath.Join(data, "ca")} {
			require.NoError(t, os.Chmod(d, 0o500))
		}
		p := fmServe(t, bin, fmServeOpts{dataDir: data})
		p.waitReady(t)
		res := p.issue(t, root)
		assert.Equal(t, string(root), string(res.RootPEM), "issued from another root than the stored one")
		p.stop(t, syscall.SIGTERM)
	}
}

// fmDiskFull starts serve with a file size limit of blocks KiB (a disk
// that fills up after that much), then again without.
func fmDiskFull(bin string, blocks int, cfgYAML string) func(*testing.T) {
	return func(t *testing.T) {
		data := fmDataDir(t)
		home := fmHome(t)
		p := fmServe(t, bin, fmServeOpts{dataDir: data, config: cfgYAML, home: home, fileSizeLimit: &blocks})
		code := p.wait(t)
		out := p.out.String()
		assert.Equal(t, 1, code, out)
		assert.NotContains(t, out, "panic:")
		assert.Contains(t, out, "file too large", "the error says why")
		assert.Contains(t, out, data, "the error names the file")
		fmNoDebris(t, data)

		again := fmServe(t, bin, fmServeOpts{dataDir: data, config: cfgYAML, home: home})
		again.waitReady(t)
		fmCheckCA(t, again)
		again.stop(t, syscall.SIGTERM)
	}
}

// fmNoDebris asserts that a failed first start left no regular file with
// content under dir: no key, no half-written generation.
func fmNoDebris(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		assert.Zero(t, info.Size(), "%s left behind", path)
		return nil
	})
	require.NoError(t, err)
}

func fmSIGTERMUnderLoad(bin string) func(*testing.T) {
	return func(t *testing.T) {
		data := fmDataDir(t)
		p := fmServe(t, bin, fmServeOpts{dataDir: data})
		p.waitReady(t)
		root, err := os.ReadFile(filepath.Join(data, "ca", ca.RootCertFile))
		require.NoError(t, err)
		addrs := p.addrs()
		token := fmToken(t, data)

		// Clients attached to every listener: a health watch on the secure
		// gRPC port, a request whose body never comes on the webhook, a
		// DoT connection that sends nothing, and an idle monitoring one.
		pool := x509.NewCertPool()
		require.True(t, pool.AppendCertsFromPEM(root))
		tlsCfg := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
		conn, err := gogrpc.NewClient(addrs[bggrpc.Name], gogrpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
		require.NoError(t, err)
		defer conn.Close()
		watch, err := healthpb.NewHealthClient(conn).Watch(context.Background(), &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
		_, err = watch.Recv()
		require.NoError(t, err, "the health watch never answered")
		hook := fmDialTLS(t, addrs[webhook.Name], tlsCfg, "http/1.1")
		_, err = io.WriteString(hook, "POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
		require.NoError(t, err)
		fmDialTLS(t, addrs[dns.Name], tlsCfg, dns.ALPN)
		idle, err := net.Dial("tcp", addrs[monitoring.Name])
		require.NoError(t, err)
		defer idle.Close()

		// The load: clients that issue certificates in a loop.
		var (
			issued   atomic.Int64
			stopping atomic.Bool
			wg       sync.WaitGroup
			mu       sync.Mutex
			failures []string
		)
		done := make(chan struct{})
		for range 6 {
			wg.Go(func() {
				c, err := caclient.Dial(caclient.Config{Addr: addrs[bggrpc.Name], RootsPEM: root, ServerName: "localhost", Token: token})
				if err != nil {
					t.Error(err)
					return
				}
				defer c.Close()
				for {
					select {
					case <-done:
						return
					default:
					}
					ctx, cancel := context.WithTimeout(context.Background(), fmBound)
					_, err := c.Issue(ctx, caclient.KeyECDSAP256, time.Hour)
					cancel()
					switch {
					case err == nil:
						issued.Add(1)
					case !stopping.Load() || status.Code(err) != codes.Unavailable:
						mu.Lock()
						failures = append(failures, fmt.Sprintf("stopping %v: %v", stopping.Load(), err))
						mu.Unlock()
						return
					default:
						return // refused once the plane stops: what a client must see
					}
				}
			})
		}
		require.Eventually(t, func() bool { return issued.Load() >= 30 }, fmBound, 10*time.Millisecond, "the load never got going")
		stopping.Store(true)
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
		code := p.wait(t)
		close(done)
		fmWaitGroup(t, &wg, "a client of the CA is still waiting after the plane exited")
		out := p.out.String()
		assert.Equal(t, 0, code, "exit code after SIGTERM under load:\n%s", out)
		assert.Contains(t, out, `"msg":"plane stopped"`)
		assert.NotContains(t, out, "timed out")
		mu.Lock()
		assert.Empty(t, failures, "clients got errors other than Unavailable")
		mu.Unlock()
		t.Logf("%d certificates issued before and during the stop", issued.Load())
		for name, addr := range addrs {
			l, err := net.Listen("tcp", addr)
			if assert.NoError(t, err, "%s's port %s still bound", name, addr) {
				l.Close()
			}
		}
	}
}

// fmDialTLS opens a TLS connection that the test holds open until it ends.
func fmDialTLS(t *testing.T, addr string, cfg *tls.Config, alpn string) *tls.Conn {
	t.Helper()
	cfg = cfg.Clone()
	cfg.NextProtos = []string{alpn}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: fmBound}, "tcp", addr, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

func fmWaitGroup(t *testing.T, wg *sync.WaitGroup, msg string) {
	t.Helper()
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(fmBound):
		t.Fatal(msg)
	}
}

// Where a SIGKILL lands during the first start.
const (
	fmKillAtOnce     = "at once"
	fmKillWhenCADir  = "CA directory"
	fmKillWhenCAFile = "CA file"
	// fmKillBeforeCA: once the constructor before the CA's has run, i.e.
	// while the CA loads or generates its root.
	fmKillBeforeCA = "CA constructor running"
)

func fmSIGKILLFirstStart(bin, cfgYAML, when string) func(*testing.T) {
	return func(t *testing.T) {
		data := fmDataDir(t)
		caDir := filepath.Join(data, "ca")
		p := fmServe(t, bin, fmServeOpts{dataDir: data, config: cfgYAML})
		landed := func() bool {
			switch when {
			case fmKillWhenCADir:
				_, err := os.Stat(caDir)
				return err == nil
			case fmKillWhenCAFile:
				found := false
				_ = filepath.WalkDir(caDir, func(_ string, d fs.DirEntry, err error) error {
					found = found || (err == nil && !d.IsDir())
					return nil
				})
				return found
			case fmKillBeforeCA:
				return strings.Contains(p.out.String(), `modules/ca.provideMetrics()"`)
			}
			return true
		}
		deadline := time.Now().Add(fmBound)
		for !landed() {
			select {
			case <-p.exited:
				t.Fatalf("serve exited before the kill point (%s):\n%s", when, p.out)
			default:
			}
			require.True(t, time.Now().Before(deadline), "the kill point (%s) never came:\n%s", when, p.out)
			time.Sleep(100 * time.Microsecond)
		}
		require.NoError(t, p.cmd.Process.Kill())
		<-p.exited
		t.Logf("killed at %q; on disk: %s", when, fmListing(t, data))

		again := fmServe(t, bin, fmServeOpts{dataDir: data, config: cfgYAML})
		again.waitReady(t)
		fmCheckCA(t, again)
		again.stop(t, syscall.SIGTERM)
	}
}

func fmListing(t *testing.T, dir string) string {
	t.Helper()
	var names []string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && path != dir {
			rel, _ := filepath.Rel(dir, path)
			names = append(names, rel)
		}
		return nil
	})
	if len(names) == 0 {
		return "nothing"
	}
	return strings.Join(names, ", ")
}

// fmCheckCA asserts that p's data directory holds one consistent
// self-signed root (ca-cert.pem and root-cert.pem the same certificate,
// ca-key.pem its key), that no other private key is on disk, and that p
// issues from that root.
func fmCheckCA(t *testing.T, p *fmProc) {
	t.Helper()
	caDir := filepath.Join(p.dataDir, "ca")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(caDir, name))
		require.NoError(t, err)
		return b
	}
	certs, err := pemutil.ParseCerts(read(ca.CACertFile))
	require.NoError(t, err)
	roots, err := pemutil.ParseCerts(read(ca.RootCertFile))
	require.NoError(t, err)
	key, err := pemutil.ParseKey(read(ca.CAKeyFile))
	require.NoError(t, err)
	require.Len(t, certs, 1)
	require.Len(t, roots, 1)
	assert.True(t, certs[0].Equal(roots[0]), "ca-cert.pem and root-cert.pem differ")
	assert.True(t, pemutil.KeyMatches(key, certs[0].PublicKey), "ca-key.pem is not ca-cert.pem's key")
	err = filepath.WalkDir(p.dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if other, err := pemutil.ParseKey(b); err == nil {
			assert.True(t, pemutil.KeyMatches(key, other.Public()), "another private key left at %s", path)
		}
		return nil
	})
	require.NoError(t, err)
	res := p.issue(t, read(ca.RootCertFile))
	assert.Equal(t, string(read(ca.RootCertFile)), string(res.RootPEM), "issued from another root than the stored one")
}

// --- running `bootgraph serve` ---

// fmBuild builds `bootgraph` into a directory that every user may read
// (the read-only rows run it as nobody when the tests run as root).
func fmBuild(t *testing.T) string {
	t.Helper()
	dir := fmOpenDir(t)
	bin := filepath.Join(dir, "bootgraph")
	out, err := exec.Command("go", "build", "-o", bin, "./cmd/bootgraph").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// fmOpenDir is a new temporary directory that every user may enter. As
// root it is made in /tmp itself, whatever TMPDIR says.
func fmOpenDir(t *testing.T) string {
	t.Helper()
	if !fmAsRoot {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("/tmp", "bootgraph-faultmatrix-*")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	return dir
}

// fmAsRoot: the tests run as root, whom file permissions do not stop; the
// plane then runs as nobody, in directories nobody owns.
var fmAsRoot = os.Geteuid() == 0

const fmNobody = 65534

// fmDataDir is an empty data directory that the plane's user owns.
func fmDataDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(fmOpenDir(t), "data")
	require.NoError(t, os.Mkdir(dir, 0o700))
	if fmAsRoot {
		require.NoError(t, os.Chown(dir, fmNobody, fmNobody))
	}
	return dir
}

type fmServeOpts struct {
	dataDir string
	config  string // YAML added to the config file
	home    string // $HOME and $TMPDIR (default: a new directory)
	// fileSizeLimit, if set, is the process's file size limit (ulimit -f,
	// in KiB), with SIGXFSZ ignored: a full disk.
	fileSizeLimit *int
}

// fmProc is a running `bootgraph serve`.
type fmProc struct {
	cmd     *exec.Cmd
	out     *testutil.SyncBuffer
	dataDir string
	exited  chan struct{} // closed once the process has exited
}

func fmServe(t *testing.T, bin string, o fmServeOpts) *fmProc {
	t.Helper()
	dir := fmOpenDir(t)
	cfgFile := filepath.Join(dir, "plane.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte("log:\n  format: json\n"+o.config), 0o644))
	home := o.home
	if home == "" {
		home = fmHome(t)
	}
	args := []string{"serve", "--config", cfgFile, "--data-dir", o.dataDir, "--grpc-addr", loopbackAnyPort,
		"--webhook-addr", loopbackAnyPort, "--dns-addr", loopbackAnyPort, "--monitoring-addr", loopbackAnyPort}
	cmd := exec.Command(bin, args...)
	if o.fileSizeLimit != nil {
		cmd = exec.Command("bash", append([]string{"-c", fmt.Sprintf(`trap "" XFSZ; ulimit -f %d; exec "$0" "$@"`, *o.fileSizeLimit), bin}, args...)...)
	}
	fmAsPlaneUser(cmd, home)
	p := &fmProc{cmd: cmd, out: &testutil.SyncBuffer{}, dataDir: o.dataDir, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	require.NoError(t, cmd.Start())
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("bootgraph serve output:\n%s", p.out)
		}
	})
	return p
}

// fmHome is a new $HOME (and $TMPDIR) for the plane's user.
func fmHome(t *testing.T) string {
	t.Helper()
	home := filepath.Join(fmOpenDir(t), "home")
	require.NoError(t, os.Mkdir(home, 0o700))
	if fmAsRoot {
		require.NoError(t, os.Chown(home, fmNobody, fmNobody))
	}
	return home
}

// fmAsPlaneUser gives cmd the environment of a local run with its own
// HOME and TMPDIR, and, as root, nobody's identity.
func fmAsPlaneUser(cmd *exec.Cmd, home string) {
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "KUBECONFIG", "KUBERNETES_SERVICE_HOST", "POD_NAMESPACE", "TMPDIR", "HOME":
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "TMPDIR="+home, "HOME="+home)
	if fmAsRoot {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: fmNobody, Gid: fmNobody}}
	}
}

// fmRun runs bin with args to completion as the plane's user.
func fmRun(t *testing.T, bin, home string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), fmBound)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	fmAsPlaneUser(cmd, home)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "bootgraph %v: %s", args, out)
	assert.NotContains(t, string(out), "panic:")
}

// fmDiskFullNoWrites runs the commands that keep no state with a file
// size limit of 0 in a fresh HOME and TMPDIR: go-graphviz once compiled
// itself into $TMPDIR when any command started, and panicked on a full
// disk.
func fmDiskFullNoWrites(bin string) func(*testing.T) {
	return func(t *testing.T) {
		home := fmHome(t)
		limited := filepath.Join(fmOpenDir(t), "bootgraph-limited")
		script := fmt.Sprintf("#!/bin/bash\ntrap '' XFSZ\nulimit -f 0\nexec %q \"$@\"\n", bin)
		require.NoError(t, os.WriteFile(limited, []byte(script), 0o755))
		for _, args := range [][]string{{"version"}, {"modules"}, {"graph", "--format", "svg"}, {"graph", "--format", "html"}} {
			fmRun(t, limited, home, args...)
		}
		entries, err := os.ReadDir(home)
		require.NoError(t, err)
		assert.Empty(t, entries, "nothing was written in HOME or TMPDIR")
	}
}

// addrs are the listeners' addresses, from the "serving" log lines.
func (p *fmProc) addrs() map[string]string {
	addrs := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(p.out.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct{ Msg, Listener, Addr string }
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Msg == "serving" && e.Listener != "" {
			addrs[e.Listener] = e.Addr
		}
	}
	return addrs
}

// waitReady waits until /ready answers 200.
func (p *fmProc) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(fmBound)
	client := &http.Client{Timeout: fmBound}
	for {
		select {
		case <-p.exited:
			t.Fatalf("serve exited before it was ready:\n%s", p.out)
		default:
		}
		if addr := p.addrs()[monitoring.Name]; addr != "" {
			if resp, err := client.Get("http://" + addr + "/ready"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
		}
		require.True(t, time.Now().Before(deadline), "serve never became ready:\n%s", p.out)
		time.Sleep(20 * time.Millisecond)
	}
}

// wait returns the exit code once the process has exited.
func (p *fmProc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(fmBound):
		t.Fatalf("serve did not exit:\n%s", p.out)
	}
	return p.cmd.ProcessState.ExitCode()
}

// stop sends sig and asserts a clean exit.
func (p *fmProc) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig))
	assert.Equal(t, 0, p.wait(t), "exit code after %v:\n%s", sig, p.out)
}

// issue gets a certificate from p with its token file, trusting root.
func (p *fmProc) issue(t *testing.T, root []byte) *caclient.Result {
	t.Helper()
	c, err := caclient.Dial(caclient.Config{Addr: p.addrs()[bggrpc.Name], RootsPEM: root, ServerName: "localhost", Token: fmToken(t, p.dataDir)})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), fmBound)
	defer cancel()
	res, err := c.Issue(ctx, caclient.KeyECDSAP256, time.Hour)
	require.NoError(t, err)
	return res
}

// fmToken is the first token of the data directory's token file.
func fmToken(t *testing.T, dataDir string) string {
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

func fmGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: fmBound}).Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body bytes.Buffer
	_, err = body.ReadFrom(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, body.String()
}
