package ca_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/bootgraph/bootgraph/internal/pemutil"
	"github.com/bootgraph/bootgraph/modules/ca"
)

// eventBound bounds a wait for a CA event; it only matters when the event
// never comes (the test then fails), never for pacing.
const eventBound = 2 * time.Minute

// fastRotation is a CA whose rotation steps come within seconds: leaves
// live at most maxTTL, a re-key's root propagates for delay, and the old
// root retires maxTTL + reload after the switch.
func fastRotation(dir string, delay, maxTTL time.Duration) ca.Options {
	off := false
	return ca.Options{
		DataDir:        dir,
		DefaultCertTTL: dur(maxTTL),
		MaxCertTTL:     dur(maxTTL),
		ReloadInterval: dur(100 * time.Millisecond),
		Rotation:       ca.RotationOptions{Auto: &off, PropagationDelay: dur(delay)},
	}
}

// runCA runs c until the test ends.
func runCA(t *testing.T, c *ca.CA) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { c.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// waitStatus waits, event by event (c.Changed), until cond holds for c's
// status, and returns it.
func waitStatus(t *testing.T, c *ca.CA, what string, cond func(ca.Status) bool) ca.Status {
	t.Helper()
	deadline := time.NewTimer(eventBound)
	defer deadline.Stop()
	for {
		changed := c.Changed()
		if st := c.Status(); cond(st) {
			return st
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("waited %v for %s; status: %+v", eventBound, what, c.Status())
		}
	}
}

func phaseIs(p ca.Phase) func(ca.Status) bool {
	return func(st ca.Status) bool { return st.Rotation.Phase == p }
}

// rootFingerprints lists the bundle's fingerprints in order.
func rootFingerprints(roots []ca.RootInfo) []string {
	var out []string
	for _, r := range roots {
		out = append(out, r.Fingerprint)
	}
	return out
}

func fingerprintsOf(t *testing.T, pemBytes []byte) []string {
	t.Helper()
	certs, err := pemutil.ParseCerts(pemBytes)
	require.NoError(t, err)
	var out []string
	for _, c := range certs {
		out = append(out, ca.Fingerprint(c))
	}
	return out
}

// issueLeaf has c sign a fresh key for id; the leaf carries its
// intermediates in issuedWith.
func issueLeaf(t *testing.T, c *ca.CA, id string) *x509.Certificate {
	t.Helper()
	chain, err := c.Sign(csrPEM(t, ecKey(t), nil), []string{id}, 0)
	require.NoError(t, err)
	parsed := parseChain(t, chain)
	leaf := parsed[0][0]
	inter := x509.NewCertPool()
	for _, cs := range parsed[1 : len(parsed)-1] {
		inter.AddCert(cs[0])
	}
	issuedWith.Store(leaf, inter)
	return leaf
}

// issuedWith maps a leaf of issueLeaf to its intermediates.
var issuedWith sync.Map

func verifies(leaf *x509.Certificate, roots *x509.CertPool) error {
	opts := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if inter, ok := issuedWith.Load(leaf); ok {
		opts.Intermediates = inter.(*x509.CertPool)
	}
	_, err := leaf.Verify(opts)
	return err
}

// A re-key goes through its phases, each persisted and announced: the new
// root joins the bundle while the old one signs; after the propagation
// delay the new one signs and the old one stays trusted; once every leaf
// the old one signed has expired, it leaves. Leaves of either root verify
// with the bundle of every phase they can be alive in.
func TestRekeyPhases(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "ca")
	reg := prometheus.NewRegistry()
	c, err := ca.New(fastRotation(dir, time.Second, 3*time.Second), nil, ca.NewMetrics(reg))
	require.NoError(t, err)
	runCA(t, c)
	r1 := c.SigningCert()
	oldLeaf := issueLeaf(t, c, "spiffe://cluster.local/ns/a/sa/old")

	require.NoError(t, c.Rotate(context.Background(), ca.RotateRekey))
	st := c.Status()
	require.Equal(t, ca.PhasePropagating, st.Rotation.Phase)
	require.Len(t, st.Roots, 2)
	assert.True(t, st.Roots[0].Signing)
	assert.True(t, st.Roots[1].Incoming)
	assert.True(t, r1.Equal(c.SigningCert()), "the old root signs while the new one propagates")
	assert.Equal(t, fingerprintsOf(t, readFile(t, dir, ca.RootCertFile)), rootFingerprints(st.Roots), "root-cert.pem is the bundle")
	assert.FileExists(t, filepath.Join(dir, ca.NextKeyFile))
	assert.NoError(t, verifies(oldLeaf, c.Roots()))
	r2 := st.Roots[1].Fingerprint
	assert.Equal(t, 1.0, metricValue(t, reg, "bootgraph_ca_rotation_phase", map[string]string{"phase": "propagating"}))
	assert.Equal(t, float64(st.Roots[1].NotAfter.Unix()),
		metricValue(t, reg, "bootgraph_ca_root_expiry_timestamp_seconds", map[string]string{"fingerprint": r2, "role": "incoming"}))
	require.Error(t, c.Rotate(context.Background(), ca.RotateRekey), "one rotation at a time")

	st = waitStatus(t, c, "the switch", phaseIs(ca.PhaseRetiring))
	assert.Equal(t, r2, ca.Fingerprint(c.SigningCert()), "the new root signs")
	assert.Equal(t, []string{r2, ca.Fingerprint(r1)}, rootFingerprints(st.Roots), "the new root first, the old one still trusted")
	newLeaf := issueLeaf(t, c, "spiffe://cluster.local/ns/a/sa/new")
	assert.NoError(t, verifies(oldLeaf, c.Roots()), "old leaves keep verifying")
	assert.NoError(t, verifies(newLeaf, c.Roots()))
	assert.NoFileExists(t, filepath.Join(dir, ca.NextKeyFile), "the next key became ca-key.pem")
	assert.False(t, st.Rotation.RetireAt.Before(oldLeaf.NotAfter), "the old root retires after its last leaf expires")

	st = waitStatus(t, c, "the retirement", phaseIs(ca.PhaseIdle))
	assert.Equal(t, []string{r2}, rootFingerprints(st.Roots))
	assert.Equal(t, int64(3), st.Rotation.Generation)
	assert.False(t, time.Now().Before(oldLeaf.NotAfter), "no leaf of the old root is alive when it leaves")
	assertGeneration(t, dir, ca.CACertFile, ca.CAKeyFile, ca.RootCertFile, ca.RotationFile)
	for _, event := range []string{"started", "switched", "retired"} {
		assert.Equal(t, 1.0, metricValue(t, reg, "bootgraph_ca_rotation_events_total", map[string]string{"event": event}), event)
	}

	again, err := ca.New(fastRotation(dir, time.Second, 3*time.Second), nil, nil)
	require.NoError(t, err)
	assert.Equal(t, c.RootPEM(), again.RootPEM(), "a restart keeps the rotated root")
	assert.True(t, c.SigningCert().Equal(again.SigningCert()))
}

