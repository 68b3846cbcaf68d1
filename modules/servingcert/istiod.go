package servingcert

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/modules/ca"
)

// IstiodProvider keeps a Bundle filled with a certificate signed by the CA,
// renewing it at half its lifetime and when the CA's roots change.
type IstiodProvider struct {
	ca     *ca.CA
	opts   Options
	names  []string
	log    *zap.Logger
	bundle *Bundle
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
	chain, key, err := p.ca.GenKeyCert(names, time.Duration(p.opts.TTL))
	if err != nil {
		return fmt.Errorf("serving certificate from the CA: %w", err)
	}
	if err := p.bundle.Set(chain, key, p.ca.RootPEM()); err != nil {
		return fmt.Errorf("serving certificate from the CA: %w", err)
	}
	leaf := p.bundle.Leaf()
	p.log.Info("issued serving certificate",
		zap.Strings("names", names), zap.Time("notAfter", leaf.NotAfter))
	return nil
}

// Run renews the certificate when due or when the CA's roots change, until
// ctx is done. A failed renewal is retried at the next check.
func (p *IstiodProvider) Run(ctx context.Context) {
	checkEvery(ctx, renewCheckInterval, func(now time.Time) {
		rootsChanged := string(p.ca.RootPEM()) != string(p.bundle.RootsPEM())
		if rootsChanged || now.After(p.bundle.RenewAt()) {
			if err := p.issue(); err != nil {
				p.log.Error("renewing serving certificate failed; retrying", zap.Error(err))
			}
		}
	})
}
