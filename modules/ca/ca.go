package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/internal/pemutil"
)

// CA signs workload and serving certificates. It is safe for concurrent use;
// its signing material is swapped atomically, so a reload never blocks a
// signing request.
type CA struct {
	opts    Options
	log     *zap.Logger
	metrics *Metrics
	state   atomic.Pointer[authority]
}

// authority is one immutable generation of signing material.
type authority struct {
	signer crypto.Signer
	cert   *x509.Certificate // the signing certificate
	// chainPEM is what goes between a leaf and the roots: the signing cert
	// and intermediates, none when the signing cert is itself a root. Each
	// element is one PEM block ending in a newline.
	chainPEM []string
	rootsPEM string
	roots    *x509.CertPool
	// rootNotBefore and rootNotAfter bound the life of the first root of
	// the bundle to expire.
	rootNotBefore, rootNotAfter time.Time
	// validFrom and validUntil bound the signing window: when the signing
	// certificate and every issuer up to its root are valid. The *Cert
	// fields name the certificate that sets each end, for errors.
	validFrom, validUntil         time.Time
	validFromCert, validUntilCert string
	source                        string // "self-signed" or "plugged-in"
}

// New loads or creates the CA that opts describe: a plugged-in CA when
// opts.PluggedCertsDir is set, else the self-signed root in opts.DataDir
// (default DefaultDataDir), generated on first use.
func New(opts Options, log *zap.Logger, metrics *Metrics) (*CA, error) {
	if opts.DataDir == "" {
		opts.DataDir = DefaultDataDir
	}
	return NewFromStore(opts, FileStore{Dir: opts.DataDir, Log: log}, log, metrics)
}

// NewFromStore is New with the root kept in store instead of opts.DataDir
// (a plugged-in CA in opts.PluggedCertsDir still wins).
func NewFromStore(opts Options, store Store, log *zap.Logger, metrics *Metrics) (*CA, error) {
	opts.SetDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	a, err := loadAuthority(opts, store, log)
	if err != nil {
		return nil, err
	}
	c := &CA{opts: opts, log: log, metrics: metrics}
	c.state.Store(a)
	metrics.recordExpiry(a)
	log.Info("CA ready",
		zap.String("source", a.source),
		zap.String("subject", a.cert.Subject.String()),
		zap.String("key", pemutil.KeyDescription(a.cert.PublicKey)),
		zap.Time("notAfter", a.cert.NotAfter))
	return c, nil
}

// loadAuthority loads the plugged-in CA or the stored root, generating and
// storing a self-signed root on first use.
func loadAuthority(opts Options, store Store, log *zap.Logger) (*authority, error) {
	if opts.PluggedCertsDir != "" {
		return loadPlugged(opts.PluggedCertsDir)
	}
	begin := time.Now()
	st, err := store.LoadOrCreate(context.Background(), func() (*Stored, error) { return generateSelfSigned(opts) })
	if err != nil {
		return nil, err
	}
	a, err := fromStored(st)
	if err != nil {
		return nil, err
	}
	if st.Created {
		log.Info("generated self-signed root", zap.String("where", st.Where), zap.String("key", opts.KeyType), zap.Duration("took", time.Since(begin)))
	} else {
		log.Info("reusing stored root", zap.String("where", st.Where), zap.Bool("pluggedIn", st.PluggedIn))
	}
	return a, nil
}

// TrustDomain is the SPIFFE trust domain of the identities this CA issues.
func (c *CA) TrustDomain() string { return c.opts.TrustDomain }

// RootPEM returns the root bundle in PEM, the value webhook caBundles and
// workloads trust.
func (c *CA) RootPEM() []byte { return []byte(c.state.Load().rootsPEM) }

// Roots returns the root bundle as a pool, for verifying client certificates.
func (c *CA) Roots() *x509.CertPool { return c.state.Load().roots }

// SigningCert returns the certificate the CA signs with.
func (c *CA) SigningCert() *x509.Certificate { return c.state.Load().cert }

// Options returns the CA's options with defaults applied.
func (c *CA) Options() Options { return c.opts }

