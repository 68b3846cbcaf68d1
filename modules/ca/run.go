package ca

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Defaults of the CA's background check, as istiod's self-signed root
// rotator: it warns when less than 20% of the root's lifetime remains
// and rotation is not automatic.
const (
	checkInterval     = time.Hour
	expiryGraceFactor = 0.2
	// settle is how long the CA waits after a change event for the burst
	// of events a write makes to end, before it reads.
	settle = 50 * time.Millisecond
)

// Reload sources, as named in Status.ReloadError and
// bootgraph_ca_reload_failures_total.
const (
	reloadPlugged = "plugged-in"
	reloadStore   = "store"
)

// RotationStepHook, when set, is called before each step of a rotation
// that persists or publishes a change, with the step's name ("started
// save", "started publish", "switched save", "switched publish", "retired
// save", "retired publish", "renewed save", "renewed publish"). The crash
// tests set it to stop a process at a chosen step and kill it there.
var RotationStepHook func(step string)

func rotationStep(name string) {
	if RotationStepHook != nil {
		RotationStepHook(name)
	}
}

// Run is the CA's background work until ctx is done: it takes the steps of
// a rotation when they are due, rotates the self-signed root automatically
// near its expiry (with jitter across replicas), reloads a plugged-in CA
// that changes (fsnotify on PluggedCertsDir, the store's cacerts), adopts
// a root that another replica or `bootgraph ca rotate` stored, and keeps
// the root-expiry metrics current. Besides the change events it looks
// every ReloadInterval, and at least every Rotation.CheckInterval.
func (c *CA) Run(ctx context.Context) {
	c.log.Info("CA running", zap.String("trustDomain", c.opts.TrustDomain))
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	if rs, ok := c.store.(RotationStore); ok {
		wg.Go(func() { rs.Watch(ctx, c.poke) })
	}
	if dir := c.opts.PluggedCertsDir; dir != "" {
		wg.Go(func() { watchDir(ctx, dir, c.log, c.poke) })
	}
	for {
		timer := time.NewTimer(c.tick(ctx))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case <-c.wake:
			timer.Stop()
			c.settle(ctx)
		}
	}
}

// poke asks Run to look now.
func (c *CA) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// settle waits until events stop coming for the settle time.
func (c *CA) settle(ctx context.Context) {
	t := time.NewTimer(settle)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
			t.Reset(settle)
		case <-t.C:
			return
		}
	}
}

// tick does what is due and returns how long to wait for the next look.
func (c *CA) tick(ctx context.Context) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.checkExpiry(now)
	c.reloadStored(ctx)
	c.reloadPluggedIn(ctx, now)
	c.advance(ctx, now)
	c.autoRotate(ctx, now)

	wait := min(time.Duration(c.opts.ReloadInterval), time.Duration(c.opts.Rotation.CheckInterval), checkInterval)
	for _, at := range []time.Time{c.trust.nextStep(), c.autoAt} {
		if !at.IsZero() {
			wait = min(wait, max(at.Sub(now), time.Millisecond))
		}
	}
	return wait
}

// checkExpiry records the roots' expiry and warns inside the grace period
// when nothing will rotate the root.
func (c *CA) checkExpiry(now time.Time) (nearExpiry bool) {
	a := c.state.Load()
	c.metrics.recordExpiry(a)
	// Run looks often; these warnings go out hourly, as istiod's check.
	warn := now.Sub(c.lastExpiryWarn) >= checkInterval || now.Before(c.lastExpiryWarn)
	if err := a.usableAt(now); err != nil {
		if warn {
			c.lastExpiryWarn = now
			c.log.Error("the CA refuses every request until it is fixed", zap.Error(err))
		}
		return true
	}
	life := a.rootNotAfter.Sub(a.rootNotBefore)
	left := a.rootNotAfter.Sub(now)
	if float64(left) < expiryGraceFactor*float64(life) {
		if warn && (c.trust == nil || c.trust.source != SourceSelfSigned || !c.opts.Rotation.AutoRotate()) {
			c.lastExpiryWarn = now
			c.log.Warn("CA root is close to expiry; rotate it",
				zap.Time("notAfter", a.rootNotAfter), zap.Duration("remaining", left))
		}
		return true
	}
	return false
}

// retireAfter is how long after a switch the old roots stay: the longest
// certificate the old signer may have issued, plus a ReloadInterval for
// the replicas that notice the switch last.
func (c *CA) retireAfter() time.Duration {
	return time.Duration(c.opts.MaxCertTTL) + time.Duration(c.opts.ReloadInterval)
}

