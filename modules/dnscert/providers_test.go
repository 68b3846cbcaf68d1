package dnscert_test

import (
	"context"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/dnscert"
	"github.com/bootgraph/bootgraph/modules/plane"
)

func TestIstiodProvider(t *testing.T) {
	t.Parallel()
	c := newCA(t)
	opts := dnscert.Options{
		LoopbackNames: true,
		DNSNames:      []string{"istiod.example.com", "10.1.2.3"},
		TTL:           plane.Duration(3 * time.Hour),
	}
	opts.SetDefaults()
	require.NoError(t, opts.Validate())
	before := time.Now()

	p, err := dnscert.NewIstiodProvider(c, opts, zap.NewNop())
	require.NoError(t, err)

	b := p.Bundle()
	leaf := b.Leaf()
	require.NotNil(t, leaf)
	assert.ElementsMatch(t, []string{"istiod.istio-system.svc", "istiod.example.com", "localhost"}, leaf.DNSNames)
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	assert.ElementsMatch(t, []string{"10.1.2.3", "127.0.0.1", "::1"}, ips)
	assert.Equal(t, c.RootPEM(), b.RootsPEM())
	assert.NoError(t, b.Valid(time.Now()))
	assert.WithinDuration(t, before.Add(3*time.Hour), leaf.NotAfter, time.Minute)

	for _, name := range []string{"istiod.istio-system.svc", "localhost", "istiod.example.com"} {
		_, err := leaf.Verify(x509.VerifyOptions{
			DNSName:   name,
			Roots:     c.Roots(),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		assert.NoError(t, err, "leaf verifies to the CA root for %s", name)
	}
	for _, ip := range []string{"127.0.0.1", "::1"} {
		assert.NoError(t, leaf.VerifyHostname(ip))
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: newCA(t).Roots()})
	assert.Error(t, err, "leaf must not verify to a foreign root")
}

func TestIstiodProviderNames(t *testing.T) {
	t.Parallel()
	c := newCA(t)
	opts := dnscert.Options{Namespace: "mesh"}
	opts.SetDefaults()

	p, err := dnscert.NewIstiodProvider(c, opts, zap.NewNop())
	require.NoError(t, err)

	leaf := p.Bundle().Leaf()
	assert.Equal(t, []string{"istiod.mesh.svc"}, leaf.DNSNames, "no loopback names unless asked")
	assert.Empty(t, leaf.IPAddresses)
	assert.WithinDuration(t, time.Now().Add(dnscert.DefaultTTL), leaf.NotAfter, time.Minute)
}

func TestIstiodProviderTTLCappedByCA(t *testing.T) {
	t.Parallel()
	c, err := ca.New(ca.Options{DataDir: t.TempDir(), RootTTL: plane.Duration(2 * time.Hour)}, nil, nil)
	require.NoError(t, err)
	opts := dnscert.Options{}
	opts.SetDefaults() // TTL 30 days, far past the root

	p, err := dnscert.NewIstiodProvider(c, opts, zap.NewNop())
	require.NoError(t, err)

	assert.Equal(t, c.SigningCert().NotAfter, p.Bundle().Leaf().NotAfter)
}

func TestIstiodProviderRunStopsOnCancel(t *testing.T) {
	t.Parallel()
	opts := dnscert.Options{}
	opts.SetDefaults()
	p, err := dnscert.NewIstiodProvider(newCA(t), opts, zap.NewNop())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()

	cancel()

	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was canceled")
	}
}

// writeFile writes data to path with mode 0600 through a rename, so that the
// provider never reads a torn file.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, data, 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

type files struct {
	dir, cert, key, ca string
}

func writeFiles(t *testing.T, p pair, roots []byte) files {
	t.Helper()
	dir := t.TempDir()
	f := files{dir: dir, cert: filepath.Join(dir, "tls.crt"), key: filepath.Join(dir, "tls.key"), ca: filepath.Join(dir, "ca.crt")}
	writeFile(t, f.cert, p.chain)
	writeFile(t, f.key, p.key)
	writeFile(t, f.ca, roots)
	return f
}