// A renewal keeps the key: at once, and every leaf verifies with either
// root.
func TestRenewKeepsKey(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "ca")
	c, err := ca.New(fastRotation(dir, time.Hour, time.Hour), nil, nil)
	require.NoError(t, err)
	old := c.SigningCert()
	oldPool := c.Roots()
	oldLeaf := issueLeaf(t, c, "spiffe://cluster.local/ns/a/sa/old")
	changed := c.Changed()

	require.NoError(t, c.Rotate(context.Background(), ca.RotateRenew))
	<-changed
	renewed := c.SigningCert()
	assert.False(t, old.Equal(renewed))
	assert.Equal(t, old.SubjectKeyId, renewed.SubjectKeyId)
	assert.Equal(t, old.PublicKey, renewed.PublicKey)
	assert.Equal(t, ca.PhaseIdle, c.Status().Rotation.Phase)
	assert.Len(t, c.TrustBundle(), 1)
	newLeaf := issueLeaf(t, c, "spiffe://cluster.local/ns/a/sa/new")
	assert.NoError(t, verifies(oldLeaf, c.Roots()), "an old leaf verifies with the renewed root")
	assert.NoError(t, verifies(newLeaf, oldPool), "a new leaf verifies with the old root")
	assert.Equal(t, c.RootPEM(), readFile(t, dir, ca.RootCertFile))
}

// A rotation written into the store by another process (`bootgraph ca
// rotate`) is adopted by the running CA through its watch.
func TestRotateStoredIsAdopted(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "ca")
	opts := fastRotation(dir, time.Hour, time.Hour)
	opts.ReloadInterval = dur(time.Hour) // the watch, not the periodic check
	c, err := ca.New(opts, nil, nil)
	require.NoError(t, err)
	runCA(t, c)

	st, err := ca.RotateStored(context.Background(), opts, ca.FileStore{Dir: dir}, ca.RotateRekey)
	require.NoError(t, err)
	require.Equal(t, ca.PhasePropagating, st.Rotation.Phase)
	got := waitStatus(t, c, "the stored rotation", phaseIs(ca.PhasePropagating))
	assert.Equal(t, rootFingerprints(st.Roots), rootFingerprints(got.Roots))

	_, err = ca.RotateStored(context.Background(), opts, ca.FileStore{Dir: dir}, ca.RotateRekey)
	require.ErrorContains(t, err, "a rotation is in progress")
	status, err := ca.StoredStatus(context.Background(), opts, ca.FileStore{Dir: dir})
	require.NoError(t, err)
	assert.Contains(t, status.NextStep, "signing switches to")
}

