package ca

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bootgraph/bootgraph/internal/pemutil"
)

// Stored is a CA's signing material as a Store keeps it, in PEM, under
// istiod's names.
type Stored struct {
	CertPEM      []byte // ca-cert.pem: the signing certificate
	KeyPEM       []byte // ca-key.pem: its key
	CertChainPEM []byte // cert-chain.pem: intermediates (plugged-in CAs)
	RootPEM      []byte // root-cert.pem: the root bundle
	// PluggedIn marks an operator-supplied CA (istiod's cacerts), verified
	// as such: a CA certificate that chains through CertChainPEM to RootPEM.
	PluggedIn bool
	// Created is set when this call stored newly generated material.
	Created bool
	// Where names the place for logs and errors, e.g. a directory or
	// "Secret istio-system/istio-ca-secret".
	Where string
}

// Store keeps the CA's root, as istiod keeps it in the istio-ca-secret
// Secret. The default is a FileStore in the local data directory; the kube
// module provides one backed by Secrets, and the graph decides which.
type Store interface {
	// LoadOrCreate returns the stored material, or stores what generate
	// makes when there is none yet. Replicas that start at once must all
	// end with the same material: the first one stored.
	LoadOrCreate(ctx context.Context, generate func() (*Stored, error)) (*Stored, error)
}

// FileStore keeps a self-signed root in a local directory, under
// istio-ca-secret's names: ca-cert.pem, ca-key.pem, root-cert.pem. The
// directory is 0700 and the files 0600.
type FileStore struct {
	Dir string
}

// LoadOrCreate implements Store. A directory holding only one of
// ca-cert.pem and ca-key.pem is an error naming the missing file.
func (s FileStore) LoadOrCreate(_ context.Context, generate func() (*Stored, error)) (*Stored, error) {
	certPath, keyPath := filepath.Join(s.Dir, CACertFile), filepath.Join(s.Dir, CAKeyFile)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		return &Stored{CertPEM: certPEM, KeyPEM: keyPEM, RootPEM: certPEM, Where: s.Dir}, nil
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
		return s.create(generate)
	case certErr != nil && !errors.Is(certErr, fs.ErrNotExist):
		return nil, fmt.Errorf("ca: read %s: %w", certPath, certErr)
	case keyErr != nil && !errors.Is(keyErr, fs.ErrNotExist):
		return nil, fmt.Errorf("ca: read %s: %w", keyPath, keyErr)
	case certErr != nil:
		return nil, s.incomplete(CACertFile, CAKeyFile)
	default:
		return nil, s.incomplete(CAKeyFile, CACertFile)
	}
}

func (s FileStore) incomplete(missing, present string) error {
	return fmt.Errorf("ca: self-signed root in %s is incomplete: %s is missing but %s exists; restore it or remove both to generate a new root",
		s.Dir, missing, present)
}

// create persists generated material: the key last, so that a crash
// between writes leaves an incomplete set that the next start reports.
func (s FileStore) create(generate func() (*Stored, error)) (*Stored, error) {
	st, err := generate()
	if err != nil {
		return nil, err
	}
	if err := pemutil.EnsureSecretDir(s.Dir); err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{RootCertFile, st.RootPEM}, {CACertFile, st.CertPEM}, {CAKeyFile, st.KeyPEM}} {
		if err := pemutil.WriteSecretFile(filepath.Join(s.Dir, f.name), f.data); err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
	}
	st.Created, st.Where = true, s.Dir
	return st, nil
}

// fromStored verifies stored material and makes it the CA's authority.
func fromStored(st *Stored) (*authority, error) {
	if st.PluggedIn {
		a, err := parsePlugged(map[string][]byte{
			CACertFile: st.CertPEM, CAKeyFile: st.KeyPEM, CertChainFile: st.CertChainPEM, RootCertFile: st.RootPEM,
		})
		if err != nil {
			return nil, fmt.Errorf("ca: plugged-in CA in %s: %w", st.Where, err)
		}
		return a, nil
	}
	a, err := parseSelfSigned(st.CertPEM, st.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("ca: self-signed root in %s: %w", st.Where, err)
	}
	return a, nil
}

func parseSelfSigned(certPEM, keyPEM []byte) (*authority, error) {
	certs, err := pemutil.ParseCerts(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CACertFile, err)
	}
	key, err := pemutil.ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CAKeyFile, err)
	}
	return newAuthority(key, certs[0], nil, certs[:1], "self-signed")
}
