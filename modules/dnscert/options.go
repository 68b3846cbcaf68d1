package dnscert

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bootgraph/bootgraph/modules/plane"
)

// Provider names, as istiod's PILOT_CERT_PROVIDER values.
const (
	ProviderIstiod     = "istiod"
	ProviderFiles      = "files"
	ProviderKubernetes = "kubernetes"
)

// Defaults.
const (
	DefaultNamespace      = "istio-system"
	DefaultTTL            = 30 * 24 * time.Hour
	DefaultReloadInterval = 5 * time.Second
	// DefaultCSRTimeout bounds the wait for a Kubernetes CSR to be signed,
	// as istiod's chiron waits.
	DefaultCSRTimeout = 60 * time.Second
	// minCSRExpiration is the shortest spec.expirationSeconds the
	// CertificateSigningRequest API accepts.
	minCSRExpiration = 10 * time.Minute
	// renewFraction of a certificate's lifetime passes before it is renewed.
	renewFraction = 0.5
	// renewCheckInterval is how often the wall clock is compared with the
	// renewal time; a timer alone would not fire on time after a suspend.
	renewCheckInterval = time.Minute
)

// Options configure the serving bundle; they map onto the "servingCert"
// section of the config file.
type Options struct {
	// Provider is "istiod" (signed by the CA), "kubernetes" (signed through
	// the Kubernetes CSR API; needs the kube module) or "files". Empty selects
	// "files" when CertFile and KeyFile are set, else "istiod" — istiod's
	// rule that custom certificate files win.
	Provider string `json:"provider,omitempty"`

	// Namespace of the control plane; the istiod and kubernetes providers'
	// certificate names istiod.<Namespace>.svc. Default "istio-system".
	Namespace string `json:"namespace,omitempty"`

	// DNSNames are extra names (DNS names or IP addresses) for the istiod
	// and kubernetes providers' certificate, like istiod's ISTIOD_CUSTOM_HOST.
	DNSNames []string `json:"dnsNames,omitempty"`

	// LoopbackNames adds localhost, 127.0.0.1 and ::1 to the istiod
	// provider's certificate. Not a config-file field: bootgraph turns it on
	// in local mode (no Kubernetes).
	LoopbackNames bool `json:"-"`

	// TTL of the istiod and kubernetes providers' certificate, renewed at
	// half of it. Default 720h (30 days); never past the CA's own expiry.
	// The kubernetes provider asks for it as the CSR's expirationSeconds
	// (at least 10m), which a signer may shorten.
	TTL plane.Duration `json:"ttl,omitempty"`

	// CertFile, KeyFile and CACertFile are the files provider's inputs:
	// istiod's --tlsCertFile, --tlsKeyFile and --caCertFile. CACertFile holds
	// the roots trusted for client certificates; the kubernetes provider
	// uses CACertFile too, and trusts no client certificates without it.
	CertFile   string `json:"certFile,omitempty"`
	KeyFile    string `json:"keyFile,omitempty"`
	CACertFile string `json:"caCertFile,omitempty"`

	// ReloadInterval is how often the files provider re-reads its files.
	// Default 5s.
	ReloadInterval plane.Duration `json:"reloadInterval,omitempty"`

	// ExportDir, when set, receives key.pem, cert-chain.pem and
	// root-cert.pem (directory 0700, files 0600), rewritten on every change,
	// for tools that need files.
	ExportDir string `json:"exportDir,omitempty"`

	// Kubernetes configures the kubernetes provider.
	Kubernetes KubernetesOptions `json:"kubernetes,omitempty"`
}

// KubernetesOptions configure the kubernetes provider, which gets the
// serving certificate through a certificates.k8s.io/v1
// CertificateSigningRequest, as istiod's chiron does.
type KubernetesOptions struct {
	// SignerName of the CSR, e.g. "example.com/serving": the signer that
	// must sign it. Required by the kubernetes provider.
	SignerName string `json:"signerName,omitempty"`
	// Approve approves the plane's own CSR, as istiod does. It needs RBAC
	// "update" on certificatesigningrequests/approval and "approve" on
	// signers named SignerName. Default false: someone else approves.
	Approve bool `json:"approve,omitempty"`
	// Timeout bounds the wait for the signed certificate. Default 60s.
	Timeout plane.Duration `json:"timeout,omitempty"`
}

