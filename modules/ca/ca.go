package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/internal/pemutil"
)

// CA signs workload and serving certificates. It is safe for concurrent use;
// its signing material and trust bundle are swapped atomically, so a
// reload or a rotation never blocks a signing request.
//
// The CA holds an ordered trust bundle (the roots clients must trust: the
// signer's root first) and one signer. Every change of either closes the
// channel Changed returned, which is how the serving certificate, the
// root distribution and the listeners' client-CA pools follow it.
type CA struct {
	opts    Options
	log     *zap.Logger
	metrics *Metrics
	state   atomic.Pointer[authority]
	changed atomic.Pointer[chan struct{}]

	// mu serializes the transitions of trust (and the store I/O they
	// need); readers use snap and info, which never wait for the store.
	mu      sync.Mutex
	trust   *trust
	snap    atomic.Pointer[trust]
	store   Store
	plugged pluggedWatch
	// autoAt is when a due automatic rotation happens (jitter); zero
	// when none is pending. Guarded by mu; info.autoAt is its copy.
	autoAt time.Time
	// storeErr is the last error reading the store, logged once.
	storeErr string

	info struct {
		sync.Mutex
		// reloadErr is why the last change seen was refused, per source
		// ("plugged-in", "store").
		reloadErr map[string]string
		autoAt    time.Time
	}
	// lastExpiryWarn is when checkExpiry last logged.
	lastExpiryWarn time.Time
	wake           chan struct{}
	now            func() time.Time
	rand           func(n int64) int64
}

// authority is one immutable generation of signing material and bundle.
type authority struct {
	signer crypto.Signer
	cert   *x509.Certificate // the signing certificate
	// chainPEM is what goes between a leaf and the roots: the signing cert
	// and intermediates, none when the signing cert is itself a root. Each
	// element is one PEM block ending in a newline.
	chainPEM []string
	// signerRoots are the roots the signer chains to (its own set's).
	signerRoots []*x509.Certificate
	// bundle is the trust bundle, in order; rootsPEM and roots the same.
	bundle   []*x509.Certificate
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
	// stored is the material this signer was read from, to compare and
	// persist it.
	stored *Stored
	// leaves issues workload certificates; nil when the signer's leaves
	// cannot be encoded without x509.CreateCertificate (see
	// newLeafEncoder), which then makes them.
	leaves *leafEncoder
}

// withBundle returns a copy of a whose trust bundle is roots.
func (a *authority) withBundle(roots []*x509.Certificate) *authority {
	n := *a
	n.bundle = slices.Clone(roots)
	n.roots = x509.NewCertPool()
	for _, r := range roots {
		n.roots.AddCert(r)
	}
	n.rootsPEM = string(pemutil.EncodeCerts(roots...))
	n.rootNotBefore, n.rootNotAfter = time.Time{}, time.Time{}
	for _, r := range roots {
		if n.rootNotAfter.IsZero() || r.NotAfter.Before(n.rootNotAfter) {
			n.rootNotBefore, n.rootNotAfter = r.NotBefore, r.NotAfter
		}
	}
	return &n
}

func keyDescription(a *authority) string { return pemutil.KeyDescription(a.cert.PublicKey) }

// New loads or creates the CA that opts describe: a plugged-in CA when
// opts.PluggedCertsDir holds one, else the self-signed root in opts.DataDir
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
	c := &CA{opts: opts, log: log, metrics: metrics, store: store,
		wake: make(chan struct{}, 1), now: time.Now, rand: rand.Int64N}
	c.info.reloadErr = map[string]string{}
	ch := make(chan struct{})
	c.changed.Store(&ch)
	t, err := c.load()
	if err != nil {
		return nil, err
	}
	c.publish(t, "")
	a := t.signer
	log.Info("CA ready",
		zap.String("source", a.source),
		zap.String("subject", a.cert.Subject.String()),
		zap.String("key", pemutil.KeyDescription(a.cert.PublicKey)),
		zap.Time("notAfter", a.cert.NotAfter),
		zap.String("phase", string(t.state.Phase)))
	return c, nil
}

