package kubetest_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bootgraph/bootgraph/internal/kubetest"
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

// The harness gives a working API server: namespaces, kubeconfig files and
// service-account tokens that a TokenReview accepts for their audience.
func TestEnv(t *testing.T) {
	e := kubetest.Need(t, env)
	ns := e.Namespace(t, "kubetest")

	cfg, err := clientcmd.BuildConfigFromFlags("", e.Kubeconfig(t))
	if err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(cfg)
	if _, err := client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{}); err != nil {
		t.Fatalf("the kubeconfig does not work: %v", err)
	}

	token := e.ServiceAccountToken(t, ns, "app", "istio-ca")
	review, err := e.Client.AuthenticationV1().TokenReviews().Create(context.Background(), &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{"istio-ca"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !review.Status.Authenticated || review.Status.User.Username != "system:serviceaccount:"+ns+":app" {
		t.Fatalf("token review: %+v", review.Status)
	}
}
