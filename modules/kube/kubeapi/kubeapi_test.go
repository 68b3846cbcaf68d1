package kubeapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/bootgraph/bootgraph/internal/kubetest"
	"github.com/bootgraph/bootgraph/modules/kube/kubeapi"
)

var env *kubetest.Env

func TestMain(m *testing.M) {
	code := kubetest.Main(m, &env)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestTypedClient drives a Secret through create, get, update, list, watch
// and delete with the narrow client, on a real API server.
func TestTypedClient(t *testing.T) {
	e := kubetest.Need(t, env)
	ctx := ctxFor(t)
	c := e.API(t)
	v, err := c.ServerVersion(ctx)
	if err != nil || v.GitVersion == "" {
		t.Fatalf("ServerVersion = %v, %v", v, err)
	}
	ns := e.Namespace(t, "kubeapi")
	secrets := c.Secrets(ns)
	w, err := secrets.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	created, err := secrets.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "s", Labels: map[string]string{"a": "1"}},
		Data:       map[string][]byte{"k": []byte("v1")},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-w.ResultChan(); ev.Type != watch.Added || ev.Object.(*corev1.Secret).Name != "s" {
		t.Fatalf("watch: %v %T", ev.Type, ev.Object)
	}
	created.Data["k"] = []byte("v2")
	if _, err := secrets.Update(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The stale copy conflicts: updates are optimistic.
	created.Data["k"] = []byte("v3")
	if _, err := secrets.Update(ctx, created, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale update: %v, want a conflict", err)
	}
	got, err := secrets.Get(ctx, "s", metav1.GetOptions{})
	if err != nil || string(got.Data["k"]) != "v2" {
		t.Fatalf("Get = %v, %v", got, err)
	}
	list, err := secrets.List(ctx, metav1.ListOptions{LabelSelector: "a=1"})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("List = %v, %v", list, err)
	}
	if err := secrets.Delete(ctx, "s", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.Get(ctx, "s", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("Get after Delete: %v", err)
	}
}

// TestCSRApproval approves a CertificateSigningRequest through the approval
// subresource, which the generic client lacks.
func TestCSRApproval(t *testing.T) {
	e := kubetest.Need(t, env)
	ctx := ctxFor(t)
	csrs := e.API(t).CertificateSigningRequests()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "kubeapi-test"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := csrs.Create(ctx, &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "kubeapi-"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: "example.com/kubeapi-test",
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = csrs.Delete(context.Background(), csr.Name, metav1.DeleteOptions{}) })
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Test", Message: "approved by the test",
	})
	if _, err := csrs.UpdateApproval(ctx, csr, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := csrs.Get(ctx, csr.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Status.Conditions) != 1 || got.Status.Conditions[0].Type != certificatesv1.CertificateApproved {
		t.Fatalf("conditions after approval: %+v", got.Status.Conditions)
	}
}

// TestInformer lists and watches only what the tweak selects.
func TestInformer(t *testing.T) {
	e := kubetest.Need(t, env)
	ctx := ctxFor(t)
	c := e.API(t)
	ns := e.Namespace(t, "kubeapi")
	inf := kubeapi.NewInformer(c.ConfigMaps(ns), &corev1.ConfigMap{}, func(o *metav1.ListOptions) { o.LabelSelector = "pick=yes" }, nil)
	added := make(chan string, 10)
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		added <- obj.(*corev1.ConfigMap).Name
	}}); err != nil {
		t.Fatal(err)
	}
	mk := func(name, pick string) {
		t.Helper()
		_, err := c.ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"pick": pick}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	mk("before", "yes") // listed
	mk("skipped-before", "no")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); inf.Run(stop) }()
	defer func() { close(stop); <-done }()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("never synced")
	}
	mk("skipped-after", "no")
	mk("after", "yes") // watched
	for _, want := range []string{"before", "after"} {
		select {
		case got := <-added:
			if got != want {
				t.Fatalf("added %q, want %q (skipped objects must not arrive)", got, want)
			}
		case <-ctx.Done():
			t.Fatalf("never saw %q", want)
		}
	}
	if keys := inf.GetStore().ListKeys(); len(keys) != 2 {
		t.Fatalf("store holds %v, want the two selected", keys)
	}
}

// restConfigForErrors points nowhere: for tests that never reach a server.
var restConfigForErrors = rest.Config{Host: "https://127.0.0.1:1"}
