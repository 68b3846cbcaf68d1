package bootgraph_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/modules/ca"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plane.yaml")
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, `
namespace: mesh
dataDir: /var/lib/plane
ca:
  trustDomain: example.org
  keyType: rsa-2048
  maxCertTTL: 48h
servingCert:
  dnsNames: [cp.example.org]
grpc:
  addr: 0.0.0.0:15012
monitoring:
  enabled: false
startTimeout: 30s
`)
	cfg, err := bootgraph.LoadConfig(path)
	require.NoError(t, err)
	cfg.SetDefaults()
	require.NoError(t, cfg.Validate())

	assert.Equal(t, "example.org", cfg.CA.TrustDomain)
	assert.Equal(t, ca.KeyRSA2048, cfg.CA.KeyType)
	assert.Equal(t, 48*time.Hour, time.Duration(cfg.CA.MaxCertTTL))
	assert.Equal(t, 24*time.Hour, time.Duration(cfg.CA.DefaultCertTTL), "default kept")
	assert.Equal(t, "/var/lib/plane/ca", cfg.CA.DataDir, "derived from dataDir")
	assert.Equal(t, "mesh", cfg.ServingCert.Namespace, "namespace flows into servingCert")
	assert.Equal(t, []string{"cp.example.org"}, cfg.ServingCert.DNSNames)
	assert.Equal(t, "0.0.0.0:15012", cfg.GRPC.Addr)
	assert.False(t, *cfg.Monitoring.Enabled)
	assert.Equal(t, 30*time.Second, time.Duration(cfg.StartTimeout))
}

func TestLoadConfigErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		body string
		want []string
	}{
		"misspelt field":       {"grcp:\n  addr: x\n", []string{`unknown field "grcp"`}},
		"misspelt nested":      {"ca:\n  trustDomian: x\n", []string{`unknown field "ca.trustDomian"`}},
		"duration not string":  {"startTimeout: 10\n", []string{"startTimeout", `"24h"`}},
		"duration bad":         {"ca:\n  maxCertTTL: 90d\n", []string{"90d"}},
		"not yaml":             {"ca: [\n", []string{"yaml"}},
		"wrong type for field": {"grpc:\n  enabled: maybe\n", []string{"enabled"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, tt.body)
			_, err := bootgraph.LoadConfig(path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), path, "error names the file")
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}

	_, err := bootgraph.LoadConfig(filepath.Join(t.TempDir(), "absent.yaml"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "absent.yaml")
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		set  func(*bootgraph.Config)
		want string
	}{
		"key type":           {func(c *bootgraph.Config) { c.CA.KeyType = "dsa" }, "ca.keyType"},
		"ttl order":          {func(c *bootgraph.Config) { c.CA.MaxCertTTL = 1 }, "ca.maxCertTTL"},
		"provider":           {func(c *bootgraph.Config) { c.ServingCert.Provider = "custom" }, "PILOT_CERT_PROVIDER"},
		"files no cert":      {func(c *bootgraph.Config) { c.ServingCert.Provider = "files" }, "--tlsCertFile"},
		"istiod + files":     {func(c *bootgraph.Config) { c.ServingCert.Provider = "istiod"; c.ServingCert.CertFile = "x" }, "conflicts"},
		"log level":          {func(c *bootgraph.Config) { c.Log.Level = "loud" }, "log.level"},
		"log format":         {func(c *bootgraph.Config) { c.Log.Format = "xml" }, "log.format"},
		"namespace":          {func(c *bootgraph.Config) { c.Namespace = "Bad_NS" }, `namespace: "Bad_NS" is not a Kubernetes namespace name`},
		"trust domain":       {func(c *bootgraph.Config) { c.CA.TrustDomain = "Not A/Domain" }, `ca.trustDomain: "Not A/Domain" is not a SPIFFE trust domain`},
		"patch without kube": {func(c *bootgraph.Config) { c.Webhook.Patch.ValidatingWebhooks = []string{"x"} }, "webhook.patch: patching webhook configurations needs Kubernetes mode"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var cfg bootgraph.Config
			tt.set(&cfg)
			cfg.SetDefaults()
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// Precedence in the engine: env > file > defaults (flags, above env, are
// the CLI's and tested there).
func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "servingCert:\n  provider: istiod\n")
	cfg, err := bootgraph.LoadConfig(path)
	require.NoError(t, err)
	cfg.ApplyEnv(func(k string) (string, bool) {
		if k == bootgraph.EnvCertProvider {
			return "files", true
		}
		return "", false
	})
	assert.Equal(t, "files", cfg.ServingCert.Provider, "env overrides file")

	var defaults bootgraph.Config
	defaults.ApplyEnv(func(string) (string, bool) { return "", false })
	defaults.SetDefaults()
	assert.Equal(t, "istiod", defaults.ServingCert.Provider, "default provider")
	assert.Equal(t, "127.0.0.1:15012", defaults.GRPC.Addr)
	assert.Equal(t, "127.0.0.1:15014", defaults.Monitoring.Addr)
	assert.Equal(t, filepath.Join(".bootgraph", "tokens.csv"), defaults.CA.TokenFile)
}
