package bootgraph_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps heavy libraries out of the packages that must not
// pay for them: what a package links, its program loads and initialises
// at start, whether it uses it or not (internal/footprint measures what it
// costs).
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	fullClientset := []string{
		"k8s.io/client-go/kubernetes", // registers every API group at init
		"k8s.io/client-go/informers",
		"k8s.io/client-go/applyconfigurations",
		"k8s.io/client-go/tools/leaderelection",
		"k8s.io/client-go/testing", // the fake clients' machinery; gentype links it
		"k8s.io/client-go/gentype",
	}
	for _, c := range []struct {
		pkg       string
		forbidden []string
		why       string
	}{
		{".", []string{"google.golang.org/grpc", "k8s.io/client-go"}, "the engine knows no module"},
		{"./cmd/bootgraph", fullClientset, "Kubernetes mode uses modules/kube/kubeapi"},
		{"./modules/kube/...", fullClientset, "Kubernetes mode uses modules/kube/kubeapi"},
		{"./modules/webhook", fullClientset, "Kubernetes mode uses modules/kube/kubeapi"},
		{"./modules/servingcert/...", fullClientset, "Kubernetes mode uses modules/kube/kubeapi"},
		{"./examples/ca-only", []string{"k8s.io/client-go"}, "a CA-only plane links no Kubernetes client"},
	} {
		out, err := exec.Command("go", "list", "-deps", c.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", c.pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range c.forbidden {
				if dep == f || strings.HasPrefix(dep, f+"/") {
					t.Errorf("%s links %s (%s)", c.pkg, dep, c.why)
				}
			}
		}
	}
}
