package servingcert

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/modules/ca"
)

// IstiodProvider keeps a Bundle filled with a certificate signed by the CA,
// renewing it at half its lifetime, issuing it again when the CA's signer
// changes (a rotation's switch: the certificate must come from the new
// signer) and updating the roots when only the CA's trust bundle changes.
// It follows the CA's change notification (ca.CA.Changed), not a poll.
type IstiodProvider struct {
	ca     *ca.CA
	opts   Options
	names  []string
	log    *zap.Logger
	bundle *Bundle
	// signer is the CA certificate that signed the current certificate.
	signer *x509.Certificate
}

// NewIstiodProvider issues the first certificate for names (see
// Options.Names) into a new Bundle.
func NewIstiodProvider(authority *ca.CA, opts Options, names []string, log *zap.Logger) (*IstiodProvider, error) {
	if log == nil {
		log = zap.NewNop()
	}
	p := &IstiodProvider{ca: authority, opts: opts, names: names, log: log, bundle: NewBundle()}
	if err := p.issue(); err != nil {
		return nil, err
	}
	return p, nil
}

// Bundle returns the bundle this provider fills.
func (p *IstiodProvider) Bundle() *Bundle { return p.bundle }

func (p *IstiodProvider) issue() error {
	names := p.names
	signer := p.ca.SigningCert()
	roots := p.ca.RootPEM()
	chain, key, err := p.ca.GenKeyCert(names, time.Duration(p.opts.TTL))
	if err != nil {
		return fmt.Errorf("serving certificate from the CA: %w", err)
	}
	if err := p.bundle.Set(chain, key, roots); err != nil {
		return fmt.Errorf("serving certificate from the CA: %w", err)
	}
	p.signer = signer
	leaf := p.bundle.Leaf()
	p.log.Info("issued serving certificate",
		zap.Strings("names", names), zap.Time("notAfter", leaf.NotAfter), zap.String("issuer", leaf.Issuer.String()))
	return nil
}

// follow brings the bundle up to the CA: a new certificate when the signer
// changed or renewal is due, else the CA's current roots.
func (p *IstiodProvider) follow(now time.Time) {
	if !p.ca.SigningCert().Equal(p.signer) || now.After(p.bundle.RenewAt()) {
		if err := p.issue(); err != nil {
			p.log.Error("renewing serving certificate failed; retrying", zap.Error(err))
		}
		return
	}
	roots := p.ca.RootPEM()
	if bytes.Equal(roots, p.bundle.RootsPEM()) {
		return
	}
	if err := p.bundle.Set(p.bundle.CertChainPEM(), p.bundle.KeyPEM(), roots); err != nil {
		p.log.Error("updating the trusted roots failed; retrying", zap.Error(err))
		return
	}
	p.log.Info("the CA's trust bundle changed; listeners trust the new roots")
}

// Run renews the certificate when due, and follows the CA's signer and
// roots on each of its changes, until ctx is done. A failed renewal is
// retried at the next check.
func (p *IstiodProvider) Run(ctx context.Context) {
	t := time.NewTicker(renewCheckInterval)
	defer t.Stop()
	for {
		changed := p.ca.Changed()
		p.follow(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-t.C:
		}
	}
}
