package ca

import (
	"errors"
	"regexp"
	"time"

	"github.com/bootgraph/bootgraph/component"
)

// Key types accepted in Options.KeyType.
const (
	KeyECDSAP256 = "ecdsa-p256"
	KeyRSA2048   = "rsa-2048"
	KeyRSA3072   = "rsa-3072"
	KeyRSA4096   = "rsa-4096"
)

// Defaults, matching istiod where istiod has one.
const (
	DefaultTrustDomain = "cluster.local"
	DefaultKeyType     = KeyECDSAP256
	DefaultRootTTL     = 10 * 365 * 24 * time.Hour // CITADEL_SELF_SIGNED_CA_CERT_TTL
	DefaultCertTTL     = 24 * time.Hour            // DEFAULT_WORKLOAD_CERT_TTL
	DefaultMaxCertTTL  = 90 * 24 * time.Hour       // MAX_WORKLOAD_CERT_TTL
	// DefaultDataDir is where New keeps a self-signed root when
	// Options.DataDir is empty; the module uses <Env.DataDir>/ca.
	DefaultDataDir = ".bootgraph/ca"
	// TokenFileName is the local token file's name in the plane's DataDir.
	TokenFileName = "tokens.csv"
)

// Options configure the CA ("ca" in the config file). The zero value is
// usable: SetDefaults fills in every empty field.
type Options struct {
	// TrustDomain is the SPIFFE trust domain of issued identities and the
	// Organization of a self-signed root. Default "cluster.local".
	TrustDomain string `json:"trustDomain,omitempty" doc:"SPIFFE trust domain of issued identities; O= of a self-signed root"`

	// KeyType of a generated self-signed root: "ecdsa-p256" (default),
	// "rsa-2048" (istiod's default), "rsa-3072" or "rsa-4096".
	KeyType string `json:"keyType,omitempty" doc:"self-signed root key: ecdsa-p256 | rsa-2048 | rsa-3072 | rsa-4096"`

	// RootTTL is the lifetime of a generated self-signed root. Default 10 years.
	RootTTL component.Duration `json:"rootTTL,omitempty" doc:"self-signed root lifetime"`

	// DefaultCertTTL is the lifetime of a workload certificate when the
	// request asks for none. Default 24h.
	DefaultCertTTL component.Duration `json:"defaultCertTTL,omitempty" doc:"workload certificate lifetime when the request asks for none"`

	// MaxCertTTL is the longest lifetime a request may ask for; a longer one
	// is rejected, not clamped. Default 90 days (2160h).
	MaxCertTTL component.Duration `json:"maxCertTTL,omitempty" doc:"longest lifetime a request may ask for; longer is an error"`

	// DataDir holds the self-signed root (ca-cert.pem, ca-key.pem,
	// root-cert.pem), created 0700 with 0600 files, written as one
	// generation (see FileStore). A DataDir that group or others may write,
	// or a ca-key.pem they may read, is refused. Default: "ca" in the
	// plane's data directory (component.Env), ".bootgraph/ca" for New.
	DataDir string `json:"dataDir,omitempty" doc:"self-signed root files (default: <dataDir>/ca)"`

	// PluggedCertsDir, when set, holds an operator-supplied CA under istiod's
	// cacerts names: ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem.
	// All four must be present; the self-signed root is then not used.
	// ca-key.pem must not be readable by others (group-readable only when
	// another user owns it: a Secret volume with defaultMode 0440 and the
	// pod's fsGroup), and the directory not writable by group or others
	// unless sticky, as a Secret volume is.
	PluggedCertsDir string `json:"pluggedCertsDir,omitempty" doc:"operator CA: ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem"`

	// TokenFile, when set, authenticates callers that present a bearer token
	// listed in it, one "token,namespace,serviceaccount" per line. Default,
	// in local mode (no component.Cluster) without a plugged-in CA:
	// tokens.csv in the plane's data directory, created with one random
	// token for default/default if absent. An explicitly set file must
	// exist unless CreateTokenFile is set. Like a key, it must be readable
	// by its owner only; each token may appear once, and namespaces and
	// service accounts must be Kubernetes names (DNS-1123).
	TokenFile string `json:"tokenFile,omitempty" doc:"bearer tokens, \"token,namespace,serviceaccount\" per line (default in local mode: <dataDir>/tokens.csv, created)"`

	// CreateTokenFile creates TokenFile with one random token for the
	// default/default service account when it does not exist yet.
	CreateTokenFile bool `json:"createTokenFile,omitempty" doc:"create tokenFile with one random token if absent"`
}

// trustDomainRE is a SPIFFE trust domain name, as the identities
// spiffe://<trust domain>/ns/<ns>/sa/<sa> need it.
var trustDomainRE = regexp.MustCompile(`^[a-z0-9._-]+$`)

// SetDefaults fills every empty field that has a fixed default; DataDir
// and TokenFile depend on where the plane runs and are left to the module
// (and New).
func (o *Options) SetDefaults() {
	if o.TrustDomain == "" {
		o.TrustDomain = DefaultTrustDomain
	}
	if o.KeyType == "" {
		o.KeyType = DefaultKeyType
	}
	if o.RootTTL == 0 {
		o.RootTTL = component.Duration(DefaultRootTTL)
	}
	if o.DefaultCertTTL == 0 {
		o.DefaultCertTTL = component.Duration(DefaultCertTTL)
	}
	if o.MaxCertTTL == 0 {
		o.MaxCertTTL = component.Duration(DefaultMaxCertTTL)
	}
}

// Validate reports every invalid field.
func (o *Options) Validate() error {
	var errs []error
	switch o.KeyType {
	case KeyECDSAP256, KeyRSA2048, KeyRSA3072, KeyRSA4096:
	default:
		errs = append(errs, component.FieldErrorf("keyType", "%q is not one of %s, %s, %s, %s",
			o.KeyType, KeyECDSAP256, KeyRSA2048, KeyRSA3072, KeyRSA4096))
	}
	if !trustDomainRE.MatchString(o.TrustDomain) {
		errs = append(errs, component.FieldErrorf("trustDomain", "%q is not a SPIFFE trust domain (lowercase letters, digits, \".\", \"-\", \"_\")", o.TrustDomain))
	}
	if o.RootTTL <= 0 {
		errs = append(errs, component.FieldErrorf("rootTTL", "%v must be positive", o.RootTTL))
	}
	if o.DefaultCertTTL <= 0 {
		errs = append(errs, component.FieldErrorf("defaultCertTTL", "%v must be positive", o.DefaultCertTTL))
	}
	if o.MaxCertTTL < o.DefaultCertTTL {
		errs = append(errs, component.FieldErrorf("maxCertTTL", "%v is shorter than defaultCertTTL %v", o.MaxCertTTL, o.DefaultCertTTL))
	}
	if o.CreateTokenFile && o.TokenFile == "" {
		errs = append(errs, &component.FieldError{Path: "createTokenFile", Err: errors.New("needs tokenFile")})
	}
	return errors.Join(errs...)
}

// resolve fills DataDir and TokenFile from where the plane runs: env, and
// whether it runs in a cluster.
func (o Options) resolve(env component.Env, inCluster bool) Options {
	if o.DataDir == "" {
		o.DataDir = env.Path("ca")
	}
	if o.TokenFile == "" && o.PluggedCertsDir == "" && !inCluster {
		// Local use: a token file that `bootgraph cert` can use out of the box.
		o.TokenFile = env.Path(TokenFileName)
		o.CreateTokenFile = true
	}
	return o
}
