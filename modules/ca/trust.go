package ca

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Phase is where a rotation of the CA's signer stands. The phase of a
// self-signed root is persisted with it (RotationFile, or the
// istio-ca-secret key of that name), so a plane killed at any step resumes
// where it was; the phase of a plugged-in CA's change is kept in memory.
type Phase string

// Phases of a rotation.
const (
	// PhaseIdle: one signer, and the bundle holds its root only.
	PhaseIdle Phase = "idle"
	// PhasePropagating: the next signer's root is in the bundle (every
	// workload learns to trust it) but the current signer still signs,
	// until SwitchAt.
	PhasePropagating Phase = "propagating"
	// PhaseRetiring: the new signer signs; the old roots stay in the
	// bundle until RetireAt, when every certificate they signed has
	// expired.
	PhaseRetiring Phase = "retiring"
)

// RotationFile holds a self-signed root's rotation phase, beside
// ca-cert.pem; absent means idle. NextCertFile and NextKeyFile hold the
// next root and its key while a re-key propagates.
const (
	RotationFile = "rotation.json"
	NextCertFile = "next-ca-cert.pem"
	NextKeyFile  = "next-ca-key.pem"
)

// RotationState is a rotation's phase and schedule.
type RotationState struct {
	Phase Phase `json:"phase"`
	// Kind and Reason ("automatic", "manual", "plugged-in") of the
	// rotation in progress, or of the last one.
	Kind   RotationKind `json:"kind,omitempty"`
	Reason string       `json:"reason,omitempty"`
	// Started is when the rotation began.
	Started time.Time `json:"started,omitzero"`
	// SwitchAt (propagating) is when the next signer starts signing.
	SwitchAt time.Time `json:"switchAt,omitzero"`
	// Switched is when the current signer started signing.
	Switched time.Time `json:"switched,omitzero"`
	// RetireAt (retiring) is when the Retiring roots leave the bundle.
	RetireAt time.Time `json:"retireAt,omitzero"`
	// Retiring are the SHA-256 fingerprints of the roots that leave.
	Retiring []string `json:"retiring,omitempty"`
	// Generation counts the persisted changes of the root and bundle.
	Generation int64 `json:"generation"`
}

// Sources of a CA's signer.
const (
	SourceSelfSigned = "self-signed"
	SourcePlugged    = "plugged-in"
)

// trust is the CA's whole state: who signs, who will, and the bundle.
// Values are immutable; transitions return new ones.
type trust struct {
	source string     // SourceSelfSigned or SourcePlugged
	signer *authority // verified; its material is in signer.stored
	next   *authority // PhasePropagating: the signer to be
	roots  []*x509.Certificate
	state  RotationState
	where  string // the store or directory the signer came from
	// version of the stored self-signed material this was loaded from or
	// saved as ("" for a plugged-in signer).
	version string
}

// Fingerprint is a certificate's SHA-256 fingerprint, lowercase hex, as
// `openssl x509 -fingerprint -sha256` shows it without the colons.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

func (t *trust) clone() *trust {
	n := *t
	n.roots = slices.Clone(t.roots)
	n.state.Retiring = slices.Clone(t.state.Retiring)
	return &n
}

