package servingcert_test

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

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

func TestIstiodProvider(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	opts := servingcert.Options{
		LoopbackNames: ptr(true),
		DNSNames:      []string{"istiod.example.com", "10.1.2.3"},
		TTL:           component.Duration(3 * time.Hour),
	}
	opts.SetDefaults()
	require.NoError(t, opts.Validate())
	before := time.Now()

	p, err := servingcert.NewIstiodProvider(c, opts, opts.Names(component.DefaultNamespace, false), zap.NewNop())
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
	_, err = leaf.Verify(x509.VerifyOptions{Roots: testutil.NewCA(t).Roots()})
	assert.Error(t, err, "leaf must not verify to a foreign root")
}

func TestIstiodProviderNames(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	opts := servingcert.Options{}
	opts.SetDefaults()

	p, err := servingcert.NewIstiodProvider(c, opts, opts.Names("mesh", false), zap.NewNop())
	require.NoError(t, err)

	leaf := p.Bundle().Leaf()
	assert.Equal(t, []string{"istiod.mesh.svc"}, leaf.DNSNames, "no loopback names unless asked")
	assert.Empty(t, leaf.IPAddresses)
	assert.WithinDuration(t, time.Now().Add(servingcert.DefaultTTL), leaf.NotAfter, time.Minute)
}

func TestIstiodProviderTTLCappedByCA(t *testing.T) {
	t.Parallel()
	c, err := ca.New(ca.Options{DataDir: t.TempDir(), RootTTL: component.Duration(2 * time.Hour)}, nil, nil)
	require.NoError(t, err)
	opts := servingcert.Options{}
	opts.SetDefaults() // TTL 30 days, far past the root

	p, err := servingcert.NewIstiodProvider(c, opts, opts.Names(component.DefaultNamespace, false), zap.NewNop())
	require.NoError(t, err)

	assert.Equal(t, c.SigningCert().NotAfter, p.Bundle().Leaf().NotAfter)
}

func TestIstiodProviderRunStopsOnCancel(t *testing.T) {
	t.Parallel()
	opts := servingcert.Options{}
	opts.SetDefaults()
	p, err := servingcert.NewIstiodProvider(testutil.NewCA(t), opts, opts.Names(component.DefaultNamespace, true), zap.NewNop())
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

func (f files) options() servingcert.Options {
	o := servingcert.Options{CertFile: f.cert, KeyFile: f.key, CACertFile: f.ca}
	o.SetDefaults()
	return o
}

func TestFilesProviderLoads(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	p := issue(t, c)
	f := writeFiles(t, p, c.RootPEM())
	opts := f.options()
	require.Equal(t, servingcert.ProviderFiles, opts.Provider)
	require.NoError(t, opts.Validate())

	fp, err := servingcert.NewFilesProvider(opts, zap.NewNop())
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
	fp, err = servingcert.NewFilesProvider(opts, zap.NewNop())
	require.NoError(t, err)
	assert.Empty(t, fp.Bundle().RootsPEM())
}

func TestFilesProviderErrors(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	p, other := issue(t, c), issue(t, c)
	f := writeFiles(t, p, c.RootPEM())
	mismatchedKey := filepath.Join(f.dir, "other.key")
	writeFile(t, mismatchedKey, other.key)
	badCA := filepath.Join(f.dir, "bad-ca.crt")
	writeFile(t, badCA, []byte("garbage"))
	missing := filepath.Join(f.dir, "missing.pem")

	tests := []struct {
		name     string
		mutate   func(o *servingcert.Options)
		contains []string
	}{
		{"missing cert file", func(o *servingcert.Options) { o.CertFile = missing }, []string{"serving certificate file: ", missing}},
		{"missing key file", func(o *servingcert.Options) { o.KeyFile = missing }, []string{"serving key file: ", missing}},
		{"missing CA file", func(o *servingcert.Options) { o.CACertFile = missing }, []string{"client CA file: ", missing}},
		{"key does not match cert", func(o *servingcert.Options) { o.KeyFile = mismatchedKey }, []string{f.cert, mismatchedKey}},
		{"unparsable CA file", func(o *servingcert.Options) { o.CACertFile = badCA }, []string{badCA, "roots"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := f.options()
			tt.mutate(&opts)

			fp, err := servingcert.NewFilesProvider(opts, zap.NewNop())

			require.Error(t, err)
			assert.Nil(t, fp)
			for _, s := range tt.contains {
				assert.Contains(t, err.Error(), s)
			}
		})
	}
}

// runFiles starts p.Run and stops it when the test ends.
func runFiles(t *testing.T, p *servingcert.FilesProvider) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); p.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func TestFilesProviderReload(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	first, second, third := issue(t, c), issue(t, c), issue(t, c)
	f := writeFiles(t, first, c.RootPEM())
	opts := f.options()
	opts.ReloadInterval = component.Duration(20 * time.Millisecond)
	core, logs := observer.New(zapcore.InfoLevel)
	fp, err := servingcert.NewFilesProvider(opts, zap.New(core))
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
	c1, c2 := testutil.NewCA(t), testutil.NewCA(t)
	p := issue(t, c1)
	f := writeFiles(t, p, c1.RootPEM())
	opts := f.options()
	opts.ReloadInterval = component.Duration(20 * time.Millisecond)
	fp, err := servingcert.NewFilesProvider(opts, zap.NewNop())
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
		in           servingcert.Options
		wantProvider string
	}{
		{"empty selects istiod", servingcert.Options{}, servingcert.ProviderIstiod},
		{"cert file selects files", servingcert.Options{CertFile: "c.pem"}, servingcert.ProviderFiles},
		{"key file selects files", servingcert.Options{KeyFile: "k.pem"}, servingcert.ProviderFiles},
		{"explicit provider kept", servingcert.Options{Provider: servingcert.ProviderIstiod, CertFile: "c.pem"}, servingcert.ProviderIstiod},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := tt.in
			o.SetDefaults()
			assert.Equal(t, tt.wantProvider, o.Provider)
			assert.Nil(t, o.LoopbackNames, "nil: decided by the graph")
			assert.Equal(t, component.Duration(servingcert.DefaultTTL), o.TTL)
			assert.Equal(t, component.Duration(servingcert.DefaultReloadInterval), o.ReloadInterval)
		})
	}

	o := servingcert.Options{LoopbackNames: ptr(false), TTL: component.Duration(time.Hour), ReloadInterval: component.Duration(time.Second)}
	o.SetDefaults()
	assert.Equal(t, ptr(false), o.LoopbackNames)
	assert.Equal(t, component.Duration(time.Hour), o.TTL)
	assert.Equal(t, component.Duration(time.Second), o.ReloadInterval)
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		opts     servingcert.Options
		contains []string // empty: valid
	}{
		{"defaults", servingcert.Options{}, nil},
		{"files", servingcert.Options{CertFile: "c", KeyFile: "k"}, nil},
		{"bogus provider", servingcert.Options{Provider: "bogus"}, []string{`provider: "bogus" is not one of "istiod", "kubernetes", "files"`}},
		{"files without cert", servingcert.Options{Provider: servingcert.ProviderFiles, KeyFile: "k"}, []string{"certFile: required by the files provider"}},
		{"files without key", servingcert.Options{Provider: servingcert.ProviderFiles, CertFile: "c"}, []string{"keyFile: required by the files provider"}},
		{"istiod with cert file", servingcert.Options{Provider: servingcert.ProviderIstiod, CertFile: "c"}, []string{`provider: "istiod" conflicts with certFile/keyFile`}},
		{"istiod with key file", servingcert.Options{Provider: servingcert.ProviderIstiod, KeyFile: "k"}, []string{`provider: "istiod" conflicts`}},
		{"negative ttl", servingcert.Options{TTL: component.Duration(-time.Second)}, []string{"ttl: -1s must be positive"}},
		{"negative reload interval", servingcert.Options{ReloadInterval: component.Duration(-time.Second)}, []string{"reloadInterval: -1s must be positive"}},
		{"empty extra name", servingcert.Options{DNSNames: []string{"a.example", " "}}, []string{"dnsNames[1]: must not be empty"}},
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
			assert.NotContains(t, err.Error(), "servingCert.", "relative to the options")
		})
	}

	t.Run("every invalid field is reported", func(t *testing.T) {
		t.Parallel()
		o := servingcert.Options{Provider: servingcert.ProviderFiles} // no SetDefaults: zero TTL and interval
		err := o.Validate()
		require.Error(t, err)
		for _, s := range []string{"certFile: ", "keyFile: ", "ttl: ", "reloadInterval: "} {
			assert.Contains(t, err.Error(), s)
		}
	})
}

