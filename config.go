package bootgraph

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/dns"
	"github.com/bootgraph/bootgraph/modules/dnscert"
	"github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/kube"
	"github.com/bootgraph/bootgraph/modules/monitoring"
	"github.com/bootgraph/bootgraph/modules/plane"
	"github.com/bootgraph/bootgraph/modules/webhook"
)

// Defaults of the top-level settings.
const (
	DefaultDataDir      = ".bootgraph"
	DefaultStartTimeout = 15 * time.Second
	DefaultStopTimeout  = 15 * time.Second
)

// Config selects the plane's modules and their options. The zero Config is
// the embedded default: a self-signed CA in DataDir, the istiod serving-cert
// provider, and every listener on loopback. Each field maps onto the YAML
// file; see the README's config reference.
type Config struct {
	// Namespace of the control plane: its serving cert names
	// istiod.<namespace>.svc. Default "istio-system".
	Namespace string `json:"namespace,omitempty"`

	// DataDir holds local state: the self-signed CA (DataDir/ca) and the
	// local token file (DataDir/tokens.csv). Default ".bootgraph".
	DataDir string `json:"dataDir,omitempty"`

	CA          CAConfig         `json:"ca,omitempty"`
	ServingCert dnscert.Options  `json:"servingCert,omitempty"`
	GRPC        GRPCConfig       `json:"grpc,omitempty"`
	Webhook     WebhookConfig    `json:"webhook,omitempty"`
	DNS         DNSConfig        `json:"dns,omitempty"`
	Monitoring  MonitoringConfig `json:"monitoring,omitempty"`
	Kube        KubeConfig       `json:"kube,omitempty"`
	Log         LogConfig        `json:"log,omitempty"`

	// StartTimeout bounds the start of every listener and hook. Default 15s.
	StartTimeout plane.Duration `json:"startTimeout,omitempty"`
	// StopTimeout bounds a graceful stop, draining included. Default 15s.
	StopTimeout plane.Duration `json:"stopTimeout,omitempty"`

	// Logger, when set, is used instead of one built from Log. Go only.
	Logger *zap.Logger `json:"-"`

	inCluster bool // $KUBERNETES_SERVICE_HOST was set
}

// CAConfig is the "ca" section: the CA module's options and whether it is
// part of the plane.
type CAConfig struct {
	// Enabled includes the CA module. Default true.
	Enabled *bool `json:"enabled,omitempty"`
	ca.Options
}

// GRPCConfig is the "grpc" section: the secure gRPC listener.
type GRPCConfig struct {
	// Enabled includes the secure gRPC listener. Default true.
	Enabled *bool `json:"enabled,omitempty"`
	grpc.Options
}

// WebhookConfig is the "webhook" section: the HTTPS admission-webhook
// listener.
type WebhookConfig struct {
	// Enabled includes the webhook listener. Default true.
	Enabled *bool `json:"enabled,omitempty"`
	webhook.Options
}

// DNSConfig is the "dns" section: the DNS-over-TLS listener.
type DNSConfig struct {
	// Enabled includes the DNS-over-TLS listener. Default true.
	Enabled *bool `json:"enabled,omitempty"`
	dns.Options
}

// MonitoringConfig is the "monitoring" section: /metrics, /ready, /healthz.
type MonitoringConfig struct {
	// Enabled includes the monitoring listener. Default true.
	Enabled *bool `json:"enabled,omitempty"`
	monitoring.Options
}

// KubeConfig is the "kube" section: Kubernetes mode.
type KubeConfig struct {
	// Enabled turns Kubernetes mode on or off. Default: on when a kubeconfig
	// is given (kube.kubeconfig, --kubeconfig, $KUBECONFIG) or the process
	// runs in a pod ($KUBERNETES_SERVICE_HOST); else local mode.
	Enabled *bool `json:"enabled,omitempty"`
	kube.Options
}

// KubeMode reports whether the plane runs against a Kubernetes API server.
func (c *Config) KubeMode() bool {
	if c.Kube.Enabled != nil {
		return *c.Kube.Enabled
	}
	return c.Kube.Kubeconfig != "" || c.inCluster
}

// LogConfig is the "log" section.
type LogConfig struct {
	// Level is debug, info (default), warn or error.
	Level string `json:"level,omitempty"`
	// Format is console (default) or json.
	Format string `json:"format,omitempty"`
}

func enabled(b *bool) bool { return b == nil || *b }

// LoadConfig reads a YAML (or JSON) config file strictly: an unknown or
// misspelt field is an error naming it and the file. It does not apply
// defaults; New does.
func LoadConfig(path string) (Config, error) {
	var cfg Config
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	doc, err := yaml.YAMLToJSON(data)
	if err != nil {
		return cfg, fmt.Errorf("config file %s: %w", path, err)
	}
	var tree any
	if err := json.Unmarshal(doc, &tree); err != nil {
		return cfg, fmt.Errorf("config file %s: %w", path, err)
	}
	if err := checkFields(tree, reflect.TypeFor[Config](), ""); err != nil {
		return cfg, fmt.Errorf("config file %s: %w", path, err)
	}
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return cfg, fmt.Errorf("config file %s: %w", path, err)
	}
	return cfg, nil
}

