package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/config"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/kube"
	"github.com/bootgraph/bootgraph/modules/monitoring"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plane.yaml")
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

func noEnv(string) (string, bool) { return "", false }

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoad(t *testing.T) {
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
	cfg, err := config.Load(path)
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())

	c := config.Options[ca.Options](cfg, "ca")
	assert.Equal(t, "example.org", c.TrustDomain)
	assert.Equal(t, ca.KeyRSA2048, c.KeyType)
	assert.Equal(t, 48*time.Hour, time.Duration(c.MaxCertTTL))
	assert.Zero(t, c.DefaultCertTTL, "defaults are the part's, set when it is built")
	assert.Equal(t, []string{"cp.example.org"}, config.Options[servingcert.Options](cfg, "servingCert").DNSNames)
	assert.Equal(t, "0.0.0.0:15012", config.Options[grpc.Options](cfg, "grpc").Addr)
	assert.False(t, cfg.Enabled("monitoring"))
	assert.True(t, cfg.Enabled("grpc"))
	assert.Equal(t, "mesh", cfg.Env().Namespace)
	assert.Equal(t, "/var/lib/plane", cfg.Env().DataDir)
	assert.Equal(t, 30*time.Second, time.Duration(cfg.StartTimeout))
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		body string
		want []string
	}{
		"misspelt top-level field": {"grcp:\n  addr: x\n", []string{`unknown field "grcp" (valid here: ca, dataDir, dns, graphpage, grpc, kube, log, monitoring, namespace, servingCert, startTimeout, stopTimeout, webhook, xds)`}},
		"misspelt part field":      {"ca:\n  trustDomian: x\n", []string{`unknown field "ca.trustDomian" (valid here: createTokenFile, dataDir, defaultCertTTL, enabled, keyType,`}},
		"misspelt nested field":    {"servingCert:\n  kubernetes:\n    signer: x\n", []string{`unknown field "servingCert.kubernetes.signer" (valid here: approve, signerName, timeout)`}},
		"misspelt log field":       {"log:\n  lvl: debug\n", []string{`unknown field "log.lvl" (valid here: format, level)`}},
		"duration not string":      {"startTimeout: 10\n", []string{"startTimeout", `"24h"`}},
		"duration bad":             {"ca:\n  maxCertTTL: 90d\n", []string{"ca.maxCertTTL", "90d"}},
		"not yaml":                 {"ca: [\n", []string{"yaml"}},
		"wrong type for enabled":   {"grpc:\n  enabled: maybe\n", []string{`grpc.enabled: want true or false, got "maybe"`}},
		"wrong type for a field":   {"webhook:\n  maxRequestBytes: lots\n", []string{`webhook.maxRequestBytes: want a whole number that fits int64, got "lots"`}},
		"section not a mapping":    {"dns: on\n", []string{"dns: want a mapping of the dns part's options"}},
		"not a mapping":            {"- a\n- b\n", []string{"want a mapping of fields"}},
		"several at once":          {"grcp: 1\nca:\n  keyTipe: x\n", []string{`"grcp"`, `"ca.keyTipe"`}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, tt.body)
			_, err := config.Load(path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), path, "error names the file")
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}

	_, err := config.Load(filepath.Join(t.TempDir(), "absent.yaml"))
	require.ErrorContains(t, err, "absent.yaml")

	dir := t.TempDir()
	_, err = config.Load(dir)
	require.ErrorContains(t, err, "is not a regular file", "a directory")

	fifo := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	_, err = config.Load(fifo) // would block forever if opened
	require.ErrorContains(t, err, "is not a regular file")
}

// An empty file is the embedded default.
func TestLoadEmpty(t *testing.T) {
	cfg, err := config.Load(writeConfig(t, ""))
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	assert.True(t, cfg.Enabled("ca"))
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		set  func(*config.Config)
		want string
	}{
		"key type":  {func(c *config.Config) { config.Options[ca.Options](c, "ca").KeyType = "dsa" }, `ca.keyType: "dsa" is not one of`},
		"ttl order": {func(c *config.Config) { config.Options[ca.Options](c, "ca").MaxCertTTL = 1 }, "ca.maxCertTTL: 1ns is shorter than defaultCertTTL"},
		"provider":  {func(c *config.Config) { config.Options[servingcert.Options](c, "servingCert").Provider = "custom" }, `servingCert.provider ($PILOT_CERT_PROVIDER): "custom" is not one of`},
		"files":     {func(c *config.Config) { config.Options[servingcert.Options](c, "servingCert").Provider = "files" }, "servingCert.certFile (--tlsCertFile): required by the files provider"},
		"conflict": {func(c *config.Config) {
			s := config.Options[servingcert.Options](c, "servingCert")
			s.Provider, s.CertFile = "istiod", "x"
		}, "conflicts with certFile/keyFile"},
		"addr":       {func(c *config.Config) { config.Options[grpc.Options](c, "grpc").Addr = "15012" }, `grpc.addr (--grpc-addr): "15012" is not host:port`},
		"log level":  {func(c *config.Config) { c.Log.Level = "loud" }, `log.level: "loud" is not one of debug, info, warn, error`},
		"log format": {func(c *config.Config) { c.Log.Format = "xml" }, "log.format"},
		"namespace":  {func(c *config.Config) { c.Namespace = "Bad_NS" }, `namespace: "Bad_NS" is not a Kubernetes namespace name`},
		"trust domain": {func(c *config.Config) { config.Options[ca.Options](c, "ca").TrustDomain = "Not A/Domain" },
			`ca.trustDomain: "Not A/Domain" is not a SPIFFE trust domain`},
		"timeout": {func(c *config.Config) { c.StopTimeout = -1 }, "stopTimeout: -1ns must be positive"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := config.New()
			tt.set(cfg)
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}

	// A part that is off is not validated.
	cfg := config.New()
	config.Options[ca.Options](cfg, "ca").KeyType = "dsa"
	require.NoError(t, cfg.SetEnabled("ca", false))
	require.NoError(t, cfg.Validate())
}

