package ca

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

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
	// All four must be present; the self-signed root is then not used. A
	// directory that does not exist yet is waited for (the self-signed
	// root serves meanwhile); the directory is watched (fsnotify, and every
	// ReloadInterval) and a changed set is verified, then taken through the
	// trust-bundle overlap, or refused, the old set kept.
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

	// ReloadInterval is how often the CA re-reads what it watches besides
	// the change events: PluggedCertsDir (fsnotify may miss a directory
	// created after start, or a volume's ..data swap), and the stored
	// root and rotation phase that other replicas and `bootgraph ca
	// rotate` write. Default 30s.
	ReloadInterval component.Duration `json:"reloadInterval,omitempty" doc:"re-read pluggedCertsDir and the stored root this often, besides change events"`

	// TrustedNodeAccounts may ask for certificates of other identities
	// with the ImpersonatedIdentity request metadata (what ztunnel sends),
	// each "namespace/serviceaccount", as istiod's CA_TRUSTED_NODE_ACCOUNTS.
	// In Kubernetes mode the impersonated identity must also have a pod on
	// the caller's node. Empty: impersonation is refused.
	TrustedNodeAccounts []string `json:"trustedNodeAccounts,omitempty" doc:"\"namespace/serviceaccount\" callers allowed to impersonate (istiod's CA_TRUSTED_NODE_ACCOUNTS)"`

	// Rotation of the self-signed root.
	Rotation RotationOptions `json:"rotation,omitempty"`
}

// RotationOptions configure self-signed root rotation ("ca.rotation").
type RotationOptions struct {
	// Auto rotates the self-signed root when less than Threshold of its
	// life remains. Default true.
	Auto *bool `json:"auto,omitempty" doc:"rotate the self-signed root automatically near its expiry (default true)"`
	// Kind of an automatic rotation, and the default of `bootgraph ca
	// rotate`: "renew" (same key, new validity; istiod's) or "rekey" (a
	// new key pair, through the trust-bundle overlap). Default renew.
	Kind RotationKind `json:"kind,omitempty" doc:"renew (same key, new validity, istiod's) | rekey (new key pair, with overlap)"`
	// Threshold is the fraction of the root's life left at which it is
	// rotated. Default 0.2, istiod's.
	Threshold float64 `json:"threshold,omitempty" doc:"rotate when less than this fraction of the root's life remains"`
	// CheckInterval is how often the root's remaining life is checked.
	// Default 1h, istiod's.
	CheckInterval component.Duration `json:"checkInterval,omitempty" doc:"how often the root's remaining life is checked"`
	// Jitter: a replica that finds the root due waits a random time up to
	// Jitter before rotating, then re-reads the store, so that replicas do
	// not all rotate at once (the first one wins; the others adopt its
	// root). Default 1h.
	Jitter component.Duration `json:"jitter,omitempty" doc:"a replica waits a random time up to this before an automatic rotation"`
	// PropagationDelay: in a re-key, the new root is in the trust bundle
	// this long before it signs, so that every workload trusts it before
	// it meets a certificate it signed. Default 24h (DefaultCertTTL: a
	// workload refreshes its roots when it renews its certificate).
	PropagationDelay component.Duration `json:"propagationDelay,omitempty" doc:"re-key: the new root is trusted this long before it signs"`
}

// RotationKind says how a self-signed root is rotated.
type RotationKind string

// Rotation kinds.
const (
	// RotateRenew keeps the key and issues the root again with a new
	// validity: every certificate the old root signed verifies with the
	// new one and the other way round, so it takes effect at once.
	RotateRenew RotationKind = "renew"
	// RotateRekey makes a new key pair and root, which joins the bundle
	// first, signs after PropagationDelay, and the old root leaves the
	// bundle when every certificate it signed has expired.
	RotateRekey RotationKind = "rekey"
)

