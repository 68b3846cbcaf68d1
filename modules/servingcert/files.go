package servingcert

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/internal/pemutil"
)

// FilesProvider keeps a Bundle filled from certificate, key and CA files,
// re-reading them every ReloadInterval. A half-written update (key and cert
// not matching) is logged and retried, and the old certificate stays in use.
type FilesProvider struct {
	opts   Options
	log    *zap.Logger
	bundle *Bundle
}

// NewFilesProvider loads the files into a new Bundle; an unreadable or
// mismatched set is an error naming the files.
func NewFilesProvider(opts Options, log *zap.Logger) (*FilesProvider, error) {
	p := &FilesProvider{opts: opts, log: log, bundle: NewBundle()}
	if err := p.load(); err != nil {
		return nil, err
	}
	return p, nil
}

// Bundle returns the bundle this provider fills.
func (p *FilesProvider) Bundle() *Bundle { return p.bundle }

// load reads the files with pemutil's bounds (regular files of at most
// 1 MiB; the key readable by its owner only) and puts them in the bundle.
func (p *FilesProvider) load() error {
	chain, err := pemutil.ReadFile(p.opts.CertFile)
	if err != nil {
		return fmt.Errorf("serving certificate file: %w", err)
	}
	key, err := pemutil.ReadPrivateFile(p.opts.KeyFile)
	if err != nil {
		return fmt.Errorf("serving key file: %w", err)
	}
	var roots []byte
	if p.opts.CACertFile != "" {
		if roots, err = pemutil.ReadFile(p.opts.CACertFile); err != nil {
			return fmt.Errorf("client CA file: %w", err)
		}
	}
	if err := p.bundle.Set(chain, key, roots); err != nil {
		return fmt.Errorf("serving certificate files %s, %s, %s: %w", p.opts.CertFile, p.opts.KeyFile, p.opts.CACertFile, err)
	}
	return nil
}

// Run re-reads the files every ReloadInterval until ctx is done.
func (p *FilesProvider) Run(ctx context.Context) {
	t := time.NewTicker(time.Duration(p.opts.ReloadInterval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			before := p.bundle.Leaf()
			if err := p.load(); err != nil {
				p.log.Warn("reloading serving certificate files failed; keeping the current one", zap.Error(err))
			} else if after := p.bundle.Leaf(); after != before {
				p.log.Info("reloaded serving certificate", zap.String("certFile", p.opts.CertFile), zap.Time("notAfter", after.NotAfter))
			}
		}
	}
}
