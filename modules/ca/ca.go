package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
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
	source                      string // "self-signed" or "plugged-in"
}

// New loads or creates the CA that opts describe: a plugged-in CA when
// opts.PluggedCertsDir is set, else the self-signed root in opts.DataDir
// (default DefaultDataDir), generated on first use.
func New(opts Options, log *zap.Logger, metrics *Metrics) (*CA, error) {
	if opts.DataDir == "" {
		opts.DataDir = DefaultDataDir
	}
	return NewFromStore(opts, FileStore{Dir: opts.DataDir}, log, metrics)
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

// newAuthority checks that signer and cert form a usable CA and that the
// chain verifies to the roots.
func newAuthority(signer crypto.Signer, cert *x509.Certificate, intermediates, roots []*x509.Certificate, source string) (*authority, error) {
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, errors.New("the signing certificate is not a CA (basicConstraints CA:TRUE is missing)")
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, errors.New("the signing certificate may not sign certificates (keyUsage lacks keyCertSign)")
	}
	if !pemutil.KeyMatches(signer, cert.PublicKey) {
		return nil, errors.New("the private key does not match the signing certificate")
	}
	if now := time.Now(); now.After(cert.NotAfter) {
		return nil, fmt.Errorf("the signing certificate expired at %s", cert.NotAfter.Format(time.RFC3339))
	}
	rootPool := x509.NewCertPool()
	for _, r := range roots {
		rootPool.AddCert(r)
	}
	interPool := x509.NewCertPool()
	for _, c := range intermediates {
		interPool.AddCert(c)
	}
	if _, err := cert.Verify(x509.VerifyOptions{
		Roots:         rootPool,
		Intermediates: interPool,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return nil, fmt.Errorf("the signing certificate does not verify to the root: %w", err)
	}
	a := &authority{signer: signer, cert: cert, roots: rootPool, source: source}
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

func isRoot(c *x509.Certificate, roots []*x509.Certificate) bool {
	for _, r := range roots {
		if c.Equal(r) {
			return true
		}
	}
	return false
}
