package kubeapi_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bootgraph/bootgraph/internal/kubetest"
	"github.com/bootgraph/bootgraph/modules/kube/kubeapi"
)

// leaders records terms and fails the test if two overlap.
type leaders struct {
	t       *testing.T
	mu      sync.Mutex
	current string
	started map[string]chan struct{}
	ended   map[string]chan struct{}
}

func newLeaders(t *testing.T, ids ...string) *leaders {
	l := &leaders{t: t, started: map[string]chan struct{}{}, ended: map[string]chan struct{}{}}
	for _, id := range ids {
		l.started[id], l.ended[id] = make(chan struct{}), make(chan struct{})
	}
	return l
}

func (l *leaders) lead(id string) func(context.Context) {
	return func(ctx context.Context) {
		l.mu.Lock()
		if l.current != "" {
			l.t.Errorf("%s leads while %s does", id, l.current)
		}
		l.current = id
		l.mu.Unlock()
		close(l.started[id])
		<-ctx.Done()
		l.mu.Lock()
		l.current = ""
		l.mu.Unlock()
		close(l.ended[id])
	}
}

func election(c *kubeapi.Client, ns, id string) *kubeapi.Election {
	return &kubeapi.Election{
		Client: c, Namespace: ns, Name: "test-election", Identity: id,
		LeaseDuration: 4 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 200 * time.Millisecond,
	}
}

func wait(t *testing.T, ctx context.Context, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestElection: one leader at a time; a leader that stops releases the
// Lease and the other candidate takes it; a leader whose Lease is taken
// from it steps down.
func TestElection(t *testing.T) {
	e := kubetest.Need(t, env)
	ctx := ctxFor(t)
	c := e.API(t)
	ns := e.Namespace(t, "election")
	l := newLeaders(t, "a", "b")

	ctxA, stopA := context.WithCancel(ctx)
	defer stopA()
	doneA := make(chan error, 1)
	coreA, logA := observer.New(zapcore.InfoLevel)
	elA := election(c, ns, "a")
	elA.Log = zap.New(coreA)
	go func() { doneA <- elA.Lead(ctxA, l.lead("a")) }()
	wait(t, ctx, l.started["a"], "a to lead")

	ctxB, stopB := context.WithCancel(ctx)
	defer stopB()
	doneB := make(chan error, 1)
	coreB, logB := observer.New(zapcore.InfoLevel)
	elB := election(c, ns, "b")
	elB.Log = zap.New(coreB)
	go func() { doneB <- elB.Lead(ctxB, l.lead("b")) }()

	// b campaigns while a renews twice: a keeps the Lease.
	leases := c.Leases(ns)
	first, err := leases.Get(ctx, "test-election", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	renewals := 0
	for last := first.Spec.RenewTime.Time; renewals < 2; {
		lease, err := leases.Get(ctx, "test-election", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if h := *lease.Spec.HolderIdentity; h != "a" {
			t.Fatalf("holder %q while a leads", h)
		}
		if lease.Spec.RenewTime.After(last) {
			renewals++
			last = lease.Spec.RenewTime.Time
		}
		select {
		case <-ctx.Done():
			t.Fatal("a never renewed")
		case <-time.After(50 * time.Millisecond): // poll interval
		}
	}

	stopA()
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	released, err := leases.Get(ctx, "test-election", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h := *released.Spec.HolderIdentity; h == "a" {
		t.Fatal("a stopped and did not release the Lease")
	}
	wait(t, ctx, l.started["b"], "b to take over")
	taken, err := leases.Get(ctx, "test-election", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *taken.Spec.HolderIdentity != "b" || *taken.Spec.LeaseTransitions != 1 {
		t.Fatalf("after the handover: holder %q, transitions %d; want b, 1", *taken.Spec.HolderIdentity, *taken.Spec.LeaseTransitions)
	}

	// Someone else writes the Lease as theirs: b cannot renew and steps
	// down, and Lead returns without b's context being done.
	intruder, ttl := "intruder", int32(600)
	now := metav1.NowMicro()
	taken.Spec.HolderIdentity, taken.Spec.LeaseDurationSeconds, taken.Spec.RenewTime = &intruder, &ttl, &now
	if _, err := e.Client.CoordinationV1().Leases(ns).Update(ctx, taken, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	wait(t, ctx, l.ended["b"], "b to step down")
	select {
	case err := <-doneB:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("Lead did not return after the Lease was lost")
	}
	if ctxB.Err() != nil {
		t.Fatal("b's own context ended; the lost Lease should have ended the term")
	}
	lease, err := leases.Get(ctx, "test-election", metav1.GetOptions{})
	if err != nil || *lease.Spec.HolderIdentity != "intruder" {
		t.Fatalf("a lost Lease must be left to its new holder: %v, %v", lease.Spec.HolderIdentity, err)
	}
	messages := func(logs *observer.ObservedLogs) (m []string) {
		for _, e := range logs.All() {
			m = append(m, e.Message)
		}
		return m
	}
	if got, want := strings.Join(messages(logA), "; "), "acquired lease; released lease"; got != want {
		t.Errorf("a logged %q, want %q", got, want)
	}
	if got, want := strings.Join(messages(logB), "; "), "acquired lease; lost lease: not renewed within the renew deadline"; got != want {
		t.Errorf("b logged %q, want %q", got, want)
	}
	if lost := logB.FilterMessageSnippet("lost").All(); len(lost) != 1 || lost[0].ContextMap()["holder"] != "intruder" {
		t.Errorf("the lost-lease line should name the new holder: %v", lost)
	}
}

// TestElectionCampaignEndsWithContext: a candidate that never wins returns
// when its context is done, having led nothing.
func TestElectionCampaignEndsWithContext(t *testing.T) {
	e := kubetest.Need(t, env)
	ctx := ctxFor(t)
	c := e.API(t)
	ns := e.Namespace(t, "election")
	l := newLeaders(t, "a", "b")
	ctxA, stopA := context.WithCancel(ctx)
	defer stopA()
	doneA := make(chan error, 1)
	go func() { doneA <- election(c, ns, "a").Lead(ctxA, l.lead("a")) }()
	wait(t, ctx, l.started["a"], "a to lead")

	ctxB, stopB := context.WithCancel(ctx)
	doneB := make(chan error, 1)
	go func() { doneB <- election(c, ns, "b").Lead(ctxB, l.lead("b")) }()
	stopB()
	if err := <-doneB; err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.started["b"]:
		t.Fatal("b led while a held the Lease")
	default:
	}
	stopA()
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
}

func TestElectionConfigErrors(t *testing.T) {
	c, err := kubeapi.New(&restConfigForErrors)
	if err != nil {
		t.Fatal(err)
	}
	for name, el := range map[string]*kubeapi.Election{
		"timing": {Client: c, Namespace: "ns", Name: "l", Identity: "a", LeaseDuration: time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: time.Millisecond},
		"name":   {Client: c, Namespace: "ns", Identity: "a", LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: time.Second},
		"id":     {Client: c, Namespace: "ns", Name: "l", LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: time.Second},
	} {
		err := el.Lead(context.Background(), func(context.Context) { t.Errorf("%s: led with a bad configuration", name) })
		if err == nil || !strings.Contains(err.Error(), "lease ns/") {
			t.Errorf("%s: Lead = %v, want an error naming the lease", name, err)
		}
	}
}
