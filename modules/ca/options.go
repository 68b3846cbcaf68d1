package ca

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/bootgraph/bootgraph/modules/plane"
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
	DefaultDataDir     = ".bootgraph/ca"
)

// Options configure the CA. The zero value is usable: SetDefaults fills in
// every empty field. Each field maps onto the "ca" section of the config file.
type Options struct {
	// TrustDomain is the SPIFFE trust domain of issued identities and the
	// Organization of a self-signed root. Default "cluster.local".
	TrustDomain string `json:"trustDomain,omitempty"`

	// KeyType of a generated self-signed root: "ecdsa-p256" (default),
	// "rsa-2048" (istiod's default), "rsa-3072" or "rsa-4096".
	KeyType string `json:"keyType,omitempty"`

	// RootTTL is the lifetime of a generated self-signed root. Default 10 years.
	RootTTL plane.Duration `json:"rootTTL,omitempty"`

	// DefaultCertTTL is the lifetime of a workload certificate when the
	// request asks for none. Default 24h.
	DefaultCertTTL plane.Duration `json:"defaultCertTTL,omitempty"`

	// MaxCertTTL is the longest lifetime a request may ask for; a longer one
	// is rejected, not clamped. Default 90 days (2160h).
	MaxCertTTL plane.Duration `json:"maxCertTTL,omitempty"`

	// DataDir holds the self-signed root (ca-cert.pem, ca-key.pem,
	// root-cert.pem). Created 0700 with 0600 files. Default ".bootgraph/ca".
	DataDir string `json:"dataDir,omitempty"`

	// PluggedCertsDir, when set, holds an operator-supplied CA under istiod's
	// cacerts names: ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem.
	// All four must be present; the self-signed root is then not used.
	PluggedCertsDir string `json:"pluggedCertsDir,omitempty"`

	// TokenFile, when set, authenticates callers that present a bearer token
	// listed in it, one "token,namespace,serviceaccount" per line.
	TokenFile string `json:"tokenFile,omitempty"`

	// CreateTokenFile creates TokenFile with one random token for the
	// default/default service account when it does not exist yet. Meant for
	// local use; bootgraph's embedded default turns it on.
	CreateTokenFile bool `json:"createTokenFile,omitempty"`
}

// trustDomainRE is a SPIFFE trust domain name, as the identities
// spiffe://<trust domain>/ns/<ns>/sa/<sa> need it.
var trustDomainRE = regexp.MustCompile(`^[a-z0-9._-]+$`)

// SetDefaults fills every empty field with its default.
func (o *Options) SetDefaults() {
	if o.TrustDomain == "" {
		o.TrustDomain = DefaultTrustDomain
	}
	if o.KeyType == "" {
		o.KeyType = DefaultKeyType
	}
	if o.RootTTL == 0 {
		o.RootTTL = plane.Duration(DefaultRootTTL)
	}
	if o.DefaultCertTTL == 0 {
		o.DefaultCertTTL = plane.Duration(DefaultCertTTL)
	}
	if o.MaxCertTTL == 0 {
		o.MaxCertTTL = plane.Duration(DefaultMaxCertTTL)
	}
	if o.DataDir == "" {
		o.DataDir = DefaultDataDir
	}
}

// Validate reports every invalid field, naming it as in the config file.
func (o *Options) Validate() error {
	var errs []error
	switch o.KeyType {
	case KeyECDSAP256, KeyRSA2048, KeyRSA3072, KeyRSA4096:
	default:
		errs = append(errs, fmt.Errorf("ca.keyType: %q is not one of %s, %s, %s, %s",
			o.KeyType, KeyECDSAP256, KeyRSA2048, KeyRSA3072, KeyRSA4096))
	}
	if !trustDomainRE.MatchString(o.TrustDomain) {
		errs = append(errs, fmt.Errorf("ca.trustDomain: %q is not a SPIFFE trust domain (lowercase letters, digits, \".\", \"-\", \"_\")", o.TrustDomain))
	}
	if o.RootTTL <= 0 {
		errs = append(errs, fmt.Errorf("ca.rootTTL: %v must be positive", o.RootTTL))
	}
	if o.DefaultCertTTL <= 0 {
		errs = append(errs, fmt.Errorf("ca.defaultCertTTL: %v must be positive", o.DefaultCertTTL))
	}
	if o.MaxCertTTL < o.DefaultCertTTL {
		errs = append(errs, fmt.Errorf("ca.maxCertTTL: %v is shorter than ca.defaultCertTTL %v",
			o.MaxCertTTL, o.DefaultCertTTL))
	}
	if o.CreateTokenFile && o.TokenFile == "" {
		errs = append(errs, errors.New("ca.createTokenFile: needs ca.tokenFile"))
	}
	return errors.Join(errs...)
}