func TestOptionsNames(t *testing.T) {
	t.Parallel()
	o := servingcert.Options{DNSNames: []string{"a.example"}}
	assert.Equal(t, []string{"istiod.ns.svc", "a.example"}, o.Names("ns", false))
	names := o.Names("ns", true)
	assert.Equal(t, []string{"istiod.ns.svc", "a.example", "localhost", "127.0.0.1", "::1"}, names)
	for _, n := range names[3:] {
		assert.NotNil(t, net.ParseIP(n))
	}

	// LoopbackNames, when set, decides instead of the caller.
	o.LoopbackNames = ptr(true)
	assert.Equal(t, names, o.Names("ns", false))
	o.LoopbackNames = ptr(false)
	assert.Equal(t, []string{"istiod.ns.svc", "a.example"}, o.Names("ns", true))
}

func TestExport(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	p := issue(t, c)
	b := servingcert.NewBundle()
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
			require.NoError(t, servingcert.Export(b, tt.dir))

			assertGeneration(t, tt.dir, servingcert.ExportKeyFile, servingcert.ExportChainFile, servingcert.ExportRootFile)
			for name, want := range map[string][]byte{
				servingcert.ExportKeyFile:   b.KeyPEM(),
				servingcert.ExportChainFile: b.CertChainPEM(),
				servingcert.ExportRootFile:  b.RootsPEM(),
			} {
				got, err := os.ReadFile(filepath.Join(tt.dir, name))
				require.NoError(t, err)
				assert.Equal(t, want, got, name)
			}
		})
	}
}

func TestExportError(t *testing.T) {
	t.Parallel()
	blocker := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o600))

	dir := filepath.Join(blocker, "sub")
	c := testutil.NewCA(t)
	b := testutil.NewBundle(t, c)

	err := servingcert.Export(b, dir)

	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "export serving certificate to "+dir+": "), err.Error())

	// An empty bundle has nothing to export.
	err = servingcert.Export(servingcert.NewBundle(), t.TempDir())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no serving certificate")
}
