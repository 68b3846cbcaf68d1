package servingcert_test

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/config"
	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

func TestModuleIstiodProvider(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	var b *servingcert.Bundle
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Supply(c),
		fx.Provide(zap.NewNop),
		component.SupplyEnv(component.Env{Namespace: "mesh"}),
		servingcert.Module(servingcert.Options{LoopbackNames: ptr(true)}),
		fx.Populate(&b),
	)
	app.RequireStart()
	defer app.RequireStop()

	require.NotNil(t, b.Leaf())
	assert.Contains(t, b.Leaf().DNSNames, "istiod.mesh.svc")
	assert.Contains(t, b.Leaf().DNSNames, "localhost")
	assert.Equal(t, c.RootPEM(), b.RootsPEM())
}

func TestModuleFilesProviderExports(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	first, second := issue(t, c), issue(t, c)
	f := writeFiles(t, first, c.RootPEM())
	exportDir := filepath.Join(t.TempDir(), "istio-dns")
	var b *servingcert.Bundle
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Provide(zap.NewNop),
		// No *ca.CA in the graph: the files provider needs none.
		servingcert.Module(servingcert.Options{CertFile: f.cert, KeyFile: f.key, CACertFile: f.ca, ExportDir: exportDir}),
		fx.Populate(&b),
	)
	app.RequireStart()
	defer app.RequireStop()

	readExport := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join(exportDir, name))
		require.NoError(t, err)
		return data
	}
	assert.Equal(t, first.chain, readExport(servingcert.ExportChainFile), "exported at start")
	assert.Equal(t, first.key, readExport(servingcert.ExportKeyFile))
	assert.Equal(t, c.RootPEM(), readExport(servingcert.ExportRootFile))

	// Subscribers run synchronously in Set, so the export is current on return.
	require.NoError(t, b.Set(second.chain, second.key, c.RootPEM()))
	assert.Equal(t, second.chain, readExport(servingcert.ExportChainFile), "re-exported on change")
	assert.Equal(t, second.key, readExport(servingcert.ExportKeyFile))
}

func TestModuleFilesProviderError(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing.pem")
	app := fx.New(
		fx.NopLogger,
		fx.Provide(zap.NewNop),
		servingcert.Module(servingcert.Options{CertFile: missing, KeyFile: missing}),
		fx.Invoke(func(*servingcert.Bundle) {}),
	)
	require.Error(t, app.Err())
	assert.Contains(t, app.Err().Error(), "serving certificate file: ")
	assert.Contains(t, app.Err().Error(), missing)
	assert.ErrorIs(t, app.Err(), os.ErrNotExist)
}