// refuse records why a change from src was not taken: logged once per
// distinct reason, counted, and shown in Status and readiness.
func (c *CA) refuse(src string, err error) {
	msg := err.Error()
	c.info.Lock()
	same := c.info.reloadErr[src] == msg
	c.info.reloadErr[src] = msg
	c.info.Unlock()
	c.metrics.reloadOK.WithLabelValues(src).Set(0)
	if same {
		return
	}
	c.metrics.reloadFailures.WithLabelValues(src).Inc()
	c.metrics.rotationEvents.WithLabelValues(eventRefused).Inc()
	c.log.Error("refused a change of the CA; keeping the current signer and roots", zap.String("source", src), zap.Error(err))
	c.notify()
}

func (c *CA) clearRefusal(src string) {
	c.info.Lock()
	_, had := c.info.reloadErr[src]
	delete(c.info.reloadErr, src)
	c.info.Unlock()
	c.metrics.reloadOK.WithLabelValues(src).Set(1)
	if had {
		c.log.Info("the CA's source is usable again", zap.String("source", src))
		c.notify()
	}
}

// unavailable logs, once per distinct error, that the store could not be
// read: the CA keeps what it has and looks again, and readiness is not
// affected (the store being away is not a bad set).
func (c *CA) unavailable(err error) {
	if msg := err.Error(); msg != c.storeErr {
		c.storeErr = msg
		c.log.Warn("cannot read the CA's store; keeping the current signer and roots, retrying", zap.Error(err))
	}
}

// ReloadReady returns nil unless the last change the CA saw (a plugged-in
// set, the stored root) was refused: then it says why. The CA keeps
// signing with what it had; this is its second check in /ready
// ("ca-reload").
func (c *CA) ReloadReady(context.Context) error {
	c.info.Lock()
	defer c.info.Unlock()
	if len(c.info.reloadErr) == 0 {
		return nil
	}
	return errors.New(joinReloadErrors(c.info.reloadErr) + " (still serving with the previous signer and roots)")
}

// reloadStored adopts a self-signed root that another writer stored.
func (c *CA) reloadStored(ctx context.Context) {
	rs, ok := c.store.(RotationStore)
	t := c.trust
	if !ok || t.source != SourceSelfSigned || t.next != nil && t.next.source != SourceSelfSigned {
		return
	}
	st, err := rs.Load(ctx)
	if errors.Is(err, ErrStoreUnavailable) {
		c.unavailable(err)
		return
	}
	if err != nil {
		c.refuse(reloadStore, err)
		return
	}
	c.storeErr = ""
	if st == nil || st.PluggedIn || st.Version == t.version {
		c.clearRefusal(reloadStore)
		return
	}
	n, err := trustFromStored(st)
	if err != nil {
		c.refuse(reloadStore, err)
		return
	}
	c.clearRefusal(reloadStore)
	c.log.Info("adopted the root stored by another writer", zap.String("where", st.Where),
		zap.String("phase", string(n.state.Phase)), zap.Int64("generation", n.state.Generation))
	c.publish(n, eventAdopted)
}

// reloadPluggedIn starts moving to a changed plugged-in CA, from
// PluggedCertsDir or the store's cacerts, once it verifies.
func (c *CA) reloadPluggedIn(ctx context.Context, now time.Time) {
	var (
		st  *Stored
		err error
	)
	if c.opts.PluggedCertsDir != "" {
		st, err = readPluggedDir(c.opts.PluggedCertsDir)
	}
	if ps, ok := c.store.(PluggedSource); ok && st == nil && err == nil {
		// No directory (or none configured): the store's cacerts.
		st, err = ps.LoadPlugged(ctx)
	}
	if errors.Is(err, ErrStoreUnavailable) {
		c.unavailable(err)
		return
	}
	if err != nil {
		c.refuse(reloadPlugged, err)
		return
	}
	if st == nil || samePlugged(st, c.plugged.seen) {
		return
	}
	c.plugged.seen = st
	next, err := fromStored(st)
	if err != nil {
		c.refuse(reloadPlugged, err)
		return
	}
	c.clearRefusal(reloadPlugged)
	t := c.trust
	if t.source == SourcePlugged && t.next == nil && samePlugged(st, t.signer.stored) {
		return
	}
	if t.next != nil && t.next.source == SourcePlugged {
		// A newer set replaces the one propagating.
		b := t.clone()
		b.roots = union(t.signer.signerRoots, minus(t.roots, t.next.signerRoots))
		b.next, b.state.Phase = nil, PhaseIdle
		t = b
	}
	n := t.begin(next, RotateRekey, reloadPlugged, now, time.Duration(c.opts.Rotation.PropagationDelay), c.retireAfter())
	event := eventStarted
	if n.next == nil {
		event = eventSwitched
	}
	c.log.Info("a new plugged-in CA verified; moving to it", zap.String("where", st.Where),
		zap.String("subject", next.cert.Subject.String()), zap.String("phase", string(n.state.Phase)),
		zap.Time("switchAt", n.state.SwitchAt))
	c.publish(n, event)
}