func (f files) options() dnscert.Options {
	o := dnscert.Options{CertFile: f.cert, KeyFile: f.key, CACertFile: f.ca}
	o.SetDefaults()
	return o
}

func TestFilesProviderLoads(t *testing.T) {
	t.Parallel()
	c := newCA(t)
	p := issue(t, c)
	f := writeFiles(t, p, c.RootPEM())
	opts := f.options()
	require.Equal(t, dnscert.ProviderFiles, opts.Provider)
	require.NoError(t, opts.Validate())

	fp, err := dnscert.NewFilesProvider(opts, zap.NewNop())
	require.NoError(t, err)

	b := fp.Bundle()
	require.NotNil(t, b.Leaf())
	assert.Equal(t, p.leaf.SerialNumber, b.Leaf().SerialNumber)
	assert.Equal(t, p.chain, b.CertChainPEM())
	assert.Equal(t, p.key, b.KeyPEM())
	assert.Equal(t, c.RootPEM(), b.RootsPEM())
	assert.True(t, b.Roots().Equal(c.Roots()))

	// Without a CA file the bundle trusts no client roots.
	opts.CACertFile = ""
	fp, err = dnscert.NewFilesProvider(opts, zap.NewNop())
	require.NoError(t, err)
	assert.Empty(t, fp.Bundle().RootsPEM())
}

func TestFilesProviderErrors(t *testing.T) {
	t.Parallel()
	c := newCA(t)
	p, other := issue(t, c), issue(t, c)
	f := writeFiles(t, p, c.RootPEM())
	mismatchedKey := filepath.Join(f.dir, "other.key")
	writeFile(t, mismatchedKey, other.key)
	badCA := filepath.Join(f.dir, "bad-ca.crt")
	writeFile(t, badCA, []byte("garbage"))
	missing := filepath.Join(f.dir, "missing.pem")

	tests := []struct {
		name     string
		mutate   func(o *dnscert.Options)
		contains []string
	}{
		{"missing cert file", func(o *dnscert.Options) { o.CertFile = missing }, []string{"--tlsCertFile", "servingCert.certFile", missing}},
		{"missing key file", func(o *dnscert.Options) { o.KeyFile = missing }, []string{"--tlsKeyFile", "servingCert.keyFile", missing}},
		{"missing CA file", func(o *dnscert.Options) { o.CACertFile = missing }, []string{"--caCertFile", "servingCert.caCertFile", missing}},
		{"key does not match cert", func(o *dnscert.Options) { o.KeyFile = mismatchedKey }, []string{f.cert, mismatchedKey}},
		{"unparsable CA file", func(o *dnscert.Options) { o.CACertFile = badCA }, []string{badCA, "roots"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := f.options()
			tt.mutate(&opts)

			fp, err := dnscert.NewFilesProvider(opts, zap.NewNop())

			require.Error(t, err)
			assert.Nil(t, fp)
			for _, s := range tt.contains {
				assert.Contains(t, err.Error(), s)
			}
		})
	}
}