// The istiod provider's names come from the graph: the namespace from
// component.Env, and the loopback names in local mode (no
// *component.Cluster) or when a listener announces a loopback address.
// LoopbackNames, when set, decides instead.
func TestModuleIstiodProviderNamesFromGraph(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	mesh := component.SupplyEnv(component.Env{Namespace: "mesh"})
	cluster := fx.Supply(&component.Cluster{ID: "Kubernetes", Namespace: "mesh"})
	loopbackIPs := []string{"127.0.0.1", "::1"}
	tests := []struct {
		name    string
		opts    servingcert.Options
		graph   []fx.Option
		wantDNS []string
		wantIPs []string
	}{
		{name: "local mode names loopback",
			wantDNS: []string{"istiod.istio-system.svc", "localhost"}, wantIPs: loopbackIPs},
		{name: "namespace from the Env", graph: []fx.Option{mesh},
			wantDNS: []string{"istiod.mesh.svc", "localhost"}, wantIPs: loopbackIPs},
		{name: "cluster without a loopback listener", graph: []fx.Option{mesh, cluster},
			wantDNS: []string{"istiod.mesh.svc"}},
		{name: "cluster, listener on every interface", graph: []fx.Option{mesh, cluster, component.Announce("secure-grpc", ":15012")},
			wantDNS: []string{"istiod.mesh.svc"}},
		{name: "cluster, loopback listener", graph: []fx.Option{mesh, cluster, component.Announce("x", "127.0.0.1:0")},
			wantDNS: []string{"istiod.mesh.svc", "localhost"}, wantIPs: loopbackIPs},
		{name: "cluster, IPv6 loopback listener among others", graph: []fx.Option{mesh, cluster,
			component.Announce("secure-grpc", ":15012"), component.Announce("debug", "[::1]:8080")},
			wantDNS: []string{"istiod.mesh.svc", "localhost"}, wantIPs: loopbackIPs},
		{name: "cluster, extra names", opts: servingcert.Options{DNSNames: []string{"istiod.example.com", "10.1.2.3"}},
			graph:   []fx.Option{mesh, cluster},
			wantDNS: []string{"istiod.mesh.svc", "istiod.example.com"}, wantIPs: []string{"10.1.2.3"}},
		{name: "loopbackNames false in local mode", opts: servingcert.Options{LoopbackNames: ptr(false)}, graph: []fx.Option{mesh},
			wantDNS: []string{"istiod.mesh.svc"}},
		{name: "loopbackNames false beside a loopback listener", opts: servingcert.Options{LoopbackNames: ptr(false)},
			graph:   []fx.Option{mesh, cluster, component.Announce("x", "127.0.0.1:0")},
			wantDNS: []string{"istiod.mesh.svc"}},
		{name: "loopbackNames true in a cluster", opts: servingcert.Options{LoopbackNames: ptr(true)}, graph: []fx.Option{mesh, cluster},
			wantDNS: []string{"istiod.mesh.svc", "localhost"}, wantIPs: loopbackIPs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b *servingcert.Bundle
			app := fxtest.New(t, append([]fx.Option{
				fx.NopLogger,
				fx.Supply(c),
				fx.Provide(zap.NewNop),
				servingcert.Module(tt.opts),
				fx.Populate(&b),
			}, tt.graph...)...)
			app.RequireStart()
			defer app.RequireStop()

			leaf := b.Leaf()
			require.NotNil(t, leaf)
			assert.ElementsMatch(t, tt.wantDNS, leaf.DNSNames)
			var ips []string
			for _, ip := range leaf.IPAddresses {
				ips = append(ips, ip.String())
			}
			assert.ElementsMatch(t, tt.wantIPs, ips)
			for _, name := range append(tt.wantDNS, tt.wantIPs...) {
				_, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: c.Roots()})
				assert.NoError(t, err, "the certificate verifies for %s", name)
			}
		})
	}
}

// Invalid options fail the composition before anything runs, naming the
// Go fields (the config layer names its paths instead).
func TestModuleInvalidOptions(t *testing.T) {
	t.Parallel()
	app := fx.New(
		fx.NopLogger,
		fx.Provide(zap.NewNop),
		servingcert.Module(servingcert.Options{Provider: servingcert.ProviderKubernetes, TTL: component.Duration(time.Minute)}),
		fx.Invoke(func(*servingcert.Bundle) { t.Error("nothing may run with invalid options") }),
	)
	err := app.Err()
	require.Error(t, err)
	var oe *component.OptionsError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "servingCert", oe.Part)
	for _, want := range []string{
		"servingCert part: ",
		"servingcert.Options.Kubernetes.SignerName: required by the kubernetes provider",
		"servingcert.Options.TTL: 1m is shorter than a Kubernetes CSR's minimum expirationSeconds (10m)",
	} {
		assert.Contains(t, err.Error(), want)
	}
}

// In a configuration, each invalid field is named by its path in the file
// and by the flag or variable that sets it (istiod's names).
func TestConfigNamesFlagsAndVariables(t *testing.T) {
	t.Parallel()
	cfg := config.New(servingcert.Part)
	o := config.Options[servingcert.Options](cfg, "servingCert")
	o.Provider = "bogus"
	err := cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `servingCert.provider ($PILOT_CERT_PROVIDER): "bogus" is not one of`)

	o.Provider = servingcert.ProviderFiles
	err = cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "servingCert.certFile (--tlsCertFile): required by the files provider")
	assert.Contains(t, err.Error(), "servingCert.keyFile (--tlsKeyFile): required by the files provider")
}