// union returns a followed by the certificates of b not in a.
func union(a, b []*x509.Certificate) []*x509.Certificate {
	out := slices.Clone(a)
	for _, c := range b {
		if !containsCert(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// minus returns a without the certificates of b.
func minus(a, b []*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range a {
		if !containsCert(b, c) {
			out = append(out, c)
		}
	}
	return out
}

func containsCert(list []*x509.Certificate, c *x509.Certificate) bool {
	return slices.ContainsFunc(list, c.Equal)
}

// renewed is t with the signer replaced by next, the same key issued
// again: every certificate either signed verifies with the other, so the
// switch is immediate and nothing needs to retire.
func (t *trust) renewed(next *authority, reason string, now time.Time) *trust {
	n := t.clone()
	old := t.signer.signerRoots
	n.signer = next
	n.roots = union(next.signerRoots, minus(t.roots, old))
	n.state = RotationState{Phase: PhaseIdle, Kind: RotateRenew, Reason: reason, Started: now, Switched: now,
		Generation: t.state.Generation + 1}
	return n
}

// begin starts moving the signing to next. When next's roots are all in
// the bundle already, the switch is immediate; otherwise they join the
// bundle and next signs after delay.
func (t *trust) begin(next *authority, kind RotationKind, reason string, now time.Time, delay, retireAfter time.Duration) *trust {
	n := t.clone()
	n.state = RotationState{Kind: kind, Reason: reason, Started: now, Generation: t.state.Generation + 1}
	if !slices.ContainsFunc(next.signerRoots, func(r *x509.Certificate) bool { return !containsCert(t.roots, r) }) {
		return n.switchTo(next, now, retireAfter)
	}
	n.next = next
	n.roots = union(t.roots, next.signerRoots)
	n.state.Phase = PhasePropagating
	n.state.SwitchAt = now.Add(delay)
	return n
}

// switchTo makes next the signer: its roots go first in the bundle, and
// the roots it does not have retire once every certificate the old signer
// may have signed has expired: retireAfter from now (the longest lifetime
// plus the time other replicas take to notice), and never after the old
// signer's own validity, which bounds every certificate it signed.
func (t *trust) switchTo(next *authority, now time.Time, retireAfter time.Duration) *trust {
	old := t.signer
	t.signer, t.next = next, nil
	t.source = next.source
	if next.stored != nil && next.stored.Where != "" {
		t.where = next.stored.Where
	}
	bundle := t.roots
	t.roots = union(next.signerRoots, bundle)
	retiring := minus(bundle, next.signerRoots)
	t.state.Switched = now
	t.state.SwitchAt = time.Time{}
	if len(retiring) == 0 {
		t.state.Phase, t.state.Retiring, t.state.RetireAt = PhaseIdle, nil, time.Time{}
		return t
	}
	t.state.Phase = PhaseRetiring
	t.state.Retiring = nil
	for _, r := range retiring {
		t.state.Retiring = append(t.state.Retiring, Fingerprint(r))
	}
	t.state.RetireAt = now.Add(retireAfter)
	if old != nil && old.validUntil.Before(t.state.RetireAt) {
		t.state.RetireAt = old.validUntil
	}
	return t
}

// Rotation events, as counted in bootgraph_ca_rotation_events_total.
const (
	eventStarted  = "started"  // a rotation began: a re-key's root joined the bundle
	eventRenewed  = "renewed"  // the root was issued again with the same key
	eventSwitched = "switched" // the next signer took over
	eventRetired  = "retired"  // old roots left the bundle
	eventAdopted  = "adopted"  // another writer's change was loaded
	eventRefused  = "refused"  // a new signer or stored state failed verification
)

// advance takes the step that is due at now, if any: the switch of a
// propagating rotation, or the retirement of old roots. It returns nil
// when nothing is due.
func (t *trust) advance(now time.Time, retireAfter time.Duration) (*trust, string) {
	switch t.state.Phase {
	case PhasePropagating:
		if now.Before(t.state.SwitchAt) || t.next == nil {
			return nil, ""
		}
		n := t.clone()
		n.state.Generation++
		return n.switchTo(t.next, now, retireAfter), eventSwitched
	case PhaseRetiring:
		if now.Before(t.state.RetireAt) {
			return nil, ""
		}
		n := t.clone()
		n.state.Generation++
		var keep []*x509.Certificate
		for _, r := range t.roots {
			if !slices.Contains(t.state.Retiring, Fingerprint(r)) || containsCert(t.signer.signerRoots, r) {
				keep = append(keep, r)
			}
		}
		n.roots = keep
		n.state.Phase, n.state.Retiring, n.state.RetireAt = PhaseIdle, nil, time.Time{}
		return n, eventRetired
	}
	return nil, ""
}

// nextStep returns when the rotation in progress takes its next step.
func (t *trust) nextStep() time.Time {
	switch t.state.Phase {
	case PhasePropagating:
		return t.state.SwitchAt
	case PhaseRetiring:
		return t.state.RetireAt
	}
	return time.Time{}
}

// rotationDue returns when the signer's root enters the last threshold
// of its life (istiod's rule for its self-signed root).
func (t *trust) rotationDue(threshold float64) time.Time {
	c := t.signer.cert
	life := c.NotAfter.Sub(c.NotBefore)
	return c.NotAfter.Add(-time.Duration(float64(life) * threshold))
}

// encodeState is RotationFile's content; nil for a root never rotated.
func encodeState(s RotationState) []byte {
	if s.Generation == 0 && s.Phase == PhaseIdle {
		return nil
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		panic(err) // plain values: cannot fail
	}
	return append(b, '\n')
}

// decodeState parses RotationFile; empty is a root never rotated.
func decodeState(b []byte) (RotationState, error) {
	if len(strings.TrimSpace(string(b))) == 0 {
		return RotationState{Phase: PhaseIdle}, nil
	}
	var s RotationState
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", RotationFile, err)
	}
	switch s.Phase {
	case PhaseIdle:
	case PhasePropagating:
		if s.SwitchAt.IsZero() {
			return s, fmt.Errorf("%s: phase %s without switchAt", RotationFile, s.Phase)
		}
	case PhaseRetiring:
		if s.RetireAt.IsZero() || len(s.Retiring) == 0 {
			return s, fmt.Errorf("%s: phase %s without retireAt or retiring roots", RotationFile, s.Phase)
		}
	default:
		return s, fmt.Errorf("%s: unknown phase %q (want %s, %s or %s)", RotationFile, s.Phase, PhaseIdle, PhasePropagating, PhaseRetiring)
	}
	return s, nil
}

// RootInfo describes one root of the trust bundle.
type RootInfo struct {
	Subject     string    `json:"subject"`
	Fingerprint string    `json:"fingerprint"` // SHA-256, hex
	NotBefore   time.Time `json:"notBefore"`
	NotAfter    time.Time `json:"notAfter"`
	// Signing: the signer chains to this root.
	Signing bool `json:"signing,omitempty"`
	// Incoming: the next signer's root, trusted before it signs.
	Incoming bool `json:"incoming,omitempty"`
	// Retiring: leaves the bundle at the rotation's RetireAt.
	Retiring bool `json:"retiring,omitempty"`
	// Cert is the certificate itself.
	Cert *x509.Certificate `json:"-"`
}

// CertInfo describes a signing certificate.
type CertInfo struct {
	Subject     string    `json:"subject"`
	Issuer      string    `json:"issuer"`
	Fingerprint string    `json:"fingerprint"`
	NotBefore   time.Time `json:"notBefore"`
	NotAfter    time.Time `json:"notAfter"`
	Key         string    `json:"key"`
}

// Status is what `bootgraph ca status` shows: the roots, the signer, the
// rotation's phase and its next step.
type Status struct {
	Source   string        `json:"source"` // self-signed or plugged-in
	Where    string        `json:"where"`  // the directory or Secret it came from
	Signer   CertInfo      `json:"signer"`
	Next     *CertInfo     `json:"next,omitempty"` // propagating: the signer to be
	Roots    []RootInfo    `json:"roots"`
	Rotation RotationState `json:"rotation"`
	// NextStep says what happens next and NextStepAt when.
	NextStep   string    `json:"nextStep"`
	NextStepAt time.Time `json:"nextStepAt,omitzero"`
	// ReloadError is why the last change the CA saw (a plugged-in set, the
	// stored root) was refused; the CA kept what it had.
	ReloadError string `json:"reloadError,omitempty"`
}

func certInfo(a *authority) CertInfo {
	return CertInfo{Subject: a.cert.Subject.String(), Issuer: a.cert.Issuer.String(), Fingerprint: Fingerprint(a.cert),
		NotBefore: a.cert.NotBefore, NotAfter: a.cert.NotAfter, Key: keyDescription(a)}
}

// rootInfos describes t's bundle, in order.
func (t *trust) rootInfos() []RootInfo {
	out := make([]RootInfo, 0, len(t.roots))
	for _, r := range t.roots {
		fp := Fingerprint(r)
		info := RootInfo{Subject: r.Subject.String(), Fingerprint: fp, NotBefore: r.NotBefore, NotAfter: r.NotAfter, Cert: r,
			Signing:  containsCert(t.signer.signerRoots, r),
			Retiring: slices.Contains(t.state.Retiring, fp)}
		if t.next != nil && !info.Signing {
			info.Incoming = containsCert(t.next.signerRoots, r)
		}
		out = append(out, info)
	}
	return out
}

// status describes t; opts says when an automatic rotation is due.
func (t *trust) status(opts Options) Status {
	s := Status{Source: t.source, Where: t.where, Signer: certInfo(t.signer), Roots: t.rootInfos(), Rotation: t.state}
	if t.next != nil {
		n := certInfo(t.next)
		s.Next = &n
	}
	switch t.state.Phase {
	case PhasePropagating:
		s.NextStep = fmt.Sprintf("signing switches to %s (%s)", s.Next.Subject, short(s.Next.Fingerprint))
		s.NextStepAt = t.state.SwitchAt
	case PhaseRetiring:
		var fps []string
		for _, fp := range t.state.Retiring {
			fps = append(fps, short(fp))
		}
		s.NextStep = "root " + strings.Join(fps, ", ") + " leaves the bundle (every certificate it signed has expired)"
		s.NextStepAt = t.state.RetireAt
	default:
		switch {
		case t.source == SourcePlugged:
			s.NextStep = "none: a plugged-in CA is rotated by replacing its files or Secret"
		case !opts.Rotation.AutoRotate():
			s.NextStep = "none: automatic rotation is off (ca.rotation.auto); run `bootgraph ca rotate`"
		default:
			s.NextStep = fmt.Sprintf("automatic %s when less than %g%% of the root's life remains", opts.Rotation.Kind, opts.Rotation.Threshold*100)
			s.NextStepAt = t.rotationDue(opts.Rotation.Threshold)
		}
	}
	return s
}

// short is the first 16 hex digits of a fingerprint, for messages.
func short(fp string) string {
	if len(fp) > 16 {
		return fp[:16]
	}
	return fp
}

// pluggedWatch is what the CA last saw of a plugged-in CA.
type pluggedWatch struct {
	// seen is the last set looked at, applied or refused: an unchanged
	// set is not verified (or refused and logged) again.
	seen *Stored
}