// runFiles starts p.Run and stops it when the test ends.
func runFiles(t *testing.T, p *dnscert.FilesProvider) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); p.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func TestFilesProviderReload(t *testing.T) {
	t.Parallel()
	c := newCA(t)
	first, second, third := issue(t, c), issue(t, c), issue(t, c)
	f := writeFiles(t, first, c.RootPEM())
	opts := f.options()
	opts.ReloadInterval = plane.Duration(20 * time.Millisecond)
	core, logs := observer.New(zapcore.InfoLevel)
	fp, err := dnscert.NewFilesProvider(opts, zap.New(core))
	require.NoError(t, err)
	b := fp.Bundle()
	require.Equal(t, first.leaf.SerialNumber, b.Leaf().SerialNumber)
	runFiles(t, fp)

	// A new pair on disk is picked up without a restart.
	writeFile(t, f.cert, second.chain)
	writeFile(t, f.key, second.key)
	require.Eventually(t, func() bool {
		return b.Leaf().SerialNumber.Cmp(second.leaf.SerialNumber) == 0
	}, 5*time.Second, 10*time.Millisecond, "the bundle must pick up the new files")
	require.Eventually(t, func() bool {
		return logs.FilterMessage("reloaded serving certificate").Len() > 0
	}, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, second.key, b.KeyPEM())

	// A key that does not match the certificate is logged and the current
	// certificate stays in use. Every warning from the half-written update
	// above was logged before the successful load, so start counting now.
	logs.TakeAll()
	writeFile(t, f.key, third.key)
	require.Eventually(t, func() bool {
		return logs.FilterMessage("reloading serving certificate files failed; keeping the current one").Len() > 0
	}, 5*time.Second, 10*time.Millisecond, "the mismatched key must be read and rejected")
	assert.Equal(t, second.leaf.SerialNumber, b.Leaf().SerialNumber, "the old certificate stays in use")
	assert.Equal(t, second.key, b.KeyPEM())
	warn := logs.FilterMessage("reloading serving certificate files failed; keeping the current one").All()[0]
	assert.Equal(t, zapcore.WarnLevel, warn.Level)
	assert.Contains(t, warn.ContextMap()["error"], f.key)

	// Completing the update recovers.
	writeFile(t, f.cert, third.chain)
	require.Eventually(t, func() bool {
		return b.Leaf().SerialNumber.Cmp(third.leaf.SerialNumber) == 0
	}, 5*time.Second, 10*time.Millisecond)
}

func TestFilesProviderReloadRoots(t *testing.T) {
	t.Parallel()
	c1, c2 := newCA(t), newCA(t)
	p := issue(t, c1)
	f := writeFiles(t, p, c1.RootPEM())
	opts := f.options()
	opts.ReloadInterval = plane.Duration(20 * time.Millisecond)
	fp, err := dnscert.NewFilesProvider(opts, zap.NewNop())
	require.NoError(t, err)
	var changed sync.WaitGroup
	changed.Add(1)
	var once sync.Once
	fp.Bundle().Subscribe(func() { once.Do(changed.Done) })
	runFiles(t, fp)

	writeFile(t, f.ca, c2.RootPEM())

	require.Eventually(t, func() bool {
		return fp.Bundle().Roots().Equal(c2.Roots())
	}, 5*time.Second, 10*time.Millisecond, "new CA file must replace the roots")
	changed.Wait() // subscribers heard of it
	assert.Equal(t, p.leaf.SerialNumber, fp.Bundle().Leaf().SerialNumber)
}

func TestOptionsSetDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		in           dnscert.Options
		wantProvider string
	}{
		{"empty selects istiod", dnscert.Options{}, dnscert.ProviderIstiod},
		{"cert file selects files", dnscert.Options{CertFile: "c.pem"}, dnscert.ProviderFiles},
		{"key file selects files", dnscert.Options{KeyFile: "k.pem"}, dnscert.ProviderFiles},
		{"explicit provider kept", dnscert.Options{Provider: dnscert.ProviderIstiod, CertFile: "c.pem"}, dnscert.ProviderIstiod},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := tt.in
			o.SetDefaults()
			assert.Equal(t, tt.wantProvider, o.Provider)
			assert.Equal(t, dnscert.DefaultNamespace, o.Namespace)
			assert.Equal(t, plane.Duration(dnscert.DefaultTTL), o.TTL)
			assert.Equal(t, plane.Duration(dnscert.DefaultReloadInterval), o.ReloadInterval)
		})
	}

	o := dnscert.Options{Namespace: "ns", TTL: plane.Duration(time.Hour), ReloadInterval: plane.Duration(time.Second)}
	o.SetDefaults()
	assert.Equal(t, "ns", o.Namespace)
	assert.Equal(t, plane.Duration(time.Hour), o.TTL)
	assert.Equal(t, plane.Duration(time.Second), o.ReloadInterval)
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		opts     dnscert.Options
		contains []string // empty: valid
	}{
		{"defaults", dnscert.Options{}, nil},
		{"files", dnscert.Options{CertFile: "c", KeyFile: "k"}, nil},
		{"bogus provider", dnscert.Options{Provider: "bogus"}, []string{"PILOT_CERT_PROVIDER", "servingCert.provider", `"bogus"`}},
		{"files without cert", dnscert.Options{Provider: dnscert.ProviderFiles, KeyFile: "k"}, []string{"--tlsCertFile", "servingCert.certFile"}},
		{"files without key", dnscert.Options{Provider: dnscert.ProviderFiles, CertFile: "c"}, []string{"--tlsKeyFile", "servingCert.keyFile"}},
		{"istiod with cert file", dnscert.Options{Provider: dnscert.ProviderIstiod, CertFile: "c"}, []string{"conflicts", "--tlsCertFile"}},
		{"istiod with key file", dnscert.Options{Provider: dnscert.ProviderIstiod, KeyFile: "k"}, []string{"conflicts"}},
		{"negative ttl", dnscert.Options{TTL: plane.Duration(-time.Second)}, []string{"servingCert.ttl"}},
		{"negative reload interval", dnscert.Options{ReloadInterval: plane.Duration(-time.Second)}, []string{"servingCert.reloadInterval"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := tt.opts
			o.SetDefaults()

			err := o.Validate()

			if len(tt.contains) == 0 {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, s := range tt.contains {
				assert.Contains(t, err.Error(), s)
			}
		})
	}

	t.Run("every invalid field is reported", func(t *testing.T) {
		t.Parallel()
		o := dnscert.Options{Provider: dnscert.ProviderFiles} // no SetDefaults: zero TTL and interval
		err := o.Validate()
		require.Error(t, err)
		for _, s := range []string{"--tlsCertFile", "--tlsKeyFile", "servingCert.ttl", "servingCert.reloadInterval"} {
			assert.Contains(t, err.Error(), s)
		}
	})
}

func TestOptionsNames(t *testing.T) {
	t.Parallel()
	o := dnscert.Options{Namespace: "ns", DNSNames: []string{"a.example"}}
	assert.Equal(t, []string{"istiod.ns.svc", "a.example"}, o.Names())
	o.LoopbackNames = true
	names := o.Names()
	assert.Equal(t, []string{"istiod.ns.svc", "a.example", "localhost", "127.0.0.1", "::1"}, names)
	for _, n := range names[3:] {
		assert.NotNil(t, net.ParseIP(n))
	}
}

func TestExport(t *testing.T) {
	t.Parallel()
	c := newCA(t)
	p := issue(t, c)
	b := dnscert.NewBundle()
	require.NoError(t, b.Set(p.chain, p.key, c.RootPEM()))

	existing := t.TempDir()
	require.NoError(t, os.Chmod(existing, 0o755))
	tests := []struct {
		name string
		dir  string
	}{
		{"new nested directory", filepath.Join(t.TempDir(), "a", "istio-dns")},
		{"existing open directory is tightened", existing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, dnscert.Export(b, tt.dir))

			st, err := os.Stat(tt.dir)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())
			for name, want := range map[string][]byte{
				dnscert.ExportKeyFile:   b.KeyPEM(),
				dnscert.ExportChainFile: b.CertChainPEM(),
				dnscert.ExportRootFile:  b.RootsPEM(),
			} {
				path := filepath.Join(tt.dir, name)
				st, err := os.Stat(path)
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), name)
				got, err := os.ReadFile(path)
				require.NoError(t, err)
				assert.Equal(t, want, got, name)
			}
			entries, err := os.ReadDir(tt.dir)
			require.NoError(t, err)
			assert.Len(t, entries, 3, "no temporary files are left behind")
		})
	}
}

func TestExportError(t *testing.T) {
	t.Parallel()
	blocker := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o600))

	err := dnscert.Export(dnscert.NewBundle(), filepath.Join(blocker, "sub"))

	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "servingCert.exportDir:"), err.Error())
}
