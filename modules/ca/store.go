package ca

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

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

	// Rotation is RotationFile's content: the phase of a rotation of a
	// self-signed root (empty: idle, never rotated). RootPEM then holds
	// the whole bundle, the signer's root first.
	Rotation []byte
	// NextCertPEM and NextKeyPEM are the next root and its key while a
	// re-key propagates.
	NextCertPEM, NextKeyPEM []byte
	// Version identifies what was loaded, for RotationStore.Save's
	// optimistic concurrency: a resourceVersion, a generation directory.
	Version string
}

// ErrStoreUnavailable is wrapped by a store's error when the store did not
// answer (the API server away): the CA keeps what it has and retries,
// without reporting a bad set.
var ErrStoreUnavailable = errors.New("the CA's store is unavailable")

// ErrConflict is returned by RotationStore.Save when the stored material
// changed since it was loaded (another replica, `bootgraph ca rotate`).
var ErrConflict = errors.New("the stored root changed since it was read")

// RotationStore is a Store that self-signed root rotation can use: it
// reads and conditionally writes the root with its rotation phase, and
// reports changes that others make. FileStore and the kube part's
// SecretStore are ones; a Store that is not keeps its root unrotated.
type RotationStore interface {
	Store
	// Load returns the stored self-signed root, or nil when there is none.
	Load(ctx context.Context) (*Stored, error)
	// Save stores st if what is stored is still at st.Version, else fails
	// with ErrConflict; it returns st with its new Version.
	Save(ctx context.Context, st *Stored) (*Stored, error)
	// Watch calls changed whenever the stored root (or a plugged-in CA
	// the store holds) may have changed, until ctx is done.
	Watch(ctx context.Context, changed func())
}

// PluggedSource is a store that also holds an operator's CA (the kube
// part's cacerts Secret): the CA reloads it when it changes.
type PluggedSource interface {
	// LoadPlugged returns the plugged-in CA, or nil when there is none.
	LoadPlugged(ctx context.Context) (*Stored, error)
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
var storeFiles = []pemutil.Spec{
	{Name: CACertFile}, {Name: CAKeyFile, Private: true}, {Name: RootCertFile},
	{Name: RotationFile}, {Name: NextCertFile}, {Name: NextKeyFile, Private: true},
}

// storeNames are the names of storeFiles, for tidying.
var storeNames = []string{CACertFile, CAKeyFile, RootCertFile, RotationFile, NextCertFile, NextKeyFile}

// LoadOrCreate implements Store. It refuses a directory that group or
// others may write and a ca-key.pem that they may read (pemutil's rules),
// removes what an interrupted write left, and reports a directory holding
// only one of ca-cert.pem and ca-key.pem as an error naming the missing file.
func (s FileStore) LoadOrCreate(_ context.Context, generate func() (*Stored, error)) (*Stored, error) {
	if err := pemutil.CheckPrivateDir(s.Dir, false); err != nil {
		return nil, fmt.Errorf("ca: self-signed root: %w", err)
	}
	s.tidy()
	st, err := s.read()
	if err != nil || st != nil {
		return st, err
	}
	if err := pemutil.EnsureSecretDir(s.Dir); err != nil {
		return nil, fmt.Errorf("ca: store the self-signed root: %w", err)
	}
	unlock, err := pemutil.LockDir(s.Dir)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	defer unlock()
	// Another process (`bootgraph ca`, a second plane) may have stored one
	// while we waited for the lock.
	if st, err := s.read(); err != nil || st != nil {
		return st, err
	}
	return s.create(generate)
}

// read returns the stored root, nil when there is none.
func (s FileStore) read() (*Stored, error) {
	data, version, err := pemutil.ReadGenerationVersion(s.Dir, storeFiles...)
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
		return &Stored{CertPEM: certPEM, KeyPEM: keyPEM, RootPEM: root, Where: s.Dir,
			Rotation: data[RotationFile], NextCertPEM: data[NextCertFile], NextKeyPEM: data[NextKeyFile], Version: version}, nil
	case !hasCert && !hasKey:
		return nil, nil
	case !hasCert:
		return nil, s.incomplete(CACertFile, CAKeyFile)
	default:
		return nil, s.incomplete(CAKeyFile, CACertFile)
	}
}

