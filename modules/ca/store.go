package ca

import (
	"bytes"
	"context"
	"fmt"

	"go.uber.org/zap"

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
//
// The three files are written as one generation (pemutil.WriteGeneration:
// a new directory, fsynced, swapped in by renaming the ..data symlink, the
// names being symlinks through ..data), so a crash while the root is first
// stored leaves either no root, and the next start generates one (no
// certificate can have been issued from a root that was never stored), or
// the complete root. An incomplete set is then never the debris of a
// crash but a file lost since, and is refused rather than replaced.
type FileStore struct {
	Dir string
	// Log, if set, hears what LoadOrCreate cleaned up.
	Log *zap.Logger
}

// storeFiles are the files of a self-signed root, as FileStore reads them.
var storeFiles = []pemutil.Spec{{Name: CACertFile}, {Name: CAKeyFile, Private: true}, {Name: RootCertFile}}

// LoadOrCreate implements Store. It refuses a directory that group or
// others may write and a ca-key.pem that they may read (pemutil's rules),
// removes what an interrupted write left, and reports a directory holding
// only one of ca-cert.pem and ca-key.pem as an error naming the missing file.
func (s FileStore) LoadOrCreate(_ context.Context, generate func() (*Stored, error)) (*Stored, error) {
	if err := pemutil.CheckPrivateDir(s.Dir, false); err != nil {
		return nil, fmt.Errorf("ca: self-signed root: %w", err)
	}
	s.tidy()
	data, err := pemutil.ReadGeneration(s.Dir, storeFiles...)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	certPEM, hasCert := data[CACertFile]
	keyPEM, hasKey := data[CAKeyFile]
	switch {
	case hasCert && hasKey:
		root := data[RootCertFile]
		if len(root) == 0 {
			root = certPEM // as istiod's istio-ca-secret, which has none
		}
		return &Stored{CertPEM: certPEM, KeyPEM: keyPEM, RootPEM: root, Where: s.Dir}, nil
	case !hasCert && !hasKey:
		return s.create(generate)
	case !hasCert:
		return nil, s.incomplete(CACertFile, CAKeyFile)
	default:
		return nil, s.incomplete(CAKeyFile, CACertFile)
	}
}

// tidy removes the debris of an interrupted write (temp files such as
// .ca-key.pem.tmp*, generations never swapped in) and makes the links a
// write interrupted after its swap did not make. It is best effort: a
// read-only directory still loads.
func (s FileStore) tidy() {
	log := s.Log
	if log == nil {
		log = zap.NewNop()
	}
	names := []string{CACertFile, CAKeyFile, RootCertFile}
	removed, err := pemutil.RemoveStale(s.Dir, names...)
	if len(removed) > 0 {
		log.Info("removed what an interrupted write of the root left", zap.String("dir", s.Dir), zap.Strings("removed", removed))
	}
	if err != nil {
		log.Warn("could not remove what an interrupted write of the root left", zap.String("dir", s.Dir), zap.Error(err))
	}
	if repaired, err := pemutil.RepairLinks(s.Dir, names...); err != nil {
		log.Warn("could not restore the links of the stored root", zap.String("dir", s.Dir), zap.Error(err))
	} else if repaired {
		log.Info("restored the links of the stored root that an interrupted write did not make", zap.String("dir", s.Dir))
	}
}

func (s FileStore) incomplete(missing, present string) error {
	return fmt.Errorf("ca: self-signed root in %s is incomplete: %s is missing but %s exists; restore it or remove both to generate a new root",
		s.Dir, missing, present)
}

// create persists generated material as one generation.
func (s FileStore) create(generate func() (*Stored, error)) (*Stored, error) {
	st, err := generate()
	if err != nil {
		return nil, err
	}
	err = pemutil.WriteGeneration(s.Dir, []pemutil.File{
		{Name: RootCertFile, Data: st.RootPEM}, {Name: CACertFile, Data: st.CertPEM}, {Name: CAKeyFile, Data: st.KeyPEM},
	})
	if err != nil {
		return nil, fmt.Errorf("ca: store the self-signed root: %w", err)
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
	a, err := parseSelfSigned(st.CertPEM, st.KeyPEM, st.RootPEM)
	if err != nil {
		return nil, fmt.Errorf("ca: self-signed root in %s: %w", st.Where, err)
	}
	return a, nil
}

// parseSelfSigned checks a self-signed root: ca-cert.pem holds one
// certificate, its own issuer, and root-cert.pem (empty: ca-cert.pem's)
// the same one; clients trust root-cert.pem, so any other content would
// make every certificate the CA issues fail verification.
func parseSelfSigned(certPEM, keyPEM, rootPEM []byte) (*authority, error) {
	certs, err := pemutil.ParseCerts(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CACertFile, err)
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("%s holds %d certificates; a self-signed root is one", CACertFile, len(certs))
	}
	if len(bytes.TrimSpace(rootPEM)) > 0 {
		roots, err := pemutil.ParseCerts(rootPEM)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", RootCertFile, err)
		}
		if len(roots) != 1 || !roots[0].Equal(certs[0]) {
			return nil, fmt.Errorf("%s differs from %s: a self-signed root is its own root, so they must hold the same certificate; "+
				"restore %s from %s, or use a plugged-in CA for a root of another issuer", RootCertFile, CACertFile, RootCertFile, CACertFile)
		}
	}
	key, err := pemutil.ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CAKeyFile, err)
	}
	return newAuthority(key, certs[0], nil, certs[:1], "self-signed")
}
