package servingcert

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bootgraph/bootgraph/component"
)

// Provider names, as istiod's PILOT_CERT_PROVIDER values.
const (
	ProviderIstiod     = "istiod"
	ProviderFiles      = "files"
	ProviderKubernetes = "kubernetes"
)

// Defaults.
const (
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

// LoopbackNames are the names a plane's certificate has for clients on
// the same host.
var LoopbackNames = []string{"localhost", "127.0.0.1", "::1"}

// Options configure the serving bundle ("servingCert" in the config file).
type Options struct {
	// Provider is "istiod" (signed by the CA), "kubernetes" (signed through
	// the Kubernetes CSR API; needs the kube part) or "files". Empty selects
	// "files" when CertFile and KeyFile are set, else "istiod": istiod's
	// rule that custom certificate files win.
	Provider string `json:"provider,omitempty" doc:"istiod | files | kubernetes; empty: files if certFile/keyFile are set, else istiod"`

	// DNSNames are extra names for the istiod and kubernetes providers'
	// certificate, like istiod's ISTIOD_CUSTOM_HOST: IP addresses, or
	// lowercase DNS names (DNS-1123 subdomains), optionally wildcards
	// "*.example.com". The certificate always names istiod.<namespace>.svc.
	DNSNames []string `json:"dnsNames,omitempty" doc:"extra names besides istiod.<namespace>.svc: IP addresses, lowercase DNS names, wildcards *.example.com"`

	// LoopbackNames adds localhost, 127.0.0.1 and ::1 to the istiod and
	// kubernetes providers' certificate. Default: on in local mode (no
	// component.Cluster), or when a listener binds a loopback address.
	LoopbackNames *bool `json:"loopbackNames,omitempty" doc:"name localhost, 127.0.0.1, ::1 (default: in local mode, or when a listener binds loopback)"`

	// TTL of the istiod and kubernetes providers' certificate, renewed at
	// half of it. Default 720h (30 days); never past the CA's own expiry.
	// The kubernetes provider asks for it as the CSR's expirationSeconds
	// (at least 10m), which a signer may shorten.
	TTL component.Duration `json:"ttl,omitempty" doc:"certificate lifetime; renewed at half, and when the CA's roots change"`

	// CertFile, KeyFile and CACertFile are the files provider's inputs:
	// istiod's --tlsCertFile, --tlsKeyFile and --caCertFile: regular files
	// of at most 1 MiB, KeyFile readable by its owner only (or by its group
	// when another user owns it). CACertFile holds
	// the roots trusted for client certificates; the kubernetes provider
	// uses CACertFile too, and trusts the plane's CA without it.
	CertFile   string `json:"certFile,omitempty" doc:"files provider: the certificate chain"`
	KeyFile    string `json:"keyFile,omitempty" doc:"files provider: the key"`
	CACertFile string `json:"caCertFile,omitempty" doc:"roots trusted for client certificates"`

	// ReloadInterval is how often the files provider re-reads its files.
	// Default 5s.
	ReloadInterval component.Duration `json:"reloadInterval,omitempty" doc:"files provider: how often the files are re-read"`

	// ExportDir, when set, receives key.pem, cert-chain.pem and
	// root-cert.pem (directory 0700, files 0600), rewritten on every change,
	// for tools that need files. Each change is one generation swapped in
	// through a ..data symlink, as in a Kubernetes Secret volume (see
	// Export), so the key and the chain always match.
	ExportDir string `json:"exportDir,omitempty" doc:"write key.pem, cert-chain.pem, root-cert.pem here on every change"`

	// Kubernetes configures the kubernetes provider.
	Kubernetes KubernetesOptions `json:"kubernetes,omitempty"`
}

// KubernetesOptions configure the kubernetes provider, which gets the
// serving certificate through a certificates.k8s.io/v1
// CertificateSigningRequest, as istiod's chiron does.
type KubernetesOptions struct {
	// SignerName of the CSR, e.g. "example.com/serving": the signer that
	// must sign it. Required by the kubernetes provider.
	SignerName string `json:"signerName,omitempty" doc:"kubernetes provider, required: \"<domain>/<path>\"; something must sign for it"`
	// Approve approves the plane's own CSR, as istiod does. It needs RBAC
	// "update" on certificatesigningrequests/approval and "approve" on
	// signers named SignerName. Default false: someone else approves.
	Approve bool `json:"approve,omitempty" doc:"kubernetes provider: approve our own CSR (needs RBAC approve on the signer)"`
	// Timeout bounds the wait for the signed certificate. Default 60s.
	Timeout component.Duration `json:"timeout,omitempty" doc:"kubernetes provider: wait this long for the signed certificate"`
}

// SetDefaults fills every empty field with its default.
func (o *Options) SetDefaults() {
	if o.Provider == "" {
		o.Provider = ProviderIstiod
		if o.CertFile != "" || o.KeyFile != "" {
			o.Provider = ProviderFiles
		}
	}
	if o.TTL == 0 {
		o.TTL = component.Duration(DefaultTTL)
	}
	if o.ReloadInterval == 0 {
		o.ReloadInterval = component.Duration(DefaultReloadInterval)
	}
	if o.Kubernetes.Timeout == 0 {
		o.Kubernetes.Timeout = component.Duration(DefaultCSRTimeout)
	}
}

// Validate reports every invalid field.
func (o *Options) Validate() error {
	var errs []error
	switch o.Provider {
	case ProviderIstiod:
		if o.CertFile != "" || o.KeyFile != "" {
			errs = append(errs, component.FieldErrorf("provider", "%q conflicts with certFile/keyFile; choose one", o.Provider))
		}
	case ProviderKubernetes:
		errs = append(errs, o.validateKubernetes()...)
	case ProviderFiles:
		if o.CertFile == "" {
			errs = append(errs, &component.FieldError{Path: "certFile", Err: errors.New("required by the files provider")})
		}
		if o.KeyFile == "" {
			errs = append(errs, &component.FieldError{Path: "keyFile", Err: errors.New("required by the files provider")})
		}
	default:
		errs = append(errs, component.FieldErrorf("provider", "%q is not one of %q, %q, %q",
			o.Provider, ProviderIstiod, ProviderKubernetes, ProviderFiles))
	}
	if o.TTL <= 0 {
		errs = append(errs, component.FieldErrorf("ttl", "%v must be positive", o.TTL))
	}
	if o.ReloadInterval <= 0 {
		errs = append(errs, component.FieldErrorf("reloadInterval", "%v must be positive", o.ReloadInterval))
	}
	errs = append(errs, validateNames(o.DNSNames)...)
	return errors.Join(errs...)
}

// validateNames checks DNSNames: each an IP address, a DNS-1123 subdomain
// (lowercase, as Kubernetes names Services), or a wildcard "*.<subdomain>"
// whose "*" is the whole leftmost label and whose rest has at least two
// labels (a wildcard for a whole top-level domain would be refused by
// clients anyway); no name twice.
func validateNames(names []string) []error {
	var errs []error
	first := make(map[string]int, len(names))
	for i, n := range names {
		path := fmt.Sprintf("dnsNames[%d]", i)
		if j, dup := first[n]; dup {
			errs = append(errs, component.FieldErrorf(path, "%q is dnsNames[%d] again", n, j))
			continue
		}
		first[n] = i
		if err := checkName(n); err != nil {
			errs = append(errs, &component.FieldError{Path: path, Err: err})
		}
	}
	return errs
}

// checkName checks one of DNSNames.
func checkName(n string) error {
	switch {
	case strings.TrimSpace(n) == "":
		return errors.New("must not be empty")
	case net.ParseIP(n) != nil:
		return nil
	case strings.ContainsAny(n, ":/%"):
		return fmt.Errorf("%q is neither an IP address (which has no prefix length, zone or port) nor a DNS name", n)
	case strings.HasSuffix(n, "."):
		return fmt.Errorf("%q ends in a dot: write it without the trailing dot", n)
	}
	host := n
	if rest, ok := strings.CutPrefix(n, "*."); ok {
		host = rest
		if !strings.Contains(rest, ".") {
			return fmt.Errorf("%q is a wildcard for a whole top-level domain; name at least two labels after \"*.\"", n)
		}
	}
	if len(validation.IsDNS1123Subdomain(host)) > 0 || len(labelErrors(host)) > 0 {
		return fmt.Errorf("%q is neither an IP address nor a DNS name: %s", n, whyNotDNS(host))
	}
	return nil
}

// labelErrors checks each label of host for DNS's 63 characters, which
// IsDNS1123Subdomain leaves to its 253 in all.
func labelErrors(host string) []string {
	var errs []string
	for _, label := range strings.Split(host, ".") {
		errs = append(errs, validation.IsDNS1123Label(label)...)
	}
	return errs
}

// whyNotDNS says what makes host not a DNS-1123 subdomain.
func whyNotDNS(host string) string {
	if len(host) > validation.DNS1123SubdomainMaxLength {
		return fmt.Sprintf("%d characters, more than %d", len(host), validation.DNS1123SubdomainMaxLength)
	}
	for _, r := range host {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
		case r >= 'A' && r <= 'Z':
			return "it has upper case; write it in lower case"
		default:
			return fmt.Sprintf("it has the character %q; a DNS name has letters, digits, '-' and '.'", r)
		}
	}
	for _, label := range strings.Split(host, ".") {
		switch {
		case label == "":
			return "it has an empty label (\"..\", or a dot at the start)"
		case len(label) > validation.DNS1123LabelMaxLength:
			return fmt.Sprintf("label %q has %d characters, more than %d", label, len(label), validation.DNS1123LabelMaxLength)
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Sprintf("label %q starts or ends with '-'", label)
		}
	}
	return "it is not an RFC 1123 subdomain"
}