// advance takes the rotation step that is due, persisting it first when
// the signer is self-signed.
func (c *CA) advance(ctx context.Context, now time.Time) {
	n, event := c.trust.advance(now, c.retireAfter())
	if n == nil {
		return
	}
	n, err := c.save(ctx, n, event)
	if err != nil {
		c.log.Error("rotation step not stored; retrying", zap.String("step", event), zap.Error(err))
		return
	}
	if n == nil {
		return // another writer took the step: adopted
	}
	c.log.Info("rotation step taken", zap.String("step", event), zap.String("phase", string(n.state.Phase)),
		zap.String("signer", n.signer.cert.Subject.String()), zap.String("fingerprint", Fingerprint(n.signer.cert)),
		zap.Time("retireAt", n.state.RetireAt))
	c.publish(n, event)
}

// save persists n, a self-signed state, in a RotationStore. On a conflict
// it adopts what the other writer stored and returns nil. A state that is
// not self-signed is not stored.
func (c *CA) save(ctx context.Context, n *trust, event string) (*trust, error) {
	rs, ok := c.store.(RotationStore)
	if !ok || n.source != SourceSelfSigned || n.next != nil && n.next.source != SourceSelfSigned {
		return n, nil
	}
	rotationStep(event + " save")
	st, err := rs.Save(ctx, n.toStored())
	if errors.Is(err, ErrConflict) {
		c.log.Info("another writer changed the stored root first; adopting it", zap.String("step", event))
		c.reloadStored(ctx)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	n.version, n.where = st.Version, st.Where
	rotationStep(event + " publish")
	return n, nil
}

// autoRotate rotates the self-signed root when it is due, after a random
// wait up to Rotation.Jitter and a fresh read of the store.
func (c *CA) autoRotate(ctx context.Context, now time.Time) {
	t := c.trust
	r := c.opts.Rotation
	if _, ok := c.store.(RotationStore); !ok || !r.AutoRotate() || t.source != SourceSelfSigned || t.state.Phase != PhaseIdle || t.next != nil ||
		now.Before(t.rotationDue(r.Threshold)) {
		c.setAutoAt(time.Time{})
		return
	}
	if c.autoAt.IsZero() {
		var wait time.Duration
		if r.Jitter > 0 {
			wait = time.Duration(c.rand(int64(r.Jitter)))
		}
		c.setAutoAt(now.Add(wait))
		c.log.Info("the root is due for rotation", zap.Time("notAfter", t.signer.cert.NotAfter),
			zap.String("kind", string(r.Kind)), zap.Time("at", c.autoAt))
	}
	if now.Before(c.autoAt) {
		return
	}
	c.setAutoAt(time.Time{})
	c.reloadStored(ctx)
	if c.trust != t {
		return // another replica rotated meanwhile: adopted
	}
	if err := c.rotate(ctx, r.Kind, "automatic", now); err != nil {
		c.log.Error("automatic rotation failed; retrying", zap.Error(err))
	}
}

// Rotate starts a rotation of the self-signed root now: renew (same key,
// at once) or rekey (the new root joins the bundle, signs after
// Rotation.PropagationDelay, and the old one leaves after MaxCertTTL).
// It fails for a plugged-in CA, for a store that cannot persist the phase,
// and while a rotation is in progress.
func (c *CA) Rotate(ctx context.Context, kind RotationKind) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rotate(ctx, kind, "manual", c.now())
}

func (c *CA) rotate(ctx context.Context, kind RotationKind, reason string, now time.Time) error {
	t := c.trust
	if _, ok := c.store.(RotationStore); !ok {
		return fmt.Errorf("ca: the root's store (%T) cannot persist a rotation", c.store)
	}
	n, event, err := beginSelfSigned(t, c.opts, kind, reason, now)
	if err != nil {
		return err
	}
	saved, err := c.save(ctx, n, event)
	if err != nil {
		return fmt.Errorf("ca: store the rotated root: %w", err)
	}
	if saved == nil {
		return fmt.Errorf("ca: another writer changed the root first (now phase %s); adopted it", c.trust.state.Phase)
	}
	c.log.Info("rotation started", zap.String("kind", string(kind)), zap.String("reason", reason),
		zap.String("phase", string(saved.state.Phase)), zap.Time("switchAt", saved.state.SwitchAt),
		zap.String("newRoot", Fingerprint(lastRoot(saved))))
	c.publish(saved, event)
	return nil
}

// lastRoot is the root a rotation added: the next signer's, or the signer's.
func lastRoot(t *trust) *x509.Certificate {
	if t.next != nil {
		return t.next.cert
	}
	return t.signer.cert
}

// joinReloadErrors lists the refusals, by source.
func joinReloadErrors(m map[string]string) string {
	var errs []string
	for _, src := range slices.Sorted(maps.Keys(m)) {
		errs = append(errs, src+": "+m[src])
	}
	return strings.Join(errs, "; ")
}