// Automatic rotation: a root in the last Threshold of its life is renewed
// after a random wait up to Jitter, and the event is counted.
func TestAutoRotation(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "ca")
	reg := prometheus.NewRegistry()
	on := true
	opts := ca.Options{DataDir: dir, RootTTL: dur(time.Hour), ReloadInterval: dur(time.Hour),
		Rotation: ca.RotationOptions{Auto: &on, Threshold: 0.999, CheckInterval: dur(time.Hour), Jitter: dur(300 * time.Millisecond)}}
	c, err := ca.New(opts, nil, ca.NewMetrics(reg))
	require.NoError(t, err)
	first := c.SigningCert()
	runCA(t, c)
	waitStatus(t, c, "the automatic renewal", func(st ca.Status) bool { return st.Rotation.Generation >= 1 })
	assert.False(t, first.Equal(c.SigningCert()))
	assert.Equal(t, first.PublicKey, c.SigningCert().PublicKey, "renew is the default kind")
	assert.Equal(t, "automatic", c.Status().Rotation.Reason)
	assert.GreaterOrEqual(t, metricValue(t, reg, "bootgraph_ca_rotation_events_total", map[string]string{"event": "renewed"}), 1.0)
}

// Options of rotation are validated, with paths relative to the part.
func TestRotationOptionsValidate(t *testing.T) {
	t.Parallel()
	o := ca.Options{TrustedNodeAccounts: []string{"istio-system/ztunnel", "nope", "Bad/x"},
		Rotation: ca.RotationOptions{Kind: "sideways", Threshold: 1.5, PropagationDelay: -1}}
	o.SetDefaults()
	err := o.Validate()
	require.Error(t, err)
	for _, want := range []string{
		`rotation.kind: "sideways" is not renew or rekey`, "rotation.threshold: 1.5 must be between 0 and 1",
		"rotation.propagationDelay", `trustedNodeAccounts[1]: "nope" is not namespace/serviceaccount`, "trustedNodeAccounts[2]",
	} {
		assert.Contains(t, err.Error(), want)
	}
	assert.NotContains(t, err.Error(), "trustedNodeAccounts[0]")
}

// A root-cert.pem whose extra roots the rotation state accounts for is a
// bundle; one that it does not is refused, naming the files.
func TestStoredBundleMustBeAccountedFor(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "ca")
	c, err := ca.New(fastRotation(dir, time.Hour, time.Hour), nil, nil)
	require.NoError(t, err)
	require.NoError(t, c.Rotate(context.Background(), ca.RotateRekey))
	_, err = ca.New(fastRotation(dir, time.Hour, time.Hour), nil, nil)
	require.NoError(t, err, "a propagating bundle loads")

	// Lose rotation.json: the extra root is unexplained.
	data, err := pemutil.ReadGeneration(dir, pemutil.Spec{Name: ca.CACertFile}, pemutil.Spec{Name: ca.CAKeyFile, Private: true}, pemutil.Spec{Name: ca.RootCertFile})
	require.NoError(t, err)
	require.NoError(t, pemutil.WriteGeneration(dir, []pemutil.File{
		{Name: ca.CACertFile, Data: data[ca.CACertFile]}, {Name: ca.CAKeyFile, Data: data[ca.CAKeyFile]}, {Name: ca.RootCertFile, Data: data[ca.RootCertFile]},
	}))
	_, err = ca.New(fastRotation(dir, time.Hour, time.Hour), nil, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "root-cert.pem differs from ca-cert.pem")
	assert.Contains(t, err.Error(), "rotation.json does not account for")
	_, statErr := os.Stat(filepath.Join(dir, ca.RotationFile))
	assert.True(t, os.IsNotExist(statErr), "the link of a file the generation no longer has is removed")
}

// awayStore is a FileStore whose Load fails as an API server away does.
type awayStore struct {
	ca.FileStore
	away atomic.Bool
}

func (s *awayStore) Load(ctx context.Context) (*ca.Stored, error) {
	if s.away.Load() {
		return nil, fmt.Errorf("kube: get Secret ns/istio-ca-secret: connection refused (%w)", ca.ErrStoreUnavailable)
	}
	return s.FileStore.Load(ctx)
}

// A store that cannot be read (the API server away) is not a bad set: the
// CA keeps its signer and roots, logs it once, and stays ready.
func TestStoreAwayKeepsReadiness(t *testing.T) {
	t.Parallel()
	store := &awayStore{FileStore: ca.FileStore{Dir: filepath.Join(t.TempDir(), "ca")}}
	warned := make(chan struct{})
	var once sync.Once
	discard := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.DebugLevel)
	log := zap.New(discard, zap.Hooks(func(e zapcore.Entry) error {
		if strings.Contains(e.Message, "cannot read the CA's store") {
			once.Do(func() { close(warned) })
		}
		return nil
	}))
	c, err := ca.NewFromStore(fastRotation("", time.Hour, time.Hour), store, log, nil)
	require.NoError(t, err)
	store.away.Store(true)
	runCA(t, c)
	select {
	case <-warned:
	case <-time.After(eventBound):
		t.Fatal("the CA never looked at its store")
	}
	require.NoError(t, c.ReloadReady(t.Context()))
	require.NoError(t, c.Ready(t.Context()))
	assert.Empty(t, c.Status().ReloadError)
}