// SetDefaults fills every empty field with its default.
func (o *Options) SetDefaults() {
	if o.Provider == "" {
		o.Provider = ProviderIstiod
		if o.CertFile != "" || o.KeyFile != "" {
			o.Provider = ProviderFiles
		}
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.TTL == 0 {
		o.TTL = plane.Duration(DefaultTTL)
	}
	if o.ReloadInterval == 0 {
		o.ReloadInterval = plane.Duration(DefaultReloadInterval)
	}
	if o.Kubernetes.Timeout == 0 {
		o.Kubernetes.Timeout = plane.Duration(DefaultCSRTimeout)
	}
}

// Validate reports every invalid field, naming it as in the config file.
func (o *Options) Validate() error {
	var errs []error
	switch o.Provider {
	case ProviderIstiod:
		if o.CertFile != "" || o.KeyFile != "" {
			errs = append(errs, errors.New("servingCert.provider: \"istiod\" conflicts with servingCert.certFile/keyFile (--tlsCertFile/--tlsKeyFile); choose one"))
		}
	case ProviderKubernetes:
		errs = append(errs, o.validateKubernetes()...)
	case ProviderFiles:
		if o.CertFile == "" {
			errs = append(errs, errors.New("servingCert.certFile (--tlsCertFile): required by the files provider"))
		}
		if o.KeyFile == "" {
			errs = append(errs, errors.New("servingCert.keyFile (--tlsKeyFile): required by the files provider"))
		}
	default:
		errs = append(errs, fmt.Errorf("servingCert.provider (PILOT_CERT_PROVIDER): %q is not one of %q, %q, %q",
			o.Provider, ProviderIstiod, ProviderKubernetes, ProviderFiles))
	}
	if o.TTL <= 0 {
		errs = append(errs, fmt.Errorf("servingCert.ttl: %v must be positive", o.TTL))
	}
	if o.ReloadInterval <= 0 {
		errs = append(errs, fmt.Errorf("servingCert.reloadInterval: %v must be positive", o.ReloadInterval))
	}
	return errors.Join(errs...)
}

// validateKubernetes checks the kubernetes provider's fields.
func (o *Options) validateKubernetes() []error {
	var errs []error
	if o.CertFile != "" || o.KeyFile != "" {
		errs = append(errs, errors.New("servingCert.provider: \"kubernetes\" conflicts with servingCert.certFile/keyFile (--tlsCertFile/--tlsKeyFile); choose one"))
	}
	domain, path, ok := strings.Cut(o.Kubernetes.SignerName, "/")
	switch {
	case o.Kubernetes.SignerName == "":
		errs = append(errs, errors.New("servingCert.kubernetes.signerName: required by the kubernetes provider (e.g. \"example.com/serving\")"))
	case !ok || domain == "" || path == "":
		errs = append(errs, fmt.Errorf("servingCert.kubernetes.signerName: %q is not <domain>/<path>", o.Kubernetes.SignerName))
	}
	if o.Kubernetes.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("servingCert.kubernetes.timeout: %v must be positive", o.Kubernetes.Timeout))
	}
	if o.TTL > 0 && time.Duration(o.TTL) < minCSRExpiration {
		errs = append(errs, fmt.Errorf("servingCert.ttl: %v is shorter than a Kubernetes CSR's minimum expirationSeconds (%v)", o.TTL, minCSRExpiration))
	}
	return errs
}

// Names returns the certificate names of the istiod and kubernetes providers.
func (o *Options) Names() []string {
	names := []string{"istiod." + o.Namespace + ".svc"}
	names = append(names, o.DNSNames...)
	if o.LoopbackNames {
		names = append(names, "localhost", "127.0.0.1", "::1")
	}
	return names
}