// validateKubernetes checks the kubernetes provider's fields.
func (o *Options) validateKubernetes() []error {
	var errs []error
	if o.CertFile != "" || o.KeyFile != "" {
		errs = append(errs, component.FieldErrorf("provider", "%q conflicts with certFile/keyFile; choose one", o.Provider))
	}
	domain, path, ok := strings.Cut(o.Kubernetes.SignerName, "/")
	switch {
	case o.Kubernetes.SignerName == "":
		errs = append(errs, component.FieldErrorf("kubernetes.signerName", "required by the kubernetes provider (e.g. \"example.com/serving\")"))
	case !ok || domain == "" || path == "":
		errs = append(errs, component.FieldErrorf("kubernetes.signerName", "%q is not <domain>/<path>", o.Kubernetes.SignerName))
	}
	if o.Kubernetes.Timeout <= 0 {
		errs = append(errs, component.FieldErrorf("kubernetes.timeout", "%v must be positive", o.Kubernetes.Timeout))
	}
	if o.TTL > 0 && time.Duration(o.TTL) < minCSRExpiration {
		errs = append(errs, component.FieldErrorf("ttl", "%v is shorter than a Kubernetes CSR's minimum expirationSeconds (%v)", o.TTL, component.Duration(minCSRExpiration)))
	}
	return errs
}

// Names returns the certificate names of the istiod and kubernetes
// providers for a plane in namespace: istiod.<namespace>.svc, DNSNames,
// and the loopback names when loopback is true (or LoopbackNames says so).
func (o *Options) Names(namespace string, loopback bool) []string {
	names := []string{"istiod." + namespace + ".svc"}
	names = append(names, o.DNSNames...)
	if o.LoopbackNames != nil {
		loopback = *o.LoopbackNames
	}
	if loopback {
		names = append(names, LoopbackNames...)
	}
	return names
}
