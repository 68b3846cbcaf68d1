package servingcert

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bootgraph/bootgraph/internal/pemutil"
)

var errNoCertificate = errors.New("no serving certificate")

// Bundle holds the current serving certificate and trusted roots. It is safe
// for concurrent use; Set swaps both atomically.
type Bundle struct {
	state atomic.Pointer[material]

	mu          sync.Mutex
	subscribers []func()
}

// material is one immutable generation of the bundle.
type material struct {
	cert         tls.Certificate
	leaf         *x509.Certificate
	certChainPEM []byte
	keyPEM       []byte
	rootsPEM     []byte
	roots        *x509.CertPool
}

// NewBundle returns an empty bundle; it serves nothing until Set.
func NewBundle() *Bundle { return &Bundle{} }

// Set replaces the certificate chain, key and roots. It checks that the key
// matches the leaf and that the roots parse; on error the bundle keeps its
// previous content. Subscribers are called after a successful change.
func (b *Bundle) Set(certChainPEM, keyPEM, rootsPEM []byte) error {
	cert, err := tls.X509KeyPair(certChainPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("serving certificate and key: %w", err)
	}
	roots := x509.NewCertPool()
	if len(rootsPEM) > 0 {
		certs, err := pemutil.ParseCerts(rootsPEM)
		if err != nil {
			return fmt.Errorf("roots: %w", err)
		}
		for _, c := range certs {
			roots.AddCert(c)
		}
	}
	if old := b.state.Load(); old != nil && bytes.Equal(old.certChainPEM, certChainPEM) &&
		bytes.Equal(old.keyPEM, keyPEM) && bytes.Equal(old.rootsPEM, rootsPEM) {
		return nil // unchanged: keep the cached TLS configs
	}
	b.state.Store(&material{
		cert: cert, leaf: cert.Leaf,
		certChainPEM: certChainPEM, keyPEM: keyPEM, rootsPEM: rootsPEM,
		roots: roots,
	})
	b.notify()
	return nil
}

// Subscribe calls fn after every change of the bundle.
func (b *Bundle) Subscribe(fn func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subscribers = append(b.subscribers, fn)
}

func (b *Bundle) notify() {
	b.mu.Lock()
	subs := append([]func(){}, b.subscribers...)
	b.mu.Unlock()
	for _, fn := range subs {
		fn()
	}
}

// Leaf returns the current serving certificate, or nil before the first Set.
func (b *Bundle) Leaf() *x509.Certificate {
	if m := b.state.Load(); m != nil {
		return m.leaf
	}
	return nil
}

// CertChainPEM and KeyPEM return the current certificate chain and key.
func (b *Bundle) CertChainPEM() []byte {
	return b.field(func(m *material) []byte { return m.certChainPEM })
}

// KeyPEM returns the current private key in PEM. Never log it.
func (b *Bundle) KeyPEM() []byte { return b.field(func(m *material) []byte { return m.keyPEM }) }

// RootsPEM returns the roots that listeners trust for client certificates.
func (b *Bundle) RootsPEM() []byte { return b.field(func(m *material) []byte { return m.rootsPEM }) }

func (b *Bundle) field(get func(*material) []byte) []byte {
	if m := b.state.Load(); m != nil {
		return get(m)
	}
	return nil
}

// Roots returns the current roots as a pool.
func (b *Bundle) Roots() *x509.CertPool {
	if m := b.state.Load(); m != nil {
		return m.roots
	}
	return x509.NewCertPool()
}

// RenewAt is when the current certificate is due for renewal: after
// renewFraction of its lifetime; the zero time before the first Set.
func (b *Bundle) RenewAt() time.Time {
	leaf := b.Leaf()
	if leaf == nil {
		return time.Time{}
	}
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	return leaf.NotBefore.Add(time.Duration(float64(life) * renewFraction))
}

// Valid returns nil when the bundle holds a certificate valid at now.
func (b *Bundle) Valid(now time.Time) error {
	leaf := b.Leaf()
	switch {
	case leaf == nil:
		return errNoCertificate
	case now.Before(leaf.NotBefore):
		return fmt.Errorf("serving certificate is not valid before %s", leaf.NotBefore.Format(time.RFC3339))
	case now.After(leaf.NotAfter):
		return fmt.Errorf("serving certificate expired at %s", leaf.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// GetCertificate returns the current certificate, for tls.Config.
func (b *Bundle) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	m := b.state.Load()
	if m == nil {
		return nil, errNoCertificate
	}
	return &m.cert, nil
}

// ServerTLSConfig returns a server config that presents the current
// certificate and, when base asks for client certificates, verifies them
// against the current roots, both read per handshake. base supplies
// everything else (ClientAuth, NextProtos, ...); its MinVersion is raised to
// TLS 1.2 if lower.
func (b *Bundle) ServerTLSConfig(base *tls.Config) *tls.Config {
	if base == nil {
		base = &tls.Config{}
	}
	base = base.Clone()
	if base.MinVersion < tls.VersionTLS12 {
		base.MinVersion = tls.VersionTLS12
	}
	type derived struct {
		m   *material
		cfg *tls.Config
	}
	var cache atomic.Pointer[derived]
	outer := base.Clone()
	outer.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		m := b.state.Load()
		if m == nil {
			return nil, errNoCertificate
		}
		if d := cache.Load(); d != nil && d.m == m {
			return d.cfg, nil
		}
		cfg := base.Clone()
		cfg.Certificates = []tls.Certificate{m.cert}
		cfg.ClientCAs = m.roots
		cache.Store(&derived{m: m, cfg: cfg})
		return cfg, nil
	}
	return outer
}
