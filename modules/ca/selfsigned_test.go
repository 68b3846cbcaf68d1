package ca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/pemutil"
	"github.com/bootgraph/bootgraph/modules/ca"
)

func TestNewSelfSigned(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		opts        ca.Options
		trustDomain string
		ttl         time.Duration
		checkKey    func(t *testing.T, pub any)
	}{
		{
			name:        "defaults",
			trustDomain: "cluster.local",
			ttl:         10 * 365 * 24 * time.Hour,
			checkKey: func(t *testing.T, pub any) {
				k, ok := pub.(*ecdsa.PublicKey)
				require.Truef(t, ok, "root key is %T, want ECDSA", pub)
				assert.Equal(t, elliptic.P256(), k.Curve)
			},
		},
		{
			name:        "rsa-2048",
			opts:        ca.Options{KeyType: ca.KeyRSA2048},
			trustDomain: "cluster.local",
			ttl:         10 * 365 * 24 * time.Hour,
			checkKey: func(t *testing.T, pub any) {
				k, ok := pub.(*rsa.PublicKey)
				require.Truef(t, ok, "root key is %T, want RSA", pub)
				assert.Equal(t, 2048, k.N.BitLen())
			},
		},
		{
			name:        "trust domain and root TTL",
			opts:        ca.Options{TrustDomain: "example.org", RootTTL: dur(time.Hour)},
			trustDomain: "example.org",
			ttl:         time.Hour,
			checkKey: func(t *testing.T, pub any) {
				_, ok := pub.(*ecdsa.PublicKey)
				assert.Truef(t, ok, "root key is %T, want ECDSA", pub)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "nested", "ca")
			opts := tt.opts
			opts.DataDir = dir
			start := time.Now()
			c, err := ca.New(opts, nil, nil)
			require.NoError(t, err)

			root := c.SigningCert()
			tt.checkKey(t, root.PublicKey)
			assert.Equal(t, []string{tt.trustDomain}, root.Subject.Organization)
			assert.Equal(t, tt.trustDomain, c.TrustDomain())
			assert.True(t, root.IsCA, "root must be a CA")
			assert.True(t, root.BasicConstraintsValid)
			assert.NotZero(t, root.KeyUsage&x509.KeyUsageCertSign, "root must have keyCertSign")
			require.NoError(t, root.CheckSignatureFrom(root), "root must be self-signed")
			requireAbout(t, start.Add(tt.ttl), root.NotAfter, time.Minute, "root NotAfter")
			requireAbout(t, start.Add(-2*time.Minute), root.NotBefore, time.Minute, "root NotBefore")

			// The root is the whole bundle and verifies itself.
			roots, err := pemutil.ParseCerts(c.RootPEM())
			require.NoError(t, err)
			require.Len(t, roots, 1)
			assert.True(t, roots[0].Equal(root))
			_, err = root.Verify(x509.VerifyOptions{Roots: c.Roots()})
			require.NoError(t, err)

			// Files and permissions: one generation, swapped in whole.
			assertGeneration(t, dir, ca.CACertFile, ca.CAKeyFile, ca.RootCertFile)
			assert.Equal(t, c.RootPEM(), readFile(t, dir, ca.CACertFile))
			assert.Equal(t, c.RootPEM(), readFile(t, dir, ca.RootCertFile))
			key, err := pemutil.ParseKey(readFile(t, dir, ca.CAKeyFile))
			require.NoError(t, err)
			assert.True(t, pemutil.KeyMatches(key, root.PublicKey), "ca-key.pem must be the root's key")
		})
	}
}

func TestNewSelfSignedReusesRoot(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "ca")
	first, err := ca.New(ca.Options{DataDir: dir}, nil, nil)
	require.NoError(t, err)
	keyBefore := readFile(t, dir, ca.CAKeyFile)

	// The second start reuses the root even when asked for another key type:
	// the root on disk wins over options that only matter at generation.
	second, err := ca.New(ca.Options{DataDir: dir, KeyType: ca.KeyRSA2048}, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, first.RootPEM(), second.RootPEM(), "the root must be reused, byte for byte")
	assert.True(t, first.SigningCert().Equal(second.SigningCert()))
	assert.Equal(t, keyBefore, readFile(t, dir, ca.CAKeyFile), "the key must not be rewritten")

	// A certificate from the second instance verifies against the first's roots.
	chain, err := second.Sign(csrPEM(t, ecKey(t), nil), []string{ca.SpiffeID("cluster.local", "ns1", "sa1")}, 0)
	require.NoError(t, err)
	verifyLeaf(t, chain, first.Roots(), x509.ExtKeyUsageClientAuth)
}