// Load implements RotationStore.
func (s FileStore) Load(context.Context) (*Stored, error) {
	if _, err := os.Stat(s.Dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err := pemutil.CheckPrivateDir(s.Dir, false); err != nil {
		return nil, fmt.Errorf("ca: self-signed root: %w", err)
	}
	return s.read()
}

// Save implements RotationStore: under an exclusive lock of the directory
// (other processes: `bootgraph ca rotate`), it writes st as one new
// generation if the current one is still st.Version.
func (s FileStore) Save(_ context.Context, st *Stored) (*Stored, error) {
	unlock, err := pemutil.LockDir(s.Dir)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	defer unlock()
	current, err := pemutil.GenerationVersion(s.Dir)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	if current != st.Version {
		return nil, fmt.Errorf("ca: %s: %w", s.Dir, ErrConflict)
	}
	if err := pemutil.WriteGeneration(s.Dir, storedFiles(st)); err != nil {
		return nil, fmt.Errorf("ca: store the rotated root in %s: %w", s.Dir, err)
	}
	out := *st
	if out.Version, err = pemutil.GenerationVersion(s.Dir); err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	out.Where = s.Dir
	return &out, nil
}

// Watch implements RotationStore: fsnotify on the directory (a new
// generation renames ..data), until ctx is done.
func (s FileStore) Watch(ctx context.Context, changed func()) {
	log := s.Log
	if log == nil {
		log = zap.NewNop()
	}
	watchDir(ctx, s.Dir, log, changed)
}

// storedFiles are the files of st's generation; the rotation files only
// when they have content.
func storedFiles(st *Stored) []pemutil.File {
	files := []pemutil.File{{Name: RootCertFile, Data: st.RootPEM}, {Name: CACertFile, Data: st.CertPEM}, {Name: CAKeyFile, Data: st.KeyPEM}}
	for _, f := range []pemutil.File{{Name: RotationFile, Data: st.Rotation}, {Name: NextCertFile, Data: st.NextCertPEM}, {Name: NextKeyFile, Data: st.NextKeyPEM}} {
		if len(f.Data) > 0 {
			files = append(files, f)
		}
	}
	return files
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
	names := storeNames
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
	if st.Version, err = pemutil.GenerationVersion(s.Dir); err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	return st, nil
}

// fromStored verifies a plugged-in CA and makes it an authority.
func fromStored(st *Stored) (*authority, error) {
	a, err := parsePlugged(map[string][]byte{
		CACertFile: st.CertPEM, CAKeyFile: st.KeyPEM, CertChainFile: st.CertChainPEM, RootCertFile: st.RootPEM,
	})
	if err != nil {
		return nil, fmt.Errorf("ca: plugged-in CA in %s: %w", st.Where, err)
	}
	a.stored = st
	return a, nil
}

// trustFromStored verifies stored material and makes it the CA's state.
func trustFromStored(st *Stored) (*trust, error) {
	if st.PluggedIn {
		a, err := fromStored(st)
		if err != nil {
			return nil, err
		}
		return &trust{source: SourcePlugged, signer: a, roots: a.signerRoots, state: RotationState{Phase: PhaseIdle}, where: st.Where}, nil
	}
	t, err := parseSelfSignedSet(st)
	if err != nil {
		return nil, fmt.Errorf("ca: self-signed root in %s: %w", st.Where, err)
	}
	t.where, t.version = st.Where, st.Version
	return t, nil
}

// parseSelfSignedSet checks a stored self-signed root with its rotation
// phase: ca-cert.pem is the signer, its own issuer; root-cert.pem (empty:
// ca-cert.pem's) is the bundle, which holds the signer's root and, during
// a rotation, only the roots its phase accounts for: the next root while
// a re-key propagates, the retiring roots after the switch. Clients trust
// root-cert.pem, so any other content would make what the CA issues fail
// verification somewhere.
func parseSelfSignedSet(st *Stored) (*trust, error) {
	state, err := decodeState(st.Rotation)
	if err != nil {
		return nil, err
	}
	signer, err := parseSelfSigned(st.CertPEM, st.KeyPEM)
	if err != nil {
		return nil, err
	}
	signer.stored = &Stored{CertPEM: st.CertPEM, KeyPEM: st.KeyPEM}
	t := &trust{source: SourceSelfSigned, signer: signer, roots: signer.signerRoots, state: state}
	if len(bytes.TrimSpace(st.RootPEM)) > 0 {
		if t.roots, err = pemutil.ParseCerts(st.RootPEM); err != nil {
			return nil, fmt.Errorf("%s: %w", RootCertFile, err)
		}
	}
	if !containsCert(t.roots, signer.cert) {
		return nil, fmt.Errorf("%s differs from %s: a self-signed root is its own root, so they must hold the same certificate; "+
			"restore %s from %s, or use a plugged-in CA for a root of another issuer", RootCertFile, CACertFile, RootCertFile, CACertFile)
	}
	switch state.Phase {
	case PhasePropagating:
		if len(st.NextCertPEM) == 0 || len(st.NextKeyPEM) == 0 {
			return nil, fmt.Errorf("%s says %s but %s or %s is missing", RotationFile, state.Phase, NextCertFile, NextKeyFile)
		}
		if t.next, err = parseSelfSigned(st.NextCertPEM, st.NextKeyPEM); err != nil {
			return nil, fmt.Errorf("the next root: %w", err)
		}
		t.next.stored = &Stored{CertPEM: st.NextCertPEM, KeyPEM: st.NextKeyPEM}
	case PhaseIdle, PhaseRetiring:
		if len(st.NextCertPEM) > 0 {
			return nil, fmt.Errorf("%s holds a next root but %s says %s", NextCertFile, RotationFile, state.Phase)
		}
	}
	for _, r := range t.roots {
		switch {
		case r.Equal(signer.cert):
		case t.next != nil && r.Equal(t.next.cert):
		case state.Phase == PhaseRetiring && slices.Contains(state.Retiring, Fingerprint(r)):
		default:
			return nil, fmt.Errorf("%s differs from %s: it holds %s (%s), which %s does not account for (phase %s); "+
				"a self-signed root is its own root", RootCertFile, CACertFile, r.Subject, short(Fingerprint(r)), RotationFile, state.Phase)
		}
	}
	if t.next != nil && !containsCert(t.roots, t.next.cert) {
		return nil, fmt.Errorf("%s lacks the next root of %s", RootCertFile, NextCertFile)
	}
	return t, nil
}

// toStored is t's self-signed material as a store keeps it.
func (t *trust) toStored() *Stored {
	st := &Stored{
		CertPEM: t.signer.stored.CertPEM, KeyPEM: t.signer.stored.KeyPEM,
		RootPEM: pemutil.EncodeCerts(t.roots...), Rotation: encodeState(t.state),
		Version: t.version, Where: t.where,
	}
	if t.next != nil {
		st.NextCertPEM, st.NextKeyPEM = t.next.stored.CertPEM, t.next.stored.KeyPEM
	}
	return st
}

// parseSelfSigned checks a self-signed root: certPEM holds one
// certificate, its own issuer, and keyPEM its key.
func parseSelfSigned(certPEM, keyPEM []byte) (*authority, error) {
	certs, err := pemutil.ParseCerts(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CACertFile, err)
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("%s holds %d certificates; a self-signed root is one", CACertFile, len(certs))
	}
	key, err := pemutil.ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CAKeyFile, err)
	}
	return newAuthority(key, certs[0], nil, certs[:1], SourceSelfSigned)
}

var _ RotationStore = FileStore{}
