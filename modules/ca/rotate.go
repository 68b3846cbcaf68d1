package ca

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/bootgraph/bootgraph/internal/pemutil"
)

// beginSelfSigned starts a rotation of t, a self-signed root at rest:
// renew issues the root again with the same key (effective at once);
// rekey makes a new key pair and root that joins the bundle and signs
// after the propagation delay.
func beginSelfSigned(t *trust, opts Options, kind RotationKind, reason string, now time.Time) (*trust, string, error) {
	switch {
	case t.source != SourceSelfSigned:
		return nil, "", fmt.Errorf("ca: the CA is plugged in (%s): rotate it by replacing its files or Secret; the plane reloads them", t.where)
	case t.state.Phase != PhaseIdle || t.next != nil:
		return nil, "", fmt.Errorf("ca: a rotation is in progress (phase %s, next step at %s); wait for it to finish",
			t.state.Phase, t.nextStep().UTC().Format(time.RFC3339))
	}
	switch kind {
	case RotateRenew:
		cert, err := reissue(t.signer, time.Duration(opts.RootTTL))
		if err != nil {
			return nil, "", fmt.Errorf("ca: renew the root: %w", err)
		}
		next, err := newAuthority(t.signer.signer, cert, nil, []*x509.Certificate{cert}, SourceSelfSigned)
		if err != nil {
			return nil, "", fmt.Errorf("ca: renew the root: %w", err)
		}
		next.stored = &Stored{CertPEM: pemutil.EncodeCert(cert.Raw), KeyPEM: t.signer.stored.KeyPEM}
		return t.renewed(next, reason, now), eventRenewed, nil
	case RotateRekey:
		st, err := generateSelfSigned(opts)
		if err != nil {
			return nil, "", err
		}
		next, err := parseSelfSigned(st.CertPEM, st.KeyPEM)
		if err != nil {
			return nil, "", fmt.Errorf("ca: the new root: %w", err)
		}
		next.stored = &Stored{CertPEM: st.CertPEM, KeyPEM: st.KeyPEM}
		retireAfter := time.Duration(opts.MaxCertTTL) + time.Duration(opts.ReloadInterval)
		return t.begin(next, RotateRekey, reason, now, time.Duration(opts.Rotation.PropagationDelay), retireAfter), eventStarted, nil
	}
	return nil, "", fmt.Errorf("ca: rotation kind %q is not %s or %s", kind, RotateRenew, RotateRekey)
}

// reissue signs a's certificate again with its own key: the same subject
// and key (so the same subject key ID), a new serial and validity. What
// the old certificate signed verifies with the new one.
func reissue(a *authority, ttl time.Duration) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	old := a.cert
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               old.Subject,
		SubjectKeyId:          old.SubjectKeyId,
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(ttl),
		KeyUsage:              old.KeyUsage,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, a.signer.Public(), a.signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// RotateStored starts a rotation of the self-signed root kept in store,
// as `bootgraph ca rotate` does: with the plane running (it notices the
// stored change and adopts it) or stopped (it resumes at the next start).
// The write is conditional: if the plane or another replica changed the
// root meanwhile, it fails with ErrConflict and nothing is written.
func RotateStored(ctx context.Context, opts Options, store RotationStore, kind RotationKind) (Status, error) {
	opts.SetDefaults()
	if err := opts.Validate(); err != nil {
		return Status{}, err
	}
	t, err := storedTrust(ctx, opts, store)
	if err != nil {
		return Status{}, err
	}
	n, event, err := beginSelfSigned(t, opts, kind, "manual", time.Now())
	if err != nil {
		return Status{}, err
	}
	rotationStep(event + " save")
	st, err := store.Save(ctx, n.toStored())
	if err != nil {
		return Status{}, err
	}
	n.version, n.where = st.Version, st.Where
	return n.status(opts), nil
}

// StoredStatus describes the CA that opts and store hold, without running
// it: the plugged-in CA of PluggedCertsDir or the store, else the stored
// self-signed root and its rotation phase.
func StoredStatus(ctx context.Context, opts Options, store RotationStore) (Status, error) {
	opts.SetDefaults()
	if err := opts.Validate(); err != nil {
		return Status{}, err
	}
	t, err := storedTrust(ctx, opts, store)
	if err != nil {
		return Status{}, err
	}
	return t.status(opts), nil
}

// storedTrust reads what a plane with opts and store would start with,
// creating nothing.
func storedTrust(ctx context.Context, opts Options, store RotationStore) (*trust, error) {
	if opts.PluggedCertsDir != "" {
		st, err := readPluggedDir(opts.PluggedCertsDir)
		if err != nil {
			return nil, err
		}
		if st != nil {
			return trustFromStored(st)
		}
	}
	if ps, ok := store.(PluggedSource); ok {
		st, err := ps.LoadPlugged(ctx)
		if err != nil {
			return nil, err
		}
		if st != nil {
			return trustFromStored(st)
		}
	}
	st, err := store.Load(ctx)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("ca: no root stored yet; start the plane once (bootgraph serve) to create it")
	}
	return trustFromStored(st)
}