// newAuthority checks that signer and cert form a usable CA: a CA
// certificate, a strong key that matches it, valid now, and a chain that
// verifies to the roots. Errors name the files (istiod's names, which are
// also the keys of a Store's Secret).
func newAuthority(signer crypto.Signer, cert *x509.Certificate, intermediates, roots []*x509.Certificate, source string) (*authority, error) {
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, fmt.Errorf("%s: the signing certificate is not a CA (basicConstraints CA:TRUE is missing)", CACertFile)
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%s: the signing certificate may not sign certificates (keyUsage lacks keyCertSign)", CACertFile)
	}
	if err := pemutil.CheckKeyStrength(signer.Public()); err != nil {
		return nil, fmt.Errorf("%s: %w", CAKeyFile, err)
	}
	if !pemutil.KeyMatches(signer, cert.PublicKey) {
		return nil, fmt.Errorf("%s does not match %s: the private key does not match the signing certificate (a key %s, a certificate for %s)",
			CAKeyFile, CACertFile, pemutil.KeyDescription(signer.Public()), pemutil.KeyDescription(cert.PublicKey))
	}
	now := time.Now()
	if now.After(cert.NotAfter) {
		return nil, fmt.Errorf("%s: the signing certificate expired at %s", CACertFile, cert.NotAfter.Format(time.RFC3339))
	}
	if now.Before(cert.NotBefore) {
		return nil, fmt.Errorf("%s: the signing certificate is not valid before %s; check the clock", CACertFile, cert.NotBefore.Format(time.RFC3339))
	}
	rootPool := x509.NewCertPool()
	for _, r := range roots {
		rootPool.AddCert(r)
	}
	interPool := x509.NewCertPool()
	for _, c := range intermediates {
		interPool.AddCert(c)
	}
	chains, err := cert.Verify(x509.VerifyOptions{
		Roots:         rootPool,
		Intermediates: interPool,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		CurrentTime:   now,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: the signing certificate does not verify to the root (%s): %w", CACertFile, RootCertFile, err)
	}
	a := &authority{signer: signer, cert: cert, roots: rootPool, source: source}
	a.setWindow(chains[0])
	if !isRoot(cert, roots) {
		a.chainPEM = append(a.chainPEM, string(pemutil.EncodeCert(cert.Raw)))
		for _, c := range intermediates {
			if !c.Equal(cert) && !isRoot(c, roots) {
				a.chainPEM = append(a.chainPEM, string(pemutil.EncodeCert(c.Raw)))
			}
		}
	}
	a.rootsPEM = string(pemutil.EncodeCerts(roots...))
	for _, r := range roots {
		if a.rootNotAfter.IsZero() || r.NotAfter.Before(a.rootNotAfter) {
			a.rootNotBefore, a.rootNotAfter = r.NotBefore, r.NotAfter
		}
	}
	return a, nil
}

// setWindow sets the signing window to the time every certificate of
// chain (the signing certificate up to its root) is valid: a certificate
// issued outside it would not verify.
func (a *authority) setWindow(chain []*x509.Certificate) {
	for i, c := range chain {
		name := "the signing certificate (" + CACertFile + ")"
		if i > 0 {
			name = "its issuer " + c.Subject.String()
		}
		if a.validFrom.IsZero() || c.NotBefore.After(a.validFrom) {
			a.validFrom, a.validFromCert = c.NotBefore, name
		}
		if a.validUntil.IsZero() || c.NotAfter.Before(a.validUntil) {
			a.validUntil, a.validUntilCert = c.NotAfter, name
		}
	}
}

// usableAt returns why the authority cannot sign at now, or nil.
func (a *authority) usableAt(now time.Time) error {
	switch {
	case now.Before(a.validFrom):
		return fmt.Errorf("the CA cannot sign: %s is not valid before %s (now %s); check the clock",
			a.validFromCert, a.validFrom.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case !now.Before(a.validUntil):
		return fmt.Errorf("the CA cannot sign: %s expired at %s; rotate the CA",
			a.validUntilCert, a.validUntil.UTC().Format(time.RFC3339))
	}
	return nil
}

// validity returns the NotBefore and NotAfter of a certificate issued at
// now for ttl: backdated by clockSkew and lasting ttl, but never outside
// the signing window. It fails when the window does not hold now.
func (a *authority) validity(now time.Time, ttl time.Duration) (notBefore, notAfter time.Time, err error) {
	if err := a.usableAt(now); err != nil {
		return notBefore, notAfter, err
	}
	notBefore, notAfter = now.Add(-clockSkew), now.Add(ttl)
	if notBefore.Before(a.validFrom) {
		notBefore = a.validFrom
	}
	if notAfter.After(a.validUntil) {
		notAfter = a.validUntil
	}
	// X.509 keeps whole seconds: round NotBefore up and NotAfter down, so
	// that both stay inside the window.
	if t := notBefore.Truncate(time.Second); !t.Equal(notBefore) {
		notBefore = t.Add(time.Second)
	}
	notAfter = notAfter.Truncate(time.Second)
	if !notAfter.After(notBefore) {
		return notBefore, notAfter, fmt.Errorf("the CA cannot sign: %s expires at %s, which leaves no validity for a certificate",
			a.validUntilCert, a.validUntil.UTC().Format(time.RFC3339))
	}
	return notBefore, notAfter, nil
}

// Ready returns nil while the CA can sign, else why it cannot (its
// signing certificate or an issuer has expired or is not valid yet). It is
// the CA's readiness check in /ready.
func (c *CA) Ready(context.Context) error { return c.state.Load().usableAt(time.Now()) }

func isRoot(c *x509.Certificate, roots []*x509.Certificate) bool {
	for _, r := range roots {
		if c.Equal(r) {
			return true
		}
	}
	return false
}
