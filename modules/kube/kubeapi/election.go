package kubeapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
	coordinationv1 "k8s.io/api/coordination/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Election is a leader election on a coordination.k8s.io/v1 Lease, with
// client-go's leaderelection semantics (its package links the whole
// clientset, see the package doc): a candidate takes the Lease when it is
// free, released, or not renewed for LeaseDuration as seen on the
// candidate's own clock (the holder's clock is never trusted); the leader
// renews it every RetryPeriod and steps down when it could not renew for
// RenewDeadline; a leader that stops releases the Lease so that a
// successor need not wait LeaseDuration. Writes are optimistic (the
// Lease's resourceVersion), so two candidates never both win.
type Election struct {
	// Client and the Lease's Namespace and Name.
	Client          *Client
	Namespace, Name string
	// Identity of this candidate in the Lease: unique per process.
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod, as in client-go:
	// LeaseDuration > RenewDeadline > RetryPeriod > 0.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Log, when set, has a line for each Lease won, lost and released.
	Log *zap.Logger

	observed     coordinationv1.LeaseSpec // the Lease as last read or written
	observedTime time.Time                // when observed last changed, on our clock
}

func (e *Election) validate() error {
	switch {
	case e.Client == nil:
		return errors.New("no client")
	case e.Namespace == "" || e.Name == "":
		return errors.New("the Lease needs a namespace and a name")
	case e.Identity == "":
		return errors.New("no identity")
	case e.RetryPeriod <= 0 || e.RenewDeadline <= e.RetryPeriod || e.LeaseDuration <= e.RenewDeadline:
		return fmt.Errorf("timing must be leaseDuration (%v) > renewDeadline (%v) > retryPeriod (%v) > 0",
			e.LeaseDuration, e.RenewDeadline, e.RetryPeriod)
	}
	return nil
}

// Lead runs one term: it campaigns until it holds the Lease (or ctx is
// done), runs lead with a context that ends when the Lease is lost or ctx
// is done, renews the Lease meanwhile, waits for lead to return, and, when
// ctx is done, releases the Lease. It returns nil after a lost Lease (call
// it again to campaign again) and after ctx is done; an error only for a
// configuration that cannot work.
func (e *Election) Lead(ctx context.Context, lead func(context.Context)) error {
	if err := e.validate(); err != nil {
		return fmt.Errorf("lease %s/%s: %w", e.Namespace, e.Name, err)
	}
	log := e.Log
	if log == nil {
		log = zap.NewNop()
	}
	lease := zap.String("lease", e.Namespace+"/"+e.Name)
	if !e.acquire(ctx) {
		return nil
	}
	log.Info("acquired lease", lease, zap.String("identity", e.Identity))
	term, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		lead(term)
	}()
	e.renew(term)
	lost := ctx.Err() == nil
	cancel()
	<-done
	if lost {
		log.Warn("lost lease: not renewed within the renew deadline", lease,
			zap.String("holder", deref(e.observed.HolderIdentity)), zap.Duration("renewDeadline", e.RenewDeadline))
		return nil
	}
	if e.release() {
		log.Info("released lease", lease)
	}
	return nil
}

// acquire tries every RetryPeriod (jittered) until it holds the Lease; false
// when ctx ended first.
func (e *Election) acquire(ctx context.Context) bool {
	for {
		if e.tryAcquireOrRenew(ctx) {
			return true
		}
		t := time.NewTimer(wait.Jitter(e.RetryPeriod, 1.2))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// renew renews the Lease every RetryPeriod until ctx is done or a renewal
// has failed for RenewDeadline.
func (e *Election) renew(ctx context.Context) {
	for {
		t := time.NewTimer(e.RetryPeriod)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		deadline, cancel := context.WithTimeout(ctx, e.RenewDeadline)
		err := wait.PollUntilContextCancel(deadline, e.RetryPeriod, true, func(ctx context.Context) (bool, error) {
			return e.tryAcquireOrRenew(ctx), nil
		})
		cancel()
		if err != nil {
			return
		}
	}
}

// tryAcquireOrRenew reads the Lease and writes it as ours when it is ours
// already, free, released or expired. It creates a missing Lease.
func (e *Election) tryAcquireOrRenew(ctx context.Context) bool {
	leases := e.Client.Leases(e.Namespace)
	now := metav1.NowMicro()
	seconds := int32(e.LeaseDuration / time.Second)
	if seconds < 1 {
		seconds = 1
	}
	lease, err := leases.Get(ctx, e.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		lease = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: e.Namespace, Name: e.Name},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity: &e.Identity, LeaseDurationSeconds: &seconds,
				AcquireTime: &now, RenewTime: &now, LeaseTransitions: ptr(int32(0)),
			},
		}
		created, err := leases.Create(ctx, lease, metav1.CreateOptions{})
		if err != nil {
			return false
		}
		e.observe(created.Spec)
		return true
	}
	if err != nil {
		return false
	}
	e.observe(lease.Spec)
	holder := deref(lease.Spec.HolderIdentity)
	held := time.Duration(deref(lease.Spec.LeaseDurationSeconds)) * time.Second
	if holder != "" && holder != e.Identity && time.Now().Before(e.observedTime.Add(held)) {
		return false // someone else's, and renewed within its duration
	}
	spec := lease.Spec.DeepCopy()
	if holder != e.Identity {
		spec.AcquireTime = &now
		spec.LeaseTransitions = ptr(deref(spec.LeaseTransitions) + 1)
	}
	spec.HolderIdentity, spec.LeaseDurationSeconds, spec.RenewTime = &e.Identity, &seconds, &now
	lease.Spec = *spec
	updated, err := leases.Update(ctx, lease, metav1.UpdateOptions{})
	if err != nil {
		return false // a conflict: someone wrote it since we read it
	}
	e.observe(updated.Spec)
	return true
}

// observe notes spec as last seen, and the time it last changed.
func (e *Election) observe(spec coordinationv1.LeaseSpec) {
	if !apiequality.Semantic.DeepEqual(spec, e.observed) {
		e.observed = *spec.DeepCopy()
		e.observedTime = time.Now()
	}
}

// release empties the Lease's holder, if we still hold it, with a one
// second duration, as client-go does on ReleaseOnCancel; true when it did.
func (e *Election) release() bool {
	ctx, cancel := context.WithTimeout(context.Background(), e.RenewDeadline)
	defer cancel()
	leases := e.Client.Leases(e.Namespace)
	lease, err := leases.Get(ctx, e.Name, metav1.GetOptions{})
	if err != nil || deref(lease.Spec.HolderIdentity) != e.Identity {
		return false
	}
	now := metav1.NowMicro()
	lease.Spec.HolderIdentity, lease.Spec.LeaseDurationSeconds = ptr(""), ptr(int32(1))
	lease.Spec.AcquireTime, lease.Spec.RenewTime = &now, &now
	updated, err := leases.Update(ctx, lease, metav1.UpdateOptions{})
	if err != nil {
		return false
	}
	e.observe(updated.Spec)
	return true
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