func TestNewSelfSignedBrokenDataDir(t *testing.T) {
	t.Parallel()
	src := filepath.Join(t.TempDir(), "src")
	_, err := ca.New(ca.Options{DataDir: src}, nil, nil)
	require.NoError(t, err)
	other := filepath.Join(t.TempDir(), "other")
	_, err = ca.New(ca.Options{DataDir: other}, nil, nil)
	require.NoError(t, err)

	certPEM, keyPEM := readFile(t, src, ca.CACertFile), readFile(t, src, ca.CAKeyFile)
	junkDER := func(typ string) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: []byte("definitely not DER")})
	}
	tests := []struct {
		name    string
		files   map[string][]byte
		mkdir   string // a directory to create in place of a file
		wantErr []string
	}{
		{
			name:    "only ca-cert.pem",
			files:   map[string][]byte{ca.CACertFile: certPEM, ca.RootCertFile: certPEM},
			wantErr: []string{"incomplete", "ca-key.pem is missing but ca-cert.pem exists"},
		},
		{
			name:    "only ca-key.pem",
			files:   map[string][]byte{ca.CAKeyFile: keyPEM},
			wantErr: []string{"incomplete", "ca-cert.pem is missing but ca-key.pem exists"},
		},
		{
			name:    "key is not PEM",
			files:   map[string][]byte{ca.CACertFile: certPEM, ca.CAKeyFile: []byte("garbage\n")},
			wantErr: []string{"ca-key.pem: no PEM private key block"},
		},
		{
			name:    "key block is not DER",
			files:   map[string][]byte{ca.CACertFile: certPEM, ca.CAKeyFile: junkDER("PRIVATE KEY")},
			wantErr: []string{"ca-key.pem: parse PRIVATE KEY"},
		},
		{
			name:    "key is truncated",
			files:   map[string][]byte{ca.CACertFile: certPEM, ca.CAKeyFile: keyPEM[:len(keyPEM)/2]},
			wantErr: []string{"ca-key.pem:"},
		},
		{
			name:    "cert is not PEM",
			files:   map[string][]byte{ca.CACertFile: []byte("garbage\n"), ca.CAKeyFile: keyPEM},
			wantErr: []string{"ca-cert.pem: no PEM CERTIFICATE block"},
		},
		{
			name:    "cert block is not DER",
			files:   map[string][]byte{ca.CACertFile: junkDER("CERTIFICATE"), ca.CAKeyFile: keyPEM},
			wantErr: []string{"ca-cert.pem: parse certificate 1"},
		},
		{
			name:    "key of another root",
			files:   map[string][]byte{ca.CACertFile: certPEM, ca.CAKeyFile: readFile(t, other, ca.CAKeyFile)},
			wantErr: []string{"private key does not match the signing certificate"},
		},
		{
			name:    "cert path is a directory",
			files:   map[string][]byte{ca.CAKeyFile: keyPEM},
			mkdir:   ca.CACertFile,
			wantErr: []string{"ca: read ", "/" + ca.CACertFile + ": "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, data := range tt.files {
				writeFile(t, dir, name, data)
			}
			if tt.mkdir != "" {
				require.NoError(t, os.Mkdir(filepath.Join(dir, tt.mkdir), 0o700))
			}
			before := snapshot(t, dir)

			_, err := ca.New(ca.Options{DataDir: dir}, nil, nil)
			require.Error(t, err)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
			assert.Contains(t, err.Error(), dir, "the error must name the data directory")
			assert.Equal(t, before, snapshot(t, dir), "a failed start must not touch the data directory")
		})
	}
}

// snapshot maps each regular file in dir to its contents.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := map[string]string{}
	for _, e := range entries {
		if e.IsDir() {
			out[e.Name()] = "<dir>"
			continue
		}
		out[e.Name()] = string(readFile(t, dir, e.Name()))
	}
	return out
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	valid := func(mut func(*ca.Options)) ca.Options {
		var o ca.Options
		o.SetDefaults()
		if mut != nil {
			mut(&o)
		}
		return o
	}
	tests := []struct {
		name    string
		opts    ca.Options
		wantErr []string // empty: valid
	}{
		{name: "defaults", opts: valid(nil)},
		{name: "ecdsa-p256", opts: valid(func(o *ca.Options) { o.KeyType = ca.KeyECDSAP256 })},
		{name: "rsa-2048", opts: valid(func(o *ca.Options) { o.KeyType = ca.KeyRSA2048 })},
		{name: "rsa-3072", opts: valid(func(o *ca.Options) { o.KeyType = ca.KeyRSA3072 })},
		{name: "rsa-4096", opts: valid(func(o *ca.Options) { o.KeyType = ca.KeyRSA4096 })},
		{name: "max equals default", opts: valid(func(o *ca.Options) { o.MaxCertTTL = o.DefaultCertTTL })},
		{name: "token file created", opts: valid(func(o *ca.Options) { o.TokenFile, o.CreateTokenFile = "t.csv", true })},
		{
			name:    "bad key type",
			opts:    valid(func(o *ca.Options) { o.KeyType = "ed25519" }),
			wantErr: []string{`keyType: "ed25519" is not one of`, ca.KeyECDSAP256, ca.KeyRSA4096},
		},
		{
			name:    "key type is case sensitive",
			opts:    valid(func(o *ca.Options) { o.KeyType = "RSA-2048" }),
			wantErr: []string{`keyType: "RSA-2048"`},
		},
		{
			name:    "max below default",
			opts:    valid(func(o *ca.Options) { o.MaxCertTTL = dur(time.Hour) }),
			wantErr: []string{"maxCertTTL: 1h is shorter than defaultCertTTL 24h"},
		},
		{
			name:    "negative root TTL",
			opts:    valid(func(o *ca.Options) { o.RootTTL = dur(-time.Hour) }),
			wantErr: []string{"rootTTL: -1h must be positive"},
		},
		{
			name:    "negative default cert TTL",
			opts:    valid(func(o *ca.Options) { o.DefaultCertTTL = dur(-time.Hour) }),
			wantErr: []string{"defaultCertTTL: -1h must be positive"},
		},
		{
			name:    "empty trust domain",
			opts:    valid(func(o *ca.Options) { o.TrustDomain = "" }),
			wantErr: []string{`trustDomain: "" is not a SPIFFE trust domain`},
		},
		{
			name:    "createTokenFile without tokenFile",
			opts:    valid(func(o *ca.Options) { o.CreateTokenFile = true }),
			wantErr: []string{"createTokenFile: needs tokenFile"},
		},
		{
			name: "every error at once",
			opts: valid(func(o *ca.Options) {
				o.KeyType, o.RootTTL, o.MaxCertTTL = "dsa", dur(-1), dur(time.Minute)
			}),
			wantErr: []string{"keyType: ", "rootTTL: ", "maxCertTTL: "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.opts.Validate()
			if len(tt.wantErr) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			// Every line is one field's error, relative to the options.
			lines := strings.Split(err.Error(), "\n")
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
			for _, line := range lines {
				assert.False(t, strings.HasPrefix(line, "ca."), "%q is relative to the options", line)
			}
			var fe *component.FieldError
			assert.ErrorAs(t, err, &fe, "a field error")
		})
	}
}