// load loads the plugged-in CA or the stored root, generating and storing
// a self-signed root on first use. A PluggedCertsDir that does not exist
// (yet) is watched: the self-signed root serves meanwhile, as istiod's
// does when cacerts is not mounted.
func (c *CA) load() (*trust, error) {
	opts := c.opts
	if opts.PluggedCertsDir != "" {
		st, err := readPluggedDir(opts.PluggedCertsDir)
		switch {
		case err != nil:
			return nil, err
		case st != nil:
			a, err := fromStored(st)
			if err != nil {
				return nil, err
			}
			c.plugged.seen = st
			return &trust{source: SourcePlugged, signer: a, roots: a.signerRoots, state: RotationState{Phase: PhaseIdle}, where: st.Where}, nil
		}
		c.log.Info("the plugged-in CA directory does not exist; using the self-signed root until it appears",
			zap.String("pluggedCertsDir", opts.PluggedCertsDir))
	}
	begin := time.Now()
	st, err := c.store.LoadOrCreate(context.Background(), func() (*Stored, error) { return generateSelfSigned(opts) })
	if err != nil {
		return nil, err
	}
	t, err := trustFromStored(st)
	if err != nil {
		return nil, err
	}
	switch {
	case st.Created:
		c.log.Info("generated self-signed root", zap.String("where", st.Where), zap.String("key", opts.KeyType), zap.Duration("took", time.Since(begin)))
	case st.PluggedIn:
		c.log.Info("using the plugged-in CA", zap.String("where", st.Where))
	default:
		c.log.Info("reusing stored root", zap.String("where", st.Where), zap.String("phase", string(t.state.Phase)))
	}
	return t, nil
}

// publish makes t the CA's state: the signer and bundle that Sign and
// Roots use, the metrics, and a closed Changed channel. event, when set,
// is counted as a rotation event.
func (c *CA) publish(t *trust, event string) {
	prev := c.trust
	c.trust = t
	c.snap.Store(t)
	c.state.Store(t.signer.withBundle(t.roots))
	c.metrics.recordTrust(t, prev)
	if event != "" {
		c.metrics.rotationEvents.WithLabelValues(event).Inc()
	}
	if prev != nil {
		c.notify()
	}
}

// notify closes the channel Changed returned.
func (c *CA) notify() {
	next := make(chan struct{})
	old := c.changed.Swap(&next)
	close(*old)
}

// Changed returns a channel that is closed when the trust bundle or the
// signer next changes (a rotation step, a reloaded plugged-in CA, a root
// another replica stored), or the CA's Status does (a refused reload).
// Read it before reading the CA, then wait on it: a change between the
// two closes it.
func (c *CA) Changed() <-chan struct{} { return *c.changed.Load() }

// TrustBundle returns the roots clients must trust, in the bundle's
// order (the signer's root first), each with its expiry, fingerprint and
// role in a rotation.
func (c *CA) TrustBundle() []RootInfo { return c.snap.Load().rootInfos() }

// Status returns the CA's roots, signer and rotation phase, with its next
// step, and why the last change it saw was refused, if it was.
func (c *CA) Status() Status {
	s := c.snap.Load().status(c.opts)
	c.info.Lock()
	defer c.info.Unlock()
	s.ReloadError = joinReloadErrors(c.info.reloadErr)
	if !c.info.autoAt.IsZero() && s.Rotation.Phase == PhaseIdle {
		s.NextStepAt = c.info.autoAt
	}
	return s
}

// setAutoAt sets autoAt (mu held) and its copy for Status.
func (c *CA) setAutoAt(at time.Time) {
	c.autoAt = at
	c.info.Lock()
	c.info.autoAt = at
	c.info.Unlock()
}

// TrustDomain is the SPIFFE trust domain of the identities this CA issues.
func (c *CA) TrustDomain() string { return c.opts.TrustDomain }

// RootPEM returns the trust bundle in PEM, the value webhook caBundles,
// the istio-ca-root-cert ConfigMaps and workloads trust.
func (c *CA) RootPEM() []byte { return []byte(c.state.Load().rootsPEM) }

// Roots returns the trust bundle as a pool, for verifying client
// certificates.
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
	a := &authority{signer: signer, cert: cert, roots: rootPool, source: source, signerRoots: slices.Clone(roots), bundle: slices.Clone(roots)}
	a.setWindow(chains[0])
	// Without an encoder, x509.CreateCertificate makes the same leaves.
	a.leaves, _ = newLeafEncoder(signer, cert)
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