// Environment variables that override the config file, as istiod's.
const (
	EnvCertProvider = "PILOT_CERT_PROVIDER"
	EnvKubeconfig   = "KUBECONFIG"
	EnvInCluster    = "KUBERNETES_SERVICE_HOST"
	EnvNamespace    = "POD_NAMESPACE"
)

// ApplyEnv applies environment overrides read through lookup (os.LookupEnv
// in production): PILOT_CERT_PROVIDER sets servingCert.provider, KUBECONFIG
// sets kube.kubeconfig, KUBERNETES_SERVICE_HOST (set in every pod) turns
// Kubernetes mode on with the in-cluster config, and POD_NAMESPACE sets the
// namespace.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) {
	if v, ok := lookup(EnvNamespace); ok && v != "" {
		c.Namespace = v
	}
	if v, ok := lookup(EnvCertProvider); ok && v != "" {
		c.ServingCert.Provider = v
	}
	if v, ok := lookup(EnvKubeconfig); ok && v != "" && c.Kube.Kubeconfig == "" {
		c.Kube.Kubeconfig = v
	}
	if v, ok := lookup(EnvInCluster); ok && v != "" {
		c.inCluster = true
	}
}

// SetDefaults fills every empty field with its default, the modules' own
// included, and derives the local paths from DataDir.
func (c *Config) SetDefaults() {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Namespace == "" {
		c.Namespace = dnscert.DefaultNamespace
	}
	if c.CA.DataDir == "" {
		c.CA.DataDir = filepath.Join(c.DataDir, "ca")
	}
	if c.CA.TokenFile == "" && c.CA.PluggedCertsDir == "" && !c.KubeMode() {
		// Local use: a token file that `bootgraph cert` can use out of the box.
		c.CA.TokenFile = filepath.Join(c.DataDir, "tokens.csv")
		c.CA.CreateTokenFile = true
	}
	c.CA.SetDefaults()
	if c.ServingCert.Namespace == "" {
		c.ServingCert.Namespace = c.Namespace
	}
	c.GRPC.SetDefaults()
	c.Webhook.SetDefaults()
	// The serving certificate names the loopback addresses in local mode,
	// and in Kubernetes mode when a listener binds loopback (tests, sidecars).
	c.ServingCert.LoopbackNames = !c.KubeMode() || isLoopback(c.GRPC.Addr) || isLoopback(c.Webhook.Addr)
	c.ServingCert.SetDefaults()
	// The DNS listener answers for the plane's own names, those of its
	// serving certificate.
	c.DNS.Namespace = c.Namespace
	c.DNS.SelfNames = c.ServingCert.Names()
	c.DNS.SetDefaults()
	c.Monitoring.SetDefaults()
	c.Kube.Namespace = c.Namespace
	if c.Kube.DistributeRoot == nil && !enabled(c.CA.Enabled) {
		off := false
		c.Kube.DistributeRoot = &off // no CA, no root to distribute
	}
	c.Kube.SetDefaults()
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "console"
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = plane.Duration(DefaultStartTimeout)
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = plane.Duration(DefaultStopTimeout)
	}
}

// Validate reports every invalid field. Call it after SetDefaults.
func (c *Config) Validate() error {
	var errs []error
	if msgs := validation.IsDNS1123Label(c.Namespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("namespace: %q is not a Kubernetes namespace name: %s", c.Namespace, strings.Join(msgs, "; ")))
	}
	if enabled(c.CA.Enabled) {
		errs = append(errs, c.CA.Validate())
	}
	errs = append(errs, c.ServingCert.Validate())
	if enabled(c.GRPC.Enabled) {
		errs = append(errs, c.GRPC.Validate())
	}
	if enabled(c.Webhook.Enabled) {
		errs = append(errs, c.Webhook.Validate())
	}
	if enabled(c.DNS.Enabled) {
		errs = append(errs, c.DNS.Validate())
	}
	if c.KubeMode() {
		errs = append(errs, c.Kube.Validate())
	} else if enabled(c.Webhook.Enabled) && c.Webhook.Patch.Enabled() {
		errs = append(errs, errors.New("webhook.patch: patching webhook configurations needs Kubernetes mode (kube.kubeconfig, --kubeconfig or $KUBECONFIG)"))
	}
	if _, err := zap.ParseAtomicLevel(c.Log.Level); err != nil {
		errs = append(errs, fmt.Errorf("log.level: %q is not one of debug, info, warn, error", c.Log.Level))
	}
	if c.Log.Format != "console" && c.Log.Format != "json" {
		errs = append(errs, fmt.Errorf("log.format: %q is not one of console, json", c.Log.Format))
	}
	if c.StartTimeout <= 0 {
		errs = append(errs, fmt.Errorf("startTimeout: %v must be positive", c.StartTimeout))
	}
	if c.StopTimeout <= 0 {
		errs = append(errs, fmt.Errorf("stopTimeout: %v must be positive", c.StopTimeout))
	}
	return errors.Join(errs...)
}

// isLoopback reports whether addr ("host:port") binds a loopback address.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