// Precedence: flags > env > file > defaults.
func TestPrecedence(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "namespace: from-file\nservingCert:\n  provider: istiod\nkube:\n  kubeconfig: /from/file\n")

	cfg, err := config.Load(path)
	require.NoError(t, err)
	require.NoError(t, cfg.ApplyEnv(env("PILOT_CERT_PROVIDER", "files", "POD_NAMESPACE", "from-env", "KUBECONFIG", "/from/env")))
	assert.Equal(t, "files", config.Options[servingcert.Options](cfg, "servingCert").Provider, "env overrides file")
	assert.Equal(t, "from-env", cfg.Namespace)
	assert.Equal(t, "/from/file", config.Options[kube.Options](cfg, "kube").Kubeconfig, "$KUBECONFIG is only a fallback")

	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	flags := config.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{"--config", path, "--namespace", "from-flag", "--grpc-addr", "127.0.0.1:1",
		"--tlsCertFile", "c.pem", "--tlsKeyFile", "k.pem", "--disable", "dns,webhook", "--enable", "kube"}))
	cfg, err = flags.Load(env("POD_NAMESPACE", "from-env", "PILOT_CERT_PROVIDER", "istiod"))
	require.NoError(t, err)
	assert.Equal(t, "from-flag", cfg.Namespace, "flag overrides env")
	assert.Equal(t, "127.0.0.1:1", config.Options[grpc.Options](cfg, "grpc").Addr)
	sc := config.Options[servingcert.Options](cfg, "servingCert")
	assert.Equal(t, "files", sc.Provider, "--tlsCertFile selects the files provider over the environment (istiod's rule)")
	assert.Equal(t, "c.pem", sc.CertFile)
	assert.False(t, cfg.Enabled("dns"))
	assert.False(t, cfg.Enabled("webhook"))
	assert.True(t, cfg.Enabled("kube"))

	var defaults = config.New()
	require.NoError(t, defaults.ApplyEnv(noEnv))
	assert.Equal(t, "istio-system", defaults.Env().Namespace)
	assert.Equal(t, ".bootgraph", defaults.Env().DataDir)
	assert.False(t, defaults.Enabled("kube"), "local mode by default")
}

func TestFlagErrors(t *testing.T) {
	t.Parallel()
	for args, want := range map[string]string{
		"--enable nope":           `--enable: unknown part "nope", want one of ca, servingCert, grpc`,
		"--monitoring-addr x:y:z": "monitoring.addr (--monitoring-addr)",
	} {
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		flags := config.RegisterFlags(fs)
		require.NoError(t, fs.Parse(strings.Fields(args)))
		cfg, err := flags.Load(noEnv)
		if err == nil {
			err = cfg.Validate()
		}
		require.Error(t, err, args)
		assert.Contains(t, err.Error(), want, args)
	}
	// A flag's usage says what it sets and its default.
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	config.RegisterFlags(fs)
	assert.Equal(t, "monitoring listen address (config monitoring.addr; default 127.0.0.1:15014)", fs.Lookup("monitoring-addr").Usage)
}

// The kube part is on when a kubeconfig is given or in a pod.
func TestKubeDefaultOn(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		env  func(string) (string, bool)
		want bool
	}{
		"nothing":    {noEnv, false},
		"KUBECONFIG": {env("KUBECONFIG", "/k"), true},
		"in a pod":   {env("KUBERNETES_SERVICE_HOST", "10.0.0.1"), true},
	} {
		cfg := config.New()
		require.NoError(t, cfg.ApplyEnv(tt.env))
		assert.Equal(t, tt.want, cfg.Enabled("kube"), name)
	}
	cfg := config.New()
	require.NoError(t, cfg.ApplyEnv(env("KUBERNETES_SERVICE_HOST", "10.0.0.1")))
	require.NoError(t, cfg.SetEnabled("kube", false))
	assert.False(t, cfg.Enabled("kube"), "--disable kube forces local mode")
}

// The reference is a valid config file: every default, decoded back.
func TestReferenceIsAValidConfig(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	require.NoError(t, config.WriteReference(&b))
	cfg := config.New()
	require.NoError(t, cfg.Decode([]byte(b.String())), b.String())
	require.NoError(t, cfg.Validate())
	assert.Equal(t, monitoring.DefaultAddr, config.Options[monitoring.Options](cfg, "monitoring").Addr)
	for _, p := range config.Builtin() {
		assert.Contains(t, b.String(), "\n"+p.Name()+":\n", "section of %s", p.Name())
	}
}

// The README's config reference is the generated one, so it cannot drift.
func TestREADMEHasTheReference(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, config.WriteReference(&b))
	assert.True(t, strings.Contains(string(readme), "```yaml\n"+b.String()+"```"),
		"README's config reference is stale: regenerate it with `go run ./cmd/bootgraph modules --format yaml`")
}
