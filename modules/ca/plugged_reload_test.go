package ca_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/internal/pemutil"
	"github.com/bootgraph/bootgraph/modules/ca"
)

// pluggedFiles are p's files under istiod's cacerts names.
func (p *pluggedPKI) files(t *testing.T) []pemutil.File {
	return []pemutil.File{
		{Name: ca.CACertFile, Data: p.inter.certPEM()},
		{Name: ca.CAKeyFile, Data: p.inter.keyPEM(t)},
		{Name: ca.CertChainFile, Data: append(p.inter.certPEM(), p.root.certPEM()...)},
		{Name: ca.RootCertFile, Data: p.root.certPEM()},
	}
}

// pluggedOpts watch dir; a new root propagates for delay; the periodic
// check is an hour away, so what is seen comes from fsnotify.
func pluggedOpts(dir, dataDir string, delay time.Duration) ca.Options {
	o := fastRotation(dataDir, delay, time.Hour)
	o.PluggedCertsDir = dir
	o.ReloadInterval = dur(time.Hour)
	return o
}

func signerIs(p *pluggedPKI) func(ca.Status) bool {
	fp := ca.Fingerprint(p.inter.cert)
	return func(st ca.Status) bool { return st.Signer.Fingerprint == fp }
}

// A cacerts volume swapped the Kubernetes way (a new generation, ..data
// renamed over) is reloaded; its new root joins the bundle before the new
// intermediate signs, and the old root stays until its leaves expired.
func TestPluggedReloadSymlinkSwap(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "cacerts")
	old, next := newPluggedPKI(t), newPluggedPKI(t)
	require.NoError(t, pemutil.WriteGeneration(dir, old.files(t)))
	c, err := ca.New(pluggedOpts(dir, filepath.Join(t.TempDir(), "ca"), 500*time.Millisecond), nil, nil)
	require.NoError(t, err)
	runCA(t, c)
	require.True(t, signerIs(old)(c.Status()))
	oldLeaf := issueLeaf(t, c, "spiffe://cluster.local/ns/a/sa/old")

	require.NoError(t, pemutil.WriteGeneration(dir, next.files(t)))
	st := waitStatus(t, c, "the new root in the bundle", phaseIs(ca.PhasePropagating))
	assert.Equal(t, []string{ca.Fingerprint(old.root.cert), ca.Fingerprint(next.root.cert)}, rootFingerprints(st.Roots))
	assert.True(t, signerIs(old)(st), "the old intermediate signs while the new root propagates")
	st = waitStatus(t, c, "the new intermediate signing", signerIs(next))
	assert.Equal(t, ca.PhaseRetiring, st.Rotation.Phase)
	assert.Equal(t, ca.SourcePlugged, st.Source)
	assert.NoError(t, verifies(oldLeaf, c.Roots()), "the old root is kept for its leaves")
	assert.NoError(t, verifies(issueLeaf(t, c, "spiffe://cluster.local/ns/a/sa/new"), c.Roots()))
}

// A half-written set (a new ca-cert.pem beside the old key) is refused:
// the old set keeps signing, the refusal is logged once, counted, and
// readiness says why; the completed set is then taken.
func TestPluggedReloadHalfWrittenSet(t *testing.T) {
	t.Parallel()
	old, next := newPluggedPKI(t), newPluggedPKI(t)
	dir := old.write(t)
	reg := prometheus.NewRegistry()
	c, err := ca.New(pluggedOpts(dir, filepath.Join(t.TempDir(), "ca"), 100*time.Millisecond), nil, ca.NewMetrics(reg))
	require.NoError(t, err)
	runCA(t, c)
	require.NoError(t, c.ReloadReady(t.Context()))

	writeFile(t, dir, ca.CACertFile, next.inter.certPEM())
	st := waitStatus(t, c, "the refusal", func(st ca.Status) bool { return st.ReloadError != "" })
	assert.Contains(t, st.ReloadError, "plugged-in CA in "+dir)
	assert.Contains(t, st.ReloadError, "does not match")
	assert.True(t, signerIs(old)(st), "the old set keeps signing")
	err = c.ReloadReady(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "still serving with the previous signer")
	assert.Equal(t, 1.0, metricValue(t, reg, "bootgraph_ca_reload_failures_total", map[string]string{"source": "plugged-in"}))
	assert.Equal(t, 0.0, metricValue(t, reg, "bootgraph_ca_reload_ok", map[string]string{"source": "plugged-in"}))
	_, err = c.Sign(csrPEM(t, ecKey(t), nil), []string{"spiffe://cluster.local/ns/a/sa/b"}, 0)
	require.NoError(t, err)

	for _, f := range next.files(t) {
		writeFile(t, dir, f.Name, f.Data)
	}
	waitStatus(t, c, "the completed set", signerIs(next))
	require.NoError(t, c.ReloadReady(t.Context()))
	assert.Equal(t, 1.0, metricValue(t, reg, "bootgraph_ca_reload_ok", map[string]string{"source": "plugged-in"}))
}

// A cacerts directory that does not exist at start (istiod misses one
// created later): the self-signed root serves meanwhile, and the plugged-in
// CA takes over through the bundle overlap once the directory appears.
func TestPluggedDirCreatedAfterStart(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	dir := filepath.Join(parent, "cacerts")
	c, err := ca.New(pluggedOpts(dir, filepath.Join(t.TempDir(), "ca"), 300*time.Millisecond), nil, nil)
	require.NoError(t, err)
	require.Equal(t, ca.SourceSelfSigned, c.Status().Source)
	selfSigned := ca.Fingerprint(c.SigningCert())
	runCA(t, c)

	pki := newPluggedPKI(t)
	staging := filepath.Join(parent, "staging")
	require.NoError(t, os.Mkdir(staging, 0o700))
	for _, f := range pki.files(t) {
		writeFile(t, staging, f.Name, f.Data)
	}
	require.NoError(t, os.Rename(staging, dir))

	st := waitStatus(t, c, "the plugged-in CA", signerIs(pki))
	assert.Equal(t, ca.SourcePlugged, st.Source)
	assert.Equal(t, []string{ca.Fingerprint(pki.root.cert), selfSigned}, rootFingerprints(st.Roots), "the self-signed root retires after its leaves")
}