func TestOptionsSetDefaults(t *testing.T) {
	t.Parallel()
	var o ca.Options
	o.SetDefaults()
	assert.Equal(t, ca.Options{
		TrustDomain:    ca.DefaultTrustDomain,
		KeyType:        ca.DefaultKeyType,
		RootTTL:        dur(ca.DefaultRootTTL),
		DefaultCertTTL: dur(ca.DefaultCertTTL),
		MaxCertTTL:     dur(ca.DefaultMaxCertTTL),
		ReloadInterval: dur(ca.DefaultReloadInterval),
		Rotation: ca.RotationOptions{
			Kind: ca.RotateRenew, Threshold: 0.2, CheckInterval: dur(time.Hour), Jitter: dur(time.Hour),
			PropagationDelay: dur(24 * time.Hour),
		},
	}, o, "DataDir and TokenFile depend on where the plane runs: the module (or New) sets them")
	assert.Equal(t, "ecdsa-p256", ca.DefaultKeyType)
	assert.Equal(t, 24*time.Hour, ca.DefaultCertTTL)
	assert.Equal(t, 90*24*time.Hour, ca.DefaultMaxCertTTL)
	assert.Equal(t, ".bootgraph/ca", ca.DefaultDataDir)

	set := ca.Options{TrustDomain: "td", KeyType: ca.KeyRSA2048, RootTTL: 1, DefaultCertTTL: 2, MaxCertTTL: 3, DataDir: "d",
		ReloadInterval: 4, Rotation: ca.RotationOptions{Kind: ca.RotateRekey, Threshold: 0.5, CheckInterval: 5, Jitter: 6, PropagationDelay: 7}}
	got := set
	got.SetDefaults()
	assert.Equal(t, set, got, "SetDefaults must keep fields that are set")
}

// New keeps a self-signed root in DefaultDataDir, relative to the working
// directory, when Options.DataDir is empty.
func TestNewDefaultDataDir(t *testing.T) {
	t.Chdir(t.TempDir())
	c, err := ca.New(ca.Options{}, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, ca.DefaultDataDir, c.Options().DataDir)
	again, err := ca.New(ca.Options{}, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, c.RootPEM(), again.RootPEM(), "the root was kept in the default directory")
	assert.FileExists(t, filepath.Join(ca.DefaultDataDir, "root-cert.pem"))
}

func TestNewRejectsInvalidOptions(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "ca")
	_, err := ca.New(ca.Options{DataDir: dir, KeyType: "rsa-1024"}, nil, nil)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), `keyType: "rsa-1024" is not one of`), "error %q is relative to the options", err)
	_, statErr := os.Stat(dir)
	assert.ErrorIs(t, statErr, fs.ErrNotExist, "invalid options must not create the data directory")

	// The module names the Go field, and fails the composition before
	// anything runs.
	err = fx.New(fx.NopLogger, fx.Provide(zap.NewNop), ca.Module(ca.Options{DataDir: dir, KeyType: "rsa-1024"})).Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `ca part: ca.Options.KeyType: "rsa-1024" is not one of`)
	var optsErr *component.OptionsError
	require.ErrorAs(t, err, &optsErr)
	assert.Equal(t, "ca", optsErr.Part)
	_, statErr = os.Stat(dir)
	assert.ErrorIs(t, statErr, fs.ErrNotExist, "invalid options must not create the data directory")
}