// Defaults of Options.Rotation and Options.ReloadInterval.
const (
	DefaultReloadInterval     = 30 * time.Second
	DefaultRotationThreshold  = 0.2       // istiod: the last 20% of the root's life
	DefaultRotationCheck      = time.Hour // istiod: hourly
	DefaultRotationJitter     = time.Hour
	DefaultPropagationDelay   = DefaultCertTTL
	DefaultRotationKind       = RotateRenew
	defaultAutoRotation       = true
	maxTrustedNodeAccountsLen = 253 + 1 + 253
)

// AutoRotate reports whether automatic rotation is on (the default).
func (o RotationOptions) AutoRotate() bool {
	if o.Auto == nil {
		return defaultAutoRotation
	}
	return *o.Auto
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
	if o.ReloadInterval == 0 {
		o.ReloadInterval = component.Duration(DefaultReloadInterval)
	}
	r := &o.Rotation
	if r.Kind == "" {
		r.Kind = DefaultRotationKind
	}
	if r.Threshold == 0 {
		r.Threshold = DefaultRotationThreshold
	}
	if r.CheckInterval == 0 {
		r.CheckInterval = component.Duration(DefaultRotationCheck)
	}
	if r.Jitter == 0 {
		r.Jitter = component.Duration(DefaultRotationJitter)
	}
	if r.PropagationDelay == 0 {
		r.PropagationDelay = component.Duration(DefaultPropagationDelay)
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
	if o.ReloadInterval <= 0 {
		errs = append(errs, component.FieldErrorf("reloadInterval", "%v must be positive", o.ReloadInterval))
	}
	for i, acct := range o.TrustedNodeAccounts {
		if _, _, err := ParseAccount(acct); err != nil {
			errs = append(errs, component.FieldErrorf(fmt.Sprintf("trustedNodeAccounts[%d]", i), "%v", err))
		}
	}
	errs = append(errs, o.Rotation.validate()...)
	return errors.Join(errs...)
}

func (r *RotationOptions) validate() []error {
	var errs []error
	switch r.Kind {
	case RotateRenew, RotateRekey:
	default:
		errs = append(errs, component.FieldErrorf("rotation.kind", "%q is not %s or %s", r.Kind, RotateRenew, RotateRekey))
	}
	if r.Threshold <= 0 || r.Threshold >= 1 {
		errs = append(errs, component.FieldErrorf("rotation.threshold", "%v must be between 0 and 1 (a fraction of the root's life)", r.Threshold))
	}
	if r.CheckInterval <= 0 {
		errs = append(errs, component.FieldErrorf("rotation.checkInterval", "%v must be positive", r.CheckInterval))
	}
	if r.Jitter < 0 {
		errs = append(errs, component.FieldErrorf("rotation.jitter", "%v must not be negative", r.Jitter))
	}
	if r.PropagationDelay < 0 {
		errs = append(errs, component.FieldErrorf("rotation.propagationDelay", "%v must not be negative", r.PropagationDelay))
	}
	return errs
}

// ParseAccount splits "namespace/serviceaccount", checking both are
// Kubernetes names.
func ParseAccount(s string) (namespace, serviceAccount string, err error) {
	ns, sa, ok := strings.Cut(s, "/")
	if !ok || len(s) > maxTrustedNodeAccountsLen {
		return "", "", fmt.Errorf("%q is not namespace/serviceaccount", s)
	}
	if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
		return "", "", fmt.Errorf("%q: namespace %q: %s", s, ns, strings.Join(msgs, "; "))
	}
	if msgs := validation.IsDNS1123Subdomain(sa); len(msgs) > 0 {
		return "", "", fmt.Errorf("%q: service account %q: %s", s, sa, strings.Join(msgs, "; "))
	}
	return ns, sa, nil
}

// Resolve fills DataDir and TokenFile from where the plane runs, as the
// module does: env, and whether it runs in a cluster. `bootgraph ca` uses
// it to find the plane's data directory.
func (o Options) Resolve(env component.Env, inCluster bool) Options { return o.resolve(env, inCluster) }

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
