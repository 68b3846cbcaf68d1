package dnscert_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/modules/dnscert"
)

func TestModuleIstiodProvider(t *testing.T) {
	t.Parallel()
	c := newCA(t)
	var b *dnscert.Bundle
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Supply(c),
		fx.Provide(zap.NewNop),
		dnscert.Module(dnscert.Options{Namespace: "mesh", LoopbackNames: true}),
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
	c := newCA(t)
	first, second := issue(t, c), issue(t, c)
	f := writeFiles(t, first, c.RootPEM())
	exportDir := filepath.Join(t.TempDir(), "istio-dns")
	var b *dnscert.Bundle
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Provide(zap.NewNop),
		// No *ca.CA in the graph: the files provider needs none.
		dnscert.Module(dnscert.Options{CertFile: f.cert, KeyFile: f.key, CACertFile: f.ca, ExportDir: exportDir}),
		fx.Populate(&b),
	)
	app.RequireStart()
	defer app.RequireStop()

	readExport := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join(exportDir, name))
		require.NoError(t, err)
		return data
	}
	assert.Equal(t, first.chain, readExport(dnscert.ExportChainFile), "exported at start")
	assert.Equal(t, first.key, readExport(dnscert.ExportKeyFile))
	assert.Equal(t, c.RootPEM(), readExport(dnscert.ExportRootFile))

	// Subscribers run synchronously in Set, so the export is current on return.
	require.NoError(t, b.Set(second.chain, second.key, c.RootPEM()))
	assert.Equal(t, second.chain, readExport(dnscert.ExportChainFile), "re-exported on change")
	assert.Equal(t, second.key, readExport(dnscert.ExportKeyFile))
}

func TestModuleFilesProviderError(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing.pem")
	app := fx.New(
		fx.NopLogger,
		fx.Provide(zap.NewNop),
		dnscert.Module(dnscert.Options{CertFile: missing, KeyFile: missing}),
		fx.Invoke(func(*dnscert.Bundle) {}),
	)
	require.Error(t, app.Err())
	assert.Contains(t, app.Err().Error(), "--tlsCertFile")
}
